/// Checked entry points: validate shapes, leading dimensions and buffer lengths (typed
/// errors naming the argument), pick the backend, run the kernel.
extension Engine {
  // MARK: Level 1

  /// Σ x[i]·y[i]. Throws if the lengths differ.
  public func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) throws(ArrowheadError) -> Float {
    guard x.count == y.count else {
      throw .shapeMismatch(argument: "y", expected: "\(x.count) elements (as x)", actual: "\(y.count) elements")
    }
    guard let xBase = x.baseAddress, let yBase = y.baseAddress, x.count > 0 else { return 0 }
    return backend(for: .dot, .vector(count: x.count)).dot(count: x.count, xBase, yBase)
  }

  /// Σ x[i]·y[i]. Throws if the lengths differ.
  public func dot(_ x: [Float], _ y: [Float]) throws(ArrowheadError) -> Float {
    try withBuffers(x, y) { (a, b) throws(ArrowheadError) in try dot(a, b) }
  }

  /// Σ (x[i] − y[i])². Throws if the lengths differ.
  public func squaredDistance(_ x: [Float], _ y: [Float]) throws(ArrowheadError) -> Float {
    guard x.count == y.count else {
      throw .shapeMismatch(argument: "y", expected: "\(x.count) elements (as x)", actual: "\(y.count) elements")
    }
    if x.isEmpty { return 0 }
    let kernel = backend(for: .squaredDistance, .vector(count: x.count))
    return x.withUnsafeBufferPointer { xb in
      y.withUnsafeBufferPointer { yb in kernel.squaredDistance(count: xb.count, xb.baseAddress!, yb.baseAddress!) }
    }
  }

  /// y ← αx + y. Throws if the lengths differ.
  public func axpy(alpha: Float, _ x: [Float], _ y: inout [Float]) throws(ArrowheadError) {
    guard x.count == y.count else {
      throw .shapeMismatch(argument: "y", expected: "\(x.count) elements (as x)", actual: "\(y.count) elements")
    }
    if x.isEmpty { return }
    let kernel = backend(for: .axpy, .vector(count: x.count))
    x.withUnsafeBufferPointer { xb in
      y.withUnsafeMutableBufferPointer { yb in
        kernel.axpy(count: xb.count, alpha: alpha, xb.baseAddress!, yb.baseAddress!)
      }
    }
  }

  /// x ← αx.
  public func scale(_ x: inout [Float], by alpha: Float) {
    if x.isEmpty { return }
    let kernel = backend(for: .scale, .vector(count: x.count))
    x.withUnsafeMutableBufferPointer { kernel.scale(count: $0.count, alpha: alpha, $0.baseAddress!) }
  }

  /// Σ x[i]² (0 for an empty vector).
  public func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let base = x.baseAddress, x.count > 0 else { return 0 }
    return backend(for: .sumOfSquares, .vector(count: x.count)).sumOfSquares(count: x.count, base)
  }

  /// Σ x[i]² (0 for an empty vector).
  public func sumOfSquares(_ x: [Float]) -> Float { x.withUnsafeBufferPointer { sumOfSquares($0) } }

  /// The Euclidean norm √(Σ x[i]²).
  public func norm(_ x: [Float]) -> Float { sumOfSquares(x).squareRoot() }

  /// The first index of the largest |x[i]| (a NaN wins), or nil for an empty vector.
  public func indexOfMaxMagnitude(_ x: [Float]) -> Int? {
    if x.isEmpty { return nil }
    let kernel = backend(for: .indexOfMaxMagnitude, .vector(count: x.count))
    return x.withUnsafeBufferPointer { kernel.indexOfMaxMagnitude(count: $0.count, $0.baseAddress!) }
  }

  // MARK: Level 2

  /// y ← α·op(A)·x + β·y with A described by `layoutA` inside `a`.
  public func gemv(
    transpose: Transpose = .normal, alpha: Float = 1,
    a: UnsafeBufferPointer<Float>, _ layoutA: MatrixLayout,
    x: UnsafeBufferPointer<Float>, beta: Float = 0, y: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    try layoutA.validate("a", bufferCount: a.count)
    let (outputs, inputs) = layoutA.shape(transpose)
    guard x.count >= inputs else {
      throw .shapeMismatch(argument: "x", expected: "\(inputs) elements (columns of op(a) \(layoutA))", actual: "\(x.count) elements")
    }
    guard y.count >= outputs else {
      throw .shapeMismatch(argument: "y", expected: "\(outputs) elements (rows of op(a) \(layoutA))", actual: "\(y.count) elements")
    }
    if outputs == 0 { return }
    let kernel = backend(for: .gemv, .vector(count: layoutA.rows * layoutA.columns))
    withPlaceholder(a, x) { aBase, xBase in
      kernel.gemv(
        transpose, rows: layoutA.rows, columns: layoutA.columns, alpha: alpha, aBase, lda: layoutA.leadingDimension,
        xBase, beta: beta, y.baseAddress!, threads: effectiveThreads)
    }
  }

  /// y = op(A)·x for a dense matrix.
  public func multiply(_ a: Matrix, _ x: [Float], transpose: Transpose = .normal) throws(ArrowheadError) -> [Float] {
    var y = [Float](repeating: 0, count: a.layout.shape(transpose).rows)
    try a.elements.withUnsafeBufferPointer { (ab) throws(ArrowheadError) in
      try x.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
        try y.withUnsafeMutableBufferPointer { (yb) throws(ArrowheadError) in
          try gemv(transpose: transpose, a: ab, a.layout, x: xb, y: yb)
        }
      }
    }
    return y
  }

  // MARK: Level 3

  /// C ← α·op(A)·op(B) + β·C on buffers described by layouts. op(A) must be m × k, op(B)
  /// k × n and C m × n; β = 0 means C is not read.
  public func gemm(
    transposeA: Transpose = .normal, transposeB: Transpose = .normal, alpha: Float = 1,
    a: UnsafeBufferPointer<Float>, _ layoutA: MatrixLayout,
    b: UnsafeBufferPointer<Float>, _ layoutB: MatrixLayout,
    beta: Float = 0, c: UnsafeMutableBufferPointer<Float>, _ layoutC: MatrixLayout
  ) throws(ArrowheadError) {
    try layoutA.validate("a", bufferCount: a.count)
    try layoutB.validate("b", bufferCount: b.count)
    try layoutC.validate("c", bufferCount: c.count)
    let (m, k) = layoutA.shape(transposeA)
    let (kb, n) = layoutB.shape(transposeB)
    guard kb == k else {
      throw .shapeMismatch(argument: "b", expected: "\(k) rows in op(b) (columns of op(a) \(layoutA))", actual: "\(kb)×\(n)")
    }
    guard layoutC.rows == m, layoutC.columns == n else {
      throw .shapeMismatch(argument: "c", expected: "\(m)×\(n)", actual: "\(layoutC.rows)×\(layoutC.columns)")
    }
    if m == 0 || n == 0 { return }
    let slot = KernelOperation.gemm.ordinal &* 2 &+ ShapeClass.gemm(rows: m, columns: n, depth: k).ordinal
    withPlaceholder(a, b) { aBase, bBase in
      // Called on the table element in place: copying the existential out cost a retain,
      // a release and an outlined copy per call.
      table[slot].gemm(
        transposeA, transposeB, rows: m, columns: n, depth: k, alpha: alpha,
        aBase, lda: layoutA.leadingDimension, bBase, ldb: layoutB.leadingDimension,
        beta: beta, c.baseAddress!, ldc: layoutC.leadingDimension, threads: effectiveThreads)
    }
  }

  /// C ← α·op(A)·op(B) + β·C for dense matrices.
  public func gemm(
    _ a: Matrix, _ b: Matrix, transposeA: Transpose = .normal, transposeB: Transpose = .normal,
    alpha: Float = 1, beta: Float = 0, into c: inout Matrix
  ) throws(ArrowheadError) {
    let layoutC = c.layout
    try a.elements.withUnsafeBufferPointer { (ab) throws(ArrowheadError) in
      try b.elements.withUnsafeBufferPointer { (bb) throws(ArrowheadError) in
        try c.elements.withUnsafeMutableBufferPointer { (cb) throws(ArrowheadError) in
          try gemm(
            transposeA: transposeA, transposeB: transposeB, alpha: alpha, a: ab, a.layout, b: bb, b.layout,
            beta: beta, c: cb, layoutC)
        }
      }
    }
  }

  /// op(A)·op(B) as a new matrix.
  public func multiply(
    _ a: Matrix, _ b: Matrix, transposeA: Transpose = .normal, transposeB: Transpose = .normal
  ) throws(ArrowheadError) -> Matrix {
    let m = a.layout.shape(transposeA).rows, n = b.layout.shape(transposeB).columns
    var c = try Matrix(rows: m, columns: n)
    try gemm(a, b, transposeA: transposeA, transposeB: transposeB, into: &c)
    return c
  }

  // MARK: Distances

  /// out[i·ldo + j] = metric(query i, base j); see `Metric` for the values written.
  /// `queryNorms` / `baseNorms` (optional) must hold one value per row: ‖·‖² for squared
  /// L2, ‖·‖ for cosine.
  public func distances(
    _ metric: Metric,
    queries: UnsafeBufferPointer<Float>, _ layoutQ: MatrixLayout,
    base: UnsafeBufferPointer<Float>, _ layoutB: MatrixLayout,
    queryNorms: UnsafeBufferPointer<Float>? = nil, baseNorms: UnsafeBufferPointer<Float>? = nil,
    out: UnsafeMutableBufferPointer<Float>, _ layoutOut: MatrixLayout
  ) throws(ArrowheadError) {
    try layoutQ.validate("queries", bufferCount: queries.count)
    try layoutB.validate("base", bufferCount: base.count)
    try layoutOut.validate("out", bufferCount: out.count)
    guard layoutQ.columns == layoutB.columns else {
      throw .shapeMismatch(argument: "base", expected: "dimension \(layoutQ.columns) (as queries)", actual: "dimension \(layoutB.columns)")
    }
    guard layoutOut.rows == layoutQ.rows, layoutOut.columns == layoutB.rows else {
      throw .shapeMismatch(argument: "out", expected: "\(layoutQ.rows)×\(layoutB.rows)", actual: "\(layoutOut.rows)×\(layoutOut.columns)")
    }
    if let queryNorms, queryNorms.count < layoutQ.rows {
      throw .bufferTooShort(argument: "queryNorms", required: layoutQ.rows, actual: queryNorms.count)
    }
    if let baseNorms, baseNorms.count < layoutB.rows {
      throw .bufferTooShort(argument: "baseNorms", required: layoutB.rows, actual: baseNorms.count)
    }
    if layoutQ.rows == 0 || layoutB.rows == 0 { return }
    let kernel = backend(for: .distances, .distances(queries: layoutQ.rows, base: layoutB.rows, dimension: layoutQ.columns))
    withPlaceholder(queries, base) { q, x in
      kernel.distances(
        metric, queryCount: layoutQ.rows, baseCount: layoutB.rows, dimension: layoutQ.columns,
        queries: q, ldq: layoutQ.leadingDimension, base: x, ldb: layoutB.leadingDimension,
        queryNorms: queryNorms?.baseAddress, baseNorms: baseNorms?.baseAddress,
        out.baseAddress!, ldo: layoutOut.leadingDimension, threads: effectiveThreads)
    }
  }

  /// The queries × base matrix of `metric` values for dense matrices (rows are vectors).
  public func distances(_ metric: Metric, queries: Matrix, base: Matrix) throws(ArrowheadError) -> Matrix {
    var out = try Matrix(rows: queries.rows, columns: base.rows)
    let layoutOut = out.layout
    try queries.elements.withUnsafeBufferPointer { (q) throws(ArrowheadError) in
      try base.elements.withUnsafeBufferPointer { (x) throws(ArrowheadError) in
        try out.elements.withUnsafeMutableBufferPointer { (o) throws(ArrowheadError) in
          try distances(metric, queries: q, queries.layout, base: x, base.layout, out: o, layoutOut)
        }
      }
    }
    return out
  }

  // MARK: Dense linear algebra

  /// The Cholesky factor L (A = L·Lᵀ, lower triangular) of a symmetric positive-definite
  /// matrix. Throws `.shapeMismatch` if A is not square, `.nonFiniteValue` on NaN/±∞ and
  /// `.notPositiveDefinite` with the failing pivot.
  public func choleskyFactor(_ a: Matrix) throws(ArrowheadError) -> Matrix {
    guard a.rows == a.columns else {
      throw .shapeMismatch(argument: "a", expected: "a square matrix", actual: "\(a.rows)×\(a.columns)")
    }
    try Self.requireFinite(a.elements, "a")
    var l = a
    let kernel = backend(for: .cholesky, .factorization(order: a.rows))
    try l.elements.withUnsafeMutableBufferPointer { (buffer) throws(ArrowheadError) in
      guard let base = buffer.baseAddress else { return }
      try kernel.choleskyFactor(order: a.rows, base, lda: a.columns)
    }
    return l
  }

  /// Solves op(L)·X = B (`.left`) or X·op(L) = B (`.right`) for lower-triangular L.
  public func triangularSolve(
    _ side: Side = .left, _ transpose: Transpose = .normal, l: Matrix, b: Matrix
  ) throws(ArrowheadError) -> Matrix {
    guard l.rows == l.columns else {
      throw .shapeMismatch(argument: "l", expected: "a square matrix", actual: "\(l.rows)×\(l.columns)")
    }
    let order = side == .left ? b.rows : b.columns
    guard order == l.rows else {
      throw .shapeMismatch(argument: "b", expected: side == .left ? "\(l.rows) rows" : "\(l.rows) columns", actual: "\(b.rows)×\(b.columns)")
    }
    for i in 0..<l.rows where l[i, i] == 0 || !l[i, i].isFinite {
      throw .invalidParameter(name: "l[\(i), \(i)]", value: "\(l[i, i])", expected: "a finite, non-zero diagonal")
    }
    var x = b
    if b.rows == 0 || b.columns == 0 { return x }
    let kernel = backend(for: .triangularSolve, .factorization(order: order))
    l.elements.withUnsafeBufferPointer { lb in
      x.elements.withUnsafeMutableBufferPointer { xb in
        kernel.triangularSolve(side, transpose, rows: b.rows, columns: b.columns, lb.baseAddress!, ldl: l.columns, xb.baseAddress!, ldb: b.columns)
      }
    }
    return x
  }

  /// Eigenvalues (ascending) and eigenvectors (column j ↔ value j) of a symmetric matrix
  /// (its lower triangle is read).
  public func symmetricEigen(_ a: Matrix) throws(ArrowheadError) -> (values: [Float], vectors: Matrix) {
    guard a.rows == a.columns else {
      throw .shapeMismatch(argument: "a", expected: "a square matrix", actual: "\(a.rows)×\(a.columns)")
    }
    try Self.requireFinite(a.elements, "a")
    var vectors = a
    var values = [Float](repeating: 0, count: a.rows)
    if a.rows == 0 { return (values, vectors) }
    let kernel = backend(for: .symmetricEigen, .factorization(order: a.rows))
    try vectors.elements.withUnsafeMutableBufferPointer { (vb) throws(ArrowheadError) in
      try values.withUnsafeMutableBufferPointer { (eb) throws(ArrowheadError) in
        try kernel.symmetricEigen(order: a.rows, vb.baseAddress!, lda: a.columns, eigenvalues: eb.baseAddress!)
      }
    }
    return (values, vectors)
  }

  // MARK: Helpers

  /// Throws `.nonFiniteValue` naming the first NaN or ±∞ in `values`.
  public static func requireFinite(_ values: [Float], _ argument: String) throws(ArrowheadError) {
    if let index = values.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(argument: argument, index: index)
    }
  }

  private func withBuffers<R>(
    _ x: [Float], _ y: [Float], _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws(ArrowheadError) -> R
  ) throws(ArrowheadError) -> R {
    try x.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
      try y.withUnsafeBufferPointer { (yb) throws(ArrowheadError) in try body(xb, yb) }
    }
  }
}

/// Calls `body` with the base addresses of two buffers, substituting a valid dummy
/// pointer for an empty buffer (kernels never read it when a dimension is 0).
@inline(__always)
func withPlaceholder<R>(
  _ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>,
  _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R
) -> R {
  var dummy: Float = 0
  return withUnsafePointer(to: &dummy) { placeholder in
    body(x.baseAddress ?? placeholder, y.baseAddress ?? placeholder)
  }
}
