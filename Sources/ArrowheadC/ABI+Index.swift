import Arrowhead
import ArrowheadSearch
import CArrowhead
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Nearest-neighbour indexes: create / load, add, search (with a mask and/or a callback
// filter), remove, describe, save. The handle names an `any VectorIndex` (FlatIndex or
// HNSWIndex), which synchronises itself, so calls on one index from several threads are safe.

/// Implements `ah_index_create` of arrowhead.h: an empty flat or HNSW index (`kind`:
/// `AH_INDEX_*`) of `dimension` values per vector; an HNSW option given as 0 takes its default.
@c @implementation
public func ah_index_create(
  _ engine: OpaquePointer?, _ kind: Int32, _ dimension: Int64, _ metric: Int32, _ storage: Int32, _ rerank: Int32,
  _ m: Int64, _ ef_construction: Int64, _ ef_search: Int64, _ seed: UInt64, _ index: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  createIndex(engine, dimension, metric, storage, rerank, index) { width, distance, vectors, kernels in
    switch Int(kind) {
    case AH_INDEX_FLAT:
      return try FlatIndex(dimension: width, metric: distance, storage: vectors, engine: kernels)
    case AH_INDEX_HNSW:
      let defaults = HNSWParameters()
      let parameters = HNSWParameters(
        m: try positiveOrDefault(m, "m", defaults.m),
        efConstruction: try positiveOrDefault(ef_construction, "ef_construction", defaults.efConstruction),
        efSearch: try positiveOrDefault(ef_search, "ef_search", defaults.efSearch), seed: seed)
      return try HNSWIndex(dimension: width, metric: distance, storage: vectors, parameters: parameters, engine: kernels)
    default:
      throw ABIError(.invalidArgument, "index kind \(kind) is unknown; expected AH_INDEX_FLAT (0) or AH_INDEX_HNSW (1)")
    }
  }
}

/// The checks and storage shared by the index constructors: `make` gets the validated
/// dimension, metric, storage and engine, and its index becomes the handle in `index`.
private func createIndex(
  _ engine: OpaquePointer?, _ dimension: Int64, _ metric: Int32, _ storage: Int32, _ rerank: Int32,
  _ index: UnsafeMutablePointer<OpaquePointer?>?, _ make: (Int, Metric, VectorStorage, Engine) throws -> any VectorIndex
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let out = try Argument.required(index, "index")
    let width = try Argument.count(dimension, "dimension")
    let distance = try Argument.metric(metric)
    let encoding = try storageEncoding(storage)
    let vectors = VectorStorage(encoding, keepsFloat32ForReranking: rerank != 0 && encoding != .float32)
    out.pointee = registry.handle(for: .index(try make(width, distance, vectors, kernels)))
  }
}

/// The storage code of the C API as a `VectorStorage.Encoding`.
private func storageEncoding(_ storage: Int32) throws(ABIError) -> VectorStorage.Encoding {
  switch Int(storage) {
  case AH_STORAGE_F32: .float32
  case AH_STORAGE_INT8: .int8
  case AH_STORAGE_INT4: .int4
  default: throw ABIError(.invalidArgument, "storage \(storage) is unknown; expected AH_STORAGE_F32 (0), AH_STORAGE_INT8 (1) or AH_STORAGE_INT4 (2)")
  }
}

/// The bytes of `ah_hnsw_options` this library reads (every field of this version).
private let hnswOptionsSize = Int64(MemoryLayout<ah_hnsw_options>.size)

/// Implements `ah_hnsw_options_init` of arrowhead.h: sets `options` to the defaults of
/// `HNSWParameters` and `struct_size` to this library's `sizeof(ah_hnsw_options)`.
@c @implementation
public func ah_hnsw_options_init(_ options: UnsafeMutablePointer<ah_hnsw_options>?) -> ah_status {
  abiCall {
    let out = try Argument.required(options, "options")
    let defaults = HNSWParameters()
    var filled = ah_hnsw_options()
    filled.struct_size = hnswOptionsSize
    filled.m = Int64(defaults.m)
    filled.ef_construction = Int64(defaults.efConstruction)
    filled.ef_search = Int64(defaults.efSearch)
    filled.seed = defaults.seed
    filled.layer0_links = 0
    filled.reuse_deleted_slots = defaults.reuseDeletedSlots ? 1 : 0
    filled.build_threads = 0
    out.pointee = filled
  }
}

