// The quantized-matmul family: y = x·Ŵᵀ (+ b) where Ŵ is a quantized weight matrix (INT8,
// INT4, INT3, INT2 codes with one scale and one offset per group of columns) and x is
// Float32, in two kernels:
//
//   weight-only   x stays Float32; codes are expanded to floats in registers (M = 1) or one
//                 panel tile at a time (M > 1), never to a Float32 copy of Ŵ.
//   int8          each (row of x, weight group) is quantized on the fly to int8 with its own
//                 scale, and the group's dot products run on integers (VNNI `vpdpbusd`,
//                 AVX2 `vpmaddubsw`, …) before one float rescale per group.
//
// Both read Ŵ in one packed layout (`QuantizedMatrixLayout`) that every backend shares,
// made once from the quantizer's row-major bit stream by `QuantizedMatrix.init`.
//
// Maths, for output n of row i, groups g of G columns, codes q, scale s, offset o:
//   float minimum  ŵ = q·s + m         Σⱼ ŵⱼxⱼ = Σ_g [ s·Σ q·x + m·Σ x ]
//   zero-point     ŵ = (q − z)·s       Σⱼ ŵⱼxⱼ = Σ_g s·[ Σ q·x − z·Σ x ]
// int8 activations: per (row, group), t = max|x|/127, r = 127/max|x| (Float32 division),
// a = clamp(round_half_even(x·r), −127, 127), x̂ = t·a; the kernel returns Ŵ·x̂ (the group
// sums Σ q·a and Σ a are exact integers). A group of zeros gets t = 0 and a = 0; a group
// holding NaN or ±∞ gets t = NaN, so that the row's outputs are NaN (never a trap).
// int16 activations (two int8 digits): with the same v = x·r, a = clamp(round_half_even(v),
// ±127) and b = clamp(round_half_even((v − a)·254), ±127); x̂ = t·a + (t/254)·b, so |x − x̂|
// ≤ t/508 (plus Float32 rounding), and the kernel sums Σ q·a and Σ q·b as two int8 products.

/// Which arithmetic a quantized matmul uses for the activations.
///
/// `.weightOnly` is the default: its result is Ŵ·x up to Float32 rounding, so the only
/// error is the weights'. `.int8` is faster on batches (integer dot products) but adds the
/// rounding of x to 8 bits: on real all-MiniLM-L6-v2 hidden states that multiplies the
/// output error of INT8 g64 weights by 1.7–2.3 (groups of 64; the 8-bit steps of the
/// activations are as coarse as the weights' own); for INT4 weights it adds under 1 %.
/// `.int16` rounds x to two int8 digits (≈ 16 bits: error ×1.00 on the same data) at twice
/// the integer work of `.int8`.
public enum QuantizedMatmulMode: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
  /// W8A32 / W4A32: Float32 activations, codes expanded inside the kernel.
  case weightOnly = "weight-only"
  /// W8A8 / W4A8: activations quantized on the fly to int8 per (row, weight group).
  case int8
  /// W8A16 / W4A16: activations quantized on the fly per (row, weight group) to two int8
  /// digits, x̂ = t·a + (t/254)·b (about 16 bits), each multiplied as in `.int8`.
  case int16

  public var description: String { rawValue }

  /// The kernel that runs this mode.
  public var operation: KernelOperation {
    switch self {
    case .weightOnly: .quantizedMatmulWeightOnly
    case .int8: .quantizedMatmulInt8
    case .int16: .quantizedMatmulInt16
    }
  }
}

