import ArrowheadCore

/// One time group's calibration samples, split into the rows that fit activation
/// parameters and the rows held out to check them.
public struct ActivationGroupSamples: Sendable, Hashable {
  /// Samples of the fitting rows, in calibration order (whole rows: channel-last when the
  /// layer's samples carry a channel layout).
  public var fit: [Float]
  /// Samples of the held-out rows, in calibration order.
  public var heldOut: [Float]
  /// Exact values of the inputs at their ends, per calibrated timestep of the group: the
  /// recorded `tails` where the calibration gives them, else the minimum and maximum (of the
  /// whole input the samples were drawn from when the calibration records them, the samples'
  /// own otherwise).
  public var extremes: [Float]
  /// How many values the group's samples stand for: the calibration's counts of the whole
  /// inputs they were drawn from (at least `fit.count + heldOut.count`).
  public var population: Int
  /// Whether whole inputs were held out (the calibration named each row's source input), not
  /// single rows.
  public var heldOutBySource: Bool
  /// With `heldOutBySource`, the cluster of each held-out row: rows of the same input at the
  /// same timestep share one (their errors are alike, not independent); empty otherwise (each
  /// row its own).
  public var heldOutClusters: [Int]

  /// Creates a split; `population` defaults to the sample count (the samples are the whole
  /// input), `extremes` to none.
  public init(
    fit: [Float], heldOut: [Float], extremes: [Float] = [], population: Int? = nil, heldOutBySource: Bool = false,
    heldOutClusters: [Int] = []
  ) {
    self.heldOutBySource = heldOutBySource
    self.heldOutClusters = heldOutClusters
    self.fit = fit
    self.heldOut = heldOut
    self.extremes = extremes
    self.population = Swift.max(population ?? 0, fit.count + heldOut.count)
  }
}

/// A layer's raw calibration samples per time group, what its activation-parameter
/// objective needs to weigh them, and a fixed split into fitting and held-out rows.
///
/// **Objective.** Quantizing a layer's input X (rows of C channels) to X̂ changes its output
/// by (X − X̂)Wᵀ. Rounding errors of different elements are close to independent and zero-mean,
/// so E‖(X − X̂)Wᵀ‖² ≈ Σᵢ d_{c(i)}·(xᵢ − x̂ᵢ)² with d_c = ‖W[:, c]‖² — the squared norm of the
/// weights that channel c feeds (all kernel positions of a convolution, which sees each
/// input pixel through every tap). This *output error* is what the activation optimizers
/// minimise and what the held-out check compares; without a channel layout (old calibration
/// files) or without the weight, every d is 1 and it is the input's squared error.
///
/// **Split.** The rows of each time group are numbered in calibration order (timesteps
/// ascending, each timestep's rows in file order); row r is held out when the top two bits of
/// r·φ·2⁶⁴ are 11 (Fibonacci hashing, φ = (√5 − 1)/2): a quarter of the rows, spread evenly
/// over every timestep and over every residue of r modulo small periods — rows come in
/// spatial order (pixel by pixel of each image), and a plain r mod 4 would hold out the same
/// image columns every time (measured: the border columns of 8×8 digits, which made a clip
/// look 20 % better on held-out rows and 3× worse on other images).
/// A row is C consecutive samples with a channel layout, one sample otherwise. A timestep
/// whose rows are all identical — an input that depends on the timestep only, such as a time
/// embedding's, repeated for every batch element — counts as one row: otherwise its copies
/// would land on both sides of the split and the check would judge on the rows it fitted;
/// this way such layers are checked on timesteps they were not fitted on.
///
/// **Split by input.** When the calibration names the input each row came from (`sources`,
/// which the collector writes: the batch element, e.g. the image), the same hash is taken of
/// the source instead of the row number: whole inputs are held out — the same ones at every
/// timestep — and the check judges a range on images it was not fitted on, with one
/// observation per held-out (input, timestep) in its margin (`heldOutClusters`: an image's
/// rows err alike). A group whose sources would leave no held-out or no fitting rows (a
/// single input) falls back to the row split; `ActivationGroupSamples.heldOutBySource` says
/// which one ran. Constant timesteps (above) keep their row number. On the DDPM benchmark
/// (64 calibration images) the split by image gave 0.76 / 0.95 / 0.81 / 0.96× min-max's model
/// error at 1 / 2 / 5 / 10 time groups against the row split's 0.73 / 0.97 / 0.99 / 0.96×.
public struct ActivationCalibrationData: Sendable {
  /// Whether row `row` of a time group is held out (a quarter of the rows, see the type's
  /// documentation).
  @inline(__always)
  public static func isHeldOut(row: Int) -> Bool {
    (UInt64(truncatingIfNeeded: row) &* 0x9E37_79B9_7F4A_7C15) >> 62 == 3
  }

