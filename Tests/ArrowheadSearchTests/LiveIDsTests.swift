import ArrowheadCore
import ArrowheadSearch
import Testing

/// `liveIDs()` lists what `liveVectors()` lists, without the vectors, for both index kinds,
/// through adds, removals and (HNSW) reused slots.
@Suite("Live ids")
struct LiveIDsTests {
  static let dimension = 3

  static func vectors(_ count: Int, from first: Int) -> [Float] {
    (0..<count).flatMap { i in [Float(first + i), Float((first + i) % 7), 1] }
  }

  @Test(arguments: ["flat", "hnsw", "hnsw-reuse"])
  func liveIDsAreTheIDsOfTheLiveVectors(kind: String) throws {
    let index: any VectorIndex
    switch kind {
    case "flat": index = try FlatIndex(dimension: Self.dimension, metric: .squaredL2)
    default:
      index = try HNSWIndex(
        dimension: Self.dimension, metric: .squaredL2,
        parameters: HNSWParameters(m: 4, efConstruction: 16, reuseDeletedSlots: kind == "hnsw-reuse"))
    }
    #expect(index.liveIDs().isEmpty)
    let ids = (0..<40).map { 1_000 - 25 * $0 }
    try index.add(Self.vectors(40, from: 0), ids: ids)
    #expect(index.liveIDs() == ids)
    for id in [ids[0], ids[17], ids[39]] { try index.remove(id) }
    try index.add(Self.vectors(2, from: 50), ids: [-5, -6])
    let listed = index.liveIDs()
    #expect(listed == index.liveVectors().ids)
    #expect(Set(listed) == Set(ids).subtracting([ids[0], ids[17], ids[39]]).union([-5, -6]))
    #expect(listed.count == index.count)
    if kind == "hnsw" {
      #expect(listed == ids.filter { ![ids[0], ids[17], ids[39]].contains($0) } + [-5, -6], "the order of adding")
    }
  }
}

/// A third-party index that implements every requirement but `liveIDs()` (here by delegating
/// to a flat index): it gets the default, the ids of `liveVectors()`.
private final class DelegatingIndex: VectorIndex {
  let inner: FlatIndex
  init(_ inner: FlatIndex) { self.inner = inner }
  var dimension: Int { inner.dimension }
  var metric: Metric { inner.metric }
  var storage: VectorStorage { inner.storage }
  var count: Int { inner.count }
  var memoryUsage: MemoryUsage { inner.memoryUsage }
  func add(_ vectors: UnsafeBufferPointer<Float>, ids: [Int]?) throws(SearchError) -> [Int] { try inner.add(vectors, ids: ids) }
  func remove(_ id: Int) throws(SearchError) { try inner.remove(id) }
  func contains(_ id: Int) -> Bool { inner.contains(id) }
  func vector(for id: Int) throws(SearchError) -> [Float] { try inner.vector(for: id) }
  func liveVectors() -> (ids: [Int], vectors: [Float]) { inner.liveVectors() }
  func search(
    _ queries: UnsafeBufferPointer<Float>, k: Int, parameters: SearchParameters, filter: SearchFilter?
  ) throws(SearchError) -> [SearchResult] {
    try inner.search(queries, k: k, parameters: parameters, filter: filter)
  }
}

@Test func anIndexWithoutItsOwnLiveIDsGetsTheDefault() throws {
  let index = DelegatingIndex(try FlatIndex(dimension: LiveIDsTests.dimension))
  try index.add(LiveIDsTests.vectors(5, from: 0), ids: [9, 7, 5, 3, 1])
  try index.remove(7)
  #expect(index.liveIDs() == index.inner.liveIDs())
  #expect(Set(index.liveIDs()) == [9, 5, 3, 1])
}
