import ArrowheadCore

/// What every Arrowhead index offers: add vectors (with optional ids), search one query or
/// a batch for the k nearest, remove, count, dimension, memory used, save.
///
/// Implemented by `FlatIndex` (exact) and `HNSWIndex` (approximate graph search).
/// Indexes are reference types that synchronise themselves: any number of searches may
/// run concurrently from any threads; an `add` or `remove` waits for running searches
/// and blocks new ones while it mutates (a readers–writer lock).
///
/// Conventions shared by all indexes:
/// - Vectors are row-major Float32 buffers of `count · dimension` values; every value
///   must be finite (NaN/∞ → `SearchError.nonFiniteValue` naming row and column). Under
///   `.squaredL2` and `.innerProduct`, a vector's or query's squared norm must also stay
///   ≤ Float32's largest value / 4 (≈ 8.5·10³⁷), or distances could overflow
///   (`.invalidParameter` naming the row).
/// - `.cosine` indexes store unit vectors (normalised when added; a zero vector stays
///   zero and has cosine 0 with everything) and return cosine similarities.
/// - Ids are any `Int`s, unique among live vectors; when omitted, ids continue from the
///   largest id given so far (0, 1, 2 … for an index filled without ids).
/// - `k` must be ≥ 1; asking for more neighbours than there are live vectors returns
///   those that exist with `SearchResult.isComplete == false`; searching an index with
///   no live vector throws `.emptyIndex`.
///
/// ```swift
/// let index = try HNSWIndex(dimension: 3, metric: .squaredL2)
/// try index.add([0, 0, 0,  1, 0, 0,  0, 2, 0])          // ids 0, 1, 2
/// let result = try index.search([0.9, 0, 0], k: 2)
/// result.ids                                             // [1, 0]
/// ```
public protocol VectorIndex: AnyObject, Sendable {
  /// Values per vector.
  var dimension: Int { get }
  /// The metric searches rank by.
  var metric: Metric { get }
  /// How vectors are stored.
  var storage: VectorStorage { get }
  /// Live (added and not removed) vectors.
  var count: Int { get }
  /// Bytes held, by part.
  var memoryUsage: MemoryUsage { get }

  /// Adds `vectors` (row-major, a multiple of `dimension` values) with `ids` (one per
  /// vector, or nil for automatic ids) and returns the ids given. Validates everything
  /// before changing anything: on a throw the index is unchanged.
  @discardableResult
  func add(_ vectors: UnsafeBufferPointer<Float>, ids: [Int]?) throws(SearchError) -> [Int]

  /// Removes the vector with `id`; throws `.unknownID` if no live vector has it.
  func remove(_ id: Int) throws(SearchError)

  /// Removes the vectors with `ids`, all or none: throws `.unknownID` for an id no live
  /// vector has and `.duplicateID` for an id given twice, before removing anything.
  /// `FlatIndex` and `HNSWIndex` hold one write lock for the whole batch, so concurrent
  /// callers never see part of it; the default implementation (for other conforming types)
  /// checks every id, then removes them one by one.
  func remove(_ ids: [Int]) throws(SearchError)

  /// Whether a live vector has `id`.
  func contains(_ id: Int) -> Bool

  /// The stored vector with `id` (unit-normalised for cosine; decoded for quantized
  /// storage without a Float32 copy).
  func vector(for id: Int) throws(SearchError) -> [Float]

  /// Every live vector with its id, in slot order: the stored Float32 rows (unit vectors
  /// for cosine), or the decoded codes when no Float32 copy is kept. O(n·d) memory.
  func liveVectors() -> (ids: [Int], vectors: [Float])

  /// The ids of the live vectors, in the slot order of `liveVectors()`: the order of adding
  /// until vectors are removed (a flat index moves its last vector into a freed slot; an
  /// HNSW index that reuses deleted slots fills them with new vectors). O(n) memory.
  func liveIDs() -> [Int]

  /// The `k` nearest live vectors of each query in `queries` (row-major), nearest first.
  /// `filter`, when given, is applied during the search: only ids it accepts are returned.
  func search(
    _ queries: UnsafeBufferPointer<Float>, k: Int, parameters: SearchParameters, filter: SearchFilter?
  ) throws(SearchError) -> [SearchResult]
}

extension VectorIndex {
  /// Checks every id (`contains`), then removes them one by one: all or none for a single
  /// caller, but not atomic against concurrent ones (`FlatIndex` and `HNSWIndex` are).
  public func remove(_ ids: [Int]) throws(SearchError) {
    try Self.checkRemovable(ids) { contains($0) }
    for id in ids { try remove(id) }
  }