  /// The layer.
  public var layer: String
  /// Channels per row (nil: no layout; each sample is a row of its own).
  public var channels: Int?
  /// d_c for each channel (count `channels`), nil for the plain input error.
  public var channelImportance: [Float]?
  /// The samples of each time group, in time order.
  public var groups: [ActivationGroupSamples]

  /// Creates data from parts (`channelImportance` needs `channels`, one value ≥ 0 per channel).
  ///
  /// - Throws: `.invalidOption` naming the layer for `channels` < 1 (rows of no channels:
  ///   it used to trap in `rowErrors`), for a held-out cluster list that is neither empty nor
  ///   one identifier in 0 ..< (held-out rows) per held-out row, and for a negative or
  ///   non-finite importance; `.shapeMismatch` for importances that do not match `channels`.
  public init(layer: String, channels: Int?, channelImportance: [Float]?, groups: [ActivationGroupSamples]) throws(QuantizationError) {
    try Self.check(channels: channels, layer: layer)
    for (index, group) in groups.enumerated() { try Self.check(group, index: index, width: channels ?? 1, layer: layer) }
    if let channelImportance {
      guard let channels, channelImportance.count == channels else {
        throw .shapeMismatch(
          tensor: "channel importance of layer '\(layer)'", expected: "\(channels.map(String.init) ?? "a channel layout and its") values",
          actual: "\(channelImportance.count)")
      }
      if let bad = channelImportance.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
        throw .invalidOption(name: "channel importance \(bad) of layer '\(layer)'", value: "\(channelImportance[bad])", expected: "a finite value ≥ 0")
      }
    }
    self.layer = layer
    self.channels = channels
    self.channelImportance = channelImportance
    self.groups = groups
  }

  /// Collects `layer`'s samples from `calibration`, grouped by `grouping`, split into fitting
  /// and held-out rows. Throws `.invalidTimeGrouping` naming the layer and timestep when a
  /// calibrated timestep has only a min/max summary, and naming the group when a group has
  /// no statistics.
  public init(
    layer: String, calibration: CalibrationSet, grouping: TimeGrouping, channelImportance: [Float]? = nil
  ) throws(QuantizationError) {
    guard let perTimestep = calibration.statistics[layer], !perTimestep.isEmpty else {
      throw .invalidTimeGrouping(reason: "layer '\(layer)' has no calibration statistics")
    }
    let channels = calibration.channels(ofLayer: layer)
    try Self.check(channels: channels, layer: layer)
    let width = channels ?? 1
    var groups: [ActivationGroupSamples] = []
    for group in 0..<grouping.groups {
      let span = grouping.timesteps(ofGroup: group)
      var extremes: [Float] = []
      var population = 0
      var seen = false
      // Each calibrated timestep's rows (a constant timestep's as its first row) and their sources.
      var timesteps: [(samples: [Float], rows: Int, sources: [Int]?)] = []
      for timestep in span {
        guard let record = perTimestep[timestep] else { continue }
        seen = true
        // The recorded tails hold min and max themselves: each value is charged once.
        extremes += record.tails.isEmpty ? [record.minimum, record.maximum] : record.tails
        let (sum, overflow) = population.addingReportingOverflow(record.count)
        population = overflow ? Int.max : sum
        guard !record.samples.isEmpty else {
          throw .invalidTimeGrouping(
            reason: "layer '\(layer)', timestep \(timestep) (time group \(group)) has only a min/max summary; fitting and checking activation parameters needs raw samples")
        }
        let samples = record.samples
        let constant = samples.count > width && (width..<samples.count).allSatisfy { samples[$0] == samples[$0 % width] }
        let rows = constant ? 1 : samples.count / width
        let sources = !constant && record.sources.count == rows ? record.sources : nil
        timesteps.append((samples, rows, sources))
      }
      guard seen else {
        throw .invalidTimeGrouping(
          reason: "time group \(group) (timesteps \(span.lowerBound)..<\(span.upperBound)) of layer '\(layer)' has no calibration statistics")
      }
      func split(bySource: Bool) -> (fit: [Float], heldOut: [Float], clusters: [Int]) {
        var fit: [Float] = [], heldOut: [Float] = [], clusters: [Int] = []
        var clusterOf: [Int: Int] = [:]  // source → cluster, per timestep
        var clusterCount = 0
        var row = 0
        for timestep in timesteps {
          clusterOf.removeAll(keepingCapacity: true)
          for index in 0..<timestep.rows {
            let slice = timestep.samples[(index * width)..<((index + 1) * width)]
            let source = bySource ? timestep.sources?[index] : nil
            if Self.isHeldOut(row: source ?? row) {
              heldOut += slice
              if bySource {
                if let source, let cluster = clusterOf[source] {
                  clusters.append(cluster)
                } else {
                  if let source { clusterOf[source] = clusterCount }
                  clusters.append(clusterCount)
                  clusterCount += 1
                }
              }
            } else {
              fit += slice
            }
            row += 1
          }
        }
        return (fit, heldOut, clusters)
      }
      let sourced = timesteps.contains { $0.sources != nil } && timesteps.allSatisfy { $0.sources != nil || $0.rows == 1 }
      var (fit, heldOut, clusters) = split(bySource: sourced)
      var bySource = sourced
      if sourced && (fit.isEmpty || heldOut.isEmpty) {
        // Too few inputs to hold one out (or to keep one): hold out rows instead.
        (fit, heldOut, clusters) = split(bySource: false)
        bySource = false
      }
      groups.append(ActivationGroupSamples(fit: fit, heldOut: heldOut, extremes: extremes, population: population, heldOutBySource: bySource, heldOutClusters: clusters))
    }
    try self.init(layer: layer, channels: channels, channelImportance: channelImportance, groups: groups)
  }

  /// Throws `.invalidOption` unless `channels` is nil or ≥ 1.
  static func check(channels: Int?, layer: String) throws(QuantizationError) {
    if let channels, channels < 1 {
      throw .invalidOption(name: "channels of layer '\(layer)'", value: "\(channels)", expected: "nil (no layout) or an integer ≥ 1")
    }
  }

  /// Throws `.invalidOption` unless the held-out clusters of time group `index` are empty or
  /// one identifier in 0 ..< (held-out rows) per held-out row of `width` samples (the guard
  /// sums the rows of each cluster into an array indexed by the identifier). O(held-out rows).
  static func check(_ group: ActivationGroupSamples, index: Int, width: Int, layer: String) throws(QuantizationError) {
    let clusters = group.heldOutClusters
    guard !clusters.isEmpty else { return }
    let rows = group.heldOut.count / width
    guard clusters.count == rows, clusters.allSatisfy({ $0 >= 0 && $0 < rows }) else {
      throw .invalidOption(
        name: "held-out clusters of time group \(index) of layer '\(layer)'", value: "\(clusters.count) values (\(clusters.min() ?? 0)…\(clusters.max() ?? 0))",
        expected: "none, or one identifier in 0..<\(rows) per held-out row (\(rows) rows)")
    }
  }

  /// "output" when the channels are weighed by the layer's weights, "input" otherwise.
  public var objective: String { channelImportance == nil ? "input" : "output" }

  /// Σᵢ d_{c(i)}·(xᵢ − x̂ᵢ)² of `values` (whole rows of this layer) quantized with
  /// `parameters` at `bits` in `mode` by the quantizer's kernels (`Quantizer.quantize(_:groupSize:parameters:codes:reconstruction:)`),
  /// so the codes are exactly those an inference engine gets; accumulated in Double.
  public func outputError(
    _ values: [Float], parameters: AffineParameters, bits: Int, mode: QuantizationMode, engine: Engine
  ) throws(QuantizationError) -> Double {
    try rowErrors(values, parameters: parameters, bits: bits, mode: mode, engine: engine).reduce(0, +)
  }

  /// The output error of each row of `values` (whole rows of this layer; one value per row
  /// without a channel layout), as `outputError` sums them.
  ///
  /// - Throws: `.invalidOption` for `channels` < 1 or importances that no longer match them
  ///   (both are public, so editable after `init`); what the quantizer throws (unsupported
  ///   bits, NaN/±∞ values, parameters that cannot be stored).
  public func rowErrors(
    _ values: [Float], parameters: AffineParameters, bits: Int, mode: QuantizationMode, engine: Engine
  ) throws(QuantizationError) -> [Double] {
    try Self.check(channels: channels, layer: layer)
    if let channelImportance, channelImportance.count != (channels ?? -1) {
      throw .invalidOption(
        name: "channel importance of layer '\(layer)'", value: "\(channelImportance.count) values",
        expected: "one per channel (\(channels.map(String.init) ?? "no channel layout"))")
    }
    let width = channels ?? 1
    var errors: [Double] = []
    errors.reserveCapacity(values.count / width)
    let reconstruction = try reconstruct(values, parameters: parameters, bits: bits, mode: mode, engine: engine)
    var row = 0
    while row + width <= values.count {
      if let channelImportance {
        var sum: Float = 0
        for c in 0..<width {
          let e = values[row + c] - reconstruction[row + c]
          sum += channelImportance[c] * e * e
        }
        errors.append(Double(sum))
      } else {
        let e = Double(values[row]) - Double(reconstruction[row])
        errors.append(e * e)
      }
      row += width
    }
    return errors
  }

  /// `values` quantized and dequantized with `parameters` by the quantizer's kernels.
  func reconstruct(
    _ values: [Float], parameters: AffineParameters, bits: Int, mode: QuantizationMode, engine: Engine
  ) throws(QuantizationError) -> [Float] {
    guard !values.isEmpty else { return [] }
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: bits, granularity: .perTensor, mode: mode), engine: engine)
    var codes = [UInt8](repeating: 0, count: values.count)
    var reconstruction = [Float](repeating: 0, count: values.count)
    let result: Result<Void, QuantizationError> = values.withUnsafeBufferPointer { input in
      [parameters].withUnsafeBufferPointer { chosen in
        codes.withUnsafeMutableBufferPointer { codeBuffer in
          reconstruction.withUnsafeMutableBufferPointer { output in
            Result { () throws(QuantizationError) in
              try quantizer.quantize(input, groupSize: values.count, parameters: chosen, codes: codeBuffer, reconstruction: output)
            }
          }
        }
      }
    }
    try result.get()
    return reconstruction
  }

  /// Σ(x − x̂)² of `values` (any values of this layer, no channel layout) quantized with
  /// `parameters` by the quantizer's kernels, accumulated in Double.
  func plainError(
    _ values: [Float], parameters: AffineParameters, bits: Int, mode: QuantizationMode, engine: Engine
  ) throws(QuantizationError) -> Double {
    let reconstruction = try reconstruct(values, parameters: parameters, bits: bits, mode: mode, engine: engine)
    return zip(values, reconstruction).reduce(0.0) { total, pair in
      let e = Double(pair.0) - Double(pair.1)
      return total + e * e
    }
  }

  /// The mean channel importance d̄ (1 without importances): the expected weight of a value
  /// whose channel is unknown, such as a recorded extreme.
  public var meanImportance: Double {
    guard let channelImportance, !channelImportance.isEmpty else { return 1 }
    return channelImportance.reduce(0.0) { $0 + Double($1) } / Double(channelImportance.count)
  }
}

