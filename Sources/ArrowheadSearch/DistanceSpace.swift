import Arrowhead
import CArrowheadCPU

/// The distance from one prepared query to stored slots; smaller is nearer (squared L2,
/// or −q·x for inner product / cosine on unit vectors).
protocol SlotDistance {
  func callAsFunction(_ slot: UInt32) -> Float
  /// Asks the cache for every line of `slot`'s stored vector (see `prefetchLines`).
  func prefetch(_ slot: UInt32)
}

/// Asks the cache for every 64-byte line that `bytes` bytes at `row` may cover (one
/// prefetch per line plus one for the last byte, so an unaligned row is covered). Swift has
/// no prefetch instruction; CArrowheadCPU's `static inline` shim compiles to `prefetcht0`.
/// Issued for all unvisited neighbours of a node before any distance is computed, they put
/// every miss in flight at once, as hnswlib's `_mm_prefetch` calls do. Unlike loads,
/// prefetches retire at once, so a long vector (384 floats = 24 lines) does not fill the
/// reorder buffer with waiting loads.
@inline(__always)
func prefetchLines(_ row: UnsafeRawPointer, bytes: Int) {
  var offset = 0
  while offset < bytes {
    arrowhead_prefetch_for_read(row + offset)
    offset += 64
  }
  arrowhead_prefetch_for_read(row + (bytes - 1))
}

/// The vectors of an index seen by graph algorithms: prepare a query, fetch a slot's
/// float vector, compare two float vectors. One implementation per storage encoding, so
/// that generic HNSW code is specialised per encoding with no dynamic dispatch per
/// distance. Holds raw pointers: valid until the store's buffers next grow.
protocol DistanceSpace {
  associatedtype Query: SlotDistance
  var dimension: Int { get }
  /// Prepares `vector` as a query; `scratch` (≥ `dimension` floats) must stay untouched
  /// while the query is used.
  func query(_ vector: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Query
  /// The float vector of `slot`: the stored row, or its codes decoded into `scratch`.
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>
  /// The distance between two float vectors.
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float
  /// Asks the cache for every line of `slot`'s stored vector (see `prefetchLines`).
  func prefetch(_ slot: UInt32)
}

extension DistanceSpace {
  @inline(__always)
  func floatDistance(isL2: Bool, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    isL2 ? SearchKernels.squaredL2(a, b, dimension) : -SearchKernels.dot(a, b, dimension)
  }
}

// MARK: - Float32

struct Float32Space: DistanceSpace {
  let base: UnsafePointer<Float>
  let dimension: Int
  let isL2: Bool
  /// The engine's dot / squared-distance kernel (AVX2/AVX-512 when the CPU has them),
  /// used from `backendDimension` on: there the wider vectors win over this module's
  /// baseline-ISA SIMD by more than the cost of an indirect call.
  let backend: any Backend
  let useBackend: Bool

  /// Below this dimension the inlined in-module kernel is faster than a call.
  static let backendDimension = 128

  init(_ store: VectorStore, engine: Engine) {
    base = UnsafePointer(store.floats.pointer(Float.self))
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
    backend = engine.backend(for: isL2 ? .squaredDistance : .dot, .vector(count: store.dimension))
    useBackend = store.dimension >= Self.backendDimension
  }

  struct Query: SlotDistance {
    let query: UnsafePointer<Float>
    let base: UnsafePointer<Float>
    let dimension: Int
    let isL2: Bool
    let backend: any Backend
    let useBackend: Bool

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      let row = base + Int(slot) * dimension
      if useBackend {
        return isL2 ? backend.squaredDistance(count: dimension, query, row) : -backend.dot(count: dimension, query, row)
      }
      return isL2 ? SearchKernels.squaredL2(query, row, dimension) : -SearchKernels.dot(query, row, dimension)
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(base + Int(slot) * dimension, bytes: dimension * 4) }
  }

  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Query {
    Query(query: vector, base: base, dimension: dimension, isL2: isL2, backend: backend, useBackend: useBackend)
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    base + Int(slot) * dimension
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(base + Int(slot) * dimension, bytes: dimension * 4) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    if useBackend {
      return isL2 ? backend.squaredDistance(count: dimension, a, b) : -backend.dot(count: dimension, a, b)
    }
    return floatDistance(isL2: isL2, a, b)
  }
}

