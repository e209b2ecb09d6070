import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing

/// Hand-computed cases: every expected code below was worked out on paper from the
/// formulas (float32 arithmetic checked with numpy where a division is not exact).
@Suite("Quantizer: hand-computed codes")
struct QuantizerExactTests {
  func scheme(_ bits: Int, _ granularity: QuantizationGranularity = .perTensor, _ mode: QuantizationMode = .floatMinimum) throws -> QuantizationScheme {
    try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
  }

  @Test(arguments: BackendsUnderTest.names)
  func tiesRoundHalfToEven(_ backend: String) throws {
    // min 0, max 3, 2 bits: s = 3/3 = 1, m = 0; (x − 0)/1 = x.
    // 0.5 → 0 (tie, even), 1.5 → 2 (tie, even), 2.5 → 2 (tie, even).
    let quantizer = Quantizer(scheme: try scheme(2), engine: try Engine.default.forcing(backend))
    let q = try quantizer.quantize([0, 0.5, 1, 1.5, 2, 2.5, 3], shape: [7])
    #expect(q.codes() == [0, 0, 1, 2, 2, 2, 3])
    #expect(q.scales == [1] && q.offsets == [0])
    #expect(q.dequantized() == [0, 0, 1, 2, 2, 2, 3])
    // 7 codes × 2 bits = 14 bits → 2 bytes: 0 | 0<<2 | 1<<4 | 2<<6 = 0x90, 2 | 2<<2 | 3<<4 = 0x3A.
    #expect(q.packedCodes == [0x90, 0x3A])
  }

  @Test(arguments: BackendsUnderTest.names)
  func givenParametersClampCodesToTheRange(_ backend: String) throws {
    let quantizer = Quantizer(scheme: try scheme(2), engine: try Engine.default.forcing(backend))
    // s = 1, m = 0, 2 bits: −2 → −2 → 0, 5 → 3, 2.4 → 2, 2.6 → 3.
    #expect(try quantizer.codes(for: [-2, 5, 2.4, 2.6], parameters: AffineParameters(scale: 1, offset: 0)) == [0, 3, 2, 3])
  }

  @Test(arguments: BackendsUnderTest.names)
  func aZeroRangeGroupIsReproducedExactly(_ backend: String) throws {
    let engine = try Engine.default.forcing(backend)
    // Float minimum: s = 0, m = 4, every code 0, x̂ = 0·0 + 4 = 4 exactly.
    let constant = try Quantizer(scheme: try scheme(4, .perGroup(8)), engine: engine).quantize([Float](repeating: 4, count: 8), shape: [1, 8])
    #expect(constant.scales == [0] && constant.offsets == [4])
    #expect(constant.codes() == [UInt8](repeating: 0, count: 8))
    #expect(constant.dequantized() == [Float](repeating: 4, count: 8))
    // Zero-point: the range widens to [0, 4]; 2 bits: s = 4/3, z = 0, 4/(4/3) = 3 in float32 → code 3.
    let widened = try Quantizer(scheme: try scheme(2, .perTensor, .zeroPoint), engine: engine).quantize([4, 4, 4], shape: [3])
    #expect(widened.offsets == [0] && widened.codes() == [3, 3, 3])
    #expect(widened.dequantized() == [4, 4, 4])
    // All zeros: s = 0, z = 0, x̂ = 0.
    let zeros = try Quantizer(scheme: try scheme(8, .perTensor, .zeroPoint), engine: engine).quantize([0, 0], shape: [2])
    #expect(zeros.scales == [0] && zeros.offsets == [0] && zeros.dequantized() == [0, 0])
  }

