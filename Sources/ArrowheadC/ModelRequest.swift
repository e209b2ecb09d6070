import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant

/// The options of `ah_quantize_model`: a JSON object whose keys mirror the flags of
/// `arrowhead quantize` (`--budget-bits` → `budget_bits`), with the CLI's defaults.
///
/// | key | type | default | CLI flag |
/// |---|---|---|---|
/// | bits | int | 4 | --bits |
/// | group | int | 64 | --group |
/// | granularity | "group", "channel", "tensor" | "group" | --per-channel, --per-tensor |
/// | mode | "float_minimum", "zero_point", "symmetric" | "float_minimum" | --zero-point, --symmetric |
/// | optimizer | "minmax", "signed-max" (symmetric only), "grid", "hqq", "thermo" | "minmax" | --optimizer |
/// | optimizer_options | object of strings/numbers/booleans | {} | --optimizer-option K=V |
/// | weight_optimizer | "minmax", "signed-max", "grid", "hqq" | "minmax" | --weight-optimizer (thermo) |
/// | budget | number (bits per weight) | none | --budget |
/// | budget_bits | [int] | [2, 4, 8] | --budget-bits |
/// | keep | [glob] | [] | --keep |
/// | default_keep | bool | true | --no-default-keep |
/// | fallback | bool | true | --no-fallback |
/// | fallback_thresholds | {"bits": cosine} | {} | --fallback-threshold |
/// | allow_non_finite | bool | false | --allow-non-finite |
/// | time_groups, calibration | int, path | none | --time-groups, --calibration |
/// | timesteps | int | largest calibrated + 1 | --timesteps |
/// | activation_bits | int | 8 | --activation-bits |
/// | activation_range | "minmax", "percentile:P" | "minmax" | --activation-range |
/// | smoothing, smoothing_window | "none", "linear", "cubic", "sigmoid"; int | "none", 2 | --smoothing, --smoothing-window |
/// | threads | int | the engine's | --threads |
///
/// `gptq` needs calibration inputs read from the model: use the CLI for it.
struct ModelRequest {
  static let keys = [
    "bits", "group", "granularity", "mode", "optimizer", "optimizer_options", "weight_optimizer", "budget", "budget_bits",
    "keep", "default_keep", "fallback", "fallback_thresholds", "allow_non_finite", "time_groups", "calibration", "timesteps",
    "activation_bits", "activation_range", "smoothing", "smoothing_window", "threads",
  ]

  var options: ModelQuantizationOptions
  var threads: Int?

  init(json: String) throws {
    let reader = try OptionReader(json: json, keys: Self.keys)
    let granularity: QuantizationGranularity
    switch try reader.string("granularity") ?? "group" {
    case "group": granularity = .perGroup(try reader.integer("group") ?? 64)
    case "channel": granularity = .perChannel
    case "tensor": granularity = .perTensor
    case let other: throw ABIError(.invalidArgument, "option 'granularity' = '\(other)'; expected group, channel or tensor")
    }
    let modeName = try reader.string("mode") ?? "float_minimum"
    guard let mode = QuantizationMode(fileName: modeName) else {
      throw ABIError(.invalidArgument, "option 'mode' = '\(modeName)'; expected float_minimum, zero_point or symmetric")
    }
    let scheme = try QuantizationScheme(bits: try reader.integer("bits") ?? 4, granularity: granularity, mode: mode)
    let keep = (try reader.bool("default_keep") ?? true ? TensorSelection.defaultKeepPatterns : []) + (try reader.strings("keep") ?? [])
    options = ModelQuantizationOptions(
      scheme: scheme, selection: TensorSelection(keepPatterns: keep), budget: try reader.double("budget"),
      budgetWidths: try reader.integers("budget_bits") ?? [2, 4, 8], fallback: try Self.fallback(reader),
      nonFinite: try reader.bool("allow_non_finite") ?? false ? .keepFloat : .reject, timeAware: try Self.timeAware(reader))
    if let budget = options.budget, !(budget > 0) {
      throw ABIError(.invalidArgument, "option 'budget' = \(budget); expected a positive number of bits per weight")
    }
    if options.budget == nil, reader["budget_bits"] != nil {
      // The widths a budget chooses from: without a budget they would be silently unused.
      throw ABIError(.invalidArgument, "option 'budget_bits' applies only with 'budget' (the bits per weight to meet)")
    }
    for width in options.budgetWidths where !QuantizationScheme.supportedBits.contains(width) {
      throw ABIError(
        .invalidArgument,
        "option 'budget_bits' holds \(width); expected widths among \(QuantizationScheme.supportedBits.map(String.init).joined(separator: ", "))")
    }
    threads = try reader.integer("threads")
    if let threads, threads < 1 { throw ABIError(.invalidArgument, "option 'threads' = \(threads); expected ≥ 1") }
    try configureOptimizer(reader)
  }