/// The packed layout of a quantized weight matrix Ŵ (`rows` outputs × `columns` inputs) as
/// the quantized-matmul kernels read it. A contract every backend shares, like BLIS's packed
/// panels: rows in panels of 16, columns in groups padded to a multiple of 8, codes in
/// 4-bit (INT2…INT4) or 8-bit (INT5…INT8) containers.
///
/// | part | index | content |
/// |---|---|---|
/// | padded column | j = g·P + u | column g·G + u when u < the group's length, else padding |
/// | 8-bit codes | p·panelBytes + (j/4)·64 + 4r + (j mod 4) | code of row 16p + r, padded column j |
/// | 4-bit codes | p·panelBytes + (j/8)·64 + 4r + (j mod 4) | low nibble: j mod 8 < 4, high nibble: ≥ 4 |
/// | scales, offsets | (p·groupsPerRow + g)·16 + r | s, and m (float minimum) or z (zero-point) |
///
/// with G the group size, P = ⌈G/8⌉·8 the padded group, r the row within its panel. So a
/// 64-byte line holds 16 rows × 4 consecutive columns (8-bit) or × 8 columns (4-bit): one
/// `vpdpbusd` (16 rows × 4 columns) per 8-bit line, two per 4-bit line after splitting the
/// nibbles, and 16 rows' worth of one column after a byte shuffle. Padding codes,
/// scales and offsets are 0 (padding rows produce outputs that are never written; padding
/// columns meet zero activations).
public struct QuantizedMatrixLayout: Sendable, Hashable, CustomStringConvertible {
  /// Rows of a panel: one 512-bit vector of Int32 or Float32.
  public static let panelRows = 16
  /// Groups are padded to a multiple of this many columns (two 4-column quads).
  public static let columnBlock = 8
  /// The most rows, columns and weights (rows · columns) a layout describes: 2⁴⁸.
  public static let maximumWeights = 1 << 48

  /// Rows of Ŵ (outputs, N).
  public let rows: Int
  /// Columns of Ŵ (inputs, K).
  public let columns: Int
  /// Bits per code (1…8); codes are 0 … 2^bits − 1.
  public let bits: Int
  /// Columns per group (G, 1 … columns; per channel: `columns`). A row's last group is
  /// shorter when G does not divide `columns`.
  public let groupSize: Int
  /// How a code maps back to a weight.
  public let form: AffineForm

  /// Describes a layout. Throws `.negativeDimension`, or `.invalidParameter` for bits
  /// outside 1…8, a group size < 1, or more than `maximumWeights` rows, columns or weights.
  /// A group size above `columns` means one group per row (it is stored as `columns`).
  public init(rows: Int, columns: Int, bits: Int, groupSize: Int, form: AffineForm) throws(ArrowheadError) {
    if rows < 0 { throw .negativeDimension(argument: "rows", value: rows) }
    if columns < 0 { throw .negativeDimension(argument: "columns", value: columns) }
    guard (1...8).contains(bits) else { throw .invalidParameter(name: "bits", value: "\(bits)", expected: "1…8") }
    guard groupSize >= 1 else { throw .invalidParameter(name: "groupSize", value: "\(groupSize)", expected: "≥ 1") }
    // The byte counts below multiply rows, padded columns and the panel height: keep every
    // product far from overflow (2⁴⁸ weights is beyond any matrix that fits in memory).
    let (weights, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard !overflow, weights <= Self.maximumWeights, rows <= Self.maximumWeights, columns <= Self.maximumWeights else {
      throw .invalidParameter(
        name: "rows × columns", value: "\(rows) × \(columns)", expected: "at most \(Self.maximumWeights) rows, columns and weights")
    }
    self.rows = rows
    self.columns = columns
    self.bits = bits
    self.groupSize = columns > 0 ? min(groupSize, columns) : groupSize
    self.form = form
  }

  /// Bits of the container a code is stored in: 4 (bits ≤ 4) or 8.
  public var containerBits: Int { bits <= 4 ? 4 : 8 }
  /// Groups per row: ⌈columns / groupSize⌉.
  public var groupsPerRow: Int { columns == 0 ? 0 : (columns + groupSize - 1) / groupSize }
  /// Columns a group occupies once padded (P = ⌈G/8⌉·8).
  public var paddedGroupSize: Int { (groupSize + Self.columnBlock - 1) / Self.columnBlock * Self.columnBlock }
  /// Padded columns per row: groupsPerRow · P.
  public var paddedColumns: Int { groupsPerRow * paddedGroupSize }
  /// Panels of 16 rows: ⌈rows / 16⌉.
  public var panelCount: Int { (rows + Self.panelRows - 1) / Self.panelRows }
  /// Bytes of one panel's codes.
  public var panelByteCount: Int { paddedColumns * Self.panelRows * containerBits / 8 }
  /// Bytes of packed codes.
  public var codeByteCount: Int { panelCount * panelByteCount }
  /// Scales (and offsets) stored: 16 per (panel, group).
  public var parameterCount: Int { panelCount * groupsPerRow * Self.panelRows }
  /// Bytes the packed matrix occupies: codes plus scales and offsets (Float32).
  public var byteCount: Int { codeByteCount + 8 * parameterCount }

  /// Columns of group `g` (the last group of a row may be shorter).
  @inline(__always)
  public func groupLength(_ g: Int) -> Int { min(groupSize, columns - g * groupSize) }

  /// Where the code of (`row`, `column`) lives: byte index and, for 4-bit containers,
  /// the nibble shift (0 or 4).
  @inline(__always)
  public func codePosition(row: Int, column: Int) -> (byte: Int, shift: Int) {
    let panel = row / Self.panelRows, r = row % Self.panelRows
    let g = column / groupSize
    let j = g * paddedGroupSize + column % groupSize
    if containerBits == 8 {
      return (panel * panelByteCount + (j / 4) * 64 + 4 * r + j % 4, 0)
    }
    return (panel * panelByteCount + (j / 8) * 64 + 4 * r + j % 4, (j % 8) < 4 ? 0 : 4)
  }

  /// The index of (`row`, group `g`) in `scales` and `offsets`.
  @inline(__always)
  public func parameterIndex(row: Int, group g: Int) -> Int {
    (row / Self.panelRows * groupsPerRow + g) * Self.panelRows + row % Self.panelRows
  }

  /// "384×1536 int4 g64 float minimum".
  public var description: String {
    "\(rows)×\(columns) int\(bits) g\(groupSize) \(form == .floatMinimum ? "float minimum" : "zero-point")"
  }
}

/// The operand a quantized-matmul kernel reads: a packed layout and pointers to its codes,
/// scales and offsets (`QuantizedMatrix.withOperand` makes one).
public struct QuantizedMatrixOperand: @unchecked Sendable {
  /// The layout the buffers follow.
  public var layout: QuantizedMatrixLayout
  /// `layout.codeByteCount` bytes.
  public var codes: UnsafePointer<UInt8>
  /// `layout.parameterCount` scales.
  public var scales: UnsafePointer<Float>
  /// `layout.parameterCount` offsets: float minima or zero-points.
  public var offsets: UnsafePointer<Float>

