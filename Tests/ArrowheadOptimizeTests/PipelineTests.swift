import Arrowhead
import ArrowheadIO
import ArrowheadQuant
import Testing

@testable import ArrowheadOptimize

/// The optimizers inside the model pipeline (`ModelQuantizer`): GPTQ as its matrix
/// quantizer, thermo as its activation optimizer, grid/hqq as group optimizers.
@Suite("Optimizers in the model pipeline")
struct PipelineTests {
  let directory = optimizeTemporaryDirectory()

  /// A toy model: calibration inputs (kept by the `*embed*` pattern), a 64-input matrix that
  /// GPTQ can quantize with them, and a 32-input one it cannot.
  func makeModel() throws -> (path: String, inputs: [Float], query: [Float]) {
    let path = directory + "/toy.safetensors"
    let writer = try SafetensorsWriter(path: path)
    let inputs = GPTQTests.inputs(rows: 300, columns: 64, seed: 12)
    let query = gaussianWeights(32 * 64, seed: 13)
    try inputs.withUnsafeBufferPointer { try writer.add("embed.inputs", shape: [300, 64], floats: $0, as: .f32) }
    try query.withUnsafeBufferPointer { try writer.add("layer.0.query.weight", shape: [32, 64], floats: $0, as: .f32) }
    try gaussianWeights(64 * 32, seed: 14).withUnsafeBufferPointer { try writer.add("layer.0.up.weight", shape: [64, 32], floats: $0, as: .f32) }
    try writer.finish()
    return (path, inputs, query)
  }

  @Test func gptqQuantizesTheMatricesItHasInputsFor() throws {
    let model = try makeModel()
    let scheme = try QuantizationScheme(bits: 3, granularity: .perGroup(32))
    let hessian = try GPTQHessian(inputs: model.inputs, columns: 64, name: "embed.inputs")
    var options = ModelQuantizationOptions(scheme: scheme, optimizer: try GridSearchOptimizer(), fallback: nil)
    options.matrixQuantizer = GPTQModelQuantizer(quantizer: try GPTQQuantizer(), hessians: [hessian], inputs: "embed.inputs")
    let output = directory + "/toy.gptq.safetensors"
    let report = try ModelQuantizer(options: options).quantize(input: model.path, output: output)
    #expect(report.optimizer == "gptq")
    #expect(report.optimizerSettings["weights"] == "grid" && report.optimizerSettings["input_widths"] == "64")
    let byName = Dictionary(uniqueKeysWithValues: report.tensors.map { ($0.name, $0) })
    let query = try #require(byName["layer.0.query.weight"])
    #expect(query.action == .quantized && query.optimizer == "gptq")
    let rtn = try hessian.outputError(original: model.query, reconstructed: try Quantizer(scheme: scheme).quantize(model.query, shape: [32, 64]).dequantized())
    #expect(try #require(query.outputRelativeError) < rtn)
    let up = try #require(byName["layer.0.up.weight"])
    #expect(up.optimizer == "grid" && up.outputRelativeError == nil)
    #expect(up.reason?.contains("no calibration inputs of width 32") == true)
    #expect(byName["embed.inputs"]?.action == .kept)
    // The file records who chose each tensor, and holds GPTQ's tensor as computed.
    let file = try QuantizedModelFile(path: output)
    #expect(file.info("layer.0.query.weight")?.optimizer == "gptq" && file.info("layer.0.up.weight")?.optimizer == "grid")
    let direct = try GPTQQuantizer().quantize(model.query, shape: [32, 64], scheme: scheme, hessian: hessian)
    #expect(try file.tensor("layer.0.query.weight") == direct.tensor)
  }

  /// Calibration samples of layer "layer.0.query" over `timesteps` timesteps in 4 time
  /// groups (synthetic activations whose range changes from group to group).
  func timeGroupedCalibration(timesteps: Int, seed: UInt64) throws -> (CalibrationSet, TimeGrouping) {
    let groups = try SyntheticActivations.timeGrouped(count: 40_000, timesteps: timesteps, groups: 4, seed: seed)
    var calibration = CalibrationSet()
    let grouping = try TimeGrouping(timesteps: timesteps, groups: 4)
    for group in 0..<4 {
      let span = grouping.timesteps(ofGroup: group)
      let share = groups[group].count / span.count
      for (index, timestep) in span.enumerated() {
        try calibration.add(layer: "layer.0.query", timestep: timestep, samples: Array(groups[group][(index * share)..<((index + 1) * share)]))
      }
    }
    return (calibration, grouping)
  }

