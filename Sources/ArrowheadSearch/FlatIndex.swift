import ArrowheadCore

/// An exact nearest-neighbour index: every query is compared with every stored vector.
///
/// Batch searches run through the engine's distance kernel (`Engine.distances`, a gemm
/// with a fused ‖q‖² + ‖x‖² − 2·q·x epilogue on the SIMD backend) on tiles of
/// `queryBlock` queries × `baseBlock` vectors, sized so the tile of distances stays in
/// the L2 cache; each tile row is scanned with 8-lane comparisons against the current k-th
/// best distance, and only the few values that beat it enter a bounded heap. Work is split
/// over threads by queries (many queries) or by ranges of the base (few queries, whose
/// per-thread top-k lists are merged at the end). Up to `fewQueries` queries over Float32
/// storage are scanned in blocks of `fewQueriesBaseBlock / queries` vectors instead.
///
/// Results are exact: the k nearest by the kernel's distance, ties broken by the lower
/// id — identical to a brute-force loop whenever the distances are computed exactly
/// (e.g. integer-valued vectors); otherwise they can differ only between candidates whose
/// distances agree to within the kernel's rounding (≈ d·ε·(‖q‖² + ‖x‖²) for squared L2).
///
/// Quantized storage (`.int8`, `.int4`) decodes each base block once per thread and then
/// takes the same path; with `keepsFloat32ForReranking`, the best `rerankCandidates`
/// approximate candidates are re-scored exactly from the Float32 copy.
///
/// Complexity: O(n·d) per query in time, 4·d bytes per vector (+4 for the norm under
/// squared L2). `remove` moves the last vector into the hole: O(d).
///
/// ```swift
/// let index = try FlatIndex(dimension: 50, metric: .cosine)
/// try index.add(vectors)                          // row-major [Float], ids 0…n−1
/// let results = try index.search(batch: queries, k: 10)
/// ```
public final class FlatIndex: VectorIndex, @unchecked Sendable {
  /// Values per vector.
  public let dimension: Int
  /// The metric searches rank by.
  public let metric: Metric
  /// How vectors are stored.
  public let storage: VectorStorage
  /// The engine whose distance kernel the searches use.
  public let engine: Engine

  /// Base vectors per tile (4 KiB-aligned blocks; 1024 × 256 queries × 4 B = 1 MiB of
  /// distances, the L2 size of the machines measured).
  public static let baseBlock = 1024
  /// Queries per tile.
  public static let queryBlock = 256
  /// Up to this many queries are scanned in blocks of `fewQueriesBaseBlock / queries`
  /// vectors over Float32 storage, instead of `baseBlock`. (16, was 8: 9–16 queries in
  /// blocks of 1 024 vectors left the SIMD backend's query groups little to share; AMD Zen 4,
  /// 1 thread, squared L2, 12 queries: GloVe 399 000 × 50 781 → 1 114 queries/s, MiniLM
  /// 29 522 × 384 1 459 → 2 824; inner products, 16 queries, GloVe 796 → 1 080.)
  static let fewQueries = 16
  /// Base vectors × queries per kernel call when up to `fewQueries` queries scan Float32
  /// storage (1 MiB of distances). The kernel then sees the size of what it reads and can
  /// tell an index that comes from memory from one in the caches: the SIMD backend's gemv
  /// reads rows in memory order past the caches and side by side within them, and its
  /// packed path packs a block's rows once for all the queries. In blocks of `baseBlock`
  /// every call looked cache-sized: one query over GloVe 399 000 × 50 ran at 183–221 q/s
  /// against 415–471 this way, four at 490–508 against 939–1 010 (AMD Zen 4, 1 thread,
  /// inner product).
  static let fewQueriesBaseBlock = 1 << 18
  /// Queries an index serves (since its vectors last changed) before the automatic int8
  /// screen also takes batches of fewer than 16 queries. Making the codes costs about 100
  /// single-query Float32 searches (AMD Zen 4: ~0.1 s for MiniLM 29 522 × 384, whose
  /// searches take ~1 ms), after which the screen runs them 1.3–5× faster (1 thread,
  /// queries/s, Float32 → screened: MiniLM squared L2, 1 query 968 → 4 278, 4 queries 2 322
  /// → 9 002; GloVe 399 000 × 50 inner products, 8 queries 956 → 2 110; 400 000 × 128 random,
  /// 1 query 158 → 253; 300 000 × 32 random, 1 query 762 → 1 600; 2 000 × 384, 1 query 15 303
  /// → 28 001). On the AVX2 int8 kernel (no VNNI) small dimensions lost (GloVe squared L2,
  /// 1 query 444 → 300; 300 000 × 32, 4 queries 1 930 → 1 781) while 384 dimensions gained
  /// (MiniLM 1 query 887 → 3 143), hence the 256-dimension floor there.
  static let screeningWarmQueries = 256

