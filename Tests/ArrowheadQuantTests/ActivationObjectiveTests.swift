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
    // Held-out rows without the outlier: the clipped candidate wins and is kept.
    let easy = try ActivationCalibrationData(
      layer: "l", channels: nil, channelImportance: nil, groups: [ActivationGroupSamples(fit: [0, 10], heldOut: [0, 1, 2, 3])])
    let kept = try ActivationGuard.validate(candidate: [clipped], minMax: [minMax], data: easy, bits: 2, mode: .floatMinimum, engine: .default)
    #expect(kept.parameters == [clipped] && kept.fallbackGroups.isEmpty && kept.candidateErrors == [0] && kept.heldOutRatio == 0)
  }
}
