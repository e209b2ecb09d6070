import ArgumentParser
import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadTokenizer
import Foundation

/// `--weights`: how the encoder holds its matrices (auto, f32, int8, int4).
extension WeightFormat: ExpressibleByArgument {}

/// `--activations`: the activation arithmetic of quantized layers (weight-only, int8, int16).
extension QuantizedMatmulMode: ExpressibleByArgument {}

/// `--parallelism`: how the encoder spreads its threads.
extension EncoderParallelism: ExpressibleByArgument {}

/// `--int8-matrices`: matrices kept at INT8 under `--weights int4`.
extension EncoderMatrix: ExpressibleByArgument {}

/// The options `embed` and `index build --text` share: the model and how to run it.
struct EncoderOptions: ParsableArguments {
  @Option(name: .long, help: "sentence-transformers model folder (modules.json, config.json, model.safetensors, tokenizer.json or vocab.txt).")
  var model: String?

  @Option(
    name: .long,
    help: "Weights of the linear layers: auto (as the weights file holds them: Float32, or an Arrowhead quantized file), f32 (a quantized file dequantized), int8 (g64, min-max) or int4 (g64, grid optimizer), quantized on load.")
  var weights: WeightFormat = .automatic

  @Option(
    name: .long,
    help: "Activations of quantized layers: int8 (quantized per row and group on the fly; the default), int16 (two int8 digits per value: about weight-only's error, int8 arithmetic) or weight-only (Float32). Needs quantized weights (--weights int8|int4, or a quantized model).")
  var activations: QuantizedMatmulMode?

  @Option(
    name: .long,
    help: "With --weights int8|int4: a text file (one text per line, or JSON Lines) whose texts calibrate the quantization: GPTQ per layer on the model's own hidden states (use texts like the ones embedded, not the ones evaluated on; see --calibration-texts).")
  var calibration: String?

  @Option(
    name: .long,
    help: "Use at most this many texts of --calibration (evenly spaced through the file). For all-MiniLM-L6-v2 at INT4 g64, 512 reach a mean cosine of 0.990 to Float32, 128 0.989.")
  var calibrationTexts: Int = 512

  @Option(
    name: .long, parsing: .upToNextOption,
    help: "With --weights int4: matrices of every layer kept at INT8 (query, key, value, attention-output, intermediate, output), a mixed-precision option; e.g. --int8-matrices value.")
  var int8Matrices: [EncoderMatrix] = []

  @Option(name: .long, help: "Texts per forward pass.")
  var batch: Int = 32

  @Option(name: .long, help: "At most this many tokens per batch (default: no limit; the layers run in passes of at most 256 tokens anyway).")
  var maxBatchTokens: Int?

  @Option(name: .long, help: "How threads share the work: batches (whole batches per thread) or products (each product split).")
  var parallelism: EncoderParallelism = .acrossBatches

  func validate() throws {
    if batch < 1 { throw ValidationError("--batch must be ≥ 1") }
    if let maxBatchTokens, maxBatchTokens < 1 { throw ValidationError("--max-batch-tokens must be ≥ 1") }
    if !int8Matrices.isEmpty && weights != .int4 { throw ValidationError("--int8-matrices needs --weights int4") }
    if calibrationTexts < 1 { throw ValidationError("--calibration-texts must be ≥ 1") }
    if calibration != nil && weights != .int8 && weights != .int4 {
      throw ValidationError("--calibration needs --weights int8 or int4 (it calibrates their quantization on load)")
    }
  }

  /// Loads the encoder (a clean failure naming the file or field on error).
  func load(engine: Engine) throws -> SentenceEncoder {
    guard let model else { throw CommandFailure("--model is required") }
    var calibrationSample: [String]?
    if let calibration {
      let texts = try readTexts(calibration, format: nil, strict: false).texts.filter { !$0.isEmpty }
      guard !texts.isEmpty else { throw CommandFailure("'\(calibration)': no non-empty text to calibrate with") }
      let count = Swift.min(calibrationTexts, texts.count)
      calibrationSample = (0..<count).map { texts[$0 * texts.count / count] }
    }
    do {
      return try SentenceEncoder(folder: model, engine: engine, weights: weights, activations: activations, calibration: calibrationSample, int8Matrices: Set(int8Matrices))
    } catch {
      throw CommandFailure("\(error)")
    }
  }

  /// The encoding options these flags ask for.
  func encodingOptions(threads: Int) -> EncodingOptions {
    EncodingOptions(batchSize: batch, threads: threads, parallelism: parallelism, maximumBatchTokens: maxBatchTokens)
  }

