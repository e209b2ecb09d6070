/// How a time group's activation range is estimated from its calibration statistics.
public enum ActivationRangeEstimator: Sendable, Hashable, Codable, CustomStringConvertible {
  /// [min, max] over the group's timesteps: nothing is clipped.
  case minMax
  /// [P(100 − p), P(p)] with p in (50, 100]: clips outliers (e.g. 99.9). From samples the
  /// percentiles are computed (linear interpolation, as numpy's default); from summary
  /// lines the group takes the most extreme given P(100 − p) and P(p) of its timesteps.
  case percentile(Double)

  /// "minmax" or "percentile:P" (the spelling of the CLI and the file metadata).
  public var description: String {
    switch self {
    case .minMax: "minmax"
    case .percentile(let p): "percentile:\(p)"
    }
  }
}

/// Settings of time-aware activation quantization.
public struct TimeAwareConfiguration: Sendable {
  /// The split of timesteps into groups.
  public var grouping: TimeGrouping
  /// Activation code width (default 8: W4A8 / W8A8 inference quantizes activations to 8 bits).
  public var bits: Int
  /// Activation mode (default `.zeroPoint`: activations after GELU/SiLU are skewed, and an
  /// integer zero-point keeps 0 exact for padding).
  public var mode: QuantizationMode
  /// How each group's range is estimated.
  public var estimator: ActivationRangeEstimator
  /// Optional smoothing across boundaries (per-timestep table); nil = none.
  public var smoothing: BoundarySmoothing?
  /// Validator thresholds.
  public var thresholds: SmoothnessThresholds

  /// Creates a configuration; throws for unsupported bits or a percentile outside (50, 100].
  public init(
    grouping: TimeGrouping, bits: Int = 8, mode: QuantizationMode = .zeroPoint, estimator: ActivationRangeEstimator = .minMax,
    smoothing: BoundarySmoothing? = nil, thresholds: SmoothnessThresholds = .standard
  ) throws(QuantizationError) {
    guard QuantizationScheme.supportedBits.contains(bits) else { throw .unsupportedBits(bits, supported: QuantizationScheme.supportedBits) }
    if case .percentile(let p) = estimator, !(p > 50 && p <= 100) {
      throw .invalidOption(name: "percentile", value: "\(p)", expected: "a value in (50, 100]")
    }
    self.grouping = grouping
    self.bits = bits
    self.mode = mode
    self.estimator = estimator
    self.smoothing = smoothing
    self.thresholds = thresholds
  }
}

/// A layer's activation quantization parameters per time group (and, with smoothing, per
/// timestep), with the smoothness validation of both sequences.
public struct TimeAwareActivationParameters: Sendable {
  /// The layer.
  public var layer: String
  /// The grouping used.
  public var grouping: TimeGrouping
  /// Activation bits.
  public var bits: Int
  /// Activation mode.
  public var mode: QuantizationMode
  /// Each group's estimated range.
  public var groupRanges: [ActivationRange]
  /// Each group's parameters (min-max of its range).
  public var groupParameters: [AffineParameters]
  /// Per-timestep parameters after boundary smoothing (nil without smoothing).
  public var timestepParameters: [AffineParameters]?
  /// Validation of `groupParameters`.
  public var groupSmoothness: SmoothnessReport
  /// Validation of `timestepParameters` (nil without smoothing).
  public var timestepSmoothness: SmoothnessReport?

