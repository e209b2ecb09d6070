import Arrowhead
import ArrowheadCore
@testable import ArrowheadEncoder
import ArrowheadTestSupport
import Testing

/// `SentenceEncoder` cuts a batch into forward passes of at most `passTokens` tokens (whole
/// sequences), which must change no value.
@Suite("Encoder forward passes")
struct ForwardPassTests {
  /// 32 sequences of 5…24 tokens (416 tokens, so a batch of 32 runs as two passes) embedded as one batch and one sequence at a time: every product is row-independent
  /// and attention runs per sequence, so the rows must agree to Float32 rounding (a
  /// different row count may change how the gemm blocks its rows, not the sums of a row;
  /// 1e-6 on unit-length embeddings). Float32 and INT8 weights.
  @Test(arguments: [WeightFormat.float32, .int8])
  func aBatchCutIntoPassesGivesWhatEachSequenceGetsAlone(weights: WeightFormat) throws {
    let folder = try TinyBert(seed: 35).write(to: try temporaryDirectory("tiny-bert"))
    let encoder = try SentenceEncoder(folder: folder.path, weights: weights)
    var generator = SeededGenerator(seed: 36)
    let sequences: [[Int]] = (0..<32).map { index in
      let length = 5 + index % 20
      return [1] + (0..<(length - 2)).map { _ in 3 + Int(generator.next() % 37) } + [2]
    }
    let tokens = sequences.reduce(0) { $0 + $1.count }
    #expect(tokens > SentenceEncoder.passTokens, "\(tokens) tokens: a single pass")
    let batched = try encoder.encode(tokenIDs: sequences, options: EncodingOptions(batchSize: 32, threads: 1))
    let alone = try encoder.encode(tokenIDs: sequences, options: EncodingOptions(batchSize: 1, threads: 1))
    let largest = zip(batched.elements, alone.elements).map { abs($0 - $1) }.max() ?? 1
    #expect(largest <= 1e-6, "\(weights.rawValue): largest difference \(largest)")
  }
}
