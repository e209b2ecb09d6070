// Quantization calibrated on the model's own hidden states: GPTQ for every linear layer,
// with H = XᵀX of the inputs that layer receives on a set of calibration texts, layer by
// layer (each layer is calibrated on the output of the already quantized layers before it).
import ArrowheadCore
import ArrowheadOptimize
import ArrowheadQuant

/// The four products of a BERT layer, by the input they read.
enum LinearSite: Sendable, Hashable, CaseIterable {
  /// x·[W_q; W_k; W_v]ᵀ on the layer's input states.
  case queryKeyValue
  /// The attention output projection on the heads' context.
  case attentionOutput
  /// The first feed-forward product on the post-attention states.
  case intermediate
  /// The second feed-forward product on GELU's output.
  case output
}

/// Sees the input rows of one product before it runs: the site, the row count, the first
/// row and the distance between rows (calibration only).
typealias InputCapture = (LinearSite, Int, UnsafePointer<Float>, Int) throws(EncoderError) -> Void

/// What calibrated quantization needs: the calibration token sequences (each with its
/// `[CLS]` and `[SEP]`), the scheme, and how GPTQ chooses each group's parameters.
struct CalibrationPlan: Sendable {
  var sequences: [[Int32]]
  var scheme: QuantizationScheme
  var gptq: GPTQQuantizer
  var mode: QuantizedMatmulMode
  /// Matrices quantized under `wideScheme` with `wideGPTQ` instead (INT8 under INT4).
  var wideMatrices: Set<EncoderMatrix> = []
  var wideScheme: QuantizationScheme?
  var wideGPTQ: GPTQQuantizer?
}

/// The weights of one encoder layer as the file holds them, before they become operators.
struct LayerWeights {
  var queryKeyValue: [LinearWeight]
  var attentionOutput, intermediate, output: LinearWeight
  var queryBias, valueBias, attentionOutputBias, intermediateBias, outputBias: WeightTensor
  var attentionNormGamma, attentionNormBeta, outputNormGamma, outputNormBeta: WeightTensor

  /// Loads layer `index` from `source`, checking every shape against `c`.
  init(index: Int, source: WeightSource, configuration c: BertConfiguration) throws(EncoderError) {
    let p = "encoder.layer.\(index)."
    let h = c.hiddenSize
    let f = c.intermediateSize
    let width = "hidden_size \(h)"
    let square = "hidden_size \(h) × hidden_size \(h)"
    func vector(_ names: [String], _ count: Int, _ reason: String) throws(EncoderError) -> WeightTensor {
      try source.tensor(names.map { p + $0 }, shape: [count], reason: reason + " in config.json")
    }
    func linear(_ name: String, _ rows: Int, _ columns: Int, _ reason: String) throws(EncoderError) -> LinearWeight {
      try source.linear(p + name, shape: [rows, columns], reason: reason + " in config.json")
    }
    queryKeyValue = [
      try linear("attention.self.query.weight", h, h, square), try linear("attention.self.key.weight", h, h, square),
      try linear("attention.self.value.weight", h, h, square),
    ]
    attentionOutput = try linear("attention.output.dense.weight", h, h, square)
    valueBias = try vector(["attention.self.value.bias"], h, width)
    _ = try vector(["attention.self.key.bias"], h, width)  // checked, then unused (see forward)
    attentionOutputBias = try vector(["attention.output.dense.bias"], h, width)
    intermediate = try linear("intermediate.dense.weight", f, h, "intermediate_size \(f) × hidden_size \(h)")
    output = try linear("output.dense.weight", h, f, "hidden_size \(h) × intermediate_size \(f)")
    queryBias = try vector(["attention.self.query.bias"], h, width)
    intermediateBias = try vector(["intermediate.dense.bias"], f, "intermediate_size \(f)")
    outputBias = try vector(["output.dense.bias"], h, width)
    attentionNormGamma = try vector(["attention.output.LayerNorm.weight", "attention.output.LayerNorm.gamma"], h, width)
    attentionNormBeta = try vector(["attention.output.LayerNorm.bias", "attention.output.LayerNorm.beta"], h, width)
    outputNormGamma = try vector(["output.LayerNorm.weight", "output.LayerNorm.gamma"], h, width)
    outputNormBeta = try vector(["output.LayerNorm.bias", "output.LayerNorm.beta"], h, width)
  }