  /// Bundles a layout and its buffers (trusted: see `QuantizedMatrix` for a checked one).
  public init(layout: QuantizedMatrixLayout, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>) {
    self.layout = layout
    self.codes = codes
    self.scales = scales
    self.offsets = offsets
  }
}

/// A quantized weight matrix packed for the quantized-matmul kernels (`QuantizedMatrixLayout`),
/// checked once when it is made so that every product can trust it.
///
/// Made from one code per weight (row-major, as the quantizer's `codes()` returns them) and
/// one scale and offset per (row, group). ArrowheadQuant adds `init(_: QuantizedTensor)` and
/// `QuantizedModelFile.matrix(_:)`.
///
/// Cost of packing: one pass over the codes (O(rows·columns)); memory: rows and groups
/// padded (to 16 and to a multiple of 8 columns), 4 bits per code for INT2…INT4 and 8 for
/// INT5…INT8, plus 8 bytes per (row, group) — for an INT4 g64 matrix 0.625 bytes per
/// weight, as in the quantized file.
///
/// ```swift
/// let layout = try QuantizedMatrixLayout(rows: 2, columns: 3, bits: 4, groupSize: 3, form: .floatMinimum)
/// let w = try QuantizedMatrix(layout: layout, codes: [0, 1, 2, 15, 14, 13], scales: [0.5, 0.25], offsets: [-1, 0])
/// let y = try Engine.default.multiply(try Matrix(rows: 1, columns: 3, elements: [1, 1, 1]), w)
/// // Ŵ = [[-1, -0.5, 0], [3.75, 3.5, 3.25]]: y = [-1.5, 10.5]
/// ```
public struct QuantizedMatrix: Sendable, Equatable {
  /// The packed layout.
  public let layout: QuantizedMatrixLayout
  /// Packed codes (`layout.codeByteCount` bytes), starting on a 64-byte boundary.
  public let codes: QuantizedCodes
  /// Scales (`layout.parameterCount`, padding rows 0).
  public let scales: [Float]
  /// Float minima or zero-points (`layout.parameterCount`, padding rows 0).
  public let offsets: [Float]