  /// The parameters an inference engine uses at `timestep`: the smoothed table's entry if
  /// there is one, else the timestep's group's.
  ///
  /// - Throws: `.invalidTimeGrouping` naming the timestep and the layer when it lies outside
  ///   0 ..< T, or when the table or the group parameters (public, so editable) do not hold
  ///   an entry for it.
  public func parameters(atTimestep timestep: Int) throws(QuantizationError) -> AffineParameters {
    guard timestep >= 0, timestep < grouping.timesteps else {
      throw .invalidTimeGrouping(reason: "layer '\(layer)': timestep \(timestep) is outside 0..<\(grouping.timesteps)")
    }
    let group = grouping.uncheckedGroup(ofTimestep: timestep)
    if let timestepParameters {
      guard timestep < timestepParameters.count else {
        throw .invalidTimeGrouping(
          reason: "layer '\(layer)': timestep \(timestep) has no entry in the per-timestep table of \(timestepParameters.count) (\(grouping.timesteps) timesteps)")
      }
      return timestepParameters[timestep]
    }
    guard group < groupParameters.count else {
      throw .invalidTimeGrouping(reason: "layer '\(layer)': time group \(group) has no parameters (\(groupParameters.count) for \(grouping.groups) groups)")
    }
    return groupParameters[group]
  }

  /// Throws unless these parameters are what `QuantizedModelFile.activationParameters(_:)`
  /// accepts: supported bits, one pair per group (and per timestep in the table), each
  /// storable and reconstructing finitely.
  func checkStorable() throws(QuantizationError) {
    guard QuantizationScheme.supportedBits.contains(bits) else { throw .unsupportedBits(bits, supported: QuantizationScheme.supportedBits) }
    guard groupParameters.count == grouping.groups else {
      throw .invalidTimeGrouping(reason: "layer '\(layer)': \(groupParameters.count) parameter pairs for \(grouping.groups) time groups")
    }
    if let timestepParameters, timestepParameters.count != grouping.timesteps {
      throw .invalidTimeGrouping(reason: "layer '\(layer)': a per-timestep table of \(timestepParameters.count) for \(grouping.timesteps) timesteps")
    }
    try Self.checkStorable(groupParameters, bits: bits, mode: mode, layer: layer, what: "time group")
    if let timestepParameters { try Self.checkStorable(timestepParameters, bits: bits, mode: mode, layer: layer, what: "timestep") }
  }

  /// Throws `.invalidParameters` naming `layer` and the index of the first pair that cannot
  /// be stored or does not reconstruct finitely at `bits` in `mode`.
  static func checkStorable(
    _ parameters: [AffineParameters], bits: Int, mode: QuantizationMode, layer: String, what: String
  ) throws(QuantizationError) {
    for (index, p) in parameters.enumerated() {
      if let problem = p.storageProblem(bits: bits, mode: mode) ?? p.reconstructionProblem(bits: bits, mode: mode) {
        throw .invalidParameters(tensor: layer, group: index, reason: "activation \(what) \(index): \(problem)")
      }
    }
  }

  /// Replaces the group parameters (e.g. with an optimizer's) and brings everything derived
  /// from them up to date: the group ranges become the ranges the new parameters represent
  /// (codes 0 … 2ᵇ − 1, or ±(2ᵇ⁻¹ − 1) steps for symmetric), the per-timestep table (with
  /// `smoothing`) is rebuilt from those ranges — interior timesteps get their group's new
  /// parameters exactly, timesteps inside a smoothing window the min-max parameters of the
  /// blended range — and both sequences are validated again with `thresholds`.
  ///
  /// - Throws: `.invalidTimeGrouping` when there is not one pair per time group,
  ///   `.unsupportedBits` for `bits` (a public property) outside the supported widths, and
  ///   `.invalidParameters` naming the layer and the group for a pair that cannot be stored
  ///   or reconstructs to ±∞/NaN (a NaN scale used to give NaN ranges silently). O(G).
  public mutating func replaceGroupParameters(
    _ parameters: [AffineParameters], smoothing: BoundarySmoothing?, thresholds: SmoothnessThresholds
  ) throws(QuantizationError) {
    guard parameters.count == grouping.groups else {
      throw .invalidTimeGrouping(reason: "\(parameters.count) parameter pairs for \(grouping.groups) time groups of layer '\(layer)'")
    }
    guard QuantizationScheme.supportedBits.contains(bits) else { throw .unsupportedBits(bits, supported: QuantizationScheme.supportedBits) }
    try Self.checkStorable(parameters, bits: bits, mode: mode, layer: layer, what: "time group")
    let top = Float((1 << bits) - 1)
    groupRanges = parameters.map { p in
      switch mode {
      case .floatMinimum: return ActivationRange(lower: p.offset, upper: p.offset + top * p.scale)
      case .zeroPoint: return ActivationRange(lower: -p.offset * p.scale, upper: (top - p.offset) * p.scale)
      case .symmetric:
        let steps = Float((1 << (bits - 1)) - 1)
        return ActivationRange(lower: -steps * p.scale, upper: steps * p.scale)
      }
    }
    groupParameters = parameters
    groupSmoothness = try SmoothnessValidator.validate(parameters, bits: bits, mode: mode, thresholds: thresholds)
    if let smoothing {
      let smoothed = try smoothing.timestepRanges(groupRanges, grouping: grouping)
      let table = smoothed.enumerated().map { t, range in
        let group = grouping.uncheckedGroup(ofTimestep: t)
        return range == groupRanges[group]
          ? parameters[group] : AffineParameters.minMax(minimum: range.lower, maximum: range.upper, bits: bits, mode: mode)
      }
      timestepParameters = table
      timestepSmoothness = try SmoothnessValidator.validate(table, bits: bits, mode: mode, thresholds: thresholds)
    } else {
      timestepParameters = nil
      timestepSmoothness = nil
    }
  }
}

