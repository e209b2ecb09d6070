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
  /// Quantize the four products of a layer one after the other, each calibrated on the
  /// inputs it receives once the products before it are quantized (GPTQ's "true
  /// sequential"); false (default): all four from one pass of the Float32 layer. Measured
  /// no better on MiniLM INT4 (see the README) at ~2.5× the loading time.
  var sequential = false
  /// Fold each product's mean output error on the calibration inputs, (W − Ŵ)·x̄, into its
  /// bias (see `CalibratedLayerBuilder`). On by default.
  var biasCorrection = true
  /// With `biasCorrection`: aim at the Float32 *model*'s mean output at each product (its
  /// own Float32 states, run alongside), not the Float32 product's on the quantized model's
  /// inputs. Off by default (measured: as good only together with `sequential`).
  var floatTarget = false
  /// The order in which GPTQ quantizes each product's columns: act-order with static groups
  /// by default (decreasing diag(H), each contiguous group's parameters from the unmodified
  /// weights; the layout is unchanged). Measured on MiniLM INT4 g64: 0.98803 → 0.98879 mean
  /// cosine with 128 calibration texts, 0.98880 → 0.98969 with 256 (see the README).
  var order: GPTQColumnOrder = .actOrderStatic
  /// Refit each row's group parameters by least squares on GPTQ's objective once its codes
  /// are chosen (`GPTQQuantizer.refitsParameters`). On by default: measured on MiniLM INT4
  /// g64, 512 calibration texts, 2 000 corpus texts: mean cosine 0.98970 → 0.99020.
  var refitsParameters = true
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
      try source.tensor(names.map { p + $0 }, shape: [count], reason: reason + " in config.json").copiedFromMapping()
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
    var operators: [LinearSite: any LinearOperator] = [:]
    for site in LinearSite.allCases { operators[site] = try factory.makeOperator(for: parts(of: site)) }
    return try makeLayer(operators: operators, biases: LayerBiases(self), engine: engine)
  }

  /// The weight parts of one product.
  func parts(of site: LinearSite) -> [LinearWeight] {
    switch site {
    case .queryKeyValue: queryKeyValue
    case .attentionOutput: [attentionOutput]
    case .intermediate: [intermediate]
    case .output: [output]
    }
  }

  /// The layer from one operator per product and its biases (the value bias folded through
  /// the attention output operator).
  func makeLayer(operators: [LinearSite: any LinearOperator], biases: LayerBiases, engine: Engine) throws(EncoderError) -> BertEncoder.Layer {
    guard let queryKeyValue = operators[.queryKeyValue], let projection = operators[.attentionOutput],
      let intermediate = operators[.intermediate], let output = operators[.output]
    else {
      throw .invalidOption(name: "layer", value: "\(operators.keys)", expected: "an operator for each of the four products")
    }
    let folded = try biases.value.withUnsafeBufferPointer { (v) throws(EncoderError) in
      try projection.product(with: v.baseAddress!, engine: engine)
    }
    func tensor(_ like: WeightTensor, _ values: [Float]) -> WeightTensor {
      values == Array(like.buffer) ? like : WeightTensor(name: like.name, shape: like.shape, values: values)
    }
    return BertEncoder.Layer(
      queryKeyValue: queryKeyValue, attentionOutput: projection, intermediate: intermediate, output: output,
      queryBias: tensor(queryBias, biases.query), intermediateBias: tensor(intermediateBias, biases.intermediate),
      outputBias: tensor(outputBias, biases.output),
      attentionOutputBias: WeightTensor(
        name: attentionOutputBias.name, shape: attentionOutputBias.shape, values: zip(biases.attentionOutput, folded).map { $0 + $1 }),
      attentionNormGamma: attentionNormGamma, attentionNormBeta: attentionNormBeta,
      outputNormGamma: outputNormGamma, outputNormBeta: outputNormBeta)
  }
}

/// The biases of a layer's products as values (before the value bias is folded), so that
/// calibration can correct them.
struct LayerBiases {
  var query, value, attentionOutput, intermediate, output: [Float]

  init(_ weights: LayerWeights) {
    query = Array(weights.queryBias.buffer)
    value = Array(weights.valueBias.buffer)
    attentionOutput = Array(weights.attentionOutputBias.buffer)
    intermediate = Array(weights.intermediateBias.buffer)
    output = Array(weights.outputBias.buffer)
  }