  @Test(arguments: BackendsUnderTest.names)
  func zeroPointCodesAndANegativeZeroPoint(_ backend: String) throws {
    let engine = try Engine.default.forcing(backend)
    // [−1, 0, 2], 4 bits: s = 3/15 = 0.2f, z = round(1/0.2f) = round(5.0f) = 5;
    // codes round(−5) + 5 = 0, 0 + 5 = 5, round(2/0.2f = 10.0f) + 5 = 15.
    let quantizer = Quantizer(scheme: try scheme(4, .perTensor, .zeroPoint), engine: engine)
    let q = try quantizer.quantize([-1, 0, 2], shape: [3])
    #expect(q.scales == [Float(3) / 15] && q.offsets == [5])
    #expect(q.codes() == [0, 5, 15])
    #expect(q.dequantized()[1] == 0)  // 0 is exact with an integer zero-point
    // A negative zero-point (as an optimizer might choose for an all-positive group):
    // s = 1, z = −2, codes = clamp(round(x) − 2): 5 → 3, 6 → 4, 7 → 5, 1 → −1 → 0, 30 → 15.
    #expect(try quantizer.codes(for: [5, 6, 7, 1, 30], parameters: AffineParameters(scale: 1, offset: -2)) == [3, 4, 5, 0, 15])
    // … but the file format stores zero-points with `bits` bits, so a tensor refuses it.
    #expect(throws: QuantizationError.self) {
      try QuantizedTensor(shape: [2], scheme: try scheme(4, .perTensor, .zeroPoint), codes: [3, 4], parameters: [AffineParameters(scale: 1, offset: -2)])
    }
  }

  @Test(arguments: BackendsUnderTest.names)
  func symmetricUsesTheRestrictedRange(_ backend: String) throws {
    // max|x| = 7, 4 bits: s = 7/(8 − 1) = 1, z = 8. −7 → 1, 3.5 → round(3.5) = 4 (even) → 12,
    // 7 → 15, 0.5 → 0 (even) → 8, −3.5 → −4 → 4.
    let quantizer = Quantizer(scheme: try scheme(4, .perTensor, .symmetric), engine: try Engine.default.forcing(backend))
    let q = try quantizer.quantize([-7, 3.5, 7, 0.5, -3.5], shape: [5])
    #expect(q.scales == [1] && q.offsets == [8])
    #expect(q.codes() == [1, 12, 15, 8, 4])
    #expect(q.dequantized() == [-7, 4, 7, 0, -4])
    // 2 bits is ternary: s = max|x|, codes 1, 2, 3 ↔ −s, 0, +s.
    let ternary = try Quantizer(scheme: try scheme(2, .perTensor, .symmetric)).quantize([-2, -0.9, 0.9, 2], shape: [4])
    #expect(ternary.codes() == [1, 2, 2, 3])
  }

  @Test func threeBitCodesPackAsDocumented() throws {
    // [7, 1, 2] → stream 111 100 010 → byte 0 = 0b1000_1111, byte 1 = 0.
    let scheme = try scheme(3)
    let q = try QuantizedTensor(shape: [3], scheme: scheme, codes: [7, 1, 2], parameters: [AffineParameters(scale: 1, offset: 0)])
    #expect(q.packedCodes == [0x8F, 0x00])
    #expect(q.codes() == [7, 1, 2])
  }

  @Test func raggedGroupsGetTheirOwnParameters() throws {
    // A row of 10 with groups of 8: groups [0, 8) and [8, 10) (the shorter last group).
    let values: [Float] = [0, 1, 2, 3, 4, 5, 6, 7, 100, 103]
    let scheme = try QuantizationScheme(bits: 2, granularity: .perGroup(8), mode: .floatMinimum)
    let q = try Quantizer(scheme: scheme).quantize(values + values, shape: [2, 10])
    #expect(q.layout.groupsPerRow == 2 && q.layout.groupCount == 4)
    // Group 0: s = 7/3; group 1: s = 3/3 = 1, m = 100.
    #expect(q.scales == [Float(7) / 3, 1, Float(7) / 3, 1])
    #expect(q.offsets == [0, 100, 0, 100])
    let codes = q.codes()
    #expect(Array(codes[8..<10]) == [0, 3] && Array(codes[18..<20]) == [0, 3])
    // Rows of 10 codes × 2 bits = 20 bits → 3 bytes per row (4 padding bits).
    #expect(q.packedCodes.count == 6)
    #expect(q.dequantized()[8...9] == [100, 103])
  }

  @Test func perChannelHasOneGroupPerRow() throws {
    let scheme = try QuantizationScheme(bits: 8, granularity: .perChannel, mode: .floatMinimum)
    let q = try Quantizer(scheme: scheme).quantize([0, 255, 10, 0, 510, 20], shape: [2, 3])
    #expect(q.scales == [1, 2] && q.offsets == [0, 0])
    #expect(q.codes() == [0, 255, 10, 0, 255, 10])
  }

  @Test func unsupportedSettingsListWhatIsSupported() {
    #expect(throws: QuantizationError.unsupportedBits(5, supported: [2, 3, 4, 8])) { try QuantizationScheme(bits: 5) }
    #expect(throws: QuantizationError.unsupportedGroupSize(4, supported: 8...8192)) {
      try QuantizationScheme(bits: 4, granularity: .perGroup(4))
    }
    #expect(QuantizationError.unsupportedBits(5, supported: [2, 3, 4, 8]).description.contains("2, 3, 4, 8"))
  }

  @Test func nonFiniteWeightsNameTheTensorAndFirstIndex() throws {
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: 4, granularity: .perGroup(64)))
    // A large tensor so that several blocks and threads run; NaN at 70 000 and ∞ at 90 000.
    var values = weightLikeValues(256 * 512, seed: 7)
    values[90_000] = .infinity
    values[70_000] = .nan
    do {
      _ = try quantizer.quantize(values, shape: [256, 512], name: "layer.w")
      Issue.record("NaN accepted")
    } catch {
      guard case .nonFiniteWeight(let tensor, let index, let value) = error else {
        Issue.record("wrong error \(error)")
        return
      }
      #expect(tensor == "layer.w" && index == 70_000 && value.isNaN)
    }
    let perTensor = Quantizer(scheme: try QuantizationScheme(bits: 8, granularity: .perTensor))
    #expect(throws: QuantizationError.nonFiniteWeight(tensor: "t", index: 90_000, value: .infinity)) {
      var finiteThenInfinite = weightLikeValues(256 * 512, seed: 7)
      finiteThenInfinite[90_000] = .infinity
      _ = try perTensor.quantize(finiteThenInfinite, shape: [256, 512], name: "t")
    }
  }

  @Test func mismatchedCountsAreShapeErrors() throws {
    let quantizer = Quantizer(scheme: try QuantizationScheme())
    #expect(throws: QuantizationError.self) { try quantizer.quantize([1, 2, 3], shape: [2, 2]) }
    #expect(throws: QuantizationError.self) { try quantizer.quantize([1, 2, 3, 4], shape: [2, 2], importance: [1]) }
    let q = try quantizer.quantize([1, 2, 3, 4], shape: [2, 2])
    #expect(throws: QuantizationError.self) { try q.multiply([1, 2, 3]) }
    #expect(throws: QuantizationError.self) {
      try QuantizedTensor(shape: [2, 2], scheme: q.scheme, packedCodes: [0], scales: q.scales, offsets: q.offsets)
    }
  }

  /// Each row's codes end in padding bits that the packers write as 0 (2 rows of 9 codes
  /// at 3 bits: 27 bits in 4 bytes, 5 padding bits per row); a set padding bit is refused
  /// naming the row (it was kept and written back unchanged), and the quantizer's own
  /// bytes round-trip through the same check.
  @Test(arguments: [2, 3, 4])
  func setPaddingBitsAreRefused(bits: Int) throws {
    let scheme = try QuantizationScheme(bits: bits, granularity: .perChannel)
    let values = (0..<18).map { Float($0 % 7) - 3 }
    let q = try Quantizer(scheme: scheme).quantize(values, shape: [2, 9])
    let rebuilt = try QuantizedTensor(shape: [2, 9], scheme: scheme, packedCodes: q.packedCodes, scales: q.scales, offsets: q.offsets)
    #expect(rebuilt.packedCodes == q.packedCodes)
    let rowBytes = (9 * bits + 7) / 8, padding = rowBytes * 8 - 9 * bits
    for row in 0..<2 {
      var codes = q.packedCodes
      codes[(row + 1) * rowBytes - 1] |= 0x80
      #expect(padding > 0)
      do {
        _ = try QuantizedTensor(shape: [2, 9], scheme: scheme, packedCodes: codes, scales: q.scales, offsets: q.offsets)
        Issue.record("padding bit of row \(row) accepted at \(bits) bits")
      } catch {
        #expect(error.description.contains("row \(row)"), "\(error)")
      }
    }
  }

  @Test func emptyAndScalarTensors() throws {
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: 4, granularity: .perGroup(64)))
    let empty = try quantizer.quantize([], shape: [0, 384])
    #expect(empty.packedCodes.isEmpty && empty.scales.isEmpty && empty.dequantized().isEmpty)
    let scalar = try quantizer.quantize([3.5], shape: [])
    #expect(scalar.dequantized() == [3.5])
  }
}
