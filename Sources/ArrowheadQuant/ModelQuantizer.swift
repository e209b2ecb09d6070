import ArrowheadCore
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

/// A quantizer of whole matrices that may replace the per-group path for some tensors —
/// GPTQ (ArrowheadOptimize's `GPTQModelQuantizer`), which needs calibration inputs of the
/// tensor's input width and so applies to some tensors only.
public protocol MatrixQuantizer: Sendable {
  /// A short name for reports ("gptq").
  var name: String { get }
  /// Settings for reports.
  var settings: [String: String] { get }
  /// Quantizes `values` of `shape` under `scheme`, or returns nil when this quantizer does
  /// not apply to the tensor (the pipeline then uses its group optimizer and says why).
  func quantize(
    _ values: UnsafeBufferPointer<Float>, shape: [Int], name: String, scheme: QuantizationScheme, engine: Engine
  ) throws(QuantizationError) -> MatrixQuantization?
  /// Why the quantizer does not apply to a tensor of `shape` (for the report), or nil.
  func inapplicability(shape: [Int]) -> String?
}

/// What a `MatrixQuantizer` returns for one tensor.
public struct MatrixQuantization: Sendable {
  /// The tensor, its error statistics, times.
  public var result: QuantizationResult
  /// ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ on the quantizer's calibration inputs, if it knows it.
  public var outputRelativeError: Double?
  /// A remark for the report (e.g. the damping used).
  public var note: String?

  /// Creates a result.
  public init(result: QuantizationResult, outputRelativeError: Double?, note: String?) {
    self.result = result
    self.outputRelativeError = outputRelativeError
    self.note = note
  }
}

/// Chooses a layer's per-time-group activation parameters in place of min-max (the
/// thermodynamic optimizer and the clipping search of ArrowheadOptimize).
public protocol ActivationParameterOptimizer: Sendable {
  /// A short name for reports ("thermo", "clip").
  var name: String { get }
  /// Settings for reports.
  var settings: [String: String] { get }
  /// New group parameters for `layer` (its estimator's parameters, grouping, bits and mode
  /// are in `parameters`), fitted on the fitting rows of `data` (the held-out rows are for
  /// the pipeline's check, `ActivationGuard`), minimising `data`'s output error.
  func optimize(
    _ parameters: TimeAwareActivationParameters, data: ActivationCalibrationData, configuration: TimeAwareConfiguration
  ) throws(QuantizationError) -> ActivationOptimization
}

/// What an `ActivationParameterOptimizer` returns for one layer.
public struct ActivationOptimization: Sendable {
  /// One storable parameter pair per time group.
  public var groupParameters: [AffineParameters]
  /// The optimizer's loss at the min-max start and at the result.
  public var initialLoss: Double, finalLoss: Double
  /// Iterations done, and whether the loss converged before the limit.
  public var iterations: Int, converged: Bool

