// The OpenBLAS + LAPACKE backend: cblas for level 1–3, gemm-based distance matrices
// (‖q‖² + ‖x‖² − 2·Q·Xᵀ clamped at 0), LAPACKE for Cholesky / eigen, cblas_strsm.
// Compiled only with the package trait `OpenBLAS` (on by default).
#if OpenBLAS
import ArrowheadCore
import COpenBLAS
import Synchronization

/// OpenBLAS (cblas) and LAPACKE through the system library.
///
/// Debian's OpenBLAS is built with DYNAMIC_ARCH: it picks its own kernels for the CPU at
/// load time (`details["coreName"]` says which). Its thread pool is global to the process;
/// the backend sets the thread count of each call (`threads:`; LAPACK calls: the process
/// cap), so that OpenBLAS threads and Arrowhead's own parallel loops never exceed the
/// engine's cap together, and admits each call through `OpenBLASThreadGate`, so that calls
/// of other counts from other threads cannot change it while the call runs.
/// It implements only what BLAS/LAPACK provide (see `preference(for:_:)`); every other
/// kernel is its family's default, the reference code.
public struct OpenBLASBackend: Backend {
  /// Creates the backend.
  public init() {}

  public var name: String { "openblas" }
  /// OpenBLAS's idle worker threads yield in a loop for about 2²⁸ cycles after a call.
  public var leavesSpinningThreads: Bool { true }
  public var compiledISA: String { "OpenBLAS \(Self.version) (\(Self.coreName) kernels)" }

  public var details: [String: String] {
    [
      "version": Self.version,
      "config": Self.configuration,
      "coreName": Self.coreName,
      "parallel": Self.parallelModel,
    ]
  }

  /// The OpenBLAS version the library reports (e.g. "0.3.21").
  public static let version: String = {
    // openblas_get_config() starts with "OpenBLAS 0.3.21 …".
    let words = configuration.split(separator: " ")
    if words.count >= 2, words[0] == "OpenBLAS" { return String(words[1]) }
    return "unknown"
  }()

  /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
  ///
  /// Read once per process: OpenBLAS 0.3.21 builds the string in one static buffer on every
  /// call (a copy, then the core name appended), so calls from two threads at once return
  /// each other's half-built text — "… MAX_THREADS=64Cooperlake MAX_THREADS=64" and "…
  /// MAX_THREADS=64" were read by engines created together in one test run, which then had
  /// different dispatch-cache keys and measured separately.
  public static let configuration: String = {
    guard let text = openblas_get_config() else { return "" }
    return String(cString: text).trimmingCharacters()
  }()

  /// The kernel family OpenBLAS chose for this CPU (`openblas_get_corename()`), read once.
  public static let coreName: String = {
    guard let text = openblas_get_corename() else { return "" }
    return String(cString: text)
  }()

  /// How OpenBLAS parallelises: "sequential", "pthreads" or "OpenMP".
  public static var parallelModel: String {
    switch openblas_get_parallel() {
    case 0: "sequential"
    case 1: "pthreads"
    case 2: "OpenMP"
    default: "unknown"
    }
  }

  /// Runs `body` (one OpenBLAS call) with OpenBLAS's process-wide thread count at
  /// `threads` (clamped to `1 ... Parallel.maximumThreads`) for the whole call
  /// (`OpenBLASThreadGate`).
  @inline(__always)
  static func withThreads<R>(_ threads: Int, _ body: () -> R) -> R {
    let wanted = Int32(Parallel.clampedThreads(threads))
    OpenBLASThreadGate.shared.enter(wanted)
    defer { OpenBLASThreadGate.shared.leave() }
    return body()
  }

  /// The thread count of the LAPACK calls (Cholesky, triangular solve, eigen), whose
  /// entry points take none: the process's cap (`ThreadPolicy`), fixed for the process so
  /// that the same call gives the same bits.
  static let lapackThreads: Int = (try? ThreadPolicy.threads()) ?? 1