/// Turns calibration statistics into time-aware activation parameters.
public enum TimeAwareCalibrator {
  /// Parameters for every layer of `calibration`, in its layer order.
  public static func parameters(
    for calibration: CalibrationSet, configuration: TimeAwareConfiguration
  ) throws(QuantizationError) -> [TimeAwareActivationParameters] {
    var result: [TimeAwareActivationParameters] = []
    for layer in calibration.layers {
      result.append(try parameters(forLayer: layer, in: calibration, configuration: configuration))
    }
    return result
  }

  /// Parameters for one layer. Throws `.invalidTimeGrouping` naming the layer when a
  /// timestep lies outside 0 ..< T or a group has no statistics, when a percentile
  /// estimate lacks the data it needs, and naming the group when its statistics give a
  /// range that is not finite or has min > max.
  public static func parameters(
    forLayer layer: String, in calibration: CalibrationSet, configuration: TimeAwareConfiguration
  ) throws(QuantizationError) -> TimeAwareActivationParameters {
    let grouping = configuration.grouping
    guard let perTimestep = calibration.statistics[layer], !perTimestep.isEmpty else {
      throw .invalidTimeGrouping(reason: "layer '\(layer)' has no calibration statistics")
    }
    if let outside = perTimestep.keys.filter({ $0 < 0 || $0 >= grouping.timesteps }).min() {
      throw .invalidTimeGrouping(reason: "layer '\(layer)' has statistics for timestep \(outside), outside 0..<\(grouping.timesteps)")
    }
    // Records by group, visiting only the calibrated timesteps (never every timestep of a
    // group: T may be large while the calibration is small), in timestep order.
    var recordsByGroup = [[TimestepStatistics]](repeating: [], count: grouping.groups)
    for (timestep, record) in perTimestep.sorted(by: { $0.key < $1.key }) {
      recordsByGroup[grouping.uncheckedGroup(ofTimestep: timestep)].append(record)
    }
    var ranges: [ActivationRange] = []
    for group in 0..<grouping.groups {
      let span = grouping.timesteps(ofGroup: group)
      let records = recordsByGroup[group]
      guard !records.isEmpty else {
        throw .invalidTimeGrouping(reason: "time group \(group) (timesteps \(span.lowerBound)..<\(span.upperBound)) of layer '\(layer)' has no calibration statistics")
      }
      let estimated = try range(of: records, estimator: configuration.estimator, layer: layer, group: group)
      // Statistics added with `CalibrationSet.add(layer:timestep:_:)` are not checked as the
      // parser checks a file's: a NaN or ±∞ extreme used to give NaN parameters silently.
      guard estimated.lower.isFinite, estimated.upper.isFinite, estimated.lower <= estimated.upper else {
        throw .invalidTimeGrouping(
          reason: "layer '\(layer)', time group \(group): the statistics give the range [\(estimated.lower), \(estimated.upper)]; activation statistics must be finite, with min ≤ max")
      }
      ranges.append(estimated)
    }
    let groupParameters = ranges.map {
      AffineParameters.minMax(minimum: $0.lower, maximum: $0.upper, bits: configuration.bits, mode: configuration.mode)
    }
    var timestepParameters: [AffineParameters]?
    var timestepSmoothness: SmoothnessReport?
    if let smoothing = configuration.smoothing {
      let smoothed = try smoothing.timestepRanges(ranges, grouping: grouping)
      let table = smoothed.map {
        AffineParameters.minMax(minimum: $0.lower, maximum: $0.upper, bits: configuration.bits, mode: configuration.mode)
      }
      timestepParameters = table
      timestepSmoothness = try SmoothnessValidator.validate(table, bits: configuration.bits, mode: configuration.mode, thresholds: configuration.thresholds)
    }
    return TimeAwareActivationParameters(
      layer: layer, grouping: grouping, bits: configuration.bits, mode: configuration.mode, groupRanges: ranges,
      groupParameters: groupParameters, timestepParameters: timestepParameters,
      groupSmoothness: try SmoothnessValidator.validate(groupParameters, bits: configuration.bits, mode: configuration.mode, thresholds: configuration.thresholds),
      timestepSmoothness: timestepSmoothness)
  }

