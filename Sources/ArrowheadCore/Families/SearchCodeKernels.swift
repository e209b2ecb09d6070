// The search-code family: distances between a float query and vectors stored as SQ8 or SQ4
// codes (one scale and offset per dimension), the kernels a quantized vector index runs
// once per visited vector.
//
// SQ8: one code byte per dimension, x̂[j] = c[j]·s[j] + m[j].
// SQ4: two codes per byte, code 2i in the low nibble of byte i, x̂ as for SQ8. The SQ4
// distance kernels take their per-dimension float arrays in the *block-16 order*
// (`SearchCodeLayout.sq4Permute`): each full block of 16 dimensions as [its 8 even
// dimensions, its 8 odd dimensions] — the order in which the low and high nibbles of 8
// packed bytes come out of a vector register; the tail keeps its natural order.
//
// Distances are computed from a transformed query, prepared once per search:
//   squared L2   ‖q − x̂‖² = Σ (a[j] − c[j]·s[j])²  with a = q − m
//   inner product q·x̂    = Σ u[j]·c[j] + Σ q[j]·m[j]  with u = q ⊙ s

/// Asymmetric float × code distance kernels. Each requirement defaults to the reference
/// implementation.
public protocol SearchCodeKernels {
  /// Σ (shifted[j] − c[j]·scales[j])² over `count` SQ8 codes.
  func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float
  /// Σ weights[j]·c[j] over `count` SQ8 codes.
  func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float
  /// out[j] = c[j]·scales[j] + offsets[j] (mul then add: bit-identical to `dequantize`).
  func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>)
  /// Σ (shifted[j] − c[j]·scales[j])² over `count` SQ4 codes; both arrays in block-16 order.
  func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float
  /// Σ weights[j]·c[j] over `count` SQ4 codes; `weights` in block-16 order.
  func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float
  /// out[j] = c[j]·scales[j] + offsets[j] for SQ4 codes (natural order arrays).
  func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>)

  // Batches: one query against `rowCount` stored rows picked by `rows` (row r starts at
  // `base + r·stride`), one call per visited graph node instead of one per neighbour.

  /// out[i] = ‖query − row(rows[i])‖² over `dimension` Float32 values.
  func squaredL2Rows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = query · row(rows[i]) over `dimension` Float32 values.
  func dotRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq8SquaredL2` of the SQ8 row rows[i] (`stride` bytes apart).
  func sq8SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq8Dot` of the SQ8 row rows[i].
  func sq8DotRows(
    dimension: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = Float(Σ_j weights[j]·c[j]) over the SQ8 row rows[i], the sum taken in Int32:
  /// an integer query (a float query scaled to ±2¹⁴ by `SearchCodeLayout.quantizeQuery`)
  /// against codes. Exact, hence the same bits on every backend, when
  /// Σ_j |weights[j]|·255 < 2³¹ (the caller's contract; `quantizeQuery` keeps it).
  func sq8DotInt16Rows(
    dimension: Int, weights: UnsafePointer<Int16>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq4SquaredL2` of the SQ4 row rows[i] (block-16 ordered `shifted`, `scales`).
  func sq4SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq4Dot` of the SQ4 row rows[i] (block-16 ordered `weights`).
  func sq4DotRows(
    dimension: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
}

extension SearchCodeKernels {
  public func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    ReferenceKernels.sq8SquaredL2(count: count, shifted: shifted, scales: scales, codes: codes)
  }
  public func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    ReferenceKernels.sq8Dot(count: count, weights: weights, codes: codes)
  }
  public func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    ReferenceKernels.sq8Decode(count: count, codes: codes, scales: scales, offsets: offsets, out)
  }
  public func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    ReferenceKernels.sq4SquaredL2(count: count, shifted: shifted, scales: scales, packed: packed)
  }
  public func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    ReferenceKernels.sq4Dot(count: count, weights: weights, packed: packed)
  }
  public func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    ReferenceKernels.sq4Decode(count: count, packed: packed, scales: scales, offsets: offsets, out)
  }
  public func squaredL2Rows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount { out[i] = ReferenceKernels.squaredDistance(count: dimension, query, base + Int(rows[i]) * stride) }
  }
  public func dotRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount { out[i] = ReferenceKernels.dot(count: dimension, query, base + Int(rows[i]) * stride) }
  }
  public func sq8SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount {
      out[i] = ReferenceKernels.sq8SquaredL2(count: dimension, shifted: shifted, scales: scales, codes: codes + Int(rows[i]) * stride)
    }
  }
  public func sq8DotRows(
    dimension: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount { out[i] = ReferenceKernels.sq8Dot(count: dimension, weights: weights, codes: codes + Int(rows[i]) * stride) }
  }
  public func sq8DotInt16Rows(
    dimension: Int, weights: UnsafePointer<Int16>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount {
      out[i] = ReferenceKernels.sq8DotInt16(count: dimension, weights: weights, codes: codes + Int(rows[i]) * stride)
    }
  }
  public func sq4SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount {
      out[i] = ReferenceKernels.sq4SquaredL2(count: dimension, shifted: shifted, scales: scales, packed: packed + Int(rows[i]) * stride)
    }
  }
  public func sq4DotRows(
    dimension: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<rowCount { out[i] = ReferenceKernels.sq4Dot(count: dimension, weights: weights, packed: packed + Int(rows[i]) * stride) }
  }
}

