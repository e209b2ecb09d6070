// The pure-Swift SIMD backend. This one source is compiled once per ISA level (see the
// table in Package.swift); `Variant.swift` in each target folder supplies the vector type,
// the multiply-add, the blocking, the name and the required features.
import ArrowheadCore

/// The pure-Swift SIMD backend compiled for one instruction-set level.
///
/// Each per-ISA module (`ArrowheadSIMDBaseline`, `ArrowheadSIMDx86v3`, `ArrowheadSIMDx86v4`)
/// holds its own copy of this type and of every kernel symbol, so the variants can never
/// be folded into one by the linker. `fusedMultiplyAddProbe` lets a test prove which copy
/// ran (a fused multiply-add rounds once, mul + add twice).
public struct SIMDBackend: Backend {
  /// Creates the backend. It is safe to create on any CPU; dispatch only *runs* it where
  /// `isRunnable()` holds.
  public init() {}

  public var name: String { Variant.name }
  public var compiledISA: String { Variant.compiledISA }
  public var requiredFeatures: Set<CPUFeature> { Variant.requiredFeatures }
  public var details: [String: String] {
    [
      "vector": "\(VectorF32.scalarCount) × Float32",
      "gemmMicroTile": "\(microRows)×\(microColumns)",
      "gemmBlocking": "mc \(GemmBlocking.mc), kc \(GemmBlocking.kc), nc \(GemmBlocking.nc)",
      "fusedMultiplyAdd": Variant.fusedMultiplyAdd ? "yes" : "no",
    ]
  }

  /// The ISA level of this variant (1 baseline, 3 x86-64-v3, 4 x86-64-v4).
  public var level: Int { Variant.level }

  /// Computes a·b + c with this variant's vector multiply-add and returns lane 0.
  ///
  /// With a = b = 1 + 2⁻¹², c = −(1 + 2⁻¹¹): fused ⇒ 2⁻²⁴ (one rounding), mul + add ⇒ 0.
  /// The answer depends on which module's code actually runs, which is the point.
  public func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float {
    multiplyAdd(VectorF32(repeating: a), VectorF32(repeating: b), VectorF32(repeating: c))[0]
  }

  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference {
    SIMDPolicy.preference(for: operation, shape)
  }

  public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    SIMDLevel1.dot(count, x, y)
  }

  public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    SIMDLevel1.axpy(count, alpha, x, y)
  }

  public func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    SIMDLevel1.scale(count, alpha, x)
  }

  public func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    SIMDLevel1.sumOfSquares(count, x)
  }

  public func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int {
    SIMDLevel1.indexOfMaxMagnitude(count, x)
  }

  public func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    SIMDGemv.run(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y)
  }

  public func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    let problem = GemmOperands(
      rows: rows, columns: columns, depth: depth,
      a: a, lda: lda, transposeA: transposeA == .transposed,
      b: b, ldb: ldb, transposeB: transposeB == .transposed, c: c, ldc: ldc)
    SIMDGemm.run(problem, epilogue: .linear(alpha: alpha, beta: beta), threads: threads)
  }

  public func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    SIMDDistances.run(
      metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
      queries: queries, ldq: ldq, base: base, ldb: ldb, queryNorms: queryNorms, baseNorms: baseNorms,
      out, ldo: ldo, threads: threads)
  }

  public func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    SIMDQuantize.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    SIMDQuantize.quantize(
      count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form,
      maxCode: maxCode, codes)
  }

  public func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    SIMDQuantize.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.pack(count: count, bits: bits, codes, packed)
  }

  public func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.unpack(count: count, bits: bits, packed, codes)
  }

  public func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    SIMDQuantize.int8Dot(count: count, a, b)
  }

  public func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    SIMDQuantize.uint8SquaredL2(count: count, a, b)
  }

  public func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    try SIMDLinearAlgebra.cholesky(order: order, a, lda: lda)
  }

  public func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    SIMDLinearAlgebra.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }

  public func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    try SIMDLinearAlgebra.symmetricEigen(order: order, a, lda: lda, eigenvalues: eigenvalues)
  }
}

/// Dispatch preferences of the SIMD backend (scores are compared across backends; see
/// `Preference`). Higher ISA levels add their level so that v4 > v3 > baseline.
enum SIMDPolicy {
  static func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference {
    let base: Int
    let reason: String
    switch operation {
    case .gemm:
      base = shape == .small ? 50 : 30
      reason = shape == .small
        ? "no call or thread hand-off overhead on small products"
        : "6×\(microColumns) register-blocked micro-kernel"
    case .cholesky, .triangularSolve, .symmetricEigen:
      base = shape == .small ? 40 : 10
      reason = shape == .small ? "no LAPACK call overhead at small orders" : "Swift implementation"
    default:
      base = 40
      reason = "\(VectorF32.scalarCount)-lane Swift SIMD kernel"
    }
    return Preference(score: base + Variant.level, reason: reason)
  }
}
