import ArrowheadTokenizer
import Foundation
import Testing

/// Loading from tokenizer.json, vocab.txt and model folders; every kind of bad input gives
/// a typed error naming the file.
@Suite("loading and bad input")
struct LoadingTests {
  /// The tiny tokenizer.json with `edit` applied to its text.
  func tinyVariant(_ edit: (String) -> String) throws -> String {
    let folder = try Fixtures.temporaryFolder()
    let text = try String(contentsOfFile: Fixtures.tinyJSON, encoding: .utf8)
    try Fixtures.write(edit(text), to: folder + "/tokenizer.json")
    return folder + "/tokenizer.json"
  }

  @Test func tinyFixtureLoadsAsWritten() throws {
    let tiny = try Fixtures.tiny()
    #expect(tiny.normalizer == BertNormalizerOptions(cleanText: true, handleChineseCharacters: true, stripAccents: nil, lowercase: true))
    #expect(tiny.preTokenizer == .bert)
    #expect(tiny.wordPieceOptions == WordPieceOptions(unknownToken: "[UNK]", continuingSubwordPrefix: "##", maximumCharactersPerWord: 12))
    #expect(tiny.addedTokens.map(\.content) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    #expect(tiny.template == [.special(name: "[CLS]", ids: [2], typeID: 0), .sequence(typeID: 0), .special(name: "[SEP]", ids: [3], typeID: 0)])
    #expect(tiny.truncation == nil)
    #expect(tiny.padding == nil)
  }

