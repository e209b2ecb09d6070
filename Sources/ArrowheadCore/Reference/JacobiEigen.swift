

/// The cyclic Jacobi eigenvalue algorithm in Double precision.
///
/// Each sweep zeroes every off-diagonal element once with a plane rotation; convergence is
/// quadratic once the off-diagonal mass is small. Accurate to a few ulps of ‖A‖ in every
/// eigenvalue and simple enough to trust as an oracle. O(n³) per sweep, ≈ 6–10 sweeps.
package enum JacobiEigen {
  /// Eigenvalues (ascending) and eigenvectors (column j ↔ value j, row-major `order × order`)
  /// of the symmetric `order × order` row-major matrix `symmetric`.
  package static func decompose(_ symmetric: [Double], order n: Int) throws(ArrowheadError) -> (values: [Double], vectors: [Double]) {
    var a = symmetric
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    for value in a where !value.isFinite {
      throw .nonFiniteValue(argument: "a", index: a.firstIndex(of: value) ?? 0)
    }
    let maxSweeps = 100
    var converged = n <= 1
    var sweep = 0
    while !converged && sweep < maxSweeps {
      sweep += 1
      var offDiagonal = 0.0, total = 0.0
      for i in 0..<n {
        for j in 0..<n {
          let square = a[i * n + j] * a[i * n + j]
          total += square
          if i != j { offDiagonal += square }
        }
      }
      if offDiagonal <= 1e-30 * max(total, Double.leastNormalMagnitude) { converged = true; break }
      for p in 0..<(n - 1) {
        for q in (p + 1)..<n {
          let apq = a[p * n + q]
          if apq == 0 { continue }
          let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
          let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
          let c = 1 / (t * t + 1).squareRoot()
          let s = t * c
          for k in 0..<n {  // columns p, q of A·J
            let akp = a[k * n + p], akq = a[k * n + q]
            a[k * n + p] = c * akp - s * akq
            a[k * n + q] = s * akp + c * akq
          }
          for k in 0..<n {  // rows p, q of Jᵀ·A
            let apk = a[p * n + k], aqk = a[q * n + k]
            a[p * n + k] = c * apk - s * aqk
            a[q * n + k] = s * apk + c * aqk
          }
          for k in 0..<n {
            let vkp = v[k * n + p], vkq = v[k * n + q]
            v[k * n + p] = c * vkp - s * vkq
            v[k * n + q] = s * vkp + c * vkq
          }
        }
      }
    }
    guard converged || n <= 1 else { throw .noConvergence(operation: "Jacobi eigen-decomposition", iterations: maxSweeps) }
    let order = (0..<n).sorted { a[$0 * n + $0] < a[$1 * n + $1] }
    let values = order.map { a[$0 * n + $0] }
    var vectors = [Double](repeating: 0, count: n * n)
    for (newColumn, oldColumn) in order.enumerated() {
      for k in 0..<n { vectors[k * n + newColumn] = v[k * n + oldColumn] }
    }
    return (values, vectors)
  }
}
