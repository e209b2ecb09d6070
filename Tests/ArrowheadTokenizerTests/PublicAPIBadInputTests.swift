import Foundation
@testable import ArrowheadTokenizer
import Testing

/// Padding lengths a Swift caller may set: absurd ones get `.invalidLength`, never an
/// overflow trap or an allocation failure when a batch is encoded.
@Suite struct TokenizerPublicAPIBadInputTests {
  @Test func paddingBeyondTheMaximumIsRefused() throws {
    var tokenizer = try Fixtures.tiny()
    let maximum = Tokenizer.maximumPaddingLength
    for length in [maximum + 1, 1 << 40, Int.max] {
      #expect(throws: TokenizerError.invalidLength(length, reason: "a fixed padding length must be in 1…\(maximum)")) {
        try tokenizer.setPadding(Padding(length: .fixed(length), multiple: 2))
      }
      #expect(throws: TokenizerError.invalidLength(length, reason: "pad_to_multiple_of must be in 1…\(maximum)")) {
        try tokenizer.setPadding(Padding(multiple: length))
      }
    }
    #expect(tokenizer.padding == nil)
    try tokenizer.setPadding(Padding(length: .fixed(5), multiple: 4))
    #expect(tokenizer.encode(["a"]).length == 8)
  }

  /// A tokenizer.json may give a token any id up to Int32.max: one such id made a
  /// 2³¹-entry id table (8 GiB, 26 s to load in a debug build). Sparse ids now go to a
  /// dictionary; the tokens and ids are unchanged.
  @Test func aHugeTokenIDDoesNotAllocateATableForEveryID() throws {
    let folder = NSTemporaryDirectory() + "arrowhead-sparse-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/tokenizer.json"
    let json = """
      {"model": {"type": "WordPiece", "unk_token": "[UNK]",
                 "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 2147483647, "b": 3}},
       "normalizer": {"type": "BertNormalizer", "lowercase": true}, "pre_tokenizer": {"type": "BertPreTokenizer"},
       "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]}}
      """
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    let tokenizer = try Tokenizer(tokenizerJSON: path)
    #expect(tokenizer.vocabulary.idTableBytes < 1 << 20)
    let encoding = tokenizer.encode("a b c")
    #expect(encoding.ids == [1, 2_147_483_647, 3, 0, 2])
    #expect(tokenizer.tokens(encoding) == ["[CLS]", "a", "b", "[UNK]", "[SEP]"])
    #expect(tokenizer.vocabulary.token(for: 2_147_483_646) == nil && tokenizer.vocabulary.token(for: -1) == nil)
  }
}
