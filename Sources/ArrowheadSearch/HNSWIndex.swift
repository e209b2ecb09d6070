import ArrowheadCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An approximate nearest-neighbour index: a Hierarchical Navigable Small World graph
/// (Malkov & Yashunin 2016; the design of hnswlib, re-implemented in Swift).
///
/// Every vector is a node with links to near neighbours on layer 0 (up to 2·M) and, with
/// probability M^−l, on layers 1 … l (up to M). A search descends greedily from the top
/// layer and finishes with a best-first search of layer 0 keeping `efSearch` candidates;
/// recall rises and speed falls with `efSearch`.
///
/// - Incremental: `add` grows the index with no declared capacity, in parallel over
///   `buildThreads` workers (per-node spin locks, hnswlib's scheme).
/// - Deletion: `remove` marks a tombstone; searches walk through deleted nodes but never
///   return them. Slots are reclaimed by `add` when `reuseDeletedSlots` is set (the slot
///   is re-linked and its old neighbours repaired) or by `compacted()`, which rebuilds.
/// - Filtering: a `SearchFilter` is applied inside the layer-0 search, so a filter that
///   keeps 10 % of the ids still returns k results (walking further), not k/10.
/// - Determinism: levels come from `seed` and the insertion number; on one build
///   thread the graph is a deterministic function of the data and parameters. On more
///   threads, links depend on the interleaving (search results stay of the same quality).
/// - Concurrency: searches may run concurrently from any threads; mutations wait for them.
///
/// Memory: 4·d (float32) or d (int8) or ⌈d/2⌉ (int4) bytes per vector, plus 8·M + 8
/// bytes of layer-0 links and header, plus ≈ 4·(M + 1)/(M − 1) bytes of upper links, plus
/// ids only when they are not 0, 1, 2, … in insertion order.
///
/// ```swift
/// let index = try HNSWIndex(dimension: 50, metric: .cosine,
///                           parameters: HNSWParameters(m: 16, efConstruction: 200))
/// try index.add(vectors)
/// let result = try index.search(query, k: 10, parameters: SearchParameters(efSearch: 128))
/// try index.remove(result.ids[0])
/// ```
public final class HNSWIndex: VectorIndex, @unchecked Sendable {
  /// Values per vector.
  public let dimension: Int
  /// The metric searches rank by.
  public let metric: Metric
  /// How vectors are stored.
  public let storage: VectorStorage
  /// The graph parameters.
  public let parameters: HNSWParameters
  /// The engine (thread count for builds and batch searches, quantization kernels).
  public let engine: Engine

  let store: VectorStore
  let graph: HNSWGraph
  let deleted = DeletedSet()
  var deletedCount = 0
  var freeSlots: [UInt32] = []
  var slots = 0
  var ids = IDTable()
  /// Insertions so far (the level generator's counter).
  var insertions: UInt64 = 0
  let lock = ReadWriteLock()
  let pool: ScratchPool
  /// How often the last `add`'s insertion searches read an empty layer-0 list. A node is
  /// reachable on layer 0 only once its own list is written, so the only such reads are
  /// of the first node, before anything links to it: at most one per build thread. More
  /// would mean a search entered a node still being inserted (see `HNSWWorker.link`).
  /// Guarded by `lock`; for tests.
  var lastBuildEmptyLayer0Reads = 0
  /// Whether `add` prunes full layer-0 lists incrementally (same graph, fewer distances;
  /// false only in tests that check exactly that).
  var incrementalPruning = true
  /// The dimension from which Float32 builds walk their insertion searches on SQ8 codes
  /// (see `traversalCodes`): 128, where a row is two or more cache lines and the walk is
  /// bound by fetching them (tests lower it to cover the path, or raise it to turn it off).
  var coarseWalkDimension = 128
  /// The threads `add` runs on: `parameters.buildThreads` or the engine's, at most the
  /// logical cores this process may run on. Inserting workers take per-node spin locks, so
  /// threads beyond the cores only wait for descheduled holders: 20 000 × 64 on 2 cores took
  /// 1.22 s with 2 threads, 1.51 s with 4, 2.61 s with 16 and 6.51 s with 256.
  var buildThreads: Int {
    min(Parallel.clampedThreads(parameters.buildThreads ?? engine.effectiveThreads), CPUInfo.current.logicalCores)
  }
  /// Whether Float32 builds keep the distances from each node to its layer-0 links
  /// (`HNSWWorker.linkDistances`: same graph, fewer distances; false only in tests that
  /// check exactly that) when an `add` links at least a quarter of the slots (the table
  /// costs O(slots) to set up).
  var cachedLinkDistances = true

