import Arrowhead
import ArrowheadTestSupport
import Testing
@testable import ArrowheadSearch

@Suite("Flat index")
struct FlatIndexTests {
  /// Exact, integer-valued data: results must equal brute force id for id (ties by id)
  /// and score for score, for every metric, on one and two threads, few and many
  /// queries (the two ways of splitting the work).
  @Test(arguments: BackendsUnderTest.names, Metric.allCases)
  func matchesBruteForceExactly(backend: String, metric: Metric) throws {
    let dimension = 13
    let base = integerVectors(count: 2_100, dimension: dimension, range: 2, seed: 1)
    let index = try FlatIndex(dimension: dimension, metric: metric, engine: try BackendsUnderTest.engine(backend))
    try index.add(base)
    for (threads, queryCount) in [(1, 1), (1, 3), (1, 70), (2, 1), (2, 3), (2, 70)] {
      let queries = integerVectors(count: queryCount, dimension: dimension, range: 2, seed: 2)
      let results = try index.search(batch: queries, k: 25, parameters: SearchParameters(threads: threads))
      #expect(results.count == queryCount)
      for q in 0..<queryCount {
        let query = Array(queries[q * dimension..<(q + 1) * dimension])
        let exact = bruteForce(base: base, query: query, dimension: dimension, metric: metric, k: 25)
        if metric != .cosine {
          // Integer data: the kernel's value is exact, so ids (ties by id) and scores match.
          #expect(results[q].ids == exact.map(\.id), "\(backend): query \(q) of \(queryCount), \(metric), \(threads) threads")
          #expect(results[q].scores == exact.map { Float($0.score) })
        } else {
          // Cosine divides by norms (unit vectors are stored), so exactly tied cosines
          // may come out a few ulps apart and swap: accept any valid top-k.
          expectValidTopK(results[q], exact: exact, base: base, query: query, dimension: dimension, metric: metric, tolerance: 1e-6)
        }
        #expect(results[q].isComplete)
      }
    }
  }

  /// Every position of a scanned block is offered to the top-k, for every remainder of the
  /// 8-wide scan: with n = 1 … 17 distinct vectors (every tail length 0 … 7, twice), and
  /// n = 1 024 + 1 … 1 024 + 9 (a second base block with every tail length), each stored
  /// vector is its own nearest neighbour at distance 0, and k = n returns all n ids in
  /// brute-force order. (The mutation check found that dropping the last element of a
  /// block's scalar tail survived `matchesBruteForceExactly`: the one vector lost rarely
  /// ranks in a query's top 25.)
  @Test(arguments: BackendsUnderTest.names)
  func everyScannedPositionIsOffered(backend: String) throws {
    let engine = try BackendsUnderTest.engine(backend)
    let dimension = 3
    for n in Array(1...17) + Array(1_025...1_033) {
      // Distinct integer vectors (exact distances): (i mod 11, i / 11 mod 13, i / 143).
      var base: [Float] = []
      for i in 0..<n { base += [Float(i % 11), Float((i / 11) % 13), Float(i / 143)] }
      let index = try FlatIndex(dimension: dimension, metric: .squaredL2, engine: engine)
      try index.add(base)
      let results = try index.search(batch: base, k: 1)
      let lost = results.indices.filter { results[$0].ids != [$0] || results[$0].scores != [0] }
      #expect(lost == [], "\(backend), n = \(n): vectors not found as themselves")
      if n <= 17 {
        let query = [Float(5.5), 0.25, 0]
        let all = try index.search(query, k: n)
        #expect(all.ids == bruteForce(base: base, query: query, dimension: dimension, metric: .squaredL2, k: n).map(\.id), "\(backend), n = \(n)")
      }
    }
  }

