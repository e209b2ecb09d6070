import ArrowheadCore

/// The vectors of an index, slot by slot: Float32 rows and/or quantized codes.
///
/// Cosine indexes store unit vectors (normalised on the way in) and search them by inner
/// product, so `internalMetric` is `.squaredL2` or `.innerProduct` only.
final class VectorStore: @unchecked Sendable {
  let dimension: Int
  let storage: VectorStorage
  /// `.squaredL2` or `.innerProduct`.
  let internalMetric: Metric
  /// Float32 rows (float32 storage, or the re-rank copy).
  let floats = RawBuffer()
  /// Code rows of `codeStride` bytes.
  let codes = RawBuffer()
  let codeStride: Int
  /// Set by `train` (quantized storage only).
  private(set) var quantizer: ScalarQuantizer?
  /// Per-dimension arrays the kernels read: scales, offsets, and the SQ4-permuted scales.
  private(set) var scalesBuffer: UnsafeMutablePointer<Float>
  private(set) var offsetsBuffer: UnsafeMutablePointer<Float>
  private(set) var permutedScales: UnsafeMutablePointer<Float>
  /// The kernels (from the owning index's engine) for this store's dimension.
  let kernels: StoreKernels

  init(dimension: Int, storage: VectorStorage, metric: Metric, engine: Engine) {
    self.dimension = dimension
    self.kernels = StoreKernels(engine: engine, dimension: dimension)
    self.storage = storage
    self.internalMetric = metric == .squaredL2 ? .squaredL2 : .innerProduct
    self.codeStride = storage.codeBytes(dimension: dimension)
    scalesBuffer = .allocate(capacity: max(dimension, 1))
    offsetsBuffer = .allocate(capacity: max(dimension, 1))
    permutedScales = .allocate(capacity: max(dimension, 1))
    scalesBuffer.initialize(repeating: 0, count: max(dimension, 1))
    offsetsBuffer.initialize(repeating: 0, count: max(dimension, 1))
    permutedScales.initialize(repeating: 0, count: max(dimension, 1))
  }

  deinit {
    scalesBuffer.deallocate()
    offsetsBuffer.deallocate()
    permutedScales.deallocate()
  }

  var keepsFloats: Bool { storage.keepsFloat32ForReranking }
  var isQuantized: Bool { storage.isQuantized }
  var floatStride: Int { dimension * 4 }

  /// Installs a quantizer (training result or loaded from a file).
  func install(_ quantizer: ScalarQuantizer) {
    self.quantizer = quantizer
    for j in 0..<dimension {
      scalesBuffer[j] = quantizer.scales[j]
      offsetsBuffer[j] = quantizer.offsets[j]
    }
    SearchCodeLayout.sq4Permute(scalesBuffer, count: dimension, into: permutedScales)
  }

  /// Trains the quantizer on `vectors` if the storage is quantized and untrained.
  func trainIfNeeded(_ vectors: UnsafeBufferPointer<Float>) throws(SearchError) {
    guard isQuantized, quantizer == nil, !vectors.isEmpty else { return }
    install(try ScalarQuantizer(bits: storage.encoding.bits, training: vectors, dimension: dimension))
  }

  /// Makes room for `slots` slots, keeping the first `used`.
  func reserve(slots: Int, used: Int, exact: Bool, threads: Int = 1) {
    if keepsFloats { floats.reserve(slots * floatStride, preserving: used * floatStride, exact: exact, threads: threads) }
    if isQuantized { codes.reserve(slots * codeStride, preserving: used * codeStride, exact: exact, threads: threads) }
  }

  func shrink(toFit slots: Int) {
    floats.shrink(toFit: keepsFloats ? slots * floatStride : 0)
    codes.shrink(toFit: isQuantized ? slots * codeStride : 0)
  }

  /// Writes `vector` (already normalised for cosine) into `slot` (capacity reserved).
  func store(
    _ vector: UnsafePointer<Float>, at slot: Int, kernels: EncodeKernels
  ) {
    if keepsFloats {
      (floats.pointer(Float.self) + slot * dimension).update(from: vector, count: dimension)
    }
    if isQuantized, let quantizer {
      quantizer.encode(
        vector, into: codes.pointer(UInt8.self) + slot * codeStride, scratch: kernels.scratch,
        quantizeKernel: kernels.quantize, packKernel: kernels.pack)
    }
  }

  /// Copies slot `source` over slot `destination`.
  func move(from source: Int, to destination: Int) {
    if keepsFloats {
      let base = floats.pointer(Float.self)
      (base + destination * dimension).update(from: base + source * dimension, count: dimension)
    }
    if isQuantized {
      let base = codes.pointer(UInt8.self)
      (base + destination * codeStride).update(from: base + source * codeStride, count: codeStride)
    }
  }

  /// The vector in `slot` as floats: the stored row, or the decoded codes.
  func vector(_ slot: Int) -> [Float] {
    var out = [Float](repeating: 0, count: dimension)
    out.withUnsafeMutableBufferPointer { buffer in
      let pointer = floatVector(slot, scratch: buffer.baseAddress!)
      if pointer != UnsafePointer(buffer.baseAddress!) { buffer.baseAddress!.update(from: pointer, count: dimension) }
    }
    return out
  }