  /// Embeds `texts` with a progress bar labelled `label` on stderr.
  func encode(_ texts: [String], with encoder: SentenceEncoder, threads: Int, label: String, quiet: Bool) throws -> SentenceEncoding {
    let bar = ProgressBar(total: texts.count, label: label, enabled: !quiet)
    do {
      let result = try encoder.encodeReporting(texts, options: encodingOptions(threads: threads), progress: { bar.advance(by: $0) })
      bar.finish()
      return result
    } catch {
      throw CommandFailure("\(error)")
    }
  }

  /// Embeds `texts` with a progress bar, each batch's rows written to `file` as soon as
  /// they are done (neither all the tokens nor all the embeddings are held; the texts are
  /// released once tokenized when the caller hands them over with `consume`).
  func encode(
    _ texts: consuming [String], with encoder: SentenceEncoder, threads: Int, label: String, quiet: Bool, into file: NPYFile.RowWriter
  ) throws(CommandFailure) -> EncodingSummary {
    let bar = ProgressBar(total: texts.count, label: label, enabled: !quiet)
    do {
      let summary = try encoder.encode(consume texts, options: encodingOptions(threads: threads), progress: { bar.advance(by: $0) }) {
        (rows, embeddings) throws(VectorFileError) in
        let width = embeddings.columns
        for (index, row) in rows.enumerated() {
          try file.write(embeddings.elements[index * width..<(index + 1) * width], rows: row..<row + 1)
        }
      }
      bar.finish()
      return summary
    } catch {
      switch error {
      case .encoder(let failure): throw CommandFailure("\(failure)")
      case .consumer(let failure): throw CommandFailure("\(failure)")
      }
    }
  }
}

/// Reads a text file for `embed` / `index build --text`, reporting empty and repaired
/// lines on stderr (or failing on them with `strict`).
func readTexts(_ path: String, format: String?, strict: Bool) throws -> TextInput {
  let input: TextInput
  do {
    input = try TextInput.read(path: path, format: format.flatMap(TextInput.Format.init(rawValue:)))
  } catch {
    throw CommandFailure("\(error)")
  }
  func lines(_ numbers: [Int]) -> String {
    numbers.prefix(10).map(String.init).joined(separator: ", ") + (numbers.count > 10 ? ", …" : "")
  }
  if let first = input.invalidUTF8Lines.first {
    if strict { throw CommandFailure("'\(path)' line \(first): invalid UTF-8 (without --strict it is replaced by U+FFFD)") }
    StandardError.write("arrowhead: '\(path)': invalid UTF-8 replaced by U+FFFD on \(input.invalidUTF8Lines.count) line(s): \(lines(input.invalidUTF8Lines))\n")
  }
  if let first = input.emptyLines.first {
    if strict { throw CommandFailure("'\(path)' line \(first): empty line (without --strict it is embedded as an empty text)") }
    StandardError.write("arrowhead: '\(path)': \(input.emptyLines.count) empty line(s): \(lines(input.emptyLines))\n")
  }
  return input
}

/// Peak resident memory of this process so far, in bytes.
func peakResidentBytes() -> Int {
  var usage = rusage()
  #if os(Linux)
  getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
  return Int(usage.ru_maxrss) * 1024
  #else
  getrusage(RUSAGE_SELF, &usage)
  return Int(usage.ru_maxrss)
  #endif
}

