import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing

/// Symmetric codes over the full range (`SignedMaximumOptimizer`, ggml Q4_0's rule): the
/// parameters, what they cost in error against the restricted range, and negative scales
/// through every consumer (files, matrices, products on every backend).
@Suite struct SignedMaximumTests {
  /// The rule by hand: v = the extreme of larger magnitude, s = v / −2ᵇ⁻¹, z = 2ᵇ⁻¹.
  @Test func parametersOfHandMadeGroups() throws {
    // v = 2 > 0: s = −0.25; 2 → code 0, −1 → 12, 0.5 → 6, each exact.
    #expect(AffineParameters.signedMaximum(minimum: -1, maximum: 2, bits: 4) == AffineParameters(scale: -0.25, offset: 8))
    // v = −2 < 0: s = 0.25 (the restricted rule would give 2/7).
    #expect(AffineParameters.signedMaximum(minimum: -2, maximum: 1, bits: 4) == AffineParameters(scale: 0.25, offset: 8))
    // A tie takes the minimum (a positive scale); an all-zero group gets +0, not −0.
    #expect(AffineParameters.signedMaximum(minimum: -1, maximum: 1, bits: 4) == AffineParameters(scale: 0.125, offset: 8))
    let zero = AffineParameters.signedMaximum(minimum: 0, maximum: 0, bits: 4)
    #expect(zero.scale == 0 && zero.scale.sign == .plus && zero.offset == 8)
    // 2 and 8 bits: s = v / −2 and v / −128.
    #expect(AffineParameters.signedMaximum(minimum: 0.5, maximum: 3, bits: 2) == AffineParameters(scale: -1.5, offset: 2))
    #expect(AffineParameters.signedMaximum(minimum: -64, maximum: 1, bits: 8) == AffineParameters(scale: 0.5, offset: 128))

    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(8), mode: .symmetric)
    for name in BackendsUnderTest.names {
      let engine = try Engine.default.forcing(name)
      let q = try Quantizer(scheme: scheme, optimizer: SignedMaximumOptimizer(), engine: engine).quantize([-1, 0.5, 2], shape: [1, 3])
      #expect(q.codes(engine: engine) == [12, 6, 0], "\(name)")
      #expect(q.dequantized(engine: engine) == [-1, 0.5, 2], "\(name)")
    }
  }

  /// Negative scales are storable for symmetric tensors only.
  @Test func onlySymmetricScalesMayBeNegative() throws {
    let negative = AffineParameters(scale: -0.25, offset: 8)
    #expect(negative.storageProblem(bits: 4, mode: .symmetric) == nil)
    #expect(negative.storageProblem(bits: 4, mode: .zeroPoint) == "scale -0.25 is negative (only symmetric scales may be)")
    #expect(AffineParameters(scale: -0.25, offset: 0).storageProblem(bits: 4, mode: .floatMinimum) != nil)
    #expect(AffineParameters(scale: -.infinity, offset: 8).storageProblem(bits: 4, mode: .symmetric) == "scale -inf is not finite")
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(8), mode: .zeroPoint)
    #expect(throws: QuantizationError.self) {
      _ = try QuantizedTensor(shape: [1, 4], scheme: scheme, codes: [0, 1, 2, 3], parameters: [negative])
    }
    // For the other modes the optimizer is min-max (their ranges already use every code).
    let values = weightLikeValues(8 * 64, seed: 5)
    for mode in [QuantizationMode.floatMinimum, .zeroPoint] {
      let other = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: mode)
      let signed = try Quantizer(scheme: other, optimizer: SignedMaximumOptimizer()).quantize(values, shape: [8, 64])
      #expect(signed == (try Quantizer(scheme: other).quantize(values, shape: [8, 64])), "\(mode)")
    }
  }

  /// Every code in use, and a lower error than the restricted range at 4 and 2 bits (one more
  /// level per group); at 8 bits within a few per cent of it.
  @Test(arguments: [2, 4, 8])
  func theFullRangeUsesEveryCodeAndLowersTheError(_ bits: Int) throws {
    let values = weightLikeValues(64 * 256, seed: 31)
    let scheme = try QuantizationScheme(bits: bits, granularity: .perGroup(32), mode: .symmetric)
    let restricted = try Quantizer(scheme: scheme).quantizeAndMeasure(values, shape: [64, 256])
    let full = try Quantizer(scheme: scheme, optimizer: SignedMaximumOptimizer()).quantizeAndMeasure(values, shape: [64, 256])
    #expect(!restricted.tensor.codes().contains(0))
    #expect(Set(full.tensor.codes()).count == 1 << bits)
    #expect(full.tensor.scales.contains { $0 < 0 } && full.tensor.scales.contains { $0 > 0 })
    let ratio = full.statistics.relativeError / restricted.statistics.relativeError
    switch bits {
    case 2: #expect(ratio < 0.85, "2 bits: \(ratio)")
    case 4: #expect(ratio < 0.95, "4 bits: \(ratio)")
    default: #expect(ratio < 1.02, "8 bits: \(ratio)")
    }
  }

  /// A tensor with negative scales survives a file round trip, repacks losslessly into a
  /// `QuantizedMatrix` and multiplies on every backend in every mode like its dequantized
  /// weights (bounds as in `QuantizedMatrixTests`).
  @Test func negativeScalesRoundTripAndMultiply() throws {
    let rows = 24, columns = 96, batch = 3
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: .symmetric)
    let tensor = try Quantizer(scheme: scheme, optimizer: SignedMaximumOptimizer())
      .quantize(weightLikeValues(rows * columns, seed: 44), shape: [rows, columns], name: "w")
    #expect(tensor.scales.contains { $0 < 0 })
    let path = quantTemporaryDirectory() + "/signed.safetensors"
    let writer = try QuantizedModelWriter(path: path)
    try writer.add("w", tensor)
    try writer.finish()
    let read = try QuantizedModelFile(path: path).tensor("w")
    #expect(read == tensor)
    let matrix = try QuantizedMatrix(read, name: "w")
    let dense = read.dequantized()
    var generator = SeededGenerator(seed: 8)
    let x = try Matrix(rows: batch, columns: columns, elements: generator.floats(batch * columns))
    try expectProductsAgreeWithDequantized(x, matrix, dense: dense, "signed-max 4-bit g32")
  }
}