  /// Packs `codes` (rows·columns, row-major, each < 2^bits) with one scale and one offset
  /// per (row, group), row-major (`scales[row·groupsPerRow + g]`).
  ///
  /// Throws `.shapeMismatch` naming `name` when a count is wrong, `.invalidParameter` for a
  /// code that does not fit in `bits` bits and for a NaN or ±∞ scale or offset (naming the
  /// row, group and value).
  public init(
    layout: QuantizedMatrixLayout, codes: [UInt8], scales: [Float], offsets: [Float], name: String = "weights"
  ) throws(ArrowheadError) {
    let groups = layout.rows * layout.groupsPerRow
    guard codes.count == layout.rows * layout.columns else {
      throw .shapeMismatch(argument: "\(name) codes", expected: "\(layout.rows * layout.columns) codes (\(layout.rows)×\(layout.columns))", actual: "\(codes.count)")
    }
    guard scales.count == groups, offsets.count == groups else {
      throw .shapeMismatch(
        argument: "\(name) parameters",
        expected: "\(groups) scales and offsets (\(layout.rows) rows × \(layout.groupsPerRow) groups of \(layout.groupSize))",
        actual: "\(scales.count) scales, \(offsets.count) offsets")
    }
    let maxCode = (1 << layout.bits) - 1
    if let index = codes.firstIndex(where: { Int($0) > maxCode }) {
      throw .invalidParameter(
        name: "\(name) code at row \(index / max(1, layout.columns)), column \(index % max(1, layout.columns))",
        value: "\(codes[index])", expected: "0…\(maxCode) (\(layout.bits)-bit codes)")
    }
    for index in 0..<groups where !scales[index].isFinite || !offsets[index].isFinite {
      let which = scales[index].isFinite ? "offset" : "scale"
      let value = scales[index].isFinite ? offsets[index] : scales[index]
      throw .invalidParameter(
        name: "\(name) \(which) of row \(index / layout.groupsPerRow), group \(index % layout.groupsPerRow)",
        value: "\(value)", expected: "a finite value")
    }
    self.layout = layout
    let packed = QuantizedCodes(zeroedCount: layout.codeByteCount)
    var packedScales = [Float](repeating: 0, count: layout.parameterCount)
    var packedOffsets = [Float](repeating: 0, count: layout.parameterCount)
    codes.withUnsafeBufferPointer { source in
      Self.pack(layout, source.baseAddress, into: packed.storage.base)
    }
    // No groups (0 columns): nothing to place, however many rows.
    for row in 0..<(layout.groupsPerRow > 0 ? layout.rows : 0) {
      for g in 0..<layout.groupsPerRow {
        let index = layout.parameterIndex(row: row, group: g)
        packedScales[index] = scales[row * layout.groupsPerRow + g]
        packedOffsets[index] = offsets[row * layout.groupsPerRow + g]
      }
    }
    self.codes = packed
    self.scales = packedScales
    self.offsets = packedOffsets
  }

  /// Scatters row-major codes into the packed layout (one pass; the positions of
  /// `QuantizedMatrixLayout.codePosition`, computed incrementally).
  private static func pack(_ layout: QuantizedMatrixLayout, _ source: UnsafePointer<UInt8>?, into packed: UnsafeMutablePointer<UInt8>?) {
    guard let source, let packed, layout.columns > 0 else { return }
    let eightBit = layout.containerBits == 8
    for row in 0..<layout.rows {
      let line = source + row * layout.columns
      let base = packed + (row / QuantizedMatrixLayout.panelRows) * layout.panelByteCount + 4 * (row % QuantizedMatrixLayout.panelRows)
      for g in 0..<layout.groupsPerRow {
        let start = g * layout.groupSize, first = g * layout.paddedGroupSize
        for u in 0..<layout.groupLength(g) {
          let j = first + u, code = line[start + u]
          if eightBit {
            base[((j >> 2) << 6) + (j & 3)] = code
          } else {
            base[((j >> 3) << 6) + (j & 3)] |= (j & 4) == 0 ? code : code << 4
          }
        }
      }
    }
  }

