import ArrowheadCore

/// How a code maps back to a real value.
///
/// | mode            | reconstruction        | parameters per group | min-max choice                                        |
/// |-----------------|-----------------------|----------------------|-------------------------------------------------------|
/// | `.floatMinimum` | x̂ = q·s + m           | s, m (two Float32)   | s = (max − min)/(2ᵇ − 1), m = min                     |
/// | `.zeroPoint`    | x̂ = (q − z)·s         | s (Float32), z (b bits) | range widened to include 0, s = (hi − lo)/(2ᵇ − 1), z = round(−lo/s) |
/// | `.symmetric`    | x̂ = (q − 2ᵇ⁻¹)·s      | s (Float32)          | s = max|x| / (2ᵇ⁻¹ − 1)                               |
///
/// `.floatMinimum` is the default: it is what ggml Q4_1/Q4_K, HQQ and quanto store, and it
/// represents a group's extremes exactly. `.zeroPoint` is the GPTQ/AWQ checkpoint layout
/// (an integer zero-point, so 0 is exactly representable). `.symmetric` uses the
/// *restricted* signed range −(2ᵇ⁻¹ − 1)…2ᵇ⁻¹ − 1 so that ±max|x| are both exact; code 0
/// is never produced (at 2 bits this is ternary: −s, 0, +s).
public enum QuantizationMode: String, Sendable, Codable, CaseIterable {
  /// x̂ = (q − 2^(bits−1))·s with s = max|x| / (2^(bits−1) − 1).
  case symmetric
  /// x̂ = q·s + m with a float minimum m.
  case floatMinimum
  /// x̂ = (q − z)·s with an integer zero-point z in 0…2^bits − 1.
  case zeroPoint

  /// The kernel form: `.floatMinimum` for the float minimum, `.zeroPoint` otherwise
  /// (symmetric is the zero-point form with z = 2^(bits−1)).
  public var form: AffineForm { self == .floatMinimum ? .floatMinimum : .zeroPoint }

  /// The spelling used in files and reports: `symmetric`, `float_minimum`, `zero_point`.
  public var fileName: String {
    switch self {
    case .symmetric: "symmetric"
    case .floatMinimum: "float_minimum"
    case .zeroPoint: "zero_point"
    }
  }

  /// The mode spelled `name` in files (`fileName`), or nil.
  public init?(fileName name: String) {
    guard let mode = Self.allCases.first(where: { $0.fileName == name }) else { return nil }
    self = mode
  }
}

/// Which weights share one scale (and offset).
///
/// A tensor of shape [d₀, d₁, …] is seen as a matrix of d₀ rows (output channels) by
/// d₁·d₂·… columns (the input dimension, flattened); a 1-D tensor is one row, a scalar one
/// element. Groups never straddle rows.
public enum QuantizationGranularity: Sendable, Hashable, Codable, CustomStringConvertible {
  /// One scale for the whole tensor.
  case perTensor
  /// One scale per row (output channel).
  case perChannel
  /// One scale per run of `size` consecutive weights of a row; when `size` does not divide
  /// the row, the row's last group is shorter.
  case perGroup(Int)

  /// "per-tensor", "per-channel" or "g<size>".
  public var description: String {
    switch self {
    case .perTensor: "per-tensor"
    case .perChannel: "per-channel"
    case .perGroup(let size): "g\(size)"
    }
  }
}

/// A weight quantization scheme: bit width, granularity and mode.
///
/// Codes are unsigned integers 0…2ᵇ − 1, computed by the backend's `quantize` kernel
/// (true division, round half to even, clamp), hence bit-identical on every backend.
///
/// ```swift
/// let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .floatMinimum)
/// scheme.bitsPerWeight(shape: [384, 384])   // 4 + 64/64 = 5.0 (two Float32 per 64 weights)
/// ```
public struct QuantizationScheme: Sendable, Hashable, CustomStringConvertible {
  /// The bit widths the quantizer supports.
  public static let supportedBits = [2, 3, 4, 8]
  /// The group sizes the quantizer supports. Below 8, the Float32 scale alone costs ≥ 4
  /// bits per weight; above 8192 a per-channel scheme says the same thing more plainly.
  public static let supportedGroupSizes = 8...8192

