// ISA: baseline. x86-64: SSE2 only (Swift emits no AVX/FMA for the baseline target);
// arm64: NEON (AdvSIMD), mandatory on AArch64.
//
// One of the per-ISA variants of Backends/SIMD (the kernel files here are symbolic links
// to that one source). This file alone says what differs: names, the CPU features
// required, the vector type and the multiply-add, and the gemm blocking.
import ArrowheadCore
import CArrowheadCPU

enum Variant {
  /// Backend name as `ARROWHEAD_BACKEND` spells it.
  static let name: StaticString = "simd-baseline"
  #if arch(x86_64)
  static let compiledISA: StaticString = "x86-64 baseline (SSE2, no FMA)"
  static let requiredFeatureMask = UInt64(ARROWHEAD_CPU_SSE2)
  #elseif arch(arm64)
  static let compiledISA: StaticString = "arm64 baseline (NEON)"
  static let requiredFeatureMask = UInt64(ARROWHEAD_CPU_NEON)
  #else
  static let compiledISA: StaticString = "portable baseline"
  static let requiredFeatureMask: UInt64 = 0
  #endif
  /// Higher levels win dispatch ties between variants of the SIMD backend.
  static let level = 1
  /// Whether `multiplyAdd` is a fused multiply-add (one rounding) in this variant.
  static let fusedMultiplyAdd = false
}

/// The register-width vector of this ISA: 4 floats in one SSE/NEON register.
typealias VectorF32 = SIMD4<Float>
/// A 16-byte vector of bytes.
typealias VectorU8 = SIMD16<UInt8>
/// The same register as eight-byte lanes (a float pair broadcast: `vpbroadcastq`). XMM / NEON.
typealias VectorU64 = SIMD2<UInt64>

/// c + a·b. Baseline x86-64 has no FMA instruction: `addingProduct` would become a libm
/// `fmaf` call per lane (~0.8 GFLOP/s), so this is a multiply then an add (two roundings).
@inline(__always)
func multiplyAdd(_ a: VectorF32, _ b: VectorF32, _ c: VectorF32) -> VectorF32 { c + a * b }

/// Scalar c + a·b with this variant's rounding (two roundings here).
@inline(__always)
func multiplyAdd(_ a: Float, _ b: Float, _ c: Float) -> Float { c + a * b }

/// Cache blocking of the gemm (BLIS's MC/KC/NC) for this ISA. The micro-tile is fixed by
/// the kernel source at 6 rows × 2 vectors (6 × 8 here: 12 of the 16 XMM registers).
enum GemmBlocking {
  static let kc = 256  // depth of a packed panel: A sliver 6·256·4 B + B sliver 8·256·4 B ≪ L1
  static let mc = 192  // rows of a packed A block: 192·256·4 B = 192 KiB, in L2
  static let nc = 4096 // columns of a packed B panel: 4 MiB, in L3
  static let unroll = 1   // depth steps per loop iteration of the micro-kernel
}
