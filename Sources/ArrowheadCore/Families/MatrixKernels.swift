// The matrix family: gemv (level 2) and gemm (level 3).

/// Matrix–vector and matrix–matrix products. Each requirement defaults to the reference
/// implementation.
public protocol MatrixKernels {
  /// y ← α·op(A)·x + β·y, A being `rows × columns` with leading dimension `lda`.
  /// op(A) is A (y has `rows` elements) or Aᵀ (y has `columns` elements). When β = 0, y
  /// is not read (NaN in y does not propagate), as in BLAS. When α = 0 the product is still
  /// computed (NaN or ∞ reaching it gives NaN), unlike a BLAS, which may skip it. Uses at
  /// most `threads` threads.
  func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int)

  /// C ← α·op(A)·op(B) + β·C with C `rows × columns`, op(A) `rows × depth` and op(B)
  /// `depth × columns`. When β = 0, C is not read; when α = 0 the product is still computed
  /// (as for `gemv`). Uses at most `threads` threads.
  func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int)

  /// This backend's gemm for problems of size class `shape` as a plain function, which the
  /// engine calls directly (no protocol dispatch per call: a 4×4×4 product's arithmetic
  /// takes a few nanoseconds, as long as a protocol call). The engine calls it only with
  /// validated arguments, m, n ≥ 2, k ≥ 1 and `ShapeClass.gemm(rows:columns:depth:) ==
  /// shape`, so it may skip checks `gemm` makes. Default: nil (the engine calls `gemm`).
  func gemmEntry(for shape: ShapeClass) -> GemmFunction?

  /// This backend's gemv as a plain function (see `gemmEntry(for:)`), called only with
  /// validated arguments and rows, columns ≥ 1. Default: nil (the engine calls `gemv`).
  func gemvEntry(for shape: ShapeClass) -> GemvFunction?
}

/// A gemm kernel as a function value: the arguments of `MatrixKernels.gemm` in order
/// (transposes, rows, columns, depth, α, A, lda, B, ldb, β, C, ldc, threads).
public typealias GemmFunction = @Sendable (
  _ transposeA: Transpose, _ transposeB: Transpose, _ rows: Int, _ columns: Int, _ depth: Int, _ alpha: Float,
  _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ threads: Int
) -> Void

/// A gemv kernel as a function value: the arguments of `MatrixKernels.gemv` in order
/// (transpose, rows, columns, α, A, lda, x, β, y, threads).
public typealias GemvFunction = @Sendable (
  _ transpose: Transpose, _ rows: Int, _ columns: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
  _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>, _ threads: Int
) -> Void

extension MatrixKernels {
  public func gemmEntry(for shape: ShapeClass) -> GemmFunction? { nil }
  public func gemvEntry(for shape: ShapeClass) -> GemvFunction? { nil }

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
  /// `MatrixKernels.gemv` with `.transposed` (y ← α·Aᵀ·x + β·y), dispatched on its own: a
  /// transposed gemv streams A row by row into all of y (axpy-shaped) instead of reducing
  /// each row to one output, so the fastest backend for one is not the fastest for the
  /// other (measured on Intel model 207: the v4 transposed gemv 1.10× the v3 one, which won
  /// the untransposed calibration). It is also the kernel of a gemm with m = 1.
  public static let gemvTransposed = KernelOperation(.matrix, 2, "gemvTransposed")
}

extension KernelFamily {
  static let matrixOperations: [KernelOperation] = [.gemv, .gemm, .gemvTransposed]
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

  /// Elements of A up to which a gemv is of the small size class: 256 × 256 floats
  /// (256 KiB), a matrix that stays in a core's L2 cache, where the kernel's loads and
  /// reductions set the speed; larger ones stream from memory. (The level-1 bound of 256
  /// elements, used before, classed every gemv from 17 × 16 up as large, so a 256 × 256
  /// product was decided by a 512 × 512 calibration.)
  public static let smallGemvElements = 256 * 256

  /// The size class of a gemv over a `rows × columns` matrix.
  @inline(__always)
  public static func gemv(rows: Int, columns: Int) -> ShapeClass {
    rows &* columns <= smallGemvElements ? .small : .large
  }
}

// MARK: - The chosen kernels as function values

