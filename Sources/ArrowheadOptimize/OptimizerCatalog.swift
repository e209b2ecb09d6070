import ArrowheadQuant

/// The weight-parameter optimizers by name, built from the same `[String: String]`
/// settings their `settings` property reports — so a report's optimizer line recreates
/// the optimizer that produced it (`make(name: o.name, settings: o.settings)`).
///
/// | name     | type                       | settings (default)                                              |
/// |----------|----------------------------|-----------------------------------------------------------------|
/// | `minmax` | `MinMaxOptimizer`          | none                                                            |
/// | `signed-max` | `SignedMaximumOptimizer` | none (symmetric: ggml Q4_0's full range; other modes: min-max) |
/// | `grid`   | `GridSearchOptimizer`      | steps (5), keep (8), refinements (3), local_rounds (1), clip (per bits, "low…high") |
/// | `hqq`    | `HalfQuadraticOptimizer`   | p (0.7), beta (10), kappa (1.01), iterations (20), early_stop (true) |
///
/// `thermo` and `clip` (time-aware activation parameters) and `gptq` (whole matrices with
/// calibration inputs) are not per-group weight optimizers: see `ThermodynamicOptimizer`,
/// `ClippingSearch` and `GPTQQuantizer`.
public enum OptimizerCatalog {
  /// The names `make` accepts.
  public static let weightOptimizerNames = ["minmax", "signed-max", "grid", "hqq"]

  /// The settings keys each optimizer accepts.
  public static let settingKeys: [String: [String]] = [
    "minmax": [],
    "signed-max": [],
    "grid": ["steps", "keep", "refinements", "local_rounds", "clip"],
    "hqq": ["p", "beta", "kappa", "iterations", "early_stop"],
  ]

  /// The optimizer `name` with `settings` (missing keys take their defaults). Throws
  /// `.invalidSetting` for an unknown name or key, a value that does not parse, or one
  /// out of range.
  public static func make(name: String, settings: [String: String] = [:]) throws(OptimizationError) -> any ParameterOptimizer {
    guard let keys = settingKeys[name] else {
      throw .invalidSetting(name: "optimizer", value: name, expected: "one of \(weightOptimizerNames.joined(separator: ", "))")
    }
    for key in settings.keys.sorted() where !keys.contains(key) {
      throw .invalidSetting(
        name: "\(name) setting", value: key, expected: keys.isEmpty ? "no settings" : "one of \(keys.joined(separator: ", "))")
    }
    switch name {
    case "grid":
      var clip: GridSearchOptimizer.ClipInterval?
      if let text = settings["clip"] {
        let parts = text.replacing("...", with: "…").split(separator: "…")
        guard parts.count == 2, let low = Double(parts[0]), let high = Double(parts[1]) else {
          throw .invalidSetting(name: "clip", value: text, expected: "LOW…HIGH (or LOW...HIGH), fractions of the range, e.g. -0.02…0.25")
        }
        clip = try GridSearchOptimizer.ClipInterval(low: low, high: high)
      }
      return try GridSearchOptimizer(
        steps: try integer(settings, "steps", 5), keep: try integer(settings, "keep", 8),
        refinements: try integer(settings, "refinements", 3), localRounds: try integer(settings, "local_rounds", 1), clip: clip)
    case "hqq":
      return try HalfQuadraticOptimizer(
        norm: try real(settings, "p", 0.7), beta: try real(settings, "beta", 10), kappa: try real(settings, "kappa", 1.01),
        iterations: try integer(settings, "iterations", 20), earlyStop: try boolean(settings, "early_stop", true))
    case "signed-max":
      return SignedMaximumOptimizer()
    default:
      return MinMaxOptimizer()
    }
  }

  /// The settings keys of `thermodynamic(settings:)` and `gptq(settings:groupOptimizer:)`.
  public static let thermodynamicKeys = ["lambda1", "lambda2", "learning_rate", "iterations", "tolerance", "patience", "start"]
  /// The settings keys of `clipping(settings:)`.
  public static let clippingKeys = ["grid_points", "rounds"]
  /// See `thermodynamicKeys`.
  public static let gptqKeys = ["block_size", "damping", "escalations", "hessian_importance"]

  /// A `ThermodynamicOptimizer` from settings (keys `thermodynamicKeys`; defaults as its init).
  public static func thermodynamic(settings: [String: String] = [:]) throws(OptimizationError) -> ThermodynamicOptimizer {
    try requireKnown(settings, thermodynamicKeys, "thermo")
    return try ThermodynamicOptimizer(
      divergenceWeight: try real(settings, "lambda1", 0.1), smoothnessWeight: try real(settings, "lambda2", 0.01),
      learningRate: try real(settings, "learning_rate", 0.01), maximumIterations: try integer(settings, "iterations", 300),
      tolerance: try real(settings, "tolerance", 1e-6), patience: try integer(settings, "patience", 20),
      start: try startPoint(settings))
  }

  static func startPoint(_ settings: [String: String]) throws(OptimizationError) -> ThermodynamicOptimizer.Start {
    guard let text = settings["start"] else { return .clip }
    guard let start = ThermodynamicOptimizer.Start(rawValue: text) else {
      throw .invalidSetting(name: "start", value: text, expected: "minmax or clip")
    }
    return start
  }

  /// A `ClippingSearch` from settings (keys `clippingKeys`; defaults as its init).
  public static func clipping(settings: [String: String] = [:]) throws(OptimizationError) -> ClippingSearch {
    try requireKnown(settings, clippingKeys, "clip")
    return try ClippingSearch(gridPoints: try integer(settings, "grid_points", 24), rounds: try integer(settings, "rounds", 2))
  }

  /// A `GPTQQuantizer` from settings (keys `gptqKeys`) with `groupOptimizer` choosing each
  /// group's parameters.
  public static func gptq(settings: [String: String] = [:], groupOptimizer: any ParameterOptimizer) throws(OptimizationError) -> GPTQQuantizer {
    try requireKnown(settings, gptqKeys, "gptq")
    return try GPTQQuantizer(
      blockSize: try integer(settings, "block_size", 128), damping: try real(settings, "damping", 0.01),
      escalations: try integer(settings, "escalations", 4), groupOptimizer: groupOptimizer,
      hessianImportance: try boolean(settings, "hessian_importance", false))
  }

  static func requireKnown(_ settings: [String: String], _ keys: [String], _ name: String) throws(OptimizationError) {
    for key in settings.keys.sorted() where !keys.contains(key) {
      throw .invalidSetting(name: "\(name) setting", value: key, expected: "one of \(keys.joined(separator: ", "))")
    }
  }

  static func integer(_ settings: [String: String], _ key: String, _ fallback: Int) throws(OptimizationError) -> Int {
    guard let text = settings[key] else { return fallback }
    guard let value = Int(text) else { throw .invalidSetting(name: key, value: text, expected: "an integer") }
    return value
  }

  static func real(_ settings: [String: String], _ key: String, _ fallback: Double) throws(OptimizationError) -> Double {
    guard let text = settings[key] else { return fallback }
    guard let value = Double(text) else { throw .invalidSetting(name: key, value: text, expected: "a number") }
    return value
  }

  static func boolean(_ settings: [String: String], _ key: String, _ fallback: Bool) throws(OptimizationError) -> Bool {
    guard let text = settings[key] else { return fallback }
    guard let value = Bool(text) else { throw .invalidSetting(name: key, value: text, expected: "true or false") }
    return value
  }
}
