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
    // Through an index such values stop earlier: their squared norms overflow distances.
    let index = try FlatIndex(dimension: 1, storage: VectorStorage(.int8))
    #expect(Self.refusedRow(of: "vectors") { try index.add([-3e38, 3e38, 0]) } == 0)
    #expect(index.count == 0)
    // A wide but representable range still trains.
    let wide = try [Float]([-1.5e38, 1.5e38]).withUnsafeBufferPointer { try ScalarQuantizer(bits: 8, training: $0, dimension: 1) }
    #expect(wide.scales[0].isFinite && wide.scales[0] > 0)
  }

  /// The row named by the `.invalidParameter` that `body` throws for `argument`, or nil.
  static func refusedRow(of argument: String, _ body: () throws -> Void) -> Int? {
    do {
      try body()
      return nil
    } catch let SearchError.invalidParameter(name, _, expected) {
      guard name.hasPrefix("\(argument), row "), expected.hasPrefix("a squared norm ≤ ") else { return nil }
      return Int(name.dropFirst("\(argument), row ".count))
    } catch {
      return nil
    }
  }

  /// Finite vectors whose squared norms pass Float32's largest value / 4: under L2 or the
  /// inner product their distances could be ∞ or NaN (∞ − ∞), which ranked them arbitrarily
  /// or dropped them (a flat L2 index returned 2 of 3 neighbours). Refused, naming the row;
  /// the index is unchanged. Cosine normalises and keeps accepting them.
  @Test(arguments: [Metric.squaredL2, .innerProduct])
  func vectorsWhoseDistancesOverflowAreRefused(metric: Metric) throws {
    let indexes: [any VectorIndex] = [
      try FlatIndex(dimension: 2, metric: metric),
      try HNSWIndex(dimension: 2, metric: metric),
      try FlatIndex(dimension: 2, metric: metric, storage: VectorStorage(.int8)),
    ]
    for index in indexes {
      #expect(Self.refusedRow(of: "vectors") { try index.add([1, 2, 1e19, 0, 3, 4]) } == 1)
      #expect(Self.refusedRow(of: "vectors") { try index.add([1, 2, 3e38, 3e38]) } == 1)
      #expect(index.count == 0)
      // Large but representable vectors: every neighbour, with finite scores.
      try index.add([3e18, 0, 0, 3e18, -3e18, 0])
      let result = try index.search([1, 1], k: 3)
      #expect(result.ids.count == 3 && result.isComplete)
      #expect(result.neighbors.allSatisfy { $0.score.isFinite })
      #expect(Self.refusedRow(of: "queries") { _ = try index.search(batch: [0, 0, 2e19, 0], k: 1) } == 1)
    }
    let cosine = try FlatIndex(dimension: 2, metric: .cosine)
    try cosine.add([1e19, 0, 3e38, 3e38])
    #expect(try cosine.search([2e19, 0], k: 2).ids == [0, 1])
  }

  /// Parameters whose largest code decodes past Float32 (offset + 255·scale = ∞): decode
  /// gave [inf, inf], and a loaded index with such a quantizer found no neighbour at all.
  @Test func quantizerParametersMustDecodeToFiniteValues() throws {
    let expected = "offset + 255·scale within the Float32 range (every code decodes to a finite value)"
    #expect(throws: SearchError.invalidParameter(name: "scales[0]", value: "1e+38 with offset 0.0", expected: expected)) {
      try ScalarQuantizer(bits: 8, scales: [1e38, 1], offsets: [0, 0])
    }
    #expect(throws: SearchError.invalidParameter(name: "scales[1]", value: "1e+36 with offset 3e+38", expected: expected)) {
      try ScalarQuantizer(bits: 8, scales: [1, 1e36], offsets: [0, 3e38])
    }
    // The widest quantizer training makes (a range just within Float32) decodes finitely,
    // as do 4-bit codes with a scale 17 times as large.
    let wide = try [Float]([-1.7e38, 1.7e38]).withUnsafeBufferPointer { try ScalarQuantizer(bits: 8, training: $0, dimension: 1) }
    #expect(try wide.decode([0, 255]).allSatisfy(\.isFinite))
    #expect(try ScalarQuantizer(bits: 4, scales: [1e37], offsets: [-1e38]).decode([0xFF]).allSatisfy(\.isFinite))
  }

  /// `codeBytes(dimension:)` of a negative dimension returned −1 (int8) or 0 (int4): it is a
  /// documented precondition now; int4's ⌈d/2⌉ no longer overflows at `Int.max`.
  @Test func codeBytesOfANegativeDimensionTraps() async {
    #expect(VectorStorage.int4.codeBytes(dimension: .max) == Int.max / 2 + 1)
    #expect(VectorStorage.int4.codeBytes(dimension: 7) == 4 && VectorStorage.int8.codeBytes(dimension: 7) == 7)
    #expect(VectorStorage.float32.codeBytes(dimension: 0) == 0)
    await #expect(processExitsWith: .failure) { _ = VectorStorage.int8.codeBytes(dimension: -1) }
  }
}
