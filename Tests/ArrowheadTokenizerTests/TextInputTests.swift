import ArrowheadTokenizer
import Testing

/// Reading texts: plain lines and JSON Lines, invalid UTF-8, empty lines, errors with
/// line numbers.
@Suite("text input files")
struct TextInputTests {
  @Test func plainLines() throws {
    let bytes: [UInt8] = Array("first\r\n\nthird\nbad ".utf8) + [0xFF, 0xC3] + Array(" end".utf8)
    let input = try TextInput.parse(bytes, path: "t.txt", format: .lines)
    #expect(input.texts == ["first", "", "third", "bad \u{FFFD}\u{FFFD} end"])
    #expect(input.lineNumbers == [1, 2, 3, 4])
    #expect(input.emptyLines == [2])
    #expect(input.invalidUTF8Lines == [4])
    // The final LF does not start another text; a lone LF is one empty text.
    #expect(try TextInput.parse(Array("a\nb\n".utf8), path: "t", format: .lines).texts == ["a", "b"])
    #expect(try TextInput.parse([0x0A], path: "t", format: .lines).texts == [""])
    #expect(throws: TokenizerError.emptyInput(path: "t")) { try TextInput.parse([], path: "t", format: .lines) }
  }

  @Test func jsonLines() throws {
    let text = "{\"text\": \"héllo\", \"id\": 1}\n\n  \n{\"text\": \"tab\\tand \\u00e9\"}\n"
    let input = try TextInput.parse(Array(text.utf8), path: "t.jsonl", format: .jsonLines)
    #expect(input.texts == ["héllo", "tab\tand é"])
    #expect(input.lineNumbers == [1, 4])
    #expect(input.emptyLines == [2, 3])
    let invalid: [UInt8] = Array("{\"text\": \"a".utf8) + [0xFF] + Array("b\"}".utf8)
    let repaired = try TextInput.parse(invalid, path: "t.jsonl", format: .jsonLines)
    #expect(repaired.texts == ["a\u{FFFD}b"])
    #expect(repaired.invalidUTF8Lines == [1])
    #expect(throws: TokenizerError.invalidInput(path: "t.jsonl", line: 2, reason: "the object has no \"text\" field")) {
      try TextInput.parse(Array("{\"text\": \"a\"}\n{\"body\": \"b\"}".utf8), path: "t.jsonl", format: .jsonLines)
    }
    #expect(throws: TokenizerError.invalidInput(path: "t.jsonl", line: 1, reason: "\"text\" must be a string, not integer")) {
      try TextInput.parse(Array("{\"text\": 5}".utf8), path: "t.jsonl", format: .jsonLines)
    }
    #expect(throws: TokenizerError.invalidInput(path: "t.jsonl", line: 1, reason: "expected a JSON object with a \"text\" string, found array")) {
      try TextInput.parse(Array("[1]".utf8), path: "t.jsonl", format: .jsonLines)
    }
    #expect(throws: TokenizerError.self) { try TextInput.parse(Array("{\"text\": \"a\"".utf8), path: "t.jsonl", format: .jsonLines) }
    #expect(TextInput.Format.guess(path: "x.JSONL") == .jsonLines)
    #expect(TextInput.Format.guess(path: "x.txt") == .lines)
  }

  @Test func missingFile() {
    #expect(throws: TokenizerError.unreadableFile(path: "/nonexistent.txt", reason: "cannot open: No such file or directory")) {
      try TextInput.read(path: "/nonexistent.txt")
    }
  }
}