  /// Creates an empty index. Throws for a dimension outside 1 … 65 536 or invalid
  /// parameters (see `HNSWParameters.validate`).
  public init(
    dimension: Int, metric: Metric = .squaredL2, storage: VectorStorage = .float32,
    parameters: HNSWParameters = HNSWParameters(), engine: Engine = .default
  ) throws(SearchError) {
    guard dimension >= 1, dimension <= 1 << 16 else {
      throw .invalidParameter(name: "dimension", value: "\(dimension)", expected: "1 … 65536")
    }
    try parameters.validate()
    self.dimension = dimension
    self.metric = metric
    self.storage = storage
    self.parameters = parameters
    self.engine = engine
    self.store = VectorStore(dimension: dimension, storage: storage, metric: metric, engine: engine)
    self.graph = HNSWGraph(m: parameters.m)
    self.pool = ScratchPool(dimension: dimension, maxLinks: 2 * parameters.m)
  }

  /// Live vectors.
  public var count: Int { lock.reading { slots - deletedCount } }

  /// Slots in use, live or deleted.
  public var slotCount: Int { lock.reading { slots } }

  /// Removed vectors whose slots are not reclaimed yet.
  public var deletedSlotCount: Int { lock.reading { deletedCount } }

  /// The trained quantizer (quantized storage after the first add), else nil.
  public var quantizer: ScalarQuantizer? { lock.reading { store.quantizer } }

  /// Bytes held, by part.
  public var memoryUsage: MemoryUsage {
    lock.reading {
      var usage = store.usage(slots: slots)
      usage.structureBytes = graph.layer0.capacity + graph.upper.capacity + deleted.words.capacity + freeSlots.capacity * 4
      usage.idBytes = ids.bytes
      usage.mappedBytes += (graph.layer0.isMapped ? graph.layer0.capacity : 0) + (graph.upper.isMapped ? graph.upper.capacity : 0)
      return usage
    }
  }

  /// Adds vectors; see `add(_:ids:progress:)`.
  @discardableResult
  public func add(_ vectors: UnsafeBufferPointer<Float>, ids given: [Int]?) throws(SearchError) -> [Int] {
    try add(vectors, ids: given, progress: nil)
  }

  /// Adds `vectors` (row-major) with `ids` (nil: automatic) on `parameters.buildThreads`
  /// threads, calling `progress(n)` from worker threads as n more vectors are linked.
  /// Validates everything first: on a throw the index is unchanged. Cost ≈ O(n · efC ·
  /// log n) distance computations, plus one reachability check of the whole graph
  /// (`repairReachability()`: every live vector stays findable).
  @discardableResult
  public func add(
    _ vectors: UnsafeBufferPointer<Float>, ids given: [Int]?, progress: (@Sendable (Int) -> Void)?
  ) throws(SearchError) -> [Int] {
    try lock.writing { () throws(SearchError) -> [Int] in
      let rows = try Validation.rows(vectors, dimension: dimension, argument: "vectors")
      if rows == 0 {
        if let given, !given.isEmpty { throw .idCountMismatch(vectors: 0, ids: given.count) }
        return []
      }
      try Validation.requireFinite(vectors, dimension: dimension, argument: "vectors")
      try Validation.requireRepresentableDistances(vectors, dimension: dimension, metric: metric, argument: "vectors", kernels: store.kernels)
      let slotCount = slots
      let deletedSet = deleted
      let assigned = try ids.resolve(
        given, count: rows, slotCount: slotCount, isLive: { $0 < slotCount && !deletedSet.contains(UInt32($0)) })
      let reuse = parameters.reuseDeletedSlots ? min(freeSlots.count, rows) : 0
      let fresh = rows - reuse
      guard slots + fresh < Int(UInt32.max) else {
        throw .capacityExceeded(requested: slots + fresh, maximum: Int(UInt32.max) - 1)
      }
      let prepared = metric == .cosine ? Validation.prepared(vectors, dimension: dimension, metric: metric, kernels: store.kernels) : Array(vectors)
      try prepared.withUnsafeBufferPointer { (buffer) throws(SearchError) in
        try store.trainIfNeeded(buffer)
        try insert(buffer.baseAddress!, rows: rows, reuse: reuse, ids: assigned, progress: progress)
      }
      return assigned
    }
  }

