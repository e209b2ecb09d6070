/// The links of an HNSW graph in two flat blocks of 32-bit words.
///
/// Layer 0, one fixed-size record per slot (`wordsPerNode` = 2 + 2M words):
///
/// | word | content                                                        |
/// |------|----------------------------------------------------------------|
/// | 0    | bits 0–15: layer-0 link count; bits 16–23: the node's top level |
/// | 1    | offset (in words) of its upper-layer block, when level > 0      |
/// | 2…   | 2M layer-0 links (slot numbers)                                |
///
/// Upper layers: a node of level L > 0 owns L consecutive records of 1 + M words
/// (count, then M links) in `upper`, for levels 1 … L. A node's header, count and links
/// share cache lines, and a 50-d float32 index costs 4·d + 8·M + 8 bytes per vector on
/// layer 0 (hnswlib: 4·d + 8·M + 12), plus (1 + M)·4 bytes per upper level (1/(M − 1)
/// upper levels per node on average).
final class HNSWGraph: @unchecked Sendable {
  let m: Int
  let maxM0: Int
  let wordsPerNode: Int
  let wordsPerUpperLevel: Int
  let layer0 = RawBuffer()
  let upper = RawBuffer()
  /// Upper-layer words in use.
  var upperWords = 0
  /// The entry point (UInt32.max while the graph is empty) and its level.
  var entryPoint: UInt32 = .max
  var maxLevel = -1

  static let none = UInt32.max
  /// Levels are capped here (a level above 31 has probability M^−31).
  static let levelCap = 31

  init(m: Int) {
    self.m = m
    self.maxM0 = 2 * m
    self.wordsPerNode = 2 + 2 * m
    self.wordsPerUpperLevel = 1 + m
  }

  var nodeBytes: Int { wordsPerNode * 4 }

  /// Makes room for `slots` nodes and `upperWords` upper words, keeping `used` nodes.
  func reserve(slots: Int, used: Int, upperWords required: Int, exact: Bool, threads: Int = 1) {
    layer0.reserve(slots * nodeBytes, preserving: used * nodeBytes, exact: exact, threads: threads)
    upper.reserve(required * 4, preserving: upperWords * 4, exact: exact, threads: threads)
  }

  func shrink(toFit slots: Int) {
    layer0.shrink(toFit: slots * nodeBytes)
    upper.shrink(toFit: upperWords * 4)
  }

  @inline(__always)
  func node(_ slot: UInt32) -> UnsafeMutablePointer<UInt32> {
    layer0.pointer(UInt32.self) + Int(slot) * wordsPerNode
  }

  @inline(__always)
  func level(_ slot: UInt32) -> Int { Int((node(slot)[0] >> 16) & 0xFF) }

  /// Starts a node with no links; `upperOffset` must point at `level` zeroed records.
  func initialize(_ slot: UInt32, level: Int, upperOffset: Int) {
    let header = node(slot)
    header[0] = UInt32(level) << 16
    header[1] = UInt32(truncatingIfNeeded: upperOffset)
    if level > 0 {
      let block = upper.pointer(UInt32.self) + upperOffset
      for l in 0..<level { block[l * wordsPerUpperLevel] = 0 }
    }
  }

  /// Appends zeroed upper records for a node of `level`; returns their offset.
  func allocateUpper(level: Int) -> Int {
    let offset = upperWords
    upperWords += level * wordsPerUpperLevel
    return offset
  }

  /// The links of `slot` at `level` and their count (no locking: the caller holds the
  /// node's lock while other threads may write).
  @inline(__always)
  func links(_ slot: UInt32, _ level: Int) -> (links: UnsafeMutablePointer<UInt32>, count: Int) {
    let header = node(slot)
    if level == 0 { return (header + 2, Int(header[0] & 0xFFFF)) }
    let block = upper.pointer(UInt32.self) + Int(header[1]) + (level - 1) * wordsPerUpperLevel
    return (block + 1, Int(block[0]))
  }

  /// Sets the link count of `slot` at `level`.
  @inline(__always)
  func setCount(_ slot: UInt32, _ level: Int, _ count: Int) {
    let header = node(slot)
    if level == 0 {
      header[0] = (header[0] & 0xFFFF_0000) | UInt32(count)
    } else {
      upper.pointer(UInt32.self)[Int(header[1]) + (level - 1) * wordsPerUpperLevel] = UInt32(count)
    }
  }