/// `arrowhead embed`: sentence embeddings of a text file, written as .npy.
struct Embed: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Embed texts with a sentence-transformers model (BERT family) into an .npy matrix.",
    discussion: """
      Input: one text per line, or JSON Lines with a "text" field (--format; default from the \
      file name). Row i of the output is the i-th text: empty lines are embedded as empty \
      texts and invalid UTF-8 is replaced by U+FFFD, both reported on stderr with their line \
      numbers (--strict makes them errors). Texts longer than the model's max_seq_length are \
      truncated, as sentence-transformers does, and counted in the report.

      Example:
        arrowhead embed --model all-MiniLM-L6-v2 --input texts.txt -o embeddings.npy
      """)

  @OptionGroup var encoderOptions: EncoderOptions

  @Option(name: .long, help: "Text file ('-': standard input).")
  var input: String

  @Option(name: .long, help: "Input layout: lines or jsonl (default: from the file name).")
  var format: String?

  @Option(name: .shortAndLong, help: "Output .npy file (float32, texts × dimension), written atomically.")
  var output: String

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Flag(name: .long, help: "Fail on empty lines and invalid UTF-8 instead of reporting them.")
  var strict = false

  @Flag(name: .long, help: "No progress bar.")
  var quiet = false

  @OptionGroup var outputOptions: OutputOptions

  func validate() throws {
    if encoderOptions.model == nil { throw ValidationError("--model is required") }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    if let format, TextInput.Format(rawValue: format) == nil {
      throw ValidationError("--format must be lines or jsonl, not '\(format)'")
    }
    try requireDistinctOutput(output, from: [input])
  }

  struct Report: Codable {
    var texts: Int
    var dimension: Int
    var tokens: Int
    var truncatedTexts: Int
    var truncatedLines: [Int]
    var emptyLines: [Int]
    var invalidUTF8Lines: [Int]
    var loadSeconds: Double
    var seconds: Double
    var textsPerSecond: Double
    var tokensPerSecond: Double
    var threads: Int
    var parallelism: String
    var batch: Int
    var weights: String
    var activations: String?
    var calibrated: Bool
    var int8Matrices: [String]
    var peakMemoryBytes: Int
    var output: String
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    var texts = try readTexts(input, format: format, strict: strict)
    let textCount = texts.texts.count
    // The strings go to the encoder, which releases them once they are tokenized.
    var strings = texts.texts
    texts.texts = []
    let loadWatch = Stopwatch()
    let encoder = try encoderOptions.load(engine: engine)
    let loadSeconds = loadWatch.seconds
    // The rows go to OUT.npy's temporary file batch by batch; it replaces OUT.npy once
    // every row is there (an interrupted run leaves a previous OUT.npy as it was).
    let watch = Stopwatch()
    var result = EncodingSummary(truncatedTexts: [], tokenCount: 0)
    var seconds = 0.0
    do {
      try NPYFile.writeFloat32(rows: textCount, columns: encoder.dimension, to: output) { (file) throws(CommandFailure) in
        let handed = strings
        strings = []
        result = try encoderOptions.encode(
          consume handed, with: encoder, threads: engine.effectiveThreads, label: "embed", quiet: quiet || outputOptions.format == .json,
          into: file)
        seconds = watch.seconds
      }
    } catch {
      switch error {
      case .file(let failure): throw CommandFailure("\(failure)")
      case .body(let failure): throw failure
      }
    }
    let truncatedLines = result.truncatedTexts.map { texts.lineNumbers[$0] }
    if !truncatedLines.isEmpty {
      StandardError.write(
        "arrowhead embed: \(truncatedLines.count) text(s) longer than \(encoder.maximumSequenceLength) tokens were truncated (lines "
          + truncatedLines.prefix(10).map(String.init).joined(separator: ", ") + (truncatedLines.count > 10 ? ", …" : "") + ")\n")
    }
    let report = Report(
      texts: textCount, dimension: encoder.dimension, tokens: result.tokenCount, truncatedTexts: truncatedLines.count,
      truncatedLines: truncatedLines, emptyLines: texts.emptyLines, invalidUTF8Lines: texts.invalidUTF8Lines,
      loadSeconds: loadSeconds, seconds: seconds, textsPerSecond: Double(textCount) / max(seconds, 1e-9),
      tokensPerSecond: Double(result.tokenCount) / max(seconds, 1e-9), threads: engine.effectiveThreads,
      parallelism: encoderOptions.parallelism.rawValue, batch: encoderOptions.batch, weights: encoderOptions.weights.rawValue,
      activations: encoder.activations?.rawValue, calibrated: encoder.isCalibrated,
      int8Matrices: encoder.int8Matrices.map(\.rawValue).sorted(), peakMemoryBytes: peakResidentBytes(), output: output)
    switch outputOptions.format {
    case .json:
      print(try jsonString(report))
    case .table, .csv:
      var table = TextTable(["property", "value"])
      table.append(["texts", "\(report.texts) (\(report.tokens) tokens, \(report.truncatedTexts) truncated)"])
      table.append(["embeddings", "\(report.texts) × \(report.dimension) float32 → \(output)"])
      let form = report.activations.map { "\(report.weights) weights, \($0) activations" } ?? report.weights
      table.append(["model", "\(encoderOptions.model ?? "") (\(form), loaded in \(formatted(loadSeconds, decimals: 2)) s)"])
      table.append([
        "time", formatted(seconds, decimals: 2) + " s: " + formatted(report.textsPerSecond) + " texts/s, "
          + formatted(report.tokensPerSecond, decimals: 0) + " tokens/s (\(report.threads) thread(s), \(report.parallelism), batch \(report.batch))",
      ])
      table.append(["peak memory", formattedBytes(report.peakMemoryBytes)])
      print(outputOptions.format == .csv ? table.renderCSV() : table.render(), terminator: "")
    }
  }
}