  /// Throws unless every id of a batch removal is live (`isLive`, called under the
  /// caller's write lock) and given once.
  static func checkRemovable(_ ids: [Int], isLive: (Int) -> Bool) throws(SearchError) {
    if ids.count == 1, let id = ids.first {
      if !isLive(id) { throw .unknownID(id) }
      return
    }
    var seen = Set<Int>(minimumCapacity: ids.count)
    for id in ids {
      guard seen.insert(id).inserted else { throw .duplicateID(id) }
      guard isLive(id) else { throw .unknownID(id) }
    }
  }

  /// The ids of `liveVectors()`: the default for an index that has no cheaper way (the
  /// built-in indexes list their ids without copying the vectors).
  public func liveIDs() -> [Int] { liveVectors().ids }

  /// Saves the index to `path` atomically; see `IndexFile`.
  public func save(to path: String, metadata: IndexFile.Metadata = IndexFile.Metadata()) throws(IndexFileError) {
    try IndexFile.save(self, to: path, metadata: metadata)
  }

  /// Total bytes held (`memoryUsage.total`).
  public var memoryUsed: Int { memoryUsage.total }

  /// Adds vectors from an array (row-major); see `add(_:ids:)`.
  @discardableResult
  public func add(_ vectors: [Float], ids: [Int]? = nil) throws(SearchError) -> [Int] {
    let result: Result<[Int], SearchError> = vectors.withUnsafeBufferPointer { buffer in
      Result { () throws(SearchError) in try add(buffer, ids: ids) }
    }
    return try result.get()
  }

  /// Adds the rows of a matrix; see `add(_:ids:)`.
  @discardableResult
  public func add(_ matrix: Matrix, ids: [Int]? = nil) throws(SearchError) -> [Int] {
    guard matrix.columns == dimension || matrix.rows == 0 else {
      throw .dimensionMismatch(argument: "matrix", expected: dimension, actual: matrix.columns)
    }
    return try add(matrix.elements, ids: ids)
  }

  /// The `k` nearest live vectors of one query, nearest first, searched on the calling
  /// thread.
  public func search(
    _ query: [Float], k: Int, parameters: SearchParameters = SearchParameters(), filter: SearchFilter? = nil
  ) throws(SearchError) -> SearchResult {
    guard query.count == dimension else {
      throw .dimensionMismatch(argument: "query", expected: dimension, actual: query.count)
    }
    var single = parameters
    single.threads = 1
    let results: Result<[SearchResult], SearchError> = query.withUnsafeBufferPointer { buffer in
      Result { () throws(SearchError) in try search(buffer, k: k, parameters: single, filter: filter) }
    }
    return try results.get()[0]
  }

  /// The `k` nearest live vectors of each query (row-major, `n · dimension` values).
  public func search(
    batch queries: [Float], k: Int, parameters: SearchParameters = SearchParameters(), filter: SearchFilter? = nil
  ) throws(SearchError) -> [SearchResult] {
    let results: Result<[SearchResult], SearchError> = queries.withUnsafeBufferPointer { buffer in
      Result { () throws(SearchError) in try search(buffer, k: k, parameters: parameters, filter: filter) }
    }
    return try results.get()
  }
}

// MARK: - Shared validation

enum Validation {
  /// Candidates re-ranked when the caller names none: 4·k, saturating (a k near `Int.max`,
  /// which the search clamps to the index's size, must not overflow here first).
  @inline(__always)
  static func defaultRerankCandidates(k: Int) -> Int {
    let (product, overflow) = k.multipliedReportingOverflow(by: 4)
    return overflow ? .max : product
  }

  /// Checks a search call's arguments (k, query rows, finite values, the per-call
  /// parameters; `efSearch` only where the index uses it) and returns the query count.
  static func searchArguments(
    _ queries: UnsafeBufferPointer<Float>, k: Int, parameters: SearchParameters, dimension: Int, usesEfSearch: Bool = false
  ) throws(SearchError) -> Int {
    try requireK(k)
    let queryCount = try rows(queries, dimension: dimension, argument: "queries")
    try requireFinite(queries, dimension: dimension, argument: "queries")
    if usesEfSearch, let ef = parameters.efSearch, ef < 1 {
      throw .invalidParameter(name: "efSearch", value: "\(ef)", expected: "≥ 1")
    }
    if let candidates = parameters.rerankCandidates, candidates < 0 || (candidates > 0 && candidates < k) {
      // Re-ranking re-scores the best `candidates` and returns the best k of them: fewer
      // than k candidates would silently return fewer than k neighbours.
      throw .invalidParameter(name: "rerankCandidates", value: "\(candidates)", expected: "0 (no re-ranking) or ≥ k = \(k)")
    }
    if let threads = parameters.threads, threads < 1 {
      throw .invalidParameter(name: "threads", value: "\(threads)", expected: "≥ 1")
    }
    return queryCount
  }