  private mutating func configureOptimizer(_ reader: OptionReader) throws {
    let name = try reader.string("optimizer") ?? "minmax"
    var settings: [String: String] = [:]
    if let object = reader["optimizer_options"] {
      guard let members = object.members else {
        throw ABIError(.invalidArgument, "option 'optimizer_options' must be an object, got \(object.typeName)")
      }
      for (key, value) in members { settings[key] = try OptionReader.text(value, "optimizer option '\(key)'") }
    }
    let weightOptimizer = try reader.string("weight_optimizer")
    if (name == "signed-max" || weightOptimizer == "signed-max") && options.scheme.mode != .symmetric {
      throw ABIError(.invalidArgument, "optimizer 'signed-max' chooses symmetric scales (ggml Q4_0's rule): it needs mode 'symmetric'")
    }
    switch name {
    case "thermo":
      guard options.timeAware != nil else {
        throw ABIError(.invalidArgument, "optimizer 'thermo' optimizes the time-aware activation parameters: it needs 'time_groups' and 'calibration'")
      }
      options.activationOptimizer = try OptimizerCatalog.thermodynamic(settings: settings)
      options.optimizer = try OptimizerCatalog.make(name: weightOptimizer ?? "minmax")
    case "gptq":
      throw ABIError(.unsupported, "optimizer 'gptq' needs calibration inputs read from the model: use `arrowhead quantize --optimizer gptq --gptq-inputs …`")
    default:
      if weightOptimizer != nil { throw ABIError(.invalidArgument, "option 'weight_optimizer' goes with optimizer 'thermo'") }
      options.optimizer = try OptimizerCatalog.make(name: name, settings: settings)
    }
  }

  private static func fallback(_ reader: OptionReader) throws -> FallbackPolicy? {
    guard try reader.bool("fallback") ?? true else { return nil }
    var thresholds = FallbackPolicy.standard.minimumCosine
    if let object = reader["fallback_thresholds"] {
      guard let members = object.members else {
        throw ABIError(.invalidArgument, "option 'fallback_thresholds' must be an object {\"bits\": cosine}, got \(object.typeName)")
      }
      for (key, value) in members {
        guard let bits = Int(key), let cosine = value.double else {
          throw ABIError(.invalidArgument, "option 'fallback_thresholds' expects {\"4\": 0.9, …}; got '\(key)': \(value.serialized)")
        }
        thresholds[bits] = cosine
      }
    }
    return try FallbackPolicy(minimumCosine: thresholds)
  }

