/// The static preferences of the built-in backends, in one table: what dispatch uses when
/// it does not measure (`ARROWHEAD_DISPATCH=static`), and how it breaks near-ties between
/// measured candidates (within 5 %).
///
/// The numbers encode what was measured on this project's machines (see
/// Benchmarks/RESULTS.md): the SIMD variants with FMA run gemm at or above single-thread
/// OpenBLAS and far ahead of it on small products (no packing, no call overhead), and our
/// own threads are preferred at parity because OpenBLAS's idle workers spin for ~0.1 s
/// after each call; LAPACKE wins the larger factorisations; the baseline variant (no FMA,
/// about a third of the AVX2 rate) yields gemm to OpenBLAS. A higher ISA level wins ties
/// between SIMD variants.
///
/// | backend          | gemm small | gemm large | factorisations (small / large) | distances | other kernels |
/// |------------------|-----------:|-----------:|-------------------------------:|----------:|--------------:|
/// | simd, FMA        |    50 + L  |    40 + L  |                   40 / 10 + L  |   40 + L  |       40 + L  |
/// | simd, no FMA     |    15 + L  |    15 + L  |                   40 / 10 + L  |   25 + L  |       40 + L  |
/// | openblas         |        20  |        35  |                      20 / 45   |  10 / 30  | level 1/2: 20 |
///
/// (L = the ISA level: 1 baseline, 3 x86-64-v3, 4 x86-64-v4.)
public enum StaticPreferences {
  /// A SIMD variant's preference (every kernel is implemented).
  public static func simd(
    _ operation: KernelOperation, _ shape: ShapeClass, level: Int, fusedMultiplyAdd fast: Bool, lanes: Int, tile: String
  ) -> Preference {
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
      reason = operation.family == .transformer
        ? "SIMD16 Swift kernel without FMA (the same bits at every ISA level)" : "\(lanes)-lane Swift SIMD kernel"
    }
    return Preference(score: score + level, reason: reason)
  }

  /// A SIMD variant's preference for the quantized-matmul kernels, whose inner loops are C
  /// kernels chosen by the CPU's integer dot-product instructions (`path` says which): the
  /// ISA level orders them (an AVX-512 VNNI path beats AVX-VNNI and AVX2, which beat the
  /// portable one).
  public static func simdQuantizedMatmul(_ operation: KernelOperation, _ shape: ShapeClass, level: Int, path: String) -> Preference {
    Preference(score: 40 + level, reason: path)
  }

  /// OpenBLAS's preference, nil for the kernels it does not implement (the quantization,
  /// search-code and optimizer families; `indexOfMaxMagnitude`, whose NaN rule cblas does
  /// not follow; `squaredDistance`, which has no BLAS routine).
  public static func openBLAS(_ operation: KernelOperation, _ shape: ShapeClass, coreName: String) -> Preference? {
    switch operation {
    case .gemm:
      return shape == .small
        ? Preference(score: 20, reason: "cblas_sgemm (call overhead dominates small products)")
        : Preference(score: 35, reason: "cblas_sgemm, \(coreName) kernel")
    case .cholesky, .triangularSolve, .symmetricEigen:
      return shape == .small
        ? Preference(score: 20, reason: "LAPACKE (call overhead at small orders)")
        : Preference(score: 45, reason: "LAPACKE blocked algorithm on the BLAS-3 kernels")
    case .dot, .axpy, .scale, .sumOfSquares, .gemv, .gemvTransposed:
      return Preference(score: 20, reason: "cblas level 1/2 (\(coreName))")
    case .distances:
      return Preference(score: shape == .small ? 10 : 30, reason: "‖q‖² + ‖x‖² − 2·cblas_sgemm(Q, Xᵀ)")
    default:
      return nil
    }
  }
}
