import Foundation
import Testing

/// End-to-end tests of `arrowhead tokenize` and `arrowhead bench tokenize`: they run the
/// built binary on the tiny tokenizer fixture of the tokenizer tests (ids computed by hand
/// and checked against HF `tokenizers`, see Tests/ArrowheadTokenizerTests).
@Suite("arrowhead tokenize")
struct TokenizeCLITests {
  /// Tests/ArrowheadTokenizerTests/Fixtures/tiny (tokenizer.json only: no maximum length).
  static let tinyFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ArrowheadTokenizerTests/Fixtures/tiny").path

  struct Run {
    var status: Int32
    var output: String
    var error: String
  }

  /// Collects a pipe's bytes on another thread.
  final class Collector: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
  }

  /// Runs the binary; stdout, stderr (and stdin) are served concurrently, so a child that
  /// fills one pipe cannot block on it while the test waits on another.
  static func run(_ arguments: [String], input: Data? = nil) throws -> Run {
    let process = Process()
    process.executableURL = IndexCommandTests.binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    let group = DispatchGroup()
    let errors = Collector()
    DispatchQueue.global().async(group: group) { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }
    if let input {
      let writer = inPipe.fileHandleForWriting
      DispatchQueue.global().async(group: group) {
        writer.write(input)
        try? writer.close()
      }
    }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
               error: String(decoding: errors.value, as: UTF8.self))
  }

  static func file(_ bytes: [UInt8], name: String = "texts.txt") throws -> String {
    let directory = try IndexCommandTests.directory()
    let url = directory.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
  }

  @Test func idsPerLine() throws {
    let input = try Self.file(Array("Hello, World!\nunaffable [SEP] runs\n\n東京 Café".utf8))
    let run = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", input])
    #expect(run.status == 0, "\(run.error)")
    #expect(run.output == "2 13 6 14 5 3\n2 15 16 17 3 20 18 3\n2 3\n2 22 23 24 3\n")
    #expect(run.error.contains("4 texts, 21 tokens (longest 8)"))
    #expect(run.error.contains("1 empty line(s) (line 3)"))
  }

  @Test func offsetsAndJSON() throws {
    let input = try Self.file(Array("Hello, World!\nhello world hello".utf8))
    let plain = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", input, "--offsets", "--threads", "1"])
    #expect(plain.output.split(separator: "\n").first == "2 13 6 14 5 3\t0:0 0:5 5:6 7:12 12:13 0:0")
    let json = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", input, "--json", "--offsets", "--max-length", "4"])
    #expect(json.status == 0, "\(json.error)")
    let lines = json.output.split(separator: "\n").map(String.init)
    #expect(lines == [
      "{\"line\":1,\"ids\":[2,13,6,3],\"offsets\":[[0,0],[0,5],[5,6],[0,0]],\"truncated\":2}",
      "{\"line\":2,\"ids\":[2,13,14,3],\"offsets\":[[0,0],[0,5],[6,11],[0,0]],\"truncated\":1}",
    ])
    for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil) }
    #expect(json.error.contains("2 truncated to 4 tokens (lines 1, 2)"))
  }

  @Test func jsonLinesFromStandardInputWithInvalidUTF8() throws {
    let input: [UInt8] = Array("{\"text\": \"hello\"}\n{\"text\": \"a".utf8) + [0xFF] + Array("b\", \"id\": 7}\n".utf8)
    let run = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", "-", "--format", "jsonl"], input: Data(input))
    #expect(run.status == 0, "\(run.error)")
    // U+FFFD is removed by the normaliser like a control character: "ab" → a ##b.
    #expect(run.output == "2 13 3\n2 10 27 3\n")
    #expect(run.error.contains("invalid UTF-8 replaced by U+FFFD on 1 line(s) (line 2)"))
  }

  @Test func badInputFailsWithAClearMessage() throws {
    let missing = try Self.run(["tokenize", "--model", "/nonexistent-model", "--input", "/dev/null"])
    #expect(missing.status != 0)
    #expect(missing.error.contains("'/nonexistent-model'"))

    let empty = try Self.file([])
    let noTexts = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", empty])
    #expect(noTexts.status != 0)
    #expect(noTexts.error.contains("holds no texts"))

    let jsonl = try Self.file(Array("{\"text\": \"a\"}\n{\"title\": \"b\"}\n".utf8), name: "texts.jsonl")
    let badLine = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", jsonl])
    #expect(badLine.status != 0)
    #expect(badLine.error.contains("line 2: the object has no \"text\" field"))

    let model = try IndexCommandTests.directory()
    let json = try String(contentsOfFile: Self.tinyFolder + "/tokenizer.json", encoding: .utf8)
      .replacingOccurrences(of: "\"type\": \"WordPiece\",\n  \"unk_token\"", with: "\"type\": \"BPE\",\n  \"unk_token\"")
    try Data(json.utf8).write(to: model.appendingPathComponent("tokenizer.json"))
    let bpe = try Self.run(["tokenize", "--model", model.path, "--input", empty])
    #expect(bpe.status != 0)
    #expect(bpe.error.contains("tokenizer model 'BPE' is not supported"))

    let zero = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", empty, "--max-length", "0"])
    #expect(zero.status != 0)
    #expect(zero.error.contains("--max-length must be ≥ 1"))
    let short = try Self.run(["tokenize", "--model", Self.tinyFolder, "--input", jsonl, "--max-length", "2"])
    #expect(short.status != 0)
    #expect(short.error.contains("must exceed the 2 special tokens"))
  }

  @Test func benchReportsThroughputAsJSON() throws {
    let input = try Self.file(Array(String(repeating: "Hello, World! unaffable runs 東京\n", count: 50).utf8))
    let run = try Self.run(["bench", "tokenize", "--model", Self.tinyFolder, "--input", input, "--threads", "1,2",
                            "--repeats", "1", "--json"])
    #expect(run.status == 0, "\(run.error)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
    #expect(report["texts"] as? Int == 50)
    #expect(report["tokens"] as? Int == 50 * 13)
    let rows = try #require(report["rows"] as? [[String: Any]])
    #expect(rows.map { $0["threads"] as? Int } == [1, 2])
    #expect(rows.allSatisfy { ($0["textsPerSecond"] as? Double ?? 0) > 0 })
  }
}
