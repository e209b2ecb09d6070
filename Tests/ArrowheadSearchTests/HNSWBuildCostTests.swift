import Arrowhead
import ArrowheadTestSupport
import Testing
@testable import ArrowheadSearch

/// Float32 builds of many dimensions walk their insertion searches on temporary SQ8 codes
/// and re-rank each layer's results exactly before choosing links
/// (`HNSWIndex.traversalCodes`, `HNSWWorker.coarse`). The tests lower
/// `coarseWalkDimension` so that 16-d data takes that path.
@Suite("HNSW coarse insertion walk")
struct HNSWCoarseWalkTests {
  static let dimension = HNSWIndexTests.dimension

  static func build(_ base: [Float], coarse: Bool, threads: Int = 1, metric: Metric = .squaredL2) throws -> HNSWIndex {
    let index = try HNSWIndex(
      dimension: dimension, metric: metric, parameters: HNSWParameters(m: 8, efConstruction: 64, buildThreads: threads))
    index.coarseWalkDimension = coarse ? 1 : Int.max
    try index.add(base)
    try index.checkInvariants()
    return index
  }

  static func linkLists(_ index: HNSWIndex) -> [[UInt32]] {
    (0..<UInt32(index.slotCount)).flatMap { slot in
      (0...index.graph.level(slot)).map { level in
        let (links, count) = index.graph.links(slot, level)
        return Array(UnsafeBufferPointer(start: links, count: count))
      }
    }
  }

  @Test func codesAreMadeOnlyWhereTheyPay() throws {
    let (base, _, _) = try HNSWIndexTests.dataset(seed: 16)
    let index = try HNSWIndex(dimension: Self.dimension, parameters: HNSWParameters(m: 8, efConstruction: 32))
    try index.add(base)
    // Default threshold 128 > 16 dimensions: exact walk.
    #expect(index.traversalCodes(linking: 2_000) == nil)
    index.coarseWalkDimension = 16
    // One code row per slot; fewer than 1 024 nodes to link, or fewer than a quarter of
    // the slots, is not worth encoding every slot.
    let codes = try #require(index.traversalCodes(linking: 2_000))
    #expect(codes.store.codes.capacity == 2_000 * Self.dimension)
    #expect(index.traversalCodes(linking: 1_023) == nil)
    let quantized = try HNSWIndex(
      dimension: Self.dimension, storage: .int8, parameters: HNSWParameters(m: 8, efConstruction: 32))
    quantized.coarseWalkDimension = 1
    try quantized.add(base)
    #expect(quantized.traversalCodes(linking: 2_000) == nil, "int8 storage already walks on its codes")
  }

  /// The walk on SQ8 codes with a 16-bit integer query (`SQ8WalkSpace`), for both of its
  /// distance forms (squared L2 through stored code norms, inner product).
  @Test(arguments: [Metric.squaredL2, .innerProduct])
  func coarseWalkKeepsRecallAndFindability(metric: Metric) throws {
    let (base, queries, l2Truth) = try HNSWIndexTests.dataset(seed: 17)
    let truth = metric == .squaredL2 ? l2Truth : stride(from: 0, to: queries.count, by: Self.dimension).map { start in
      bruteForce(base: base, query: Array(queries[start..<(start + Self.dimension)]), dimension: Self.dimension, metric: metric, k: 10)
        .map(\.id)
    }
    let exact = try Self.build(base, coarse: false, metric: metric)
    let coarse = try Self.build(base, coarse: true, metric: metric)
    #expect(Self.linkLists(coarse) != Self.linkLists(exact), "the coarse walk was not taken")
    #expect(coarse.reachableLiveCount() == 2_000)
    if metric == .squaredL2 { #expect(try HNSWIndexTests.notFoundAsThemselves(coarse, base) == []) }
    for ef in [10, 16] {
      let parameters = SearchParameters(efSearch: ef)
      let exactRecall = recall(try exact.search(batch: queries, k: 10, parameters: parameters), truth: truth, k: 10)
      let coarseRecall = recall(try coarse.search(batch: queries, k: 10, parameters: parameters), truth: truth, k: 10)
      // Links are chosen on exact distances among candidates found on SQ8 distances (error
      // ≤ sⱼ/2 per coordinate, plus the query's 16-bit rounding, ≤ σ/2 per code unit), so
      // the graphs differ in a few links, not in quality. Measured recall@10 (500 true
      // neighbours), exact walk vs coarse walk: L2 0.960 vs 0.960 at ef 10, 0.994 vs 0.994
      // at ef 16. The margin, 1 % (5 neighbours), allows for a different engine's rounding
      // changing a few links.
      #expect(coarseRecall >= exactRecall - 0.01, "\(metric) ef \(ef): \(coarseRecall) vs \(exactRecall)")
    }
  }

  @Test func singleThreadCoarseBuildIsDeterministic() throws {
    let (base, _, _) = try HNSWIndexTests.dataset(seed: 18)
    let first = try Self.build(base, coarse: true)
    let second = try Self.build(base, coarse: true)
    #expect(Self.linkLists(first) == Self.linkLists(second))
  }

  @Test func twoThreadCoarseBuildIsValid() throws {
    let (base, queries, truth) = try HNSWIndexTests.dataset(seed: 19)
    let index = try Self.build(base, coarse: true, threads: 2)
    #expect(index.reachableLiveCount() == 2_000)
    let results = try index.search(batch: queries, k: 10, parameters: SearchParameters(efSearch: 64))
    // Same bound as `buildsAValidGraphWithHighRecall` (0.97: a margin of 15 of 500).
    #expect(recall(results, truth: truth, k: 10) >= 0.97)
  }
}

/// Float32 builds keep the distance from each node to each of its layer-0 links
/// (`HNSWWorker.linkDistances`), so that pruning a full list recomputes none of them.
@Suite("HNSW cached link distances")
struct HNSWLinkDistanceTests {
  static let dimension = 16

  /// One-thread builds with and without the cache, on vectors with small integer
  /// coordinates: every distance is exact in Float32 whichever kernel computes it, in
  /// whatever order of arguments, so a cached distance equals the recomputed one bit for
  /// bit and the two graphs must be identical, list for list. `reuse`: a third batch
  /// goes into the slots of 500 removed vectors (`relink`), which prunes with the cache.
  @Test(arguments: [false, true], [false, true])
  func cachedDistancesBuildTheSameGraph(coarse: Bool, reuse: Bool) throws {
    let base = integerVectors(count: 1_800, dimension: Self.dimension, seed: 21)
    func build(cached: Bool) throws -> HNSWIndex {
      let index = try HNSWIndex(
        dimension: Self.dimension,
        parameters: HNSWParameters(m: 6, efConstruction: 48, buildThreads: 1, reuseDeletedSlots: reuse))
      index.cachedLinkDistances = cached
      index.coarseWalkDimension = coarse ? 1 : Int.max
      // Batches of 1 200 and 600: the second prunes lists the first made, whose distances
      // start unknown in the second `add`.
      try index.add(Array(base[..<(1_200 * Self.dimension)]))
      try index.add(Array(base[(1_200 * Self.dimension)...]))
      if reuse {
        for id in stride(from: 0, to: 1_500, by: 3) { try index.remove(id) }
        try index.add(integerVectors(count: 500, dimension: Self.dimension, seed: 22))
      }
      try index.checkInvariants()
      return index
    }
    let recomputed = try build(cached: false)
    let cached = try build(cached: true)
    #expect(HNSWCoarseWalkTests.linkLists(cached) == HNSWCoarseWalkTests.linkLists(recomputed))
  }
}