/// Implements `ah_index_create_hnsw` of arrowhead.h: an empty HNSW index with every option of
/// `ah_hnsw_options` (NULL: the defaults); a `struct_size` below this library's is
/// `AH_ERROR_INVALID_ARGUMENT`.
@c @implementation
public func ah_index_create_hnsw(
  _ engine: OpaquePointer?, _ dimension: Int64, _ metric: Int32, _ storage: Int32, _ rerank: Int32,
  _ options: UnsafePointer<ah_hnsw_options>?, _ index: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  createIndex(engine, dimension, metric, storage, rerank, index) { width, distance, vectors, kernels in
    var parameters = HNSWParameters()
    if let options {
      let given = options.pointee
      guard given.struct_size >= hnswOptionsSize else {
        throw ABIError(
          .invalidArgument,
          "options.struct_size = \(given.struct_size), expected at least \(hnswOptionsSize) (fill the options with ah_hnsw_options_init)")
      }
      parameters.m = try Argument.count(given.m, "options.m")
      parameters.efConstruction = try Argument.count(given.ef_construction, "options.ef_construction")
      parameters.efSearch = try Argument.count(given.ef_search, "options.ef_search")
      parameters.seed = given.seed
      let links = try Argument.count(given.layer0_links, "options.layer0_links")
      parameters.layer0InsertionLinks = links == 0 ? nil : links
      parameters.reuseDeletedSlots = given.reuse_deleted_slots != 0
      let threads = try Argument.count(Int64(given.build_threads), "options.build_threads")
      parameters.buildThreads = threads == 0 ? nil : threads
    }
    return try HNSWIndex(dimension: width, metric: distance, storage: vectors, parameters: parameters, engine: kernels)
  }
}

/// `value`, or `fallback` when it is 0.
private func positiveOrDefault(_ value: Int64, _ name: String, _ fallback: Int) throws(ABIError) -> Int {
  value == 0 ? fallback : try Argument.count(value, name)
}

/// Implements `ah_index_free` of arrowhead.h: releases an index handle (NULL: `AH_OK`).
@c @implementation
public func ah_index_free(_ index: OpaquePointer?) -> ah_status {
  abiCall { try registry.free(index, as: .index) }
}

/// Implements `ah_index_add` of arrowhead.h: adds `count` vectors with the given ids (NULL:
/// automatic ids), writing the ids used to `assigned` when it is not NULL. The id -1 is refused
/// (searches write it for missing neighbours), and so is a call from a search filter of the
/// same index.
@c @implementation
public func ah_index_add(
  _ index: OpaquePointer?, _ vectors: UnsafePointer<Float>?, _ count: Int64, _ dimension: Int64,
  _ ids: UnsafePointer<Int64>?, _ assigned: UnsafeMutablePointer<Int64>?
) -> ah_status {
  addRows(index, vectors, count, dimension, ids, assigned, progress: nil, context: nil)
}

/// Implements `ah_index_add_with_progress` of arrowhead.h: `ah_index_add`, reporting progress
/// to `progress` (an HNSW index as vectors are linked, a flat index once at the end).
@c @implementation
public func ah_index_add_with_progress(
  _ index: OpaquePointer?, _ vectors: UnsafePointer<Float>?, _ count: Int64, _ dimension: Int64,
  _ ids: UnsafePointer<Int64>?, _ assigned: UnsafeMutablePointer<Int64>?, _ progress: ah_progress_fn?,
  _ context: UnsafeMutableRawPointer?
) -> ah_status {
  addRows(index, vectors, count, dimension, ids, assigned, progress: progress, context: context)
}

private func addRows(
  _ index: OpaquePointer?, _ vectors: UnsafePointer<Float>?, _ count: Int64, _ dimension: Int64,
  _ ids: UnsafePointer<Int64>?, _ assigned: UnsafeMutablePointer<Int64>?, progress: ah_progress_fn?,
  context: UnsafeMutableRawPointer?
) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    try FilterGuard.refuseInsideFilter(of: target, "ah_index_add")
    let (rows, values) = try vectorRows(vectors, count: count, dimension: dimension, of: target, "vectors")
    let given = try ids.map { (pointer) throws(ABIError) in
      Array(try Argument.buffer(pointer, count: rows, "ids")).map { Int($0) }
    }
    if let row = given?.firstIndex(of: -1) {
      // A search writes -1 where it found fewer than k neighbours: a vector of id -1
      // would be indistinguishable from a missing one.
      throw ABIError(.invalidArgument, "ids[\(row)] = -1: the id -1 is reserved (searches return it for missing neighbours)")
    }
    let result: [Int]
    if let progress {
      let reporter = ProgressReporter(total: rows, progress, context)
      if let graph = target as? HNSWIndex {
        result = try graph.add(values, ids: given, progress: { reporter.advance(by: $0) })
      } else {
        result = try target.add(values, ids: given)
      }
      reporter.finish()
    } else {
      result = try target.add(values, ids: given)
    }
    if let assigned {
      for (offset, id) in result.enumerated() { assigned[offset] = Int64(id) }
    }
  }
}