  /// The largest link count allowed at `level`: 2M on layer 0, M above.
  @inline(__always)
  func capacity(_ level: Int) -> Int { level == 0 ? maxM0 : m }
}

/// A set of deleted slots, one bit each.
struct DeletedSet {
  let words = RawBuffer()

  func reserve(slots: Int, used: Int, exact: Bool) {
    let old = (used + 63) / 64 * 8
    let needed = (slots + 63) / 64 * 8
    if needed > words.capacity {
      words.reserve(needed, preserving: old, exact: exact)
    }
    // Zero the words past the used ones.
    let base = words.pointer(UInt64.self)
    for w in (used + 63) / 64..<(words.capacity / 8) { base[w] = 0 }
    if used % 64 != 0 {
      base[used / 64] &= (1 << UInt64(used % 64)) - 1
    }
  }

  @inline(__always)
  func contains(_ slot: UInt32) -> Bool {
    words.pointer(UInt64.self)[Int(slot) >> 6] & (1 << UInt64(slot & 63)) != 0
  }

  @inline(__always)
  func insert(_ slot: UInt32) { words.pointer(UInt64.self)[Int(slot) >> 6] |= 1 << UInt64(slot & 63) }

  @inline(__always)
  func remove(_ slot: UInt32) { words.pointer(UInt64.self)[Int(slot) >> 6] &= ~(1 << UInt64(slot & 63)) }
}

/// Candidate keys: the distance mapped to an order-preserving UInt32 in the high half,
/// the slot in the low half. One UInt64 comparison orders by (distance, slot).
enum CandidateKey {
  @inline(__always)
  static func make(_ distance: Float, _ slot: UInt32) -> UInt64 {
    let bits = distance.bitPattern
    let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    return UInt64(ordered) << 32 | UInt64(slot)
  }

  @inline(__always)
  static func slot(_ key: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: key) }

  @inline(__always)
  static func distance(_ key: UInt64) -> Float {
    let ordered = UInt32(truncatingIfNeeded: key >> 32)
    return Float(bitPattern: ordered & 0x8000_0000 != 0 ? ordered & 0x7FFF_FFFF : ~ordered)
  }
}

/// A binary min-heap of UInt64 keys on raw memory (grows by doubling). A max-heap is the
/// same heap fed with `~key`.
struct KeyHeap {
  private(set) var storage: UnsafeMutablePointer<UInt64>
  private(set) var capacity: Int
  private(set) var count = 0

  init(capacity: Int) {
    self.capacity = max(capacity, 16)
    storage = .allocate(capacity: self.capacity)
  }

  func deallocate() { storage.deallocate() }

  @inline(__always) var isEmpty: Bool { count == 0 }
  @inline(__always) var top: UInt64 { storage[0] }
  /// The key `pop()` would leave on top (the smaller of the top's children); nil with
  /// fewer than two keys.
  @inline(__always) var second: UInt64? {
    count < 2 ? nil : (count == 2 ? storage[1] : Swift.min(storage[1], storage[2]))
  }

  @inline(__always) mutating func clear() { count = 0 }

  @inline(__always)
  mutating func push(_ key: UInt64) {
    if count == capacity { grow() }
    var index = count
    count += 1
    while index > 0 {
      let parent = (index - 1) >> 1
      let parentKey = storage[parent]
      if parentKey <= key { break }
      storage[index] = parentKey
      index = parent
    }
    storage[index] = key
  }

  @inline(__always)
  @discardableResult
  mutating func pop() -> UInt64 {
    let result = storage[0]
    count -= 1
    if count > 0 { siftDown(storage[count]) }
    return result
  }

  /// Replaces the top with `key` (pop + push in one sift).
  @inline(__always)
  mutating func replaceTop(_ key: UInt64) { siftDown(key) }

  @inline(__always)
  private mutating func siftDown(_ key: UInt64) {
    var index = 0
    let half = count >> 1
    while index < half {
      var child = 2 * index + 1
      var childKey = storage[child]
      let right = child + 1
      if right < count, storage[right] < childKey {
        child = right
        childKey = storage[right]
      }
      if key <= childKey { break }
      storage[index] = childKey
      index = child
    }
    storage[index] = key
  }

