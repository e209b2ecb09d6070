import Arrowhead
import ArrowheadTestSupport
import Testing
@testable import ArrowheadSearch

@Suite("HNSW index")
struct HNSWIndexTests {
  static let dimension = 16

  /// 2 000 clustered vectors, 50 held-out queries, exact neighbours from the flat index.
  static func dataset(seed: UInt64 = 11) throws -> (base: [Float], queries: [Float], truth: [[Int]]) {
    let all = clusteredVectors(count: 2_050, dimension: dimension, seed: seed)
    let base = Array(all[0..<2_000 * dimension])
    let queries = Array(all[(2_000 * dimension)...])
    let flat = try FlatIndex(dimension: dimension)
    try flat.add(base)
    let truth = try flat.search(batch: queries, k: 10).map(\.ids)
    return (base, queries, truth)
  }

  @Test(arguments: BackendsUnderTest.names, [1, 2])
  func buildsAValidGraphWithHighRecall(backend: String, threads: Int) throws {
    let (base, queries, truth) = try Self.dataset()
    let index = try HNSWIndex(
      dimension: Self.dimension, parameters: HNSWParameters(m: 8, efConstruction: 64, buildThreads: threads),
      engine: try BackendsUnderTest.engine(backend))
    try index.add(base)
    try index.checkInvariants()
    #expect(index.count == 2_000)
    // Pruning can orphan a few nodes on layer 0 (hnswlib has it too); `add` relinks them.
    #expect(index.reachableLiveCount() == 2_000)
    let results = try index.search(batch: queries, k: 10, parameters: SearchParameters(efSearch: 64))
    // Measured recall@10 at ef = 64: 1.000 on every backend with one build thread,
    // 0.988–1.000 with two (the interleaving changes the graph); 0.97 keeps a margin of
    // 20 neighbours out of 500 while a damaged graph loses far more (see the mutation
    // check in Tests/README.md).
    #expect(recall(results, truth: truth, k: 10) >= 0.97)
    // Every vector of the index is found as its own nearest neighbour at ef = 64 with one
    // build thread (deterministic). A two-thread build is not deterministic, and a greedy
    // search at ef = 64 may miss a reachable vector now and then: 0 in 90 two-thread builds
    // here (Xeon, also pinned to one CPU under load), 2 of 2 000 once under load, 7 once on
    // a CI machine running the suites in parallel. The bound is the recall margin above,
    // 1 % (20 of 2 000). What must hold every time: each vector missed at ef = 64 is found
    // when the search may visit the whole graph (ef = 2 000) — the reachability repair
    // relinks nodes a two-thread build orphaned (without it 0–6 of the 2 000 were
    // unreachable).
    let lost = try Self.notFoundAsThemselves(index, base)
    if threads == 1 {
      #expect(lost == [], "\(backend), 1 thread: \(lost.count) vectors not found as their own neighbour: \(lost)")
    } else {
      #expect(lost.count <= 20, "\(backend), \(threads) threads: \(lost.count) vectors not found at ef 64: \(lost)")
      let unreachable = try Self.notFoundAsThemselves(index, base, efSearch: 2_000).filter(lost.contains)
      #expect(unreachable == [], "\(backend), \(threads) threads: not found even at ef 2 000: \(unreachable)")
    }
  }

  /// A thread count far beyond the cores (`Int.max`, a parsing slip) builds on the logical
  /// cores (spin locks gain nothing from more). It once sized a per-worker buffer by the request: the
  /// traversal codes of ≥ 1 024 vectors of ≥ 128 dimensions allocated `Int.max` flags (at
  /// 2³¹ − 1 threads from Python: 2.1 GB and 225 s for 2 000 vectors).
  @Test func aHugeThreadCountBuildsOnTheLogicalCores() throws {
    let dimension = 128, count = 1_100
    let base = clusteredVectors(count: count, dimension: dimension, seed: 5)
    let index = try HNSWIndex(
      dimension: dimension, parameters: HNSWParameters(m: 8, efConstruction: 48, buildThreads: Int.max))
    #expect(index.buildThreads == min(CPUInfo.current.logicalCores, Parallel.maximumThreads))
    try index.add(base)
    try index.checkInvariants()
    #expect(index.reachableLiveCount() == count)
    // At ef = n the search may visit every node, so each vector is found as itself.
    let results = try index.search(batch: base, k: 1, parameters: SearchParameters(efSearch: count, threads: Int.max))
    #expect(results.indices.filter { results[$0].ids != [$0] } == [])
  }

