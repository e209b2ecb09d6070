import Arrowhead
import ArrowheadEncoder
import ArrowheadTestSupport
import Testing

/// all-MiniLM-L6-v2 on Arrowhead against sentence-transformers' own embeddings
/// (`Golden/make_golden.py`, PyTorch on CPU in float32) for 22 varied texts: short and
/// long (truncated at 256 tokens), accents, CJK, emoji, control characters, code, URLs.
@Suite("MiniLM golden embeddings")
struct MiniLMGoldenTests {
  /// Both sides compute in float32 with different summation orders (blocked gemm with
  /// 16-lane partial sums here, MKL-DNN/oneDNN there) and our exp/erf differ from libm's by
  /// ≤ 1.5e-7 absolute; the measured worst cosine is ~1 − 1e-7. The goal for
  /// the corpus is a mean ≥ 0.99999, which this bound states per text.
  static let minimumCosine = 0.99999

  @Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
  func tokenIDsGiveSentenceTransformersEmbeddings() throws {
    let golden = try GoldenEmbeddings.load()
    #expect(golden.texts.count == 22 && golden.tokenIDs.count == 22)
    let encoder = try SentenceEncoder(folder: MiniLMFolder.path!, engine: .default)
    #expect(encoder.dimension == 384)
    #expect(encoder.maximumSequenceLength == golden.maximumSequenceLength)
    #expect(encoder.pooling.modes == [.mean] && encoder.pooling.normalizes)
    let embeddings = try encoder.encode(tokenIDs: golden.tokenIDs)
    #expect(embeddings.rows == 22 && embeddings.columns == 384)
    var worst = 1.0
    for (index, expected) in golden.embeddings.enumerated() {
      let value = cosine(embeddings.row(index), expected[...])
      worst = min(worst, value)
      #expect(value >= Self.minimumCosine, "text \(index) '\(golden.texts[index].prefix(40))': cosine \(value)")
    }
    print("MiniLM golden: worst cosine \(worst)")
  }

  /// Batch size, thread count and parallelism change only the grouping of the work: every
  /// embedding must agree with the default run to within float rounding of a different
  /// gemm blocking (cos ≥ 1 − 1e-6). On the 12 texts under 40 tokens (the test runs in
  /// debug builds in CI).
  @Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
  func batchingAndThreadsDoNotChangeTheResult() throws {
    let golden = try GoldenEmbeddings.load()
    let encoder = try SentenceEncoder(folder: MiniLMFolder.path!, engine: .default)
    let ids = golden.tokenIDs.filter { $0.count < 40 }
    #expect(ids.count >= 12)
    let reference = try encoder.encode(tokenIDs: ids, options: EncodingOptions(batchSize: 32, threads: 1))
    for options in [
      EncodingOptions(batchSize: 1, threads: 1),
      EncodingOptions(batchSize: 5, threads: 2, parallelism: .acrossBatches),
      EncodingOptions(batchSize: 7, threads: 2, parallelism: .insideProducts),
    ] {
      let other = try encoder.encode(tokenIDs: ids, options: options)
      for index in 0..<ids.count {
        #expect(cosine(reference.row(index), other.row(index)) >= 1 - 1e-6, "\(options), text \(index)")
      }
    }
  }
}