  @Test func otherModelKindsAreRefusedByName() throws {
    for kind in ["BPE", "Unigram", "WordLevel"] {
      let path = try tinyVariant { $0.replacingOccurrences(of: "\"type\": \"WordPiece\",\n  \"unk_token\"", with: "\"type\": \"\(kind)\",\n  \"unk_token\"") }
      #expect(throws: TokenizerError.unsupportedModel(path: path, type: kind)) { try Tokenizer(tokenizerJSON: path) }
    }
    let sequence = try tinyVariant { $0.replacingOccurrences(of: "\"type\": \"BertNormalizer\"", with: "\"type\": \"Sequence\"") }
    #expect(throws: TokenizerError.unsupportedComponent(path: sequence, component: "normalizer", type: "Sequence")) {
      try Tokenizer(tokenizerJSON: sequence)
    }
    let byteLevel = try tinyVariant { $0.replacingOccurrences(of: "\"type\": \"BertPreTokenizer\"", with: "\"type\": \"ByteLevel\"") }
    #expect(throws: TokenizerError.unsupportedComponent(path: byteLevel, component: "pre_tokenizer", type: "ByteLevel")) {
      try Tokenizer(tokenizerJSON: byteLevel)
    }
  }

  @Test func malformedJSONNamesFileLineAndColumn() throws {
    let path = try tinyVariant { $0.replacingOccurrences(of: "\"truncation\": null,", with: "\"truncation\": nul,") }
    do {
      _ = try Tokenizer(tokenizerJSON: path)
      Issue.record("malformed JSON was accepted")
    } catch {
      guard case let .malformedJSON(file, line, column, _, reason) = error else { Issue.record("wrong error \(error)"); return }
      #expect(file == path)
      #expect(line == 3)
      #expect(column == 16)
      #expect(reason == "invalid literal")
      #expect(error.description.contains("line 3, column 16"))
    }
  }

  @Test func badFieldsAreNamed() throws {
    let noVocab = try tinyVariant { $0.replacingOccurrences(of: "\"vocab\":", with: "\"vocabulary\":") }
    #expect(throws: TokenizerError.invalidField(path: noVocab, field: "model.vocab", reason: "is missing or not an object")) {
      try Tokenizer(tokenizerJSON: noVocab)
    }
    let badID = try tinyVariant { $0.replacingOccurrences(of: "\"hello\": 13", with: "\"hello\": \"13\"") }
    #expect(throws: TokenizerError.invalidField(path: badID, field: "model.vocab[\"hello\"]", reason: "must be a non-negative integer id, not \"13\"")) {
      try Tokenizer(tokenizerJSON: badID)
    }
    let badFlag = try tinyVariant { $0.replacingOccurrences(of: "\"lowercase\": true", with: "\"lowercase\": 1") }
    #expect(throws: TokenizerError.invalidField(path: badFlag, field: "normalizer.lowercase", reason: "must be true, false or null, not integer")) {
      try Tokenizer(tokenizerJSON: badFlag)
    }
    let noUnknown = try tinyVariant { $0.replacingOccurrences(of: "\"unk_token\": \"[UNK]\"", with: "\"unk_token\": \"<unk>\"") }
    #expect(throws: TokenizerError.missingToken(path: noUnknown, token: "<unk>", role: "unknown token (unk_token)")) {
      try Tokenizer(tokenizerJSON: noUnknown)
    }
    let badTruncation = try tinyVariant { $0.replacingOccurrences(of: "\"truncation\": null", with: "\"truncation\": {\"max_length\": 2}") }
    #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: badTruncation) }
  }

  @Test func missingFilesAndFolders() throws {
    #expect(throws: TokenizerError.unreadableFile(path: "/nonexistent/tokenizer.json", reason: "cannot open: No such file or directory")) {
      try Tokenizer(tokenizerJSON: "/nonexistent/tokenizer.json")
    }
    #expect(throws: TokenizerError.unreadableFile(path: "/nonexistent", reason: "not a directory")) {
      try Tokenizer(modelDirectory: "/nonexistent")
    }
    let empty = try Fixtures.temporaryFolder()
    #expect(throws: TokenizerError.missingTokenizerFiles(directory: empty)) { try Tokenizer(modelDirectory: empty) }
    try Fixtures.write("", to: empty + "/vocab.txt")
    #expect(throws: TokenizerError.emptyVocabulary(path: empty + "/vocab.txt")) { try Tokenizer(modelDirectory: empty) }
    #expect(throws: TokenizerError.unreadableFile(path: empty, reason: "read failed: Is a directory")) { try Tokenizer(tokenizerJSON: empty) }
  }

  @Test func vocabTxtFallbackEqualsTokenizerJSON() throws {
    let fromVocab = try Tokenizer(modelDirectory: Fixtures.tinyVocabFolder)
    var tiny = try Fixtures.tiny()
    try tiny.setTruncation(Truncation(maximumLength: 16))  // tokenizer_config.json model_max_length
    #expect(fromVocab.maximumLength == 16)
    #expect(fromVocab.vocabulary == tiny.vocabulary)
    #expect(fromVocab.template == tiny.template)
    for text in ["Hello, World!", "unaffable [SEP] runs", "東京 Café e\u{301}cole", "", "hello world hello world hello world hello world hello world hello world hello world"] {
      #expect(fromVocab.encode(text) == tiny.encode(text), "\(text)")
    }
    // CRLF line ends read as Python's text mode reads them.
    let folder = try Fixtures.temporaryFolder()
    try Fixtures.write("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello", to: folder + "/vocab.txt")
    let crlf = try Tokenizer(modelDirectory: folder)
    #expect(crlf.encode("hello").ids == [2, 4, 3])
  }

  @Test func maximumLengthPrecedence() throws {
    let folder = try Fixtures.temporaryFolder()
    let json = try String(contentsOfFile: Fixtures.tinyJSON, encoding: .utf8)
      .replacingOccurrences(of: "\"truncation\": null", with: "\"truncation\": {\"max_length\": 9, \"strategy\": \"LongestFirst\", \"stride\": 0, \"direction\": \"Left\"}")
    try Fixtures.write(json, to: folder + "/tokenizer.json")
    #expect(try Tokenizer(tokenizerJSON: folder + "/tokenizer.json").truncation == Truncation(maximumLength: 9, side: .left))
    #expect(try Tokenizer(modelDirectory: folder).truncation == Truncation(maximumLength: 9, side: .left))  // 5. saved
    try Fixtures.write("{\"max_position_embeddings\": 40}", to: folder + "/config.json")
    #expect(try Tokenizer(modelDirectory: folder).maximumLength == 40)                  // 4. positions
    try Fixtures.write("{\"model_max_length\": 1000000000000000019884624838656}", to: folder + "/tokenizer_config.json")
    #expect(try Tokenizer(modelDirectory: folder).maximumLength == 40)                  // "unset" ignored
    try Fixtures.write("{\"model_max_length\": 64}", to: folder + "/tokenizer_config.json")
    #expect(try Tokenizer(modelDirectory: folder).maximumLength == 40)                  // 3. capped by positions
    try Fixtures.write("{\"model_max_length\": 24}", to: folder + "/tokenizer_config.json")
    #expect(try Tokenizer(modelDirectory: folder).maximumLength == 24)                  // 3.
    try Fixtures.write("{\"max_seq_length\": 12, \"do_lower_case\": false}", to: folder + "/sentence_bert_config.json")
    let loaded = try Tokenizer(modelDirectory: folder)
    #expect(loaded.truncation == Truncation(maximumLength: 12, side: .left))            // 2., saved side kept
    #expect(loaded.padding == Padding(length: .longest))
    #expect(try Tokenizer(modelDirectory: folder, maximumLength: 7).maximumLength == 7) // 1. explicit
    try Fixtures.write("{\"max_seq_length\": 12,}", to: folder + "/sentence_bert_config.json")
    #expect(throws: TokenizerError.self) { try Tokenizer(modelDirectory: folder) }
  }
}
