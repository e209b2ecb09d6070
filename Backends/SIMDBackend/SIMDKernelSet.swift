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
//
// The kernel requirements are grouped by family, one file each (`SIMDBackend+Level1.swift`,
// …): the family's static requirements next to the `SIMDBackend` methods that forward to
// them. Adding a SIMD kernel to a family: its source in Backends/SIMD (a `public static
// func` on `SIMDKernels`), one requirement and one forwarding method in that family file,
// and its operation in `StaticPreferences.simd`.
import ArrowheadCore

/// The kernels of one ISA level of the pure-Swift SIMD backend, as static functions on raw
/// pointers with the semantics documented on the `Backend` families.
public protocol SIMDKernelSet: SIMDLevel1Set, SIMDMatrixSet, SIMDDistanceSet, SIMDQuantizationSet, SIMDSearchCodeSet,
  SIMDOptimizerSet, SIMDLinearAlgebraSet, SIMDTransformerSet
{
  /// Backend name, e.g. "simd-x86-64-v3".
  static var name: StaticString { get }
  /// Human-readable ISA, e.g. "x86-64-v3 (AVX2, FMA, F16C)".
  static var compiledISA: StaticString { get }
  /// Required CPU features as a mask of `CPUFeature.bit` values.
  static var requiredFeatureMask: UInt64 { get }
  /// ISA level (1 baseline, 3 x86-64-v3, 4 x86-64-v4); higher wins static ties.
  static var level: Int { get }
  /// Whether the vector multiply-add is fused (one rounding).
  static var fusedMultiplyAdd: Bool { get }
  /// Floats per vector register.
  static var lanes: Int { get }
  /// Gemm micro-tile rows and columns.
  static var gemmTile: (rows: Int, columns: Int) { get }
  /// Gemm cache blocking (mc, kc, nc) and micro-kernel unroll.
  static var gemmBlocking: (mc: Int, kc: Int, nc: Int, unroll: Int) { get }

  /// a·b + c through the variant's vector multiply-add, lane 0.
  static func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float
  /// 12 independent multiply-add chains × `iterations` (FLOP = iterations·24·lanes).
  static func peakLoop(iterations: Int) -> Float
}
