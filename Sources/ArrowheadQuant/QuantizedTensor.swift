import ArrowheadCore

/// A quantized tensor: packed codes, per-group scales and offsets, shape and scheme.
///
/// Storage follows `QuantizationLayout`: codes packed row by row as a little-endian bit
/// stream; one scale and one offset per group, groups numbered row by row
/// (group = row·groupsPerRow + column/groupSize). Offsets are float minima
/// (`.floatMinimum`) or integral zero-points (`.zeroPoint`, and `.symmetric` where every
/// zero-point is 2^(bits−1)).
///
/// ```swift
/// let q = try Quantizer(scheme: scheme).quantize(weights, shape: [384, 384])
/// let approx = q.dequantized()            // Ŵ as Float32
/// let y = try q.multiply(x)               // Ŵx without materialising Ŵ
/// print(q.bitsPerWeight)                  // 5.0 for INT4, g64, float minimum
/// ```
public struct QuantizedTensor: Sendable, Equatable {
  /// The scheme.
  public let scheme: QuantizationScheme
  /// The original tensor's shape.
  public let shape: [Int]
  /// Packed codes, `layout.codeByteCount` bytes.
  public let packedCodes: [UInt8]
  /// One scale per group.
  public let scales: [Float]
  /// One offset per group (float minimum or zero-point, see `AffineParameters`).
  public let offsets: [Float]

  /// Creates a tensor from its stored parts after checking them: byte and group counts
  /// must match the layout; each group's parameters must be storable
  /// (`AffineParameters.storageProblem`) and dequantize every code to a finite value
  /// (`reconstructionProblem`); a group with scale 0 must hold only the code the quantizers
  /// write for it (`codeForZeroScale`), since any other code means the parameters and codes
  /// disagree. O(groups), plus one unpacking of the codes when some scale is 0.
  public init(
    shape: [Int], scheme: QuantizationScheme, packedCodes: [UInt8], scales: [Float], offsets: [Float], name: String = "tensor",
    engine: Engine = .default
  ) throws(QuantizationError) {
    let layout = try scheme.layout(shape: shape, tensor: name)
    guard packedCodes.count == layout.codeByteCount else {
      throw .shapeMismatch(tensor: name, expected: "\(layout.codeByteCount) packed code bytes for \(shape) at \(scheme.bits) bits", actual: "\(packedCodes.count)")
    }
    guard scales.count == layout.groupCount, offsets.count == layout.groupCount else {
      throw .shapeMismatch(tensor: name, expected: "\(layout.groupCount) scales and offsets (\(scheme.granularity))", actual: "\(scales.count) scales, \(offsets.count) offsets")
    }
    // Codes are packed low bits first, each row from a fresh byte: the bits past a row's
    // last code are padding, which the packers write as 0. Set bits there are not codes of
    // this layout (a byte from elsewhere, or another width), and they would be written back
    // unchanged.
    let paddingBits = layout.rowByteCount * 8 - layout.columns * scheme.bits
    if paddingBits > 0 && layout.rowByteCount > 0 {
      for row in 0..<layout.rows where packedCodes[(row + 1) * layout.rowByteCount - 1] >> (8 - paddingBits) != 0 {
        throw .shapeMismatch(
          tensor: name, expected: "0 in the last \(paddingBits) bits of each row's last code byte (padding past \(layout.columns) codes of \(scheme.bits) bits)",
          actual: "row \(row): byte 0x\(String(packedCodes[(row + 1) * layout.rowByteCount - 1], radix: 16))")
      }
    }
    for group in 0..<layout.groupCount {
      let parameters = AffineParameters(scale: scales[group], offset: offsets[group])
      if let problem = parameters.storageProblem(bits: scheme.bits, mode: scheme.mode)
        ?? parameters.reconstructionProblem(bits: scheme.bits, mode: scheme.mode)
      {
        throw .invalidParameters(tensor: name, group: group, reason: problem)
      }
    }
    self.init(unchecked: shape, scheme: scheme, packedCodes: packedCodes, scales: scales, offsets: offsets)
    if scales.contains(0) {
      let codes = self.codes(engine: engine)
      for (index, code) in codes.enumerated() {
        let group = layout.group(row: index / layout.columns, column: index % layout.columns)
        guard scales[group] == 0 else { continue }
        let expected = parameters(ofGroup: group).codeForZeroScale(mode: scheme.mode)
        if Int(code) != expected {
          throw .invalidParameters(
            tensor: name, group: group,
            reason: "scale 0 but code \(code) at flat index \(index) (a group with scale 0 holds only code \(expected)): codes and parameters disagree")
        }
      }
    }
  }