  /// Up to sixteen queries scan Float32 storage in blocks of `fewQueriesBaseBlock / queries`
  /// vectors: over one block's worth plus a ragged tail, the top-k of one query (two blocks),
  /// of three (four blocks) and of twelve (thirteen blocks) equals brute force id for id
  /// (integer data, exact distances)
  /// under squared L2 and inner product, on one and two threads, and the nearest vectors,
  /// placed in the second block and in the tail, are found.
  @Test(arguments: [Metric.squaredL2, .innerProduct])
  func fewQueriesOverSeveralLargeBlocksMatchBruteForce(metric: Metric) throws {
    let dimension = 2, count = FlatIndex.fewQueriesBaseBlock + 1_029
    var base = integerVectors(count: count, dimension: dimension, range: 3, seed: 7)
    let query: [Float] = [5, -4]
    for (slot, scale) in [(FlatIndex.fewQueriesBaseBlock + 3, Float(1)), (count - 1, 2)] {
      base[slot * dimension] = metric == .squaredL2 ? query[0] : 4 * scale
      base[slot * dimension + 1] = metric == .squaredL2 ? query[1] : -4 * scale
    }
    let index = try FlatIndex(dimension: dimension, metric: metric)
    try index.add(base)
    let queries = query + [-2, 1, 0, 3] + (0..<9).flatMap { [Float($0 % 5) - 2, Float($0 % 3)] }
    for queryCount in [1, 3, 12] {
      for threads in [1, 2] {
        let results = try index.search(
          batch: Array(queries.prefix(queryCount * dimension)), k: 10, parameters: SearchParameters(threads: threads))
        for q in 0..<queryCount {
          let exact = bruteForce(
            base: base, query: Array(queries[q * dimension..<(q + 1) * dimension]), dimension: dimension,
            metric: metric, k: 10)
          #expect(results[q].ids == exact.map(\.id), "\(metric), query \(q) of \(queryCount), \(threads) threads")
          #expect(results[q].scores == exact.map { Float($0.score) })
          if q == 0 { #expect(Set(exact.prefix(2).map(\.id)) == [FlatIndex.fewQueriesBaseBlock + 3, count - 1]) }
        }
      }
    }
  }

  @Test func customIdsAreReturnedAndTiesBreakByLowerId() throws {
    let index = try FlatIndex(dimension: 2, metric: .squaredL2)
    // Four vectors at the same distance from the origin, ids in scrambled order.
    try index.add([1, 0, 0, 1, -1, 0, 0, -1], ids: [40, 10, 30, 20])
    let result = try index.search([0, 0], k: 3)
    #expect(result.ids == [10, 20, 30])
    #expect(result.scores == [1, 1, 1])
  }

  @Test func kLargerThanCountReturnsWhatExistsFlagged() throws {
    let index = try FlatIndex(dimension: 3)
    try index.add([0, 0, 0, 1, 1, 1])
    let result = try index.search([0, 0, 0], k: 10)
    #expect(result.ids == [0, 1])
    #expect(!result.isComplete)
    #expect(result.requested == 10)
  }

  @Test func badInputIsATypedError() throws {
    let index = try FlatIndex(dimension: 3)
    #expect(throws: SearchError.emptyIndex) { try index.search([0, 0, 0], k: 1) }
    #expect(throws: SearchError.dimensionMismatch(argument: "vectors", expected: 3, actual: 2)) { try index.add([1, 2, 3, 4, 5]) }
    #expect(throws: SearchError.nonFiniteValue(argument: "vectors", row: 1, column: 2)) {
      try index.add([1, 2, 3, 4, 5, .nan])
    }
    #expect(throws: SearchError.nonFiniteValue(argument: "vectors", row: 0, column: 0)) {
      try index.add([.infinity, 2, 3])
    }
    #expect(index.count == 0, "a rejected batch must leave the index unchanged")
    try index.add([1, 2, 3], ids: [7])
    #expect(throws: SearchError.duplicateID(7)) { try index.add([1, 2, 3], ids: [7]) }
    #expect(throws: SearchError.duplicateID(8)) { try index.add([1, 2, 3, 4, 5, 6], ids: [8, 8]) }
    #expect(throws: SearchError.idCountMismatch(vectors: 1, ids: 2)) { try index.add([1, 2, 3], ids: [1, 2]) }
    #expect(throws: SearchError.invalidK(0)) { try index.search([0, 0, 0], k: 0) }
    #expect(throws: SearchError.invalidK(-3)) { try index.search([0, 0, 0], k: -3) }
    #expect(throws: SearchError.dimensionMismatch(argument: "query", expected: 3, actual: 2)) { try index.search([0, 0], k: 1) }
    #expect(throws: SearchError.nonFiniteValue(argument: "queries", row: 0, column: 1)) { try index.search([0, .nan, 0], k: 1) }
    #expect(throws: SearchError.unknownID(99)) { try index.remove(99) }
    #expect(throws: SearchError.invalidParameter(name: "dimension", value: "0", expected: "1 … 65536")) {
      try FlatIndex(dimension: 0)
    }
  }

  @Test func removeMovesTheLastVectorAndKeepsIds() throws {
    let dimension = 4
    let base = integerVectors(count: 50, dimension: dimension, seed: 3)
    let index = try FlatIndex(dimension: dimension)
    try index.add(base)
    try index.remove(10)
    try index.remove(49)
    try index.remove(0)
    #expect(index.count == 47)
    #expect(!index.contains(10) && !index.contains(0) && index.contains(48))
    #expect(try index.vector(for: 48) == Array(base[48 * 4..<49 * 4]))
    let kept = (0..<50).filter { ![0, 10, 49].contains($0) }
    let query = Array(base[5 * 4..<6 * 4])
    let result = try index.search(query, k: 47)
    let exact = bruteForce(
      base: kept.flatMap { Array(base[$0 * 4..<($0 + 1) * 4]) }, ids: kept, query: query, dimension: dimension,
      metric: .squaredL2, k: 47)
    #expect(result.ids == exact.map(\.id))
    // New automatic ids continue after the largest id ever given.
    #expect(try index.add([0, 0, 0, 0]) == [50])
  }

  @Test func filterIsAppliedDuringTheSearch() throws {
    let dimension = 8
    let base = integerVectors(count: 3_000, dimension: dimension, seed: 4)
    let index = try FlatIndex(dimension: dimension, metric: .innerProduct)
    try index.add(base)
    let query = integerVectors(count: 1, dimension: dimension, seed: 5)
    let even: SearchFilter = { $0 % 2 == 0 }
    let result = try index.search(query, k: 20, filter: even)
    let exact = bruteForce(base: base, query: query, dimension: dimension, metric: .innerProduct, k: 20, filter: { $0 % 2 == 0 })
    #expect(result.ids == exact.map(\.id))
    let none = try index.search(query, k: 5, filter: { _ in false })
    #expect(none.neighbors.isEmpty && !none.isComplete)
  }
}

