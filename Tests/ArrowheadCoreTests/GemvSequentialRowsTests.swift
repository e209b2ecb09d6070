import Arrowhead
import Testing

/// A·x on a matrix past the caches whose rows are short (≤ 2 KiB) reads the eight rows of a
/// pass one after another (`SIMDGemv.normalPasses`, `normalSequentialRowBytes`) instead of
/// side by side. Those passes must give the product within the error bound of a dot product,
/// whole vectors and partial last vectors alike, with α and β.
@Suite struct GemvSequentialRowsTests {
  /// Bytes of A above which the passes read rows in order: half of L3, at least 8 MiB (the
  /// kernel's `normalSequentialMatrixBytes`); the test's matrices are just past it.
  static let thresholdBytes = max(CPUInfo.current.caches.l3 / 2, 8 << 20)

  /// 64 columns (whole vectors on every variant), 61 (a partial last vector), lda padded to
  /// 67 for the second, and rows leaving 5 after the eight-row passes.
  @Test(arguments: [(64, 64), (61, 67)])
  func shortRowsPastTheCachesKeepTheProduct(columns: Int, lda: Int) {
    let rows = (Self.thresholdBytes / (lda * 4) / 8 + 1) * 8 + 5
    var generator = SeededGenerator(seed: UInt64(columns))
    let a = generator.floats(rows * lda)
    let x = generator.floats(columns)
    let y0 = generator.floats(rows)
    // Σ |aᵢⱼ xⱼ| and the exact (double) sums, per row.
    var exact = [Double](repeating: 0, count: rows), magnitude = [Double](repeating: 0, count: rows)
    for i in 0..<rows {
      for j in 0..<columns {
        let term = Double(a[i * lda + j]) * Double(x[j])
        exact[i] += term
        magnitude[i] += abs(term)
      }
    }
    for variant in compiledSIMDVariants where variant.isRunnable() {
      for (alpha, beta) in [(Float(1), Float(0)), (Float(-0.5), Float(2))] {
        var y = y0
        a.withUnsafeBufferPointer { ab in
          x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
              variant.gemv(
                .normal, rows: rows, columns: columns, alpha: alpha, ab.baseAddress!, lda: lda, xb.baseAddress!,
                beta: beta, yb.baseAddress!, threads: 1)
            }
          }
        }
        var worst = 0.0
        for i in 0..<rows {
          let want = Double(alpha) * exact[i] + Double(beta) * Double(y0[i])
          // k products and k − 1 sums, then α, β·y and the final add: γ(k + 3).
          let scale = abs(Double(alpha)) * magnitude[i] + abs(Double(beta)) * abs(Double(y0[i]))
          let bound = gamma(columns + 3) * scale + unitRoundoff * abs(want)
          worst = max(worst, abs(Double(y[i]) - want) / max(bound, .leastNonzeroMagnitude))
        }
        #expect(worst <= 1, "\(variant.name) \(rows)×\(columns) (lda \(lda)) α \(alpha) β \(beta): \(worst)× the bound")
      }
    }
  }

  func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }
  let unitRoundoff = 0x1p-24
}
