import Arrowhead
@testable import ArrowheadEncoder
import ArrowheadOptimize
import ArrowheadTestSupport
import Testing

/// Bias correction of the calibrated quantization (`CalibratedLayerBuilder`): after GPTQ
/// quantizes a product W to Ŵ, its bias gets (W − Ŵ)·x̄, x̄ the mean calibration input.
@Suite("Encoder calibration: bias correction")
struct BiasCorrectionTests {
  /// On the calibration inputs X of each product (captured from the Float32 layer running
  /// on the calibration texts' embeddings, as the builder saw them), the mean over the
  /// rows of the quantized product's output plus its corrected bias must equal the Float32
  /// product's mean output plus its bias: mean(x·Ŵᵀ) + b + (W − Ŵ)·x̄ = mean(x·Wᵀ) + b by
  /// linearity. Compared with the products run through their kernels (weight-only, so the
  /// identity is exact up to Float32 summation: outputs here are O(1) sums of ≤ 48 terms,
  /// each product and the 12-text mean rounding at ~1e-7 relative, so 1e-4 is ample). The
  /// same quantization without the correction must miss by far more (the test fails if the
  /// correction is removed): INT4 leaves a mean error of ~1e-2 on this model.
  @Test func correctedBiasesZeroTheMeanOutputErrorOnTheCalibrationSet() throws {
    let folder = try TinyBert(seed: 34).write(to: try temporaryDirectory("tiny-bert"))
    let encoder = try SentenceEncoder(folder: folder.path)
    let c = encoder.bert.configuration
    let h = c.hiddenSize
    let sequences = CalibratedQuantizationTests.texts.map { encoder.tokenizer.encode($0).ids }
    let weights = try LayerWeights(index: 0, source: try WeightSource(folder: folder.path), configuration: c)
    let states = try CalibrationStates(sequences, encoder: encoder.bert, engine: .default)
    guard let scheme = WeightFormat.int4.scheme else {
      Issue.record("no INT4 scheme")
      return
    }
    var worst: [Bool: Double] = [:]
    for corrected in [true, false] {
      var plan = CalibrationPlan(
        sequences: sequences, scheme: scheme, gptq: try GPTQQuantizer(groupOptimizer: GridSearchOptimizer(), hessianImportance: true),
        mode: .weightOnly)
      plan.biasCorrection = corrected
      var builder = try CalibratedLayerBuilder(weights: weights, plan: plan, engine: .default)
      try builder.quantize(on: states, configuration: c)
      let original = LayerBiases(weights)
      let floatOperators = try LinearSite.allCases.map { try DenseLinearFactory().makeOperator(for: weights.parts(of: $0)) }
      let quantizedOperators = builder.operators
      // Σ over calibration rows of each product's outputs, Float32 and quantized.
      var sums: [LinearSite: (exact: [Double], rounded: [Double], rows: Int)] = [:]
      let capture: InputCapture = { (site, rows, input, stride) throws(EncoderError) in
        guard let index = LinearSite.allCases.firstIndex(of: site), let quantized = quantizedOperators[site] else { return }
        let width = quantized.outputs
        var exact = [Float](repeating: 0, count: rows * width), rounded = exact
        try exact.withUnsafeMutableBufferPointer { (out) throws(EncoderError) in
          try floatOperators[index].apply(rows: rows, input: input, inputStride: stride, output: out.baseAddress!, outputStride: width, engine: .default)
        }
        try rounded.withUnsafeMutableBufferPointer { (out) throws(EncoderError) in
          try quantized.apply(rows: rows, input: input, inputStride: stride, output: out.baseAddress!, outputStride: width, engine: .default)
        }
        var entry = sums[site] ?? ([Double](repeating: 0, count: width), [Double](repeating: 0, count: width), 0)
        for row in 0..<rows {
          for column in 0..<width {
            entry.exact[column] += Double(exact[row * width + column])
            entry.rounded[column] += Double(rounded[row * width + column])
          }
        }
        entry.rows += rows
        sums[site] = entry
      }
      let floatLayer = try builder.floatLayer()
      for (batch, values) in zip(states.batches, states.states) {
        var scratch = values
        try scratch.withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
          try BertEncoder.run([floatLayer], configuration: c, batch: batch, states: buffer.baseAddress!, engine: .default, capture: capture)
        }
      }
      // Per product: the output columns whose bias the forward pass uses (the key bias is
      // dropped: softmax cancels it) and the biases before and after correction.
      let checked: [(LinearSite, Range<Int>, [Float], [Float])] = [
        (.queryKeyValue, 0..<h, original.query, builder.biases.query),
        (.queryKeyValue, 2 * h..<3 * h, original.value, builder.biases.value),
        (.attentionOutput, 0..<h, original.attentionOutput, builder.biases.attentionOutput),
        (.intermediate, 0..<c.intermediateSize, original.intermediate, builder.biases.intermediate),
        (.output, 0..<h, original.output, builder.biases.output),
      ]
      var largest = 0.0
      for (site, columns, before, after) in checked {
        guard let entry = sums[site] else {
          Issue.record("no calibration inputs reached \(site)")
          continue
        }
        #expect(entry.rows == sequences.reduce(0) { $0 + $1.count })
        for (offset, column) in columns.enumerated() {
          let n = Double(entry.rows)
          let exact = entry.exact[column] / n + Double(before[offset])
          let rounded = entry.rounded[column] / n + Double(after[offset])
          largest = Swift.max(largest, abs(exact - rounded))
        }
      }
      worst[corrected] = largest
    }
    print("tiny BERT INT4 layer 0: largest mean output error with bias correction \(worst[true] ?? -1), without \(worst[false] ?? -1)")
    #expect((worst[true] ?? 1) < 1e-4)
    #expect((worst[false] ?? 0) > 1e-3)
  }
}
