import HeapModule

/// A candidate in a top-k selection: smaller `distance` is nearer; equal distances are
/// ordered by `id`, so the selection is a deterministic function of the data.
struct RankedCandidate: Comparable, Sendable {
  var distance: Float
  var id: Int
  /// Where the candidate lives (slot), for re-ranking.
  var slot: Int

  @inline(__always)
  static func < (lhs: RankedCandidate, rhs: RankedCandidate) -> Bool {
    lhs.distance < rhs.distance || (lhs.distance == rhs.distance && lhs.id < rhs.id)
  }

  @inline(__always)
  static func == (lhs: RankedCandidate, rhs: RankedCandidate) -> Bool {
    lhs.distance == rhs.distance && lhs.id == rhs.id
  }
}

/// Keeps the `k` best candidates seen so far in a bounded heap (swift-collections' min-max
/// `Heap`, used as a max-heap of the kept set). O(log k) per accepted candidate; the
/// scanning loop first compares against `threshold`, so most candidates cost one
/// comparison.
struct TopKCollector: Sendable {
  let k: Int
  private(set) var heap = Heap<RankedCandidate>()

  init(k: Int) {
    self.k = k
    heap.reserveCapacity(k + 1)
  }

  /// The distance a candidate must not exceed to enter (+∞ until k are kept).
  @inline(__always)
  var threshold: Float { heap.count < k ? .infinity : heap.max!.distance }

  var count: Int { heap.count }

  /// Offers a candidate; kept if fewer than k are kept or it beats the worst.
  @inline(__always)
  mutating func offer(_ candidate: RankedCandidate) {
    if heap.count < k {
      heap.insert(candidate)
    } else if candidate < heap.max! {
      heap.replaceMax(with: candidate)
    }
  }

  /// The kept candidates, nearest first.
  func sorted() -> [RankedCandidate] {
    heap.unordered.sorted()
  }

  /// Adds all of `other`'s candidates.
  mutating func merge(_ other: TopKCollector) {
    for candidate in other.heap.unordered { offer(candidate) }
  }
}
