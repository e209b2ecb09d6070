import Arrowhead
import Dispatch
import Testing
@testable import ArrowheadSearch

@Suite("HNSW mutations, filters, concurrency")
struct HNSWMutationTests {
  static let dimension = 16

  static func build(reuse: Bool = false, threads: Int = 1) throws -> (HNSWIndex, [Float], [Float]) {
    let all = clusteredVectors(count: 2_040, dimension: dimension, seed: 41)
    let base = Array(all[0..<2_000 * dimension])
    let queries = Array(all[(2_000 * dimension)...])
    let index = try HNSWIndex(
      dimension: dimension,
      parameters: HNSWParameters(m: 8, efConstruction: 64, efSearch: 64, buildThreads: threads, reuseDeletedSlots: reuse))
    try index.add(base)
    return (index, base, queries)
  }

  /// Exact neighbours among the vectors whose id passes `keep`.
  static func truth(_ base: [Float], _ queries: [Float], ids: [Int]? = nil, keep: @escaping (Int) -> Bool) -> [[Int]] {
    var result: [[Int]] = []
    for q in 0..<queries.count / dimension {
      let query = Array(queries[q * dimension..<(q + 1) * dimension])
      let exact = bruteForce(base: base, ids: ids, query: query, dimension: dimension, metric: .squaredL2, k: 10, filter: keep)
      result.append(exact.map { $0.id })
    }
    return result
  }

