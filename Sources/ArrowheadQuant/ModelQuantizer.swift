import Arrowhead
import ArrowheadIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What to do with a tensor that holds NaN or ±∞.
public enum NonFinitePolicy: String, Sendable, Codable, CaseIterable {
  /// Fail with `.nonFiniteWeight` naming the tensor and the first index (the default: such
  /// weights usually mean a corrupted checkpoint).
  case reject
  /// Keep the tensor in floating point, unquantized, and say so in the report.
  case keepFloat
}

/// Time-aware activation quantization input: calibration statistics and settings.
public struct TimeAwareInput: Sendable {
  /// The calibration statistics.
  public var calibration: CalibrationSet
  /// The settings.
  public var configuration: TimeAwareConfiguration
  /// Creates an input.
  public init(calibration: CalibrationSet, configuration: TimeAwareConfiguration) {
    self.calibration = calibration
    self.configuration = configuration
  }
}

/// Options of a whole-model quantization.
public struct ModelQuantizationOptions: Sendable {
  /// The scheme for quantized tensors (the bit width is the starting point of fall-back and
  /// is replaced per tensor by the budget allocation when a budget is given).
  public var scheme: QuantizationScheme
  /// The parameter optimizer (min-max by default).
  public var optimizer: any ParameterOptimizer
  /// Which tensors are quantized, kept in floating point, or passed through.
  public var selection: TensorSelection
  /// Average stored bits per weight over the quantized tensors (parameters included), or nil.
  public var budget: Double?
  /// The widths the budget allocation may choose from (default 2, 4, 8).
  public var budgetWidths: [Int]
  /// The cosine fall-back (nil disables it).
  public var fallback: FallbackPolicy?
  /// NaN/±∞ handling.
  public var nonFinite: NonFinitePolicy
  /// Time-aware activation parameters to compute and store, or nil.
  public var timeAware: TimeAwareInput?

  /// Creates options. Defaults: min-max, default keep patterns, no budget, standard
  /// fall-back thresholds, reject non-finite weights, no time-aware activations.
  public init(
    scheme: QuantizationScheme, optimizer: any ParameterOptimizer = MinMaxOptimizer(), selection: TensorSelection = TensorSelection(),
    budget: Double? = nil, budgetWidths: [Int] = [2, 4, 8], fallback: FallbackPolicy? = .standard,
    nonFinite: NonFinitePolicy = .reject, timeAware: TimeAwareInput? = nil
  ) {
    self.scheme = scheme
    self.optimizer = optimizer
    self.selection = selection
    self.budget = budget
    self.budgetWidths = budgetWidths
    self.fallback = fallback
    self.nonFinite = nonFinite
    self.timeAware = timeAware
  }
}

/// One tensor's line in the quantization report.
public struct TensorReport: Sendable, Codable {
  /// What happened to the tensor.
  public enum Action: String, Sendable, Codable {
    /// Quantized.
    case quantized
    /// Kept in floating point.
    case kept
    /// Copied untouched (not a float tensor).
    case passedThrough
  }

  /// The tensor's name.
  public var name: String
  /// Its shape.
  public var shape: [Int]
  /// Its source dtype.
  public var dtype: String
  /// What happened.
  public var action: Action
  /// Why it was kept or passed through, or how its width was chosen.
  public var reason: String?
  /// The scheme used (quantized tensors).
  public var scheme: String?
  /// The bit width used.
  public var bits: Int?
  /// Widths tried and rejected by the cosine fall-back, in order.
  public var rejectedBits: [Int]
  /// Error and size metrics (quantized tensors).
  public var metrics: QuantizationMetrics?
  /// The optimizer's name.
  public var optimizer: String?
  /// Seconds inside the optimizer (summed over threads).
  public var optimizerSeconds: Double
  /// Wall-clock seconds spent on the tensor (all attempts).
  public var seconds: Double
  /// Source bytes.
  public var originalBytes: Int
  /// Bytes stored in the output.
  public var storedBytes: Int
}

/// A layer's time-aware activation summary.
public struct ActivationReport: Sendable, Codable {
  /// The layer.
  public var layer: String
  /// Time groups.
  public var groups: Int
  /// Timesteps.
  public var timesteps: Int
  /// Smoothness score of the group parameters.
  public var smoothness: Double
  /// Smoothness score of the smoothed per-timestep table, if any.
  public var timestepSmoothness: Double?
  /// Boundaries over threshold, per severity.
  public var violations: [String: Int]
}

