import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadQuant
import Foundation

/// `arrowhead quantize`: quantize a safetensors model (the default subcommand `model`), or
/// measure in-memory quantize+pack throughput (`throughput`).
struct Quantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Quantize a safetensors model to INT8/INT4/INT3/INT2 (or measure quantizer throughput).",
    discussion: """
      arrowhead quantize IN -o OUT --bits 4 --group 64 [--symmetric | --zero-point]
        [--budget 4.5] [--keep PATTERN …] [--time-groups G --calibration FILE]
        [--optimizer minmax|signed-max|grid|hqq|thermo|clip|gptq
          [--optimizer-option KEY=VALUE …] [--gptq-inputs TENSOR]]
      IN is a .safetensors file, a sharded model's model.safetensors.index.json, or a \
      directory holding either. See Sources/ArrowheadQuant/README.md for the file format.
      """,
    subcommands: [QuantizeModel.self, QuantizeThroughput.self],
    defaultSubcommand: QuantizeModel.self
  )
}

/// Options shared by commands that choose a quantization scheme.
struct SchemeOptions: ParsableArguments {
  @Option(name: .long, help: "Bits per weight code: 2, 3, 4 or 8.")
  var bits = 4

  @Option(name: .long, help: "Weights per group along the input dimension (8…8192, default 64; the last group of a row may be shorter).")
  var group: Int?

  @Flag(name: .customLong("per-channel"), help: "One scale per output channel (row) instead of groups.")
  var perChannel = false

  @Flag(name: .customLong("per-tensor"), help: "One scale for the whole tensor.")
  var perTensor = false

  @Flag(name: .long, help: "Symmetric codes: x̂ = (q − 2^(b−1))·s, no offset stored.")
  var symmetric = false

  @Flag(name: .customLong("zero-point"), help: "Asymmetric with an integer zero-point (GPTQ/AWQ layout) instead of a float minimum.")
  var zeroPoint = false

  func validate() throws {
    if perChannel && perTensor { throw ValidationError("--per-channel and --per-tensor are exclusive") }
    if symmetric && zeroPoint { throw ValidationError("--symmetric and --zero-point are exclusive") }
    try requireApplicable(group != nil && (perChannel || perTensor), "--group", needs: "groups", fix: "remove it, or --per-channel / --per-tensor")
    _ = try scheme()
  }

  func scheme() throws -> QuantizationScheme {
    let granularity: QuantizationGranularity = perTensor ? .perTensor : (perChannel ? .perChannel : .perGroup(group ?? 64))
    let mode: QuantizationMode = symmetric ? .symmetric : (zeroPoint ? .zeroPoint : .floatMinimum)
    do {
      return try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
    } catch {
      throw ValidationError(error.description)
    }
  }
}