  /// Creates a result.
  public init(groupParameters: [AffineParameters], initialLoss: Double, finalLoss: Double, iterations: Int, converged: Bool) {
    self.groupParameters = groupParameters
    self.initialLoss = initialLoss
    self.finalLoss = finalLoss
    self.iterations = iterations
    self.converged = converged
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
  /// A whole-matrix quantizer (GPTQ) tried before the group optimizer, or nil.
  public var matrixQuantizer: (any MatrixQuantizer)?
  /// Chooses the time-aware activation group parameters instead of min-max, or nil.
  public var activationOptimizer: (any ActivationParameterOptimizer)?
  /// Whether parameters other than min-max (an activation optimizer's, or a percentile
  /// range's) are checked per time group on held-out calibration rows and replaced by
  /// min-max where they lose (`ActivationGuard`; default true). Needs raw samples: a layer
  /// calibrated with summaries only is not checked (its report says so).
  public var activationGuard = true

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
  /// ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ on calibration inputs (matrix quantizers such as GPTQ), if known.
  public var outputRelativeError: Double? = nil
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
  /// The activation optimizer, if one replaced min-max ("thermo").
  public var optimizer: String? = nil
  /// Its loss at the min-max start and at the result.
  public var initialLoss: Double? = nil, finalLoss: Double? = nil
  /// Its iterations and whether it converged.
  public var iterations: Int? = nil, converged: Bool? = nil
  /// The smoothness score of the min-max group parameters it started from.
  public var minMaxSmoothness: Double? = nil
  /// What the parameters were fitted and checked on: "output" (input error weighed by the
  /// layer's weights, `ActivationCalibrationData`) or "input"; nil when nothing was fitted.
  public var objective: String? = nil
  /// Time groups that kept min-max because the candidate lost on held-out rows (nil: not checked).
  public var fallbackGroups: [Int]? = nil
  /// Held-out output error of the stored parameters over that of min-max (≤ 1; nil: not checked).
  public var heldOutRatio: Double? = nil
  /// What the check held out: "inputs" (whole images, the calibration naming each row's
  /// `sources`), "rows", or "mixed" across the time groups (nil: not checked).
  public var heldOutSplit: String? = nil
  /// Seconds spent choosing and checking the parameters (optimizer and check).
  public var seconds: Double? = nil
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
  /// calling thread after each unit of work. Throws `.outputIsInput` before any work when
  /// `output` names the input or one of its shards, and `.invalidOption` before any work
  /// for a budget that is not a positive number or comes with no budget widths (which used
  /// to keep every tensor in floating point, blaming the cosine fall-back).
  public func quantize(
    input: String, output: String, progress: ((QuantizationProgress) -> Void)? = nil
  ) throws(QuantizationError) -> ModelQuantizationReport {
    let started = MonotonicClock.now()
    // The destination as it is now: another writer replacing it while this (long) job
    // runs makes the final write fail instead of being silently overwritten.
    let baseline = AtomicFile.baseline(of: output)
    let model: SafetensorsModel
    do {
      model = try SafetensorsModel(path: input)
    } catch {
      throw .file(error)
    }
    do {
      try OutputOverwritesInputError.check(output: output, inputs: [input] + model.files.map(\.path))
    } catch {
      throw .outputIsInput(error)
    }
    let decisions = model.entries.map { options.selection.decision(name: $0.name, dtype: $0.info.dtype, shape: $0.info.shape) }
    let activations = try timeAwareActivations(model)
    let candidates = model.entries.indices.filter { decisions[$0] == .quantize }
    if let budget = options.budget {
      // Checked before any tensor is measured (the allocation checks the budget too, but only
      // after measuring every width of every tensor).
      guard budget > 0, budget.isFinite else {
        throw .invalidOption(name: "--budget", value: "\(budget)", expected: "a positive number of bits per weight")
      }
      guard !options.budgetWidths.isEmpty else {
        throw .invalidOption(
          name: "budget widths", value: "[]", expected: "at least one of \(QuantizationScheme.supportedBits.map(String.init).joined(separator: ", "))")
      }
    }
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
          case .success(let measured):
            let result = measured.result
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
    let writer = try QuantizedModelWriter(path: output, metadata: model.metadata, engine: engine, baseline: baseline)
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
          let measured: Measured
          switch try measure(entry, scheme: scheme) {
          case .failure(let failure):
            report.reason = failure.reason
            bits = nil
            continue
          case .success(let success):
            measured = success
            result = success.result
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
          try writer.add(entry.name, result.tensor, sourceDType: info.dtype, optimizer: measured.optimizer)
          let metrics = QuantizationMetrics(
            result.statistics, bitsPerWeight: result.tensor.bitsPerWeight, originalBitsPerWeight: Double(8 * info.dtype.size))
          report.action = .quantized
          report.scheme = scheme.description
          report.bits = width
          report.metrics = metrics
          report.optimizer = measured.optimizer
          report.outputRelativeError = measured.outputRelativeError
          report.storedBytes = result.tensor.storedByteCount
          if let note = measured.note { report.reason = report.reason.map { "\($0); \(note)" } ?? note }
          if !report.rejectedBits.isEmpty { report.reason = "fall-back from int\(report.rejectedBits[0])" + (measured.note.map { "; \($0)" } ?? "") }
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
      for chosen in activations {
        let layer = chosen.parameters
        try writer.add(
          layer, smoothing: timeAware.configuration.smoothing, estimator: timeAware.configuration.estimator,
          optimizer: chosen.optimization == nil ? nil : options.activationOptimizer?.name, objective: chosen.objective,
          validation: chosen.validation)
        var violations: [String: Int] = [:]
        for jump in layer.groupSmoothness.violations { violations[jump.severity?.rawValue ?? "none", default: 0] += 1 }
        var activationReport = ActivationReport(
          layer: layer.layer, groups: layer.grouping.groups, timesteps: layer.grouping.timesteps,
          smoothness: layer.groupSmoothness.score, timestepSmoothness: layer.timestepSmoothness?.score, violations: violations)
        if let optimization = chosen.optimization, let optimizer = options.activationOptimizer {
          activationReport.optimizer = optimizer.name
          activationReport.initialLoss = optimization.initialLoss
          activationReport.finalLoss = optimization.finalLoss
          activationReport.iterations = optimization.iterations
          activationReport.converged = optimization.converged
        }
        if chosen.optimization != nil || chosen.validation != nil { activationReport.minMaxSmoothness = chosen.minMaxSmoothness }
        activationReport.objective = chosen.objective
        activationReport.fallbackGroups = chosen.validation?.fallbackGroups
        activationReport.heldOutRatio = chosen.validation?.heldOutRatio
        activationReport.heldOutSplit = chosen.validation?.heldOutSplit
        activationReport.seconds = chosen.seconds
        activationReports.append(activationReport)
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
      input: input, output: output, scheme: options.scheme.description, optimizer: optimizerName, optimizerSettings: optimizerSettings,
      threads: engine.effectiveThreads, tensors: reports,
      activations: activationReports, summary: summary)
  }

  /// Quantizes and measures one tensor, or says why it must stay in floating point
  /// (non-finite weights under `.keepFloat`). Throws under `.reject`.
  func measure(_ entry: SafetensorsModel.Entry, scheme: QuantizationScheme) throws(QuantizationError) -> Result<Measured, NonFiniteSkip> {
    let quantizer = Quantizer(scheme: scheme, optimizer: options.optimizer, engine: engine)
    let matrixQuantizer = options.matrixQuantizer
    do {
      let result = try entry.file.withFloats(entry.info) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) -> Measured in
        if let matrixQuantizer {
          if let done = try matrixQuantizer.quantize(values, shape: entry.info.shape, name: entry.name, scheme: scheme, engine: engine) {
            return Measured(result: done.result, optimizer: matrixQuantizer.name, outputRelativeError: done.outputRelativeError, note: done.note)
          }
          let why = matrixQuantizer.inapplicability(shape: entry.info.shape) ?? "not applicable"
          let result = try quantizer.quantizeAndMeasure(values, shape: entry.info.shape, name: entry.name)
          return Measured(result: result, optimizer: options.optimizer.name, outputRelativeError: nil, note: "\(matrixQuantizer.name): \(why); \(options.optimizer.name) parameters")
        }
        return Measured(
          result: try quantizer.quantizeAndMeasure(values, shape: entry.info.shape, name: entry.name), optimizer: options.optimizer.name,
          outputRelativeError: nil, note: nil)
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

  /// The report's optimizer: the matrix quantizer, else the activation optimizer, else the
  /// group optimizer.
  var optimizerName: String {
    options.matrixQuantizer?.name ?? options.activationOptimizer?.name ?? options.optimizer.name
  }

  /// The report's optimizer settings; with a matrix quantizer or an activation optimizer,
  /// the group optimizer appears as `weights` (and its settings as `weights.KEY`).
  var optimizerSettings: [String: String] {
    guard let settings = options.matrixQuantizer?.settings ?? options.activationOptimizer?.settings else { return options.optimizer.settings }
    var result = settings
    result["weights"] = options.optimizer.name
    for (key, value) in options.optimizer.settings { result["weights.\(key)"] = value }
    return result
  }

  /// One tensor quantized by the group optimizer or the matrix quantizer.
  struct Measured {
    var result: QuantizationResult
    var optimizer: String
    var outputRelativeError: Double?
    var note: String?
  }

  /// Why a tensor was left unquantized because of non-finite weights.
  struct NonFiniteSkip: Error {
    var reason: String
  }

  /// One calibrated layer's stored activation parameters and how they were chosen.
  struct LayerActivations {
    var parameters: TimeAwareActivationParameters
    var optimization: ActivationOptimization?
    var minMaxSmoothness: Double
    var objective: String?
    var validation: ActivationValidation?
    var seconds: Double?
  }

  /// Computes each calibrated layer's parameters; every layer must name a tensor
  /// (its `weight` key, else `layer` or `layer.weight`) of the model.
  /// With an activation optimizer, each layer's group parameters are replaced by its choice,
  /// fitted on the fitting rows with the output-error objective (channel importances from
  /// the layer's weight when the calibration has a channel layout); with the guard
  /// (`activationGuard`), that choice — or a percentile range, fitted on the same rows — is
  /// checked per group on the held-out rows against min-max, which it replaces only where
  /// it is not worse. Everything is re-validated; the min-max smoothness is kept for the report.
  func timeAwareActivations(_ model: SafetensorsModel) throws(QuantizationError) -> [LayerActivations] {
    guard let timeAware = options.timeAware else { return [] }
    let calibration = timeAware.calibration
    for layer in calibration.layers where weightEntry(of: layer, in: model, calibration: calibration) == nil {
      if let named = calibration.weightNames[layer] {
        throw .invalidTimeGrouping(reason: "calibration layer '\(layer)' names weight '\(named)', which is no tensor of \(model.path)")
      }
      throw .invalidTimeGrouping(reason: "calibration layer '\(layer)' names no tensor ('\(layer)' or '\(layer).weight') of \(model.path)")
    }
    let configuration = timeAware.configuration
    var minMaxConfiguration = configuration
    minMaxConfiguration.estimator = .minMax
    var result: [LayerActivations] = []
    for var layer in try TimeAwareCalibrator.parameters(for: calibration, configuration: configuration) {
      let started = MonotonicClock.now()
      let minMaxSmoothness = layer.groupSmoothness.score
      let optimizer = options.activationOptimizer
      let hasSamples = calibration.statistics[layer.layer]?.values.allSatisfy { !$0.samples.isEmpty } ?? false
      let guarded = options.activationGuard && (optimizer != nil || (configuration.estimator != .minMax && hasSamples))
      guard optimizer != nil || guarded else {
        result.append(LayerActivations(parameters: layer, optimization: nil, minMaxSmoothness: minMaxSmoothness))
        continue
      }
      let data = try ActivationCalibrationData(
        layer: layer.layer, calibration: calibration, grouping: layer.grouping,
        channelImportance: try channelImportance(of: layer.layer, in: model, calibration: calibration))
      var candidate: [AffineParameters]
      var optimization: ActivationOptimization?
      if let optimizer {
        let chosen = try optimizer.optimize(layer, data: data, configuration: configuration)
        guard chosen.groupParameters.count == layer.grouping.groups else {
          throw .invalidParameters(
            tensor: layer.layer, group: 0,
            reason: "\(optimizer.name) returned \(chosen.groupParameters.count) parameter pairs for \(layer.grouping.groups) time groups")
        }
        for (group, parameters) in chosen.groupParameters.enumerated() {
          if let problem = parameters.storageProblem(bits: layer.bits, mode: layer.mode) {
            throw .invalidParameters(tensor: layer.layer, group: group, reason: "\(optimizer.name) returned \(problem)")
          }
        }
        candidate = chosen.groupParameters
        optimization = chosen
      } else {
        // A percentile range, estimated from the fitting rows only so that the check is fair.
        candidate = data.groups.map { group in
          let sorted = group.fit.sorted()
          let range = TimeAwareCalibrator.range(ofSorted: sorted, estimator: configuration.estimator)
          return AffineParameters.minMax(minimum: range.lower, maximum: range.upper, bits: layer.bits, mode: layer.mode)
        }
      }
      var validation: ActivationValidation?
      if options.activationGuard {
        let minMax = try TimeAwareCalibrator.parameters(forLayer: layer.layer, in: calibration, configuration: minMaxConfiguration)
        let checked = try ActivationGuard.validate(
          candidate: candidate, minMax: minMax.groupParameters, data: data, bits: layer.bits, mode: layer.mode, engine: engine)
        candidate = checked.parameters
        validation = checked
      }
      try layer.replaceGroupParameters(candidate, smoothing: configuration.smoothing, thresholds: configuration.thresholds)
      result.append(
        LayerActivations(
          parameters: layer, optimization: optimization, minMaxSmoothness: minMaxSmoothness, objective: data.objective,
          validation: validation, seconds: MonotonicClock.now() - started))
    }
    return result
  }

  /// The weight tensor of a calibrated layer: the calibration's `weight` name, else `layer`,
  /// else `layer.weight`.
  func weightEntry(of layer: String, in model: SafetensorsModel, calibration: CalibrationSet) -> SafetensorsModel.Entry? {
    if let named = calibration.weightNames[layer] { return model.entry(named) }
    return model.entry(layer) ?? model.entry(layer + ".weight")
  }

  /// d_c of the layer's weight for its calibration rows' channels, or nil when the
  /// calibration gives no channel layout.
  func channelImportance(of layer: String, in model: SafetensorsModel, calibration: CalibrationSet) throws(QuantizationError) -> [Float]? {
    guard let channels = calibration.channels(ofLayer: layer), let entry = weightEntry(of: layer, in: model, calibration: calibration) else {
      return nil
    }
    guard entry.info.dtype.isConvertibleToFloat else {
      throw .shapeMismatch(tensor: entry.name, expected: "a floating-point weight for layer '\(layer)'", actual: entry.info.dtype.rawValue)
    }
    do {
      return try entry.file.withFloats(entry.info) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) -> [Float] in
        try ChannelImportance.of(weight: values, shape: entry.info.shape, channels: channels, weightName: entry.name)
      }
    } catch {
      switch error {
      case .file(let failure): throw .file(failure)
      case .body(let failure): throw failure
      }
    }
  }

  static func fileSize(_ path: String) -> Int {
    var status = stat()
    return stat(path, &status) == 0 ? Int(status.st_size) : 0
  }
}