  /// The code of (`row`, `column`).
  public func code(row: Int, column: Int) -> UInt8 {
    let (byte, shift) = layout.codePosition(row: row, column: column)
    return layout.containerBits == 8 ? codes[byte] : (codes[byte] >> UInt8(shift)) & 0x0F
  }

  /// Ŵ[row, column] as the quantizer's `dequantize` computes it (q·s + m, or (q − z)·s).
  public func weight(row: Int, column: Int) -> Float {
    let index = layout.parameterIndex(row: row, group: column / layout.groupSize)
    let q = Float(code(row: row, column: column))
    return layout.form == .floatMinimum ? q * scales[index] + offsets[index] : (q - offsets[index]) * scales[index]
  }

  /// Calls `body` with the kernel operand over this matrix's buffers.
  public func withOperand<R>(_ body: (QuantizedMatrixOperand) throws -> R) rethrows -> R {
    try codes.withUnsafeBufferPointer { c in
      try scales.withUnsafeBufferPointer { s in
        try offsets.withUnsafeBufferPointer { o in
          var placeholder: UInt8 = 0
          var zero: Float = 0
          return try withUnsafePointer(to: &placeholder) { p in
            try withUnsafePointer(to: &zero) { z in
              try body(QuantizedMatrixOperand(
                layout: layout, codes: c.baseAddress ?? p, scales: s.baseAddress ?? z, offsets: o.baseAddress ?? z))
            }
          }
        }
      }
    }
  }
}

/// The packed codes of a `QuantizedMatrix`: immutable bytes whose first byte sits on a
/// 64-byte boundary, so that each 64-byte line of 16 rows that a kernel loads is one cache
/// line (a Swift array's elements start 32 bytes into a 16-byte aligned block: every line
/// then spans two, which cost the AVX-512 int8 kernel 3–4 % at MiniLM shapes).
///
/// A random-access collection of bytes (`codes[i]`, `codes.count`, `Array(codes)`); copies
/// share the storage, which is never written after the matrix is made.
public struct QuantizedCodes: RandomAccessCollection, Sendable, Equatable {
  /// The bytes, allocated at a 64-byte boundary and freed with the last copy.
  final class Storage: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    let count: Int
    init(zeroedCount count: Int) {
      self.count = count
      base = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1), alignment: 64)
        .bindMemory(to: UInt8.self, capacity: Swift.max(count, 1))
      base.initialize(repeating: 0, count: Swift.max(count, 1))
    }
    deinit { base.deallocate() }
  }

  let storage: Storage

  /// `count` zero bytes (filled by `QuantizedMatrix.init` before anyone else sees them).
  init(zeroedCount count: Int) { storage = Storage(zeroedCount: count) }

  public var startIndex: Int { 0 }
  public var endIndex: Int { storage.count }

  /// The byte at `position` (0 ..< count).
  public subscript(position: Int) -> UInt8 {
    precondition(position >= 0 && position < storage.count, "code byte \(position) out of 0..<\(storage.count)")
    return storage.base[position]
  }

  /// Calls `body` with the bytes (read-only; valid only during the call).
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try withExtendedLifetime(storage) { try body(UnsafeBufferPointer(start: storage.base, count: storage.count)) }
  }

  public static func == (a: QuantizedCodes, b: QuantizedCodes) -> Bool {
    a.storage === b.storage || a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
  }
}