/// The per-channel importance d_c = ‖W[:, c]‖² of a layer's weight for its input channels.
public enum ChannelImportance {
  /// d_c for a weight of `shape` [out, in/groups, k…] (a Linear [out, in], or a convolution
  /// whose every kernel tap sees each input pixel) and `channels` input channels:
  /// d_c = Σ over output channels o that read c and over taps k of W[o, c mod (in/groups), k]².
  /// `channels` = shape[1] is the ordinary case; channels = m·shape[1] is a grouped
  /// convolution of m groups (output channels split evenly). Throws `.shapeMismatch` naming
  /// `weightName` when the shapes do not fit, a dimension is negative or their product
  /// exceeds `QuantizedModelFormat.maximumElements`.
  public static func of(
    weight values: UnsafeBufferPointer<Float>, shape: [Int], channels: Int, weightName: String
  ) throws(QuantizationError) -> [Float] {
    // A negative dimension, or a product past QuantizedModelFormat.maximumElements: one used
    // to give importances of a made-up shape, the other to trap on overflow.
    try QuantizationLayout.validate(shape: shape, tensor: weightName)
    let count = shape.reduce(1, *)
    guard shape.count >= 2, shape[0] >= 1, shape[1] >= 1, values.count == count, channels >= 1,
      channels % shape[1] == 0, shape[0] % (channels / shape[1]) == 0
    else {
      throw .shapeMismatch(
        tensor: weightName, expected: "a weight [out, in/groups, …] reading \(channels) input channels (calibration rows of \(channels))",
        actual: "shape \(shape)")
    }
    let perChannel = shape[1], taps = count / (shape[0] * perChannel)
    let splits = channels / perChannel, outputsPerSplit = shape[0] / splits
    var importance = [Double](repeating: 0, count: channels)
    for output in 0..<shape[0] {
      let split = output / outputsPerSplit
      for local in 0..<perChannel {
        let base = (output * perChannel + local) * taps
        var sum = 0.0
        for tap in 0..<taps { sum += Double(values[base + tap]) * Double(values[base + tap]) }
        importance[split * perChannel + local] += sum
      }
    }
    return importance.map { Float($0) }
  }
}