extension KernelOperation {
  /// `SearchCodeKernels.sq8SquaredL2`.
  public static let sq8SquaredL2 = KernelOperation(.searchCodes, 0, "sq8SquaredL2")
  /// `SearchCodeKernels.sq8Dot`.
  public static let sq8Dot = KernelOperation(.searchCodes, 1, "sq8Dot")
  /// `SearchCodeKernels.sq8Decode`.
  public static let sq8Decode = KernelOperation(.searchCodes, 2, "sq8Decode")
  /// `SearchCodeKernels.sq4SquaredL2`.
  public static let sq4SquaredL2 = KernelOperation(.searchCodes, 3, "sq4SquaredL2")
  /// `SearchCodeKernels.sq4Dot`.
  public static let sq4Dot = KernelOperation(.searchCodes, 4, "sq4Dot")
  /// `SearchCodeKernels.sq4Decode`.
  public static let sq4Decode = KernelOperation(.searchCodes, 5, "sq4Decode")
  /// `SearchCodeKernels.squaredL2Rows`.
  public static let squaredL2Rows = KernelOperation(.searchCodes, 6, "squaredL2Rows")
  /// `SearchCodeKernels.dotRows`.
  public static let dotRows = KernelOperation(.searchCodes, 7, "dotRows")
  /// `SearchCodeKernels.sq8SquaredL2Rows`.
  public static let sq8SquaredL2Rows = KernelOperation(.searchCodes, 8, "sq8SquaredL2Rows")
  /// `SearchCodeKernels.sq8DotRows`.
  public static let sq8DotRows = KernelOperation(.searchCodes, 9, "sq8DotRows")
  /// `SearchCodeKernels.sq4SquaredL2Rows`.
  public static let sq4SquaredL2Rows = KernelOperation(.searchCodes, 10, "sq4SquaredL2Rows")
  /// `SearchCodeKernels.sq4DotRows`.
  public static let sq4DotRows = KernelOperation(.searchCodes, 11, "sq4DotRows")
  /// `SearchCodeKernels.sq8DotInt16Rows`.
  public static let sq8DotInt16Rows = KernelOperation(.searchCodes, 12, "sq8DotInt16Rows")
}

extension KernelFamily {
  static let searchCodeOperations: [KernelOperation] = [
    .sq8SquaredL2, .sq8Dot, .sq8Decode, .sq4SquaredL2, .sq4Dot, .sq4Decode,
    .squaredL2Rows, .dotRows, .sq8SquaredL2Rows, .sq8DotRows, .sq4SquaredL2Rows, .sq4DotRows,
    .sq8DotInt16Rows,
  ]
}

/// The data layout the SQ4 kernels expect (not a kernel: a fixed contract every backend
/// shares).
public enum SearchCodeLayout {
  /// Rearranges a per-dimension array into block-16 order: each full block of 16
  /// dimensions becomes [its 8 even dimensions, its 8 odd dimensions]; the tail stays in
  /// natural order.
  public static func sq4Permute(_ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
    var block = 0
    while block + 16 <= count {
      for k in 0..<8 {
        out[block + k] = values[block + 2 * k]
        out[block + 8 + k] = values[block + 2 * k + 1]
      }
      block += 16
    }
    for j in block..<count { out[j] = values[j] }
  }

