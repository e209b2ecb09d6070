// The matrix family: gemv (level 2) and gemm (level 3).

/// Matrix–vector and matrix–matrix products. Each requirement defaults to the reference
/// implementation.
public protocol MatrixKernels {
  /// y ← α·op(A)·x + β·y, A being `rows × columns` with leading dimension `lda`.
  /// op(A) is A (y has `rows` elements) or Aᵀ (y has `columns` elements). When β = 0, y
  /// is not read (NaN in y does not propagate), as in BLAS. Uses at most `threads` threads.
  func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int)

  /// C ← α·op(A)·op(B) + β·C with C `rows × columns`, op(A) `rows × depth` and op(B)
  /// `depth × columns`. When β = 0, C is not read. Uses at most `threads` threads.
  func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int)
}

extension MatrixKernels {
  public func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    ReferenceKernels.gemv(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y)
  }

  public func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    ReferenceKernels.gemm(
      transposeA, transposeB, rows: rows, columns: columns, depth: depth, alpha: alpha,
      a, lda: lda, b, ldb: ldb, beta: beta, c, ldc: ldc)
  }
}

extension KernelOperation {
  /// `MatrixKernels.gemv`.
  public static let gemv = KernelOperation(.matrix, 0, "gemv")
  /// `MatrixKernels.gemm`.
  public static let gemm = KernelOperation(.matrix, 1, "gemm")
}

extension KernelFamily {
  static let matrixOperations: [KernelOperation] = [.gemv, .gemm]
}

extension ShapeClass {
  /// Work (m·n·k) up to which a gemm counts as small: every dimension ≤ 64. The SIMD
  /// backend's unpacked small-product path uses the same bound (`SIMDGemm.smallWork`).
  public static let smallGemmWork = 64 * 64 * 64

  /// The size class of a gemm of `rows × columns × depth`.
  @inline(__always)
  public static func gemm(rows: Int, columns: Int, depth: Int) -> ShapeClass {
    rows &* columns &* depth <= smallGemmWork ? .small : .large
  }

  /// The size class of a gemv over a `rows × columns` matrix.
  @inline(__always)
  public static func gemv(rows: Int, columns: Int) -> ShapeClass { .vector(count: rows &* columns) }
}

// MARK: - Checked entry points

extension Engine {
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
    let kernel = backend(for: .gemv, .gemv(rows: layoutA.rows, columns: layoutA.columns))
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

