import Arrowhead
@testable import ArrowheadEncoder
import ArrowheadOptimize
import ArrowheadTestSupport
import Testing

/// The least-squares refit of the group parameters (`CalibrationPlan.refitsParameters`,
/// `GPTQQuantizer.refitsParameters`) as the calibrated encoder uses it.
@Suite("Encoder calibration: parameter refit")
struct CalibrationRefitTests {
  /// The plan's setting reaches GPTQ: the calibrated product is exactly the tensor that
  /// `GPTQQuantizer(…, refitsParameters:)` makes from the same weights and Hessian (the
  /// same outputs bit for bit on a probe), on by default, and the refit changes it (what
  /// the refit does to GPTQ's objective is tested in `GPTQRefitTests`).
  @Test func thePlanRefitsTheGroupParametersOfEveryProduct() throws {
    let folder = try TinyBert(seed: 35).write(to: try temporaryDirectory("tiny-bert-refit"))
    let encoder = try SentenceEncoder(folder: folder.path)
    let c = encoder.bert.configuration
    let sequences = CalibratedQuantizationTests.texts.map { encoder.tokenizer.encode($0).ids }
    let weights = try LayerWeights(index: 0, source: try WeightSource(folder: folder.path), configuration: c)
    let states = try CalibrationStates(sequences, encoder: encoder.bert, engine: .default)
    guard let scheme = WeightFormat.int4.scheme else {
      Issue.record("no INT4 scheme")
      return
    }
    let gptq = try GPTQQuantizer(groupOptimizer: GridSearchOptimizer(), hessianImportance: true)
    var plan = CalibrationPlan(sequences: sequences, scheme: scheme, gptq: gptq, mode: .weightOnly)
    #expect(plan.refitsParameters)
    let builder = try CalibratedLayerBuilder(weights: weights, plan: plan, engine: .default)
    let statistics = try states.statistics(of: Set(LinearSite.allCases), through: try builder.layer(), configuration: c, engine: .default)
    for site in [LinearSite.intermediate, .output] {
      guard let inputs = statistics[site], let part = weights.parts(of: site).first else {
        Issue.record("no calibration inputs for \(site)")
        continue
      }
      let dense = part.dense(engine: .default)
      var outputs: [Bool: [Float]] = [:]
      for refit in [true, false] {
        plan.refitsParameters = refit
        let calibrated = try CalibratedLinearFactory(hessian: inputs.hessian, plan: plan, engine: .default).makeOperator(for: [part])
        let tensor = try gptq.ordered(plan.order).refitting(refit).quantize(
          Array(dense.buffer), shape: dense.shape, scheme: scheme, hessian: inputs.hessian).tensor
        let direct = try QuantizedLinearFactory.matrixOperator(tensor, name: dense.name, mode: .weightOnly, engine: .default)
        let probe = (0..<(3 * calibrated.inputs)).map { Float(($0 * 37) % 23) / 23 - 0.5 }
        var a = [Float](repeating: 0, count: 3 * calibrated.outputs), b = a
        try probe.withUnsafeBufferPointer { (x) throws(EncoderError) in
          try a.withUnsafeMutableBufferPointer { (y) throws(EncoderError) in
            try calibrated.apply(rows: 3, input: x.baseAddress!, inputStride: calibrated.inputs, output: y.baseAddress!, outputStride: calibrated.outputs, engine: .default)
          }
          try b.withUnsafeMutableBufferPointer { (y) throws(EncoderError) in
            try direct.apply(rows: 3, input: x.baseAddress!, inputStride: calibrated.inputs, output: y.baseAddress!, outputStride: calibrated.outputs, engine: .default)
          }
        }
        #expect(a == b, "\(site) refit \(refit): the calibrated product is not GPTQ's tensor")
        outputs[refit] = a
      }
      #expect(outputs[true] != outputs[false], "\(site): the refit changed nothing")
    }
  }
}