/// What the held-out check decided for a layer's candidate activation parameters.
public struct ActivationValidation: Sendable, Hashable {
  /// The parameters kept: the candidate's, or min-max's in the fallback groups.
  public var parameters: [AffineParameters]
  /// Groups whose candidate did not win on the held-out rows by the required margin (or had
  /// none to judge by), ascending.
  public var fallbackGroups: [Int]
  /// Held-out output error of the candidate, per group.
  public var candidateErrors: [Double]
  /// Held-out output error of min-max, per group.
  public var minMaxErrors: [Double]
  /// d̄·Σ(x − x̂)² over the group's recorded extremes with the candidate, per group.
  public var candidateExtremeErrors: [Double] = []
  /// The same with min-max, per group.
  public var minMaxExtremeErrors: [Double] = []
  /// Per group, whether whole inputs were held out (`ActivationGroupSamples.heldOutBySource`).
  public var heldOutBySource: [Bool] = []

  /// "inputs" when every group held out whole inputs, "rows" when none did, "mixed" otherwise.
  public var heldOutSplit: String {
    heldOutBySource.allSatisfy { $0 } ? "inputs" : heldOutBySource.contains(true) ? "mixed" : "rows"
  }

  /// Σ of the kept parameters' held-out errors over Σ of min-max's (≤ 1 by construction).
  public var heldOutRatio: Double {
    let kept = zip(candidateErrors, minMaxErrors).enumerated().reduce(0.0) { total, item in
      total + (fallbackGroups.contains(item.offset) ? item.element.1 : item.element.0)
    }
    let reference = minMaxErrors.reduce(0, +)
    return reference > 0 ? kept / reference : 1
  }
}

