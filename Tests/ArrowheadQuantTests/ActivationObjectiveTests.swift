import Arrowhead
import ArrowheadQuant
import Testing

/// The output-error objective of time-aware activation parameters: calibration rows with a
/// channel layout, channel importances from the layer's weight, the fitting / held-out split,
/// and the held-out check against min-max.
@Suite("Activation objective and held-out check")
struct ActivationObjectiveTests {
  @Test func channelsAndWeightNamesParse() throws {
    let text = """
      {"layer": "up.conv", "weight": "up.conv.w", "timestep": 0, "channels": 2, "samples": [1, 2, 3, 4]}
      {"layer": "up.conv", "timestep": 0, "channels": 2, "samples": [5, 6]}
      {"layer": "up.conv", "timestep": 1, "min": 0, "max": 9}
      {"layer": "old", "timestep": 0, "samples": [1, 2, 3]}
      """
    let set = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "c.jsonl")
    #expect(set.channels(ofLayer: "up.conv") == 2 && set.channels(ofLayer: "old") == nil)
    #expect(set.weightNames == ["up.conv": "up.conv.w"])
    let merged = try #require(set.statistics["up.conv"]?[0])
    #expect(merged.samples == [1, 2, 3, 4, 5, 6] && merged.channels == 2 && merged.count == 6)
  }

  @Test func badChannelAndWeightKeysNameTheLine() {
    let cases: [(String, Int, String)] = [
      (#"{"layer": "a", "timestep": 0, "channels": 2, "samples": [1, 2, 3]}"#, 1, "divisor"),
      (#"{"layer": "a", "timestep": 0, "channels": 0, "samples": [1]}"#, 1, "channels"),
      (#"{"layer": "a", "timestep": 0, "channels": 2, "min": 0, "max": 1}"#, 1, "summary"),
      (#"{"layer": "a", "timestep": 0, "channels": 1, "samples": [1]}"# + "\n" + #"{"layer": "a", "timestep": 1, "channels": 2, "samples": [1, 2]}"#, 2, "layout"),
      (#"{"layer": "a", "timestep": 0, "samples": [1]}"# + "\n" + #"{"layer": "a", "timestep": 1, "channels": 1, "samples": [1]}"#, 2, "layout"),
      (#"{"layer": "a", "weight": "x", "timestep": 0, "samples": [1]}"# + "\n" + #"{"layer": "a", "weight": "y", "timestep": 1, "samples": [1]}"#, 2, "earlier"),
      (#"{"layer": "a", "weight": 3, "timestep": 0, "samples": [1]}"#, 1, "weight"),
    ]
    for (text, line, phrase) in cases {
      do {
        _ = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "c.jsonl")
        Issue.record("accepted: \(text)")
      } catch {
        guard case .invalidCalibration(let file, let reported, let reason) = error else {
          Issue.record("wrong error \(error)")
          continue
        }
        #expect(file == "c.jsonl" && reported == line && reason.contains(phrase), "\(text): \(error)")
      }
    }
  }

  /// d_c = Σ over outputs and taps of W[o, c, k]², by hand.
  @Test func channelImportanceSumsEachChannelsSquaredWeights() throws {
    // Linear [2 out, 3 in]: rows (1, 2, 3), (4, 5, 6) → d = (1 + 16, 4 + 25, 9 + 36).
    let linear: [Float] = [1, 2, 3, 4, 5, 6]
    #expect(try linear.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 3], channels: 3, weightName: "l") } == [17, 29, 45])
    // Conv [2 out, 2 in, 1, 2]: W[o, c, 0, k] = o·4 + c·2 + k + 1.
    let conv: [Float] = (0..<8).map { Float($0 + 1) }
    // c = 0: 1² + 2² + 5² + 6² = 66; c = 1: 3² + 4² + 7² + 8² = 138.
    #expect(try conv.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 2, 1, 2], channels: 2, weightName: "c") } == [66, 138])
    // The same weight as a grouped convolution of 2 groups reading 4 channels: output 0
    // reads channels 0, 1 (W[0]: 1…4), output 1 reads channels 2, 3 (W[1]: 5…8).
    #expect(try conv.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 2, 1, 2], channels: 4, weightName: "c") } == [5, 25, 61, 113])
    #expect(throws: QuantizationError.self) {
      try conv.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 2, 1, 2], channels: 3, weightName: "c") }
    }
    #expect(throws: QuantizationError.self) {
      try linear.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [6], channels: 6, weightName: "b") }
    }
  }

  /// A quarter of the rows (counted through the group's timesteps in order) is held out, by
  /// Fibonacci hashing: rows 3, 8, 11, 16, 21, 24, 29, 32, 37 … — evenly over residues of
  /// small periods (so spatially ordered rows do not always hold out the same pixels).
  @Test func aQuarterOfTheRowsIsHeldOut() throws {
    #expect((0..<40).filter(ActivationCalibrationData.isHeldOut(row:)) == [3, 8, 11, 16, 21, 24, 29, 32, 37])
    for period in [2, 4, 8, 16, 64] {
      var counts = [Int](repeating: 0, count: period)
      for row in 0..<100_000 where ActivationCalibrationData.isHeldOut(row: row) { counts[row % period] += 1 }
      // 25 000 held out, 25 000/period per residue: within 2 % of each other.
      #expect(Double(counts.min()!) >= 0.98 * Double(counts.max()!), "period \(period): \(counts)")
      #expect(abs(counts.reduce(0, +) - 25_000) <= 25)
    }
    var set = CalibrationSet()
    // T = 4, G = 2: group 0 = timesteps 0, 1 (rows of 2 channels: t0 rows 0…2, t1 rows 3…5),
    // group 1 = timesteps 2, 3 (only t2 calibrated).
    try set.add(layer: "l", timestep: 0, samples: [0, 0.5, 1, 1.5, 2, 2.5], channels: 2)
    try set.add(layer: "l", timestep: 1, samples: [3, 3.5, 4, 4.5, 5, 5.5], channels: 2)
    try set.add(layer: "l", timestep: 2, samples: [9, 9.5], channels: 2)
    let data = try ActivationCalibrationData(layer: "l", calibration: set, grouping: try TimeGrouping(timesteps: 4, groups: 2))
    #expect(data.channels == 2 && data.objective == "input")
    #expect(data.groups[0].fit == [0, 0.5, 1, 1.5, 2, 2.5, 4, 4.5, 5, 5.5] && data.groups[0].heldOut == [3, 3.5])
    #expect(data.groups[1].fit == [9, 9.5] && data.groups[1].heldOut.isEmpty)
    // A timestep whose rows are all the same (a time embedding's input) counts as one row:
    // over 8 such timesteps, row 3 (timestep 3) is held out.
    var embedding = CalibrationSet()
    for t in 0..<8 { try embedding.add(layer: "e", timestep: t, samples: [Float](repeating: 0, count: 4).enumerated().map { i, _ in Float(t * 10 + i % 2) }, channels: 2) }
    let collapsed = try ActivationCalibrationData(layer: "e", calibration: embedding, grouping: try TimeGrouping(timesteps: 8, groups: 1))
    #expect(collapsed.groups[0].heldOut == [30, 31])
    #expect(collapsed.groups[0].fit == [0, 1, 10, 11, 20, 21, 40, 41, 50, 51, 60, 61, 70, 71])
    var summaries = CalibrationSet()
    summaries.add(layer: "l", timestep: 0, TimestepStatistics(minimum: 0, maximum: 1, count: 4))
    #expect(throws: QuantizationError.self) {
      try ActivationCalibrationData(layer: "l", calibration: summaries, grouping: try TimeGrouping(timesteps: 1, groups: 1))
    }
  }

  /// Σ d_c·(x − x̂)² through the quantizer's kernels, on values whose codes are known:
  /// 2 bits, float minimum s = 1, m = 0 → x̂ = clamp(round(x), 0, 3).
  @Test func outputErrorWeighsEachChannel() throws {
    let rows: [Float] = [0.25, 1.5, 3.0, 7.0]  // 2 rows of 2 channels
    // Codes: round(0.25) = 0 → e = 0.25; round(1.5) = 2 (half to even) → e = −0.5;
    // 3 → e = 0; 7 clamps to 3 → e = 4.
    let parameters = AffineParameters(scale: 1, offset: 0)
    let weighted = try ActivationCalibrationData(
      layer: "l", channels: 2, channelImportance: [2, 0.5], groups: [ActivationGroupSamples(fit: rows, heldOut: [])])
    let expected = 2 * 0.0625 + 0.5 * 0.25 + 2 * 0 + 0.5 * 16
    #expect(try weighted.outputError(rows, parameters: parameters, bits: 2, mode: .floatMinimum, engine: .default) == expected)
    let plain = try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: [])
    #expect(try plain.outputError(rows, parameters: parameters, bits: 2, mode: .floatMinimum, engine: .default) == 0.0625 + 0.25 + 16)
    #expect(throws: QuantizationError.self) {
      try ActivationCalibrationData(layer: "l", channels: 3, channelImportance: [1, 1], groups: [])
    }
  }

  /// A group keeps the candidate only when its held-out error is not above min-max's;
  /// otherwise (or without held-out rows to judge by) it keeps min-max, and says so.
  @Test func theGuardKeepsMinMaxWhereTheCandidateLoses() throws {
    let heldOut: [Float] = [0, 1, 2, 3, 10]
    let groups = [
      ActivationGroupSamples(fit: [0, 10], heldOut: heldOut),
      ActivationGroupSamples(fit: [0, 10], heldOut: heldOut),
      ActivationGroupSamples(fit: [0, 10], heldOut: []),
    ]
    let data = try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: groups)
    let minMax = AffineParameters.minMax(minimum: 0, maximum: 10, bits: 2, mode: .floatMinimum)  // s = 10/3
    // Group 0's candidate clips at 3 (s = 1): held-out errors 0,0,0,0 and 7² = 49.
    // Min-max: codes round(x·0.3) → 0, 0, 1, 1, 3 → x̂ = 0, 0, 3.33, 3.33, 10 → 1 + 1.78 + 0.11 = 2.89.
    // So the clipped candidate loses in group 0; group 1's candidate is min-max itself;
    // group 2 has no held-out rows.
    let clipped = AffineParameters(scale: 1, offset: 0)
    let result = try ActivationGuard.validate(
      candidate: [clipped, minMax, clipped], minMax: [minMax, minMax, minMax], data: data, bits: 2, mode: .floatMinimum, engine: .default)
    #expect(result.parameters == [minMax, minMax, minMax])
    #expect(result.fallbackGroups == [0, 2])
    #expect(result.candidateErrors[0] == 49)
    let s = Double(Float(10) / 3)
    let reference = 1 + (s - 2) * (s - 2) + (s - 3) * (s - 3)
    // Float32 reconstruction: within a few ulps of the Double value (3 terms of size ≤ 2).
    #expect(abs(result.minMaxErrors[0] - reference) <= 1e-5)
    #expect(result.heldOutRatio == 1)
    // Held-out rows without the outlier: the clipped candidate wins on them (0 against
    // 1 + 16/9 + 1/9 = 26/9), but four rows are too few to call it (the margin below):
    // Σd = −26/9 = −2.89 while 2σ = 2·√(4·v) = 3.34 (v = 0.697, the sample variance of
    // 0, −1, −16/9, −1/9), so min-max stays. With 25 times as many rows the same gain is
    // significant (next test) and the candidate is kept.
    let easy = try ActivationCalibrationData(
      layer: "l", channels: nil, channelImportance: nil, groups: [ActivationGroupSamples(fit: [0, 10], heldOut: [0, 1, 2, 3])])
    let few = try ActivationGuard.validate(candidate: [clipped], minMax: [minMax], data: easy, bits: 2, mode: .floatMinimum, engine: .default)
    #expect(few.parameters == [minMax] && few.fallbackGroups == [0] && few.candidateErrors == [0])
    let many = try ActivationCalibrationData(
      layer: "l", channels: nil, channelImportance: nil,
      groups: [ActivationGroupSamples(fit: [0, 10], heldOut: Array([[Float]](repeating: [0, 1, 2, 3], count: 25).joined()))])
    let kept = try ActivationGuard.validate(candidate: [clipped], minMax: [minMax], data: many, bits: 2, mode: .floatMinimum, engine: .default)
    #expect(kept.parameters == [clipped] && kept.fallbackGroups.isEmpty && kept.candidateErrors == [0] && kept.heldOutRatio == 0)
    // The same 100 rows as 4 clusters (one held-out input per value: rows i with i mod 4 = c):
    // 4 observations Σd = 0, −25, −400/9, −25/9 (sum −72.22), sample variance 434.7, so
    // 2σ = 2·√(4·434.7) = 83.4 > 72.22 — the gain is not significant over four inputs, min-max stays.
    let clustered = try ActivationCalibrationData(
      layer: "l", channels: nil, channelImportance: nil,
      groups: [
        ActivationGroupSamples(
          fit: [0, 10], heldOut: Array([[Float]](repeating: [0, 1, 2, 3], count: 25).joined()), heldOutBySource: true,
          heldOutClusters: (0..<100).map { $0 % 4 })
      ])
    let refused = try ActivationGuard.validate(
      candidate: [clipped], minMax: [minMax], data: clustered, bits: 2, mode: .floatMinimum, engine: .default)
    #expect(refused.parameters == [minMax] && refused.fallbackGroups == [0] && refused.candidateErrors == [0])
    #expect(refused.heldOutSplit == "inputs" && kept.heldOutSplit == "rows")
  }

  /// The check charges a candidate for the recorded extremes it clips, in proportion to how
  /// many values the held-out rows stand for, and asks for a win by z standard errors.
  ///
  /// 100 held-out values 0, 1, 2, 3 (25 each), 2 bits, float minimum. Candidate s = 1, m = 0
  /// represents them exactly (error 0); min-max over [0, 10] (s = 10/3) errs by 0, 1, 16/9,
  /// 1/9, so the per-row differences d have Σd = −25·26/9 = −72.22 and
  /// Σ(d − d̄)² = 25·338/81 − 100·(13/18)² = 4225/81, v = 4225/(81·99), σ₁ = √(100·v) = 7.2586.
  /// Each timestep's recorded maximum 10 costs the candidate (10 − 3)² = 49 (min-max
  /// reconstructs it: 3·s = 10 up to Float rounding, ≈ 10⁻¹²). With f = population / 100:
  ///   Δ + zσ = f·(−72.22 + z·7.2586) + 49·(timesteps clipped).
  /// (Float32 arithmetic moves these sums by < 10⁻⁴; every case below is decided by ≥ 8.)
  @Test func theGuardRefusesClippingBeyondTheRecordedExtremes() throws {
    let heldOut = Array([[Float]](repeating: [0, 1, 2, 3], count: 25).joined())
    let minMax = AffineParameters.minMax(minimum: 0, maximum: 10, bits: 2, mode: .floatMinimum)
    let clipped = AffineParameters(scale: 1, offset: 0)
    func decide(extremes: [Float], population: Int, confidence: Double = ActivationGuard.defaultConfidence) throws -> ActivationValidation {
      let data = try ActivationCalibrationData(
        layer: "l", channels: nil, channelImportance: nil,
        groups: [ActivationGroupSamples(fit: [], heldOut: heldOut, extremes: extremes, population: population)])
      return try ActivationGuard.validate(
        candidate: [clipped], minMax: [minMax], data: data, bits: 2, mode: .floatMinimum, engine: .default, confidence: confidence)
    }
    // No extremes recorded, f = 1: −72.22 + 14.52 < 0 → kept.
    #expect(try decide(extremes: [], population: 100).parameters == [clipped])
    // One timestep's extremes [0, 10], f = 1: −57.70 + 49 = −8.70 → still kept.
    let one = try decide(extremes: [0, 10], population: 100)
    #expect(one.parameters == [clipped])
    #expect(one.candidateExtremeErrors == [49] && one.minMaxExtremeErrors[0] < 1e-9)
    // Two timesteps' extremes, f = 1: −57.70 + 98 = +40.3 → refused, although the candidate
    // is far better on every held-out row.
    let two = try decide(extremes: [0, 10, 0, 10], population: 100)
    #expect(two.parameters == [minMax] && two.fallbackGroups == [0] && two.candidateErrors == [0])
    // The same two extremes among 10 000 values (the rows a 1 % sample): f = 100,
    // −5770 + 98 < 0 → clipping two values of 10 000 pays, kept.
    #expect(try decide(extremes: [0, 10, 0, 10], population: 10_000).parameters == [clipped])
    // The margin: one timestep's extremes, f = 1. Without it (z = 0) −72.22 + 49 < 0 → kept;
    // at z = 4, −72.22 + 29.03 + 49 = +5.8 → refused.
    #expect(try decide(extremes: [0, 10], population: 100, confidence: 0).parameters == [clipped])
    #expect(try decide(extremes: [0, 10], population: 100, confidence: 4).parameters == [minMax])
    #expect(throws: QuantizationError.self) { try decide(extremes: [], population: 100, confidence: -1) }
    #expect(throws: QuantizationError.self) { try decide(extremes: [], population: 100, confidence: .nan) }
  }

  /// Exact extremes on sample lines: parsed, merged and collected per group with the values'
  /// count; lines without them read as before (the samples' own extremes and count).
  @Test func exactExtremesRoundTripThroughTheCalibrationFormat() throws {
    let text = """
      {"layer": "c", "weight": "c.weight", "timestep": 0, "channels": 2, "min": -7.5, "max": 9, "count": 400, "samples": [1, 2, -3, 4]}
      {"layer": "c", "timestep": 0, "channels": 2, "min": -1, "max": 12.25, "count": 100, "samples": [5, 6]}
      {"layer": "c", "timestep": 1, "channels": 2, "min": 0.5, "max": 3, "samples": [1, 2]}
      {"layer": "old", "timestep": 0, "samples": [1, -2, 0.5]}
      {"layer": "t", "timestep": 0, "min": -6, "max": 8, "count": 1000, "tails": [-6, -5.5, 8, 7.25], "samples": [0, 1]}
      {"layer": "t", "timestep": 1, "min": -1, "max": 2, "count": 1000, "samples": [0, 1]}
      """
    let set = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "c.jsonl")
    let merged = try #require(set.statistics["c"]?[0])
    #expect(merged.minimum == -7.5 && merged.maximum == 12.25 && merged.count == 500 && merged.samples == [1, 2, -3, 4, 5, 6])
    let noCount = try #require(set.statistics["c"]?[1])
    #expect(noCount.minimum == 0.5 && noCount.maximum == 3 && noCount.count == 2)
    let old = try #require(set.statistics["old"]?[0])
    #expect(old.minimum == -2 && old.maximum == 1 && old.count == 3)
    // Min-max ranges span the exact extremes, not just the samples.
    let configuration = try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 2, groups: 1), bits: 8, mode: .floatMinimum)
    let parameters = try TimeAwareCalibrator.parameters(forLayer: "c", in: set, configuration: configuration)
    #expect(parameters.groupRanges == [ActivationRange(lower: -7.5, upper: 12.25)])
    // Per group: two extremes per calibrated timestep, population = Σ counts.
    let data = try ActivationCalibrationData(layer: "c", calibration: set, grouping: try TimeGrouping(timesteps: 2, groups: 2))
    #expect(data.groups[0].extremes == [-7.5, 12.25] && data.groups[0].population == 500)
    #expect(data.groups[1].extremes == [0.5, 3] && data.groups[1].population == 2)
    let plain = try ActivationCalibrationData(layer: "old", calibration: set, grouping: try TimeGrouping(timesteps: 1, groups: 1))
    #expect(plain.groups[0].extremes == [-2, 1] && plain.groups[0].population == 3)
    // Recorded tails replace min and max (which they hold) as the values charged; a timestep
    // without tails contributes its min and max.
    #expect(set.statistics["t"]?[0]?.tails == [-6, -5.5, 8, 7.25])
    let tails = try ActivationCalibrationData(layer: "t", calibration: set, grouping: try TimeGrouping(timesteps: 2, groups: 1))
    #expect(tails.groups[0].extremes == [-6, -5.5, 8, 7.25, -1, 2] && tails.groups[0].population == 2000)
    // The API form of the same record, and its errors.
    var built = CalibrationSet()
    try built.add(layer: "c", timestep: 0, samples: [1, 2, -3, 4], channels: 2, extremes: ActivationRange(lower: -7.5, upper: 9), count: 400)
    #expect(built.statistics["c"]?[0] == TimestepStatistics(minimum: -7.5, maximum: 9, count: 400, samples: [1, 2, -3, 4], channels: 2))
    #expect(throws: QuantizationError.self) { try built.add(layer: "d", timestep: 0, samples: [1, 5], extremes: ActivationRange(lower: 0, upper: 4)) }
    #expect(throws: QuantizationError.self) { try built.add(layer: "d", timestep: 0, samples: [1, 5], count: 1) }
  }

  /// `sources` name each row's input: the check then holds out whole inputs — sources 3, 8,
  /// 11 of 0…15 (the row hash applied to the source) — at every timestep of the group; a
  /// constant timestep keeps its row number; a single source falls back to the row split.
  @Test func sourcesHoldOutWholeInputs() throws {
    // 16 images × 2 rows each, at two timesteps; a row's first value is its image, the second its timestep.
    var lines: [String] = []
    for t in 0..<2 {
      let samples = (0..<32).flatMap { row in [Float(row / 2), Float(t)] }
      let sources = (0..<32).map { $0 / 2 }
      lines.append(
        #"{"layer": "c", "timestep": \#(t), "channels": 2, "sources": \#(sources), "samples": \#(samples)}"#)
    }
    let set = try CalibrationSet.parse(jsonLines: Array(lines.joined(separator: "\n").utf8), file: "c.jsonl")
    #expect(set.statistics["c"]?[1]?.sources == (0..<32).map { $0 / 2 })
    let data = try ActivationCalibrationData(layer: "c", calibration: set, grouping: try TimeGrouping(timesteps: 2, groups: 1))
    let group = data.groups[0]
    #expect(group.heldOutBySource)
    let heldOutImages = stride(from: 0, to: group.heldOut.count, by: 2).map { Int(group.heldOut[$0]) }
    let fitImages = Set(stride(from: 0, to: group.fit.count, by: 2).map { Int(group.fit[$0]) })
    // Both rows of images 3, 8 and 11, at timestep 0 then 1; no held-out image is fitted.
    #expect(heldOutImages == [3, 3, 8, 8, 11, 11, 3, 3, 8, 8, 11, 11])
    #expect(fitImages == Set(0..<16).subtracting([3, 8, 11]))
    #expect(group.fit.count + group.heldOut.count == 128)
    // Without sources: the row split of the same rows (rows 3, 8, 11, 16, … of 64).
    var plain = CalibrationSet()
    for t in 0..<2 {
      try plain.add(layer: "c", timestep: t, samples: (0..<32).flatMap { row in [Float(row / 2), Float(t)] }, channels: 2)
    }
    let rowSplit = try ActivationCalibrationData(layer: "c", calibration: plain, grouping: try TimeGrouping(timesteps: 2, groups: 1))
    #expect(!rowSplit.groups[0].heldOutBySource && rowSplit.groups[0].heldOut.count == 2 * 16)
    // One image only: no input could be held out and fitted both, so rows are held out.
    var single = CalibrationSet()
    try single.add(layer: "s", timestep: 0, samples: (0..<16).map(Float.init), sources: [Int](repeating: 3, count: 16))
    let fallback = try ActivationCalibrationData(layer: "s", calibration: single, grouping: try TimeGrouping(timesteps: 1, groups: 1))
    #expect(!fallback.groups[0].heldOutBySource && fallback.groups[0].heldOut == [3, 8, 11])
    // Merging: sources concatenate when both lines give them, and are dropped when one does not.
    var merged = CalibrationSet()
    try merged.add(layer: "m", timestep: 0, samples: [1, 2], sources: [0, 1])
    try merged.add(layer: "m", timestep: 0, samples: [3], sources: [2])
    #expect(merged.statistics["m"]?[0]?.sources == [0, 1, 2])
    try merged.add(layer: "m", timestep: 0, samples: [4])
    #expect(merged.statistics["m"]?[0]?.sources == [])
    #expect(throws: QuantizationError.self) { try merged.add(layer: "n", timestep: 0, samples: [1, 2], channels: 2, sources: [0, 1]) }
    #expect(throws: QuantizationError.self) { try merged.add(layer: "n", timestep: 0, samples: [1, 2], sources: [0, -1]) }
  }

  @Test func badExtremesOnSampleLinesNameTheLine() {
    let cases: [(String, String)] = [
      (#"{"layer": "a", "timestep": 0, "min": 0, "samples": [1]}"#, "min"),
      (#"{"layer": "a", "timestep": 0, "min": 2, "max": 1, "samples": [1.5]}"#, "min"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 1, "samples": [1, 2]}"#, "every sample"),
      (#"{"layer": "a", "timestep": 0, "min": -3, "max": 1, "samples": [-4]}"#, "every sample"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 9, "count": 1, "samples": [1, 2]}"#, "count"),
      (#"{"layer": "a", "timestep": 0, "count": 9, "samples": [1, 2]}"#, "count"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 9, "percentiles": {"99": 2}, "samples": [1, 2]}"#, "percentiles"),
      (#"{"layer": "a", "timestep": 0, "tails": [1], "samples": [1, 2]}"#, "tails"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 9, "tails": [10], "samples": [1, 2]}"#, "tails[0]"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 9, "tails": 3, "samples": [1, 2]}"#, "tails"),
      (#"{"layer": "a", "timestep": 0, "sources": [0], "samples": [1, 2]}"#, "sources"),
      (#"{"layer": "a", "timestep": 0, "channels": 2, "sources": [0, 1], "samples": [1, 2]}"#, "sources"),
      (#"{"layer": "a", "timestep": 0, "sources": [0, -1], "samples": [1, 2]}"#, "sources[1]"),
      (#"{"layer": "a", "timestep": 0, "sources": [0, 1.5], "samples": [1, 2]}"#, "sources[1]"),
      (#"{"layer": "a", "timestep": 0, "sources": 2, "samples": [1, 2]}"#, "sources"),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 1, "sources": [0]}"#, "sources"),
    ]
    for (text, word) in cases {
      do {
        _ = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "c.jsonl")
        Issue.record("accepted: \(text)")
      } catch {
        guard case .invalidCalibration(let file, let line, let reason) = error else {
          Issue.record("wrong error \(error)")
          continue
        }
        #expect(file == "c.jsonl" && line == 1 && reason.contains(word), "\(text): \(reason)")
      }
    }
  }
}
