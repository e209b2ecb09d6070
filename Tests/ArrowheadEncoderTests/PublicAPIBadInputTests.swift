import ArrowheadEncoder
import Testing

/// `BertConfiguration`'s properties are mutable: values that its initializer refuses are
/// refused again when a configuration reaches `BertEncoder`, before any weight is read
/// (0 heads divided by zero in the forward pass; a negative or NaN ε made NaN embeddings).
@Suite struct EncoderPublicAPIBadInputTests {
  static func valid() throws -> BertConfiguration {
    try BertConfiguration(vocabularySize: 10, hiddenSize: 4, attentionHeads: 2, layers: 1, intermediateSize: 8)
  }

  @Test func layerNormEpsilonMustBeFinitePositive() {
    for epsilon: Float in [-1, 0, .nan, .infinity] {
      #expect(throws: EncoderError.invalidOption(name: "layerNormEpsilon", value: "\(epsilon)", expected: "a finite positive number")) {
        try BertConfiguration(vocabularySize: 10, hiddenSize: 4, attentionHeads: 2, layers: 1, intermediateSize: 8, layerNormEpsilon: epsilon)
      }
    }
  }

  @Test func encoderChecksAConfigurationChangedAfterItWasMade() throws {
    var heads = try Self.valid()
    heads.attentionHeads = 0
    #expect(throws: EncoderError.invalidOption(name: "attentionHeads", value: "0", expected: "a positive integer")) {
      try BertEncoder(configuration: heads, weightsFolder: "/nonexistent-arrowhead-folder")
    }
    var epsilon = try Self.valid()
    epsilon.layerNormEpsilon = -1
    #expect(throws: EncoderError.invalidOption(name: "layerNormEpsilon", value: "-1.0", expected: "a finite positive number")) {
      try BertEncoder(configuration: epsilon, weightsFolder: "/nonexistent-arrowhead-folder")
    }
  }

  /// `outputDimension(hiddenSize:)` returned −2 for a hidden size of −1 and trapped on an
  /// overflow for `Int.max`: a documented precondition (a loaded model's width always fits).
  @Test func outputDimensionOfAnImpossibleWidthTraps() async throws {
    let pooling = try PoolingConfiguration(modes: [.cls, .mean], normalizes: true)
    #expect(pooling.outputDimension(hiddenSize: 384) == 768)
    #expect(pooling.outputDimension(hiddenSize: 0) == 0)
    await #expect(processExitsWith: .failure) {
      _ = try PoolingConfiguration(modes: [.cls, .mean], normalizes: true).outputDimension(hiddenSize: -1)
    }
    await #expect(processExitsWith: .failure) {
      _ = try PoolingConfiguration(modes: [.cls, .mean], normalizes: true).outputDimension(hiddenSize: .max)
    }
  }
}
