import Arrowhead
import Testing

/// Aᵀ·x over at least 2¹⁹ elements of A reads A row by row (`SIMDGemv.transposedStreaming`)
/// instead of walking blocks of eight vectors down all rows; the sums must stay the same
/// chain of multiply–adds over the rows in order, from 0, bit for bit.
@Suite struct GemvTransposedStreamingTests {
  /// 605 × 1 000 = 605 000 elements (≥ 2¹⁹: streamed), 605 rows leaving five after the
  /// six-row steps, the first 896 columns streamed on every variant (8·16 lanes on AVX-512
  /// cover 896 of 1 000, more on narrower ones); 67 × 9 000 (603 000 elements) streams
  /// its columns in two panels (8 192 and the rest), one row after the six-row steps.
  @Test(arguments: [(605, 1000, 896), (67, 9000, 8960)])
  func streamedColumnsKeepTheChainOfTheColumnBlocks(rows: Int, columns: Int, checked: Int) {
    var generator = SeededGenerator(seed: UInt64(rows))
    let a = (0..<rows * columns).map { _ in Float.random(in: -1..<1, using: &generator) }
    let x = (0..<rows).map { _ in Float.random(in: -1..<1, using: &generator) }
    let y0 = (0..<columns).map { _ in Float.random(in: -1..<1, using: &generator) }
    for variant in compiledSIMDVariants where variant.isRunnable() {
      let fused = variant.details["fusedMultiplyAdd"] == "yes"
      var expected = [Float](repeating: 0, count: checked)
      for j in 0..<checked {
        var sum: Float = 0
        for i in 0..<rows { sum = fused ? sum.addingProduct(a[i * columns + j], x[i]) : sum + a[i * columns + j] * x[i] }
        expected[j] = sum
      }
      for (alpha, beta) in [(Float(1), Float(0)), (Float(0.5), Float(2))] {
        var y = y0
        a.withUnsafeBufferPointer { ab in
          x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
              variant.gemv(
                .transposed, rows: rows, columns: columns, alpha: alpha, ab.baseAddress!, lda: columns, xb.baseAddress!,
                beta: beta, yb.baseAddress!, threads: 1)
            }
          }
        }
        var mismatches = 0
        for j in 0..<checked {
          let want = beta == 0 ? expected[j] * alpha : expected[j] * alpha + beta * y0[j]
          if y[j].bitPattern != want.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(variant.name) α \(alpha) β \(beta): \(mismatches) of \(checked) columns differ")
      }
    }
  }
}