  /// Rows in a buffer of vectors; throws if it is not a whole number of rows.
  static func rows(_ vectors: UnsafeBufferPointer<Float>, dimension: Int, argument: String) throws(SearchError) -> Int {
    guard vectors.count % dimension == 0 else {
      let actual = vectors.count < dimension ? vectors.count : vectors.count % dimension
      throw .dimensionMismatch(argument: argument, expected: dimension, actual: actual)
    }
    return vectors.count / dimension
  }

  /// Throws `.nonFiniteValue` naming the first NaN/∞.
  static func requireFinite(_ vectors: UnsafeBufferPointer<Float>, dimension: Int, argument: String) throws(SearchError) {
    if let index = firstNonFiniteIndex(vectors) {
      throw .nonFiniteValue(argument: argument, row: index / dimension, column: index % dimension)
    }
  }

  /// The largest squared norm a vector or query of an `.squaredL2` or `.innerProduct` index
  /// may have: Float32's largest finite value / 4 (≈ 8.5·10³⁷; every element of a
  /// 384-dimensional vector up to ≈ 4.7·10¹⁷ fits). With ‖q‖² and ‖x‖² within it, q·x and
  /// ‖q‖² + ‖x‖² − 2q·x stay finite; beyond it a distance can become ∞ or NaN (∞ − ∞), and
  /// such a neighbour would be ranked arbitrarily or dropped from the results.
  static let maximumSquaredNorm = Float.greatestFiniteMagnitude / 4

  /// Throws `.invalidParameter` naming the first row whose squared norm passes
  /// `maximumSquaredNorm` (not for `.cosine`, which stores and compares unit vectors).
  /// Returns the rows' squared norms (empty for `.cosine`), for callers that keep them.
  @discardableResult
  static func requireRepresentableDistances(
    _ vectors: UnsafeBufferPointer<Float>, dimension: Int, metric: Metric, argument: String, kernels: StoreKernels
  ) throws(SearchError) -> [Float] {
    guard metric != .cosine, let base = vectors.baseAddress else { return [] }
    let rows = vectors.count / dimension
    var norms = [Float]()
    norms.reserveCapacity(rows)
    for row in 0..<rows {
      let norm = kernels.squaredNorm(base + row * dimension, dimension)
      guard norm <= maximumSquaredNorm else {
        throw .invalidParameter(
          name: "\(argument), row \(row)", value: norm.isFinite ? "squared norm \(norm)" : "squared norm beyond Float32",
          expected: "a squared norm ≤ \(maximumSquaredNorm) (larger vectors overflow Float32 \(metric == .squaredL2 ? "distances" : "inner products"))")
      }
      norms.append(norm)
    }
    return norms
  }

  static func requireK(_ k: Int) throws(SearchError) {
    guard k >= 1 else { throw .invalidK(k) }
  }

  /// Normalises rows to unit length in place (zero rows stay zero).
  ///
  /// The norm is a Float32 sum of squares, which overflows from |x| ≈ 10¹⁹ and underflows
  /// below ≈ 10⁻¹⁹ (a row then became zeros, or stayed unnormalised, and ranked as a zero
  /// vector). A row whose norm falls outside 2⁻⁶⁰…2⁶⁰ is first scaled by the power of two
  /// that brings its largest element into [1, 2) — exact — so every finite row gets the unit
  /// vector of its direction; rows within that range are normalised as before, to the bit.
  static func normalize(_ vectors: UnsafeMutableBufferPointer<Float>, dimension: Int, kernels: StoreKernels) {
    guard let base = vectors.baseAddress else { return }
    for row in 0..<vectors.count / dimension {
      let start = base + row * dimension
      var norm = kernels.squaredNorm(start, dimension).squareRoot()
      if CosineRepair.isOutOfRange(norm) {  // rows are finite here (validated)
        var largest: Float = 0
        for j in 0..<dimension { largest = max(largest, abs(start[j])) }
        guard largest > 0 else { continue }  // a zero row
        let exponent = largest.exponent
        // Two steps for subnormal rows (2^-exponent alone may exceed the Float32 range).
        let half = Float(sign: .plus, exponent: -exponent / 2, significand: 1)
        let rest = Float(sign: .plus, exponent: -exponent - (-exponent / 2), significand: 1)
        for j in 0..<dimension { start[j] = start[j] * half * rest }
        norm = kernels.squaredNorm(start, dimension).squareRoot()
      }
      if norm > 0 {
        let inverse = 1 / norm
        for j in 0..<dimension { start[j] *= inverse }
      }
    }
  }