  /// A pointer to the float vector of `slot` that the search compares against: the
  /// stored row for float32 storage; for quantized storage the decoded codes, written to
  /// `scratch` (`dimension` floats).
  @inline(__always)
  func floatVector(_ slot: Int, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    if !isQuantized { return UnsafePointer(floats.pointer(Float.self) + slot * dimension) }
    decode(slot, into: scratch)
    return UnsafePointer(scratch)
  }

  /// Decodes the codes of `slot` into `out`.
  @inline(__always)
  func decode(_ slot: Int, into out: UnsafeMutablePointer<Float>) {
    let row = codes.pointer(UInt8.self) + slot * codeStride
    if storage.encoding == .int8 {
      kernels.sq8Decode.sq8Decode(count: dimension, codes: row, scales: scalesBuffer, offsets: offsetsBuffer, out)
    } else {
      kernels.sq4Decode.sq4Decode(count: dimension, packed: row, scales: scalesBuffer, offsets: offsetsBuffer, out)
    }
  }

  /// The exact distance (smaller is nearer) between `query` and the Float32 copy of
  /// `slot`; requires `keepsFloats`.
  @inline(__always)
  func exactDistance(_ query: UnsafePointer<Float>, _ slot: Int) -> Float {
    distance(query, floats.pointer(Float.self) + slot * dimension)
  }

  /// Float-to-float distance, smaller is nearer.
  @inline(__always)
  func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    internalMetric == .squaredL2
      ? kernels.squaredDistance.squaredDistance(count: dimension, a, b) : -kernels.dot.dot(count: dimension, a, b)
  }

  /// Bytes used by `slots` slots.
  func usage(slots: Int) -> MemoryUsage {
    var usage = MemoryUsage()
    if storage.encoding == .float32 {
      usage.float32Bytes = floats.capacity
    } else {
      usage.rerankFloat32Bytes = floats.capacity
      usage.codeBytes = codes.capacity + 2 * dimension * 4
    }
    usage.mappedBytes = (floats.isMapped ? floats.capacity : 0) + (codes.isMapped ? codes.capacity : 0)
    return usage
  }
}

/// The backends an index's engine dispatches, kernel by kernel, for its vectors'
/// dimension. Resolved once per store, so per-vector calls pay no dispatch lookup.
struct StoreKernels: Sendable {
  let squaredDistance: any Backend
  let dot: any Backend
  let sumOfSquares: any Backend
  let sq8SquaredL2: any Backend
  let sq8Dot: any Backend
  let sq8Decode: any Backend
  let sq4SquaredL2: any Backend
  let sq4Dot: any Backend
  let sq4Decode: any Backend
  let squaredL2Rows: any Backend
  let dotRows: any Backend
  let sq8SquaredL2Rows: any Backend
  let sq8DotRows: any Backend
  let sq4SquaredL2Rows: any Backend
  let sq4DotRows: any Backend
  let sq8DotInt16Rows: any Backend

  init(engine: Engine, dimension: Int) {
    let shape = ShapeClass.vector(count: dimension)
    squaredDistance = engine.backend(for: .squaredDistance, shape)
    dot = engine.backend(for: .dot, shape)
    sumOfSquares = engine.backend(for: .sumOfSquares, shape)
    sq8SquaredL2 = engine.backend(for: .sq8SquaredL2, shape)
    sq8Dot = engine.backend(for: .sq8Dot, shape)
    sq8Decode = engine.backend(for: .sq8Decode, shape)
    sq4SquaredL2 = engine.backend(for: .sq4SquaredL2, shape)
    sq4Dot = engine.backend(for: .sq4Dot, shape)
    sq4Decode = engine.backend(for: .sq4Decode, shape)
    squaredL2Rows = engine.backend(for: .squaredL2Rows, shape)
    dotRows = engine.backend(for: .dotRows, shape)
    sq8SquaredL2Rows = engine.backend(for: .sq8SquaredL2Rows, shape)
    sq8DotRows = engine.backend(for: .sq8DotRows, shape)
    sq4SquaredL2Rows = engine.backend(for: .sq4SquaredL2Rows, shape)
    sq4DotRows = engine.backend(for: .sq4DotRows, shape)
    sq8DotInt16Rows = engine.backend(for: .sq8DotInt16Rows, shape)
  }

  /// ‖x‖² of one row.
  @inline(__always)
  func squaredNorm(_ x: UnsafePointer<Float>, _ dimension: Int) -> Float { sumOfSquares.sumOfSquares(count: dimension, x) }
}

/// The engine kernels and scratch used to encode vectors on one thread.
struct EncodeKernels {
  let quantize: any Backend
  let pack: any Backend
  let scratch: UnsafeMutablePointer<UInt8>

  /// Calls `body` with kernels from `engine` and a scratch of `dimension` bytes.
  static func with<R>(_ engine: Engine, dimension: Int, _ body: (EncodeKernels) throws(SearchError) -> R) throws(SearchError) -> R {
    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: max(dimension, 1))
    defer { scratch.deallocate() }
    let kernels = EncodeKernels(
      quantize: engine.backend(for: .quantize, .vector(count: dimension)),
      pack: engine.backend(for: .pack, .vector(count: dimension)),
      scratch: scratch)
    return try body(kernels)
  }
}