// MARK: - SQ8

struct SQ8Space: DistanceSpace {
  let codes: UnsafePointer<UInt8>
  let scales: UnsafePointer<Float>
  let offsets: UnsafePointer<Float>
  let dimension: Int
  let isL2: Bool

  init(_ store: VectorStore) {
    codes = UnsafePointer(store.codes.pointer(UInt8.self))
    scales = UnsafePointer(store.scalesBuffer)
    offsets = UnsafePointer(store.offsetsBuffer)
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
  }

  /// L2: Σ (a − c·s)² with a = q − m. Inner product: −(Σ (q·s)·c + Σ q·m).
  struct Query: SlotDistance {
    let transformed: UnsafePointer<Float>
    let scales: UnsafePointer<Float>
    let constant: Float
    let codes: UnsafePointer<UInt8>
    let dimension: Int
    let isL2: Bool

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      let row = codes + Int(slot) * dimension
      return isL2
        ? SearchKernels.sq8SquaredL2(transformed, scales, row, dimension)
        : -(SearchKernels.sq8Dot(transformed, row, dimension) + constant)
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension) }
  }

  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Query {
    var constant: Float = 0
    if isL2 {
      for j in 0..<dimension { scratch[j] = vector[j] - offsets[j] }
    } else {
      for j in 0..<dimension { scratch[j] = vector[j] * scales[j] }
      constant = SearchKernels.dot(vector, offsets, dimension)
    }
    return Query(transformed: scratch, scales: scales, constant: constant, codes: codes, dimension: dimension, isL2: isL2)
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    SearchKernels.sq8Decode(codes + Int(slot) * dimension, scales, offsets, dimension, scratch)
    return UnsafePointer(scratch)
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float { floatDistance(isL2: isL2, a, b) }
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

  init(_ store: VectorStore) {
    codes = UnsafePointer(store.codes.pointer(UInt8.self))
    stride = store.codeStride
    scales = UnsafePointer(store.scalesBuffer)
    offsets = UnsafePointer(store.offsetsBuffer)
    permutedScales = UnsafePointer(store.permutedScales)
    dimension = store.dimension
    isL2 = store.internalMetric == .squaredL2
  }

  struct Query: SlotDistance {
    let transformed: UnsafePointer<Float>
    let permutedScales: UnsafePointer<Float>
    let constant: Float
    let codes: UnsafePointer<UInt8>
    let stride: Int
    let dimension: Int
    let isL2: Bool

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      let row = codes + Int(slot) * stride
      return isL2
        ? SearchKernels.sq4SquaredL2(transformed, permutedScales, row, dimension)
        : -(SearchKernels.sq4Dot(transformed, row, dimension) + constant)
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * stride, bytes: stride) }
  }

  /// `scratch` needs 2·dimension floats (the transform, then its permutation).
  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Query {
    var constant: Float = 0
    let natural = scratch + dimension
    if isL2 {
      for j in 0..<dimension { natural[j] = vector[j] - offsets[j] }
    } else {
      for j in 0..<dimension { natural[j] = vector[j] * scales[j] }
      constant = SearchKernels.dot(vector, offsets, dimension)
    }
    SearchKernels.sq4Permuted(natural, dimension, scratch)
    return Query(
      transformed: scratch, permutedScales: permutedScales, constant: constant, codes: codes, stride: stride,
      dimension: dimension, isL2: isL2)
  }

  @inline(__always)
  func vector(_ slot: UInt32, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    SearchKernels.sq4Decode(codes + Int(slot) * stride, scales, offsets, dimension, scratch)
    return UnsafePointer(scratch)
  }

  @inline(__always)
  func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * stride, bytes: stride) }

  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float { floatDistance(isL2: isL2, a, b) }
}
