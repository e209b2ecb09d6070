import Arrowhead
import ArrowheadSearch
import Testing

/// The example at the top of Sources/ArrowheadSearch/README.md, verbatim but for the
/// prints turned into expectations: if it stops compiling or its comments lie, this fails.
@Test func readmeExampleRunsAsDocumented() throws {
  let dimension = 4
  let vectors: [Float] = [0, 0, 0, 1,   0, 0, 1, 0,   0, 1, 0, 0,   1, 0, 0, 0]

  // Exact search (ids 0, 1, 2, 3 in insertion order).
  let flat = try FlatIndex(dimension: dimension, metric: .cosine)
  try flat.add(vectors)
  let nearest = try flat.search([0.1, 0, 0, 0.9], k: 2)
  #expect(nearest.ids == [0, 3])

  // Approximate search with explicit ids, a filter, deletion and persistence.
  let hnsw = try HNSWIndex(
    dimension: dimension, metric: .squaredL2, storage: .float32,
    parameters: HNSWParameters(m: 16, efConstruction: 200, efSearch: 64, seed: 7))
  try hnsw.add(vectors, ids: [10, 11, 12, 13])
  let even = try hnsw.search([0, 0, 0.9, 0.1], k: 1, filter: { $0 % 2 == 0 })
  #expect(even.ids == [10])
  try hnsw.remove(10)
  try hnsw.checkInvariants()
  let path = temporaryDirectory() + "/example.ahi"
  try hnsw.save(to: path)
  let loaded = try IndexFile.load(path).index
  #expect(loaded.count == 3)
}
