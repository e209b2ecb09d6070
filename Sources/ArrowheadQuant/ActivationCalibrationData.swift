import ArrowheadCore

/// One time group's calibration samples, split into the rows that fit activation
/// parameters and the rows held out to check them.
public struct ActivationGroupSamples: Sendable, Hashable {
  /// Samples of the fitting rows, in calibration order (whole rows: channel-last when the
  /// layer's samples carry a channel layout).
  public var fit: [Float]
  /// Samples of the held-out rows, in calibration order.
  public var heldOut: [Float]

  /// Creates a split.
  public init(fit: [Float], heldOut: [Float]) {
    self.fit = fit
    self.heldOut = heldOut
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
  public init(layer: String, channels: Int?, channelImportance: [Float]?, groups: [ActivationGroupSamples]) throws(QuantizationError) {
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
    let width = channels ?? 1
    var groups: [ActivationGroupSamples] = []
    for group in 0..<grouping.groups {
      let span = grouping.timesteps(ofGroup: group)
      var fit: [Float] = [], heldOut: [Float] = []
      var row = 0
      var seen = false
      for timestep in span {
        guard let record = perTimestep[timestep] else { continue }
        seen = true
        guard !record.samples.isEmpty else {
          throw .invalidTimeGrouping(
            reason: "layer '\(layer)', timestep \(timestep) (time group \(group)) has only a min/max summary; fitting and checking activation parameters needs raw samples")
        }
        let samples = record.samples
        let constant = samples.count > width && (width..<samples.count).allSatisfy { samples[$0] == samples[$0 % width] }
        let end = constant ? width : samples.count
        var start = 0
        while start < end {
          let slice = samples[start..<(start + width)]
          if Self.isHeldOut(row: row) { heldOut += slice } else { fit += slice }
          row += 1
          start += width
        }
      }
      guard seen else {
        throw .invalidTimeGrouping(
          reason: "time group \(group) (timesteps \(span.lowerBound)..<\(span.upperBound)) of layer '\(layer)' has no calibration statistics")
      }
      groups.append(ActivationGroupSamples(fit: fit, heldOut: heldOut))
    }
    try self.init(layer: layer, channels: channels, channelImportance: channelImportance, groups: groups)
  }

  /// "output" when the channels are weighed by the layer's weights, "input" otherwise.
  public var objective: String { channelImportance == nil ? "input" : "output" }

  /// Σᵢ d_{c(i)}·(xᵢ − x̂ᵢ)² of `values` (whole rows of this layer) quantized with
  /// `parameters` at `bits` in `mode` by the quantizer's kernels (`Quantizer.quantize(_:groupSize:parameters:codes:reconstruction:)`),
  /// so the codes are exactly those an inference engine gets; accumulated in Double.
  public func outputError(
    _ values: [Float], parameters: AffineParameters, bits: Int, mode: QuantizationMode, engine: Engine
  ) throws(QuantizationError) -> Double {
    guard !values.isEmpty else { return 0 }
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
    let width = channels ?? 1
    var total = 0.0
    if let channelImportance {
      // Per channel in Float over one row, rows summed in Double.
      var row = 0
      while row < values.count {
        var sum: Float = 0
        for c in 0..<width {
          let e = values[row + c] - reconstruction[row + c]
          sum += channelImportance[c] * e * e
        }
        total += Double(sum)
        row += width
      }
    } else {
      for i in 0..<values.count {
        let e = Double(values[i]) - Double(reconstruction[i])
        total += e * e
      }
    }
    return total
  }
}

/// The per-channel importance d_c = ‖W[:, c]‖² of a layer's weight for its input channels.
public enum ChannelImportance {
  /// d_c for a weight of `shape` [out, in/groups, k…] (a Linear [out, in], or a convolution
  /// whose every kernel tap sees each input pixel) and `channels` input channels:
  /// d_c = Σ over output channels o that read c and over taps k of W[o, c mod (in/groups), k]².
  /// `channels` = shape[1] is the ordinary case; channels = m·shape[1] is a grouped
  /// convolution of m groups (output channels split evenly). Throws `.shapeMismatch` naming
  /// `weightName` when the shapes do not fit.
  public static func of(
    weight values: UnsafeBufferPointer<Float>, shape: [Int], channels: Int, weightName: String
  ) throws(QuantizationError) -> [Float] {
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
  /// Groups whose candidate lost to min-max on the held-out rows (or had none), ascending.
  public var fallbackGroups: [Int]
  /// Held-out output error of the candidate, per group.
  public var candidateErrors: [Double]
  /// Held-out output error of min-max, per group.
  public var minMaxErrors: [Double]

  /// Σ of the kept parameters' held-out errors over Σ of min-max's (≤ 1 by construction).
  public var heldOutRatio: Double {
    let kept = zip(candidateErrors, minMaxErrors).enumerated().reduce(0.0) { total, item in
      total + (fallbackGroups.contains(item.offset) ? item.element.1 : item.element.0)
    }
    let reference = minMaxErrors.reduce(0, +)
    return reference > 0 ? kept / reference : 1
  }
}

/// The held-out check that keeps an activation optimizer (or a clipping estimator) from ever
/// returning parameters worse than min-max: per time group, the candidate's output error on
/// the held-out rows is compared with that of the min-max parameters (of all the group's
/// rows, as the plain pipeline stores them); a group where the candidate is worse — or that
/// has no held-out rows to judge by — keeps min-max.
public enum ActivationGuard {
  /// Checks `candidate` against `minMax` (one pair per group each) on `data`'s held-out rows.
  public static func validate(
    candidate: [AffineParameters], minMax: [AffineParameters], data: ActivationCalibrationData, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) throws(QuantizationError) -> ActivationValidation {
    guard candidate.count == data.groups.count, minMax.count == data.groups.count else {
      throw .invalidTimeGrouping(
        reason: "layer '\(data.layer)': \(candidate.count) candidate and \(minMax.count) min-max parameter pairs for \(data.groups.count) time groups")
    }
    var kept: [AffineParameters] = [], fallbacks: [Int] = [], candidateErrors: [Double] = [], minMaxErrors: [Double] = []
    for (group, samples) in data.groups.enumerated() {
      let reference = try data.outputError(samples.heldOut, parameters: minMax[group], bits: bits, mode: mode, engine: engine)
      let proposed = candidate[group] == minMax[group]
        ? reference : try data.outputError(samples.heldOut, parameters: candidate[group], bits: bits, mode: mode, engine: engine)
      candidateErrors.append(proposed)
      minMaxErrors.append(reference)
      let judged = !samples.heldOut.isEmpty || candidate[group] == minMax[group]
      if judged && proposed <= reference {
        kept.append(candidate[group])
      } else {
        kept.append(minMax[group])
        fallbacks.append(group)
      }
    }
    return ActivationValidation(parameters: kept, fallbackGroups: fallbacks, candidateErrors: candidateErrors, minMaxErrors: minMaxErrors)
  }
}
