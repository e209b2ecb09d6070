import ArrowheadCore

/// Per-dimension affine scalar quantization of vectors (SQ8 / SQ4): dimension j maps
/// x ↦ clamp(round_half_even((x − mⱼ)/sⱼ), 0, 2^bits − 1) and back to code·sⱼ + mⱼ.
///
/// Trained from the per-dimension minimum mⱼ and maximum Mⱼ of a sample:
/// sⱼ = (Mⱼ − mⱼ)/(2^bits − 1), so the sample's range is covered exactly and the
/// worst-case error inside it is sⱼ/2. A constant dimension gets sⱼ = 0 and decodes to
/// mⱼ exactly. Encoding runs the engine's `.quantize` kernel (one group per value,
/// `.floatMinimum`) and, for 4 bits, `.pack`, so codes are bit-identical on every backend.
///
/// 4-bit codes are packed two per byte, little-endian: value 2i in the low nibble of byte
/// i, value 2i + 1 in the high nibble; an odd dimension leaves the last high nibble 0.
public struct ScalarQuantizer: Sendable, Hashable, Codable {
  /// Bits per code: 8 or 4.
  public let bits: Int
  /// sⱼ, one per dimension.
  public let scales: [Float]
  /// mⱼ, one per dimension.
  public let offsets: [Float]

  /// The number of dimensions.
  public var dimension: Int { scales.count }
  /// The largest code, 2^bits − 1.
  public var maxCode: Int { (1 << bits) - 1 }
  /// Bytes per encoded vector: d (8 bits) or ⌈d/2⌉ (4 bits).
  public var codeBytes: Int { bits == 8 ? dimension : (dimension + 1) / 2 }

