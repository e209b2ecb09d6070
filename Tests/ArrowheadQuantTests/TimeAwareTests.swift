import ArrowheadQuant
import Testing

@Suite("Time-aware activation parameters")
struct TimeAwareTests {
  @Test func groupsSplitAtFloorOfITimesTOverG() throws {
    let grouping = try TimeGrouping(timesteps: 10, groups: 3)
    // ⌊0·10/3⌋ = 0, ⌊10/3⌋ = 3, ⌊20/3⌋ = 6, ⌊30/3⌋ = 10.
    #expect(grouping.boundaries == [0, 3, 6, 10])
    #expect(try (0..<10).map { try grouping.group(ofTimestep: $0) } == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    for (timesteps, groups) in [(1000, 10), (1000, 7), (50, 50), (7, 1), (999, 13)] {
      let g = try TimeGrouping(timesteps: timesteps, groups: groups)
      for t in 0..<timesteps {
        let index = try g.group(ofTimestep: t)
        #expect(g.timesteps(ofGroup: index).contains(t), "T \(timesteps) G \(groups) t \(t)")
      }
    }
    #expect(throws: QuantizationError.self) { try TimeGrouping(timesteps: 10, groups: 11) }
    #expect(throws: QuantizationError.self) { try TimeGrouping(timesteps: 10, groups: 0) }
  }

  @Test func betaSchedulesMatchTheirClosedForms() throws {
    let linear = try BetaSchedule.linear(timesteps: 1000)
    #expect(linear.betas.first == 1e-4 && abs(linear.betas[999] - 0.02) < 1e-15)
    #expect(abs(linear.betas[500] - (1e-4 + (0.02 - 1e-4) * 500 / 999)) < 1e-15)
    // ᾱ is the running product of (1 − β).
    var product = 1.0
    for t in 0..<1000 { product *= 1 - linear.betas[t] }
    #expect(abs(linear.alphaProducts[999] - product) < 1e-15)
    let cosine = try BetaSchedule.cosine(timesteps: 1000)
    // ᾱ_t = f(t + 1)/f(0) exactly when no β was clipped at 0.999.
    func f(_ t: Double) -> Double {
      let c = _cosTest((t / 1000 + 0.008) / 1.008 * Double.pi / 2)
      return c * c
    }
    for t in [0, 100, 500, 900] {
      #expect(abs(cosine.alphaProducts[t] - f(Double(t + 1)) / f(0)) < 1e-12, "t \(t)")
    }
    #expect(cosine.betas.max()! <= 0.999)
    #expect(cosine.noiseStandardDeviations[999] > cosine.noiseStandardDeviations[0])
    #expect(throws: QuantizationError.self) { try BetaSchedule.linear(timesteps: 10, start: 0.1, end: 0.01) }
  }

  @Test func calibrationLinesParseAndMerge() throws {
    let text = """
      {"layer": "a", "timestep": 0, "samples": [1, -2, 0.5]}

      {"layer": "a", "timestep": 0, "samples": [3]}
      {"layer": "b", "timestep": 4, "min": -1.5, "max": 2, "count": 10, "percentiles": {"1": -1, "99": 1.5}, "mean": 0.1}
      """
    let set = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "cal.jsonl")
    #expect(set.layers == ["a", "b"])
    let a = try #require(set.statistics["a"]?[0])
    #expect(a.minimum == -2 && a.maximum == 3 && a.count == 4 && a.samples == [1, -2, 0.5, 3])
    let b = try #require(set.statistics["b"]?[4])
    #expect(b.percentiles == [1: -1, 99: 1.5] && b.count == 10)
    #expect(set.maximumTimestep == 4)
  }

  @Test func badCalibrationLinesNameFileAndLine() {
    let cases: [(String, Int)] = [
      (#"{"layer": "a", "timestep": 0, "samples": [1]}"# + "\n" + #"{"layer": "a", "timestep": -1, "samples": [1]}"#, 2),
      (#"{"layer": "a", "timestep": 0}"#, 1),
      (#"{"layer": "a", "timestep": 0, "min": 2, "max": 1}"#, 1),
      (#"{"layer": "a", "timestep": 0, "samples": []}"#, 1),
      (#"{"timestep": 0, "samples": [1]}"#, 1),
      ("\n\n" + #"{"layer": "a", "timestep": 0, "samples": [1, "x"]}"#, 3),
      (#"{"layer": "a", "timestep": 0, "min": 0, "max": 1, "percentiles": {"99": 5}}"#, 1),
      (#"{"layer": "a", "timestep": 0, "samples": [1], "min": 0, "max": 0.5}"#, 1),
      (#"{"layer": "a" "timestep": 0}"#, 1),
    ]
    for (text, line) in cases {
      do {
        _ = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "cal.jsonl")
        Issue.record("accepted: \(text)")
      } catch {
        guard case .invalidCalibration(let file, let reported, _) = error else {
          Issue.record("wrong error \(error)")
          continue
        }
        #expect(file == "cal.jsonl" && reported == line, "\(text): \(error)")
      }
    }
  }

  /// Calibration whose range grows with the noise level √(1 − ᾱ_t) of a cosine schedule,
  /// one summary line per timestep.
  func scheduleCalibration(timesteps: Int, layer: String = "layer") throws -> CalibrationSet {
    let schedule = try BetaSchedule.cosine(timesteps: timesteps)
    var set = CalibrationSet()
    for (t, sigma) in schedule.noiseStandardDeviations.enumerated() {
      let spread = Float(0.5 + 3 * sigma)
      set.add(layer: layer, timestep: t, TimestepStatistics(minimum: -spread, maximum: 1.2 * spread, count: 1, samples: [], percentiles: [:]))
    }
    return set
  }

  @Test func groupParametersAreMinMaxOfTheGroupsRange() throws {
    var set = CalibrationSet()
    // Timesteps 0..<4 in 2 groups: group 0 sees [-1, 3], group 1 sees [-4, 2].
    try set.add(layer: "l", timestep: 0, samples: [-1, 1])
    try set.add(layer: "l", timestep: 1, samples: [0, 3])
    try set.add(layer: "l", timestep: 2, samples: [-4, 1])
    try set.add(layer: "l", timestep: 3, samples: [2])
    let configuration = try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 4, groups: 2), bits: 8, mode: .zeroPoint)
    let parameters = try TimeAwareCalibrator.parameters(forLayer: "l", in: set, configuration: configuration)
    #expect(parameters.groupRanges == [ActivationRange(lower: -1, upper: 3), ActivationRange(lower: -4, upper: 2)])
    // Group 0: s = (3 − (−1))/255 = 4/255 in Float32, z = round(1/s) = round(63.75) = 64.
    // Group 1: s = (2 − (−4))/255 = 6/255, z = round(4/s) = round(170.0) = 170.
    #expect(parameters.groupParameters[0] == AffineParameters(scale: Float(4) / 255, offset: 64))
    #expect(parameters.groupParameters[1] == AffineParameters(scale: Float(6) / 255, offset: 170))
    #expect(try parameters.parameters(atTimestep: 3) == parameters.groupParameters[1])
    // A group without statistics, or a timestep beyond T, is an error naming the layer.
    let sparse = try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 8, groups: 4))
    #expect(throws: QuantizationError.self) { try TimeAwareCalibrator.parameters(forLayer: "l", in: set, configuration: sparse) }
    let short = try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 3, groups: 1))
    #expect(throws: QuantizationError.self) { try TimeAwareCalibrator.parameters(forLayer: "l", in: set, configuration: short) }
  }

  @Test func percentileRangesClipOutliers() throws {
    var set = CalibrationSet()
    try set.add(layer: "l", timestep: 0, samples: (0...100).map { Float($0) } + [10_000])
    let configuration = try TimeAwareConfiguration(
      grouping: try TimeGrouping(timesteps: 1, groups: 1), estimator: .percentile(99))
    let range = try TimeAwareCalibrator.parameters(forLayer: "l", in: set, configuration: configuration).groupRanges[0]
    // 102 samples: position 0.99·101 = 99.99 → 99 + 0.99·(100 − 99) = 99.99; lower 0.01·101 = 1.01.
    #expect(abs(range.upper - 99.99) < 1e-4 && abs(range.lower - 1.01) < 1e-4)
    #expect(throws: QuantizationError.self) {
      try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 1, groups: 1), estimator: .percentile(40))
    }
  }

  @Test(arguments: SmoothingCurve.allCases)
  func smoothingBlendsBoundariesAndNeverTouchesInteriors(_ curve: SmoothingCurve) throws {
    let grouping = try TimeGrouping(timesteps: 100, groups: 5)
    let set = try scheduleCalibration(timesteps: 100)
    let window = 4
    let configuration = try TimeAwareConfiguration(grouping: grouping, smoothing: try BoundarySmoothing(curve: curve, window: window))
    let parameters = try TimeAwareCalibrator.parameters(forLayer: "layer", in: set, configuration: configuration)
    let table = try #require(parameters.timestepParameters)
    let boundaries = grouping.boundaries.dropFirst().dropLast()
    for t in 0..<100 {
      let nearBoundary = boundaries.contains { abs(t - $0) <= window && t >= $0 - window && t < $0 + window }
      if !nearBoundary {
        #expect(table[t] == parameters.groupParameters[try grouping.group(ofTimestep: t)], "interior timestep \(t) changed")
      }
    }
    // Across each boundary the blended upper range moves monotonically from one group to the next.
    let smoothing = try BoundarySmoothing(curve: curve, window: window)
    let ranges = try smoothing.timestepRanges(parameters.groupRanges, grouping: grouping)
    for boundary in boundaries {
      let left = parameters.groupRanges[try grouping.group(ofTimestep: boundary - 1)].upper
      let right = parameters.groupRanges[try grouping.group(ofTimestep: boundary)].upper
      var previous = left
      for t in (boundary - window)..<(boundary + window) {
        #expect((ranges[t].upper - previous) * (right - left) >= 0, "not monotone at \(t)")
        #expect(min(left, right) <= ranges[t].upper && ranges[t].upper <= max(left, right))
        previous = ranges[t].upper
      }
    }
    #expect(smoothing.weight(0) == 0 && abs(smoothing.weight(1) - 1) < 1e-12 && abs(smoothing.weight(0.5) - 0.5) < 1e-12)
    // Smoothing makes per-step jumps smaller than the raw group jumps.
    let timestepReport = try #require(parameters.timestepSmoothness)
    let largestGroupJump = parameters.groupSmoothness.boundaries.map(\.relativeScaleJump).max() ?? 0
    let largestStepJump = timestepReport.boundaries.map(\.relativeScaleJump).max() ?? 0
    #expect(largestStepJump < largestGroupJump)
    #expect(timestepReport.score >= parameters.groupSmoothness.score)
    // A window that would swallow a group's interior (groups of 20: at most 9) is refused.
    #expect(throws: QuantizationError.self) {
      try BoundarySmoothing(curve: curve, window: 10).timestepRanges(parameters.groupRanges, grouping: grouping)
    }
    #expect(BoundarySmoothing.maximumWindow(for: grouping) == 9)
  }

  @Test func theValidatorMeasuresJumpsAndGradesViolations() throws {
    // Scales 1 → 1.1 (jump 0.0909) → 2 (jump 0.45: 1.5× the 0.3 threshold, low) →
    // 0.2 (jump 0.9: 3×, medium); zero-points 10 → 10 → 10 → 200 (190/255 = 0.745: 7.45×, high).
    let parameters = [
      AffineParameters(scale: 1, offset: 10), AffineParameters(scale: 1.1, offset: 10),
      AffineParameters(scale: 2, offset: 10), AffineParameters(scale: 0.2, offset: 200),
    ]
    let report = try SmoothnessValidator.validate(parameters, bits: 8, mode: .zeroPoint)
    #expect(report.boundaries.count == 3)
    #expect(abs(report.boundaries[0].relativeScaleJump - 0.1 / 1.1) < 1e-7)
    #expect(report.boundaries[0].severity == nil)
    #expect(report.boundaries[1].severity == .low)
    #expect(report.boundaries[2].severity == .high)
    #expect(report.violations.map(\.index) == [2, 1])
    // Score = 1 − mean(max(scale jump, zp jump/255)) = 1 − (0.0909 + 0.45 + 0.9)/3.
    #expect(abs(report.score - (1 - (0.1 / 1.1 + 0.45 + 0.9) / 3)) < 1e-6)
    #expect(!report.isSmooth)
    #expect(try SmoothnessValidator.validate([parameters[0]], bits: 8, mode: .zeroPoint).score == 1)
    // Float minima are compared as equivalent zero-points −m/s.
    let minima = try SmoothnessValidator.validate(
      [AffineParameters(scale: 1, offset: -10), AffineParameters(scale: 1, offset: -12)], bits: 8, mode: .floatMinimum)
    #expect(minima.boundaries[0].zeroPointJump == 2)
  }
}

#if canImport(Glibc)
import Glibc
func _cosTest(_ x: Double) -> Double { Glibc.cos(x) }
#endif