/// Whole-model totals.
public struct ModelSummary: Sendable, Codable {
  /// Tensors in the input.
  public var tensorCount: Int
  /// Tensors quantized / kept in float / passed through.
  public var quantizedCount: Int, keptCount: Int, passedThroughCount: Int
  /// Weights in quantized tensors.
  public var quantizedWeights: Int
  /// √(Σ nₖ·eₖ² / Σ nₖ) over the quantized tensors (see `ModelErrorSummary`).
  public var sizeWeightedRelativeError: Double
  /// All quantized weights taken as one vector: mean squared error, SQNR (dB, nil when
  /// exact), relative error ‖W − Ŵ‖/‖W‖ and cosine similarity.
  public var meanSquaredError: Double, signalToNoiseDecibels: Double?, relativeError: Double, cosineSimilarity: Double
  /// Average stored bits per weight of the quantized tensors (parameters included).
  public var quantizedBitsPerWeight: Double
  /// Bytes of tensor data in the input.
  public var inputBytes: Int
  /// Size of the output file.
  public var outputBytes: Int
  /// inputBytes / outputBytes.
  public var compressionRatio: Double
  /// The budget asked for, if any.
  public var budget: Double?
  /// Wall-clock seconds of the whole run.
  public var seconds: Double
}

/// The report of `ModelQuantizer.quantize`.
public struct ModelQuantizationReport: Sendable, Codable {
  /// Input path.
  public var input: String
  /// Output path.
  public var output: String
  /// The scheme asked for.
  public var scheme: String
  /// The optimizer and its settings.
  public var optimizer: String
  /// The optimizer's settings.
  public var optimizerSettings: [String: String]
  /// The threads used.
  public var threads: Int
  /// One entry per input tensor, in file order.
  public var tensors: [TensorReport]
  /// One entry per calibrated layer.
  public var activations: [ActivationReport]
  /// Totals.
  public var summary: ModelSummary
}

/// Progress of a model quantization, for progress bars.
public struct QuantizationProgress: Sendable {
  /// Units done so far.
  public var completed: Int
  /// Units in all.
  public var total: Int
  /// The tensor just processed.
  public var tensor: String
}

/// Quantizes a safetensors model (single file or sharded) into an Arrowhead quantized
/// safetensors file, tensor by tensor.
///
/// Memory: input tensors are memory-mapped and their pages released after use; each
/// quantized tensor is written to the output's spill file at once; tensors kept as they
/// are are copied from the mapping when the file is assembled. Peak memory is therefore
/// about the largest tensor (plus its Float32 copy when it is F16/BF16), not the model.
///
/// Steps: decide each tensor (`TensorSelection`); with a budget, measure every candidate
/// width of every tensor and allocate widths (`BitAllocation`); quantize each tensor,
/// stepping up the fall-back ladder while its cosine is under the threshold; compute
/// time-aware activation parameters; write atomically; report per tensor and per model.
public struct ModelQuantizer: Sendable {
  /// The options.
  public var options: ModelQuantizationOptions
  /// The engine (threads and backends).
  public var engine: Engine

  /// Creates a quantizer.
  public init(options: ModelQuantizationOptions, engine: Engine = .default) {
    self.options = options
    self.engine = engine
  }