  let store: VectorStore
  /// ‖x‖² per slot (float32 storage under squared L2 only).
  let norms = RawBuffer()
  var slots = 0
  var ids = IDTable()
  let lock = ReadWriteLock()
  /// Int8 codes of the vectors for the screening pass of batch searches, made on first use.
  let prefilterCache = FlatPrefilterCache()

  /// Creates an empty index. Throws if `dimension` is not in 1 … 65 536.
  public init(
    dimension: Int, metric: Metric = .squaredL2, storage: VectorStorage = .float32, engine: Engine = .default
  ) throws(SearchError) {
    guard dimension >= 1, dimension <= 1 << 16 else {
      throw .invalidParameter(name: "dimension", value: "\(dimension)", expected: "1 … 65536")
    }
    self.dimension = dimension
    self.metric = metric
    self.storage = storage
    self.engine = engine
    self.store = VectorStore(dimension: dimension, storage: storage, metric: metric, engine: engine)
  }

  var keepsNorms: Bool { !storage.isQuantized && metric == .squaredL2 }

  /// Live vectors.
  public var count: Int { lock.reading { slots } }

  /// The trained quantizer (quantized storage after the first add), else nil.
  public var quantizer: ScalarQuantizer? { lock.reading { store.quantizer } }

  /// Bytes held, by part.
  public var memoryUsage: MemoryUsage {
    lock.reading {
      var usage = store.usage(slots: slots)
      usage.structureBytes = norms.capacity + prefilterCache.byteCount
      usage.idBytes = ids.bytes
      return usage
    }
  }

  @discardableResult
  public func add(_ vectors: UnsafeBufferPointer<Float>, ids given: [Int]?) throws(SearchError) -> [Int] {
    try lock.writing { () throws(SearchError) -> [Int] in
      let rows = try Validation.rows(vectors, dimension: dimension, argument: "vectors")
      if rows == 0 {
        if let given, !given.isEmpty { throw .idCountMismatch(vectors: 0, ids: given.count) }
        return []
      }
      try Validation.requireFinite(vectors, dimension: dimension, argument: "vectors")
      // The squared norms of L2 rows, kept below (Float32 L2 storage stores the input as is).
      let inputNorms = try Validation.requireRepresentableDistances(
        vectors, dimension: dimension, metric: metric, argument: "vectors", kernels: store.kernels)
      guard slots + rows <= Int(UInt32.max) else {
        throw .capacityExceeded(requested: slots + rows, maximum: Int(UInt32.max))
      }
      let slotCount = slots
      let assigned = try ids.resolve(given, count: rows, slotCount: slotCount, isLive: { $0 < slotCount })
      let prepared = metric == .cosine ? Validation.prepared(vectors, dimension: dimension, metric: metric, kernels: store.kernels) : nil
      try withPrepared(prepared, vectors) { (rowsBuffer) throws(SearchError) in
        try store.trainIfNeeded(rowsBuffer)
        store.reserve(slots: slots + rows, used: slots, exact: slots == 0)
        if keepsNorms { norms.reserve((slots + rows) * 4, preserving: slots * 4, exact: slots == 0) }
        try EncodeKernels.with(engine, dimension: dimension) { (kernels) throws(SearchError) in
          let base = rowsBuffer.baseAddress!
          for row in 0..<rows {
            let vector = base + row * dimension
            store.store(vector, at: slots + row, kernels: kernels)
            if keepsNorms {
              norms.pointer(Float.self)[slots + row] = inputNorms[row]
            }
          }
        }
      }
      for (offset, id) in assigned.enumerated() {
        ids.assign(id, to: slots + offset, slotCount: slots + offset)
      }
      slots += rows
      prefilterCache.invalidate()
      return assigned
    }
  }