/// The held-out check that keeps an activation optimizer (or a clipping estimator) from
/// returning parameters worse than min-max on inputs it has not seen. Per time group it
/// estimates what the candidate and the min-max parameters (of all the group's values, as the
/// plain pipeline stores them) would cost on the whole calibration input, and keeps the
/// candidate only when it wins **with a margin**; otherwise — or without held-out rows to
/// judge by — the group keeps min-max.
///
/// **The estimate.** The held-out rows are a random share of the values the group's samples
/// were drawn from (`ActivationGroupSamples.population`), so their error, scaled by
/// f = population / held-out values, estimates the error of the typical values; what
/// sampling misses are the tails, and of those the calibration knows the exact extremes of
/// every timestep (`extremes`: min and max, or the k smallest and k largest values the
/// collector records as `tails`). Each is a value the input certainly holds, so a range that
/// cuts it pays its clipping error in full:
///
///   Δ = f·Σ_r (a_r − b_r) + d̄·Σ_x [(x − x̂_cand)² − (x − x̂_minmax)²]
///
/// with a_r, b_r the candidate's and min-max's output error of held-out row r and d̄ the mean
/// channel importance (the channel of an extreme is not recorded). At 8 bits a clipped
/// extreme costs as much as the rounding of tens of thousands of values, so a narrower range
/// must buy that much rounding error back; at 4 bits rounding is 289× dearer and clipping
/// usually pays.
///
/// **The margin.** The held-out rows are few (tens to hundreds per group), so Σ_r (a_r − b_r)
/// is itself noisy: its standard error is σ = f·√(n·v) with v the sample variance of the n
/// per-row differences — or, when whole inputs are held out (`heldOutClusters`), of the n
/// per-(input, timestep) sums of them: the rows of one image at one timestep err alike, and
/// counting them as independent would make the margin too thin (with a single such
/// observation there is no variance to judge by, and the group keeps min-max). The candidate
/// is kept only when Δ + z·σ < 0 — it wins by z standard
/// errors (z = `defaultConfidence` = 2 unless given) — and its held-out error alone is not
/// above min-max's (so `heldOutRatio` ≤ 1). A candidate equal to min-max is kept as it is.
public enum ActivationGuard {
  /// The default margin z, in standard errors of the held-out difference (one-sided ≈ 97.7 %
  /// for independent rows).
  public static let defaultConfidence = 2.0