/// The int8 quantization of activations that the `.int8` kernel applies, as one function
/// every backend must reproduce bit for bit: per group of `length` values,
/// r = 127/max|x| (Float32 division), a = clamp(round_half_even(x·r), −127, 127) and
/// t = max|x|/127; a group whose max|x| is below 2⁻¹⁰⁰ (zeros) gives t = 0, a = 0; NaN or
/// ±∞ anywhere gives t = NaN and a = 0.
public enum ActivationQuantization {
  /// Quantizes `length` values; returns (t, Σa).
  public static func quantizeGroup(_ x: UnsafePointer<Float>, length: Int, into codes: UnsafeMutablePointer<Int8>) -> (scale: Float, sum: Int) {
    var maximum: Float = 0
    var finite = true
    for j in 0..<length {
      let magnitude = abs(x[j])
      if !(magnitude <= .greatestFiniteMagnitude) { finite = false }
      if magnitude > maximum { maximum = magnitude }
    }
    guard finite else {
      codes.update(repeating: 0, count: length)
      return (.nan, 0)
    }
    // Below 2⁻¹⁰⁰ the group counts as zero (127/max would overflow to ∞ near 2⁻¹²⁶).
    guard maximum >= 0x1p-100 else {
      codes.update(repeating: 0, count: length)
      return (0, 0)
    }
    let reciprocal = 127 / maximum
    var sum = 0
    for j in 0..<length {
      let a = Int(min(max((x[j] * reciprocal).rounded(.toNearestOrEven), -127), 127))
      codes[j] = Int8(a)
      sum += a
    }
    return (maximum / 127, sum)
  }

  /// The two-digit (int16) rule: with r = 127/max|x| and v = x·r (Float32),
  /// a = clamp(round_half_even(v), ±127), b = clamp(round_half_even((v − a)·254), ±127);
  /// x̂ = t·a + (t/254)·b. Zero and non-finite groups as in `quantizeGroup` (both scales 0,
  /// or both NaN). Returns t and t/254 (Float32) and Σa, Σb.
  public static func quantizeGroupTwoDigits(
    _ x: UnsafePointer<Float>, length: Int, high: UnsafeMutablePointer<Int8>, low: UnsafeMutablePointer<Int8>
  ) -> (scale: Float, lowScale: Float, sum: Int, lowSum: Int) {
    let (scale, _) = quantizeGroup(x, length: length, into: high)
    guard scale.isFinite, scale > 0 else {
      low.update(repeating: 0, count: length)
      return (scale, scale, 0, 0)
    }
    var maximum: Float = 0
    for j in 0..<length { maximum = max(maximum, abs(x[j])) }
    let reciprocal = 127 / maximum
    var sum = 0, lowSum = 0
    for j in 0..<length {
      let v = x[j] * reciprocal
      let a = min(max(v.rounded(.toNearestOrEven), -127), 127)
      let b = min(max(((v - a) * 254).rounded(.toNearestOrEven), -127), 127)
      high[j] = Int8(a)
      low[j] = Int8(b)
      sum += Int(a)
      lowSum += Int(b)
    }
    return (scale, scale / 254, sum, lowSum)
  }
}

/// Quantized matrix products. Each requirement defaults to the reference implementation.
///
/// y[i, n] = Σⱼ Ŵ[n, j]·x[i, j] + bias[n] for i < rows, n < `weights.layout.rows`; x is
/// `rows × columns` with leading dimension `ldx`, y `rows × weights.layout.rows` with `ldy`.
/// `bias` may be nil. Uses at most `threads` threads.
public protocol QuantizedMatmulKernels {
  /// Float32 activations (see `QuantizedMatmulMode.weightOnly`).
  func quantizedMatmulWeightOnly(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int)

  /// Activations quantized to int8 per (row, group) by the `ActivationQuantization` rule;
  /// the result is Ŵ·x̂ up to Float32 rounding.
  func quantizedMatmulInt8(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int)

  /// Activations quantized to two int8 digits per (row, group) by
  /// `ActivationQuantization.quantizeGroupTwoDigits`; the result is Ŵ·x̂ up to Float32 rounding.
  func quantizedMatmulInt16(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int)

  /// The widest weight codes, in bits, that `quantizedMatmulInt8` multiplies at its full
  /// rate: 8 (the default) unless wider codes cost extra work, as on plain AVX2, where
  /// `vpmaddubsw` saturates on 8-bit codes and needs a sign step that 7-bit codes do not.
  /// A caller free to choose its codes (the flat search's int8 screen) reads it.
  var int8FullRateCodeBits: Int { get }
}

extension QuantizedMatmulKernels {
  public var int8FullRateCodeBits: Int { 8 }

