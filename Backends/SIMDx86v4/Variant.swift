// ISA: x86-64-v4 — AVX-512 F, BW, CD, DQ, VL on top of x86-64-v3 (Skylake-SP, Ice Lake,
// Zen 4 and later). Built with `-Xcc -march=x86-64-v4` (see the ISA table in Package.swift).
//
// One of the per-ISA variants of Backends/SIMD (the kernel files here are symbolic links
// to that one source). This file alone says what differs.
import ArrowheadCore
import CArrowheadCPU
import CArrowheadQMatmul

enum Variant {
  static let name: StaticString = "simd-x86-64-v4"
  static let compiledISA: StaticString = "x86-64-v4 (AVX-512 F/BW/CD/DQ/VL, FMA)"
  static let requiredFeatureMask = UInt64(
    ARROWHEAD_CPU_SSE2 | ARROWHEAD_CPU_SSE42 | ARROWHEAD_CPU_AVX | ARROWHEAD_CPU_AVX2 | ARROWHEAD_CPU_FMA
      | ARROWHEAD_CPU_F16C | ARROWHEAD_CPU_BMI2 | ARROWHEAD_CPU_AVX512F | ARROWHEAD_CPU_AVX512BW
      | ARROWHEAD_CPU_AVX512CD | ARROWHEAD_CPU_AVX512DQ | ARROWHEAD_CPU_AVX512VL)
  static let level = 4
  static let fusedMultiplyAdd = true
}

/// 16 floats: one ZMM register.
typealias VectorF32 = SIMD16<Float>
/// 64 bytes: one ZMM register.
typealias VectorU8 = SIMD64<UInt8>
/// The same register as eight-byte lanes (a float pair broadcast: `vpbroadcastq`). ZMM.
typealias VectorU64 = SIMD8<UInt64>

/// c + a·b as one `vfmadd` on ZMM (a single rounding).
@inline(__always)
func multiplyAdd(_ a: VectorF32, _ b: VectorF32, _ c: VectorF32) -> VectorF32 { c.addingProduct(a, b) }

/// Scalar c + a·b as one `vfmadd…ss` (a single rounding).
@inline(__always)
func multiplyAdd(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }

/// Cache blocking of the gemm; micro-tile 6 × 32 (12 of the 32 ZMM registers).
enum GemmBlocking {
  static let kc = 256  // A sliver 6 KiB + B sliver 32 KiB: L1d-sized
  static let mc = 96   // A block 96 KiB in L2
  /// Columns of a packed B panel: 1024 (a 1 MiB panel at kc = 256) where half of a core's L2
  /// holds it, else 3072 (3 MiB, in L3). Xeon 6/207 (2 MiB L2), x86-64-v4, best GFLOP/s of 3
  /// in two rounds, 3072 → 1024: n = 2048 206–208 → 210.5–211.2 (1 thread), 403 → 416
  /// (2 threads); 512 × 4096 × 1024 194–196 → 204–206, 384–390 → 404. The 1 MiB-L2 AMD CPUs
  /// keep the 3072 they were tuned with.
  static let nc = gemmPanelColumns(kc: kc)
  static let unroll = 4   // depth steps per loop iteration of the micro-kernel
}

// MARK: - Operands off a cache line

/// Vector length from which `dot` and `squaredDistance` with an operand off a 64-byte line
/// run the realigned C kernels (`realigned_level1.c`: aligned loads permuted into place,
/// bit-identical results). Shorter vectors stay in L1, where the permutes (one `vpermt2ps`
/// per vector, all on the one shuffle port) cost as much as the split loads they replace:
/// Xeon 6/207, realigned / plain, 1 024 floats 0.85–1.0×, 4 096 0.99–1.09×, 16 384
/// 1.19–1.64× (Core README, "Operands off a cache line").
let realignedMinimumCount = 4096

/// Whether the realigned kernels run on this CPU: on Intel cores, where they were measured
/// (Xeon 6/207). AMD's Zen 4 executes a 512-bit load as two 256-bit halves (only one of which
/// can cross a line) and its 512-bit permutes at half rate; Zen 4 and Zen 5 are unmeasured and
/// keep the plain loads. Read once per process (a lazily initialized global: thread-safe).
let realignsOffLineOperands = CPUInfo.current.vendor == "GenuineIntel"

/// Whether the realigned kernels should take a product of `count` floats at x and y: long
/// enough, either operand off a 64-byte cache line, and a CPU where that was measured faster.
@inline(__always)
func runsRealigned(_ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Bool {
  count >= realignedMinimumCount && (Int(bitPattern: x) | Int(bitPattern: y)) & 63 != 0 && realignsOffLineOperands
}

/// `SIMDLevel1.dot` through aligned loads where an operand is off a line (same bits).
@inline(__always)
func realignedDot(_ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
  arrowhead_dot_realigned_avx512(x, y, Int64(count))
}

/// `SIMDDistances.squaredDistance` through aligned loads where an operand is off a line.
@inline(__always)
func realignedSquaredDistance(_ count: Int, _ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>) -> Float {
  arrowhead_squared_distance_realigned_avx512(q, x, Int64(count))
}
