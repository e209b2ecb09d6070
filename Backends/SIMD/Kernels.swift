// The exported face of one ISA module: `SIMDKernels`, a set of static kernels on raw
// pointers (see Backends/SIMDBackend/SIMDKernelSet.swift for why nothing else is exported).
// This file holds its constants and probes; each family's source file adds that family's
// kernels to it (`extension SIMDKernels { public static func … }`).
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
}
