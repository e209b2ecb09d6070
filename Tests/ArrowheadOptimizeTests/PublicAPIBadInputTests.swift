import Arrowhead
import ArrowheadOptimize
import ArrowheadQuant
import Testing

/// GPTQ given a shape whose product overflows: a typed error, never an overflow trap.
@Suite struct OptimizePublicAPIBadInputTests {
  @Test func gptqRejectsShapesWhoseProductOverflows() throws {
    let hessian = try GPTQHessian(inputs: [1, 2, 3, 4], columns: 2)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(8))
    let expected = "at most \(QuantizedModelFormat.maximumElements) weights (the dimensions multiplied, zeros aside)"
    #expect(throws: OptimizationError.quantization(.shapeMismatch(tensor: "w", expected: expected, actual: "[\(Int.max), 2]"))) {
      try GPTQQuantizer().quantize([Float](), shape: [Int.max, 2], scheme: scheme, hessian: hessian, name: "w")
    }
  }
}

/// Counts, starting points and layouts a caller passes to the activation optimizers.
@Suite struct OptimizeActivationBadInputTests {
  @Test func syntheticActivationsRefuseNegativeAndHugeCounts() throws {
    // −1 gave empty groups silently, −11 trapped (a negative per-timestep count), Int.max
    // crashed allocating.
    for count in [-1, -11, Int.max, SyntheticActivations.maximumCount + 1] {
      #expect(throws: QuantizationError.invalidOption(name: "count", value: "\(count)", expected: "a number of samples in 0…\(1 << 30)")) {
        try SyntheticActivations.timeGrouped(count: count, timesteps: 10, groups: 2)
      }
    }
    #expect(try SyntheticActivations.timeGrouped(count: 0, timesteps: 10, groups: 2) == [[], []])
    #expect(try SyntheticActivations.timeGrouped(count: 100, timesteps: 10, groups: 2).map(\.count) == [50, 50])
  }

  @Test func thermodynamicStartingPointsMustMatchTheGroups() throws {
    let loss = try ThermodynamicLoss(groups: [[1, 2, 3], [4, 5, 6]], bits: 8, mode: .zeroPoint, divergenceWeight: 1, smoothnessWeight: 1)
    let optimizer = try ThermodynamicOptimizer(maximumIterations: 5)
    // A shorter starting point used to trap (index out of range); a NaN zero-point trapped too.
    #expect(throws: OptimizationError.shapeMismatch(tensor: "starting point of layer 'activations'", expected: "2 parameter pairs (one per time group)", actual: "1 pairs")) {
      try optimizer.optimize(loss, from: [ContinuousParameters(scale: 1, zeroPoint: 0)])
    }
    for zeroPoint in [Double.nan, .infinity, 1e300] {
      #expect(throws: OptimizationError.invalidSetting(name: "starting zero-point of time group 1 of layer 'activations'", value: "\(zeroPoint)", expected: "a finite value")) {
        try optimizer.optimize(loss, from: [ContinuousParameters(scale: 1, zeroPoint: 0), ContinuousParameters(scale: 1, zeroPoint: zeroPoint)])
      }
    }
    let result = try optimizer.optimize(loss, from: loss.minMaxParameters())
    #expect(result.parameters.count == 2)
  }

  @Test func importancesNeedAChannelCountOfAtLeastOne() throws {
    let expected = OptimizationError.invalidSetting(name: "channels of layer 'activations'", value: "0", expected: "an integer ≥ 1 (rows of that many channel values)")
    // Channels 0 with an empty importance list was accepted.
    #expect(throws: expected) {
      try ThermodynamicLoss(groups: [[1, 2, 3]], bits: 8, mode: .zeroPoint, divergenceWeight: 1, smoothnessWeight: 1, channels: 0, importance: [])
    }
    #expect(throws: expected) { try ClippingSearch().search(groups: [[1, 2, 3]], bits: 8, mode: .zeroPoint, channels: 0, importance: []) }
  }

  @Test func smoothnessNeedsASupportedWidthAndFiniteParameters() throws {
    let parameters = [AffineParameters(scale: 1, offset: 2), AffineParameters(scale: 2, offset: 3)]
    // Widths 0 and 64 gave a code range of 0 or −1 and a meaningless score.
    for bits in [0, 1, 9, 64, -1, Int.max, Int.min] {
      #expect(throws: QuantizationError.unsupportedBits(bits, supported: QuantizationScheme.supportedBits)) {
        try SmoothnessValidator.validate(parameters, bits: bits, mode: .zeroPoint)
      }
    }
    #expect(throws: QuantizationError.invalidParameters(tensor: "time-group parameters", group: 1, reason: "scale nan, offset 3.0: smoothness needs finite parameters")) {
      try SmoothnessValidator.validate([parameters[0], AffineParameters(scale: .nan, offset: 3)], bits: 8, mode: .zeroPoint)
    }
    #expect(try SmoothnessValidator.validate(parameters, bits: 8, mode: .zeroPoint).boundaries.count == 1)
  }
}

/// Calibration inputs that are finite but whose Hessian is not.
@Suite struct OptimizeHessianBadInputTests {
  @Test func inputsThatOverflowTheHessianAreRefusedNamingTheEntry() throws {
    // 1e20² overflows Float32: this used to be reported later as a degenerate Hessian
    // ("Cholesky failed at column -1").
    #expect(throws: OptimizationError.invalidSetting(
      name: "H = XᵀX of 'x'", value: "inf at [0, 0]",
      expected: "finite entries: inputs whose column sums of squares stay within Float32 (scale them down)")) {
      try GPTQHessian(inputs: [1e20, 2e20, 3, 4, 5, 6, 7, 8], columns: 8, name: "x")
    }
    #expect(try GPTQHessian(inputs: [1e15, 2, 3, 4], columns: 2).order == 2)
  }
}