/// The gemm and gemv an engine chose, per size class, as function values: the backend's
/// own entry (`gemmEntry(for:)`, `gemvEntry(for:)`) where it has one, else a closure that
/// calls the backend. `Engine.gemm` and `Engine.gemv` call these.
struct MatrixEntries: Sendable {
  let gemmSmall: GemmFunction
  let gemmLarge: GemmFunction
  let gemvSmall: GemvFunction
  let gemvLarge: GemvFunction
  let gemvTransposedSmall: GemvFunction
  let gemvTransposedLarge: GemvFunction

  /// The entries of the backends in `table` (a dispatch table, `KernelOperation.slot`).
  init(_ table: ContiguousArray<any Backend>) {
    func gemm(_ shape: ShapeClass) -> GemmFunction {
      let backend = table[KernelOperation.gemm.slot(shape)]
      if let entry = backend.gemmEntry(for: shape) { return entry }
      return { transposeA, transposeB, rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc, threads in
        backend.gemm(
          transposeA, transposeB, rows: rows, columns: columns, depth: depth, alpha: alpha, a, lda: lda, b, ldb: ldb,
          beta: beta, c, ldc: ldc, threads: threads)
      }
    }
    func gemv(_ operation: KernelOperation, _ shape: ShapeClass) -> GemvFunction {
      let backend = table[operation.slot(shape)]
      if let entry = backend.gemvEntry(for: shape) { return entry }
      return { transpose, rows, columns, alpha, a, lda, x, beta, y, threads in
        backend.gemv(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
      }
    }
    gemmSmall = gemm(.small)
    gemmLarge = gemm(.large)
    gemvSmall = gemv(.gemv, .small)
    gemvLarge = gemv(.gemv, .large)
    gemvTransposedSmall = gemv(.gemvTransposed, .small)
    gemvTransposedLarge = gemv(.gemvTransposed, .large)
  }

  /// Runs the chosen gemv for `transpose` over an A of `shape`, calling the stored function
  /// value in place (no copy: no retain and release around the call).
  @inline(__always)
  func callGemv(
    _ transpose: Transpose, _ shape: ShapeClass, _ rows: Int, _ columns: Int, _ alpha: Float, _ a: UnsafePointer<Float>,
    _ lda: Int, _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>, _ threads: Int
  ) {
    switch (transpose, shape) {
    case (.normal, .small): gemvSmall(transpose, rows, columns, alpha, a, lda, x, beta, y, threads)
    case (.normal, .large): gemvLarge(transpose, rows, columns, alpha, a, lda, x, beta, y, threads)
    case (.transposed, .small): gemvTransposedSmall(transpose, rows, columns, alpha, a, lda, x, beta, y, threads)
    case (.transposed, .large): gemvTransposedLarge(transpose, rows, columns, alpha, a, lda, x, beta, y, threads)
    }
  }

  /// The chosen gemv for `transpose` over an A of `shape`.
  @inline(__always)
  func gemv(_ transpose: Transpose, _ shape: ShapeClass) -> GemvFunction {
    switch (transpose, shape) {
    case (.normal, .small): gemvSmall
    case (.normal, .large): gemvLarge
    case (.transposed, .small): gemvTransposedSmall
    case (.transposed, .large): gemvTransposedLarge
    }
  }
}

extension KernelOperation {
  /// The dispatch entry of a gemv with `transpose`.
  @inline(__always)
  static func gemv(_ transpose: Transpose) -> KernelOperation { transpose == .normal ? .gemv : .gemvTransposed }
}

// MARK: - Checked entry points

extension Engine {
  /// y ← α·op(A)·x + β·y with A described by `layoutA` inside `a`.
  public func gemv(
    transpose: Transpose = .normal, alpha: Float = 1,
    a: UnsafeBufferPointer<Float>, _ layoutA: MatrixLayout,
    x: UnsafeBufferPointer<Float>, beta: Float = 0, y: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    // The hot path is a few compares and one call (see "Small products" in the module
    // README): errors are built out of line, and nothing is copied.
    try layoutA.validate("a", bufferCount: a.count)
    let (outputs, inputs) = layoutA.shape(transpose)
    if x.count < inputs || y.count < outputs {
      throw Self.gemvVectorError(layoutA, transpose, x: x.count, y: y.count)
    }
    if outputs == 0 { return }
    let shape = ShapeClass.gemv(rows: layoutA.rows, columns: layoutA.columns)
    let threads = effectiveThreads
    if inputs == 0 {
      // A and x may be empty buffers without an address: the kernel never reads them.
      withPlaceholder(a, x) { aBase, xBase in
        kernel(KernelOperation.gemv(transpose).slot(shape)).gemv(
          transpose, rows: layoutA.rows, columns: layoutA.columns, alpha: alpha, aBase, lda: layoutA.leadingDimension,
          xBase, beta: beta, y.baseAddress.unsafelyUnwrapped, threads: threads)
      }
      return
    }
    // outputs, inputs ≥ 1: A, x and y each hold at least one element (checked above), so
    // their base addresses exist. The chosen kernel is called as a function value (see
    // `gemm`).
    // In place, not through a local copy of the function value (a copy costs a retain and
    // a release around the call).
    matrixEntries.callGemv(
      transpose, shape, layoutA.rows, layoutA.columns, alpha, a.baseAddress.unsafelyUnwrapped, layoutA.leadingDimension,
      x.baseAddress.unsafelyUnwrapped, beta, y.baseAddress.unsafelyUnwrapped, threads)
  }

