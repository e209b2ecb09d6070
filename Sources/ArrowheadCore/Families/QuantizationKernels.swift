// The quantization family: group statistics, affine quantize/dequantize, bit packing and
// integer dot products on codes.

/// Quantization kernels. Each requirement defaults to the reference implementation. Codes,
/// packing and dequantized values must be bit-identical on every backend.
public protocol QuantizationKernels {
  /// Minimum and maximum of each group of `groupSize` consecutive values (the last group
  /// may be shorter). Returns false if any value is NaN or ±∞ (the minima/maxima are then
  /// unspecified); the caller locates the first one.
  func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>) -> Bool

  /// Affine quantization of groups of `groupSize` values to one code byte each; see
  /// `AffineForm` for the formulas. Rounding is half to even; codes clamp to
  /// `0 … maxCode` (+∞ → maxCode, −∞ and NaN → 0: callers should reject non-finite input
  /// first, but the kernel never traps on it).
  func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>)

  /// The inverse of `quantize`: x̂ = q·s + m, or (q − z)·s, per group (mul then add, no FMA,
  /// so that every backend returns the same bits).
  func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>)

  /// Packs `count` codes of `bits` bits (1…8) into ⌈count·bits/8⌉ bytes as a little-endian
  /// bit stream: code i occupies stream bits i·bits … i·bits + bits − 1, and stream bit j is
  /// bit (j mod 8) of byte ⌊j/8⌋. Codes must already fit in `bits` bits. Trailing bits of
  /// the last byte are zero.
  func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>)

  /// The inverse of `pack`.
  func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>)

  /// Σ a[i]·b[i] over signed 8-bit codes, accumulated exactly in Int32 (exact while
  /// count ≤ 2^17).
  func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32

  /// Σ (a[i] − b[i])² over unsigned 8-bit codes, exact in Int32 (exact while count ≤ 2^15).
  func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32
}

extension QuantizationKernels {
  public func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    ReferenceKernels.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    ReferenceKernels.quantize(
      count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }

  public func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    ReferenceKernels.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    ReferenceKernels.pack(count: count, bits: bits, codes, packed)
  }

  public func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    ReferenceKernels.unpack(count: count, bits: bits, packed, codes)
  }

  public func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    ReferenceKernels.int8Dot(count: count, a, b)
  }

  public func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    ReferenceKernels.uint8SquaredL2(count: count, a, b)
  }
}

extension KernelOperation {
  /// `QuantizationKernels.groupMinMax`.
  public static let groupMinMax = KernelOperation(.quantization, 0, "groupMinMax")
  /// `QuantizationKernels.quantize`.
  public static let quantize = KernelOperation(.quantization, 1, "quantize")
  /// `QuantizationKernels.dequantize`.
  public static let dequantize = KernelOperation(.quantization, 2, "dequantize")
  /// `QuantizationKernels.pack`.
  public static let pack = KernelOperation(.quantization, 3, "pack")
  /// `QuantizationKernels.unpack`.
  public static let unpack = KernelOperation(.quantization, 4, "unpack")
  /// `QuantizationKernels.int8Dot`.
  public static let int8Dot = KernelOperation(.quantization, 5, "int8Dot")
  /// `QuantizationKernels.uint8SquaredL2`.
  public static let uint8SquaredL2 = KernelOperation(.quantization, 6, "uint8SquaredL2")
}

extension KernelFamily {
  static let quantizationOperations: [KernelOperation] = [
    .groupMinMax, .quantize, .dequantize, .pack, .unpack, .int8Dot, .uint8SquaredL2,
  ]
}

// MARK: - Checked entry points

extension Engine {
  /// Minimum and maximum of each group of `groupSize` consecutive values of `x` (the last
  /// group may be shorter). Returns false if `x` holds a NaN or ±∞ (the extremes are then
  /// unspecified).
  public func groupMinMax(
    _ x: UnsafeBufferPointer<Float>, groupSize: Int,
    minimums: UnsafeMutableBufferPointer<Float>, maximums: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) -> Bool {
    let groups = try Self.groupCount(x.count, groupSize: groupSize)
    try Self.requireCount(minimums.count, groups, "minimums")
    try Self.requireCount(maximums.count, groups, "maximums")
    guard let base = x.baseAddress, x.count > 0 else { return true }
    return backend(for: .groupMinMax, .vector(count: x.count)).groupMinMax(
      count: x.count, groupSize: groupSize, base, minimums: minimums.baseAddress!, maximums: maximums.baseAddress!)
  }

