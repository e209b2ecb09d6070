import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import Foundation
import Testing

/// The example at the top of Sources/ArrowheadOptimize/README.md, verbatim between the
/// markers, on small generated data.
@Suite("README example")
struct ReadmeExampleTests {
  @Test func theReadmeExampleRuns() throws {
    let rows = 32, columns = 128
    let weights = gaussianWeights(rows * columns, seed: 1)
    let inputs = GPTQTests.inputs(rows: 200, columns: columns, seed: 2)
    let samplesPerTimeGroup = try SyntheticActivations.timeGrouped(count: 20_000, timesteps: 20, groups: 4)
    let directory = optimizeTemporaryDirectory()
    let input = directory + "/model.safetensors", output = directory + "/model.q.safetensors"
    let writer = try SafetensorsWriter(path: input)
    try weights.withUnsafeBufferPointer { try writer.add("layer.weight", shape: [rows, columns], floats: $0, as: .f32) }
    try writer.finish()

    // --- README example begins ---
    // Weights: a better parameter optimizer for the quantizer (per group, all cores).
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .floatMinimum)
    let grid = try GridSearchOptimizer()                      // or HalfQuadraticOptimizer()
    let result = try Quantizer(scheme: scheme, optimizer: grid).quantizeAndMeasure(weights, shape: [rows, columns])
    print(result.statistics.relativeError)

    // GPTQ: calibration inputs X (n × columns, row-major) give H = XᵀX.
    let hessian = try GPTQHessian(inputs: inputs, columns: columns)
    let gptq = try GPTQQuantizer().quantize(weights, shape: [rows, columns], scheme: scheme, hessian: hessian)
    print(gptq.statistics.relativeError, gptq.outputError)    // ‖W − Ŵ‖/‖W‖ and ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖

    // Time-aware activation parameters: one array of calibration samples per time group.
    let clipped = try ClippingSearch().search(groups: samplesPerTimeGroup, bits: 4, mode: .zeroPoint)
    print(clipped.map { $0.error / $0.minMaxError })         // ≤ 1: output error relative to min-max
    let thermo = try ThermodynamicOptimizer(divergenceWeight: 0.1, smoothnessWeight: 0.01)
    let activations = try thermo.optimize(groups: samplesPerTimeGroup, bits: 8, mode: .zeroPoint)
    print(activations.initial.total, activations.final.total, activations.converged, activations.smoothness.score)

    // A whole model: GPTQ where calibration inputs of the right width exist, grid elsewhere.
    var options = ModelQuantizationOptions(scheme: scheme, optimizer: grid)
    options.matrixQuantizer = GPTQModelQuantizer(quantizer: try GPTQQuantizer(), hessians: [hessian], inputs: "calibration")
    let report = try ModelQuantizer(options: options).quantize(input: input, output: output)
    print(report.summary.sizeWeightedRelativeError)
    // --- README example ends ---

    let minMax = try Quantizer(scheme: scheme).quantize(weights, shape: [rows, columns])
    #expect(result.statistics.relativeError < minMax.dequantized().withUnsafeBufferPointer { approximation in
      var statistics = ErrorStatistics()
      weights.withUnsafeBufferPointer { statistics.accumulate(original: $0, reconstructed: approximation) }
      return statistics.relativeError
    })
    #expect(gptq.outputError < (try hessian.outputError(original: weights, reconstructed: minMax.dequantized())))
    #expect(activations.final.total <= activations.initial.total)
    #expect(clipped.allSatisfy { $0.error <= $0.minMaxError })
    #expect(report.tensors.first?.optimizer == "gptq")
  }

  /// The README's code block is the one above (so the documented example cannot rot).
  @Test func theReadmeShowsThisCode() throws {
    let readme = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/ArrowheadOptimizeTests/ReadmeExampleTests.swift", with: "Sources/ArrowheadOptimize/README.md"), encoding: .utf8)
    let test = try String(contentsOfFile: #filePath, encoding: .utf8)
    guard let begin = test.range(of: "    // --- README example begins ---\n"), let end = test.range(of: "    // --- README example ends ---") else {
      Issue.record("markers missing")
      return
    }
    let body = test[begin.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map { $0.dropFirst(4) }.joined(separator: "\n")
    #expect(readme.contains(body), "README.md's example differs from the tested code")
  }
}