  /// Bytes one SQ4 row of `dimension` codes occupies.
  public static func sq4RowBytes(dimension: Int) -> Int { (dimension + 1) / 2 }

  /// The largest magnitude `quantizeQuery` gives a weight: 2¹⁴ − 1, a relative step of
  /// 6·10⁻⁵ of the largest weight.
  public static let integerQueryLimit: Int32 = 16_383

  /// Rounds float query weights to integers for `sq8DotInt16Rows`: out[j] = round(w[j]/σ)
  /// with σ chosen so that |out[j]| ≤ `integerQueryLimit` and Σ|out[j]|·255 < 2³¹ (the
  /// kernel's exactness contract). Then Σ w[j]·c[j] ≈ σ·Σ out[j]·c[j], with an error of at
  /// most σ/2·Σ c[j].
  ///
  /// - Returns: σ (0 when every weight is 0, and then `out` is all zeros), or nil when a
  ///   weight is not finite.
  public static func quantizeQuery(_ weights: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Int16>) -> Float? {
    var largest: Float = 0
    var total: Double = 0
    for j in 0..<count {
      let magnitude = abs(weights[j])
      guard magnitude.isFinite else { return nil }
      largest = max(largest, magnitude)
      total += Double(magnitude)
    }
    guard largest > 0 else {
      out.initialize(repeating: 0, count: count)
      return 0
    }
    // Σ|out| ≤ Σ|w|/σ + count/2: keep that times 255 under 2³¹ with room to spare.
    let budget = Double(Int32.max) / 255 * 0.9 - Double(count) / 2
    let wanted = max(Double(largest) / Double(integerQueryLimit), budget > 0 ? total / budget : .infinity)
    var scale = Float(wanted)
    if Double(scale) < wanted { scale = scale.nextUp }  // never below: |w|/σ stays within the limit
    guard scale.isFinite, scale > 0 else { return nil }
    while true {
      var magnitudes: Int64 = 0
      let divisor = Double(scale)  // in Double: a subnormal σ has no finite Float inverse
      for j in 0..<count {
        let q = Int32((Double(weights[j]) / divisor).rounded())
        let clamped = min(max(q, -integerQueryLimit), integerQueryLimit)
        out[j] = Int16(clamped)
        magnitudes += Int64(abs(clamped))
      }
      if magnitudes * 255 < Int64(Int32.max) { return scale }
      scale *= 2  // not reached for any count below ~7·10⁶; kept as the contract's guard
    }
  }
}

// MARK: - Checked entry points

extension Engine {
  /// ‖q − x̂‖² between a query prepared as `shifted` = q − m and one SQ8 row.
  public func sq8SquaredL2(
    shifted: UnsafeBufferPointer<Float>, scales: UnsafeBufferPointer<Float>, codes: UnsafeBufferPointer<UInt8>
  ) throws(ArrowheadError) -> Float {
    let count = shifted.count
    try Self.requireCount(scales.count, count, "scales")
    try Self.requireCount(codes.count, count, "codes")
    guard count > 0 else { return 0 }
    return backend(for: .sq8SquaredL2, .vector(count: count)).sq8SquaredL2(
      count: count, shifted: shifted.baseAddress!, scales: scales.baseAddress!, codes: codes.baseAddress!)
  }

  /// Σ weights[j]·c[j] over one SQ8 row (weights = q ⊙ s for an inner product).
  public func sq8Dot(weights: UnsafeBufferPointer<Float>, codes: UnsafeBufferPointer<UInt8>) throws(ArrowheadError) -> Float {
    let count = weights.count
    try Self.requireCount(codes.count, count, "codes")
    guard count > 0 else { return 0 }
    return backend(for: .sq8Dot, .vector(count: count)).sq8Dot(count: count, weights: weights.baseAddress!, codes: codes.baseAddress!)
  }