  /// Quantizes `x` group by group to one code byte per value (see `AffineForm`); `scales`
  /// and `offsets` hold one value per group of `groupSize`. Codes clamp to `0…maxCode`.
  public func quantize(
    _ x: UnsafeBufferPointer<Float>, groupSize: Int,
    scales: UnsafeBufferPointer<Float>, offsets: UnsafeBufferPointer<Float>, form: AffineForm, maxCode: Int,
    codes: UnsafeMutableBufferPointer<UInt8>
  ) throws(ArrowheadError) {
    let groups = try Self.groupCount(x.count, groupSize: groupSize)
    guard (1...255).contains(maxCode) else {
      throw .invalidParameter(name: "maxCode", value: "\(maxCode)", expected: "1…255")
    }
    try Self.requireCount(scales.count, groups, "scales")
    try Self.requireCount(offsets.count, groups, "offsets")
    try Self.requireCount(codes.count, x.count, "codes")
    guard let base = x.baseAddress, x.count > 0 else { return }
    backend(for: .quantize, .vector(count: x.count)).quantize(
      count: x.count, groupSize: groupSize, base, scales: scales.baseAddress!, offsets: offsets.baseAddress!,
      form: form, maxCode: maxCode, codes.baseAddress!)
  }

  /// The inverse of `quantize`: writes x̂ for every code into `values`.
  public func dequantize(
    _ codes: UnsafeBufferPointer<UInt8>, groupSize: Int,
    scales: UnsafeBufferPointer<Float>, offsets: UnsafeBufferPointer<Float>, form: AffineForm,
    into values: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    let groups = try Self.groupCount(codes.count, groupSize: groupSize)
    try Self.requireCount(scales.count, groups, "scales")
    try Self.requireCount(offsets.count, groups, "offsets")
    try Self.requireCount(values.count, codes.count, "values")
    guard let base = codes.baseAddress, codes.count > 0 else { return }
    backend(for: .dequantize, .vector(count: codes.count)).dequantize(
      count: codes.count, groupSize: groupSize, base, scales: scales.baseAddress!, offsets: offsets.baseAddress!,
      form: form, values.baseAddress!)
  }

  /// Packs every code of `codes` (each must fit in `bits` bits) into ⌈count·bits/8⌉ bytes
  /// of `packed` (see `QuantizationKernels.pack` for the bit order).
  public func pack(_ codes: UnsafeBufferPointer<UInt8>, bits: Int, into packed: UnsafeMutableBufferPointer<UInt8>) throws(ArrowheadError) {
    try Self.requireBits(bits)
    try Self.requireCount(packed.count, Self.packedByteCount(codes.count, bits: bits), "packed")
    // A wider code would spill into its neighbours' bits (the kernels do not mask).
    if bits < 8, let index = codes.firstIndex(where: { Int($0) >> bits != 0 }) {
      throw .invalidParameter(name: "codes[\(index)]", value: "\(codes[index])", expected: "0…\((1 << bits) - 1) (\(bits)-bit codes)")
    }
    guard let base = codes.baseAddress, codes.count > 0 else { return }
    backend(for: .pack, .vector(count: codes.count)).pack(count: codes.count, bits: bits, base, packed.baseAddress!)
  }

  /// Unpacks `codes.count` codes of `bits` bits from `packed`.
  public func unpack(_ packed: UnsafeBufferPointer<UInt8>, bits: Int, into codes: UnsafeMutableBufferPointer<UInt8>) throws(ArrowheadError) {
    try Self.requireBits(bits)
    try Self.requireCount(packed.count, Self.packedByteCount(codes.count, bits: bits), "packed")
    guard let base = packed.baseAddress, codes.count > 0 else { return }
    backend(for: .unpack, .vector(count: codes.count)).unpack(count: codes.count, bits: bits, base, codes.baseAddress!)
  }

  /// Σ a[i]·b[i] over signed bytes, exact (at most 2¹⁷ elements).
  public func int8Dot(_ a: UnsafeBufferPointer<Int8>, _ b: UnsafeBufferPointer<Int8>) throws(ArrowheadError) -> Int32 {
    try Self.requireSameLength(a.count, b.count)
    guard a.count <= 1 << 17 else {
      throw .invalidParameter(name: "count", value: "\(a.count)", expected: "at most 131072 (the Int32 sum stays exact)")
    }
    guard let x = a.baseAddress, let y = b.baseAddress, a.count > 0 else { return 0 }
    return backend(for: .int8Dot, .vector(count: a.count)).int8Dot(count: a.count, x, y)
  }