  /// The ids among 0 ..< n of `vectors` (row i has id i) whose search at `efSearch` does not
  /// return themselves first.
  static func notFoundAsThemselves(_ index: HNSWIndex, _ vectors: [Float], ids: [Int]? = nil, efSearch: Int = 64) throws -> [Int] {
    let results = try index.search(batch: vectors, k: 1, parameters: SearchParameters(efSearch: efSearch))
    return results.indices.compactMap { row in
      let id = ids?[row] ?? row
      return results[row].ids == [id] ? nil : id
    }
  }

  @Test func singleThreadBuildIsDeterministicForASeed() throws {
    let (base, queries, _) = try Self.dataset(seed: 12)
    func build(seed: UInt64) throws -> [[Int]] {
      let index = try HNSWIndex(
        dimension: Self.dimension, parameters: HNSWParameters(m: 6, efConstruction: 40, seed: seed, buildThreads: 1))
      try index.add(base)
      return try index.search(batch: queries, k: 10, parameters: SearchParameters(efSearch: 12)).map(\.ids)
    }
    let first = try build(seed: 7)
    #expect(try build(seed: 7) == first)
  }
}

/// `HNSWParameters.layer0InsertionLinks`: how many neighbours a new node keeps on layer 0
/// (⌊3·M/2⌋ by default; faiss keeps 2·M, hnswlib M).
@Suite("HNSW layer-0 insertion links")
struct HNSWLayer0LinksTests {
  static let dimension = 16

  static func build(_ base: [Float], layer0Links: Int?, m: Int = 6, threads: Int = 1, seed: UInt64 = 42) throws -> HNSWIndex {
    let index = try HNSWIndex(
      dimension: dimension,
      parameters: HNSWParameters(m: m, efConstruction: 48, seed: seed, buildThreads: threads, layer0InsertionLinks: layer0Links))
    try index.add(base)
    try index.checkInvariants()
    return index
  }

  /// Mean number of layer-0 links per node.
  static func meanDegree(_ index: HNSWIndex) -> Double {
    let total = (0..<index.count).reduce(0) { $0 + index.graph.links(UInt32($1), 0).count }
    return Double(total) / Double(index.count)
  }

  @Test(arguments: [nil, 6, 12] as [Int?])
  func searchIsExactWhenEfCoversTheIndex(layer0Links: Int?) throws {
    // 600 vectors with small integer coordinates: every squared distance is exact in
    // Float32, so the only way to differ from brute force is a graph that cannot reach a
    // vector. With ef ≥ the index size the best-first walk expands every reachable node, so
    // each query's top 10 must equal the brute-force top 10 (ties by lower id) id for id.
    let base = integerVectors(count: 600, dimension: Self.dimension, seed: 5)
    let queries = integerVectors(count: 40, dimension: Self.dimension, seed: 6)
    let index = try Self.build(base, layer0Links: layer0Links)
    #expect(index.reachableLiveCount() == 600)
    let results = try index.search(batch: queries, k: 10, parameters: SearchParameters(efSearch: 600))
    for (row, result) in results.enumerated() {
      let query = Array(queries[row * Self.dimension..<(row + 1) * Self.dimension])
      let exact = bruteForce(base: base, query: query, dimension: Self.dimension, metric: .squaredL2, k: 10)
      // Same scores rank by rank (ties may swap ids of equal distance), exact in Float32.
      expectValidTopK(result, exact: exact, base: base, query: query, dimension: Self.dimension, metric: .squaredL2, tolerance: 0)
    }
  }