  /// Builds a tensor from one unpacked code per weight (row-major, each < 2^bits) and each
  /// group's parameters — what a whole-matrix quantizer such as GPTQ produces. The codes are
  /// packed with the engine's kernels. Throws on a code out of range, wrong counts or
  /// unstorable parameters.
  public init(
    shape: [Int], scheme: QuantizationScheme, codes: [UInt8], parameters: [AffineParameters],
    name: String = "tensor", engine: Engine = .default
  ) throws(QuantizationError) {
    let layout = try scheme.layout(shape: shape, tensor: name)
    guard codes.count == layout.count else {
      throw .shapeMismatch(tensor: name, expected: "\(layout.count) codes for \(shape)", actual: "\(codes.count)")
    }
    if let index = codes.firstIndex(where: { Int($0) > scheme.maxCode }) {
      throw .invalidParameters(tensor: name, group: layout.group(row: index / max(1, layout.columns), column: index % max(1, layout.columns)),
        reason: "code \(codes[index]) at flat index \(index) exceeds \(scheme.maxCode)")
    }
    var packed = [UInt8](repeating: 0, count: layout.codeByteCount)
    codes.withUnsafeBufferPointer { source in
      packed.withUnsafeMutableBufferPointer { destination in
        for row in 0..<(layout.columns > 0 ? layout.rows : 0) {
          BitPacking.pack(
            count: layout.columns, bits: scheme.bits, source.baseAddress! + row * layout.columns,
            destination.baseAddress! + row * layout.rowByteCount, engine: engine)
        }
      }
    }
    try self.init(
      shape: shape, scheme: scheme, packedCodes: packed, scales: parameters.map(\.scale), offsets: parameters.map(\.offset), name: name,
      engine: engine)
  }

  init(unchecked shape: [Int], scheme: QuantizationScheme, packedCodes: [UInt8], scales: [Float], offsets: [Float]) {
    self.shape = shape
    self.scheme = scheme
    self.packedCodes = packedCodes
    self.scales = scales
    self.offsets = offsets
  }

  /// The geometry (rows, columns, groups, byte sizes).
  public var layout: QuantizationLayout { QuantizationLayout(shape: shape, scheme: scheme) }
  /// The number of weights.
  public var count: Int { layout.count }
  /// Stored bytes: packed codes plus parameters as stored in a file.
  public var storedByteCount: Int { layout.storedByteCount }
  /// Stored bits per weight, parameters included.
  public var bitsPerWeight: Double { layout.bitsPerWeight }

  /// Group `index`'s parameters.
  public func parameters(ofGroup index: Int) -> AffineParameters {
    AffineParameters(scale: scales[index], offset: offsets[index])
  }

  /// The unpacked codes, one per weight, row-major.
  public func codes(engine: Engine = .default) -> [UInt8] {
    let layout = self.layout
    return [UInt8](uninitializedCount: layout.count) { buffer, initialized in
      packedCodes.withUnsafeBufferPointer { packed in
        for row in 0..<(layout.columns > 0 ? layout.rows : 0) {
          BitPacking.unpack(
            count: layout.columns, bits: scheme.bits, packed.baseAddress! + row * layout.rowByteCount,
            buffer.baseAddress! + row * layout.columns, engine: engine)
        }
      }
      initialized = layout.count
    }
  }

  /// Ŵ as Float32, row-major, computed with the engine's unpack and dequantize kernels in
  /// parallel over rows (x̂ = q·s + m or (q − z)·s, mul then add, identical on every backend).
  public func dequantized(engine: Engine = .default) -> [Float] {
    let layout = self.layout
    guard layout.count > 0 else { return [] }
    var output = [Float](repeating: 0, count: layout.count)
    output.withUnsafeMutableBufferPointer { destination in
      let target = UncheckedSendableBox(destination.baseAddress!)
      forEachRowBlock(engine: engine) { rows, codes in
        for row in rows {
          dequantizeRow(row, codes: codes, into: target.value + row * layout.columns, engine: engine)
        }
      }
    }
    return output
  }

  /// Calls `body` on contiguous row blocks in parallel, each with a scratch code buffer of
  /// one row.
  func forEachRowBlock(engine: Engine, _ body: (Range<Int>, UnsafeMutablePointer<UInt8>) -> Void) {
    let layout = self.layout
    let threads = layout.count >= 1 << 16 ? engine.effectiveThreads : 1
    Parallel.forEachChunk(layout.rows, threads: threads) { rows in
      let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, layout.columns))
      defer { scratch.deallocate() }
      body(rows, scratch)
    }
  }

  /// Unpacks and dequantizes one row into `destination` (columns floats).
  func dequantizeRow(_ row: Int, codes: UnsafeMutablePointer<UInt8>, into destination: UnsafeMutablePointer<Float>, engine: Engine) {
    let layout = self.layout
    guard layout.columns > 0 else { return }
    packedCodes.withUnsafeBufferPointer { packed in
      BitPacking.unpack(
        count: layout.columns, bits: scheme.bits, packed.baseAddress! + row * layout.rowByteCount, codes, engine: engine)
    }
    let parameterIndex = layout.group(row: row, column: 0)
    let groupSize = scheme.granularity == .perTensor ? layout.columns : layout.groupSize
    scales.withUnsafeBufferPointer { scales in
      offsets.withUnsafeBufferPointer { offsets in
        engine.backend(for: .dequantize, .vector(count: layout.columns)).dequantize(
          count: layout.columns, groupSize: groupSize, codes, scales: scales.baseAddress! + parameterIndex,
          offsets: offsets.baseAddress! + parameterIndex, form: scheme.mode.form, destination)
      }
    }
  }
}