  /// The level of the `ordinal`-th insertion: ⌊−ln(u)/ln(M)⌋ with u uniform in (0, 1]
  /// from SplitMix64(seed, ordinal), capped at 31.
  static func level(seed: UInt64, ordinal: UInt64, multiplier: Double) -> Int {
    var z = seed &+ (ordinal &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    let u = Double((z >> 11) + 1) * 0x1p-53
    return min(Int(-log(u) * multiplier), HNSWGraph.levelCap)
  }

  private func insert(
    _ vectors: UnsafePointer<Float>, rows: Int, reuse: Int, ids assigned: [Int], progress: (@Sendable (Int) -> Void)?
  ) throws(SearchError) {
    let fresh = rows - reuse
    let first = slots
    let multiplier = parameters.levelMultiplier
    // Levels of the new slots first, so that upper-layer memory is reserved up front and
    // no buffer grows while workers run.
    let levels = (0..<fresh).map { Self.level(seed: parameters.seed, ordinal: insertions + UInt64(reuse + $0), multiplier: multiplier) }
    let upperNeeded = levels.reduce(0) { $0 + $1 * graph.wordsPerUpperLevel }
    let exact = slots == 0
    // Fresh memory is zeroed on the build's threads (the first touch of pages is costly).
    let threads = buildThreads
    store.reserve(slots: first + fresh, used: first, exact: exact, threads: threads)
    graph.reserve(slots: first + fresh, used: first, upperWords: graph.upperWords + upperNeeded, exact: exact, threads: threads)
    deleted.reserve(slots: first + fresh, used: first, exact: exact)

    try EncodeKernels.with(engine, dimension: dimension) { (kernels) throws(SearchError) in
      for i in 0..<fresh {
        let slot = first + i
        store.store(vectors + (reuse + i) * dimension, at: slot, kernels: kernels)
        graph.initialize(UInt32(slot), level: levels[i], upperOffset: graph.allocateUpper(level: levels[i]))
        ids.assign(assigned[reuse + i], to: slot, slotCount: slot)
      }
      // Reused slots: store the new vectors now, relink below.
      var reused: [UInt32] = []
      for i in 0..<reuse {
        let slot = freeSlots.removeLast()
        reused.append(slot)
        store.store(vectors + i * dimension, at: Int(slot), kernels: kernels)
        deleted.remove(slot)
        deletedCount -= 1
        ids.assign(assigned[i], to: Int(slot), slotCount: first + fresh)
      }
      slots = first + fresh
      insertions += UInt64(rows)
      let dropped = link(vectors, reused: reused, freshFrom: first, freshCount: fresh, progress: progress)
      // Pruning (and, on several threads, late reciprocal links) can orphan nodes or leave
      // new ones hard to find: check the new nodes and those pruned out of some list.
      var touched = Set(dropped)
      touched.formUnion(reused)
      touched.formUnion((first..<(first + fresh)).map { UInt32($0) })
      repairReachabilityLocked(added: touched.sorted())
    }
  }

  /// Links reused slots (serially) and fresh slots (in parallel) into the graph; returns
  /// the nodes that pruning removed from some layer-0 list (with repeats).
  private func link(
    _ vectors: UnsafePointer<Float>, reused: [UInt32], freshFrom first: Int, freshCount: Int,
    progress: (@Sendable (Int) -> Void)?
  ) -> [UInt32] {
    switch storage.encoding {
    case .float32:
      let codes = traversalCodes(linking: reused.count + freshCount)
      return withExtendedLifetime(codes) {
        link(
          Float32Space(store), vectors, reused: reused, freshFrom: first, freshCount: freshCount,
          coarse: codes.map { SQ8WalkSpace($0) },
          cachesDistances: cachedLinkDistances && 4 * (reused.count + freshCount) >= slots, progress: progress)
      }
    case .int8: return link(SQ8Space(store), vectors, reused: reused, freshFrom: first, freshCount: freshCount, progress: progress)
    case .int4: return link(SQ4Space(store), vectors, reused: reused, freshFrom: first, freshCount: freshCount, progress: progress)
    }
  }

  /// SQ8 codes of every slot, for the insertion searches of a Float32 build to walk on
  /// (`HNSWWorker.coarse`), or nil where they would not pay: below `coarseWalkDimension`
  /// dimensions, or when the nodes to link are fewer than a quarter of the slots (the
  /// codes cost O(slots·d) to make). Trained on the stored vectors (min/max per
  /// dimension); freed when the add ends.
  func traversalCodes(linking count: Int) -> TraversalCodes? {
    guard storage.encoding == .float32, dimension >= coarseWalkDimension, count >= 1024, 4 * count >= slots else {
      return nil
    }
    let codes = VectorStore(dimension: dimension, storage: .int8, metric: store.internalMetric, engine: engine)
    let floats = UncheckedSendableBox(UnsafePointer(store.floats.pointer(Float.self)))
    let threads = min(buildThreads, slots)
    do {
      try codes.trainIfNeeded(UnsafeBufferPointer(start: floats.value, count: slots * dimension))
      codes.reserve(slots: slots, used: 0, exact: true, threads: threads)
      // Encoded on the build's threads, worker w taking the w-th contiguous block of slots
      // with its own kernel scratch (disjoint rows, so nothing is shared but the codes).
      let failed = UncheckedSendableBox(UnsafeMutablePointer<Bool>.allocate(capacity: threads))
      failed.value.initialize(repeating: false, count: threads)
      defer { failed.value.deallocate() }
      let dimension = dimension, engine = engine, slots = slots
      let block = (slots + threads - 1) / threads
      Parallel.forEach(threads, threads: threads) { w in
        do {
          try EncodeKernels.with(engine, dimension: dimension) { kernels in
            for slot in min(slots, w * block)..<min(slots, (w + 1) * block) {
              codes.store(floats.value + slot * dimension, at: slot, kernels: kernels)
            }
          }
        } catch {
          failed.value[w] = true  // `with` throws only what its body throws; kept for the signature
        }
      }
      guard !(0..<threads).contains(where: { failed.value[$0] }) else { return nil }
      return TraversalCodes(codes, slots: slots)
    } catch {
      return nil  // training fails only on non-finite input, which `add` rejected
    }
  }


  private func link<Space: DistanceSpace>(
    _ space: Space, _ vectors: UnsafePointer<Float>, reused: [UInt32], freshFrom first: Int, freshCount: Int,
    coarse: SQ8WalkSpace? = nil, cachesDistances: Bool = false, progress: (@Sendable (Int) -> Void)?
  ) -> [UInt32] {
    let dropped = DroppedNodes()
    let locks = StripedLocks()
    defer { withExtendedLifetime(locks) {} }  // the workers hold its `stripes`
    // How much of each layer-0 list a prune chose (see `HNSWWorker.pruneLayer0`); nothing
    // is known of lists made before this call.
    let prunedLists = UnsafeMutablePointer<UInt16>.allocate(capacity: max(slots, 1))
    prunedLists.initialize(repeating: 0, count: max(slots, 1))
    defer { prunedLists.deallocate() }
    // Distances from each node to its layer-0 links (`HNSWWorker.linkDistances`; 8·M bytes
    // per slot while linking), unknown for lists made before this call.
    let distanceCount = cachesDistances ? slots * graph.capacity(0) : 0
    let linkDistances = cachesDistances ? UnsafeMutablePointer<Float>.allocate(capacity: distanceCount) : nil
    linkDistances?.initialize(repeating: .nan, count: distanceCount)
    defer { linkDistances?.deallocate() }
    let worker = HNSWWorker(
      space: space, graph: graph, slots: slots, locks: locks.stripes, parameters: parameters,
      prunedLists: incrementalPruning ? prunedLists : nil, coarse: coarse, linkDistances: linkDistances)
    let entryState = EntryState(entry: graph.entryPoint, level: graph.maxLevel)
    defer {
      let (entry, level) = entryState.current
      graph.entryPoint = entry
      graph.maxLevel = level
    }
    let explicitIDs = ids.explicit
    let deletedWords = deletedCount > 0 ? UnsafePointer(deleted.words.pointer(UInt64.self)) : nil
    withExtendedLifetime(explicitIDs) {
      let accept = Acceptance(deleted: deletedWords, ids: nil, filter: nil)
      let scratch = pool.take(slots: slots)
      for (i, slot) in reused.enumerated() {
        worker.relink(slot, vector: vectors + i * dimension, entryState: entryState, accept: accept, scratch)
      }
      if !reused.isEmpty { progress?(reused.count) }
      var start = 0
      if freshCount > 0 && entryState.current.entry == HNSWGraph.none {
        entryState.offer(UInt32(first), level: graph.level(UInt32(first)))
        start = 1
        progress?(1)
      }
      let remaining = freshCount - start
      let threads = max(1, min(buildThreads, remaining))
      let offset = reused.count
      if threads == 1 {
        var done = 0
        for i in start..<freshCount {
          let slot = UInt32(first + i)
          worker.insert(
            slot, level: graph.level(slot), vector: vectors + (offset + i) * dimension, entryState: entryState,
            accept: accept, scratch)
          done += 1
          if done == 1024 {
            progress?(done)
            done = 0
          }
        }
        if done > 0 { progress?(done) }
        dropped.take(from: scratch)
        pool.give(scratch)
        return
      }
      dropped.take(from: scratch)
      pool.give(scratch)
      let vectorBox = UncheckedSendableBox(vectors)
      Parallel.forEach(threads, threads: threads) { w in
        let scratch = pool.take(slots: slots)
        var done = 0
        var i = start + w
        while i < freshCount {
          let slot = UInt32(first + i)
          worker.insert(
            slot, level: graph.level(slot), vector: vectorBox.value + (offset + i) * dimension,
            entryState: entryState, accept: accept, scratch)
          done += 1
          if done == 256 {
            progress?(done)
            done = 0
          }
          i += threads
        }
        if done > 0 { progress?(done) }
        dropped.take(from: scratch)
        pool.give(scratch)
      }
    }
    lastBuildEmptyLayer0Reads = dropped.emptyLayer0Reads
    return dropped.nodes
  }

  /// Marks the vector with `id` deleted (a tombstone: O(1); searches walk through it but
  /// never return it; its slot is reused by `add` with `reuseDeletedSlots`, or reclaimed
  /// by `compacted()`). Throws `.unknownID` if no live vector has it.
  public func remove(_ id: Int) throws(SearchError) {
    try remove([id])
  }

  /// Marks the vectors with `ids` deleted, all or none: under one write lock every id is
  /// checked (live, given once) before the first is marked, so a throw (`.unknownID`,
  /// `.duplicateID`) leaves the index unchanged and no other caller sees a partial removal.
  public func remove(_ ids: [Int]) throws(SearchError) {
    try lock.writing { () throws(SearchError) in
      try Self.checkRemovable(ids) { liveSlot(of: $0) != nil }
      for id in ids {
        let slotCount = slots
        let deletedSet = deleted
        guard let slot = self.ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount && !deletedSet.contains(UInt32($0)) }) else {
          throw .unknownID(id)  // checked above: unreachable
        }
        deleted.insert(UInt32(slot))
        deletedCount += 1
        self.ids.release(id)
        freeSlots.append(UInt32(slot))
      }
    }
  }

  /// Whether a live vector has `id`.
  public func contains(_ id: Int) -> Bool {
    lock.reading { liveSlot(of: id) != nil }
  }

  func liveSlot(of id: Int) -> Int? {
    let slotCount = slots
    let deletedSet = deleted
    return ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount && !deletedSet.contains(UInt32($0)) })
  }

  /// The stored vector with `id` (unit-normalised for cosine, decoded for quantized
  /// storage without a Float32 copy); throws `.unknownID`.
  public func vector(for id: Int) throws(SearchError) -> [Float] {
    try lock.reading { () throws(SearchError) -> [Float] in
      guard let slot = liveSlot(of: id) else { throw .unknownID(id) }
      return store.keepsFloats
        ? Array(UnsafeBufferPointer(start: store.floats.pointer(Float.self) + slot * dimension, count: dimension))
        : store.vector(slot)
    }
  }

  /// The ids of the live vectors in slot order; see `VectorIndex.liveIDs()`.
  public func liveIDs() -> [Int] {
    lock.reading {
      var live: [Int] = []
      live.reserveCapacity(slots - deletedCount)
      for slot in 0..<slots where !deleted.contains(UInt32(slot)) { live.append(ids.id(of: slot)) }
      return live
    }
  }

  /// Every live vector with its id, in slot order; see `VectorIndex.liveVectors()`.
  public func liveVectors() -> (ids: [Int], vectors: [Float]) {
    lock.reading {
      var vectors: [Float] = []
      var liveIDs: [Int] = []
      vectors.reserveCapacity((slots - deletedCount) * dimension)
      for slot in 0..<slots where !deleted.contains(UInt32(slot)) {
        if store.keepsFloats {
          vectors.append(contentsOf: UnsafeBufferPointer(start: store.floats.pointer(Float.self) + slot * dimension, count: dimension))
        } else {
          vectors.append(contentsOf: store.vector(slot))
        }
        liveIDs.append(ids.id(of: slot))
      }
      return (liveIDs, vectors)
    }
  }

  /// A new index holding only the live vectors (same ids, parameters and storage;
  /// quantized vectors without a Float32 copy are re-added decoded and re-quantized with
  /// a quantizer trained on them). Reclaims every deleted slot; O(build).
  public func compacted(progress: (@Sendable (Int) -> Void)? = nil) throws(SearchError) -> HNSWIndex {
    let (liveIDs, vectors) = liveVectors()
    let fresh = try HNSWIndex(dimension: dimension, metric: metric, storage: storage, parameters: parameters, engine: engine)
    let result: Result<Void, SearchError> = vectors.withUnsafeBufferPointer { buffer in
      Result { () throws(SearchError) in _ = try fresh.add(buffer, ids: liveIDs, progress: progress) }
    }
    try result.get()
    return fresh
  }

  /// Releases spare capacity left by incremental adds (copies each buffer once).
  public func shrinkToFit() {
    lock.writing {
      store.shrink(toFit: slots)
      graph.shrink(toFit: slots)
    }
  }
}

/// The nodes pruned out of layer-0 lists, gathered from the workers' scratches.
private final class DroppedNodes: @unchecked Sendable {
  private let mutex = PlainMutex()
  private(set) var nodes: [UInt32] = []
  /// The workers' `emptyLayer0Reads`, summed.
  private(set) var emptyLayer0Reads = 0

  /// Moves `scratch.dropped` (and its count of empty layer-0 reads) here.
  func take(from scratch: SearchScratch) {
    mutex.locked {
      nodes += scratch.dropped
      emptyLayer0Reads += scratch.emptyLayer0Reads
    }
    scratch.dropped.removeAll(keepingCapacity: true)
    scratch.emptyLayer0Reads = 0
  }
}