  /// A prepared copy of `vectors`: normalised for cosine.
  static func prepared(_ vectors: UnsafeBufferPointer<Float>, dimension: Int, metric: Metric, kernels: StoreKernels) -> [Float] {
    var copy = Array(vectors)
    if metric == .cosine {
      copy.withUnsafeMutableBufferPointer { normalize($0, dimension: dimension, kernels: kernels) }
    }
    return copy
  }
}

/// Maps slots to ids and back. While ids are the slot numbers (the common case of an
/// index filled without ids and never compacted) it stores nothing.
struct IDTable: Sendable {
  /// slot → id, or nil while id == slot.
  private(set) var explicit: [Int]?
  /// id → slot for live slots, only when `explicit` is set.
  private(set) var slotOf: [Int: UInt32] = [:]
  /// The id the next automatic assignment starts at.
  private(set) var nextID: Int = 0

  init() {}

  init(explicit: [Int]?, nextID: Int, live: (Int) -> Bool) {
    self.explicit = explicit
    self.nextID = nextID
    if let explicit {
      slotOf.reserveCapacity(explicit.count)
      for (slot, id) in explicit.enumerated() where live(slot) { slotOf[id] = UInt32(slot) }
    }
  }

  var isIdentity: Bool { explicit == nil }

  @inline(__always)
  func id(of slot: Int) -> Int { explicit?[slot] ?? slot }

  /// The slot of a live `id`, given the slot count and a liveness test.
  func slot(of id: Int, slotCount: Int, isLive: (Int) -> Bool) -> Int? {
    if explicit == nil {
      return id >= 0 && id < slotCount && isLive(id) ? id : nil
    }
    // Stale entries (ids of removed vectors whose slot was later reused) are filtered
    // by checking the slot is live and still holds this id.
    guard let explicit, let slot = slotOf[id].map(Int.init), slot < explicit.count, explicit[slot] == id, isLive(slot) else {
      return nil
    }
    return slot
  }

  /// Checks `ids` for a batch of `count` vectors and returns the ids to use.
  func resolve(_ ids: [Int]?, count: Int, slotCount: Int, isLive: (Int) -> Bool) throws(SearchError) -> [Int] {
    guard let ids else {
      let (end, overflow) = nextID.addingReportingOverflow(count)
      guard !overflow else { throw .invalidParameter(name: "ids", value: "automatic from \(nextID)", expected: "room below Int.max") }
      return Array(nextID..<end)
    }
    guard ids.count == count else { throw .idCountMismatch(vectors: count, ids: ids.count) }
    var seen = Set<Int>(minimumCapacity: ids.count)
    for id in ids {
      if !seen.insert(id).inserted || slot(of: id, slotCount: slotCount, isLive: isLive) != nil {
        throw .duplicateID(id)
      }
    }
    return ids
  }

  /// Records `id` for `slot` (a new slot == slotCount, or a reused one).
  mutating func assign(_ id: Int, to slot: Int, slotCount: Int) {
    if explicit == nil && id != slot {
      var table = Array(0..<slotCount)
      table.reserveCapacity(max(slotCount, slot + 1))
      explicit = table
      slotOf.reserveCapacity(slotCount)
      for s in 0..<slotCount { slotOf[s] = UInt32(s) }
    }
    if explicit != nil {
      if slot < explicit!.count {
        explicit![slot] = id
      } else {
        explicit!.append(id)
      }
      slotOf[id] = UInt32(slot)
    }
    if id >= nextID { nextID = id == Int.max ? id : id + 1 }
  }

  /// Forgets `id` (its slot is dead or reused).
  mutating func release(_ id: Int) {
    if explicit != nil { slotOf[id] = nil }
  }

  /// Moves the id of `source` to `destination` (flat compaction) and shortens the table.
  mutating func move(from source: Int, to destination: Int, removing removedID: Int, slotCount: Int) {
    if explicit == nil {
      if source == destination { return }  // removed the last slot: still identity
      explicit = Array(0..<slotCount)
      for s in 0..<slotCount { slotOf[s] = UInt32(s) }
    }
    slotOf[removedID] = nil
    let movedID = explicit![source]
    explicit![destination] = movedID
    if source != destination { slotOf[movedID] = UInt32(destination) }
    explicit!.removeLast()
  }

  /// Approximate bytes held.
  var bytes: Int {
    guard let explicit else { return 0 }
    return explicit.capacity * 8 + slotOf.capacity * 13
  }
}