  public func quantizedMatmulWeightOnly(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    ReferenceKernels.quantizedMatmul(.weightOnly, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy)
  }

  public func quantizedMatmulInt8(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    ReferenceKernels.quantizedMatmul(.int8, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy)
  }

  public func quantizedMatmulInt16(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    ReferenceKernels.quantizedMatmul(.int16, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy)
  }
}

extension KernelOperation {
  /// `QuantizedMatmulKernels.quantizedMatmulWeightOnly`.
  public static let quantizedMatmulWeightOnly = KernelOperation(.quantizedMatmul, 0, "qgemmWeightOnly")
  /// `QuantizedMatmulKernels.quantizedMatmulInt8`.
  public static let quantizedMatmulInt8 = KernelOperation(.quantizedMatmul, 1, "qgemmInt8")
  /// `QuantizedMatmulKernels.quantizedMatmulInt16`.
  public static let quantizedMatmulInt16 = KernelOperation(.quantizedMatmul, 2, "qgemmInt16")
}

extension KernelFamily {
  static let quantizedMatmulOperations: [KernelOperation] = [
    .quantizedMatmulWeightOnly, .quantizedMatmulInt8, .quantizedMatmulInt16,
  ]
}

extension ShapeClass {
  /// The size class of a quantized product with `rows` rows of activations: small for
  /// fewer than 4 (matrix–vector products, bandwidth-bound), large otherwise.
  @inline(__always)
  public static func quantizedMatmul(rows: Int) -> ShapeClass { rows < 4 ? .small : .large }
}

// MARK: - Checked entry points

extension Engine {
  /// y = x·Ŵᵀ (+ bias): x is `layoutX` (rows × Ŵ's columns) inside `x`, y is `layoutY`
  /// (rows × Ŵ's rows) inside `y`, `bias` has one value per row of Ŵ. `mode` chooses Float32
  /// activations (default: the exact product with Ŵ), int8 ones (fastest on batches) or
  /// two-digit int16 ones (see `QuantizedMatmulMode`). Uses `effectiveThreads` threads: the SIMD backend splits batches
  /// by rows of x (from 24 rows per thread) or by output panels, with the bits of one thread.
  ///
  /// Throws `.shapeMismatch` naming x, y or bias and the sizes involved. NaN or ±∞ in x
  /// propagates to the outputs of its row (NaN or ±∞; with `.int8` and `.int16`, NaN), never a trap.
  public func quantizedMatmul(
    _ x: UnsafeBufferPointer<Float>, _ layoutX: MatrixLayout, weights: QuantizedMatrix,
    bias: UnsafeBufferPointer<Float>? = nil, mode: QuantizedMatmulMode = .weightOnly,
    into y: UnsafeMutableBufferPointer<Float>, _ layoutY: MatrixLayout
  ) throws(ArrowheadError) {
    let w = weights.layout
    try layoutX.validate("x", bufferCount: x.count)
    try layoutY.validate("y", bufferCount: y.count)
    guard layoutX.columns == w.columns else {
      throw .shapeMismatch(
        argument: "x", expected: "\(w.columns) columns (the inputs of the \(w) weights)", actual: "\(layoutX)")
    }
    guard layoutY.rows == layoutX.rows, layoutY.columns == w.rows else {
      throw .shapeMismatch(argument: "y", expected: "\(layoutX.rows)×\(w.rows) (rows of x × rows of the weights)", actual: "\(layoutY)")
    }
    if let bias, bias.count != w.rows {
      throw .shapeMismatch(argument: "bias", expected: "\(w.rows) values (one per row of the weights)", actual: "\(bias.count) values")
    }
    let m = layoutX.rows
    if m == 0 || w.rows == 0 { return }
    if w.columns == 0 {
      // An empty depth: every product is 0, so y = bias (or 0) without a kernel.
      let ldy = layoutY.leadingDimension
      for i in 0..<m {
        for j in 0..<w.rows { y[i * ldy + j] = bias?[j] ?? 0 }
      }
      return
    }
    let kernel = backend(for: mode.operation, .quantizedMatmul(rows: m))
    var zero: Float = 0
    withUnsafePointer(to: &zero) { placeholder in
      weights.withOperand { operand in
        let xBase = x.baseAddress ?? placeholder, yBase = y.baseAddress!
        let biasBase = bias.map { $0.baseAddress ?? placeholder }
        switch mode {
        case .weightOnly:
          kernel.quantizedMatmulWeightOnly(
            rows: m, xBase, ldx: layoutX.leadingDimension, operand, bias: biasBase, yBase,
            ldy: layoutY.leadingDimension, threads: effectiveThreads)
        case .int8:
          kernel.quantizedMatmulInt8(
            rows: m, xBase, ldx: layoutX.leadingDimension, operand, bias: biasBase, yBase,
            ldy: layoutY.leadingDimension, threads: effectiveThreads)
        case .int16:
          kernel.quantizedMatmulInt16(
            rows: m, xBase, ldx: layoutX.leadingDimension, operand, bias: biasBase, yBase,
            ldy: layoutY.leadingDimension, threads: effectiveThreads)
        }
      }
    }
  }