/// `count` row vectors at `pointer`, checked against the index: the caller's `dimension`
/// must be the index's, and the buffer size must not overflow.
private func vectorRows(
  _ pointer: UnsafePointer<Float>?, count: Int64, dimension: Int64, of index: any VectorIndex, _ argument: String
) throws(ABIError) -> (rows: Int, values: UnsafeBufferPointer<Float>) {
  let rows = try Argument.count(count, "count")
  guard dimension == Int64(index.dimension) else {
    throw ABIError(.invalidArgument, "'\(argument)' have dimension \(dimension), the index has dimension \(index.dimension)")
  }
  return (rows, try Argument.buffer(pointer, count: try Argument.product(rows, index.dimension, argument), argument))
}

/// Which index's search filter the calling thread is running, if any: `ah_index_add` and
/// `ah_index_remove` on that index from inside its filter would wait forever for the search
/// that called the filter (it holds the index's lock), so they fail instead. A thread-local
/// (the filter runs on the search's worker threads too), read only by the calls it guards.
enum FilterGuard {
  /// The pthread key of the thread-local (created once; never deleted).
  static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// Runs `body` (the user's filter) marked as inside a search filter of `index`.
  @inline(__always)
  static func whileFiltering<R>(_ index: ObjectIdentifier, _ body: () -> R) -> R {
    let previous = pthread_getspecific(key)
    pthread_setspecific(key, UnsafeRawPointer(bitPattern: UInt(bitPattern: index)))
    defer { pthread_setspecific(key, previous) }
    return body()
  }

  /// Throws when the calling thread is inside a search filter of `index`.
  static func refuseInsideFilter(of index: any VectorIndex, _ function: String) throws(ABIError) {
    guard let current = pthread_getspecific(key),
          UInt(bitPattern: current) == UInt(bitPattern: ObjectIdentifier(index)) else { return }
    throw ABIError(
      .invalidArgument,
      "\(function) was called from a search filter of the same index: the search holds the index's lock, so the call would wait forever; collect the ids and change the index after the search")
  }
}

/// What a search's filter needs from C, valid for the duration of one `ah_index_search`
/// call (the caller keeps the mask and the callback's context alive until it returns).
private final class FilterContext: @unchecked Sendable {
  // Immutable pointers into caller memory that outlive the search; `aborted` is atomic.
  let mask: UnsafePointer<UInt8>?
  let maskLength: Int
  let callback: ah_filter_fn?
  let context: UnsafeMutableRawPointer?
  let aborted = Atomic<Bool>(false)
  /// The index searched (`FilterGuard`).
  let index: ObjectIdentifier

  init(
    mask: UnsafePointer<UInt8>?, maskLength: Int, callback: ah_filter_fn?, context: UnsafeMutableRawPointer?,
    index: ObjectIdentifier
  ) {
    self.index = index
    self.mask = mask
    self.maskLength = maskLength
    self.callback = callback
    self.context = context
  }

  /// Whether the mask and the callback accept `id`. A negative answer from the callback
  /// marks the search aborted; from then on every id is rejected so the search ends fast.
  func accepts(_ id: Int) -> Bool {
    if let mask {
      guard id >= 0, id < maskLength, mask[id] != 0 else { return false }
    }
    guard let callback else { return true }
    if aborted.load(ordering: .relaxed) { return false }
    let answer = FilterGuard.whileFiltering(index) { callback(Int64(id), context) }
    if answer < 0 {
      aborted.store(true, ordering: .relaxed)
      return false
    }
    return answer != 0
  }
}

