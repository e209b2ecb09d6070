import ArrowheadIO

/// Texts read from a file: one text per line, or JSON Lines with a "text" field.
///
/// Reading rules (the same for `arrowhead tokenize` and `arrowhead embed`):
/// - Lines end at LF; a CR right before the LF is dropped (CRLF files). A final line
///   without LF counts; the LF that ends the file does not start another text.
/// - Plain lines: every line is a text, empty ones included (they encode as the special
///   tokens alone), so output line i belongs to input line i; `emptyLines` lists them.
/// - JSON Lines: each non-blank line must be an object whose "text" is a string (other
///   fields are ignored); blank lines are skipped and listed in `emptyLines`; anything
///   else is `.invalidInput` naming the line.
/// - Invalid UTF-8 is replaced by U+FFFD (one per maximal invalid subsequence, as Swift
///   and Python's `errors="replace"` do) and the line is listed in `invalidUTF8Lines`.
///   The BERT normaliser then removes U+FFFD like any control character.
/// - A file with no text at all is `.emptyInput`.
public struct TextInput: Sendable, Equatable {
  /// How the file is laid out.
  public enum Format: String, Sendable, CaseIterable {
    /// One text per line.
    case lines
    /// One JSON object per line, with a "text" string.
    case jsonLines = "jsonl"

    /// `.jsonLines` for names ending in .jsonl, .ndjson or .json, else `.lines`.
    public static func guess(path: String) -> Format {
      let lower = path.lowercased()
      return lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") ? .jsonLines : .lines
    }
  }

  /// The texts, in file order.
  public var texts: [String]
  /// The 1-based line number of each text.
  public var lineNumbers: [Int]
  /// Lines whose bytes were not valid UTF-8 (1-based).
  public var invalidUTF8Lines: [Int]
  /// Empty lines (plain: kept as empty texts; JSON Lines: skipped), 1-based.
  public var emptyLines: [Int]

  /// Reads `path` ("-": standard input) in `format` (default: guessed from the name).
  public static func read(path: String, format: Format? = nil) throws(TokenizerError) -> TextInput {
    let bytes = try FileReading.bytes(of: path)
    return try parse(bytes, path: path, format: format ?? Format.guess(path: path))
  }

  /// Parses the bytes of a text file (`path` is only used in errors).
  public static func parse(_ bytes: [UInt8], path: String, format: Format) throws(TokenizerError) -> TextInput {
    var input = TextInput(texts: [], lineNumbers: [], invalidUTF8Lines: [], emptyLines: [])
    var lineStart = 0
    var lineNumber = 0
    while lineStart < bytes.count {
      var lineEnd = lineStart
      while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
      lineNumber += 1
      var contentEnd = lineEnd
      if contentEnd > lineStart && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
      let slice = bytes[lineStart..<contentEnd]
      var text: String
      if let valid = String(validating: slice, as: UTF8.self) {
        text = valid
      } else {
        text = String(decoding: slice, as: UTF8.self)
        input.invalidUTF8Lines.append(lineNumber)
      }
      switch format {
      case .lines:
        if text.isEmpty { input.emptyLines.append(lineNumber) }
      case .jsonLines:
        if text.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
          input.emptyLines.append(lineNumber)
          lineStart = lineEnd + 1
          continue
        }
        let value: JSONValue
        do {
          value = try JSONValue.parse(Array(text.utf8))
        } catch {
          throw .invalidInput(path: path, line: lineNumber, reason: "not valid JSON (\(error.description))")
        }
        guard case .object = value else {
          throw .invalidInput(path: path, line: lineNumber, reason: "expected a JSON object with a \"text\" string, found \(value.typeName)")
        }
        guard let field = value["text"], let string = field.string else {
          throw .invalidInput(path: path, line: lineNumber, reason: value["text"] == nil
            ? "the object has no \"text\" field" : "\"text\" must be a string, not \(value["text"]?.typeName ?? "")")
        }
        text = string
      }
      input.texts.append(text)
      input.lineNumbers.append(lineNumber)
      lineStart = lineEnd + 1
    }
    guard !input.texts.isEmpty else { throw .emptyInput(path: path) }
    return input
  }
}