  private mutating func grow() {
    let fresh = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity * 2)
    fresh.update(from: storage, count: count)
    storage.deallocate()
    storage = fresh
    capacity *= 2
  }

  /// The keys in heap order (unsorted).
  var unordered: UnsafeBufferPointer<UInt64> { UnsafeBufferPointer(start: storage, count: count) }
}

/// Per-thread working memory of graph searches: a visited set (one bit per slot, cleared
/// after each search word by word for the nodes it visited only), the two heaps and float
/// scratch for query transforms and decoded vectors. Reused across searches through
/// `ScratchPool`.
final class SearchScratch {
  /// One bit per slot; all zero between searches.
  private(set) var visitedBits: UnsafeMutablePointer<UInt64>
  /// Words of `visitedBits`.
  private(set) var visitedWords: Int
  /// The nodes the current search marked (their words are zeroed by `endSearch`).
  private(set) var visitedLog: UnsafeMutablePointer<UInt32>
  private(set) var visitedLogCapacity: Int
  var visitedLogCount = 0
  var candidates = KeyHeap(capacity: 256)
  var results = KeyHeap(capacity: 256)
  /// Query transform (2·d), decoded vectors (several rows of d), link copies.
  let floats: UnsafeMutablePointer<Float>
  let dimension: Int
  let rows: Int
  let linkCopy: UnsafeMutablePointer<UInt32>
  /// Unvisited neighbours of the node being expanded.
  let pending: UnsafeMutablePointer<UInt32>
  /// Their distances, from one batched kernel call.
  let pendingDistances: UnsafeMutablePointer<Float>
  /// Sorted candidate keys (results of a layer search, or a node's links with distances).
  private(set) var keys: UnsafeMutablePointer<UInt64>
  private(set) var keyCapacity: Int
  var keyCount = 0
  /// Neighbours chosen for the node being inserted, and for a neighbour being pruned.
  let chosen: UnsafeMutablePointer<UInt32>
  var chosenCount = 0
  /// Nodes that `prune` removed from some layer-0 list since the last `takeDropped()`: the
  /// only old nodes an insertion can make harder to find (see `ensureFindable`).
  var dropped: [UInt32] = []
  /// Reads, while building, of a layer-0 list that was empty (see
  /// `HNSWIndex.lastBuildEmptyLayer0Reads`).
  var emptyLayer0Reads = 0
  let pruned: UnsafeMutablePointer<UInt32>
  /// Vectors of the neighbours kept so far by the selection heuristic.
  let kept: UnsafeMutablePointer<UnsafePointer<Float>>
  /// Distances from the base node to `chosen`, to `pruned`, and to a merged link list.
  let chosenDistances: UnsafeMutablePointer<Float>
  let prunedDistances: UnsafeMutablePointer<Float>
  let mergedDistances: UnsafeMutablePointer<Float>
  /// Slots and exact distances of a re-ranked layer search (see `reserveRerank`).
  private(set) var rerankSlots: UnsafeMutablePointer<UInt32>
  private(set) var rerankDistances: UnsafeMutablePointer<Float>
  private var rerankCapacity = 256
  /// An integer query (`SQ8WalkSpace`), `dimension` values.
  let integerQuery: UnsafeMutablePointer<Int16>

  init(slots: Int, dimension: Int, maxLinks: Int) {
    visitedWords = (max(slots, 1024) + 63) / 64
    visitedBits = .allocate(capacity: visitedWords)
    visitedBits.initialize(repeating: 0, count: visitedWords)
    visitedLogCapacity = 4096
    visitedLog = .allocate(capacity: visitedLogCapacity)
    self.dimension = dimension
    rows = maxLinks + 8
    floats = .allocate(capacity: rows * dimension)
    linkCopy = .allocate(capacity: maxLinks + 1)
    pending = .allocate(capacity: maxLinks + 1)
    pendingDistances = .allocate(capacity: maxLinks + 1)
    keyCapacity = 256
    keys = .allocate(capacity: keyCapacity)
    chosen = .allocate(capacity: maxLinks + 1)
    pruned = .allocate(capacity: maxLinks + 1)
    kept = .allocate(capacity: maxLinks + 1)
    rerankSlots = .allocate(capacity: rerankCapacity)
    rerankDistances = .allocate(capacity: rerankCapacity)
    chosenDistances = .allocate(capacity: maxLinks + 1)
    prunedDistances = .allocate(capacity: maxLinks + 1)
    mergedDistances = .allocate(capacity: maxLinks + 1)
    integerQuery = .allocate(capacity: max(dimension, 1))
  }

