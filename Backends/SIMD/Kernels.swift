// The exported face of one ISA module: `SIMDKernels`, a set of static kernels on raw
// pointers (see Backends/SIMDBackend/SIMDKernelSet.swift for why nothing else is exported).
import ArrowheadCore
import ArrowheadSIMD

/// This ISA level's kernels. `SIMDBackend<SIMDKernels>` turns them into a `Backend`.
public enum SIMDKernels: SIMDKernelSet {
  public static var name: StaticString { Variant.name }
  public static var compiledISA: StaticString { Variant.compiledISA }
  public static var requiredFeatureMask: UInt64 { Variant.requiredFeatureMask }
  public static var level: Int { Variant.level }
  public static var fusedMultiplyAdd: Bool { Variant.fusedMultiplyAdd }
  public static var lanes: Int { VectorF32.scalarCount }
  public static var gemmTile: (rows: Int, columns: Int) { (microRows, microColumns) }
  public static var gemmBlocking: (mc: Int, kc: Int, nc: Int, unroll: Int) {
    (GemmBlocking.mc, GemmBlocking.kc, GemmBlocking.nc, GemmBlocking.unroll)
  }

  public static func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float {
    multiplyAdd(VectorF32(repeating: a), VectorF32(repeating: b), VectorF32(repeating: c))[0]
  }

  public static func peakLoop(iterations: Int) -> Float {
    var a0 = VectorF32(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
    var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
    let x = VectorF32(repeating: 0.999_999), y = VectorF32(repeating: 1e-7)
    for _ in 0..<iterations {
      a0 = multiplyAdd(a0, x, y); a1 = multiplyAdd(a1, x, y); a2 = multiplyAdd(a2, x, y)
      a3 = multiplyAdd(a3, x, y); a4 = multiplyAdd(a4, x, y); a5 = multiplyAdd(a5, x, y)
      a6 = multiplyAdd(a6, x, y); a7 = multiplyAdd(a7, x, y); a8 = multiplyAdd(a8, x, y)
      a9 = multiplyAdd(a9, x, y); a10 = multiplyAdd(a10, x, y); a11 = multiplyAdd(a11, x, y)
    }
    let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
    return horizontalSum(sum)
  }

  public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    SIMDLevel1.dot(count, x, y)
  }

  public static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    SIMDLevel1.axpy(count, alpha, x, y)
  }

  public static func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    SIMDLevel1.scale(count, alpha, x)
  }

  public static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    SIMDLevel1.sumOfSquares(count, x)
  }

  public static func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int {
    SIMDLevel1.indexOfMaxMagnitude(count, x)
  }

  public static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int
  ) {
    SIMDGemv.run(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }

  public static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    let problem: GemmOperands = (
      rows: rows, columns: columns, depth: depth,
      a: a, lda: lda, transposeA: transposeA == .transposed,
      b: b, ldb: ldb, transposeB: transposeB == .transposed, c: c, ldc: ldc)
    SIMDGemm.run(problem, epilogue: linearEpilogue(alpha: alpha, beta: beta), threads: threads)
  }

  public static func distances(
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

  public static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    SIMDQuantize.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int, _ codes: UnsafeMutablePointer<UInt8>
  ) {
    SIMDQuantize.quantize(
      count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }

  public static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, _ x: UnsafeMutablePointer<Float>
  ) {
    SIMDQuantize.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.pack(count: count, bits: bits, codes, packed)
  }

  public static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.unpack(count: count, bits: bits, packed, codes)
  }

  public static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    SIMDQuantize.int8Dot(count: count, a, b)
  }

  public static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    SIMDQuantize.uint8SquaredL2(count: count, a, b)
  }

  public static func cholesky(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) -> Int {
    SIMDLinearAlgebra.cholesky(order: order, a, lda: lda)
  }

  public static func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    SIMDLinearAlgebra.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }
}