/// Cosine normalises each vector by its norm, computed as a Float32 sum of squares: from
/// |x| ≈ 10¹⁹ up that sum overflowed (the vector was scaled by 1/∞ to zeros) and below
/// ≈ 10⁻¹⁹ it underflowed (the vector was stored unnormalised), so such vectors silently
/// ranked as zero vectors. Cosine is scale-invariant: vectors scaled by 2⁹⁰ or 2⁻⁹⁰ (exact)
/// must give the results of the unscaled ones, in the flat index and in HNSW, for stored
/// vectors and for queries.
@Suite("Cosine at extreme magnitudes")
struct CosineExtremeMagnitudeTests {
  @Test(arguments: [90, -90])
  func cosineIsScaleInvariantAtTheEdgesOfFloat32(exponent: Int) throws {
    let dimension = 24, count = 300
    let base = integerVectors(count: count, dimension: dimension, range: 5, seed: 11).map { $0 + 0.25 }
    let queries = integerVectors(count: 20, dimension: dimension, range: 5, seed: 12).map { $0 - 0.5 }
    let factor = Float(sign: .plus, exponent: exponent, significand: 1)
    // Every other stored vector and query scaled: a mixed index, as real data would be.
    let scaledBase = base.enumerated().map { ($0.offset / dimension) % 2 == 0 ? $0.element * factor : $0.element }
    let scaledQueries = queries.enumerated().map { ($0.offset / dimension) % 2 == 1 ? $0.element * factor : $0.element }
    let makers: [(String, () throws -> any VectorIndex)] = [
      ("flat", { try FlatIndex(dimension: dimension, metric: .cosine) }),
      ("HNSW", { try HNSWIndex(dimension: dimension, metric: .cosine) }),
    ]
    for (kind, make) in makers {
      let plain = try make(), scaled = try make()
      _ = try plain.add(base)
      _ = try scaled.add(scaledBase)
      let expected = try plain.search(batch: queries, k: 10)
      let got = try scaled.search(batch: scaledQueries, k: 10)
      for q in 0..<expected.count {
        #expect(got[q].ids == expected[q].ids, "\(kind), query \(q), 2^\(exponent)")
        #expect(zip(got[q].scores, expected[q].scores).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(kind), query \(q), 2^\(exponent)")
      }
    }
  }
}