  /// Adds `delta` (one value per output of `site`'s product) to that product's bias. For
  /// q|k|v the key part is dropped: a key bias adds the same q·b_k to every score of a
  /// query row, which softmax cancels (the forward pass leaves it out too).
  mutating func add(_ delta: [Float], to site: LinearSite) {
    func add(_ target: inout [Float], _ offset: Int) {
      for index in target.indices { target[index] += delta[offset + index] }
    }
    switch site {
    case .queryKeyValue:
      add(&query, 0)
      add(&value, 2 * value.count)
    case .attentionOutput: add(&attentionOutput, 0)
    case .intermediate: add(&intermediate, 0)
    case .output: add(&output, 0)
    }
  }
}

/// The hidden states of the calibration sequences at the current layer, in batches.
struct CalibrationStates {
  /// Sequences per calibration batch.
  static let batchSize = 32
  private(set) var batches: [PackedBatch] = []
  private(set) var states: [[Float]] = []
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
        encoder.embed(batch, into: base, engine: engine)
      }
      batches.append(batch)
      states.append(values)
    }
  }

  /// H = XᵀX and the mean row x̄ of the inputs of each product in `sites` when `layer`
  /// runs on the current states (which are left as they are), over every calibration token.
  func statistics(
    of sites: Set<LinearSite>, through layer: BertEncoder.Layer, configuration c: BertConfiguration, engine: Engine,
    hessians: Bool = true
  ) throws(EncoderError) -> [LinearSite: InputStatistics] {
    var sums: [LinearSite: [Double]] = [:]
    var rowSums: [LinearSite: [Double]] = [:]
    var counts: [LinearSite: Int] = [:]
    let capture: InputCapture = { (site, rows, input, stride) throws(EncoderError) in
      guard sites.contains(site) else { return }
      let width = site == .output ? c.intermediateSize : c.hiddenSize
      var rowsCopy = [Float](repeating: 0, count: rows * width)
      var rowSum = rowSums[site] ?? [Double](repeating: 0, count: width)
      for row in 0..<rows {
        for column in 0..<width {
          let value = input[row * stride + column]
          rowsCopy[row * width + column] = value
          rowSum[column] += Double(value)
        }
      }
      rowSums[site] = rowSum
      counts[site, default: 0] += rows
      guard hessians else { return }
      let part: GPTQHessian
      do throws(OptimizationError) {
        part = try GPTQHessian(inputs: rowsCopy, columns: width, name: "calibration inputs of \(site)", engine: engine)
      } catch {
        throw Self.encoderError(error, tensor: "\(site)")
      }
      var sum = sums[site] ?? [Double](repeating: 0, count: width * width)
      for (index, value) in part.matrix.elements.enumerated() { sum[index] += Double(value) }
      sums[site] = sum
    }
    for (batch, values) in zip(batches, states) {
      var scratch = values
      try scratch.withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
        guard let base = buffer.baseAddress else { return }
        try BertEncoder.run([layer], configuration: c, batch: batch, states: base, engine: engine, capture: capture)
      }
    }
    var result: [LinearSite: InputStatistics] = [:]
    for (site, rowSum) in rowSums {
      let width = rowSum.count
      let count = Double(Swift.max(counts[site] ?? 0, 1))
      let sum = sums[site] ?? [Double](repeating: 0, count: width * width)
      let matrix: Matrix
      do {
        matrix = try Matrix(rows: width, columns: width, elements: sum.map { Float($0) })
      } catch {
        throw .engine(error)
      }
      do {
        result[site] = InputStatistics(
          hessian: try GPTQHessian(matrix: matrix, name: "\(site)"), mean: (rowSums[site] ?? []).map { Float($0 / count) })
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

/// H = XᵀX and the mean row x̄ of one product's calibration inputs.
struct InputStatistics {
  var hessian: GPTQHessian
  var mean: [Float]
}

/// Quantizes one layer's products by GPTQ on their calibration inputs, with two
/// refinements:
///
/// - **Bias correction** (on by default, `CalibrationPlan.biasCorrection`): after
///   quantizing W to Ŵ, the product's bias gets δ = (W − Ŵ)·x̄, the mean output error over
///   the calibration inputs x (linearity: mean(x·Wᵀ − x·Ŵᵀ) = x̄·(W − Ŵ)ᵀ), so that the
///   quantized product's mean output on those inputs equals the Float32 product's. GPTQ
///   minimises the squared output error but leaves a systematic part, which the LayerNorms
///   after the products do not remove. (With `floatTarget`, W·x̄ is taken at the Float32
///   model's own mean input instead, correcting the drift of the layers before too.)
/// - **Sequential inside the layer** (off by default, `CalibrationPlan.sequential`): q|k|v,
///   then the attention output, then the two feed-forward products are quantized in that
///   order, each with H and x̄ of the inputs it receives once the products before it run
///   quantized (with their corrected biases).
struct CalibratedLayerBuilder {
  let weights: LayerWeights
  let plan: CalibrationPlan
  let engine: Engine
  private(set) var operators: [LinearSite: any LinearOperator]
  private let floatOperators: [LinearSite: any LinearOperator]
  private(set) var biases: LayerBiases
  private var floatMeans: [LinearSite: [Float]] = [:]

  /// Starts from the Float32 layer.
  init(weights: LayerWeights, plan: CalibrationPlan, engine: Engine) throws(EncoderError) {
    self.weights = weights
    self.plan = plan
    self.engine = engine
    var operators: [LinearSite: any LinearOperator] = [:]
    let dense = DenseLinearFactory(engine: engine)
    for site in LinearSite.allCases { operators[site] = try dense.makeOperator(for: weights.parts(of: site)) }
    self.operators = operators
    floatOperators = operators
    biases = LayerBiases(weights)
  }

  /// The Float32 layer with the file's biases.
  func floatLayer() throws(EncoderError) -> BertEncoder.Layer {
    try weights.makeLayer(operators: floatOperators, biases: LayerBiases(weights), engine: engine)
  }

  /// The layer as it stands (products quantized so far, biases corrected so far).
  func layer() throws(EncoderError) -> BertEncoder.Layer {
    try weights.makeLayer(operators: operators, biases: biases, engine: engine)
  }

  /// Quantizes the four products on the calibration `states` (the layer's inputs).
  mutating func quantize(
    on states: CalibrationStates, configuration c: BertConfiguration, floatStates: CalibrationStates? = nil
  ) throws(EncoderError) {
    if let floatStates {
      floatMeans = try floatStates.statistics(
        of: Set(LinearSite.allCases), through: try floatLayer(),
        configuration: c, engine: engine, hessians: false
      ).mapValues(\.mean)
    }
    let stages: [[LinearSite]] = plan.sequential ? LinearSite.allCases.map { [$0] } : [LinearSite.allCases]
    for stage in stages {
      let statistics = try states.statistics(of: Set(stage), through: try layer(), configuration: c, engine: engine)
      for site in stage {
        guard let inputs = statistics[site] else {
          throw .invalidOption(name: "calibration", value: "\(site)", expected: "calibration inputs for every linear layer")
        }
        try quantize(site, inputs: inputs)
      }
    }
  }

  /// Quantizes one product with `inputs`' Hessian and corrects its bias with their mean.
  mutating func quantize(_ site: LinearSite, inputs: InputStatistics) throws(EncoderError) {
    let quantized = try CalibratedLinearFactory(hessian: inputs.hessian, plan: plan, engine: engine)
      .makeOperator(for: weights.parts(of: site))
    operators[site] = quantized
    guard plan.biasCorrection, let original = floatOperators[site] else { return }
    let delta = try inputs.mean.withUnsafeBufferPointer { (mean) throws(EncoderError) -> [Float] in
      guard let base = mean.baseAddress else { return [] }
      let exact = try (floatMeans[site] ?? inputs.mean).withUnsafeBufferPointer { (target) throws(EncoderError) in
        try original.product(with: target.baseAddress ?? base, engine: engine)
      }
      let rounded = try quantized.product(with: base, engine: engine)
      return zip(exact, rounded).map { $0 - $1 }
    }
    biases.add(delta, to: site)
  }
}

/// Quantizes a product with GPTQ and the Hessian of its calibration inputs; the
/// word-embedding table becomes INT8 rows as with `--weights int8`.
struct CalibratedLinearFactory: LinearOperatorFactory {
  let hessian: GPTQHessian
  let plan: CalibrationPlan
  let engine: Engine

  /// Parts that share an input (q, k, v) share its Hessian: GPTQ treats rows independently,
  /// so quantizing them stacked or in runs (some kept at INT8) gives each row the same codes.
  func makeOperator(for parts: [LinearWeight]) throws(EncoderError) -> any LinearOperator {
    var operators: [any LinearOperator] = []
    for run in partRuns(parts, wide: plan.wideMatrices) {
      let dense = run.parts.map { $0.dense(engine: engine) }
      let weight = dense.count == 1 ? dense[0] : WeightTensor.stacked(dense, name: dense[0].name)
      let (quantizer, scheme) = run.wide ? (plan.wideGPTQ ?? plan.gptq, plan.wideScheme ?? plan.scheme) : (plan.gptq, plan.scheme)
      let gptq = quantizer.ordered(plan.order).refitting(plan.refitsParameters)
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