  /// Removes the vector with `id` by moving the last vector into its slot (O(d));
  /// throws `.unknownID` if no vector has it.
  public func remove(_ id: Int) throws(SearchError) {
    try remove([id])
  }

  /// Removes the vectors with `ids`, all or none: under one write lock every id is checked
  /// (live, given once) before the first is removed, so a throw (`.unknownID`,
  /// `.duplicateID`) leaves the index unchanged and no other caller sees a partial removal.
  public func remove(_ ids: [Int]) throws(SearchError) {
    try lock.writing { () throws(SearchError) in
      let slotCount = slots
      try Self.checkRemovable(ids) { id in self.ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount }) != nil }
      for id in ids {
        let slotCount = slots
        guard let slot = self.ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount }) else {
          throw .unknownID(id)  // checked above: unreachable
        }
        let last = slots - 1
        store.move(from: last, to: slot)
        if keepsNorms { norms.pointer(Float.self)[slot] = norms.pointer(Float.self)[last] }
        self.ids.move(from: last, to: slot, removing: id, slotCount: slots)
        slots -= 1
      }
      if !ids.isEmpty { prefilterCache.invalidate() }
    }
  }

  /// Whether a vector has `id`.
  public func contains(_ id: Int) -> Bool {
    lock.reading {
      let slotCount = slots
      return ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount }) != nil
    }
  }

  /// The stored vector with `id` (unit-normalised for cosine, decoded for quantized
  /// storage without a Float32 copy); throws `.unknownID`.
  public func vector(for id: Int) throws(SearchError) -> [Float] {
    try lock.reading { () throws(SearchError) -> [Float] in
      let slotCount = slots
      guard let slot = ids.slot(of: id, slotCount: slotCount, isLive: { $0 < slotCount }) else {
        throw .unknownID(id)
      }
      return store.keepsFloats ? Array(UnsafeBufferPointer(start: store.floats.pointer(Float.self) + slot * dimension, count: dimension)) : store.vector(slot)
    }
  }

  /// Every vector with its id, in slot order; see `VectorIndex.liveVectors()`.
  public func liveVectors() -> (ids: [Int], vectors: [Float]) {
    lock.reading {
      var vectors = [Float]()
      vectors.reserveCapacity(slots * dimension)
      for slot in 0..<slots {
        if store.keepsFloats {
          vectors.append(contentsOf: UnsafeBufferPointer(start: store.floats.pointer(Float.self) + slot * dimension, count: dimension))
        } else {
          vectors.append(contentsOf: store.vector(slot))
        }
      }
      return ((0..<slots).map { ids.id(of: $0) }, vectors)
    }
  }

  /// The ids of the live vectors in slot order; see `VectorIndex.liveIDs()`.
  public func liveIDs() -> [Int] {
    lock.reading { (0..<slots).map { ids.id(of: $0) } }
  }

  /// Releases spare capacity left by incremental adds.
  public func shrinkToFit() {
    lock.writing {
      store.shrink(toFit: slots)
      norms.shrink(toFit: keepsNorms ? slots * 4 : 0)
    }
  }

  private func withPrepared<R>(
    _ prepared: [Float]?, _ original: UnsafeBufferPointer<Float>,
    _ body: (UnsafeBufferPointer<Float>) throws(SearchError) -> R
  ) throws(SearchError) -> R {
    guard let prepared else { return try body(original) }
    let result: Result<R, SearchError> = prepared.withUnsafeBufferPointer { buffer in
      Result { () throws(SearchError) -> R in try body(buffer) }
    }
    return try result.get()
  }
}
