import Arrowhead
import ArrowheadQuant
import Foundation
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

/// Activation calibration data built by hand (its parts are public) or from statistics added
/// without the file parser's checks.
@Suite struct QuantActivationDataBadInputTests {
  static let parameters = AffineParameters(scale: 0.03, offset: 1)

  @Test func channelCountsBelowOneAreRefused() throws {
    let group = ActivationGroupSamples(fit: [1, 2], heldOut: [3, 4])
    // channels 0 and −2 used to trap in rowErrors (a row of no samples).
    for channels in [0, -2] {
      let expected = QuantizationError.invalidOption(name: "channels of layer 'l'", value: "\(channels)", expected: "nil (no layout) or an integer ≥ 1")
      #expect(throws: expected) { try ActivationCalibrationData(layer: "l", channels: channels, channelImportance: nil, groups: [group]) }
      var data = try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: [group])
      data.channels = channels
      #expect(throws: expected) { try data.rowErrors([1, 2, 3], parameters: Self.parameters, bits: 8, mode: .floatMinimum, engine: .default) }
      #expect(throws: expected) {
        try ActivationGuard.validate(candidate: [Self.parameters], minMax: [Self.parameters], data: data, bits: 8, mode: .floatMinimum, engine: .default)
      }
    }
    // A record added without the parser's checks: channels 0 used to trap (division by zero).
    var calibration = CalibrationSet()
    calibration.add(layer: "p", timestep: 0, TimestepStatistics(minimum: 0, maximum: 1, count: 4, samples: [0, 1, 0.5, 0.2], channels: 0))
    #expect(throws: QuantizationError.invalidOption(name: "channels of layer 'p'", value: "0", expected: "nil (no layout) or an integer ≥ 1")) {
      try ActivationCalibrationData(layer: "p", calibration: calibration, grouping: TimeGrouping(timesteps: 1, groups: 1))
    }
    let valid = try ActivationCalibrationData(layer: "l", channels: 2, channelImportance: [1, 2], groups: [group])
    #expect(try valid.rowErrors([1, 2], parameters: Self.parameters, bits: 8, mode: .floatMinimum, engine: .default).count == 1)
  }

  @Test func heldOutClustersOutsideTheHeldOutRowsAreRefused() throws {
    // A negative cluster used to trap in ActivationGuard (it indexes an array of sums).
    for clusters in [[-1, 0, 1, 1], [0, 1, 9, 1], [0, 1]] {
      let group = ActivationGroupSamples(fit: [1, 2, 3], heldOut: [1, 2, 3, 4], heldOutBySource: true, heldOutClusters: clusters)
      let expected = QuantizationError.invalidOption(
        name: "held-out clusters of time group 0 of layer 'l'", value: "\(clusters.count) values (\(clusters.min() ?? 0)…\(clusters.max() ?? 0))",
        expected: "none, or one identifier in 0..<4 per held-out row (4 rows)")
      #expect(throws: expected) { try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: [group]) }
      var data = try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: [])
      data.groups = [group]
      #expect(throws: expected) {
        try ActivationGuard.validate(
          candidate: [AffineParameters(scale: 0.02, offset: 1)], minMax: [Self.parameters], data: data, bits: 8, mode: .floatMinimum, engine: .default)
      }
    }
    let group = ActivationGroupSamples(fit: [1, 2, 3], heldOut: [1, 2, 3, 4], heldOutBySource: true, heldOutClusters: [0, 1, 1, 2])
    let data = try ActivationCalibrationData(layer: "l", channels: nil, channelImportance: nil, groups: [group])
    #expect(try ActivationGuard.validate(candidate: [Self.parameters], minMax: [Self.parameters], data: data, bits: 8, mode: .floatMinimum, engine: .default).parameters == [Self.parameters])
  }

  @Test func channelImportanceRejectsNegativeAndOverflowingShapes() throws {
    let values: [Float] = [1, 2, 3, 4]
    // [1, 1, Int.max, 2] used to trap; [2, 1, -1, -2] gave importances of a made-up shape.
    #expect(throws: QuantizationError.shapeMismatch(tensor: "w", expected: QuantPublicAPIBadInputTests.tooLarge, actual: "[1, 1, \(Int.max), 2]")) {
      try values.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [1, 1, Int.max, 2], channels: 1, weightName: "w") }
    }
    #expect(throws: QuantizationError.shapeMismatch(tensor: "w", expected: "non-negative dimensions", actual: "[2, 1, -1, -2]")) {
      try values.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 1, -1, -2], channels: 1, weightName: "w") }
    }
    #expect(try values.withUnsafeBufferPointer { try ChannelImportance.of(weight: $0, shape: [2, 2], channels: 2, weightName: "w") } == [10, 20])
  }
}