  @Test func moreInsertionLinksMeanADenserLayer0AndNoWorseRecall() throws {
    let (base, queries, truth) = try HNSWIndexTests.dataset(seed: 13)
    let sparse = try Self.build(base, layer0Links: 6)
    let dense = try Self.build(base, layer0Links: 12)
    // With M = 6 a new node keeps ≤ 6 neighbours under hnswlib's rule and ≤ 12 under
    // faiss's; back-links fill both towards 12 later. In 16 dimensions the heuristic keeps
    // few, so the difference is small but systematic. Measured (1 thread, default engine):
    // 7.56 vs 8.09 links per node — a difference of ~1 000 links over 2 000 nodes.
    #expect(Self.meanDegree(dense) > Self.meanDegree(sparse) + 0.25)
    #expect(Self.meanDegree(dense) <= 12)
    let parameters = SearchParameters(efSearch: 16)
    let sparseRecall = recall(try sparse.search(batch: queries, k: 10, parameters: parameters), truth: truth, k: 10)
    let denseRecall = recall(try dense.search(batch: queries, k: 10, parameters: parameters), truth: truth, k: 10)
    // Measured recall@10 at ef 16: 0.984 (M links) vs 0.990 (2·M); the denser graph finds
    // at least as many of the 500 true neighbours at equal ef.
    #expect(denseRecall >= sparseRecall)
  }

  @Test(arguments: [nil, 6] as [Int?])
  func singleThreadBuildIsDeterministic(layer0Links: Int?) throws {
    let (base, _, _) = try HNSWIndexTests.dataset(seed: 14)
    let first = try Self.build(base, layer0Links: layer0Links)
    let second = try Self.build(base, layer0Links: layer0Links)
    // Identical link lists on every layer, node by node.
    for slot in 0..<UInt32(first.count) {
      #expect(first.graph.level(slot) == second.graph.level(slot))
      for level in 0...first.graph.level(slot) {
        let (a, countA) = first.graph.links(slot, level)
        let (b, countB) = second.graph.links(slot, level)
        #expect(Array(UnsafeBufferPointer(start: a, count: countA)) == Array(UnsafeBufferPointer(start: b, count: countB)),
                "slot \(slot) level \(level)")
      }
    }
  }

  @Test func rejectsOutOfRangeValues() {
    for bad in [0, -1, 13] {
      #expect(throws: SearchError.self) {
        _ = try HNSWIndex(dimension: 4, parameters: HNSWParameters(m: 6, layer0InsertionLinks: bad))
      }
    }
  }
}

extension HNSWLayer0LinksTests {
  /// Pruning a full layer-0 list with its pruned prefix known (`HNSWWorker.pruneLayer0`) must
  /// choose exactly what pruning from scratch chooses: one-thread builds with and without
  /// it give identical link lists, on float and on int8 storage (whose distances run on
  /// decoded vectors).
  @Test(arguments: [VectorStorage.float32, .int8], [nil, 6] as [Int?])
  func incrementalPruningBuildsTheSameGraph(storage: VectorStorage, layer0Links: Int?) throws {
    let (base, _, _) = try HNSWIndexTests.dataset(seed: 15)
    func build(incremental: Bool) throws -> HNSWIndex {
      let index = try HNSWIndex(
        dimension: Self.dimension, storage: storage,
        parameters: HNSWParameters(m: 6, efConstruction: 48, buildThreads: 1, layer0InsertionLinks: layer0Links))
      index.incrementalPruning = incremental
      // Two batches, so the second prunes lists the first made (flags start unknown).
      try index.add(Array(base[..<(1_200 * Self.dimension)]))
      try index.add(Array(base[(1_200 * Self.dimension)...]))
      return index
    }
    let full = try build(incremental: false)
    let incremental = try build(incremental: true)
    var differing = 0
    for slot in 0..<UInt32(full.count) {
      for level in 0...full.graph.level(slot) {
        let (a, countA) = full.graph.links(slot, level)
        let (b, countB) = incremental.graph.links(slot, level)
        if Array(UnsafeBufferPointer(start: a, count: countA)) != Array(UnsafeBufferPointer(start: b, count: countB)) {
          differing += 1
        }
      }
    }
    #expect(differing == 0, "\(differing) link lists differ")
  }
}
