import ArrowheadCore
import CArrowheadCPU

/// The distance from one prepared query to stored slots; smaller is nearer (squared L2,
/// or −q·x for inner product / cosine on unit vectors).
protocol SlotDistance {
  func callAsFunction(_ slot: UInt32) -> Float
  /// out[i] = self(slots[i]) for `count` slots: one kernel call for a node's neighbours.
  func distances(_ slots: UnsafePointer<UInt32>, count: Int, into out: UnsafeMutablePointer<Float>)
  /// Asks the cache for every line of `slot`'s stored vector (see `prefetchLines`).
  func prefetch(_ slot: UInt32)
  /// Asks the outer caches (L2) for every line of `slot`'s stored vector.
  func prefetchToL2(_ slot: UInt32)
}

/// Asks the cache for every 64-byte line that `bytes` bytes at `row` may cover (one
/// prefetch per line plus one for the last byte, so an unaligned row is covered). Swift has
/// no prefetch instruction; CArrowheadCPU's `static inline` shim compiles to `prefetcht0`.
/// Issued for all unvisited neighbours of a node before any distance is computed, they put
/// every miss in flight at once, as hnswlib's `_mm_prefetch` calls do; `outerCachesOnly`:
/// into L2 only (`prefetcht1`). Unlike loads,
/// prefetches retire at once, so a long vector (384 floats = 24 lines) does not fill the
/// reorder buffer with waiting loads.
@inline(__always)
func prefetchLines(_ row: UnsafeRawPointer, bytes: Int, outerCachesOnly: Bool = false) {
  var offset = 0
  while offset < bytes {
    if outerCachesOnly { arrowhead_prefetch_to_l2(row + offset) } else { arrowhead_prefetch_for_read(row + offset) }
    offset += 64
  }
  if outerCachesOnly { arrowhead_prefetch_to_l2(row + (bytes - 1)) } else { arrowhead_prefetch_for_read(row + (bytes - 1)) }
}

/// The vectors of an index seen by graph algorithms: prepare a query, fetch a slot's
/// float vector, compare two float vectors. One implementation per storage encoding, so
/// that generic HNSW code is specialised per encoding with no dynamic dispatch per
/// distance. Holds raw pointers: valid until the store's buffers next grow.
protocol DistanceSpace {
  associatedtype Query: SlotDistance
  var dimension: Int { get }
  /// Prepares `vector` as a query in `scratch`'s query rows (`row(0)`, 2·`dimension`
  /// floats) and integer query, which must stay untouched while the query is used.
  func query(_ vector: UnsafePointer<Float>, scratch: SearchScratch) -> Query
  /// The float vector of `slot`: the stored row, or its codes decoded into `scratch`.
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>
  /// The distance between two float vectors.
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float
  /// Asks the cache for every line of `slot`'s stored vector (see `prefetchLines`).
  func prefetch(_ slot: UInt32)
}

extension DistanceSpace {
  /// Float-to-float distance through the store's dispatched level-1 kernels.
  @inline(__always)
  func floatDistance(_ kernels: StoreKernels, isL2: Bool, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    isL2 ? kernels.squaredDistance.squaredDistance(count: dimension, a, b) : -kernels.dot.dot(count: dimension, a, b)
  }
}

// MARK: - Float32

/// Float32 rows: every distance is one call of the dot / squared-distance kernel that the
/// engine dispatched for this dimension (the AVX2 / AVX-512 variant where the CPU has it).
struct Float32Space: DistanceSpace {
  let base: UnsafePointer<Float>
  let dimension: Int
  let isL2: Bool
  let kernel: any Backend
  let kernels: StoreKernels

  init(_ store: VectorStore) {
    base = UnsafePointer(store.floats.pointer(Float.self))
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
    kernels = store.kernels
    kernel = isL2 ? store.kernels.squaredDistance : store.kernels.dot
  }

  struct Query: SlotDistance {
    let query: UnsafePointer<Float>
    let base: UnsafePointer<Float>
    let dimension: Int
    let isL2: Bool
    let kernel: any Backend
    let batch: any Backend

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      let row = base + Int(slot) * dimension
      return isL2 ? kernel.squaredDistance(count: dimension, query, row) : -kernel.dot(count: dimension, query, row)
    }

