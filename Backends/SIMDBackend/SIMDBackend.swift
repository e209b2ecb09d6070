// The `Backend` formed by one ISA level's kernels. Compiled for the baseline ISA only.
import ArrowheadCore

/// The pure-Swift SIMD backend of one instruction-set level.
///
/// `K` is the `SIMDKernels` enum of a per-ISA module (`ArrowheadSIMDBaseline`,
/// `ArrowheadSIMDx86v3`, `ArrowheadSIMDx86v4`), each compiled from the same source with its
/// own `-march`. The backend is safe to create on any CPU; dispatch only runs it where
/// `isRunnable()` holds. `fusedMultiplyAddProbe` proves which module's code runs: a fused
/// multiply-add rounds once, mul + add twice.
public struct SIMDBackend<K: SIMDKernelSet>: Backend, SIMDVariantBackend {
  /// Creates the backend for the kernel set `K`.
  public init() {}

  public var name: String { "\(K.name)" }
  public var compiledISA: String { "\(K.compiledISA)" }
  public var requiredFeatures: Set<CPUFeature> { CPUFeature.features(inMask: K.requiredFeatureMask) }
  public var level: Int { K.level }
  public var details: [String: String] {
    let tile = K.gemmTile, blocking = K.gemmBlocking
    return [
      "vector": "\(K.lanes) × Float32",
      "gemmMicroTile": "\(tile.rows)×\(tile.columns)",
      "gemmBlocking": "mc \(blocking.mc), kc \(blocking.kc), nc \(blocking.nc), unroll \(blocking.unroll)",
      "fusedMultiplyAdd": K.fusedMultiplyAdd ? "yes" : "no",
    ]
  }

  public func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float { K.fusedMultiplyAddProbe(a, b, c) }
  public func peakLoop(iterations: Int) -> Float { K.peakLoop(iterations: iterations) }
  public func peakLoopFlops(iterations: Int) -> Double { Double(iterations) * 24 * Double(K.lanes) }

  /// Scores compared with the other backends' (`Preference`). Variants with FMA take gemm:
  /// the AVX2 variant runs it at parity with single-thread OpenBLAS (0.92–1.05× measured,
  /// n = 256…2048), the AVX-512 one at 1.9× OpenBLAS 0.3.21 (whose newest x86 kernels are
  /// AVX2), both well ahead on small products (no packing, no call overhead); at parity
  /// our own threads are preferred, because OpenBLAS's idle workers spin for ~0.1 s after
  /// each call and slow whatever Swift code runs next. The baseline (no FMA, ~⅓ of the
  /// AVX2 rate) yields gemm and large factorisations to OpenBLAS.
  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference {
    let fast = K.fusedMultiplyAdd
    let tile = "\(K.gemmTile.rows)×\(K.gemmTile.columns)"
    let score: Int
    let reason: String
    switch operation {
    case .gemm:
      switch (shape, fast) {
      case (.small, true):
        score = 50
        reason = "direct \(tile) kernel without packing: no call or thread hand-off overhead"
      case (.large, true):
        score = 40
        reason = "packed \(tile) FMA micro-kernel; threads from Arrowhead's pool"
      default:
        score = 15
        reason = "\(tile) micro-kernel without FMA"
      }
    case .distances:
      score = fast ? 40 : 25
      reason = "gemm with a fused ‖q‖²+‖x‖²−2q·x epilogue (one pass over the output)"
    case .cholesky, .triangularSolve, .symmetricEigen:
      score = shape == .small ? 40 : 10
      reason = shape == .small ? "no LAPACK call overhead at small orders" : "unblocked Swift implementation"
    default:
      score = 40
      reason = "\(K.lanes)-lane Swift SIMD kernel"
    }
    return Preference(score: score + K.level, reason: reason)
  }

  public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    K.dot(count: count, x, y)
  }

  public func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    K.squaredDistance(count: count, x, y)
  }

  public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    K.axpy(count: count, alpha: alpha, x, y)
  }

  public func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    K.scale(count: count, alpha: alpha, x)
  }

  public func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float { K.sumOfSquares(count: count, x) }

  public func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int { K.indexOfMaxMagnitude(count: count, x) }

  public func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    K.gemv(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }

  public func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    K.gemm(transposeA, transposeB, rows: rows, columns: columns, depth: depth, alpha: alpha,
           a, lda: lda, b, ldb: ldb, beta: beta, c, ldc: ldc, threads: threads)
  }

  public func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    K.distances(
      metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
      queries: queries, ldq: ldq, base: base, ldb: ldb, queryNorms: queryNorms, baseNorms: baseNorms,
      out, ldo: ldo, threads: threads)
  }

  public func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    K.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    K.quantize(count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }

  public func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    K.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    K.pack(count: count, bits: bits, codes, packed)
  }

  public func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    K.unpack(count: count, bits: bits, packed, codes)
  }

  public func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    K.int8Dot(count: count, a, b)
  }

  public func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    K.uint8SquaredL2(count: count, a, b)
  }

  public func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    let pivot = K.cholesky(order: order, a, lda: lda)
    if pivot >= 0 { throw .notPositiveDefinite(argument: "a", order: order, pivot: pivot) }
  }

  public func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    K.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }

  /// Householder tridiagonalisation + implicit QL in Double (scalar: no ISA-specific code).
  public func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    try TridiagonalEigen.decompose(order: order, a, lda: lda, eigenvalues: eigenvalues)
  }
}

/// A per-ISA variant of the SIMD backend.
public protocol SIMDVariantBackend: Backend {
  /// The ISA level (1 baseline, 3 x86-64-v3, 4 x86-64-v4).
  var level: Int { get }
  /// a·b + c through this variant's vector multiply-add (lane 0): one rounding when fused.
  func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float
  /// A register-only loop of independent multiply-adds, for measuring the peak FLOP rate.
  func peakLoop(iterations: Int) -> Float
  /// FLOP executed by `peakLoop(iterations:)`.
  func peakLoopFlops(iterations: Int) -> Double
}
