import ArgumentParser
import Arrowhead
import ArrowheadTokenizer
import Foundation

/// `arrowhead bench tokenize`: texts per second of the WordPiece tokenizer on a text file,
/// at one or more thread counts (the peer script compares it with HF `tokenizers`).
struct BenchTokenize: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Tokenizer throughput (texts/s) on a text file, per thread count.",
    discussion: """
      Times `Tokenizer.encode(texts, threads:)` on the whole file (read once, before timing), \
      with the model's truncation and no padding, as HF `tokenizers`' encode_batch is timed \
      by Benchmarks/peers/tokenize_compare.py. Every repeat runs each thread count once in \
      turn; best and median are reported.
      """)

  @Option(name: .long, help: "Model folder (tokenizer.json or vocab.txt).")
  var model: String

  @Option(name: .long, help: "Text file, one text per line (or JSON Lines).")
  var input: String

  @Option(name: .customLong("threads"), help: "Comma-separated thread counts.")
  var threadList: String = "1"

  @Option(help: "Timed repeats per thread count.")
  var repeats: Int = 5

  @Option(help: "Use only the first N texts.")
  var limit: Int?

  @Option(name: .long, help: "Maximum tokens per text (default: the model's).")
  var maxLength: Int?

  @Option(help: "Clock: 'wall' (default) or 'thread' (CPU time of this thread; for --threads 1 on a busy machine).")
  var clock: String = "wall"

  @OptionGroup var output: OutputOptions

  func validate() throws {
    if repeats < 1 { throw ValidationError("--repeats must be ≥ 1") }
    if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1") }
    if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be ≥ 1") }
    let counts = try parseSizes(threadList, name: "threads")
    guard let parsed = BenchClock(rawValue: clock) else { throw ValidationError("--clock must be wall or thread") }
    if parsed == .thread && counts != [1] {
      throw ValidationError("--clock thread measures one thread only: use it with --threads 1")
    }
  }

  struct Row: Codable {
    var threads: Int
    var bestSeconds: Double
    var medianSeconds: Double
    var textsPerSecond: Double
    var medianTextsPerSecond: Double
    var tokensPerSecond: Double
  }

  struct Report: Codable {
    var texts: Int
    var tokens: Int
    var maximumLength: Int?
    var truncated: Int
    var repeats: Int
    var clock: String
    var rows: [Row]
  }

  func run() throws {
    var tokenizer: Tokenizer
    var texts: [String]
    do {
      tokenizer = try Tokenizer(modelDirectory: model, maximumLength: maxLength)
      try tokenizer.setPadding(nil)
      texts = try TextInput.read(path: input).texts
    } catch {
      throw CommandFailure("\(error)")
    }
    if let limit { texts = Array(texts.prefix(limit)) }
    let threadCounts = try parseSizes(threadList, name: "threads")
    let check = tokenizer.encode(texts, threads: 1)
    let tokens = check.encodings.reduce(0) { $0 + $1.count }
    let timer = BenchClock(rawValue: clock) ?? .wall
    var samples = [[Double]](repeating: [], count: threadCounts.count)
    for _ in 0..<repeats {
      for (index, threads) in threadCounts.enumerated() {
        let start = timer.now()
        let batch = tokenizer.encode(texts, threads: threads)
        samples[index].append(timer.now() - start)
        if batch.encodings.count != texts.count { throw CommandFailure("internal error: batch size changed") }
      }
    }
    let rows = zip(threadCounts, samples).map { threads, times in
      let summary = TimingSummary(samples: times)
      return Row(threads: threads, bestSeconds: summary.best, medianSeconds: summary.median,
                 textsPerSecond: Double(texts.count) / summary.best, medianTextsPerSecond: Double(texts.count) / summary.median,
                 tokensPerSecond: Double(tokens) / summary.best)
    }
    let report = Report(texts: texts.count, tokens: tokens, maximumLength: tokenizer.maximumLength,
                        truncated: check.truncatedCount, repeats: repeats, clock: timer.rawValue, rows: rows)
    if output.format == .json {
      print(try jsonString(report))
      return
    }
    var table = TextTable(["threads", "best s", "median s", "texts/s", "median texts/s", "tokens/s"])
    for row in rows {
      table.append(["\(row.threads)", formatted(row.bestSeconds, decimals: 4), formatted(row.medianSeconds, decimals: 4),
                    formatted(row.textsPerSecond, decimals: 0), formatted(row.medianTextsPerSecond, decimals: 0),
                    formatted(row.tokensPerSecond, decimals: 0)])
    }
    print("\(texts.count) texts, \(tokens) tokens, \(check.truncatedCount) truncated to \(tokenizer.maximumLength.map(String.init) ?? "-"); best/median of \(repeats)")
    print(output.format == .csv ? table.renderCSV() : table.render(), terminator: "")
  }
}
