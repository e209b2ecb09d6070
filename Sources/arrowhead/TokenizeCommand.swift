import ArgumentParser
import Arrowhead
import ArrowheadTokenizer
import Foundation

/// `arrowhead tokenize`: token ids (and offsets) of each text of a file, as HF `tokenizers`
/// gives them for the model's tokenizer.
struct Tokenize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Tokenize texts with a model's WordPiece tokenizer (tokenizer.json or vocab.txt).",
    discussion: """
      Input: one text per line, or JSON Lines with a "text" field (--format, default from the \
      file name: .jsonl/.ndjson/.json are JSON Lines); '-' reads standard input. Empty lines \
      are empty texts (plain) or skipped (JSON Lines); invalid UTF-8 is replaced by U+FFFD and \
      the line numbers are reported on stderr.

      Output, one line per text: the ids separated by spaces (with --offsets, a tab and \
      start:end per token, in Unicode scalars of the text), or with --json one JSON object \
      per text: {"line": n, "ids": [...], "offsets": [[s, e], ...], "truncated": k}. \
      Texts longer than the model's maximum (see --max-length) are truncated; a summary on \
      stderr says how many.
      """
  )

  @Option(name: .long, help: "Model folder (tokenizer.json, or vocab.txt; sentence_bert_config.json, tokenizer_config.json, config.json for the maximum length).")
  var model: String

  @Option(name: .long, help: "Text file ('-': standard input).")
  var input: String

  @Option(name: .long, help: "Input layout: lines or jsonl (default: from the file name).")
  var format: String?

  @Flag(name: .long, help: "Print one JSON object per text.")
  var json = false

  @Flag(name: .long, help: "Also print each token's character offsets.")
  var offsets = false

  @Option(name: .long, help: "Maximum tokens per text, special tokens included (default: the model's).")
  var maxLength: Int?

  @Flag(name: .long, help: "Do not add the template's special tokens ([CLS] … [SEP]).")
  var noSpecialTokens = false

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  func validate() throws {
    if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be ≥ 1") }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    if let format, TextInput.Format(rawValue: format) == nil {
      throw ValidationError("--format must be lines or jsonl, not '\(format)'")
    }
  }

  func run() throws {
    let started = Date()
    let threadCount = try tokenizerThreads(threads)
    var tokenizer: Tokenizer
    let texts: TextInput
    do {
      tokenizer = try Tokenizer(modelDirectory: model, maximumLength: maxLength)
      try tokenizer.setPadding(nil)  // one line per text, unpadded
      texts = try TextInput.read(path: input, format: format.flatMap(TextInput.Format.init(rawValue:)))
    } catch {
      throw CommandFailure("\(error)")
    }
    let addSpecial = !noSpecialTokens
    var writer = OutputBuffer()
    var tokenCount = 0
    var longest = 0
    var truncatedLines: [Int] = []
    let chunk = 4096
    var start = 0
    while start < texts.texts.count {
      let end = min(texts.texts.count, start + chunk)
      let batch = tokenizer.encode(Array(texts.texts[start..<end]), addSpecialTokens: addSpecial, threads: threadCount)
      for (offset, encoding) in batch.encodings.enumerated() {
        let line = texts.lineNumbers[start + offset]
        tokenCount += encoding.count
        longest = max(longest, encoding.count)
        if encoding.wasTruncated { truncatedLines.append(line) }
        if json {
          writer.append("{\"line\":"); writer.append(line); writer.append(",\"ids\":[")
          for (i, id) in encoding.ids.enumerated() {
            if i > 0 { writer.append(",") }
            writer.append(Int(id))
          }
          writer.append("]")
          if offsets {
            writer.append(",\"offsets\":[")
            for (i, span) in encoding.offsets.enumerated() {
              writer.append(i > 0 ? ",[" : "[")
              writer.append(Int(span.start)); writer.append(","); writer.append(Int(span.end)); writer.append("]")
            }
            writer.append("]")
          }
          writer.append(",\"truncated\":"); writer.append(encoding.truncatedTokens); writer.append("}\n")
        } else {
          for (i, id) in encoding.ids.enumerated() {
            if i > 0 { writer.append(" ") }
            writer.append(Int(id))
          }
          if offsets {
            writer.append("\t")
            for (i, span) in encoding.offsets.enumerated() {
              if i > 0 { writer.append(" ") }
              writer.append(Int(span.start)); writer.append(":"); writer.append(Int(span.end))
            }
          }
          writer.append("\n")
        }
        writer.flushIfLarge()
      }
      start = end
    }
    writer.flush()

    let seconds = Date().timeIntervalSince(started)
    var summary = "arrowhead tokenize: \(texts.texts.count) texts, \(tokenCount) tokens (longest \(longest))"
    if let maximum = tokenizer.maximumLength {
      summary += ", \(truncatedLines.count) truncated to \(maximum) tokens" + Tokenize.lineList(truncatedLines)
    }
    if !texts.invalidUTF8Lines.isEmpty {
      summary += "; invalid UTF-8 replaced by U+FFFD on \(texts.invalidUTF8Lines.count) line(s)" + Tokenize.lineList(texts.invalidUTF8Lines)
    }
    if !texts.emptyLines.isEmpty {
      summary += "; \(texts.emptyLines.count) empty line(s)" + Tokenize.lineList(texts.emptyLines)
    }
    summary += "; \(formatted(seconds, decimals: 2)) s, \(threadCount) thread(s)\n"
    StandardError.write(summary)
  }

  /// " (lines 3, 7, … 12 more)" for the first few line numbers.
  static func lineList(_ lines: [Int]) -> String {
    guard !lines.isEmpty else { return "" }
    let shown = lines.prefix(8).map(String.init).joined(separator: ", ")
    return " (line\(lines.count == 1 ? "" : "s") \(shown)\(lines.count > 8 ? ", … \(lines.count - 8) more" : ""))"
  }
}

/// `--threads`, else ARROWHEAD_THREADS or all cores. No `Engine` is built: tokenizing runs
/// no kernel, and an engine would measure its dispatch on first use.
func tokenizerThreads(_ requested: Int?) throws -> Int {
  if let requested { return requested }
  do {
    return try ThreadPolicy.threads()
  } catch {
    throw CommandFailure("\(error)")
  }
}

/// Bytes for standard output, written in large blocks.
struct OutputBuffer {
  private var bytes: [UInt8] = []

  mutating func append(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  mutating func append(_ value: Int) {
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    var magnitude = value.magnitude
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buffer in
      repeat {
        buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
        magnitude /= 10
        count += 1
      } while magnitude > 0
      for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
    }
  }

  mutating func flushIfLarge() {
    if bytes.count >= 1 << 20 { flush() }
  }

  mutating func flush() {
    guard !bytes.isEmpty else { return }
    FileHandle.standardOutput.write(Data(bytes))
    bytes.removeAll(keepingCapacity: true)
  }
}