  /// Bits per code.
  public let bits: Int
  /// Which weights share parameters.
  public let granularity: QuantizationGranularity
  /// How codes map back to values.
  public let mode: QuantizationMode

  /// Creates a scheme; throws `.unsupportedBits` / `.unsupportedGroupSize` listing what is
  /// supported. Defaults: 4 bits, groups of 64, float minimum — the common "INT4 g64"
  /// setting of ggml Q4_1-style and HQQ checkpoints.
  public init(bits: Int = 4, granularity: QuantizationGranularity = .perGroup(64), mode: QuantizationMode = .floatMinimum) throws(QuantizationError) {
    guard Self.supportedBits.contains(bits) else { throw .unsupportedBits(bits, supported: Self.supportedBits) }
    if case .perGroup(let size) = granularity, !Self.supportedGroupSizes.contains(size) {
      throw .unsupportedGroupSize(size, supported: Self.supportedGroupSizes)
    }
    self.bits = bits
    self.granularity = granularity
    self.mode = mode
  }

  /// The largest code, 2^bits − 1.
  public var maxCode: Int { (1 << bits) - 1 }

  /// The implicit zero-point of symmetric quantization, 2^(bits−1).
  public var symmetricZeroPoint: Int { 1 << (bits - 1) }

  /// The same scheme at another bit width.
  public func with(bits newBits: Int) throws(QuantizationError) -> QuantizationScheme {
    try QuantizationScheme(bits: newBits, granularity: granularity, mode: mode)
  }

  /// The geometry of a tensor of `shape` under this scheme.
  ///
  /// - Throws: `.shapeMismatch` naming `tensor` for a negative dimension, or for dimensions
  ///   whose product (zeros aside) exceeds `QuantizedModelFormat.maximumElements`
  ///   (`QuantizationLayout.validate(shape:tensor:)`): such a shape used to trap on overflow,
  ///   or to give a meaningless layout.
  public func layout(shape: [Int], tensor: String = "tensor") throws(QuantizationError) -> QuantizationLayout {
    try QuantizationLayout.validate(shape: shape, tensor: tensor)
    return QuantizationLayout(shape: shape, scheme: self)
  }

  /// Stored bits per weight of a tensor of `shape`, codes and parameters included (0 for an
  /// empty tensor).
  ///
  /// - Throws: what `layout(shape:tensor:)` throws.
  public func bitsPerWeight(shape: [Int], tensor: String = "tensor") throws(QuantizationError) -> Double {
    try layout(shape: shape, tensor: tensor).bitsPerWeight
  }

  /// E.g. "int4 g64 float_minimum".
  public var description: String { "int\(bits) \(granularity) \(mode.fileName)" }
}

/// Where a tensor's codes and parameters live under a scheme: rows, columns, groups and
/// the byte sizes of each stored part.
///
/// Codes are packed **row by row**: each row is a little-endian bit stream (code j of the
/// row occupies bits j·b … j·b + b − 1; stream bit k is bit k mod 8 of byte ⌊k/8⌋, as the
/// backends' `pack` kernel writes it) padded with zero bits to a whole byte, so that any row
/// can be unpacked on its own. When columns·b is a multiple of 8 (every real layer) there is
/// no padding and the tensor's codes are one continuous stream.
public struct QuantizationLayout: Sendable, Hashable {
  /// The scheme.
  public let scheme: QuantizationScheme
  /// The tensor's shape.
  public let shape: [Int]
  /// Rows: the first dimension (1 for a scalar or a 1-D tensor).
  public let rows: Int
  /// Columns: the product of the other dimensions.
  public let columns: Int
  /// Weights per group (the last group of a row may be shorter; per tensor: all of them).
  public let groupSize: Int
  /// Groups per row (per tensor: 1 for the whole tensor).
  public let groupsPerRow: Int
  /// Groups in the tensor.
  public let groupCount: Int

