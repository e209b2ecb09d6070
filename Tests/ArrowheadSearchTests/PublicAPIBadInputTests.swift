import Arrowhead
import ArrowheadSearch
import Testing

/// Scalar quantization trained on finite values whose range passes Float32: a typed error,
/// not a scale of 0 that silently encodes every vector as the minimum.
@Suite struct SearchPublicAPIBadInputTests {
  static let expected = "a maximum − minimum within the Float32 range (≤ \(Float.greatestFiniteMagnitude))"

  @Test func scalarQuantizerRejectsATrainingRangeBeyondFloat32() throws {
    let vectors: [Float] = [1, -3e38, 2, 3e38]
    #expect(throws: SearchError.invalidParameter(name: "training vectors, dimension 1", value: "range -3e+38 … 3e+38", expected: Self.expected)) {
      try vectors.withUnsafeBufferPointer { try ScalarQuantizer(bits: 8, training: $0, dimension: 2) }
    }
    let index = try FlatIndex(dimension: 1, storage: VectorStorage(.int8))
    #expect(throws: SearchError.invalidParameter(name: "training vectors, dimension 0", value: "range -3e+38 … 3e+38", expected: Self.expected)) {
      try index.add([-3e38, 3e38, 0])
    }
    #expect(index.count == 0)
    // A wide but representable range still trains.
    let wide = try [Float]([-1.5e38, 1.5e38]).withUnsafeBufferPointer { try ScalarQuantizer(bits: 8, training: $0, dimension: 1) }
    #expect(wide.scales[0].isFinite && wide.scales[0] > 0)
  }
}