  /// Quantizes `input` into `output` and returns the report. `progress` is called on the
  /// calling thread after each unit of work.
  public func quantize(
    input: String, output: String, progress: ((QuantizationProgress) -> Void)? = nil
  ) throws(QuantizationError) -> ModelQuantizationReport {
    let started = MonotonicClock.now()
    let model: SafetensorsModel
    do {
      model = try SafetensorsModel(path: input)
    } catch {
      throw .file(error)
    }
    let decisions = model.entries.map { options.selection.decision(name: $0.name, dtype: $0.info.dtype, shape: $0.info.shape) }
    let activations = try timeAwareActivations(model)
    let candidates = model.entries.indices.filter { decisions[$0] == .quantize }
    for width in options.budgetWidths where options.budget != nil && !QuantizationScheme.supportedBits.contains(width) {
      throw .unsupportedBits(width, supported: QuantizationScheme.supportedBits)
    }
    let measureUnits = options.budget == nil ? 0 : candidates.count * options.budgetWidths.count
    var done = 0
    let total = measureUnits + model.entries.count
    func advance(_ name: String) {
      done += 1
      progress?(QuantizationProgress(completed: done, total: total, tensor: name))
    }

    // Budget: measure every width of every candidate, then allocate.
    var allocated: [Int: Int] = [:]
    var unquantizable: [Int: String] = [:]
    if let budget = options.budget {
      var allocationCandidates: [BitAllocation.Candidate] = []
      var allocationIndices: [Int] = []
      for index in candidates {
        let entry = model.entries[index]
        var allowed: [BitAllocation.Option] = []
        var skip: String?
        for width in options.budgetWidths.sorted() {
          let scheme = try options.scheme.with(bits: width)
          switch try measure(entry, scheme: scheme) {
          case .success(let result):
            if options.fallback?.accepts(cosine: result.statistics.cosineSimilarity, bits: width) ?? true {
              let e = result.statistics.relativeError
              allowed.append(BitAllocation.Option(bits: width, storedBytes: result.tensor.storedByteCount, weightedSquaredError: Double(result.statistics.count) * e * e))
            }
          case .failure(let failure):
            skip = failure.reason
          }
          advance(entry.name)
          if skip != nil { break }
        }
        entry.file.evictPages(of: entry.info)
        if let skip {
          unquantizable[index] = skip
        } else if allowed.isEmpty {
          unquantizable[index] = "cosine below the fall-back threshold at every budget width"
        } else {
          allocationCandidates.append(BitAllocation.Candidate(name: entry.name, count: entry.info.elementCount, options: allowed))
          allocationIndices.append(index)
        }
      }
      let widths = try BitAllocation.allocate(allocationCandidates, budget: budget)
      for (position, index) in allocationIndices.enumerated() { allocated[index] = widths[position] }
    }

    // The output pass.
    let writer = try QuantizedModelWriter(path: output, metadata: model.metadata)
    var reports: [TensorReport] = []
    var errorSummary = ModelErrorSummary()
    var aggregate = ErrorStatistics()
    for (index, entry) in model.entries.enumerated() {
      let info = entry.info
      var report = TensorReport(
        name: entry.name, shape: info.shape, dtype: info.dtype.rawValue, action: .kept, reason: nil, scheme: nil, bits: nil,
        rejectedBits: [], metrics: nil, optimizer: nil, optimizerSeconds: 0, seconds: 0, originalBytes: info.byteCount,
        storedBytes: info.byteCount)
      let tensorStarted = MonotonicClock.now()
      switch decisions[index] {
      case .passThrough(let reason):
        report.action = .passedThrough
        report.reason = reason
        try writer.addCopy(of: info, from: entry.file)
      case .keepFloat(let reason):
        report.reason = reason
        try writer.addCopy(of: info, from: entry.file)
      case .quantize:
        if let reason = unquantizable[index] {
          report.reason = reason
          try writer.addCopy(of: info, from: entry.file)
          break
        }
        var bits: Int? = allocated[index] ?? options.scheme.bits
        if options.budget != nil { report.reason = "budget allocation" }
        var stored = false
        while let width = bits {
          let scheme = try options.scheme.with(bits: width)
          let result: QuantizationResult
          switch try measure(entry, scheme: scheme) {
          case .failure(let failure):
            report.reason = failure.reason
            bits = nil
            continue
          case .success(let measured):
            result = measured
          }
          report.optimizerSeconds += result.optimizerSeconds
          let cosine = result.statistics.cosineSimilarity
          if let fallback = options.fallback, !fallback.accepts(cosine: cosine, bits: width) {
            report.rejectedBits.append(width)
            bits = FallbackPolicy.nextBits(after: width)
            if bits == nil {
              report.reason = "cosine \(String(format2: cosine)) below every fall-back threshold"
            }
            continue
          }
          try writer.add(entry.name, result.tensor, sourceDType: info.dtype, optimizer: options.optimizer.name)
          let metrics = QuantizationMetrics(
            result.statistics, bitsPerWeight: result.tensor.bitsPerWeight, originalBitsPerWeight: Double(8 * info.dtype.size))
          report.action = .quantized
          report.scheme = scheme.description
          report.bits = width
          report.metrics = metrics
          report.optimizer = options.optimizer.name
          report.storedBytes = result.tensor.storedByteCount
          if !report.rejectedBits.isEmpty { report.reason = "fall-back from int\(report.rejectedBits[0])" }
          errorSummary.add(
            count: result.statistics.count, relativeError: result.statistics.relativeError,
            storedBytes: result.tensor.storedByteCount, originalBytes: info.byteCount)
          aggregate.merge(result.statistics)
          stored = true
          break
        }
        entry.file.evictPages(of: info)
        if !stored { try writer.addCopy(of: info, from: entry.file) }
      }
      report.seconds = MonotonicClock.now() - tensorStarted
      reports.append(report)
      advance(entry.name)
    }
    var activationReports: [ActivationReport] = []
    if let timeAware = options.timeAware {
      for layer in activations {
        try writer.add(layer, smoothing: timeAware.configuration.smoothing, estimator: timeAware.configuration.estimator)
        var violations: [String: Int] = [:]
        for jump in layer.groupSmoothness.violations { violations[jump.severity?.rawValue ?? "none", default: 0] += 1 }
        activationReports.append(ActivationReport(
          layer: layer.layer, groups: layer.grouping.groups, timesteps: layer.grouping.timesteps,
          smoothness: layer.groupSmoothness.score, timestepSmoothness: layer.timestepSmoothness?.score, violations: violations))
      }
    }
    try writer.finish()
    let outputBytes = Self.fileSize(output)
    let summary = ModelSummary(
      tensorCount: reports.count, quantizedCount: reports.filter { $0.action == .quantized }.count,
      keptCount: reports.filter { $0.action == .kept }.count, passedThroughCount: reports.filter { $0.action == .passedThrough }.count,
      quantizedWeights: errorSummary.weightCount, sizeWeightedRelativeError: errorSummary.sizeWeightedRelativeError,
      meanSquaredError: aggregate.meanSquaredError, signalToNoiseDecibels: aggregate.signalToNoiseDecibels,
      relativeError: aggregate.relativeError, cosineSimilarity: aggregate.cosineSimilarity,
      quantizedBitsPerWeight: errorSummary.bitsPerWeight, inputBytes: model.dataByteCount, outputBytes: outputBytes,
      compressionRatio: outputBytes > 0 ? Double(model.dataByteCount) / Double(outputBytes) : 0, budget: options.budget,
      seconds: MonotonicClock.now() - started)
    return ModelQuantizationReport(
      input: input, output: output, scheme: options.scheme.description, optimizer: options.optimizer.name,
      optimizerSettings: options.optimizer.settings, threads: engine.effectiveThreads, tensors: reports,
      activations: activationReports, summary: summary)
  }