  /// The error of a gemv whose x or y is too short (built out of line: the hot path stays small).
  @inline(never)
  static func gemvVectorError(_ layoutA: MatrixLayout, _ transpose: Transpose, x: Int, y: Int) -> ArrowheadError {
    let (outputs, inputs) = layoutA.shape(transpose)
    if x < inputs {
      return .shapeMismatch(argument: "x", expected: "\(inputs) elements (columns of op(a) \(layoutA))", actual: "\(x) elements")
    }
    return .shapeMismatch(argument: "y", expected: "\(outputs) elements (rows of op(a) \(layoutA))", actual: "\(y) elements")
  }

  /// The backend in dispatch-table slot `slot`.
  @inline(__always)
  func kernel(_ slot: Int) -> any Backend { table[slot] }

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
    // The hot path is the checks (a few compares each, errors built out of line) and one
    // call on the table element in place: a 4×4×4 product costs little more than the
    // kernel (see "Small products" in the module README).
    try layoutA.validate("a", bufferCount: a.count)
    try layoutB.validate("b", bufferCount: b.count)
    try layoutC.validate("c", bufferCount: c.count)
    let (m, k) = layoutA.shape(transposeA)
    let (kb, n) = layoutB.shape(transposeB)
    if kb != k || layoutC.rows != m || layoutC.columns != n {
      throw Self.gemmShapeError(layoutA, transposeA, layoutB, transposeB, layoutC)
    }
    if m <= 1 || n <= 1 || k == 0 {
      if m == 0 || n == 0 { return }
      gemmEdgeCases(
        transposeA, transposeB, m: m, n: n, k: k, alpha: alpha, a, lda: layoutA.leadingDimension,
        b, ldb: layoutB.leadingDimension, beta: beta, c, ldc: layoutC.leadingDimension)
      return
    }
    // m, n ≥ 2 and k ≥ 1: A, B and C each hold at least one element (validated above), so
    // their base addresses exist. The chosen kernel is called as a function value: a
    // protocol call on the table's existential cost a copy of it, a destroy and a generic
    // forwarding layer per call.
    // Called in place: through a local copy (`let entry = … ? gemmSmall : gemmLarge`) each
    // call also paid a retain and a release of the function value.
    let aBase = a.baseAddress.unsafelyUnwrapped, bBase = b.baseAddress.unsafelyUnwrapped
    let cBase = c.baseAddress.unsafelyUnwrapped, threads = effectiveThreads
    if ShapeClass.gemm(rows: m, columns: n, depth: k) == .small {
      matrixEntries.gemmSmall(
        transposeA, transposeB, m, n, k, alpha, aBase, layoutA.leadingDimension, bBase, layoutB.leadingDimension, beta,
        cBase, layoutC.leadingDimension, threads)
    } else {
      matrixEntries.gemmLarge(
        transposeA, transposeB, m, n, k, alpha, aBase, layoutA.leadingDimension, bBase, layoutB.leadingDimension, beta,
        cBase, layoutC.leadingDimension, threads)
    }
  }

  /// The error of a gemm whose shapes disagree (built out of line).
  @inline(never)
  static func gemmShapeError(
    _ layoutA: MatrixLayout, _ transposeA: Transpose, _ layoutB: MatrixLayout, _ transposeB: Transpose,
    _ layoutC: MatrixLayout
  ) -> ArrowheadError {
    let (m, k) = layoutA.shape(transposeA)
    let (kb, n) = layoutB.shape(transposeB)
    if kb != k {
      return .shapeMismatch(argument: "b", expected: "\(k) rows in op(b) (columns of op(a) \(layoutA))", actual: "\(kb)×\(n)")
    }
    return .shapeMismatch(argument: "c", expected: "\(m)×\(n)", actual: "\(layoutC.rows)×\(layoutC.columns)")
  }