  /// The name each product's weight goes by (the first part's for q|k|v).
  var siteNames: [LinearSite: String] {
    [.queryKeyValue: queryKeyValue[0].name, .attentionOutput: attentionOutput.name, .intermediate: intermediate.name, .output: output.name]
  }

  /// The layer with its products made by `factory`; the value bias is folded through the
  /// output projection as that operator multiplies (Ŵ_o for a quantized one).
  func makeLayer(factory: any LinearOperatorFactory, engine: Engine) throws(EncoderError) -> BertEncoder.Layer {
    let projection = try factory.makeOperator(for: [attentionOutput])
    let folded = try projection.product(with: valueBias.pointer, engine: engine)
    let h = valueBias.count
    return BertEncoder.Layer(
      queryKeyValue: try factory.makeOperator(for: queryKeyValue),
      attentionOutput: projection,
      intermediate: try factory.makeOperator(for: [intermediate]),
      output: try factory.makeOperator(for: [output]),
      queryBias: queryBias, intermediateBias: intermediateBias, outputBias: outputBias,
      attentionOutputBias: WeightTensor(
        name: attentionOutputBias.name, shape: [h], values: (0..<h).map { attentionOutputBias.pointer[$0] + folded[$0] }),
      attentionNormGamma: attentionNormGamma, attentionNormBeta: attentionNormBeta,
      outputNormGamma: outputNormGamma, outputNormBeta: outputNormBeta)
  }
}

/// The hidden states of the calibration sequences at the current layer, in batches.
struct CalibrationStates {
  /// Sequences per calibration batch.
  static let batchSize = 32
  private(set) var batches: [PackedBatch] = []
  private var states: [[Float]] = []
  private let hiddenSize: Int

  /// The embeddings (the first layer's input) of `sequences`, as `encoder` computes them.
  init(_ sequences: [[Int32]], encoder: BertEncoder, engine: Engine) throws(EncoderError) {
    let c = encoder.configuration
    hiddenSize = c.hiddenSize
    guard !sequences.isEmpty else {
      throw .invalidOption(name: "calibration", value: "0 texts", expected: "at least one calibration text")
    }
    for start in stride(from: 0, to: sequences.count, by: Self.batchSize) {
      let batch = try PackedBatch(Array(sequences[start..<Swift.min(start + Self.batchSize, sequences.count)]), configuration: c)
      var values = [Float](repeating: 0, count: batch.tokenCount * c.hiddenSize)
      values.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return }
        encoder.embed(batch, into: base, threads: engine.effectiveThreads)
      }
      batches.append(batch)
      states.append(values)
    }
  }

  /// H = XᵀX of each product's inputs when `layer` runs on the current states (which are
  /// left as they are), summed over every calibration token.
  func hessians(
    through layer: BertEncoder.Layer, configuration c: BertConfiguration, engine: Engine
  ) throws(EncoderError) -> [LinearSite: GPTQHessian] {
    var sums: [LinearSite: [Double]] = [:]
    var widths: [LinearSite: Int] = [:]
    let capture: InputCapture = { (site, rows, input, stride) throws(EncoderError) in
      let width = site == .output ? c.intermediateSize : c.hiddenSize
      var rowsCopy = [Float](repeating: 0, count: rows * width)
      for row in 0..<rows {
        for column in 0..<width { rowsCopy[row * width + column] = input[row * stride + column] }
      }
      let part: GPTQHessian
      do throws(OptimizationError) {
        part = try GPTQHessian(inputs: rowsCopy, columns: width, name: "calibration inputs of \(site)", engine: engine)
      } catch {
        throw Self.encoderError(error, tensor: "\(site)")
      }
      var sum = sums[site] ?? [Double](repeating: 0, count: width * width)
      for (index, value) in part.matrix.elements.enumerated() { sum[index] += Double(value) }
      sums[site] = sum
      widths[site] = width
    }
    for (batch, values) in zip(batches, states) {
      var scratch = values
      try scratch.withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
        guard let base = buffer.baseAddress else { return }
        try BertEncoder.run([layer], configuration: c, batch: batch, states: base, engine: engine, capture: capture)
      }
    }
    var result: [LinearSite: GPTQHessian] = [:]
    for (site, sum) in sums {
      let width = widths[site] ?? 0
      let matrix: Matrix
      do {
        matrix = try Matrix(rows: width, columns: width, elements: sum.map { Float($0) })
      } catch {
        throw .engine(error)
      }
      do {
        result[site] = try GPTQHessian(matrix: matrix, name: "\(site)")
      } catch {
        throw Self.encoderError(error, tensor: "\(site)")
      }
    }
    return result
  }

  /// Runs `layer` on the states: they become the next layer's input.
  mutating func advance(through layer: BertEncoder.Layer, configuration c: BertConfiguration, engine: Engine) throws(EncoderError) {
    for index in batches.indices {
      let batch = batches[index]
      try states[index].withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
        guard let base = buffer.baseAddress else { return }
        try BertEncoder.run([layer], configuration: c, batch: batch, states: base, engine: engine)
      }
    }
  }

  /// An optimizer's error as the encoder reports it.
  static func encoderError(_ error: OptimizationError, tensor: String) -> EncoderError {
    switch error {
    case .quantization(let inner): .quantization(inner)
    case .engine(let inner): .engine(inner)
    default: .invalidOption(name: "calibration", value: tensor, expected: "calibration inputs GPTQ can use (\(error))")
    }
  }
}