  /// out[i] = Float(Σ_j weights[j]·c[j]) for the SQ8 rows `rows` of `codes` (row r at
  /// byte r·`stride`), with an integer query; see `SearchCodeKernels.sq8DotInt16Rows`.
  ///
  /// - Throws: `ArrowheadError` when `out` and `rows` differ in length (`shapeMismatch`),
  ///   `stride` is below the dimension (`leadingDimensionTooSmall`), a row ends past
  ///   `codes` (`bufferTooShort`), or Σ|weights|·255 reaches 2³¹ (`invalidParameter`: the
  ///   sum could overflow).
  public func sq8DotInt16Rows(
    weights: UnsafeBufferPointer<Int16>, codes: UnsafeBufferPointer<UInt8>, stride: Int,
    rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    let dimension = weights.count
    guard out.count == rows.count else {
      throw .shapeMismatch(argument: "out", expected: "\(rows.count) values (one per row)", actual: "\(out.count)")
    }
    guard stride >= dimension else {
      throw .leadingDimensionTooSmall(argument: "stride", leadingDimension: stride, rowLength: dimension)
    }
    let magnitude = weights.reduce(Int64(0)) { $0 + Int64(abs(Int32($1))) }
    guard magnitude * 255 < Int64(Int32.max) else {
      throw .invalidParameter(
        name: "weights", value: "Σ|w|·255 = \(magnitude * 255)", expected: "below 2³¹ (the Int32 sum could overflow)")
    }
    if let last = rows.max() {
      try Self.requireCount(codes.count, Int(last) * stride + dimension, "codes")
    }
    guard dimension > 0, !rows.isEmpty else {
      for i in out.indices { out[i] = 0 }
      return
    }
    backend(for: .sq8DotInt16Rows, .vector(count: dimension)).sq8DotInt16Rows(
      dimension: dimension, weights: weights.baseAddress!, codes: codes.baseAddress!, stride: stride,
      rows: rows.baseAddress!, rowCount: rows.count, out.baseAddress!)
  }

  /// Decodes one SQ8 row: out[j] = c[j]·s[j] + m[j].
  public func sq8Decode(
    codes: UnsafeBufferPointer<UInt8>, scales: UnsafeBufferPointer<Float>, offsets: UnsafeBufferPointer<Float>,
    into out: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    let count = out.count
    try Self.requireCount(codes.count, count, "codes")
    try Self.requireCount(scales.count, count, "scales")
    try Self.requireCount(offsets.count, count, "offsets")
    guard count > 0 else { return }
    backend(for: .sq8Decode, .vector(count: count)).sq8Decode(
      count: count, codes: codes.baseAddress!, scales: scales.baseAddress!, offsets: offsets.baseAddress!, out.baseAddress!)
  }

  /// ‖q − x̂‖² for one SQ4 row; `shifted` and `scales` in block-16 order.
  public func sq4SquaredL2(
    shifted: UnsafeBufferPointer<Float>, scales: UnsafeBufferPointer<Float>, packed: UnsafeBufferPointer<UInt8>
  ) throws(ArrowheadError) -> Float {
    let count = shifted.count
    try Self.requireCount(scales.count, count, "scales")
    try Self.requireCount(packed.count, SearchCodeLayout.sq4RowBytes(dimension: count), "packed")
    guard count > 0 else { return 0 }
    return backend(for: .sq4SquaredL2, .vector(count: count)).sq4SquaredL2(
      count: count, shifted: shifted.baseAddress!, scales: scales.baseAddress!, packed: packed.baseAddress!)
  }

  /// Σ weights[j]·c[j] over one SQ4 row; `weights` in block-16 order.
  public func sq4Dot(weights: UnsafeBufferPointer<Float>, packed: UnsafeBufferPointer<UInt8>) throws(ArrowheadError) -> Float {
    let count = weights.count
    try Self.requireCount(packed.count, SearchCodeLayout.sq4RowBytes(dimension: count), "packed")
    guard count > 0 else { return 0 }
    return backend(for: .sq4Dot, .vector(count: count)).sq4Dot(count: count, weights: weights.baseAddress!, packed: packed.baseAddress!)
  }

  /// Decodes one SQ4 row (natural order arrays).
  public func sq4Decode(
    packed: UnsafeBufferPointer<UInt8>, scales: UnsafeBufferPointer<Float>, offsets: UnsafeBufferPointer<Float>,
    into out: UnsafeMutableBufferPointer<Float>
  ) throws(ArrowheadError) {
    let count = out.count
    try Self.requireCount(packed.count, SearchCodeLayout.sq4RowBytes(dimension: count), "packed")
    try Self.requireCount(scales.count, count, "scales")
    try Self.requireCount(offsets.count, count, "offsets")
    guard count > 0 else { return }
    backend(for: .sq4Decode, .vector(count: count)).sq4Decode(
      count: count, packed: packed.baseAddress!, scales: scales.baseAddress!, offsets: offsets.baseAddress!, out.baseAddress!)
  }
}

