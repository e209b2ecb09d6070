import Arrowhead
import ArrowheadTestSupport
import Testing
@testable import ArrowheadSearch

/// The int8 screen of flat batch searches (FlatPrefilter.swift): a pair is skipped only when
/// a proven lower bound of its distance exceeds the k-th best exact distance, so the results
/// must be exactly those of scoring every pair in Float32 with the index's own pair kernel.
@Suite("Flat index: int8 screening")
struct FlatScreeningTests {
  /// The k nearest by the index's own Float32 pair kernel (`VectorStore.distance`, the
  /// kernel that re-scores screened pairs), ties by lower id: what a screened search must
  /// return id for id and score for score.
  func pairKernelTopK(
    _ index: FlatIndex, stored: (ids: [Int], vectors: [Float]), query: [Float], k: Int, filter: ((Int) -> Bool)? = nil
  ) -> [Neighbor] {
    let dimension = index.dimension
    // Cosine queries are normalised by the index's own code before they are scored.
    let prepared = query.withUnsafeBufferPointer {
      Validation.prepared($0, dimension: dimension, metric: index.metric, kernels: index.store.kernels)
    }
    var scored: [(distance: Float, id: Int)] = []
    prepared.withUnsafeBufferPointer { q in
      stored.vectors.withUnsafeBufferPointer { x in
        for (row, id) in stored.ids.enumerated() where filter?(id) ?? true {
          scored.append((index.store.distance(q.baseAddress!, x.baseAddress! + row * dimension), id))
        }
      }
    }
    scored.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.id < $1.id) }
    return scored.prefix(k).map { Neighbor(id: $0.id, score: index.metric == .squaredL2 ? $0.distance : -$0.distance) }
  }

  /// Integer data: every distance is exact, so the screened search equals brute force in
  /// Double id for id and score for score, on every backend, metric, thread count and both
  /// ways of splitting the work (by queries, by base ranges: 20 queries on 2 threads), over
  /// two base blocks (1 024 + 76 vectors).
  @Test(arguments: BackendsUnderTest.names, Metric.allCases)
  func matchesBruteForceOnIntegerData(backend: String, metric: Metric) throws {
    let dimension = 24
    let base = integerVectors(count: 1_100, dimension: dimension, range: 3, seed: 11)
    let index = try FlatIndex(dimension: dimension, metric: metric, engine: try BackendsUnderTest.engine(backend))
    try index.add(base)
    for (threads, queryCount) in [(1, 20), (2, 20), (2, 70)] {
      let queries = integerVectors(count: queryCount, dimension: dimension, range: 3, seed: 12)
      let screened = try index.search(batch: queries, k: 25, parameters: SearchParameters(threads: threads, int8Screening: true))
      let plain = try index.search(batch: queries, k: 25, parameters: SearchParameters(threads: threads, int8Screening: false))
      for q in 0..<queryCount {
        let query = Array(queries[q * dimension..<(q + 1) * dimension])
        let exact = bruteForce(base: base, query: query, dimension: dimension, metric: metric, k: 25)
        if metric != .cosine {
          #expect(screened[q].ids == exact.map(\.id), "\(backend) \(metric) \(threads) threads, query \(q)")
          #expect(screened[q].scores == exact.map { Float($0.score) })
          #expect(screened[q].ids == plain[q].ids)
        } else {
          // Unit vectors are stored: cosines are no longer integers (tolerance: a few ulps
          // of values ≤ 1, as in FlatIndexTests).
          expectValidTopK(screened[q], exact: exact, base: base, query: query, dimension: dimension, metric: metric, tolerance: 1e-6)
        }
      }
    }
  }

  /// Real-valued clustered data (like embeddings), and the hard case for int8 codes: one
  /// coordinate 1 000× larger than the others (a code step of ~8 on it) plus clusters of
  /// near-duplicates 10⁻³ apart, far below the code resolution. The screened results must
  /// be exactly the pair kernel's top k: no pair the bound skipped could have entered.
  @Test(arguments: BackendsUnderTest.names, [Metric.squaredL2, .innerProduct, .cosine])
  func equalsThePairKernelTopK(backend: String, metric: Metric) throws {
    let dimension = 32
    var base = clusteredVectors(count: 700, dimension: dimension, clusters: 12, seed: 21)
    var generator = SeededGenerator(seed: 22)
    // Near-duplicates of the first 20 rows, 20 each.
    for row in 0..<20 {
      for _ in 0..<20 {
        base += (0..<dimension).map { base[row * dimension + $0] + Float.random(in: -1e-3...1e-3, using: &generator) }
      }
    }
    // Every 7th vector gets a huge first coordinate.
    for row in stride(from: 0, to: base.count / dimension, by: 7) {
      base[row * dimension] = Float.random(in: -1000...1000, using: &generator)
    }
    let queries = Array(base[0..<(16 * dimension)]).enumerated().map { $0.element + ($0.offset % 5 == 0 ? 0.01 : 0) }
    let index = try FlatIndex(dimension: dimension, metric: metric, engine: try BackendsUnderTest.engine(backend))
    try index.add(base)
    let stored = index.liveVectors()
    let expected = (0..<16).map { q in
      pairKernelTopK(index, stored: stored, query: Array(queries[q * dimension..<(q + 1) * dimension]), k: 30)
    }
    for threads in [1, 2] {
      let results = try index.search(batch: queries, k: 30, parameters: SearchParameters(threads: threads, int8Screening: true))
      for q in 0..<16 {
        let expected = expected[q]
        #expect(results[q].ids == expected.map(\.id), "\(backend) \(metric) \(threads) threads, query \(q)")
        #expect(results[q].scores == expected.map(\.score))
      }
    }
  }

  /// The filter is applied before re-scoring, and the codes follow `add` and `remove`
  /// (they are made on the first screened search and dropped by every mutation).
  @Test func filterAndMutationsAreFollowed() throws {
    let dimension = 32
    let base = clusteredVectors(count: 1_200, dimension: dimension, seed: 31)
    let index = try FlatIndex(dimension: dimension, metric: .squaredL2)
    try index.add(base)
    let queries = clusteredVectors(count: 20, dimension: dimension, seed: 32)
    let screening = SearchParameters(threads: 1, int8Screening: true)
    let even: SearchFilter = { $0 % 2 == 0 }
    let filtered = try index.search(batch: queries, k: 10, parameters: screening, filter: even)
    let stored = index.liveVectors()
    for q in 0..<20 {
      let query = Array(queries[q * dimension..<(q + 1) * dimension])
      let expected = pairKernelTopK(index, stored: stored, query: query, k: 10, filter: { $0 % 2 == 0 })
      #expect(filtered[q].ids == expected.map(\.id))
    }
    let before = index.memoryUsage.structureBytes
    #expect(before >= 1_200 * dimension, "the codes (one byte per value) are counted once made")

    // New vectors equal to the queries must be found at distance 0 …
    let added = try index.add(queries)
    let found = try index.search(batch: queries, k: 1, parameters: screening)
    #expect(found.map { $0.ids.first } == added.map { Optional($0) })
    #expect(found.allSatisfy { $0.scores == [0] })
    // … and a removed one no longer.
    try index.remove(added[3])
    let after = try index.search(batch: queries, k: 1, parameters: screening)
    #expect(after[3].ids != [added[3]])
    #expect(after[4].ids == [added[4]])
  }

  /// Coordinates near 10¹⁹: ‖x‖² overflows Float32, so the plain path's ‖q‖² + ‖x‖² − 2q·x
  /// is NaN (∞ − ∞) and a k = 5 search returned no neighbour at all, and a screening bound
  /// was NaN (it once dropped every pair). Such vectors and queries are refused now; just
  /// under the bound (coordinates near 2·10¹⁸, ‖x‖² ≈ 6·10³⁷ at 16 dimensions) the screened
  /// search, the plain one and the pair kernel agree.
  @Test func hugeCoordinatesAreRefusedAndTheLargestAcceptedOnesSearchExactly() throws {
    let dimension = 16
    var generator = SeededGenerator(seed: 51)
    let offsets = (0..<1_100 * dimension).map { _ in Float(64 + Int.random(in: 0..<64, using: &generator)) / 64 }
    let index = try FlatIndex(dimension: dimension, metric: .squaredL2)
    #expect(throws: SearchError.self) { try index.add(offsets.map { $0 * 1e19 }) }
    #expect(index.count == 0)
    let base = offsets.map { $0 * 1e18 }
    try index.add(base)
    let queries = Array(base[0..<(20 * dimension)])
    let screened = try index.search(batch: queries, k: 5, parameters: SearchParameters(threads: 1, int8Screening: true))
    let plain = try index.search(batch: queries, k: 5, parameters: SearchParameters(threads: 1, int8Screening: false))
    let stored = index.liveVectors()
    for q in 0..<20 {
      let expected = pairKernelTopK(index, stored: stored, query: Array(queries[q * dimension..<(q + 1) * dimension]), k: 5)
      #expect(screened[q].ids == expected.map(\.id), "query \(q)")
      #expect(plain[q].ids.first == q && plain[q].isComplete, "query \(q)")
      #expect(screened[q].ids.first == q)
    }
  }

  /// The automatic choice: never on the reference backend (its int8 product is no faster
  /// than its Float32 one), so no codes are made there.
  @Test func automaticChoiceSkipsSlowInt8Kernels() throws {
    let dimension = 64
    let index = try FlatIndex(dimension: dimension, metric: .innerProduct, engine: try BackendsUnderTest.engine("reference"))
    try index.add(clusteredVectors(count: 1_100, dimension: dimension, seed: 41))
    let before = index.memoryUsage.structureBytes
    _ = try index.search(batch: clusteredVectors(count: 20, dimension: dimension, seed: 42), k: 5)
    #expect(index.memoryUsage.structureBytes == before)
    _ = try index.search(batch: clusteredVectors(count: 20, dimension: dimension, seed: 42), k: 5, parameters: SearchParameters(int8Screening: true))
    #expect(index.memoryUsage.structureBytes >= before + 1_100 * dimension)
  }

  /// The automatic choice for batches of fewer than 16 queries: no codes during the first
  /// `screeningWarmQueries` queries after the vectors changed, then codes where the int8
  /// product runs AVX-512 VNNI (from 24 dimensions); `add` drops them and restarts the
  /// count. Results are exact throughout.
  @Test func smallBatchesAreScreenedOnceTheIndexIsWarm() throws {
    let dimension = 32
    let index = try FlatIndex(dimension: dimension, metric: .squaredL2)
    try index.add(clusteredVectors(count: 1_100, dimension: dimension, seed: 43))
    let kernel = index.engine.backend(for: .quantizedMatmulInt8, .large)
    let screens = kernel.requiredFeatures.contains(.avx512f) && CPUInfo.current.features.contains(.avx512vnni)
      && (kernel.preference(for: .quantizedMatmulInt8, .large)?.score ?? 0) > 0
    let unscreened = index.memoryUsage.structureBytes
    let queries = clusteredVectors(count: 3, dimension: dimension, seed: 44)
    let expected = try index.search(batch: queries, k: 5, parameters: SearchParameters(int8Screening: false))
    // 3 · 85 = 255 queries counted, one short of the threshold; the next batch crosses it.
    for _ in 0..<((FlatIndex.screeningWarmQueries - 1) / 3) {
      #expect(try index.search(batch: queries, k: 5).map(\.ids) == expected.map(\.ids))
    }
    #expect(index.memoryUsage.structureBytes == unscreened, "codes made before the index is warm")
    #expect(try index.search(batch: queries, k: 5).map(\.ids) == expected.map(\.ids))
    if screens {
      #expect(index.memoryUsage.structureBytes >= unscreened + 1_100 * dimension, "no codes once warm")
    } else {
      #expect(index.memoryUsage.structureBytes == unscreened, "codes made where the int8 product is not VNNI")
    }
    try index.add(clusteredVectors(count: 1, dimension: dimension, seed: 45))
    let grown = index.memoryUsage.structureBytes
    _ = try index.search(batch: queries, k: 5)
    #expect(index.memoryUsage.structureBytes == grown, "add must restart the count")
  }
}