/// Quantizes each product with GPTQ and the Hessian of its calibration inputs (keyed by the
/// weight's name); the word-embedding table becomes INT8 rows as with `--weights int8`.
struct CalibratedLinearFactory: LinearOperatorFactory {
  let hessians: [String: GPTQHessian]
  let plan: CalibrationPlan
  let engine: Engine

  /// Parts that share an input (q, k, v) share its Hessian: GPTQ treats rows independently,
  /// so quantizing them stacked or in runs (some kept at INT8) gives each row the same codes.
  func makeOperator(for parts: [LinearWeight]) throws(EncoderError) -> any LinearOperator {
    guard let hessian = hessians[parts[0].name] else {
      throw .invalidOption(name: "calibration", value: parts[0].name, expected: "calibration inputs for every linear layer")
    }
    var operators: [any LinearOperator] = []
    for run in partRuns(parts, wide: plan.wideMatrices) {
      let dense = run.parts.map { $0.dense(engine: engine) }
      let weight = dense.count == 1 ? dense[0] : WeightTensor.stacked(dense, name: dense[0].name)
      let (gptq, scheme) = run.wide ? (plan.wideGPTQ ?? plan.gptq, plan.wideScheme ?? plan.scheme) : (plan.gptq, plan.scheme)
      let tensor: QuantizedTensor
      do {
        tensor = try gptq.quantize(weight.buffer, shape: weight.shape, scheme: scheme, hessian: hessian, name: weight.name, engine: engine).tensor
      } catch {
        throw CalibrationStates.encoderError(error, tensor: weight.name)
      }
      weight.evictPages()
      operators.append(try QuantizedLinearFactory.matrixOperator(tensor, name: weight.name, mode: plan.mode, engine: engine))
    }
    return operators.count == 1 ? operators[0] : ConcatenatedLinearOperator(parts: operators)
  }

  func makeEmbeddingTable(for table: WeightTensor) throws(EncoderError) -> EmbeddingTable {
    try QuantizedLinearFactory(quantizer: nil, mode: plan.mode, engine: engine).makeEmbeddingTable(for: table)
  }
}