    @inline(__always)
    func distances(_ slots: UnsafePointer<UInt32>, count: Int, into out: UnsafeMutablePointer<Float>) {
      if isL2 {
        batch.squaredL2Rows(dimension: dimension, query: query, base: base, stride: dimension, rows: slots, rowCount: count, out)
      } else {
        batch.dotRows(dimension: dimension, query: query, base: base, stride: dimension, rows: slots, rowCount: count, out)
        for i in 0..<count { out[i] = -out[i] }
      }
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(base + Int(slot) * dimension, bytes: dimension * 4) }
    /// Every line, or only the first two where `arrowhead_search_prefetches_heads()` (Intel:
    /// the L2 streamer fetches the rest; see `pairedRows` in Backends/SIMD/SearchCodes.swift).
    @inline(__always)
    func prefetchToL2(_ slot: UInt32) {
      let bytes = arrowhead_search_prefetches_heads() != 0 ? min(128, dimension * 4) : dimension * 4
      prefetchLines(base + Int(slot) * dimension, bytes: bytes, outerCachesOnly: true)
    }
  }

  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch: SearchScratch) -> Query {
    Query(
      query: vector, base: base, dimension: dimension, isL2: isL2, kernel: kernel,
      batch: isL2 ? kernels.squaredL2Rows : kernels.dotRows)
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    base + Int(slot) * dimension
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(base + Int(slot) * dimension, bytes: dimension * 4) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    isL2 ? kernel.squaredDistance(count: dimension, a, b) : -kernel.dot(count: dimension, a, b)
  }
}

// MARK: - SQ8

struct SQ8Space: DistanceSpace {
  let codes: UnsafePointer<UInt8>
  let scales: UnsafePointer<Float>
  let offsets: UnsafePointer<Float>
  let dimension: Int
  let isL2: Bool
  let kernels: StoreKernels

  init(_ store: VectorStore) {
    codes = UnsafePointer(store.codes.pointer(UInt8.self))
    scales = UnsafePointer(store.scalesBuffer)
    offsets = UnsafePointer(store.offsetsBuffer)
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
    kernels = store.kernels
  }

  /// L2: Σ (a − c·s)² with a = q − m. Inner product: −(σ·Σ w·c + Σ q·m), with the
  /// weights q ⊙ s rounded to 16-bit integers w (`SearchCodeLayout.quantizeQuery`, σ =
  /// max|q ⊙ s|/16 383) and scored by the integer kernel `sq8DotInt16Rows` (`vpdpwssd` on
  /// AVX-512 VNNI: a third of the float × code kernel's instructions per row). The
  /// rounding moves a distance by at most σ/2·Σc, far below the codes' own step (sⱼ/2 per
  /// coordinate). A query whose weights are not finite keeps the float kernel.
  struct Query: SlotDistance {
    let transformed: UnsafePointer<Float>
    let scales: UnsafePointer<Float>
    let constant: Float
    let codes: UnsafePointer<UInt8>
    let dimension: Int
    let isL2: Bool
    /// The rounded inner-product weights and σ, or nil (squared L2, or non-finite weights).
    let integers: UnsafePointer<Int16>?
    let integerScale: Float
    let kernel: any Backend
    let batch: any Backend

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      if integers != nil {
        var slot = slot
        var out: Float = 0
        distances(&slot, count: 1, into: &out)
        return out
      }
      let row = codes + Int(slot) * dimension
      return isL2
        ? kernel.sq8SquaredL2(count: dimension, shifted: transformed, scales: scales, codes: row)
        : -(kernel.sq8Dot(count: dimension, weights: transformed, codes: row) + constant)
    }