  @Test func thermoChoosesTheActivationParameters() throws {
    let model = try makeModel()
    let (calibration, grouping) = try timeGroupedCalibration(timesteps: 8, seed: 21)
    let configuration = try TimeAwareConfiguration(grouping: grouping)
    var options = ModelQuantizationOptions(
      scheme: try QuantizationScheme(), fallback: nil, timeAware: TimeAwareInput(calibration: calibration, configuration: configuration))
    let thermo = try ThermodynamicOptimizer()
    options.activationOptimizer = thermo
    let output = directory + "/toy.thermo.safetensors"
    let report = try ModelQuantizer(options: options).quantize(input: model.path, output: output)
    #expect(report.optimizer == "thermo" && report.optimizerSettings["weights"] == "minmax")
    let layer = try #require(report.activations.first)
    #expect(layer.optimizer == "thermo")
    #expect(try #require(layer.finalLoss) < (try #require(layer.initialLoss)))
    #expect(layer.smoothness >= (try #require(layer.minMaxSmoothness)))
    // The stored group parameters are the optimizer's.
    let direct = try thermo.optimize(layer: "layer.0.query", calibration: calibration, grouping: grouping)
    let stored = try QuantizedModelFile(path: output).activationParameters("layer.0.query")
    #expect(stored.groupParameters == direct.parameters)
    #expect(stored.optimizer == "thermo")
  }

  /// With boundary smoothing, the per-timestep table is rebuilt from the optimizer's group
  /// parameters: interior timesteps carry them exactly, window timesteps a blend that lies
  /// between the two groups' ranges.
  @Test func thermoRebuildsTheSmoothedTimestepTable() throws {
    let model = try makeModel()
    let (calibration, grouping) = try timeGroupedCalibration(timesteps: 40, seed: 22)
    let smoothing = try BoundarySmoothing(curve: .cubic, window: 2)
    let configuration = try TimeAwareConfiguration(grouping: grouping, smoothing: smoothing)
    var options = ModelQuantizationOptions(
      scheme: try QuantizationScheme(), fallback: nil, timeAware: TimeAwareInput(calibration: calibration, configuration: configuration))
    options.activationOptimizer = try ThermodynamicOptimizer()
    let output = directory + "/toy.thermo-smoothed.safetensors"
    _ = try ModelQuantizer(options: options).quantize(input: model.path, output: output)
    let stored = try QuantizedModelFile(path: output).activationParameters("layer.0.query")
    let table = try #require(stored.timestepParameters)
    #expect(table.count == 40)
    let top = Float((1 << stored.bits) - 1)
    func range(_ p: AffineParameters) -> (Float, Float) {
      stored.mode == .floatMinimum ? (p.offset, p.offset + top * p.scale) : (-p.offset * p.scale, (top - p.offset) * p.scale)
    }
    for t in 0..<40 {
      let group = grouping.group(ofTimestep: t)
      let boundaries = (1..<4).map { grouping.timesteps(ofGroup: $0).lowerBound }
      let inWindow = boundaries.contains { t >= $0 - 2 && t < $0 + 2 }
      if !inWindow {
        #expect(table[t] == stored.groupParameters[group], "interior timestep \(t)")
        continue
      }
      // The blended range lies between those of the two groups around the boundary.
      let boundary = boundaries.min { abs($0 - t) < abs($1 - t) } ?? 0
      let left = range(stored.groupParameters[grouping.group(ofTimestep: boundary - 1)])
      let right = range(stored.groupParameters[grouping.group(ofTimestep: boundary)])
      let blended = range(table[t])
      let slack = 2 * max(stored.groupParameters.map(\.scale).max() ?? 0, table[t].scale)
      #expect(blended.0 >= min(left.0, right.0) - slack && blended.0 <= max(left.0, right.0) + slack, "timestep \(t)")
      #expect(blended.1 >= min(left.1, right.1) - slack && blended.1 <= max(left.1, right.1) + slack, "timestep \(t)")
    }
  }

  /// Thermo on summaries-only calibration is an error naming the layer, not a silent min-max.
  @Test func thermoRefusesSummaries() throws {
    let model = try makeModel()
    var calibration = CalibrationSet()
    for timestep in 0..<4 { calibration.add(layer: "layer.0.query", timestep: timestep, TimestepStatistics(minimum: -1, maximum: 2, count: 10)) }
    var options = ModelQuantizationOptions(
      scheme: try QuantizationScheme(), fallback: nil,
      timeAware: TimeAwareInput(calibration: calibration, configuration: try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 4, groups: 2))))
    options.activationOptimizer = try ThermodynamicOptimizer()
    do {
      _ = try ModelQuantizer(options: options).quantize(input: model.path, output: directory + "/never.safetensors")
      Issue.record("summaries accepted")
    } catch {
      #expect(error.description.contains("raw samples") && error.description.contains("layer.0.query"))
    }
  }

  /// Group optimizers in the pipeline lower the model error and name themselves per tensor.
  @Test(arguments: ["grid", "hqq"])
  func groupOptimizersInThePipeline(name: String) throws {
    let model = try makeModel()
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32))
    let baseline = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, fallback: nil))
      .quantize(input: model.path, output: directory + "/minmax.safetensors")
    let options = ModelQuantizationOptions(scheme: scheme, optimizer: try OptimizerCatalog.make(name: name), fallback: nil)
    let report = try ModelQuantizer(options: options).quantize(input: model.path, output: directory + "/\(name).safetensors")
    #expect(report.summary.sizeWeightedRelativeError < baseline.summary.sizeWeightedRelativeError)
    #expect(report.tensors.filter { $0.action == .quantized }.allSatisfy { $0.optimizer == name && $0.optimizerSeconds > 0 })
  }
}