/// `arrowhead quantize model IN -o OUT …` (the default subcommand).
struct QuantizeModel: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "model",
    abstract: "Quantize a safetensors model into an Arrowhead quantized safetensors file (default subcommand)."
  )

  @Argument(help: "Input model: .safetensors file, model.safetensors.index.json, or a directory.")
  var input: String

  @Option(name: [.short, .long], help: "Output file (written atomically).")
  var output: String

  @OptionGroup var schemeOptions: SchemeOptions

  @Option(name: .long, help: "Average stored bits per weight over quantized tensors (parameters included); widths chosen per tensor by sensitivity.")
  var budget: Double?

  @Option(name: .customLong("budget-bits"), parsing: .upToNextOption, help: "Widths the budget may choose from (default 2 4 8; needs --budget).")
  var budgetBits: [Int] = []

  @Option(name: .long, parsing: .upToNextOption, help: "Glob patterns of tensors kept in floating point (case-insensitive; * and ?). Adds to the defaults.")
  var keep: [String] = []

  @Flag(name: .customLong("no-default-keep"), help: "Do not keep *embed*, *norm*, *lm_head* in floating point by default.")
  var noDefaultKeep = false

  @Flag(name: .customLong("no-fallback"), help: "Disable the INT2 → INT4 → INT8 → float fall-back on low cosine similarity.")
  var noFallback = false

  @Option(name: .customLong("fallback-threshold"), help: "Minimum cosine for a width, as BITS=COSINE (repeatable; defaults 2=0.70 3=0.80 4=0.90 8=0.95).")
  var fallbackThresholds: [String] = []

  @Flag(name: .customLong("allow-non-finite"), help: "Keep tensors holding NaN/±∞ in floating point instead of failing.")
  var allowNonFinite = false

  @Option(name: .customLong("time-groups"), help: "Time groups G for time-aware activation parameters (needs --calibration).")
  var timeGroups: Int?

  @Option(name: .long, help: "Calibration statistics (JSON Lines: layer, timestep, samples or min/max/percentiles).")
  var calibration: String?

  @Option(name: .long, help: "Timesteps T (default: the largest calibrated timestep + 1; at most 1048576; needs --calibration).")
  var timesteps: Int?

  @Option(name: .customLong("activation-bits"), help: "Activation code width (default 8; needs --calibration).")
  var activationBits: Int?

  @Option(name: .customLong("activation-range"), help: "minmax (default) or percentile:P with 50 < P ≤ 100, e.g. percentile:99.9 (needs --calibration).")
  var activationRange: String?

  @Option(name: .long, help: "Boundary smoothing of activation parameters: none (default), linear, cubic or sigmoid (needs --calibration).")
  var smoothing: String?

  @Option(name: .customLong("smoothing-window"), help: "Timesteps blended on each side of a time-group boundary (default 2; needs --smoothing).")
  var smoothingWindow: Int?

  @Flag(name: .customLong("no-activation-guard"), help: """
    Store an activation optimizer's (or a percentile range's) group parameters even where they lose to min-max on \
    held-out calibration rows (default: such groups keep min-max).
    """)
  var noActivationGuard = false

  @OptionGroup var optimizerOptions: OptimizerOptions

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Flag(name: .long, help: "No progress bar.")
  var quiet = false

  @OptionGroup var outputOptions: OutputOptions

  func validate() throws {
    if (timeGroups == nil) != (calibration == nil) {
      throw ValidationError("--time-groups and --calibration go together")
    }
    if OptimizerOptions.activationNames.contains(optimizerOptions.optimizer) && timeGroups == nil {
      throw ValidationError("--optimizer \(optimizerOptions.optimizer) optimizes the time-aware activation parameters: it needs --time-groups and --calibration")
    }
    if optimizerOptions.usesSignedMaximum && !schemeOptions.symmetric {
      throw ValidationError("signed-max chooses symmetric scales (ggml Q4_0's rule): it goes with --symmetric")
    }
    if noActivationGuard && timeGroups == nil {
      throw ValidationError("--no-activation-guard goes with --time-groups and --calibration")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    if let budget, !(budget > 0) { throw ValidationError("--budget must be a positive number of bits per weight") }
    // Options that would have no effect are refused rather than silently ignored.
    try requireApplicable(budget == nil && !budgetBits.isEmpty, "--budget-bits", needs: "--budget")
    try requireApplicable(noFallback && !fallbackThresholds.isEmpty, "--fallback-threshold", needs: "the fall-back", fix: "remove it or --no-fallback")
    for (given, option) in [
      (timesteps != nil, "--timesteps"), (activationBits != nil, "--activation-bits"), (activationRange != nil, "--activation-range"),
      (smoothing != nil, "--smoothing"),
    ] {
      try requireApplicable(given && calibration == nil, option, needs: "--calibration and --time-groups")
    }
    try requireApplicable(smoothingWindow != nil && (smoothing ?? "none") == "none", "--smoothing-window", needs: "--smoothing linear, cubic or sigmoid")
    for width in budgetBits where !QuantizationScheme.supportedBits.contains(width) {
      throw ValidationError("--budget-bits: \(width) is not a supported width (\(QuantizationScheme.supportedBits.map(String.init).joined(separator: ", ")))")
    }
    if let timesteps { try require(timesteps, in: 1...TimeGrouping.maximumTimesteps, "--timesteps") }
    if let timeGroups { try require(timeGroups, in: 1...TimeGrouping.maximumTimesteps, "--time-groups") }
    if let activationBits, !QuantizationScheme.supportedBits.contains(activationBits) {
      throw ValidationError("--activation-bits must be one of \(QuantizationScheme.supportedBits.map(String.init).joined(separator: ", ")), got \(activationBits)")
    }
    if let smoothingWindow, smoothingWindow < 1 { throw ValidationError("--smoothing-window must be ≥ 1") }
    _ = try fallbackPolicy()
    _ = try rangeEstimator()
    if !["none", "linear", "cubic", "sigmoid"].contains(smoothing ?? "none") {
      throw ValidationError("--smoothing must be none, linear, cubic or sigmoid")
    }
    try requireDistinctOutput(output, from: [input, calibration])
  }

  func fallbackPolicy() throws -> FallbackPolicy? {
    if noFallback { return nil }
    var thresholds = FallbackPolicy.standard.minimumCosine
    for item in fallbackThresholds {
      let parts = item.split(separator: "=")
      guard parts.count == 2, let bits = Int(parts[0]), let cosine = Double(parts[1]) else {
        throw ValidationError("--fallback-threshold expects BITS=COSINE, e.g. 4=0.9; got '\(item)'")
      }
      // A width the quantizer does not make would be silently unused.
      guard thresholds[bits] != nil else {
        throw ValidationError(
          "--fallback-threshold \(item): \(bits) bits is not a quantized width; give one of \(thresholds.keys.sorted().map(String.init).joined(separator: ", "))")
      }
      thresholds[bits] = cosine
    }
    do {
      return try FallbackPolicy(minimumCosine: thresholds)
    } catch {
      throw ValidationError(error.description)
    }
  }

  func rangeEstimator() throws -> ActivationRangeEstimator {
    let range = activationRange ?? "minmax"
    if range == "minmax" { return .minMax }
    if range.hasPrefix("percentile:"), let p = Double(range.dropFirst("percentile:".count)) {
      guard p > 50 && p <= 100 else { throw ValidationError("--activation-range percentile:P needs 50 < P ≤ 100, got \(p)") }
      return .percentile(p)
    }
    throw ValidationError("--activation-range must be minmax or percentile:P, got '\(range)'")
  }

  func timeAwareInput() throws -> TimeAwareInput? {
    guard let groups = timeGroups, let calibration else { return nil }
    do {
      let set = try CalibrationSet.load(path: calibration)
      guard let last = set.maximumTimestep else {
        throw ValidationError("\(calibration) holds no calibration records")
      }
      let grouping = try TimeGrouping(timesteps: timesteps ?? last + 1, groups: groups)
      let curve = SmoothingCurve(rawValue: smoothing ?? "none")
      let configuration = try TimeAwareConfiguration(
        grouping: grouping, bits: activationBits ?? 8, estimator: try rangeEstimator(),
        smoothing: try curve.map { (curve) throws(QuantizationError) in try BoundarySmoothing(curve: curve, window: smoothingWindow ?? 2) })
      return TimeAwareInput(calibration: set, configuration: configuration)
    } catch let error as QuantizationError {
      throw CommandFailure(error.description)
    }
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let selection = TensorSelection(keepPatterns: (noDefaultKeep ? [] : TensorSelection.defaultKeepPatterns) + keep)
    var options = ModelQuantizationOptions(
      scheme: try schemeOptions.scheme(), selection: selection, budget: budget, budgetWidths: budgetBits.isEmpty ? [2, 4, 8] : budgetBits,
      fallback: try fallbackPolicy(), nonFinite: allowNonFinite ? .keepFloat : .reject, timeAware: try timeAwareInput())
    options.activationGuard = !noActivationGuard
    try optimizerOptions.configure(&options, input: input, engine: engine)
    var bar: ProgressBar?
    let report: ModelQuantizationReport
    do {
      report = try ModelQuantizer(options: options, engine: engine).quantize(input: input, output: output) { progress in
        guard !quiet else { return }
        if bar == nil { bar = ProgressBar(total: progress.total, label: "quantize") }
        bar?.advance(note: progress.tensor)
      }
    } catch {
      bar?.finish("failed")
      throw CommandFailure(error.description)
    }
    bar?.finish("wrote \(output)")
    print(try QuantizeReportFormatter.render(report, engine: engine, format: outputOptions.format), terminator: "")
  }
}