  /// The layout of a shape that passed `validate(shape:tensor:)` (or was checked as
  /// strictly when read from a file); `QuantizationScheme.layout(shape:tensor:)` is the
  /// checked entry point.
  package init(shape: [Int], scheme: QuantizationScheme) {
    self.scheme = scheme
    self.shape = shape
    rows = shape.count >= 2 ? shape[0] : 1
    columns = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1)
    switch scheme.granularity {
    case .perTensor:
      groupSize = max(1, rows * columns)
      groupsPerRow = 1
      groupCount = rows * columns > 0 ? 1 : 0
    case .perChannel:
      groupSize = max(1, columns)
      groupsPerRow = columns > 0 ? 1 : 0
      groupCount = rows * groupsPerRow
    case .perGroup(let size):
      groupSize = size
      groupsPerRow = (columns + size - 1) / size
      groupCount = rows * groupsPerRow
    }
  }

  /// Throws `.shapeMismatch` naming `tensor` for a negative dimension, or for dimensions
  /// whose product (zeros aside) exceeds `QuantizedModelFormat.maximumElements`: the layout
  /// multiplies them (and the columns by the bit width), which must not overflow. What the
  /// throwing entry points check before they build a layout from a caller's shape.
  package static func validate(shape: [Int], tensor: String) throws(QuantizationError) {
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw .shapeMismatch(tensor: tensor, expected: "non-negative dimensions", actual: "\(shape)")
    }
    var product = 1
    for dimension in shape where dimension > 0 {
      let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
      guard !overflow, next <= QuantizedModelFormat.maximumElements else {
        throw .shapeMismatch(
          tensor: tensor, expected: "at most \(QuantizedModelFormat.maximumElements) weights (the dimensions multiplied, zeros aside)",
          actual: "\(shape)")
      }
      product = next
    }
  }

  /// The number of weights.
  public var count: Int { rows * columns }
  /// Whether groups tile each row exactly (no shorter last group).
  public var groupsDivideRows: Bool {
    if case .perGroup(let size) = scheme.granularity { return columns % size == 0 }
    return true
  }
  /// Bytes of one packed row: ⌈columns·bits/8⌉.
  public var rowByteCount: Int { (columns * scheme.bits + 7) / 8 }
  /// Bytes of packed codes: rows · rowByteCount.
  public var codeByteCount: Int { rows * rowByteCount }
  /// Bytes of scales: 4 per group.
  public var scaleByteCount: Int { 4 * groupCount }
  /// Bytes of offsets: 4 per group (float minimum), ⌈groups·bits/8⌉ (zero-points packed
  /// at the code width), or 0 (symmetric).
  public var offsetByteCount: Int {
    switch scheme.mode {
    case .floatMinimum: 4 * groupCount
    case .zeroPoint: (groupCount * scheme.bits + 7) / 8
    case .symmetric: 0
    }
  }
  /// All stored bytes.
  public var storedByteCount: Int { codeByteCount + scaleByteCount + offsetByteCount }
  /// Stored bits per weight, parameters included (0 for an empty tensor).
  public var bitsPerWeight: Double { count == 0 ? 0 : Double(8 * storedByteCount) / Double(count) }

  /// The group holding weight (`row`, `column`).
  @inline(__always)
  public func group(row: Int, column: Int) -> Int {
    switch scheme.granularity {
    case .perTensor: 0
    case .perChannel: row
    case .perGroup(let size): row * groupsPerRow + column / size
    }
  }

  /// The columns of group `index` within its row (per tensor: the whole tensor as one row
  /// range is not meaningful, so this returns all columns).
  public func columns(ofGroup index: Int) -> Range<Int> {
    switch scheme.granularity {
    case .perTensor, .perChannel: return 0..<columns
    case .perGroup(let size):
      let start = (index % groupsPerRow) * size
      return start..<min(columns, start + size)
    }
  }
}
