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
    // search at ef = 64 may miss a reachable vector now and then (2 of 2 000 seen once under
    // load): there, every vector missed at ef = 64 must be found when the search may visit
    // the whole graph (ef = 2 000) — the reachability repair relinks nodes a two-thread
    // build orphaned (without it 0–6 of the 2 000 were unreachable).
    let lost = try Self.notFoundAsThemselves(index, base)
    if threads == 1 {
      #expect(lost == [], "\(backend), 1 thread: \(lost.count) vectors not found as their own neighbour: \(lost)")
    } else {
      #expect(lost.count <= 4, "\(backend), \(threads) threads: \(lost.count) vectors not found at ef 64: \(lost)")
      let unreachable = try Self.notFoundAsThemselves(index, base, efSearch: 2_000).filter(lost.contains)
      #expect(unreachable == [], "\(backend), \(threads) threads: not found even at ef 2 000: \(unreachable)")
    }
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