/// Bit allocation candidates built by hand: counts, bytes and errors a caller computed.
@Suite struct QuantBitAllocationBadInputTests {
  static let options = [
    BitAllocation.Option(bits: 8, storedBytes: 100, weightedSquaredError: 0), BitAllocation.Option(bits: 4, storedBytes: 50, weightedSquaredError: 1),
  ]

  @Test func countsBytesAndErrorsThatCannotBeAllocatedAreRefused() throws {
    let name = "bit allocation of 'a'"
    // A negative count used to be ignored (the widest width returned); two Int.max counts trapped.
    #expect(throws: QuantizationError.invalidOption(name: name, value: "count -5", expected: "a weight count ≥ 0")) {
      try BitAllocation.allocate([.init(name: "a", count: -5, options: Self.options)], budget: 4)
    }
    #expect(throws: QuantizationError.invalidOption(name: "bit allocation of 'b'", value: "count \(Int.max)", expected: "weight counts whose sum is at most \(Int.max)")) {
      try BitAllocation.allocate([.init(name: "a", count: Int.max, options: Self.options), .init(name: "b", count: Int.max, options: Self.options)], budget: 4)
    }
    // Stored bytes near Int.max trapped (8 · bytes); a NaN error steered the allocation silently.
    #expect(throws: QuantizationError.invalidOption(name: name, value: "\(Int.max) stored bytes at 8 bits", expected: "0…\(Int.max / 8) bytes")) {
      try BitAllocation.allocate([.init(name: "a", count: 10, options: [.init(bits: 8, storedBytes: Int.max, weightedSquaredError: 0)])], budget: 4)
    }
    #expect(throws: QuantizationError.invalidOption(name: name, value: "weighted squared error nan at 4 bits", expected: "a finite value ≥ 0")) {
      try BitAllocation.allocate([.init(name: "a", count: 100, options: [Self.options[0], .init(bits: 4, storedBytes: 50, weightedSquaredError: .nan)])], budget: 6)
    }
    #expect(try BitAllocation.allocate([.init(name: "a", count: 100, options: Self.options)], budget: 4.5) == [4])
  }

  @Test func aBudgetWithoutWidthsIsRefusedBeforeAnyWork() throws {
    let directory = quantTemporaryDirectory()
    let input = try makeToyModel(in: directory)
    let options = ModelQuantizationOptions(scheme: try QuantizationScheme(), budget: 4, budgetWidths: [])
    // It used to keep every tensor in floating point, blaming the cosine fall-back.
    #expect(throws: QuantizationError.invalidOption(name: "budget widths", value: "[]", expected: "at least one of 2, 3, 4, 8")) {
      try ModelQuantizer(options: options).quantize(input: input, output: directory + "/out.safetensors")
    }
  }
}

/// Activation parameters a caller edited or replaced (the struct's fields are public) must
/// not reach a file the reader refuses.
@Suite struct QuantActivationParametersBadInputTests {
  static func parameters(smoothing: BoundarySmoothing? = nil) throws -> TimeAwareActivationParameters {
    var calibration = CalibrationSet()
    for t in 0..<10 { try calibration.add(layer: "l", timestep: t, samples: [Float(t), 1, 2]) }
    let configuration = try TimeAwareConfiguration(grouping: TimeGrouping(timesteps: 10, groups: 2), smoothing: smoothing)
    return try TimeAwareCalibrator.parameters(forLayer: "l", in: calibration, configuration: configuration)
  }