  /// See `StaticPreferences.openBLAS`: level 1 (but `indexOfMaxMagnitude` and
  /// `squaredDistance`), gemv, gemm, distances and the linear-algebra family.
  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    StaticPreferences.openBLAS(operation, shape, coreName: Self.coreName)
  }

  // MARK: Level 1

  // Level-1 calls run on one thread: engine code calls them inside its own parallel loops.

  /// The largest count, dimension or leading dimension a `blasint` holds (Debian's OpenBLAS
  /// takes 32-bit integers): longer vectors go to BLAS in pieces, larger matrices to the
  /// reference kernels, instead of trapping in the conversion.
  static let blasLimit = Int(blasint.max)

  /// Whether every value fits a `blasint` (fixed arity: no array per call).
  @inline(__always)
  static func fitsBLAS(_ a: Int, _ b: Int, _ c: Int = 0, _ d: Int = 0, _ e: Int = 0, _ f: Int = 0, _ g: Int = 0) -> Bool {
    max(max(max(a, b), max(c, d)), max(max(e, f), g)) <= blasLimit
  }

  /// Calls `body(start, length)` on consecutive pieces of 0..<count of at most `limit`.
  static func forEachPiece(_ count: Int, limit: Int = blasLimit, _ body: (_ start: Int, _ length: Int) -> Void) {
    var start = 0
    while start < count {
      let length = min(limit, count - start)
      body(start, length)
      start += length
    }
  }

  /// Σ x[i]·y[i] by `cblas_sdot` on pieces of at most `limit` elements.
  static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, limit: Int) -> Float {
    var sum: Float = 0
    withThreads(1) {
      forEachPiece(count, limit: limit) { start, length in sum += cblas_sdot(blasint(length), x + start, 1, y + start, 1) }
    }
    return sum
  }

  public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    if count == 0 { return 0 }
    if count <= Self.blasLimit { return Self.withThreads(1) { cblas_sdot(blasint(count), x, 1, y, 1) } }
    return Self.dot(count: count, x, y, limit: Self.blasLimit)
  }

  // α = 0 is computed here, not by OpenBLAS: its `saxpy`, `sscal` and `sgemv` return early
  // for α = 0 (as BLAS allows), so NaN and ∞ in x or A would not reach the result — and
  // `sscal` sets them to 0 — where every other backend gives NaN (IEEE: 0·NaN = 0·∞ = NaN).
  // `zeroAlphaStillPropagatesNonFiniteValues` and `zeroAlphaMatrixProductsStillPropagateNaN` in the
  // conformance suite check it.

  public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    if count == 0 { return }
    if alpha == 0 {
      ReferenceKernels.axpy(count: count, alpha: alpha, x, y)
      return
    }
    Self.axpy(count: count, alpha: alpha, x, y, limit: Self.blasLimit)
  }

  /// y ← αx + y by `cblas_saxpy` on pieces of at most `limit` elements (the same bits).
  static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, limit: Int) {
    withThreads(1) {
      forEachPiece(count, limit: limit) { start, length in cblas_saxpy(blasint(length), alpha, x + start, 1, y + start, 1) }
    }
  }

  public func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    if count == 0 { return }
    if alpha == 0 {
      ReferenceKernels.scale(count: count, alpha: alpha, x)
      return
    }
    Self.withThreads(1) {
      Self.forEachPiece(count) { start, length in cblas_sscal(blasint(length), alpha, x + start, 1) }
    }
  }

  public func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    if count == 0 { return 0 }
    return dot(count: count, x, x)
  }

  // MARK: Level 2 and 3

  public func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    let outputs = transpose == .normal ? rows : columns
    if outputs == 0 { return }
    if rows == 0 || columns == 0 {
      for i in 0..<outputs { y[i] = beta == 0 ? 0 : beta * y[i] }
      return
    }
    if !Self.fitsBLAS(rows, columns, lda) {
      ReferenceKernels.gemv(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y)
      return
    }
    if beta == 0 { y.update(repeating: 0, count: outputs) }  // BLAS may read y when β = 0
    if alpha == 0 {
      // y ← 0·(A·x) + β·y with the product computed (see `axpy`): op(A)·x into a temporary.
      withUnsafeTemporaryAllocation(of: Float.self, capacity: outputs) { buffer in
        guard let product = buffer.baseAddress else { return }
        Self.withThreads(threads) {
          cblas_sgemv(
            CblasRowMajor, Self.cblas(transpose), blasint(rows), blasint(columns), 1, a,
            blasint(max(1, lda)), x, 1, 0, product, 1)
        }
        for i in 0..<outputs { y[i] = alpha * product[i] + (beta == 0 ? 0 : beta * y[i]) }
      }
      return
    }
    Self.withThreads(threads) {
      cblas_sgemv(
        CblasRowMajor, Self.cblas(transpose), blasint(rows), blasint(columns), alpha, a,
        blasint(max(1, lda)), x, 1, beta, y, 1)
    }
  }

  public func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    if rows == 0 || columns == 0 { return }
    if !Self.fitsBLAS(rows, columns, depth, lda, ldb, ldc, rows * columns) {
      // (rows·columns: the temporary of α = 0 below is addressed with `blasint` columns only,
      // but a product that large is the reference's either way.)
      ReferenceKernels.gemm(
        transposeA, transposeB, rows: rows, columns: columns, depth: depth, alpha: alpha,
        a, lda: lda, b, ldb: ldb, beta: beta, c, ldc: ldc)
      return
    }
    if beta == 0 {
      // C is not to be read when β = 0: clear it so that NaN there cannot leak through.
      for i in 0..<rows { (c + i * ldc).update(repeating: 0, count: columns) }
    }
    if depth == 0 {
      if beta != 0 && beta != 1 {
        Self.withThreads(1) { for i in 0..<rows { cblas_sscal(blasint(columns), beta, c + i * ldc, 1) } }
      }
      return
    }
    if alpha == 0 {
      // C ← 0·(op(A)·op(B)) + β·C with the product computed (see `axpy`; OpenBLAS 0.3.21's
      // `sgemm` does compute it, a BLAS may skip it): the product into a temporary.
      withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * columns) { buffer in
        guard let product = buffer.baseAddress else { return }
        Self.withThreads(threads) {
          cblas_sgemm(
            CblasRowMajor, Self.cblas(transposeA), Self.cblas(transposeB),
            blasint(rows), blasint(columns), blasint(depth), 1,
            a, blasint(max(1, lda)), b, blasint(max(1, ldb)), 0, product, blasint(columns))
        }
        for i in 0..<rows {
          for j in 0..<columns {
            let previous = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * product[i * columns + j] + previous
          }
        }
      }
      return
    }
    Self.withThreads(threads) {
      cblas_sgemm(
        CblasRowMajor, Self.cblas(transposeA), Self.cblas(transposeB),
        blasint(rows), blasint(columns), blasint(depth), alpha,
        a, blasint(max(1, lda)), b, blasint(max(1, ldb)), beta, c, blasint(max(1, ldc)))
    }
  }

  // MARK: Distances

  public func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    if queryCount == 0 || baseCount == 0 { return }
    let alpha: Float = metric == .squaredL2 ? -2 : 1
    gemm(.normal, .transposed, rows: queryCount, columns: baseCount, depth: dimension, alpha: alpha,
         queries, lda: ldq, base, ldb: ldb, beta: 0, out, ldc: ldo, threads: threads)
    switch metric {
    case .innerProduct:
      return
    case .squaredL2:
      let qn = queryNorms.map { Array(UnsafeBufferPointer(start: $0, count: queryCount)) }
        ?? (0..<queryCount).map { sumOfSquares(count: dimension, queries + $0 * ldq) }
      let bn = baseNorms.map { Array(UnsafeBufferPointer(start: $0, count: baseCount)) }
        ?? (0..<baseCount).map { sumOfSquares(count: dimension, base + $0 * ldb) }
      let output = UncheckedSendableBox(out)
      Parallel.forEachChunk(queryCount, threads: threads) { range in
        for i in range {
          let row = output.value + i * ldo
          let q = qn[i]
          for j in 0..<baseCount {
            let value = (q + bn[j]) + row[j]
            row[j] = value < 0 ? 0 : value
          }
        }
      }
    case .cosine:
      func inverse(_ norm: Float) -> Float { norm > 0 ? 1 / norm : (norm.isNaN ? .nan : 0) }
      let qi = (0..<queryCount).map { i in inverse(queryNorms?[i] ?? sumOfSquares(count: dimension, queries + i * ldq).squareRoot()) }
      let bi = (0..<baseCount).map { j in inverse(baseNorms?[j] ?? sumOfSquares(count: dimension, base + j * ldb).squareRoot()) }
      let output = UncheckedSendableBox(out)
      Parallel.forEachChunk(queryCount, threads: threads) { range in
        for i in range {
          let row = output.value + i * ldo
          for j in 0..<baseCount { row[j] = row[j] * qi[i] * bi[j] }
        }
      }
      CosineRepair.repair(
        queryCount: queryCount, baseCount: baseCount, dimension: dimension, queries: queries, ldq: ldq, base: base,
        ldb: ldb, queryInverseNorm: { qi[$0] }, baseInverseNorm: { bi[$0] }, out, ldo: ldo)
    }
  }

  // MARK: Dense linear algebra (LAPACKE)

  public func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    if order == 0 { return }
    if !Self.fitsBLAS(order, lda) {
      try ReferenceKernels.choleskyFactor(order: order, a, lda: lda)
      return
    }
    let info = Self.withThreads(Self.lapackThreads) {
      LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(order), a, Int32(max(1, lda)))
    }
    if info > 0 { throw .notPositiveDefinite(argument: "a", order: order, pivot: Int(info) - 1) }
    if info < 0 { throw .invalidParameter(name: "LAPACKE_spotrf argument \(-info)", value: "rejected", expected: "valid") }
    for i in 0..<order where i + 1 < order {
      (a + i * lda + i + 1).update(repeating: 0, count: order - i - 1)
    }
  }

  public func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    if rows == 0 || columns == 0 { return }
    if !Self.fitsBLAS(rows, columns, ldl, ldb) {
      ReferenceKernels.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
      return
    }
    Self.withThreads(Self.lapackThreads) {
      cblas_strsm(
        CblasRowMajor, side == .left ? CblasLeft : CblasRight, CblasLower, Self.cblas(transpose), CblasNonUnit,
        blasint(rows), blasint(columns), 1, l, blasint(max(1, ldl)), b, blasint(max(1, ldb)))
    }
  }

  public func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    if order == 0 { return }
    if !Self.fitsBLAS(order, lda) {
      try ReferenceKernels.symmetricEigen(order: order, a, lda: lda, eigenvalues: eigenvalues)
      return
    }
    let info = Self.withThreads(Self.lapackThreads) {
      LAPACKE_ssyevd(
        LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "L")), Int32(order), a,
        Int32(max(1, lda)), eigenvalues)
    }
    if info > 0 { throw .noConvergence(operation: "LAPACKE_ssyevd", iterations: Int(info)) }
    if info < 0 { throw .invalidParameter(name: "LAPACKE_ssyevd argument \(-info)", value: "rejected", expected: "valid") }
  }

  static func cblas(_ transpose: Transpose) -> CBLAS_TRANSPOSE {
    transpose == .normal ? CblasNoTrans : CblasTrans
  }
}

extension String {
  fileprivate func trimmingCharacters() -> String {
    var view = Substring(self)
    while view.first?.isWhitespace == true { view = view.dropFirst() }
    while view.last?.isWhitespace == true { view = view.dropLast() }
    return String(view)
  }
}
#endif
