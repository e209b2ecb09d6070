import ArrowheadCore

/// The matrix kernels an ISA module provides (see `MatrixKernels`).
public protocol SIMDMatrixSet {
  /// y ← α·op(A)·x + β·y; β = 0 does not read y (`MatrixKernels.gemv`).
  static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int)
  /// C ← α·op(A)·op(B) + β·C; β = 0 does not read C (`MatrixKernels.gemm`).
  static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int)
  /// The small-product gemm (m, n ≥ 2, k ≥ 1, m·n·k ≤ `ShapeClass.smallGemmWork`) as a
  /// function value, without the checks of `gemm`.
  static var smallGemm: GemmFunction { get }
  /// gemv (rows, columns ≥ 1) as a function value.
  static var gemvFunction: GemvFunction { get }
}

extension SIMDBackend {
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

  public func gemmEntry(for shape: ShapeClass) -> GemmFunction? { shape == .small ? K.smallGemm : nil }

  public func gemvEntry(for shape: ShapeClass) -> GemvFunction? { K.gemvFunction }
}