  /// A gemm with m = 1 or n = 1 (a gemv) or k = 0 (C ← β·C), m, n ≥ 1.
  ///
  /// The kernel and thread count are read into locals before any closure: a closure that
  /// captured the engine copied it (a retain per stored closure and table), which cost more
  /// than the 64-element gemv itself (1×64×64 ran at 0.55× the v4 gemm row; perf showed
  /// `Engine` value-witness copies and swift_retain/release at 26 % of the time).
  @inline(never)
  private func gemmEdgeCases(
    _ transposeA: Transpose, _ transposeB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    _ a: UnsafeBufferPointer<Float>, lda: Int, _ b: UnsafeBufferPointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutableBufferPointer<Float>, ldc: Int
  ) {
    let threads = effectiveThreads
    let cBase = c.baseAddress.unsafelyUnwrapped
    if k > 0 {
      if m == 1 {
        // c[0, j] = α Σₚ op(A)[0, p]·op(B)[p, j]: y = α·op(B)ᵀ·x, x = row 0 of op(A).
        let transpose: Transpose = transposeB == .normal ? .transposed : .normal
        let kernel = matrixEntries.gemv(transpose, .gemv(rows: k, columns: n))
        withPlaceholder(a, b) { aBase, bBase in
          withGathered(aBase, count: k, stride: transposeA == .normal ? 1 : lda) { x in
            if transposeB == .normal {  // op(B) = B (k × n): Bᵀ·x
              kernel(.transposed, k, n, alpha, bBase, ldb, x, beta, cBase, threads)
            } else {  // B stored n × k: B·x
              kernel(.normal, n, k, alpha, bBase, ldb, x, beta, cBase, threads)
            }
          }
        }
        return
      }
      // n == 1: c[i, 0] = α Σₚ op(A)[i, p]·op(B)[p, 0]: y = α·op(A)·x, x = column 0 of op(B).
      // Strided vectors (a column of a row-major matrix) are gathered into a temporary.
      let kernel = matrixEntries.gemv(transposeA, .gemv(rows: m, columns: k))
      withPlaceholder(a, b) { aBase, bBase in
        withGathered(bBase, count: k, stride: transposeB == .normal ? ldb : 1) { x in
          withStridedOutput(cBase, count: m, stride: ldc, readFirst: beta != 0) { y in
            if transposeA == .normal {
              kernel(.normal, m, k, alpha, aBase, lda, x, beta, y, threads)
            } else {  // A stored k × m
              kernel(.transposed, k, m, alpha, aBase, lda, x, beta, y, threads)
            }
          }
        }
      }
      return
    }
    let backend = kernel(KernelOperation.gemm.slot(.small))
    withPlaceholder(a, b) { aBase, bBase in
      backend.gemm(
        transposeA, transposeB, rows: m, columns: n, depth: k, alpha: alpha,
        aBase, lda: lda, bBase, ldb: ldb, beta: beta, cBase, ldc: ldc, threads: threads)
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
  /// gemv and gemvTransposed: 64×64 and 256×256 (small) and 512×512 and 768×768 (large; the
  /// second past a Zen 4 or Xeon 6 core's L2, where Aᵀ·x streams rows), each in its own
  /// transpose. gemm small: the square sizes
  /// 4…64, the narrow 64×8×64, the odd 17×33×45 and an attention-like Q·Kᵀ; large: 256³ and a
  /// MiniLM-like 128×384×384 with Bᵀ.
  static func matrixProblems(
    _ operation: KernelOperation, _ shape: ShapeClass, threads: Int, _ s: CalibrationScratch
  ) -> [CalibrationProblem] {
    let a = UnsafePointer(s.floats), b = UnsafePointer(s.others), c = s.output
    switch operation {
    case .gemv, .gemvTransposed:
      let transpose: Transpose = operation == .gemv ? .normal : .transposed
      return (shape == .small ? [64, 256] : [512, 768]).map { n in
        let matrix = n * n <= CalibrationScratch.capacity ? a : UnsafePointer(s.wideFloats)
        return CalibrationProblem(label: "gemv \(n)×\(n) \(transpose.rawValue)") {
          $0.gemv(transpose, rows: n, columns: n, alpha: 1, matrix, lda: n, b, beta: 0, c, threads: threads)
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