  /// x·Ŵᵀ (+ bias) for a dense x (rows × Ŵ's columns): an encoder's linear layer on a batch
  /// of rows in one call. See `quantizedMatmul(_:_:weights:bias:mode:into:_:)`.
  public func multiply(
    _ x: Matrix, _ weights: QuantizedMatrix, bias: [Float]? = nil, mode: QuantizedMatmulMode = .weightOnly
  ) throws(ArrowheadError) -> Matrix {
    var y = try Matrix(rows: x.rows, columns: weights.layout.rows)
    let layoutY = y.layout
    try x.elements.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
      try y.elements.withUnsafeMutableBufferPointer { (yb) throws(ArrowheadError) in
        if let bias {
          try bias.withUnsafeBufferPointer { (bb) throws(ArrowheadError) in
            try quantizedMatmul(xb, x.layout, weights: weights, bias: bb, mode: mode, into: yb, layoutY)
          }
        } else {
          try quantizedMatmul(xb, x.layout, weights: weights, mode: mode, into: yb, layoutY)
        }
      }
    }
    return y
  }
}

// MARK: - Calibration

extension Calibration {
  /// An INT4 g64 and an INT8 per-channel 384×384 matrix (a MiniLM projection) on 1 row
  /// (small) and 64 rows (large). Codes and parameters are the scratch's random bytes and
  /// floats (the kernels' speed does not depend on their values).
  static func quantizedMatmulProblems(
    _ operation: KernelOperation, _ shape: ShapeClass, threads: Int, _ s: CalibrationScratch
  ) -> [CalibrationProblem] {
    guard operation.family == .quantizedMatmul else { return [] }
    let m = shape == .small ? 1 : 64, n = 384, k = 384
    let x = UnsafePointer(s.floats), y = s.output
    let layouts = [
      try? QuantizedMatrixLayout(rows: n, columns: k, bits: 4, groupSize: 64, form: .floatMinimum),
      try? QuantizedMatrixLayout(rows: n, columns: k, bits: 8, groupSize: k, form: .zeroPoint),
    ].compactMap { $0 }
    return layouts.map { layout in
      // Both fit the scratch: codes ≤ 384·384 bytes, parameters ≤ 384·6 floats.
      let operand = QuantizedMatrixOperand(
        layout: layout, codes: UnsafePointer(s.bytes), scales: UnsafePointer(s.work), offsets: UnsafePointer(s.work + 4096))
      let label = "\(operation.name) int\(layout.bits) g\(layout.groupSize) \(m)×\(n)×\(k)"
      if operation == .quantizedMatmulWeightOnly {
        return CalibrationProblem(label: label) {
          $0.quantizedMatmulWeightOnly(rows: m, x, ldx: k, operand, bias: nil, y, ldy: n, threads: threads)
        }
      }
      if operation == .quantizedMatmulInt16 {
        return CalibrationProblem(label: label) {
          $0.quantizedMatmulInt16(rows: m, x, ldx: k, operand, bias: nil, y, ldy: n, threads: threads)
        }
      }
      return CalibrationProblem(label: label) {
        $0.quantizedMatmulInt8(rows: m, x, ldx: k, operand, bias: nil, y, ldy: n, threads: threads)
      }
    }
  }
}