  /// C ← α·op(A)·op(B) + β·C on buffers described by layouts. op(A) must be m × k, op(B)
  /// k × n and C m × n; β = 0 means C is not read.
  ///
  /// A product with one row (m = 1) or one column (n = 1) is a matrix–vector product and
  /// runs on the dispatched gemv kernel (a gemm kernel would spend its time packing).
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
    withPlaceholder(a, b) { aBase, bBase in
      if (m == 1 || n == 1) && k > 0 {
        gemmAsGemv(
          transposeA, transposeB, m: m, n: n, k: k, alpha: alpha, aBase, lda: layoutA.leadingDimension,
          bBase, ldb: layoutB.leadingDimension, beta: beta, c.baseAddress!, ldc: layoutC.leadingDimension)
        return
      }
      // Called on the table element in place: copying the existential out costs a retain,
      // a release and an outlined copy per call.
      let slot = KernelOperation.slot(family: 1, index: 1, shape: ShapeClass.gemm(rows: m, columns: n, depth: k).ordinal)
      table[slot].gemm(
        transposeA, transposeB, rows: m, columns: n, depth: k, alpha: alpha,
        aBase, lda: layoutA.leadingDimension, bBase, ldb: layoutB.leadingDimension,
        beta: beta, c.baseAddress!, ldc: layoutC.leadingDimension, threads: effectiveThreads)
    }
  }

  /// C (1 × n or m × 1) ← α·op(A)·op(B) + β·C as one gemv. Strided vectors (a column of a
  /// row-major matrix) are gathered into a temporary first.
  private func gemmAsGemv(
    _ transposeA: Transpose, _ transposeB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    let threads = effectiveThreads
    if m == 1 {
      // c[0, j] = α Σₚ op(A)[0, p]·op(B)[p, j]: y = α·op(B)ᵀ·x, x = row 0 of op(A).
      let kernel = backend(for: .gemv, .gemv(rows: k, columns: n))
      withGathered(a, count: k, stride: transposeA == .normal ? 1 : lda) { x in
        if transposeB == .normal {  // op(B) = B (k × n): Bᵀ·x
          kernel.gemv(.transposed, rows: k, columns: n, alpha: alpha, b, lda: ldb, x, beta: beta, c, threads: threads)
        } else {  // B stored n × k: B·x
          kernel.gemv(.normal, rows: n, columns: k, alpha: alpha, b, lda: ldb, x, beta: beta, c, threads: threads)
        }
      }
      return
    }
    // n == 1: c[i, 0] = α Σₚ op(A)[i, p]·op(B)[p, 0]: y = α·op(A)·x, x = column 0 of op(B).
    let kernel = backend(for: .gemv, .gemv(rows: m, columns: k))
    withGathered(b, count: k, stride: transposeB == .normal ? ldb : 1) { x in
      withStridedOutput(c, count: m, stride: ldc, readFirst: beta != 0) { y in
        if transposeA == .normal {
          kernel.gemv(.normal, rows: m, columns: k, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
        } else {  // A stored k × m
          kernel.gemv(.transposed, rows: k, columns: m, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
        }
      }
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
}

/// Calls `body` with `count` floats read `stride` apart from `base`: `base` itself when the
/// stride is 1, otherwise a temporary copy.
@inline(__always)
func withGathered(_ base: UnsafePointer<Float>, count: Int, stride: Int, _ body: (UnsafePointer<Float>) -> Void) {
  if stride == 1 {
    body(base)
    return
  }
  withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { buffer in
    let out = buffer.baseAddress!
    for i in 0..<count { out[i] = base[i * stride] }
    body(out)
  }
}

/// Calls `body` with a contiguous vector standing for `count` floats `stride` apart at
/// `base` (copied in first when `readFirst`), and scatters it back afterwards.
@inline(__always)
func withStridedOutput(
  _ base: UnsafeMutablePointer<Float>, count: Int, stride: Int, readFirst: Bool, _ body: (UnsafeMutablePointer<Float>) -> Void
) {
  if stride == 1 {
    body(base)
    return
  }
  withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { buffer in
    let out = buffer.baseAddress!
    if readFirst {
      for i in 0..<count { out[i] = base[i * stride] }
    }
    body(out)
    for i in 0..<count { base[i * stride] = out[i] }
  }
}

// MARK: - Calibration

extension Calibration {
  /// gemv: 64×64 (small) and 512×512 (large), both transposes. gemm small: the square sizes
  /// 4…64, the narrow 64×8×64, the odd 17×33×45 and an attention-like Q·Kᵀ; large: 256³ and a
  /// MiniLM-like 128×384×384 with Bᵀ.
  static func matrixProblems(
    _ operation: KernelOperation, _ shape: ShapeClass, threads: Int, _ s: CalibrationScratch
  ) -> [CalibrationProblem] {
    let a = UnsafePointer(s.floats), b = UnsafePointer(s.others), c = s.output
    switch operation {
    case .gemv:
      let n = shape == .small ? 64 : 512
      return Transpose.allCases.map { transpose in
        CalibrationProblem(label: "gemv \(n)×\(n) \(transpose.rawValue)") {
          $0.gemv(transpose, rows: n, columns: n, alpha: 1, a, lda: n, b, beta: 0, c, threads: threads)
        }
      }
    case .gemm:
      let shapes: [(Int, Int, Int, Transpose)] = shape == .small
        ? [(4, 4, 4, .normal), (8, 8, 8, .normal), (16, 16, 16, .normal), (32, 32, 32, .normal), (64, 64, 64, .normal),
           (64, 8, 64, .normal), (17, 33, 45, .normal), (32, 32, 32, .transposed)]
        : [(256, 256, 256, .normal), (128, 384, 384, .transposed)]
      return shapes.map { m, n, k, transposeB in
        let ldb = transposeB == .normal ? n : k
        return CalibrationProblem(label: "gemm \(m)×\(n)×\(k)\(transposeB == .transposed ? " Bᵀ" : "")") {
          $0.gemm(.normal, transposeB, rows: m, columns: n, depth: k, alpha: 1, a, lda: k, b, ldb: ldb,
                  beta: 0, c, ldc: n, threads: threads)
        }
      }
    default:
      return []
    }
  }
}