  /// Checks `candidate` against `minMax` (one pair per group each) on `data`'s held-out rows
  /// and recorded extremes (see the type's documentation); `confidence` is z (≥ 0, finite).
  ///
  /// - Throws: `.invalidTimeGrouping` when the parameter counts do not match the groups,
  ///   `.invalidOption` for a bad confidence or for `data` whose channels or held-out
  ///   clusters are unusable (see `ActivationCalibrationData.init(layer:channels:channelImportance:groups:)`;
  ///   a negative cluster used to trap), and what `rowErrors` throws.
  public static func validate(
    candidate: [AffineParameters], minMax: [AffineParameters], data: ActivationCalibrationData, bits: Int, mode: QuantizationMode,
    engine: Engine, confidence: Double = defaultConfidence
  ) throws(QuantizationError) -> ActivationValidation {
    guard candidate.count == data.groups.count, minMax.count == data.groups.count else {
      throw .invalidTimeGrouping(
        reason: "layer '\(data.layer)': \(candidate.count) candidate and \(minMax.count) min-max parameter pairs for \(data.groups.count) time groups")
    }
    guard confidence.isFinite, confidence >= 0 else {
      throw .invalidOption(name: "held-out check confidence", value: "\(confidence)", expected: "a finite number of standard errors ≥ 0")
    }
    try ActivationCalibrationData.check(channels: data.channels, layer: data.layer)
    for (index, group) in data.groups.enumerated() {
      try ActivationCalibrationData.check(group, index: index, width: data.channels ?? 1, layer: data.layer)
    }
    let importance = data.meanImportance
    var result = ActivationValidation(parameters: [], fallbackGroups: [], candidateErrors: [], minMaxErrors: [])
    for (group, samples) in data.groups.enumerated() {
      let same = candidate[group] == minMax[group]
      let reference = try data.rowErrors(samples.heldOut, parameters: minMax[group], bits: bits, mode: mode, engine: engine)
      let proposed = same ? reference : try data.rowErrors(samples.heldOut, parameters: candidate[group], bits: bits, mode: mode, engine: engine)
      let referenceExtremes = importance * (try data.plainError(samples.extremes, parameters: minMax[group], bits: bits, mode: mode, engine: engine))
      let proposedExtremes = same
        ? referenceExtremes : importance * (try data.plainError(samples.extremes, parameters: candidate[group], bits: bits, mode: mode, engine: engine))
      let heldOutCandidate = proposed.reduce(0, +), heldOutMinMax = reference.reduce(0, +)
      result.candidateErrors.append(heldOutCandidate)
      result.minMaxErrors.append(heldOutMinMax)
      result.candidateExtremeErrors.append(proposedExtremes)
      result.minMaxExtremeErrors.append(referenceExtremes)
      result.heldOutBySource.append(samples.heldOutBySource)
      var wins = same
      if !same && proposed.count >= 2 && Set(samples.heldOutClusters).count != 1 {
        let scale = Double(samples.population) / Double(samples.heldOut.count)
        var differences = zip(proposed, reference).map { $0 - $1 }
        if samples.heldOutClusters.count == differences.count, let last = samples.heldOutClusters.max() {
          // Rows of one input at one timestep err alike: their differences are one observation.
          var sums = [Double](repeating: 0, count: last + 1)
          for (difference, cluster) in zip(differences, samples.heldOutClusters) { sums[cluster] += difference }
          differences = sums
        }
        let n = Double(differences.count)
        let mean = differences.reduce(0, +) / n
        let variance = differences.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        let estimate = scale * (heldOutCandidate - heldOutMinMax) + (proposedExtremes - referenceExtremes)
        let standardError = scale * (n * variance).squareRoot()
        wins = heldOutCandidate <= heldOutMinMax && estimate + confidence * standardError < 0
      }
      if wins {
        result.parameters.append(candidate[group])
      } else {
        result.parameters.append(minMax[group])
        result.fallbackGroups.append(group)
      }
    }
    return result
  }
}