/// Implements `ah_index_search` of arrowhead.h: the `k` nearest live vectors of each of `count`
/// queries into `distances` and `ids` (count × k each), optionally filtered by a byte mask and
/// a callback; places without a neighbour get id -1 and distance +∞ (L2) or −∞ (inner product,
/// cosine).
@c @implementation
public func ah_index_search(
  _ index: OpaquePointer?, _ queries: UnsafePointer<Float>?, _ count: Int64, _ dimension: Int64, _ k: Int64,
  _ ef: Int64, _ rerank: Int64, _ threads: Int32, _ mask: UnsafePointer<UInt8>?, _ mask_length: Int64,
  _ filter: ah_filter_fn?, _ context: UnsafeMutableRawPointer?,
  _ distances: UnsafeMutablePointer<Float>?, _ ids: UnsafeMutablePointer<Int64>?
) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    let (rows, values) = try vectorRows(queries, count: count, dimension: dimension, of: target, "queries")
    guard k >= 1 else { throw ABIError(.invalidArgument, SearchError.invalidK(Int(clamping: k)).description) }
    let neighbours = try Argument.count(k, "k")
    guard ef >= 0 else { throw ABIError(.invalidArgument, "ef = \(ef) is negative; 0 means the index's default") }
    guard rerank >= -1 else { throw ABIError(.invalidArgument, "rerank = \(rerank); expected -1 (default: 4·k) or ≥ 0") }
    guard threads >= 0 else { throw ABIError(.invalidArgument, "threads = \(threads) is negative; 0 means the engine's") }
    let slots = try Argument.product(rows, neighbours, "results")
    let outDistances = try Argument.output(distances, capacity: Int64(slots), needed: slots, "distances")
    let outIDs = try Argument.output(ids, capacity: Int64(slots), needed: slots, "ids")
    if mask == nil && mask_length != 0 { throw ABIError(.invalidArgument, "'mask' is NULL but mask_length = \(mask_length)") }
    let filtering: FilterContext? = mask == nil && filter == nil
      ? nil
      : FilterContext(
        mask: mask, maskLength: try Argument.count(mask_length, "mask_length"), callback: filter, context: context,
        index: ObjectIdentifier(target))
    let parameters = SearchParameters(
      efSearch: ef == 0 ? nil : try Argument.count(ef, "ef"), rerankCandidates: rerank < 0 ? nil : Int(rerank),
      threads: threads == 0 ? nil : Int(threads))
    var predicate: SearchFilter?
    if let filtering { predicate = { id in filtering.accepts(id) } }
    let results = try target.search(values, k: neighbours, parameters: parameters, filter: predicate)
    if filtering?.aborted.load(ordering: .relaxed) == true {
      throw ABIError(.callback, "the filter callback aborted the search (it returned a negative value)")
    }
    let missing: Float = target.metric.largerIsNearer ? -.infinity : .infinity
    for (row, result) in results.enumerated() {
      let start = row * neighbours
      for (column, neighbour) in result.neighbors.enumerated() {
        outDistances[start + column] = neighbour.score
        outIDs[start + column] = Int64(neighbour.id)
      }
      for column in result.neighbors.count..<neighbours {
        outDistances[start + column] = missing
        outIDs[start + column] = -1
      }
    }
  }
}

/// Implements `ah_index_remove` of arrowhead.h: removes the vectors with the `count` given ids,
/// all or none (an unknown id: `AH_ERROR_NOT_FOUND`; a repeated one:
/// `AH_ERROR_INVALID_ARGUMENT`).
@c @implementation
public func ah_index_remove(_ index: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ count: Int64) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    try FilterGuard.refuseInsideFilter(of: target, "ah_index_remove")
    let list = try Argument.buffer(ids, count: try Argument.count(count, "count"), "ids").map { Int($0) }
    // One call of the index's batch removal: checked and removed under one write lock, so
    // a concurrent remove of an overlapping list cannot leave this one half done.
    do throws(SearchError) {
      try target.remove(list)
    } catch .duplicateID(let id) {
      throw ABIError(.invalidArgument, "id \(id) is given twice")
    } catch {
      throw ABIError(error)
    }
  }
}

/// Implements `ah_index_count` of arrowhead.h: the number of live vectors.
@c @implementation
public func ah_index_count(_ index: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?) -> ah_status {
  abiCall {
    let live = try registry.index(index).count
    try Argument.required(count, "count").pointee = Int64(live)
  }
}

/// Implements `ah_index_contains` of arrowhead.h: writes 1 when a live vector has `id`, else 0.
@c @implementation
public func ah_index_contains(_ index: OpaquePointer?, _ id: Int64, _ contains: UnsafeMutablePointer<Int32>?) -> ah_status {
  abiCall {
    let found = try registry.index(index).contains(Int(id))
    try Argument.required(contains, "contains").pointee = found ? 1 : 0
  }
}

/// Implements `ah_index_vector` of arrowhead.h: the stored vector with `id` (unit-normalised
/// for cosine, decoded for quantized storage) into `out`, which holds `capacity` ≥ dimension
/// floats.
@c @implementation
public func ah_index_vector(
  _ index: OpaquePointer?, _ id: Int64, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64
) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    let destination = try Argument.output(out, capacity: capacity, needed: target.dimension, "out")
    let vector = try target.vector(for: Int(id))
    _ = destination.initialize(from: vector)
  }
}

