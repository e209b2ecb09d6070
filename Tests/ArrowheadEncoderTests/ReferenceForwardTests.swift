import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadTestSupport
import Foundation
import Testing

/// The encoder against `TinyBert`'s scalar Double forward pass: random weights, several
/// sequences of different lengths packed in one batch, every pooling mode, F16/BF16 files.
@Suite("Encoder against a scalar reference")
struct ReferenceForwardTests {
  /// Float32 against Double on O(1) LayerNorm outputs. Each product has depth ≤ 48 and a
  /// worst-case relative error γ₄₈ ≈ 48·2⁻²⁴ ≈ 2.9e-6; erf and exp are accurate to ~1.5e-7;
  /// the two layers chain 6 products and 3 LayerNorms (each divides by σ, which is O(1)
  /// here). 1e-4 leaves a ~5× margin over that chain's bound, while an error in the maths
  /// (a wrong scale, mask, ε or GELU) moves values by 1e-2 or more.
  static let stateTolerance = 1e-4

  static let sequences: [[Int]] = [
    [1, 5, 9, 2], [1, 7, 2], [1, 3, 3, 3, 8, 11, 19, 23, 31, 39, 2], [1, 2],
    [1] + Array(repeating: 17, count: 21) + [2],  // 23 tokens (≤ 24 positions)
    [1, 0, 39, 2],
  ]

  @Test func hiddenStatesMatchTheReferenceForEverySequenceOfAPackedBatch() throws {
    let model = TinyBert(seed: 11)
    let folder = try model.write(to: try temporaryDirectory("tiny-bert"))
    let bert = try BertEncoder(folder: folder.path)
    #expect(bert.configuration.hiddenSize == 32 && bert.configuration.headDimension == 8)
    for engine in [Engine.default, try Engine.default.forcing("reference"), Engine.default.withThreads(1)] {
      let states = try bert.hiddenStates(for: Self.sequences, engine: engine)
      for (index, ids) in Self.sequences.enumerated() {
        let expected = model.referenceStates(ids)
        #expect(states[index].rows == ids.count && states[index].columns == 32)
        var worst = 0.0
        for t in 0..<ids.count {
          for j in 0..<32 { worst = max(worst, abs(Double(states[index][t, j]) - expected[t][j])) }
        }
        #expect(worst <= Self.stateTolerance, "sequence \(index) on \(engine.selection(for: .gemm, .small).backend): max error \(worst)")
      }
    }
  }

  /// A packed batch must give each sequence exactly what it gets alone: the attention of one
  /// sequence never sees another's tokens (the padding mask's job in a padded batch).
  @Test func batchingDoesNotLeakBetweenSequences() throws {
    let model = TinyBert(seed: 12)
    let folder = try model.write(to: try temporaryDirectory("tiny-bert"))
    let bert = try BertEncoder(folder: folder.path)
    let engine = Engine.default.withThreads(1)
    let together = try bert.hiddenStates(for: Self.sequences, engine: engine)
    for (index, ids) in Self.sequences.enumerated() {
      let alone = try bert.hiddenStates(for: [ids], engine: engine)[0]
      let difference = zip(alone.elements, together[index].elements).map { abs($0 - $1) }.max() ?? 0
      // Only the gemm's blocking can differ (row count); ≤ a few ulps of O(1) values.
      #expect(difference <= 1e-5, "sequence \(index): \(difference)")
    }
  }

  @Test(arguments: [
    ["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"], ["pooling_mode_max_tokens"],
    ["pooling_mode_mean_sqrt_len_tokens"],
    ["pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens"],
  ])
  func pooledEmbeddingsMatchTheReference(pooling: [String]) throws {
    let model = TinyBert(seed: 13)
    for normalize in [true, false] {
      let folder = try model.write(to: try temporaryDirectory("tiny-bert"), pooling: pooling, normalize: normalize)
      let encoder = try SentenceEncoder(folder: folder.path, engine: .default)
      #expect(encoder.dimension == 32 * pooling.count)
      let embeddings = try encoder.encode(tokenIDs: Self.sequences, options: EncodingOptions(batchSize: 4))
      for (index, ids) in Self.sequences.enumerated() {
        let expected = model.referenceEmbedding(ids, pooling: pooling, normalize: normalize)
        let worst = zip(embeddings.row(index), expected).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst <= Self.stateTolerance, "\(pooling) normalize \(normalize), sequence \(index): \(worst)")
      }
    }
  }

  /// F16 and BF16 files are converted on load: the result is the reference forward of the
  /// rounded weights (same tolerance), and differs from the Float32 model's.
  @Test(arguments: [SafetensorsDType.f16, .bf16])
  func halfPrecisionWeightsAreConverted(dtype: SafetensorsDType) throws {
    let model = TinyBert(seed: 14)
    let folder = try model.write(to: try temporaryDirectory("tiny-bert"), dtype: dtype)
    let encoder = try SentenceEncoder(folder: folder.path, engine: .default)
    let embeddings = try encoder.encode(tokenIDs: Self.sequences)
    let rounded = model.rounded(to: dtype)
    for (index, ids) in Self.sequences.enumerated() {
      let expected = rounded.referenceEmbedding(ids, pooling: ["pooling_mode_mean_tokens"], normalize: true)
      let worst = zip(embeddings.row(index), expected).map { abs(Double($0) - $1) }.max() ?? 0
      #expect(worst <= Self.stateTolerance, "\(dtype) sequence \(index): \(worst)")
    }
  }
}