  static func range(
    of records: [TimestepStatistics], estimator: ActivationRangeEstimator, layer: String, group: Int
  ) throws(QuantizationError) -> ActivationRange {
    switch estimator {
    case .minMax:
      return ActivationRange(lower: records.map(\.minimum).min() ?? 0, upper: records.map(\.maximum).max() ?? 0)
    case .percentile(let p):
      if records.allSatisfy({ !$0.samples.isEmpty }) {
        return range(ofSorted: records.flatMap(\.samples).sorted(), estimator: estimator)
      }
      var lower = Float.infinity, upper = -Float.infinity
      for record in records {
        guard let low = record.percentiles.first(where: { abs($0.key - (100 - p)) < 1e-9 })?.value,
          let high = record.percentiles.first(where: { abs($0.key - p) < 1e-9 })?.value
        else {
          throw .invalidTimeGrouping(
            reason: "layer '\(layer)', time group \(group): percentile range \(p) needs samples or the percentiles \(100 - p) and \(p) at every timestep")
        }
        lower = Swift.min(lower, low)
        upper = Swift.max(upper, high)
      }
      return ActivationRange(lower: lower, upper: upper)
    }
  }

  /// The range `estimator` gives ascending samples `sorted` (non-empty): [first, last] or
  /// [P(100 − p), P(p)].
  static func range(ofSorted sorted: [Float], estimator: ActivationRangeEstimator) -> ActivationRange {
    switch estimator {
    case .minMax: return ActivationRange(lower: sorted.first ?? 0, upper: sorted.last ?? 0)
    case .percentile(let p): return ActivationRange(lower: percentile(sorted, 100 - p), upper: percentile(sorted, p))
    }
  }

  /// The `percent` percentile of ascending `sorted` values, interpolating linearly between
  /// order statistics at position percent/100·(n − 1) (numpy's default).
  static func percentile(_ sorted: [Float], _ percent: Double) -> Float {
    guard let first = sorted.first else { return 0 }
    if sorted.count == 1 { return first }
    let position = percent / 100 * Double(sorted.count - 1)
    let below = Int(position.rounded(.down))
    let above = Swift.min(below + 1, sorted.count - 1)
    let fraction = position - Double(below)
    return Float(Double(sorted[below]) + fraction * (Double(sorted[above]) - Double(sorted[below])))
  }
}
