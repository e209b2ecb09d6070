// Dense linear algebra of the SIMD backend: Cholesky (row-oriented, dot-product form on
// contiguous rows of L) and triangular solves (axpy/dot forms on contiguous rows). The
// eigen-decomposition is scalar Double code and lives in Backends/SIMDBackend.
import ArrowheadCore

enum SIMDLinearAlgebra {
  /// A = L·Lᵀ in place; row-oriented: L[i][j] = (A[i][j] − L[i,0..<j]·L[j,0..<j]) / L[j][j],
  /// both operands contiguous rows of the row-major lower triangle.
  /// Returns −1 on success, else the first pivot that is not > 0 (or not finite).
  static func cholesky(order n: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) -> Int {
    for i in 0..<n {
      let rowI = a + i * lda
      for j in 0..<i {
        let rowJ = a + j * lda
        rowI[j] = (rowI[j] - SIMDLevel1.dot(j, rowI, rowJ)) / rowJ[j]
      }
      let diagonal = rowI[i] - SIMDLevel1.sumOfSquares(i, rowI)
      guard diagonal > 0, diagonal.isFinite else { return i }
      rowI[i] = diagonal.squareRoot()
      if i + 1 < n { (rowI + i + 1).update(repeating: 0, count: n - i - 1) }
    }
    return -1
  }

  static func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    switch (side, transpose) {
    case (.left, .normal):
      // L·X = B, forward: X[i,:] = (B[i,:] − Σ_{p<i} L[i][p]·X[p,:]) / L[i][i].
      for i in 0..<rows {
        let rowB = b + i * ldb
        for p in 0..<i { SIMDLevel1.axpy(columns, -l[i * ldl + p], b + p * ldb, rowB) }
        SIMDLevel1.scale(columns, 1 / l[i * ldl + i], rowB)
      }
    case (.left, .transposed):
      // Lᵀ·X = B, backward: X[i,:] = (B[i,:] − Σ_{p>i} L[p][i]·X[p,:]) / L[i][i].
      for i in stride(from: rows - 1, through: 0, by: -1) {
        let rowB = b + i * ldb
        for p in (i + 1)..<max(rows, i + 1) { SIMDLevel1.axpy(columns, -l[p * ldl + i], b + p * ldb, rowB) }
        SIMDLevel1.scale(columns, 1 / l[i * ldl + i], rowB)
      }
    case (.right, .normal):
      // X·L = B for each row x: x[i] = b[i]/L[i][i], then b[0..<i] −= x[i]·L[i,0..<i].
      for r in 0..<rows {
        let x = b + r * ldb
        for i in stride(from: columns - 1, through: 0, by: -1) {
          x[i] = x[i] / l[i * ldl + i]
          SIMDLevel1.axpy(i, -x[i], l + i * ldl, x)
        }
      }
    case (.right, .transposed):
      // X·Lᵀ = B for each row x: x[i] = (b[i] − L[i,0..<i]·x[0..<i]) / L[i][i].
      for r in 0..<rows {
        let x = b + r * ldb
        for i in 0..<columns {
          x[i] = (x[i] - SIMDLevel1.dot(i, l + i * ldl, x)) / l[i * ldl + i]
        }
      }
    }
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
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