// MARK: - Calibration

extension Calibration {
  /// One row of 50 dimensions (GloVe) for the small class, 384 (MiniLM) for the large one.
  static func searchCodeProblems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let d = shape == .small ? 50 : 384
    let query = UnsafePointer(s.floats), scales = UnsafePointer(s.others), offsets = UnsafePointer(s.others + d)
    let codes = UnsafePointer(s.bytes), out = s.output
    let label = "\(operation.name), \(d) dimensions"
    switch operation {
    case .sq8SquaredL2: return [CalibrationProblem(label: label) { _ = $0.sq8SquaredL2(count: d, shifted: query, scales: scales, codes: codes) }]
    case .sq8Dot: return [CalibrationProblem(label: label) { _ = $0.sq8Dot(count: d, weights: query, codes: codes) }]
    case .sq8Decode: return [CalibrationProblem(label: label) { $0.sq8Decode(count: d, codes: codes, scales: scales, offsets: offsets, out) }]
    case .sq4SquaredL2: return [CalibrationProblem(label: label) { _ = $0.sq4SquaredL2(count: d, shifted: query, scales: scales, packed: codes) }]
    case .sq4Dot: return [CalibrationProblem(label: label) { _ = $0.sq4Dot(count: d, weights: query, packed: codes) }]
    case .sq4Decode: return [CalibrationProblem(label: label) { $0.sq4Decode(count: d, packed: codes, scales: scales, offsets: offsets, out) }]
    default: break
    }
    // Batches: 24 rows (a typical count of unvisited neighbours) picked at random from
    // 4 096 (float rows: from the scratch's second buffer, which holds 2¹⁸ floats).
    var generator = SeededGenerator(seed: 24)
    let rowCount = 24, stride = d, floatRows = CalibrationScratch.capacity / d - 1
    let rows = s.rowIndices
    for i in 0..<rowCount { rows[i] = UInt32.random(in: 0..<UInt32(min(4096, floatRows)), using: &generator) }
    let codeRows = min(4096, CalibrationScratch.capacity / stride - 1)
    for i in 0..<rowCount { rows[i] %= UInt32(codeRows) }
    let batch = "\(operation.name), \(rowCount) rows of \(d)"
    // Float rows as an index stores them (on cache lines where 4·d is a multiple of 64),
    // the query 48 bytes off a line (a Swift array copied from a batch of queries).
    let floatsBase = UnsafePointer(s.lineOthers), floatQuery = UnsafePointer(s.lineFloats + 12)
    switch operation {
    case .squaredL2Rows:
      return [CalibrationProblem(label: batch) {
        $0.squaredL2Rows(dimension: d, query: floatQuery, base: floatsBase, stride: stride, rows: rows, rowCount: rowCount, out)
      }]
    case .dotRows:
      return [CalibrationProblem(label: batch) {
        $0.dotRows(dimension: d, query: floatQuery, base: floatsBase, stride: stride, rows: rows, rowCount: rowCount, out)
      }]
    case .sq8SquaredL2Rows:
      return [CalibrationProblem(label: batch) {
        $0.sq8SquaredL2Rows(dimension: d, shifted: query, scales: scales, codes: codes, stride: stride, rows: rows, rowCount: rowCount, out)
      }]
    case .sq8DotRows:
      return [CalibrationProblem(label: batch) {
        $0.sq8DotRows(dimension: d, weights: query, codes: codes, stride: stride, rows: rows, rowCount: rowCount, out)
      }]
    case .sq4SquaredL2Rows:
      return [CalibrationProblem(label: batch) {
        $0.sq4SquaredL2Rows(dimension: d, shifted: query, scales: scales, packed: codes, stride: stride / 2, rows: rows, rowCount: rowCount, out)
      }]
    case .sq4DotRows:
      return [CalibrationProblem(label: batch) {
        $0.sq4DotRows(dimension: d, weights: query, packed: codes, stride: stride / 2, rows: rows, rowCount: rowCount, out)
      }]
    case .sq8DotInt16Rows:
      let integers = UnsafePointer(s.integerQuery)
      return [CalibrationProblem(label: batch) {
        $0.sq8DotInt16Rows(dimension: d, weights: integers, codes: codes, stride: stride, rows: rows, rowCount: rowCount, out)
      }]
    default: return []
    }
  }
}
