import Arrowhead
import ArrowheadQuant
import Testing

/// The reference figures of shared/DATA.md on the real all-MiniLM-L6-v2 weights: plain
/// min-max, groups of 64, size-weighted relative error over the 37 linear matrices.
@Suite("MiniLM reference figures", .enabled(if: MiniLM.isAvailable, Comment(rawValue: MiniLM.skipMessage)))
struct MiniLMReferenceTests {
  /// (bits, mode, reference, tolerance): ours must agree within half a unit of the last
  /// digit given (5e-6), which is stricter than agreeing to 3 significant digits.
  static let references: [(Int, QuantizationMode, Double, Double)] = [
    (8, .floatMinimum, 0.00559, 0.000005), (4, .floatMinimum, 0.09472, 0.000005), (2, .floatMinimum, 0.47413, 0.000005),
    (8, .zeroPoint, 0.00568, 0.000005), (4, .zeroPoint, 0.09585, 0.000005), (2, .zeroPoint, 0.47301, 0.000005),
  ]

  @Test func theThirtySevenMatricesHold10_76MillionWeights() throws {
    let file = try SafetensorsFile(path: try #require(MiniLM.path))
    let matrices = MiniLM.linearMatrices(file)
    #expect(matrices.count == 37)
    #expect(matrices.reduce(0) { $0 + $1.elementCount } == 10_764_288)
  }

  @Test(arguments: 0..<6)
  func sizeWeightedRelativeErrorMatchesTheReference(_ index: Int) throws {
    let (bits, mode, reference, tolerance) = Self.references[index]
    let file = try SafetensorsFile(path: try #require(MiniLM.path))
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: bits, granularity: .perGroup(64), mode: mode))
    var summary = ModelErrorSummary()
    for matrix in MiniLM.linearMatrices(file) {
      let result = try file.withFloats(matrix) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) in
        try quantizer.quantizeAndMeasure(values, shape: matrix.shape, name: matrix.name)
      }
      summary.add(count: result.statistics.count, relativeError: result.statistics.relativeError)
    }
    let measured = summary.sizeWeightedRelativeError
    #expect(abs(measured - reference) <= tolerance, "int\(bits) \(mode): measured \(measured), reference \(reference)")
  }
}
