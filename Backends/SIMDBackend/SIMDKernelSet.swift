// The interface between the per-ISA kernel modules and the `Backend` they form.
//
// A per-ISA module (ArrowheadSIMDBaseline, …x86v3, …x86v4) compiles Backends/SIMD with its
// own -march and exports ONLY an `enum SIMDKernels: SIMDKernelSet`: integer/StaticString
// constants and kernels on raw pointers. Everything that would instantiate stdlib generics
// (sets, dictionaries, arrays, strings, errors) lives here, in a module compiled for the
// baseline ISA. Such instantiations are emitted as weak (link-once) symbols; were two ISA
// modules to emit the same one, the linker would keep a single copy — possibly the AVX-512
// one inside baseline code. `Tests/ArrowheadCoreTests/ISAVariantTests.swift` checks that
// the ISA modules share no weak symbol.
import ArrowheadCore

/// The kernels of one ISA level of the pure-Swift SIMD backend, as static functions on raw
/// pointers with the semantics documented on `Backend`.
public protocol SIMDKernelSet {
  /// Backend name, e.g. "simd-x86-64-v3".
  static var name: StaticString { get }
  /// Human-readable ISA, e.g. "x86-64-v3 (AVX2, FMA, F16C)".
  static var compiledISA: StaticString { get }
  /// Required CPU features as a mask of `CPUFeature.bit` values.
  static var requiredFeatureMask: UInt64 { get }
  /// ISA level (1 baseline, 3 x86-64-v3, 4 x86-64-v4); higher wins ties.
  static var level: Int { get }
  /// Whether the vector multiply-add is fused (one rounding).
  static var fusedMultiplyAdd: Bool { get }
  /// Floats per vector register.
  static var lanes: Int { get }
  /// Gemm micro-tile rows and columns, and cache blocking (mc, kc, nc) and unroll.
  static var gemmTile: (rows: Int, columns: Int) { get }
  /// Gemm cache blocking.
  static var gemmBlocking: (mc: Int, kc: Int, nc: Int, unroll: Int) { get }

  /// a·b + c through the variant's vector multiply-add, lane 0.
  static func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float
  /// 12 independent multiply-add chains × `iterations` (FLOP = iterations·24·lanes).
  static func peakLoop(iterations: Int) -> Float

  static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
  static func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>)
  static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float
  static func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int
  static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int)
  static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int)
  static func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int)
  static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>) -> Bool
  static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int, _ codes: UnsafeMutablePointer<UInt8>)
  static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, _ x: UnsafeMutablePointer<Float>)
  static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>)
  static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>)
  static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32
  static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32
  /// Cholesky in place; returns −1 on success or the first failing pivot.
  static func cholesky(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) -> Int
  static func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int)
}
