import Arrowhead
import Testing

/// Inner products of four to eight queries over a base past the caches take the direct
/// kernel's rows against all queries at once (`SIMDDistances.run`, `rowsInMemoryOrder`), and
/// one query's take the gemv's in-order passes on one thread. Both must give each q·x within
/// the error bound of a dot product, for whole and partial last vectors, on every number of
/// query slots.
@Suite struct DistanceTilesPastCachesTests {
  /// Bytes of the base above which those routes are taken: half of L3, at least 8 MiB (the
  /// gemv's `normalSequentialMatrixBytes`); the test's bases are just past it.
  static let thresholdBytes = max(CPUInfo.current.caches.l3 / 2, 8 << 20)

  /// (queries, dimension, ldb): 4 queries of 128 (whole vectors on every variant), 5 of 131
  /// with rows padded to 133 (a partial last vector), 8 of 50 (GloVe's dimension), 1 query
  /// of 131.
  @Test(arguments: [(4, 128, 128), (5, 131, 133), (8, 50, 50), (1, 131, 133)])
  func innerProductsPastTheCachesStayWithinTheBound(queryCount: Int, dimension: Int, ldb: Int) {
    let baseCount = Self.thresholdBytes / (ldb * 4) + 13
    var generator = SeededGenerator(seed: UInt64(dimension + queryCount))
    let base = generator.floats(baseCount * ldb)
    let queries = generator.floats(queryCount * dimension)
    // Exact (double) products and Σ |q x| per pair.
    var exact = [Double](repeating: 0, count: queryCount * baseCount)
    var magnitude = [Double](repeating: 0, count: queryCount * baseCount)
    for i in 0..<queryCount {
      for j in 0..<baseCount {
        var sum = 0.0, size = 0.0
        for p in 0..<dimension {
          let term = Double(queries[i * dimension + p]) * Double(base[j * ldb + p])
          sum += term
          size += abs(term)
        }
        exact[i * baseCount + j] = sum
        magnitude[i * baseCount + j] = size
      }
    }
    for variant in compiledSIMDVariants where variant.isRunnable() {
      var out = [Float](repeating: .nan, count: queryCount * baseCount)
      base.withUnsafeBufferPointer { b in
        queries.withUnsafeBufferPointer { q in
          out.withUnsafeMutableBufferPointer { o in
            variant.distances(
              .innerProduct, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
              queries: q.baseAddress!, ldq: dimension, base: b.baseAddress!, ldb: ldb, queryNorms: nil, baseNorms: nil,
              o.baseAddress!, ldo: baseCount, threads: 1)
          }
        }
      }
      var worst = 0.0
      for index in 0..<queryCount * baseCount {
        // d products and d − 1 sums: γ(d + 1) of Σ |q x|, one more rounding of the value.
        let bound = gamma(dimension + 1) * magnitude[index] + unitRoundoff * abs(exact[index])
        worst = max(worst, abs(Double(out[index]) - exact[index]) / max(bound, .leastNonzeroMagnitude))
      }
      #expect(worst <= 1, "\(variant.name) \(queryCount)×\(baseCount)×\(dimension) (ldb \(ldb)): \(worst)× the bound")
    }
  }

  func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }
  let unitRoundoff = 0x1p-24
}
