import ArrowheadCore
import Testing

/// A random symmetric positive-definite matrix: BᵀB/n + δ·I (row-major, order n).
func randomSPD(_ n: Int, seed: UInt64, shift: Float = 0.5) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  let b = generator.floats(n * n)
  var a = [Float](repeating: 0, count: n * n)
  for i in 0..<n {
    for j in 0..<n {
      var sum = 0.0
      for p in 0..<n { sum += Double(b[p * n + i]) * Double(b[p * n + j]) }
      a[i * n + j] = Float(sum / Double(n)) + (i == j ? shift : 0)
    }
  }
  return a
}

extension BackendConformance {
  static let orders = [1, 2, 5, 16, 33, 100, 150]

  /// choleskyFactor of random SPD matrices of orders 1 to 150 (lda = n + 2): zeros above the
  /// diagonal, the padding untouched, and L·Lᵀ = A + ΔA with |ΔA| ≤ γ_{n+1}·|L|·|Lᵀ|
  /// componentwise (Higham Thm 10.3).
  public static func choleskyHasTheBackwardErrorOfTheTheorem(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in Self.orders {
      let a = randomSPD(n, seed: UInt64(n))
      let lda = n + 2
      var padded = [Float](repeating: 9, count: n * lda)
      for i in 0..<n { for j in 0..<n { padded[i * lda + j] = a[i * n + j] } }
      var l = padded
      try l.withUnsafeMutableBufferPointer { try kernel.choleskyFactor(order: n, $0.baseAddress!, lda: lda) }
      // Higham Thm 10.3: L·Lᵀ = A + ΔA with |ΔA| ≤ γ_{n+1}·|L|·|Lᵀ| (componentwise).
      for i in 0..<n {
        for j in 0..<n {
          if j > i { #expect(l[i * lda + j] == 0, "upper triangle must be zero, n=\(n) on \(name)") }
          var product = 0.0, magnitude = 0.0
          for p in 0...min(i, j) {
            product += Double(l[i * lda + p]) * Double(l[j * lda + p])
            magnitude += abs(Double(l[i * lda + p]) * Double(l[j * lda + p]))
          }
          #expect(abs(product - Double(a[i * n + j])) <= gamma(n + 1) * magnitude,
                  "Cholesky residual n=\(n) (\(i),\(j)) on \(name)")
        }
        for j in n..<lda { #expect(l[i * lda + j] == 9, "padding written, n=\(n) on \(name)") }
      }
    }
  }

  /// A 5 × 5 SPD matrix whose diagonal element (3, 3) is set to −4 must throw
  /// `notPositiveDefinite(argument: "a", order: 5, pivot: 3)`.
  public static func choleskyNamesTheFailingPivot(_ kernel: any Backend) throws {
    // Positive definite leading 3×3 block, then a diagonal that makes pivot 3 negative.
    let n = 5
    var a = randomSPD(n, seed: 8)
    a[3 * n + 3] = -4
    #expect(throws: ArrowheadError.notPositiveDefinite(argument: "a", order: n, pivot: 3)) {
      try a.withUnsafeMutableBufferPointer { try kernel.choleskyFactor(order: n, $0.baseAddress!, lda: n) }
    }
  }

