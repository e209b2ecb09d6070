import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Codes must be identical on every backend and equal to an independent scalar model of
/// the documented formulas; packing must round-trip and match the backend kernels byte for
/// byte at awkward lengths.
@Suite("Quantizer: backends agree, packing round-trips")
struct QuantizerAgreementTests {
  static let shapes: [[Int]] = [[37, 100], [64, 384], [3, 1000], [1, 4096], [5, 7], [300, 64]]
  static let groupings: [QuantizationGranularity] = [.perGroup(32), .perGroup(64), .perGroup(100), .perChannel, .perTensor]

  @Test(arguments: QuantizationScheme.supportedBits, QuantizationMode.allCases)
  func everyBackendGivesTheScalarModelsCodes(bits: Int, mode: QuantizationMode) throws {
    for shape in Self.shapes {
      let count = shape.reduce(1, *)
      let values = weightLikeValues(count, seed: UInt64(count * 31 + bits))
      for granularity in Self.groupings {
        let scheme = try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
        let model = scalarModel(values, shape: shape, scheme: scheme)
        var first: QuantizedTensor?
        for backend in BackendsUnderTest.names {
          let engine = try Engine.default.forcing(backend)
          let q = try Quantizer(scheme: scheme, engine: engine).quantize(values, shape: shape)
          let context = "\(backend) \(scheme) \(shape)"
          #expect(q.codes(engine: engine) == model.codes, "\(context): codes")
          #expect(q.scales == model.parameters.map(\.scale), "\(context): scales")
          #expect(q.offsets == model.parameters.map(\.offset), "\(context): offsets")
          #expect(q.dequantized(engine: engine).map(\.bitPattern) == model.reconstruction.map(\.bitPattern), "\(context): x̂")
          if let first { #expect(q == first, "\(context): differs from \(BackendsUnderTest.names[0])") } else { first = q }
        }
      }
    }
  }

  static let lengths = [0, 1, 2, 7, 8, 9, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 129, 1000, 4099]

  /// The documented bit stream, computed here independently of every kernel: code i
  /// occupies stream bits i·b … i·b + b − 1, stream bit j is bit j mod 8 of byte ⌊j/8⌋.
  static func streamModel(_ codes: [UInt8], bits: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: (codes.count * bits + 7) / 8)
    var stream = 0
    for code in codes {
      for bit in 0..<bits {
        if (Int(code) >> bit) & 1 == 1 { bytes[stream / 8] |= UInt8(1 << (stream % 8)) }
        stream += 1
      }
    }
    return bytes
  }