  private static func timeAware(_ reader: OptionReader) throws -> TimeAwareInput? {
    let groups = try reader.integer("time_groups"), path = try reader.string("calibration")
    guard let groups, let path else {
      if (groups == nil) != (path == nil) { throw ABIError(.invalidArgument, "options 'time_groups' and 'calibration' go together") }
      return nil
    }
    let set = try CalibrationSet.load(path: path)
    guard let last = set.maximumTimestep else { throw ABIError(.invalidArgument, "\(path) holds no calibration records") }
    let rangeName = try reader.string("activation_range") ?? "minmax"
    let estimator: ActivationRangeEstimator
    if rangeName == "minmax" {
      estimator = .minMax
    } else if rangeName.hasPrefix("percentile:"), let p = Double(rangeName.dropFirst("percentile:".count)) {
      estimator = .percentile(p)
    } else {
      throw ABIError(.invalidArgument, "option 'activation_range' = '\(rangeName)'; expected minmax or percentile:P")
    }
    let curveName = try reader.string("smoothing") ?? "none"
    guard curveName == "none" || SmoothingCurve(rawValue: curveName) != nil else {
      throw ABIError(.invalidArgument, "option 'smoothing' = '\(curveName)'; expected none, linear, cubic or sigmoid")
    }
    let window = try reader.integer("smoothing_window") ?? 2
    let smoothing = try SmoothingCurve(rawValue: curveName).map { (curve) throws(QuantizationError) in
      try BoundarySmoothing(curve: curve, window: window)
    }
    let configuration = try TimeAwareConfiguration(
      grouping: try TimeGrouping(timesteps: try reader.integer("timesteps") ?? last + 1, groups: groups),
      bits: try reader.integer("activation_bits") ?? 8, estimator: estimator, smoothing: smoothing)
    return TimeAwareInput(calibration: set, configuration: configuration)
  }
}

/// Typed reads of a JSON options object whose keys are checked against a list.
struct OptionReader {
  private let members: [String: JSONValue]

  init(json: String, keys: [String]) throws {
    let value = try JSONValue.parse(Array(json.utf8))
    guard let pairs = value.members else { throw ABIError(.invalidArgument, "options must be a JSON object, got \(value.typeName)") }
    var members: [String: JSONValue] = [:]
    for (key, member) in pairs {
      guard keys.contains(key) else {
        throw ABIError(.invalidArgument, "unknown option '\(key)'; valid options: \(keys.joined(separator: ", "))")
      }
      if case .null = member { continue }
      members[key] = member
    }
    self.members = members
  }

  subscript(key: String) -> JSONValue? { members[key] }

  func integer(_ key: String) throws(ABIError) -> Int? { try read(key, "an integer", \.integer) }
  func double(_ key: String) throws(ABIError) -> Double? { try read(key, "a number", \.double) }
  func bool(_ key: String) throws(ABIError) -> Bool? { try read(key, "true or false", \.bool) }
  func string(_ key: String) throws(ABIError) -> String? { try read(key, "a string", \.string) }
  func strings(_ key: String) throws(ABIError) -> [String]? { try read(key, "an array of strings") { all($0, \.string) } }
  func integers(_ key: String) throws(ABIError) -> [Int]? { try read(key, "an array of integers") { all($0, \.integer) } }

  /// The value of `key` converted by `extract`, nil when absent; a value `extract` rejects
  /// is an error saying what was `expected`.
  private func read<T>(_ key: String, _ expected: String, _ extract: (JSONValue) -> T?) throws(ABIError) -> T? {
    guard let value = members[key] else { return nil }
    guard let result = extract(value) else {
      throw ABIError(.invalidArgument, "option '\(key)' must be \(expected), got \(value.typeName) \(value.serialized)")
    }
    return result
  }

  /// Every element of an array converted by `extract`, or nil if one is not convertible.
  private func all<T>(_ value: JSONValue, _ extract: (JSONValue) -> T?) -> [T]? {
    guard let items = value.array else { return nil }
    let converted = items.compactMap(extract)
    return converted.count == items.count ? converted : nil
  }

  /// A setting value as the CLI's KEY=VALUE text: strings as they are, numbers and
  /// booleans as JSON spells them.
  static func text(_ value: JSONValue, _ what: String) throws(ABIError) -> String {
    switch value {
    case .string(let text): return text
    case .integer, .number, .bool: return value.serialized
    default: throw ABIError(.invalidArgument, "\(what) must be a string, number or boolean, got \(value.typeName)")
    }
  }
}