  @Test func replacingWithUnstorableParametersThrows() throws {
    var parameters = try Self.parameters()
    // A NaN scale used to give NaN group ranges silently.
    #expect(throws: QuantizationError.invalidParameters(tensor: "l", group: 0, reason: "activation time group 0: scale nan is not finite")) {
      try parameters.replaceGroupParameters(
        [AffineParameters(scale: .nan, offset: 3), AffineParameters(scale: 0.1, offset: 0)], smoothing: nil, thresholds: .standard)
    }
    #expect(throws: QuantizationError.invalidParameters(tensor: "l", group: 1, reason: "activation time group 1: zero-point 0.5 is not an integer in 0…255 (zero-points are stored with 8 bits)")) {
      try parameters.replaceGroupParameters(
        [AffineParameters(scale: 0.1, offset: 3), AffineParameters(scale: 0.1, offset: 0.5)], smoothing: nil, thresholds: .standard)
    }
    parameters.bits = 64
    #expect(throws: QuantizationError.unsupportedBits(64, supported: QuantizationScheme.supportedBits)) {
      try parameters.replaceGroupParameters(parameters.groupParameters, smoothing: nil, thresholds: .standard)
    }
  }

  @Test func writingUnstorableParametersThrowsBeforeTheFileIsWritten() throws {
    let directory = quantTemporaryDirectory()
    func write(_ parameters: TimeAwareActivationParameters) throws {
      let writer = try QuantizedModelWriter(path: directory + "/act.safetensors")
      try writer.add(parameters, smoothing: nil, estimator: .minMax)
      try writer.finish()
    }
    // A NaN scale used to be written; only reading the file failed.
    var nan = try Self.parameters()
    nan.groupParameters[1].scale = .nan
    #expect(throws: QuantizationError.invalidParameters(tensor: "l", group: 1, reason: "activation time group 1: scale nan is not finite")) { try write(nan) }
    var short = try Self.parameters()
    short.groupParameters.removeLast()
    #expect(throws: QuantizationError.invalidTimeGrouping(reason: "layer 'l': 1 parameter pairs for 2 time groups")) { try write(short) }
    var table = try Self.parameters(smoothing: BoundarySmoothing(curve: .linear, window: 1))
    table.timestepParameters?.removeLast()
    #expect(throws: QuantizationError.invalidTimeGrouping(reason: "layer 'l': a per-timestep table of 9 for 10 timesteps")) { try write(table) }
    var wide = try Self.parameters()
    wide.bits = 9
    #expect(throws: QuantizationError.unsupportedBits(9, supported: QuantizationScheme.supportedBits)) { try write(wide) }
    #expect(!FileManager.default.fileExists(atPath: directory + "/act.safetensors"))
    let valid = try Self.parameters(smoothing: BoundarySmoothing(curve: .linear, window: 1))
    try write(valid)
    #expect(try QuantizedModelFile(path: directory + "/act.safetensors").activationParameters("l").groupParameters == valid.groupParameters)
  }

  @Test func statisticsWithNonFiniteExtremesAreRefusedByTheCalibrator() throws {
    var calibration = CalibrationSet()
    // Added without the file parser's checks: it used to give NaN parameters silently.
    calibration.add(layer: "p", timestep: 0, TimestepStatistics(minimum: .nan, maximum: .infinity, count: 3))
    let configuration = try TimeAwareConfiguration(grouping: TimeGrouping(timesteps: 1, groups: 1))
    #expect(throws: QuantizationError.invalidTimeGrouping(
      reason: "layer 'p', time group 0: the statistics give the range [nan, inf]; activation statistics must be finite, with min ≤ max")) {
      try TimeAwareCalibrator.parameters(forLayer: "p", in: calibration, configuration: configuration)
    }
  }
}

/// A quantized file whose activation description holds a grouping the reader refuses.
@Suite struct QuantActivationFileBadInputTests {
  @Test func anInvalidStoredGroupingNamesTheFileAndTheLayer() throws {
    let path = quantTemporaryDirectory() + "/act.safetensors"
    let description = "{\"timesteps\": 0, \"groups\": 1, \"bits\": 8, \"mode\": \"zero_point\"}"
    let writer = try SafetensorsWriter(
      path: path, metadata: [QuantizedModelFormat.formatKey: "quantized", QuantizedModelFormat.versionKey: "1", QuantizedModelFormat.activationKeyPrefix + "l": description])
    try writer.add("l.__act_scales", dtype: .f32, shape: [1], values: [Float(0.1)])
    try writer.add("l.__act_offsets", dtype: .f32, shape: [1], values: [Float(0)])
    try writer.finish()
    // It used to throw the grouping's own error, which names neither.
    #expect(throws: QuantizationError.invalidQuantizedFile(
      file: path, tensor: "l", reason: "activation description: time grouping: the number of timesteps must be in 1…\(TimeGrouping.maximumTimesteps), got 0")) {
      try QuantizedModelFile(path: path).activationParameters("l")
    }
  }
}