  @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
  func everyPackKernelWritesTheDocumentedStreamAndRoundTrips(bits: Int) throws {
    var generator = SeededGenerator(seed: UInt64(bits))
    for count in Self.lengths {
      let codes = (0..<count).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) }
      let byteCount = BitPacking.byteCount(codes: count, bits: bits)
      let expected = Self.streamModel(codes, bits: bits)
      for backend in Engine.default.runnableBackends {
        // Guard bytes after the output catch any write past ⌈count·bits/8⌉.
        var packed = [UInt8](repeating: 0xAA, count: byteCount + 8)
        if count > 0 { backend.pack(count: count, bits: bits, codes, &packed) }
        #expect(Array(packed[0..<byteCount]) == expected, "\(backend.name) bits \(bits) count \(count)")
        #expect(Array(packed[byteCount...]) == [UInt8](repeating: 0xAA, count: 8), "wrote past the end: bits \(bits) count \(count)")
        var unpacked = [UInt8](repeating: 0xFF, count: count)
        if count > 0 { backend.unpack(count: count, bits: bits, expected, &unpacked) }
        #expect(unpacked == codes, "\(backend.name) bits \(bits) count \(count)")
      }
      // The engine's dispatched path writes the same stream.
      var viaEngine = [UInt8](repeating: 0, count: byteCount)
      BitPacking.pack(count: count, bits: bits, codes, &viaEngine, engine: .default)
      #expect(viaEngine == expected)
    }
  }

  @Test(arguments: QuantizationScheme.supportedBits)
  func raggedRowsRoundTripThroughTheTensor(bits: Int) throws {
    // 13 rows of 77: groups of 32 leave a last group of 13, and 77·bits is not a multiple of
    // 8 for odd widths (rows are padded to a byte).
    let shape = [13, 77]
    let values = weightLikeValues(13 * 77, seed: 99)
    let scheme = try QuantizationScheme(bits: bits, granularity: .perGroup(32), mode: .zeroPoint)
    let q = try Quantizer(scheme: scheme).quantize(values, shape: shape)
    #expect(q.packedCodes.count == 13 * ((77 * bits + 7) / 8))
    let rebuilt = try QuantizedTensor(shape: shape, scheme: scheme, codes: q.codes(), parameters: (0..<q.scales.count).map(q.parameters(ofGroup:)))
    #expect(rebuilt == q)
    let model = scalarModel(values, rows: 13, columns: 77, groupSize: 32, bits: bits, mode: .zeroPoint)
    #expect(q.codes() == model.codes)
  }

  @Test func theGemvOnTheFlyEqualsAGemvOnTheDequantizedMatrix() throws {
    for (shape, granularity) in [([96, 384], QuantizationGranularity.perGroup(64)), ([33, 100], .perGroup(32)), ([20, 50], .perChannel), ([8, 16], .perTensor)] {
      let values = weightLikeValues(shape[0] * shape[1], seed: 5)
      let x = weightLikeValues(shape[1], seed: 6, scale: 1)
      for mode in QuantizationMode.allCases {
        let q = try Quantizer(scheme: try QuantizationScheme(bits: 4, granularity: granularity, mode: mode)).quantize(values, shape: shape)
        let dense = try Matrix(rows: shape[0], columns: shape[1], elements: q.dequantized())
        let expected = try Engine.default.multiply(dense, x)
        let y = try q.multiply(x)
        // Same products, possibly summed in another order: |Δ| ≤ columns · ulp(Σ|ŵ||x|).
        let absolute = try Engine.default.multiply(try Matrix(rows: shape[0], columns: shape[1], elements: dense.elements.map(abs)), x.map(abs))
        for row in 0..<shape[0] {
          let tolerance = Float(shape[1]) * absolute[row].ulp
          #expect(abs(y[row] - expected[row]) <= tolerance, "\(shape) \(mode) row \(row)")
        }
      }
    }
  }

  @Test func measuredStatisticsMatchADirectComputation() throws {
    let values = weightLikeValues(64 * 384, seed: 11)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64))
    let result = try Quantizer(scheme: scheme).quantizeAndMeasure(values, shape: [64, 384])
    let approx = result.tensor.dequantized()
    var errorSquared = 0.0, norm = 0.0, dot = 0.0, approxNorm = 0.0
    for i in values.indices {
      let d = Double(values[i]) - Double(approx[i])
      errorSquared += d * d
      norm += Double(values[i]) * Double(values[i])
      approxNorm += Double(approx[i]) * Double(approx[i])
      dot += Double(values[i]) * Double(approx[i])
    }
    // Float32 partial sums over ≤ 1024 terms: relative error ≤ ~1024 · 2⁻²⁴ ≈ 6e-5 worst case.
    let tolerance = 1e-4
    #expect(abs(result.statistics.relativeError - (errorSquared / norm).squareRoot()) <= tolerance * (errorSquared / norm).squareRoot())
    #expect(abs(result.statistics.cosineSimilarity - dot / (norm * approxNorm).squareRoot()) <= tolerance)
    #expect(result.statistics.count == values.count)
    let metrics = QuantizationMetrics(result.statistics, bitsPerWeight: result.tensor.bitsPerWeight, originalBitsPerWeight: 32)
    #expect(metrics.bitsPerWeight == 5)  // 4 + (32 + 32)/64
    #expect(metrics.compressionRatio == 6.4)
    let sqnr = try #require(metrics.signalToNoiseDecibels)
    #expect(abs(sqnr - 10 * log10(norm / errorSquared)) < 1e-3)
  }

  @Test func bitsPerWeightCountsEveryStoredByte() throws {
    let shape = [384, 384]
    #expect(try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .floatMinimum).bitsPerWeight(shape: shape) == 5)
    #expect(try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .zeroPoint).bitsPerWeight(shape: shape) == 4 + 0.5 + 4.0 / 64)
    #expect(try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .symmetric).bitsPerWeight(shape: shape) == 4.5)
    #expect(try QuantizationScheme(bits: 2, granularity: .perGroup(128), mode: .floatMinimum).bitsPerWeight(shape: shape) == 2.5)
    #expect(try QuantizationScheme(bits: 8, granularity: .perChannel, mode: .symmetric).bitsPerWeight(shape: shape) == 8 + 32.0 / 384)
  }
}