/// Implements `ah_index_vectors` of arrowhead.h: the stored vectors with the `count` given ids,
/// row by row, into `out`; an unknown id is `AH_ERROR_NOT_FOUND` naming its position.
@c @implementation
public func ah_index_vectors(
  _ index: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ count: Int64, _ out: UnsafeMutablePointer<Float>?,
  _ capacity: Int64
) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    let list = try Argument.buffer(ids, count: try Argument.count(count, "count"), "ids")
    let needed = try Argument.product(list.count, target.dimension, "count × dimension")
    let destination = try Argument.output(out, capacity: capacity, needed: needed, "out")
    for (position, id) in list.enumerated() {
      guard target.contains(Int(id)) else {
        throw ABIError(.notFound, "ids[\(position)]: \(SearchError.unknownID(Int(id)).description)")
      }
      let vector = try target.vector(for: Int(id))
      _ = UnsafeMutableBufferPointer(rebasing: destination[position * target.dimension ..< (position + 1) * target.dimension])
        .initialize(from: vector)
    }
  }
}

/// Implements `ah_index_ids` of arrowhead.h: the ids of the live vectors in storage order, or
/// only their number when `ids` is NULL and `capacity` 0.
@c @implementation
public func ah_index_ids(
  _ index: OpaquePointer?, _ ids: UnsafeMutablePointer<Int64>?, _ capacity: Int64, _ count: UnsafeMutablePointer<Int64>?
) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    let total = try Argument.required(count, "count")
    _ = try Argument.count(capacity, "capacity")
    let live = target.liveIDs()
    if capacity == 0 && ids == nil {
      total.pointee = Int64(live.count)
      return
    }
    let destination = try Argument.output(ids, capacity: capacity, needed: live.count, "ids")
    for (position, id) in live.enumerated() { destination[position] = Int64(id) }
    total.pointee = Int64(live.count)
  }
}

/// Implements `ah_index_describe` of arrowhead.h: fills `info` with the kind, metric, storage,
/// rerank copy, dimension, live count, memory and, for HNSW, its parameters.
@c @implementation
public func ah_index_describe(_ index: OpaquePointer?, _ info: UnsafeMutablePointer<ah_index_info>?) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    let out = try Argument.required(info, "info")
    var facts = ah_index_info()
    facts.metric = Argument.code(of: target.metric)
    switch target.storage.encoding {
    case .float32: facts.storage = Int32(AH_STORAGE_F32)
    case .int8: facts.storage = Int32(AH_STORAGE_INT8)
    case .int4: facts.storage = Int32(AH_STORAGE_INT4)
    }
    // Float32 storage keeps no separate copy (VectorStorage.float32 says true: its vectors
    // are the Float32 ones); the field means "quantized storage with a Float32 copy".
    facts.rerank = target.storage.isQuantized && target.storage.keepsFloat32ForReranking ? 1 : 0
    facts.dimension = Int64(target.dimension)
    facts.count = Int64(target.count)
    facts.memory_bytes = Int64(target.memoryUsed)
    if let graph = target as? HNSWIndex {
      facts.kind = Int32(AH_INDEX_HNSW)
      facts.m = Int64(graph.parameters.m)
      facts.ef_construction = Int64(graph.parameters.efConstruction)
      facts.ef_search = Int64(graph.parameters.efSearch)
      facts.layer0_links = Int64(graph.parameters.layer0Links)
    } else {
      facts.kind = Int32(AH_INDEX_FLAT)
    }
    out.pointee = facts
  }
}

/// Implements `ah_index_save` of arrowhead.h: writes the index to `path` atomically
/// (`VectorIndex.save(to:)`).
@c @implementation
public func ah_index_save(_ index: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> ah_status {
  abiCall {
    let target = try registry.index(index)
    try target.save(to: try Argument.string(path, "path"))
  }
}

/// Implements `ah_index_load` of arrowhead.h: an index saved by `ah_index_save`, checksums
/// verified (`IndexFile.load`); `mmap` ≠ 0 maps the file instead of copying it.
@c @implementation
public func ah_index_load(
  _ engine: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ mmap: Int32, _ index: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let out = try Argument.required(index, "index")
    let loaded = try IndexFile.load(
      try Argument.string(path, "path"), options: IndexFile.LoadOptions(memoryMap: mmap != 0), engine: kernels)
    out.pointee = registry.handle(for: .index(loaded.index))
  }
}
