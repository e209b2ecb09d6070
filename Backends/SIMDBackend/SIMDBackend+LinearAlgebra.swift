import ArrowheadCore

/// The linear-algebra kernels an ISA module provides (see `LinearAlgebraKernels`); the
/// eigen-decomposition is scalar and lives here (`TridiagonalEigen`).
public protocol SIMDLinearAlgebraSet {
  /// Cholesky in place; returns −1 on success or the first failing pivot.
  static func cholesky(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) -> Int
  /// B ← op(L)⁻¹·B (`.left`) or B·op(L)⁻¹ (`.right`) in place, L lower-triangular and non-unit
  /// (`LinearAlgebraKernels.triangularSolve`).
  static func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int)
}

extension SIMDBackend {
  public func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    let pivot = K.cholesky(order: order, a, lda: lda)
    if pivot >= 0 { throw .notPositiveDefinite(argument: "a", order: order, pivot: pivot) }
  }

  public func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    K.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }

  /// Householder tridiagonalisation + implicit QL in Double (scalar: no ISA-specific code).
  public func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    try TridiagonalEigen.decompose(order: order, a, lda: lda, eigenvalues: eigenvalues)
  }
}
