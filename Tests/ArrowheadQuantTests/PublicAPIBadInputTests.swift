import Arrowhead
import ArrowheadQuant
import Testing

/// Shapes a Swift caller may pass to the quantizer and to `QuantizedTensor`'s initializers:
/// negative dimensions or dimensions whose product overflows get `.shapeMismatch`, never
/// an overflow trap or an invalid range.
@Suite struct QuantPublicAPIBadInputTests {
  static let tooLarge = "at most \(QuantizedModelFormat.maximumElements) weights (the dimensions multiplied, zeros aside)"

  @Test func quantizerRejectsShapesWhoseProductOverflows() throws {
    let quantizer = Quantizer(scheme: try QuantizationScheme())
    for shape in [[Int.max, 2], [1 << 32, 1 << 32], [2, Int.max, 2], [1 << 49]] {
      #expect(throws: QuantizationError.shapeMismatch(tensor: "w", expected: Self.tooLarge, actual: "\(shape)")) {
        try quantizer.quantize([], shape: shape, name: "w")
      }
    }
    // Empty tensors stay valid.
    #expect(try quantizer.quantize([], shape: [0, 64]).shape == [0, 64])
  }

  @Test func layoutAndBitsPerWeightRejectNegativeAndOverflowingShapes() throws {
    let scheme = try QuantizationScheme()
    // [Int.max, 2] used to trap (rows · columns overflowed); [-1, -1] gave 0 bits per weight.
    for shape in [[Int.max, 2], [1 << 32, 1 << 32], [0, Int.max, Int.max]] {
      let expected = QuantizationError.shapeMismatch(tensor: "w", expected: Self.tooLarge, actual: "\(shape)")
      #expect(throws: expected) { try scheme.layout(shape: shape, tensor: "w") }
      #expect(throws: expected) { try scheme.bitsPerWeight(shape: shape, tensor: "w") }
    }
    #expect(throws: QuantizationError.shapeMismatch(tensor: "tensor", expected: "non-negative dimensions", actual: "[-1, -1]")) {
      try scheme.bitsPerWeight(shape: [-1, -1])
    }
    #expect(try scheme.bitsPerWeight(shape: [384, 384]) == 5)
    #expect(try scheme.layout(shape: [0, 64]).count == 0)
  }

  @Test func tensorFromCodesRejectsNegativeAndOverflowingShapes() throws {
    let scheme = try QuantizationScheme(bits: 4, granularity: .perChannel)
    let one = [AffineParameters(scale: 1, offset: 0)]
    // [-1, -1] has a "count" of 1: it used to reach a 0..<-1 range and trap.
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: "non-negative dimensions", actual: "[-1, -1]")) {
      try QuantizedTensor(shape: [-1, -1], scheme: scheme, codes: [0], parameters: one, name: "t")
    }
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: Self.tooLarge, actual: "[\(Int.max), 2]")) {
      try QuantizedTensor(shape: [Int.max, 2], scheme: scheme, codes: [], parameters: [], name: "t")
    }
    let valid = try QuantizedTensor(shape: [1, 2], scheme: scheme, codes: [3, 5], parameters: one)
    #expect(valid.dequantized() == [3, 5])
  }

  @Test func tensorFromPartsRejectsOverflowingShapesEvenWithAZero() throws {
    let scheme = try QuantizationScheme()
    // The total is 0, but the layout multiplies the trailing dimensions on their own.
    let shape = [0, Int.max, Int.max]
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: Self.tooLarge, actual: "\(shape)")) {
      try QuantizedTensor(shape: shape, scheme: scheme, packedCodes: [], scales: [], offsets: [], name: "t")
    }
    #expect(try QuantizedTensor(shape: [0, 64], scheme: scheme, packedCodes: [], scales: [], offsets: []).count == 0)
  }
}

/// Many rows of zero columns: nothing to walk, so no loop over the rows (2⁴⁸ of them used to
/// spin for hours).
@Suite struct QuantEmptyRowsTests {
  @Test func tensorsAndMatricesOfManyEmptyRowsAreImmediate() throws {
    let rows = QuantizedModelFormat.maximumElements
    let scheme = try QuantizationScheme(bits: 4, granularity: .perChannel)
    let fromCodes = try QuantizedTensor(shape: [rows, 0], scheme: scheme, codes: [], parameters: [])
    #expect(fromCodes.codes().isEmpty && fromCodes.dequantized().isEmpty)
    let layout = try QuantizedMatrixLayout(rows: rows, columns: 0, bits: 4, groupSize: 8, form: .zeroPoint)
    let matrix = try QuantizedMatrix(layout: layout, codes: [], scales: [], offsets: [])
    #expect(try QuantizedTensor(matrix).count == 0)
  }
}

/// Timesteps and timestep counts a caller (a sampler, a CLI flag) passes to the time-aware API.
@Suite struct QuantTimeAwareBadInputTests {
  @Test func groupOfTimestepRejectsTimestepsOutsideTheSchedule() throws {
    let grouping = try TimeGrouping(timesteps: 10, groups: 3)
    // Int.max used to trap (timestep·G overflowed); −1 and 10 were clamped to groups 0 and 2.
    for timestep in [Int.max, Int.min, -1, 10] {
      #expect(throws: QuantizationError.invalidTimeGrouping(reason: "timestep \(timestep) is outside 0..<10 (10 timesteps in 3 groups)")) {
        try grouping.group(ofTimestep: timestep)
      }
    }
    #expect(try grouping.group(ofTimestep: 9) == 2)
  }

  @Test func parametersAtTimestepRejectsTimestepsOutsideTheSchedule() throws {
    var calibration = CalibrationSet()
    for t in 0..<10 { try calibration.add(layer: "l", timestep: t, samples: [Float(t), 1, 2]) }
    let grouping = try TimeGrouping(timesteps: 10, groups: 2)
    let plain = try TimeAwareCalibrator.parameters(forLayer: "l", in: calibration, configuration: TimeAwareConfiguration(grouping: grouping))
    // With a smoothed table, timestep 10 used to trap (index out of range); without, it was clamped.
    let smoothed = try TimeAwareCalibrator.parameters(
      forLayer: "l", in: calibration,
      configuration: TimeAwareConfiguration(grouping: grouping, smoothing: BoundarySmoothing(curve: .linear, window: 1)))
    for parameters in [plain, smoothed] {
      for timestep in [10, -3, Int.max] {
        #expect(throws: QuantizationError.invalidTimeGrouping(reason: "layer 'l': timestep \(timestep) is outside 0..<10")) {
          try parameters.parameters(atTimestep: timestep)
        }
      }
      #expect(try parameters.parameters(atTimestep: 9) == (parameters.timestepParameters?[9] ?? parameters.groupParameters[1]))
    }
  }

  @Test func betaSchedulesRejectTimestepCountsBeyondTheCap() throws {
    // Int.max used to crash allocating the schedule.
    for timesteps in [Int.max, TimeGrouping.maximumTimesteps + 1, 0, -1] {
      let expected = QuantizationError.invalidOption(name: "timesteps", value: "\(timesteps)", expected: "1…\(TimeGrouping.maximumTimesteps)")
      #expect(throws: expected) { try BetaSchedule.linear(timesteps: timesteps) }
      #expect(throws: expected) { try BetaSchedule.cosine(timesteps: timesteps) }
    }
    #expect(try BetaSchedule.cosine(timesteps: 1000).timesteps == 1000)
  }
}