  /// Quantizes and measures one tensor, or says why it must stay in floating point
  /// (non-finite weights under `.keepFloat`). Throws under `.reject`.
  func measure(_ entry: SafetensorsModel.Entry, scheme: QuantizationScheme) throws(QuantizationError) -> Result<QuantizationResult, NonFiniteSkip> {
    let quantizer = Quantizer(scheme: scheme, optimizer: options.optimizer, engine: engine)
    do {
      let result = try entry.file.withFloats(entry.info) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) in
        try quantizer.quantizeAndMeasure(values, shape: entry.info.shape, name: entry.name)
      }
      return .success(result)
    } catch {
      switch error {
      case .file(let failure):
        throw .file(failure)
      case .body(let failure):
        if case .nonFiniteWeight(_, let index, let value) = failure, options.nonFinite == .keepFloat {
          return .failure(NonFiniteSkip(reason: "holds \(value) at flat index \(index); kept unquantized"))
        }
        throw failure
      }
    }
  }

  /// Why a tensor was left unquantized because of non-finite weights.
  struct NonFiniteSkip: Error {
    var reason: String
  }

  /// Computes each calibrated layer's parameters; every layer must name a tensor
  /// (`layer` or `layer.weight`) of the model.
  func timeAwareActivations(_ model: SafetensorsModel) throws(QuantizationError) -> [TimeAwareActivationParameters] {
    guard let timeAware = options.timeAware else { return [] }
    for layer in timeAware.calibration.layers where model.entry(layer) == nil && model.entry(layer + ".weight") == nil {
      throw .invalidTimeGrouping(reason: "calibration layer '\(layer)' names no tensor ('\(layer)' or '\(layer).weight') of \(model.path)")
    }
    return try TimeAwareCalibrator.parameters(for: timeAware.calibration, configuration: timeAware.configuration)
  }

  static func fileSize(_ path: String) -> Int {
    var status = stat()
    return stat(path, &status) == 0 ? Int(status.st_size) : 0
  }
}
