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
}