  /// A quantizer with given parameters. Throws if `bits` is not 4 or 8, the arrays differ
  /// in length, a parameter is not finite or a scale is negative, or the largest code of a
  /// dimension decodes past the Float32 range (offset + (2^bits − 1)·scale not finite).
  public init(bits: Int, scales: [Float], offsets: [Float]) throws(SearchError) {
    guard bits == 8 || bits == 4 else {
      throw .invalidParameter(name: "bits", value: "\(bits)", expected: "4 or 8")
    }
    guard scales.count == offsets.count else {
      throw .dimensionMismatch(argument: "offsets", expected: scales.count, actual: offsets.count)
    }
    if let j = scales.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
      throw .invalidParameter(name: "scales[\(j)]", value: "\(scales[j])", expected: "a finite value ≥ 0")
    }
    if let j = offsets.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(argument: "offsets", row: 0, column: j)
    }
    // Every code must decode to a finite value: the largest one is offset + maxCode·scale
    // (a scale of 10³⁸ decoded code 255 to ∞, and a search over such codes found nothing).
    let largestCode = Float((1 << bits) - 1)
    if let j = scales.indices.first(where: { j in
      let product = largestCode * scales[j]
      return !product.isFinite || !(product + offsets[j]).isFinite
    }) {
      throw .invalidParameter(
        name: "scales[\(j)]", value: "\(scales[j]) with offset \(offsets[j])",
        expected: "offset + \(Int(largestCode))·scale within the Float32 range (every code decodes to a finite value)")
    }
    self.bits = bits
    self.scales = scales
    self.offsets = offsets
  }

  /// Trains on `rows` vectors of `dimension` values (row-major, all finite): per-dimension
  /// min/max. O(rows·d). Throws `.invalidParameter` when a dimension's max − min exceeds
  /// the Float32 range (no finite scale covers it).
  public init(
    bits: Int, training vectors: UnsafeBufferPointer<Float>, dimension: Int
  ) throws(SearchError) {
    guard dimension > 0, vectors.count >= dimension, vectors.count % dimension == 0 else {
      throw .dimensionMismatch(argument: "training vectors", expected: dimension, actual: vectors.count)
    }
    var minimums = Array(vectors[0..<dimension])
    var maximums = minimums
    let rows = vectors.count / dimension
    for row in 1..<max(rows, 1) {
      let start = row * dimension
      for j in 0..<dimension {
        let value = vectors[start + j]
        if value < minimums[j] { minimums[j] = value }
        if value > maximums[j] { maximums[j] = value }
      }
    }
    let levels = Float((1 << bits) - 1)
    // A range past Float32 (finite values of both signs beyond ±1.7e38) has no finite
    // scale: a scale of 0 would encode every vector as the dimension's minimum.
    if let j = (0..<dimension).first(where: { !(maximums[$0] - minimums[$0]).isFinite }) {
      throw .invalidParameter(
        name: "training vectors, dimension \(j)", value: "range \(minimums[j]) … \(maximums[j])",
        expected: "a maximum − minimum within the Float32 range (≤ \(Float.greatestFiniteMagnitude))")
    }
    let scales = (0..<dimension).map { j in
      let range = maximums[j] - minimums[j]
      return range > 0 ? range / levels : 0
    }
    try self.init(bits: bits, scales: scales, offsets: minimums)
  }

  /// Encodes one vector into `codeBytes` bytes at `codes`. `scratch` needs `dimension`
  /// bytes (unpacked codes, 4-bit only).
  func encode(
    _ vector: UnsafePointer<Float>, into codes: UnsafeMutablePointer<UInt8>,
    scratch: UnsafeMutablePointer<UInt8>, quantizeKernel: any Backend, packKernel: any Backend
  ) {
    scales.withUnsafeBufferPointer { s in
      offsets.withUnsafeBufferPointer { m in
        if bits == 8 {
          quantizeKernel.quantize(
            count: dimension, groupSize: 1, vector, scales: s.baseAddress!, offsets: m.baseAddress!,
            form: .floatMinimum, maxCode: maxCode, codes)
        } else {
          quantizeKernel.quantize(
            count: dimension, groupSize: 1, vector, scales: s.baseAddress!, offsets: m.baseAddress!,
            form: .floatMinimum, maxCode: maxCode, scratch)
          packKernel.pack(count: dimension, bits: 4, scratch, codes)
        }
      }
    }
  }

  /// Encodes vectors (row-major) into codes, `codeBytes` per vector, with `engine`'s kernels.
  public func encode(_ vectors: [Float], engine: Engine = .default) throws(SearchError) -> [UInt8] {
    guard vectors.count % max(dimension, 1) == 0 else {
      throw .dimensionMismatch(argument: "vectors", expected: dimension, actual: vectors.count % max(dimension, 1))
    }
    let rows = dimension == 0 ? 0 : vectors.count / dimension
    var codes = [UInt8](repeating: 0, count: rows * codeBytes)
    var scratch = [UInt8](repeating: 0, count: dimension)
    let quantizeKernel = engine.backend(for: .quantize, .vector(count: dimension))
    let packKernel = engine.backend(for: .pack, .vector(count: dimension))
    vectors.withUnsafeBufferPointer { v in
      codes.withUnsafeMutableBufferPointer { c in
        scratch.withUnsafeMutableBufferPointer { s in
          for row in 0..<rows {
            encode(v.baseAddress! + row * dimension, into: c.baseAddress! + row * codeBytes,
                   scratch: s.baseAddress!, quantizeKernel: quantizeKernel, packKernel: packKernel)
          }
        }
      }
    }
    return codes
  }

  /// Decodes codes (`codeBytes` per vector) back to values code·sⱼ + mⱼ.
  public func decode(_ codes: [UInt8], engine: Engine = .default) throws(SearchError) -> [Float] {
    guard codeBytes > 0, codes.count % codeBytes == 0 else {
      throw .dimensionMismatch(argument: "codes", expected: codeBytes, actual: codes.count % max(codeBytes, 1))
    }
    let rows = codes.count / codeBytes
    var out = [Float](repeating: 0, count: rows * dimension)
    codes.withUnsafeBufferPointer { c in
      out.withUnsafeMutableBufferPointer { o in
        for row in 0..<rows {
          decode(c.baseAddress! + row * codeBytes, into: o.baseAddress! + row * dimension, engine: engine)
        }
      }
    }
    return out
  }

  /// Decodes one vector with `engine`'s search-code kernels.
  func decode(_ codes: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<Float>, engine: Engine) {
    let shape = ShapeClass.vector(count: dimension)
    scales.withUnsafeBufferPointer { s in
      offsets.withUnsafeBufferPointer { m in
        if bits == 8 {
          engine.backend(for: .sq8Decode, shape).sq8Decode(count: dimension, codes: codes, scales: s.baseAddress!, offsets: m.baseAddress!, out)
        } else {
          engine.backend(for: .sq4Decode, shape).sq4Decode(count: dimension, packed: codes, scales: s.baseAddress!, offsets: m.baseAddress!, out)
        }
      }
    }
  }
}