  /// Makes room for `count` re-ranked results (contents are not kept).
  func reserveRerank(_ count: Int) {
    guard count > rerankCapacity else { return }
    rerankSlots.deallocate()
    rerankDistances.deallocate()
    rerankCapacity = max(count, rerankCapacity * 2)
    rerankSlots = .allocate(capacity: rerankCapacity)
    rerankDistances = .allocate(capacity: rerankCapacity)
  }

  deinit {
    visitedBits.deallocate()
    visitedLog.deallocate()
    floats.deallocate()
    linkCopy.deallocate()
    pending.deallocate()
    pendingDistances.deallocate()
    keys.deallocate()
    chosen.deallocate()
    pruned.deallocate()
    kept.deallocate()
    rerankSlots.deallocate()
    rerankDistances.deallocate()
    chosenDistances.deallocate()
    prunedDistances.deallocate()
    mergedDistances.deallocate()
    integerQuery.deallocate()
    candidates.deallocate()
    results.deallocate()
  }

  /// Makes room for `count` keys (contents are not kept).
  func reserveKeys(_ count: Int) {
    guard count > keyCapacity else { return }
    keys.deallocate()
    keyCapacity = max(count, keyCapacity * 2)
    keys = .allocate(capacity: keyCapacity)
  }

  /// Float row `index` of the scratch (0: query transform, 2 rows; others free).
  @inline(__always)
  func row(_ index: Int) -> UnsafeMutablePointer<Float> { floats + index * dimension }

  /// Starts a new search over `slots` slots (every slot is unvisited between searches).
  ///
  /// A bit per slot keeps the set small enough to stay in L1 for indexes up to a few
  /// hundred thousand vectors (400 000 slots: 50 KB, against 800 KB for 16-bit
  /// generation marks, whose loads missed L1 on every visited neighbour: perf put a third
  /// of a GloVe build's walk on them). Nothing is cleared per search beyond the words of
  /// the nodes it visited (`endSearch`), about one store per distance computed.
  func beginSearch(slots: Int) {
    let words = (slots + 63) / 64
    if words > visitedWords {
      visitedBits.deallocate()
      visitedWords = max(words, visitedWords * 3 / 2)
      visitedBits = .allocate(capacity: visitedWords)
      visitedBits.initialize(repeating: 0, count: visitedWords)
    }
    visitedLogCount = 0
  }

  /// Makes room for `count` more logged nodes.
  @inline(__always)
  func reserveVisitedLog(_ count: Int) {
    guard visitedLogCount + count > visitedLogCapacity else { return }
    let grown = UnsafeMutablePointer<UInt32>.allocate(capacity: max(visitedLogCount + count, visitedLogCapacity * 2))
    grown.update(from: visitedLog, count: visitedLogCount)
    visitedLog.deallocate()
    visitedLog = grown
    visitedLogCapacity = max(visitedLogCount + count, visitedLogCapacity * 2)
  }

  /// Clears the bits the search set: the whole word of each logged node (every set bit
  /// belongs to a logged node).
  func endSearch() {
    for i in 0..<visitedLogCount { visitedBits[Int(visitedLog[i] >> 6)] = 0 }
    visitedLogCount = 0
  }
}

/// Scratch objects for concurrent searches, handed out one per thread.
final class ScratchPool: @unchecked Sendable {
  private let mutex = PlainMutex()
  private var free: [SearchScratch] = []
  let dimension: Int
  let maxLinks: Int

  init(dimension: Int, maxLinks: Int) {
    self.dimension = dimension
    self.maxLinks = maxLinks
  }

  func take(slots: Int) -> SearchScratch {
    if let scratch = mutex.locked({ free.popLast() }) { return scratch }
    return SearchScratch(slots: slots, dimension: dimension, maxLinks: maxLinks)
  }

  func give(_ scratch: SearchScratch) {
    mutex.locked { if free.count < 64 { free.append(scratch) } }
  }
}