  /// triangularSolve on both sides with both transposes, L the Cholesky factor of a
  /// well-conditioned SPD matrix of each order (1 to 150) and 7 right-hand sides: every residual
  /// |op(L)·x̂ − b| within 2γₙ·|op(L)|·|x̂| (Higham Thm 8.5's bound, doubled for blocked solvers).
  public static func triangularSolveHasTheBackwardErrorOfTheTheorem(_ kernel: any Backend) throws {
    let name = kernel.name
    for side in Side.allCases {
      for n in Self.orders {
        // A well-conditioned lower-triangular L: the Cholesky factor of an SPD matrix.
        var l = randomSPD(n, seed: UInt64(n) &+ 40, shift: 1)
        try l.withUnsafeMutableBufferPointer { try reference.choleskyFactor(order: n, $0.baseAddress!, lda: n) }
        for transpose in Transpose.allCases {
          let other = 7
          let (rows, columns) = side == .left ? (n, other) : (other, n)
          var generator = SeededGenerator(seed: UInt64(n * 3))
          let b = generator.floats(rows * columns)
          var x = b
          kernel.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: n, &x, ldb: columns)
          // Higham Thm 8.5: (T + ΔT)·x̂ = b with |ΔT| ≤ γₙ|T|, so |T·x̂ − b| ≤ γₙ·|T|·|x̂|.
          // Blocked solvers (OpenBLAS trsm) satisfy it with a small constant: allow 2γₙ.
          func op(_ i: Int, _ j: Int) -> Double { Double(transpose == .normal ? l[i * n + j] : l[j * n + i]) }
          var worst = 0.0
          for r in 0..<rows {
            for c in 0..<columns {
              var residual = -Double(b[r * columns + c]), magnitude = 0.0
              if side == .left {
                for p in 0..<n { residual += op(r, p) * Double(x[p * columns + c]); magnitude += abs(op(r, p) * Double(x[p * columns + c])) }
              } else {
                for p in 0..<n { residual += Double(x[r * columns + p]) * op(p, c); magnitude += abs(Double(x[r * columns + p]) * op(p, c)) }
              }
              worst = max(worst, abs(residual) / max(2 * gamma(n) * magnitude, .leastNormalMagnitude))
            }
          }
          #expect(worst <= 1, "trsm \(side) \(transpose) n=\(n) on \(name): residual \(worst)× the bound")
        }
      }
    }
  }

  /// symmetricEigen of random symmetric matrices of orders 1, 2, 7, 40 and 120 passes LAPACK
  /// sdrvst's tests: ‖A·V − V·Λ‖₁/(n·‖A‖₁·u) and ‖VᵀV − I‖₁/(n·u) below 30, eigenvalues ascending.
  public static func symmetricEigenPassesLAPACKsTestRatios(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in [1, 2, 7, 40, 120] {
      var generator = SeededGenerator(seed: UInt64(n) &+ 3)
      let random = generator.floats(n * n)
      var a = [Float](repeating: 0, count: n * n)
      for i in 0..<n { for j in 0..<n { a[i * n + j] = random[max(i, j) * n + min(i, j)] } }
      var vectors = a
      var values = [Float](repeating: 0, count: n)
      try vectors.withUnsafeMutableBufferPointer { v in
        try values.withUnsafeMutableBufferPointer { try kernel.symmetricEigen(order: n, v.baseAddress!, lda: n, eigenvalues: $0.baseAddress!) }
      }
      // LAPACK's sdrvst accepts ‖A·V − V·Λ‖₁ / (n·‖A‖₁·u) and ‖VᵀV − I‖₁ / (n·u) below 30.
      var normA = 0.0
      for j in 0..<n { normA = max(normA, (0..<n).reduce(0.0) { $0 + abs(Double(a[$1 * n + j])) }) }
      var residualNorm = 0.0, orthogonalityNorm = 0.0
      for j in 0..<n {
        var residualColumn = 0.0, orthogonalityColumn = 0.0
        for i in 0..<n {
          var av = 0.0, vtv = 0.0
          for p in 0..<n {
            av += Double(a[i * n + p]) * Double(vectors[p * n + j])
            vtv += Double(vectors[p * n + i]) * Double(vectors[p * n + j])
          }
          residualColumn += abs(av - Double(values[j]) * Double(vectors[i * n + j]))
          orthogonalityColumn += abs(vtv - (i == j ? 1 : 0))
        }
        residualNorm = max(residualNorm, residualColumn)
        orthogonalityNorm = max(orthogonalityNorm, orthogonalityColumn)
      }
      #expect(residualNorm / (Double(n) * max(normA, 1e-30) * unitRoundoff) < 30, "eigen residual n=\(n) on \(name)")
      #expect(orthogonalityNorm / (Double(n) * unitRoundoff) < 30, "eigen orthogonality n=\(n) on \(name)")
      #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 }, "eigenvalues ascending, n=\(n) on \(name)")
    }
  }
}