    @inline(__always)
    func distances(_ slots: UnsafePointer<UInt32>, count: Int, into out: UnsafeMutablePointer<Float>) {
      if let integers {
        batch.sq8DotInt16Rows(dimension: dimension, weights: integers, codes: codes, stride: dimension, rows: slots, rowCount: count, out)
        for i in 0..<count { out[i] = -(integerScale * out[i] + constant) }
      } else if isL2 {
        batch.sq8SquaredL2Rows(
          dimension: dimension, shifted: transformed, scales: scales, codes: codes, stride: dimension, rows: slots, rowCount: count, out)
      } else {
        batch.sq8DotRows(dimension: dimension, weights: transformed, codes: codes, stride: dimension, rows: slots, rowCount: count, out)
        for i in 0..<count { out[i] = -(out[i] + constant) }
      }
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension) }
    @inline(__always)
    func prefetchToL2(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension, outerCachesOnly: true) }
  }

  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch search: SearchScratch) -> Query {
    let scratch = search.row(0)
    var constant: Float = 0
    var integers: UnsafePointer<Int16>? = nil
    var integerScale: Float = 0
    if isL2 {
      for j in 0..<dimension { scratch[j] = vector[j] - offsets[j] }
    } else {
      for j in 0..<dimension { scratch[j] = vector[j] * scales[j] }
      constant = kernels.dot.dot(count: dimension, vector, offsets)
      if let scale = SearchCodeLayout.quantizeQuery(scratch, count: dimension, into: search.integerQuery) {
        integers = UnsafePointer(search.integerQuery)
        integerScale = scale
      }
    }
    return Query(
      transformed: scratch, scales: scales, constant: constant, codes: codes, dimension: dimension, isL2: isL2,
      integers: integers, integerScale: integerScale,
      kernel: isL2 ? kernels.sq8SquaredL2 : kernels.sq8Dot,
      batch: isL2 ? kernels.sq8SquaredL2Rows : (integers != nil ? kernels.sq8DotInt16Rows : kernels.sq8DotRows))
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    kernels.sq8Decode.sq8Decode(count: dimension, codes: codes + Int(slot) * dimension, scales: scales, offsets: offsets, scratch)
    return UnsafePointer(scratch)
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float { floatDistance(kernels, isL2: isL2, a, b) }
}

// MARK: - SQ4

struct SQ4Space: DistanceSpace {
  let codes: UnsafePointer<UInt8>
  let stride: Int
  let scales: UnsafePointer<Float>
  let offsets: UnsafePointer<Float>
  let permutedScales: UnsafePointer<Float>
  let dimension: Int
  let isL2: Bool
  let kernels: StoreKernels

  init(_ store: VectorStore) {
    codes = UnsafePointer(store.codes.pointer(UInt8.self))
    stride = store.codeStride
    scales = UnsafePointer(store.scalesBuffer)
    offsets = UnsafePointer(store.offsetsBuffer)
    permutedScales = UnsafePointer(store.permutedScales)
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
    kernels = store.kernels
  }

  struct Query: SlotDistance {
    let transformed: UnsafePointer<Float>
    let permutedScales: UnsafePointer<Float>
    let constant: Float
    let codes: UnsafePointer<UInt8>
    let stride: Int
    let dimension: Int
    let isL2: Bool
    let kernel: any Backend
    let batch: any Backend

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      let row = codes + Int(slot) * stride
      return isL2
        ? kernel.sq4SquaredL2(count: dimension, shifted: transformed, scales: permutedScales, packed: row)
        : -(kernel.sq4Dot(count: dimension, weights: transformed, packed: row) + constant)
    }

    @inline(__always)
    func distances(_ slots: UnsafePointer<UInt32>, count: Int, into out: UnsafeMutablePointer<Float>) {
      if isL2 {
        batch.sq4SquaredL2Rows(
          dimension: dimension, shifted: transformed, scales: permutedScales, packed: codes, stride: stride, rows: slots,
          rowCount: count, out)
      } else {
        batch.sq4DotRows(dimension: dimension, weights: transformed, packed: codes, stride: stride, rows: slots, rowCount: count, out)
        for i in 0..<count { out[i] = -(out[i] + constant) }
      }
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * stride, bytes: stride) }
    @inline(__always)
    func prefetchToL2(_ slot: UInt32) { prefetchLines(codes + Int(slot) * stride, bytes: stride, outerCachesOnly: true) }
  }

  /// `scratch` needs 2·dimension floats (the transform, then its permutation).
  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch search: SearchScratch) -> Query {
    let scratch = search.row(0)
    var constant: Float = 0
    let natural = scratch + dimension
    if isL2 {
      for j in 0..<dimension { natural[j] = vector[j] - offsets[j] }
    } else {
      for j in 0..<dimension { natural[j] = vector[j] * scales[j] }
      constant = kernels.dot.dot(count: dimension, vector, offsets)
    }
    SearchCodeLayout.sq4Permute(natural, count: dimension, into: scratch)
    return Query(
      transformed: scratch, permutedScales: permutedScales, constant: constant, codes: codes, stride: stride,
      dimension: dimension, isL2: isL2, kernel: isL2 ? kernels.sq4SquaredL2 : kernels.sq4Dot,
      batch: isL2 ? kernels.sq4SquaredL2Rows : kernels.sq4DotRows)
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    kernels.sq4Decode.sq4Decode(count: dimension, packed: codes + Int(slot) * stride, scales: scales, offsets: offsets, scratch)
    return UnsafePointer(scratch)
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * stride, bytes: stride) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float { floatDistance(kernels, isL2: isL2, a, b) }
}
