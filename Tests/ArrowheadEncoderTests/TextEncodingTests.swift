import Arrowhead
import ArrowheadEncoder
import ArrowheadTestSupport
import Foundation
import Testing

/// Texts in, embeddings out: the tokenizer and the encoder together.
@Suite("Encoding texts")
struct TextEncodingTests {
  /// Through text, the embedding is the one of the token ids the vocabulary gives
  /// (`[CLS] the cat sat on the mat . [SEP]` = 2 5 7 9 10 5 11 28 3); words split into
  /// pieces (dog ##s, look ##ed), unknown words map to [UNK].
  @Test func textsGiveTheEmbeddingsOfTheirTokenIDs() throws {
    let folder = try TinyBert(seed: 31).write(to: try temporaryDirectory("tiny-text"))
    let encoder = try SentenceEncoder(folder: folder.path, engine: .default)
    let texts = ["The cat sat on the mat.", "Dogs looked fast!", "zebra", ""]
    let expectedIDs = [[2, 5, 7, 9, 10, 5, 11, 28, 3], [2, 8, 19, 36, 21, 22, 30, 3], [2, 1, 3], [2, 3]]
    let result = try encoder.encodeReporting(texts)
    let byIDs = try encoder.encode(tokenIDs: expectedIDs)
    #expect(result.embeddings == byIDs)
    #expect(result.truncatedTexts.isEmpty)
    #expect(result.tokenCount == expectedIDs.reduce(0) { $0 + $1.count })
  }

  /// The tiny model reads at most 24 positions: a longer text keeps its first 23 tokens
  /// and [SEP], and is counted.
  @Test func textsPastTheMaximumLengthAreTruncatedAndCounted() throws {
    let folder = try TinyBert(seed: 32).write(to: try temporaryDirectory("tiny-text"))
    let encoder = try SentenceEncoder(folder: folder.path, engine: .default)
    #expect(encoder.maximumSequenceLength == 24)
    let long = Array(repeating: "the big red cat", count: 10).joined(separator: " ")  // 40 words
    let result = try encoder.encodeReporting(["a cat", long, "a dog", long])
    #expect(result.truncatedTexts == [1, 3])
    #expect(result.tokenCount == 4 + 24 + 4 + 24)
    let cut = [2] + Array([5, 14, 16, 7].repeated(6).prefix(22)) + [3]
    #expect(try encoder.encode(tokenIDs: [cut]).row(0) == result.embeddings.row(1))
  }

  @Test func progressCountsEveryText() throws {
    let folder = try TinyBert(seed: 33).write(to: try temporaryDirectory("tiny-text"))
    let encoder = try SentenceEncoder(folder: folder.path, engine: .default)
    let counter = Counter()
    let texts = (0..<37).map { "text \($0) the cat" }
    for parallelism in EncoderParallelism.allCases {
      counter.reset()
      _ = try encoder.encode(
        texts, options: EncodingOptions(batchSize: 8, threads: 2, parallelism: parallelism), progress: { counter.add($0) })
      #expect(counter.total == 37 && counter.calls == 5, "\(parallelism)")
    }
  }

  @Test func aFolderWithoutTokenizerFilesIsNamed() throws {
    let folder = try TinyBert(seed: 34).write(to: try temporaryDirectory("tiny-text"))
    try FileManager.default.removeItem(at: folder.appendingPathComponent("vocab.txt"))
    do {
      _ = try SentenceEncoder(folder: folder.path, engine: .default)
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("neither tokenizer.json nor vocab.txt"))
    }
  }

  /// The golden texts through the encoder's tokenizer: the ids sentence-transformers fed its
  /// model (truncation at 256 included), so `encode(texts)` computes what
  /// `tokenIDsGiveSentenceTransformersEmbeddings` checks against the golden embeddings.
  @Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
  func miniLMTextsGiveTheGoldenTokenIDs() throws {
    let golden = try GoldenEmbeddings.load()
    let encoder = try SentenceEncoder(folder: MiniLMFolder.path!, engine: .default)
    #expect(encoder.tokenizer.maximumLength == 256 && encoder.tokenizer.padding == nil)
    for (index, text) in golden.texts.enumerated() {
      let encoding = encoder.tokenizer.encode(text)
      #expect(encoding.ids.map(Int.init) == golden.tokenIDs[index], "text \(index)")
      #expect(encoding.wasTruncated == (index == 16), "text \(index)")  // "The capital of France is Paris. " × 40
    }
    // One short text end to end: the text path gives the golden embedding.
    let embedding = try encoder.encode([golden.texts[0]])
    #expect(cosine(embedding.row(0), golden.embeddings[0][...]) >= MiniLMGoldenTests.minimumCosine)
  }
}

/// A thread-safe tally of progress calls.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var sum = 0
  private var count = 0
  func add(_ value: Int) { lock.withLock { sum += value; count += 1 } }
  func reset() { lock.withLock { sum = 0; count = 0 } }
  var total: Int { lock.withLock { sum } }
  var calls: Int { lock.withLock { count } }
}

extension Array {
  func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}
