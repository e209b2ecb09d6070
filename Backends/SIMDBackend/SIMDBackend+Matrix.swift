import ArrowheadCore

/// The matrix kernels an ISA module provides (see `MatrixKernels`).
public protocol SIMDMatrixSet {
  static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int)
  static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int)
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
}
