import Arrowhead
import Testing
@testable import ArrowheadSearch

/// SplitMix64: a tiny, seedable generator so that every test's data is reproducible.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// `count` vectors with small integer coordinates in −range…range: every distance and
/// dot product below 2^24 is computed exactly in Float32 by any summation order, so the
/// engine's gemm-based distances equal the brute-force ones bit for bit and ties are real.
func integerVectors(count: Int, dimension: Int, range: Int = 3, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count * dimension).map { _ in Float(Int.random(in: -range...range, using: &generator)) }
}

/// `count` Gaussian-ish float vectors (sum of uniforms), clustered around `clusters`
/// centres so that neighbourhoods are meaningful, like real embeddings.
func clusteredVectors(count: Int, dimension: Int, clusters: Int = 20, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  let centres = (0..<clusters * dimension).map { _ in Float.random(in: -1...1, using: &generator) }
  var out = [Float](repeating: 0, count: count * dimension)
  for row in 0..<count {
    let centre = Int.random(in: 0..<clusters, using: &generator)
    for j in 0..<dimension {
      let noise = (0..<3).reduce(Float(0)) { sum, _ in sum + Float.random(in: -0.25...0.25, using: &generator) }
      out[row * dimension + j] = centres[centre * dimension + j] + noise
    }
  }
  return out
}

/// The exact k nearest (ids 0…n−1 in row order unless `ids` given), computed in Double
/// with a full sort; ties broken by the lower id. Returns (id, score) with the metric's
/// raw score.
func bruteForce(
  base: [Float], ids: [Int]? = nil, query: [Float], dimension: Int, metric: Metric, k: Int,
  filter: ((Int) -> Bool)? = nil
) -> [(id: Int, score: Double)] {
  let count = base.count / dimension
  func norm(_ v: ArraySlice<Float>) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
  let qn = norm(query[...])
  var scored: [(id: Int, score: Double, key: Double)] = []
  for row in 0..<count {
    let id = ids?[row] ?? row
    if let filter, !filter(id) { continue }
    let x = base[row * dimension..<(row + 1) * dimension]
    var value = 0.0
    switch metric {
    case .squaredL2:
      for (a, b) in zip(query, x) { value += (Double(a) - Double(b)) * (Double(a) - Double(b)) }
    case .innerProduct:
      for (a, b) in zip(query, x) { value += Double(a) * Double(b) }
    case .cosine:
      for (a, b) in zip(query, x) { value += Double(a) * Double(b) }
      let denominator = qn * norm(x)
      value = denominator > 0 ? value / denominator : 0
    }
    scored.append((id, value, metric == .squaredL2 ? value : -value))
  }
  scored.sort { $0.key < $1.key || ($0.key == $1.key && $0.id < $1.id) }
  return scored.prefix(k).map { ($0.id, $0.score) }
}

/// Checks that `result` is a valid top-k within `tolerance`: at each rank its score is
/// within `tolerance` of the exact score at that rank, and each returned id's own exact
/// score (recomputed in Double) is too. Tied neighbours may then appear in either order.
func expectValidTopK(
  _ result: SearchResult, exact: [(id: Int, score: Double)], base: [Float], query: [Float], dimension: Int,
  metric: Metric, tolerance: Double, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(result.neighbors.count == exact.count, sourceLocation: sourceLocation)
  let all = bruteForce(base: base, query: query, dimension: dimension, metric: metric, k: base.count / dimension)
  let scoreOf = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.score) })
  for (rank, neighbor) in result.neighbors.enumerated() where rank < exact.count {
    #expect(abs(Double(neighbor.score) - exact[rank].score) <= tolerance, "rank \(rank)", sourceLocation: sourceLocation)
    #expect(abs((scoreOf[neighbor.id] ?? .nan) - exact[rank].score) <= tolerance, "rank \(rank) id \(neighbor.id)", sourceLocation: sourceLocation)
  }
  #expect(Set(result.ids).count == result.ids.count, "no duplicate ids", sourceLocation: sourceLocation)
}

/// Mean recall@k of `results` against exact neighbour id lists.
func recall(_ results: [SearchResult], truth: [[Int]], k: Int) -> Double {
  var hits = 0
  for (result, exact) in zip(results, truth) {
    hits += Set(result.ids.prefix(k)).intersection(exact.prefix(k)).count
  }
  return Double(hits) / Double(results.count * k)
}

/// A fresh temporary directory.
func temporaryDirectory() -> String {
  var template = Array("/tmp/arrowhead-search-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return String(cString: path!)
}

#if canImport(Glibc)
import Glibc
#endif