  @Test func removedVectorsAreNeverReturned() throws {
    let (index, base, queries) = try Self.build()
    let removed = Set(stride(from: 0, to: 2_000, by: 3))
    for id in removed.sorted() { try index.remove(id) }
    #expect(index.count == 2_000 - removed.count)
    #expect(throws: SearchError.unknownID(0)) { try index.remove(0) }
    #expect(throws: SearchError.unknownID(0)) { try index.vector(for: 0) }
    let results = try index.search(batch: queries, k: 10)
    for result in results { #expect(result.ids.allSatisfy { !removed.contains($0) } && result.isComplete) }
    let truth = Self.truth(base, queries) { !removed.contains($0) }
    #expect(recall(results, truth: truth, k: 10) >= 0.9)
    try index.checkInvariants()
  }

  @Test func filterIsAppliedDuringTheWalk() throws {
    let (index, base, queries) = try Self.build()
    let keep: SearchFilter = { $0 % 10 == 0 }  // 10 % of the ids
    let results = try index.search(batch: queries, k: 10, filter: keep)
    for result in results { #expect(result.ids.allSatisfy { $0 % 10 == 0 } && result.isComplete) }
    let truth = Self.truth(base, queries) { $0 % 10 == 0 }
    #expect(recall(results, truth: truth, k: 10) >= 0.85)
    let nothing = try index.search(Array(queries[0..<Self.dimension]), k: 3, filter: { _ in false })
    #expect(nothing.neighbors.isEmpty && !nothing.isComplete)
  }

  @Test func deletedSlotsAreReusedAndRepaired() throws {
    let (index, base, queries) = try Self.build(reuse: true)
    let removed = Array(0..<300).map { $0 * 5 }
    for id in removed { try index.remove(id) }
    // The entry point is removed and replaced too, whatever it was.
    let entryID = index.ids.id(of: Int(index.graph.entryPoint))
    if index.contains(entryID) { try index.remove(entryID) }
    let freed = index.deletedSlotCount
    let fresh = clusteredVectors(count: freed, dimension: Self.dimension, seed: 42)
    let newIDs = try index.add(fresh)
    #expect(index.slotCount == 2_000, "every freed slot was reused; no slot was added")
    #expect(index.deletedSlotCount == 0 && index.count == 2_000)
    #expect(removed.allSatisfy { !index.contains($0) }, "removed ids stay gone after their slots are reused")
    try index.checkInvariants()
    #expect(index.reachableLiveCount() == 2_000)
    // Each new vector finds itself.
    var found = 0
    for (i, id) in newIDs.enumerated() {
      let vector = Array(fresh[i * Self.dimension..<(i + 1) * Self.dimension])
      if try index.search(vector, k: 1).ids == [id] { found += 1 }
    }
    #expect(found >= newIDs.count * 95 / 100)
    // And the survivors are still found as well as before.
    var combined = base
    var ids = Array(0..<2_000)
    for (i, id) in newIDs.enumerated() {
      combined += fresh[i * Self.dimension..<(i + 1) * Self.dimension]
      ids.append(id)
    }
    let live = Set(ids.filter { index.contains($0) })
    let truth = Self.truth(combined, queries, ids: ids) { live.contains($0) }
    let measured = recall(try index.search(batch: queries, k: 10), truth: truth, k: 10)
    #expect(measured >= 0.9, "recall \(measured)")
  }

  @Test func compactionReclaimsEverySlot() throws {
    let (index, base, queries) = try Self.build()
    for id in stride(from: 1, to: 2_000, by: 2) { try index.remove(id) }
    let compact = try index.compacted()
    #expect(compact.slotCount == 1_000 && compact.count == 1_000 && compact.deletedSlotCount == 0)
    try compact.checkInvariants()
    let truth = Self.truth(base, queries) { $0 % 2 == 0 }
    #expect(recall(try compact.search(batch: queries, k: 10), truth: truth, k: 10) >= 0.9)
    #expect(compact.memoryUsage.total < index.memoryUsage.total)
  }

  @Test func badInputAndEdgeCases() throws {
    let empty = try HNSWIndex(dimension: 4)
    #expect(throws: SearchError.emptyIndex) { try empty.search([0, 0, 0, 0], k: 1) }
    try empty.add([1, 0, 0, 0, 0, 1, 0, 0])
    let few = try empty.search([1, 0, 0, 0], k: 5)
    #expect(few.ids == [0, 1] && !few.isComplete)
    try empty.remove(0)
    try empty.remove(1)
    #expect(throws: SearchError.emptyIndex) { try empty.search([1, 0, 0, 0], k: 1) }
    #expect(throws: SearchError.invalidK(0)) { try empty.search([1, 0, 0, 0], k: 0) }
    #expect(throws: SearchError.nonFiniteValue(argument: "vectors", row: 0, column: 3)) { try empty.add([0, 0, 0, .nan]) }
    #expect(throws: SearchError.dimensionMismatch(argument: "vectors", expected: 4, actual: 3)) { try empty.add([0, 0, 0]) }
    #expect(throws: SearchError.duplicateID(5)) { try empty.add([0, 0, 0, 1, 0, 0, 1, 0], ids: [5, 5]) }
    #expect(throws: SearchError.invalidParameter(name: "m", value: "1", expected: "2 … 2048")) {
      try HNSWIndex(dimension: 4, parameters: HNSWParameters(m: 1))
    }
    #expect(throws: SearchError.invalidParameter(name: "efSearch", value: "0", expected: "≥ 1")) {
      try empty.add([0, 0, 1, 0])
      return try empty.search([0, 0, 1, 0], k: 1, parameters: SearchParameters(efSearch: 0))
    }
  }

  /// Many threads searching one index at once get exactly the single-threaded answers.
  @Test func concurrentSearchesAgreeWithSequentialOnes() throws {
    let (index, _, queries) = try Self.build(threads: 2)
    let expected = try index.search(batch: queries, k: 10, parameters: SearchParameters(threads: 1))
    let box = UncheckedSendableBox(UnsafeMutablePointer<Bool>.allocate(capacity: 8))
    box.value.initialize(repeating: false, count: 8)
    defer { box.value.deallocate() }
    DispatchQueue.concurrentPerform(iterations: 8) { worker in
      let got = try? index.search(batch: queries, k: 10, parameters: SearchParameters(threads: 1 + worker % 2))
      box.value[worker] = got == expected
    }
    #expect((0..<8).allSatisfy { box.value[$0] })
  }
}