  /// Σ (a[i] − b[i])² over unsigned bytes, exact (at most 2¹⁵ elements).
  public func uint8SquaredL2(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) throws(ArrowheadError) -> Int32 {
    try Self.requireSameLength(a.count, b.count)
    guard a.count <= 1 << 15 else {
      throw .invalidParameter(name: "count", value: "\(a.count)", expected: "at most 32768 (the Int32 sum stays exact)")
    }
    guard let x = a.baseAddress, let y = b.baseAddress, a.count > 0 else { return 0 }
    return backend(for: .uint8SquaredL2, .vector(count: a.count)).uint8SquaredL2(count: a.count, x, y)
  }

  /// Bytes that `count` codes of `bits` bits occupy packed.
  public static func packedByteCount(_ count: Int, bits: Int) -> Int { (count * bits + 7) / 8 }

  static func groupCount(_ count: Int, groupSize: Int) throws(ArrowheadError) -> Int {
    guard groupSize >= 1 else {
      throw .invalidParameter(name: "groupSize", value: "\(groupSize)", expected: "≥ 1")
    }
    // ⌈count / groupSize⌉ without forming count + groupSize − 1 (overflows for a huge size).
    return count == 0 ? 0 : (count - 1) / groupSize + 1
  }

  static func requireCount(_ actual: Int, _ required: Int, _ argument: String) throws(ArrowheadError) {
    guard actual >= required else { throw .bufferTooShort(argument: argument, required: required, actual: actual) }
  }

  static func requireBits(_ bits: Int) throws(ArrowheadError) {
    guard (1...8).contains(bits) else { throw .invalidParameter(name: "bits", value: "\(bits)", expected: "1…8") }
  }
}

// MARK: - Calibration

extension Calibration {
  /// 256 values (small) or 16 384 (large), groups of 64, 4-bit codes.
  static func quantizationProblems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let n = shape == .small ? 256 : 16384
    let group = 64, groups = n / group
    let x = UnsafePointer(s.floats), codes = s.outputBytes, bytes = UnsafePointer(s.bytes)
    // Scales and offsets that map [−1, 1) onto 0…15.
    let scales = s.work, offsets = s.work + groups
    for g in 0..<groups {
      scales[g] = 2 / 15
      offsets[g] = -1
    }
    let label = "\(operation.name) of \(n)"
    switch operation {
    case .groupMinMax:
      return [CalibrationProblem(label: label) {
        _ = $0.groupMinMax(count: n, groupSize: group, x, minimums: s.output, maximums: s.output + groups)
      }]
    case .quantize:
      return [CalibrationProblem(label: label) {
        $0.quantize(count: n, groupSize: group, x, scales: scales, offsets: offsets, form: .floatMinimum, maxCode: 15, codes)
      }]
    case .dequantize:
      return [CalibrationProblem(label: label) {
        $0.dequantize(count: n, groupSize: group, bytes, scales: scales, offsets: offsets, form: .floatMinimum, s.output)
      }]
    case .pack:
      // Codes masked to 4 bits once, in a region the other problems do not write.
      let fourBit = s.outputBytes + CalibrationScratch.capacity / 2
      for i in 0..<n { fourBit[i] = s.bytes[i] & 15 }
      return [CalibrationProblem(label: label + ", 4 bits") { $0.pack(count: n, bits: 4, fourBit, codes) }]
    case .unpack:
      return [CalibrationProblem(label: label + ", 4 bits") { $0.unpack(count: n, bits: 4, bytes, codes) }]
    case .int8Dot:
      let m = shape == .small ? 64 : 4096
      return [CalibrationProblem(label: "int8Dot of \(m)") {
        _ = $0.int8Dot(count: m, UnsafeRawPointer(bytes).assumingMemoryBound(to: Int8.self),
                       UnsafeRawPointer(bytes + m).assumingMemoryBound(to: Int8.self))
      }]
    case .uint8SquaredL2:
      let m = shape == .small ? 64 : 4096
      return [CalibrationProblem(label: "uint8SquaredL2 of \(m)") { _ = $0.uint8SquaredL2(count: m, bytes, bytes + m) }]
    default:
      return []
    }
  }
}
