import Arrowhead
import Testing

/// Inner products of 4–16 queries over a base past the caches take the direct kernel's rows
/// against all queries at once (`SIMDDistances.run`, `rowsInMemoryOrder`; more than eight in
/// groups), as does squared L2 of 9–16 queries on a base larger than L2, and one query's inner
/// products take the gemv's in-order passes on one thread. Each value must stay within the
/// error bound of its sum, for whole and partial last vectors, on every number of query slots
/// and every split into groups.
@Suite struct DistanceTilesPastCachesTests {
  /// Bytes of the base above which those routes are taken: half of L3, at least 8 MiB (the
  /// gemv's `normalSequentialMatrixBytes`); the test's bases are just past it.
  static let thresholdBytes = max(CPUInfo.current.caches.l3 / 2, 8 << 20)

  /// (metric, queries, dimension, ldb): inner products of 4 queries of 128 (whole vectors on
  /// every variant), 5 of 131 with rows padded to 133 (a partial last vector), 12 of 50
  /// (GloVe's dimension; groups of 8 and 4), 9 of 131 (groups of 7 and 2), 1 query of 131;
  /// squared L2 of 10 queries of 64 (groups of 8 and 2) and 9 of 37 (7 and 2, a partial
  /// vector).
  @Test(arguments: [
    (Metric.innerProduct, 4, 128, 128), (.innerProduct, 5, 131, 133), (.innerProduct, 12, 50, 50),
    (.innerProduct, 9, 131, 133), (.innerProduct, 1, 131, 133), (.squaredL2, 10, 64, 64), (.squaredL2, 9, 37, 37),
  ])
  func distancesPastTheCachesStayWithinTheBound(metric: Metric, queryCount: Int, dimension: Int, ldb: Int) {
    let baseCount = Self.thresholdBytes / (ldb * 4) + 13
    var generator = SeededGenerator(seed: UInt64(dimension + queryCount))
    let base = generator.floats(baseCount * ldb)
    let queries = generator.floats(queryCount * dimension)
    // Exact (double) values and the sum of the terms' magnitudes per pair.
    var exact = [Double](repeating: 0, count: queryCount * baseCount)
    var magnitude = [Double](repeating: 0, count: queryCount * baseCount)
    for i in 0..<queryCount {
      for j in 0..<baseCount {
        var sum = 0.0, size = 0.0
        for p in 0..<dimension {
          let q = Double(queries[i * dimension + p]), x = Double(base[j * ldb + p])
          let term = metric == .squaredL2 ? (q - x) * (q - x) : q * x
          sum += term
          size += abs(term)
        }
        exact[i * baseCount + j] = sum
        magnitude[i * baseCount + j] = size
      }
    }
    for variant in compiledSIMDVariants where variant.isRunnable() {
      for threads in [1, 2] {
      var out = [Float](repeating: .nan, count: queryCount * baseCount)
      base.withUnsafeBufferPointer { b in
        queries.withUnsafeBufferPointer { q in
          out.withUnsafeMutableBufferPointer { o in
            variant.distances(
              metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
              queries: q.baseAddress!, ldq: dimension, base: b.baseAddress!, ldb: ldb, queryNorms: nil, baseNorms: nil,
              o.baseAddress!, ldo: baseCount, threads: threads)
          }
        }
      }
      var worst = 0.0
      for index in 0..<queryCount * baseCount {
        // d products and d − 1 sums: γ(d + 1) of Σ |q x|, one more rounding of the value;
        // squared L2 one more rounding per term (the difference).
        let bound = gamma(dimension + 2) * magnitude[index] + unitRoundoff * abs(exact[index])
        let error = abs(Double(out[index]) - exact[index]) / max(bound, .leastNonzeroMagnitude)
        worst = error.isNaN ? .infinity : max(worst, error)  // a value never written stays NaN
      }
      #expect(worst <= 1, "\(variant.name) \(metric) \(queryCount)×\(baseCount)×\(dimension) (ldb \(ldb)), \(threads) threads: \(worst)× the bound")
      }
    }
  }

  func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }
  let unitRoundoff = 0x1p-24
}
