/// A set of numerical kernels on contiguous Float32 (and code) buffers.
///
/// Backends are values; the engine holds several and dispatches each operation to the
/// fastest runnable one. Arguments arrive **already validated** by `Engine` (shapes ≥ 0,
/// leading dimensions ≥ row lengths, buffers long enough), so a backend may trust them.
/// Matrices are row-major: element (i, j) of a matrix with leading dimension `ld` is at
/// `base[i * ld + j]`.
///
/// Every requirement is mandatory, so a backend is always complete: an operation that a
/// backend does not accelerate is implemented by delegating to `ReferenceBackend` (module
/// `ArrowheadReference`) or to another backend, and `preference(for:_:)` returns score 0
/// for it so that dispatch never chooses it unless forced.
///
/// Conformance checklist for a third-party backend: implement the requirements, make
/// `requiredFeatures` honest (dispatch never runs a backend whose features are missing),
/// register it (`BackendRegistry.register(_:)`), and run the conformance suite
/// (`Tests/ArrowheadCoreTests/ConformanceTests.swift`) against it.
public protocol Backend: Sendable {
  /// Unique, lower-case name used by `ARROWHEAD_BACKEND` (e.g. "simd-x86-64-v3").
  var name: String { get }
  /// The instruction set the backend's code was compiled for (e.g. "x86-64-v3 (AVX2, FMA)").
  var compiledISA: String { get }
  /// Features the CPU must have for this backend to run without faulting.
  var requiredFeatures: Set<CPUFeature> { get }
  /// Extra facts for reports (library version, configuration, thread count …).
  var details: [String: String] { get }
  /// How much this backend wants to run `operation` at `shape`; see `Preference`.
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference

  // MARK: Level 1

  /// Σ x[i]·y[i] over `count` elements.
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// y ← αx + y.
  func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
  /// x ← αx.
  func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>)
  /// Σ x[i]².
  func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float
  /// The first index of the largest |x[i]|; -1 when `count` is 0. A NaN, if any, wins
  /// (the first NaN's index is returned) so that a NaN is never hidden.
  func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int

  // MARK: Level 2 and 3

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

  // MARK: Distances

  /// Writes out[i·ldo + j] = metric(query i, base j) for `queryCount` queries and
  /// `baseCount` base vectors of `dimension` floats (row strides `ldq`, `ldb`).
  /// `queryNorms` / `baseNorms`, when given, hold ‖q‖² / ‖x‖² (squared L2) or ‖q‖ / ‖x‖
  /// (cosine) so that callers who search repeatedly compute them once.
  func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int)

  // MARK: Quantization

  /// Minimum and maximum of each group of `groupSize` consecutive values (the last group
  /// may be shorter). Returns false if any value is NaN or ±∞ (the minima/maxima are then
  /// unspecified); the caller locates the first one.
  func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>) -> Bool

  /// Affine quantization of groups of `groupSize` values to one code byte each; see
  /// `AffineForm` for the formulas. Rounding is half to even; codes clamp to
  /// `0 … maxCode`. Results must be bit-identical on every backend.
  func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>)

  /// The inverse of `quantize`: x̂ = q·s + m, or (q − z)·s, per group (mul then add, no FMA,
  /// so that every backend returns the same bits).
  func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>)

  /// Packs `count` codes of `bits` bits (1…8) into ⌈count·bits/8⌉ bytes as a little-endian
  /// bit stream: code i occupies stream bits i·bits … i·bits + bits − 1, and stream bit j is
  /// bit (j mod 8) of byte ⌊j/8⌋. Codes must already fit in `bits` bits. Trailing bits of
  /// the last byte are zero.
  func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>)

  /// The inverse of `pack`.
  func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>)

  /// Σ a[i]·b[i] over signed 8-bit codes, accumulated exactly in Int32 (exact while
  /// count ≤ 2^17).
  func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32

  /// Σ (a[i] − b[i])² over unsigned 8-bit codes, exact in Int32 (exact while count ≤ 2^15).
  func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32

  // MARK: Dense linear algebra

  /// Cholesky factorisation A = L·Lᵀ of a symmetric positive-definite `order × order`
  /// matrix, in place: only the lower triangle of A is read; on return it holds L and the
  /// strict upper triangle holds zeros. Throws `.notPositiveDefinite` naming the first
  /// failing pivot.
  func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError)

  /// Solves with a lower-triangular, non-unit `L` (order = rows for `.left`, columns for
  /// `.right`) in place: B ← op(L)⁻¹·B (left) or B ← B·op(L)⁻¹ (right), B `rows × columns`.
  func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int)

  /// Eigen-decomposition of a symmetric `order × order` matrix (lower triangle read):
  /// eigenvalues in ascending order; on return column j of A is the unit eigenvector of
  /// eigenvalue j (signs are not normalised).
  func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int,
    eigenvalues: UnsafeMutablePointer<Float>) throws(ArrowheadError)
}

extension Backend {
  /// Whether this backend can run on `cpu`.
  public func isRunnable(on cpu: CPUInfo = .current) -> Bool { cpu.supports(requiredFeatures) }

  /// The operations this backend accelerates (score > 0 at some size class).
  public var acceleratedOperations: [KernelOperation] {
    KernelOperation.allCases.filter { op in ShapeClass.allCases.contains { preference(for: op, $0).score > 0 } }
  }
}