/// `arrowhead dequantize IN -o OUT [--dtype f32|f16|bf16]`.
struct Dequantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a plain F32/F16/BF16 safetensors model from an Arrowhead quantized file."
  )

  @Argument(help: "An Arrowhead quantized safetensors file.")
  var input: String

  @Option(name: [.short, .long], help: "Output file (written atomically).")
  var output: String

  @Option(name: .long, help: "Output dtype of dequantized and float tensors: f32, f16 or bf16.")
  var dtype = "f32"

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Flag(name: .long, help: "No progress bar.")
  var quiet = false

  @Flag(name: .long, help: "Print the report as JSON.")
  var json = false

  @Flag(name: .customLong("allow-non-finite"), help: "Write NaN/±∞ (or values that overflow --dtype, e.g. |x| ≥ 65520 in f16) instead of failing.")
  var allowNonFinite = false

  func validate() throws {
    guard SafetensorsDType(rawValue: dtype.uppercased()).map({ [.f32, .f16, .bf16].contains($0) }) == true else {
      throw ValidationError("--dtype must be f32, f16 or bf16")
    }
    try requireDistinctOutput(output, from: [input])
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let target = SafetensorsDType(rawValue: dtype.uppercased()) ?? .f32
    var bar: ProgressBar?
    let report: ModelDequantizer.Report
    do {
      report = try ModelDequantizer.dequantize(
        input: input, output: output, dtype: target, allowNonFinite: allowNonFinite, engine: engine
      ) { progress in
        guard !quiet else { return }
        if bar == nil { bar = ProgressBar(total: progress.total, label: "dequantize") }
        bar?.advance(note: progress.tensor)
      }
    } catch {
      bar?.finish("failed")
      throw CommandFailure(error.description)
    }
    bar?.finish("wrote \(output)")
    if json {
      print(try jsonString(report))
    } else {
      print("dequantized \(report.dequantized) tensors to \(target.rawValue), copied \(report.copied), dropped \(report.droppedActivations) activation sets")
      print("wrote \(output) (\(formattedBytes(report.outputBytes))) in \(formatted(report.seconds, decimals: 2)) s")
    }
  }
}

/// `arrowhead inspect FILE [--original FILE]`.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List a safetensors file's tensors, dtypes, quantization schemes and sizes (and errors against an original)."
  )

  @Argument(help: "A safetensors file (plain or Arrowhead quantized), index file or directory.")
  var file: String

  @Option(name: .long, help: "The original model, to measure each quantized tensor's error.")
  var original: String?

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @OptionGroup var outputOptions: OutputOptions

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let report: InspectionReport
    do {
      report = try ModelInspector.inspect(file, original: original, engine: engine)
    } catch {
      throw CommandFailure(error.description)
    }
    if let original, report.quantizedWeights == 0 {
      // Nothing quantized to compare: a silent success would read as "no error".
      throw CommandFailure(
        "--original '\(original)': '\(file)' holds no quantized tensor to compare with it (it is a \(report.format == "safetensors" ? "plain safetensors file" : "quantized file without quantized tensors")); inspect it without --original")
    }
    print(try QuantizeReportFormatter.render(report, format: outputOptions.format), terminator: "")
  }
}
