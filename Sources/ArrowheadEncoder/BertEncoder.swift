import ArrowheadCore
import ArrowheadIO

/// A BERT encoder: its configuration, its weights and the forward pass from token ids to
/// one hidden state per token (see this module's README for the maths).
///
/// Weights come from `model.safetensors` (or a sharded index) in F32, F16, BF16 or F64;
/// aligned F32 tensors are used in place in the memory-mapped file, others are converted
/// once. Every tensor's shape is checked against `config.json` when loading, and a
/// mismatch names the tensor, both shapes and the configuration fields they come from.
///
/// Sequences are packed, not padded: the tokens of a batch are stored back to back and the
/// attention of each sequence runs over its own tokens only, which is what BERT's padding
/// mask computes (a masked key gets weight exactly 0) without the padded work.
///
/// Instances are immutable and can be shared between threads.
///
/// ```swift
/// let bert = try BertEncoder(folder: "all-MiniLM-L6-v2")
/// let states = try bert.hiddenStates(for: [[101, 7592, 102]], engine: .default)   // [3 × 384]
/// ```
public struct BertEncoder: Sendable {
  /// The configuration the weights were checked against.
  public let configuration: BertConfiguration

  struct Layer: Sendable {
    /// The query, key and value projections stacked: one product gives q|k|v per token.
    var queryKeyValue: any LinearOperator
    var attentionOutput, intermediate, output: any LinearOperator
    var queryBias, intermediateBias, outputBias: WeightTensor
    /// b_o + W_o·b_v: the value bias passes through attention unchanged (each row of
    /// softmax weights sums to 1), so it is applied after the output projection.
    var attentionOutputBias: WeightTensor
    var attentionNormGamma, attentionNormBeta, outputNormGamma, outputNormBeta: WeightTensor
  }

  let wordEmbeddings: EmbeddingTable
  let positionEmbeddings: WeightTensor
  let tokenTypeEmbeddings: WeightTensor
  let embeddingNormGamma: WeightTensor
  let embeddingNormBeta: WeightTensor
  /// Filled once in `init` (after the embeddings, so that calibration can run them).
  private(set) var layers: [Layer]

  /// Loads `folder/config.json` and the folder's safetensors weights. Throws `EncoderError`
  /// naming the file, field or tensor that is missing or wrong (a NaN or ±∞ weight is
  /// `.nonFiniteWeight`).
  public init(folder: String) throws(EncoderError) {
    let configuration = try BertConfiguration(contentsOf: ModelFolder.join(folder, "config.json"))
    try self.init(configuration: configuration, weightsFolder: folder, factory: DenseLinearFactory())
  }

  /// Loads the weights in `weightsFolder` for `configuration`.
  public init(configuration: BertConfiguration, weightsFolder: String) throws(EncoderError) {
    try self.init(configuration: configuration, weightsFolder: weightsFolder, factory: DenseLinearFactory())
  }

  /// Loads the weights with `factory`; with a `calibration` plan, each linear layer is
  /// quantized by GPTQ instead, with the second moments of its inputs on the plan's
  /// sequences (layer by layer: each layer sees the output of the quantized ones before it).
  init(
    configuration unchecked: BertConfiguration, weightsFolder: String, factory: any LinearOperatorFactory,
    engine factoryEngine: Engine = .default, calibration: CalibrationPlan? = nil
  ) throws(EncoderError) {
    // Checked again: the configuration's properties are mutable (heads 0 would divide by 0).
    let c = try unchecked.validated()
    configuration = c
    let source = try WeightSource(folder: weightsFolder, engine: factoryEngine)
    let h = c.hiddenSize
    let hiddenReason = "hidden_size \(h) in config.json"
    wordEmbeddings = try factory.makeEmbeddingTable(for: try source.tensor(
      "embeddings.word_embeddings.weight", shape: [c.vocabularySize, h],
      reason: "vocab_size \(c.vocabularySize) × hidden_size \(h) in config.json"))
    positionEmbeddings = try source.tensor(
      "embeddings.position_embeddings.weight", shape: [c.maximumPositions, h],
      reason: "max_position_embeddings \(c.maximumPositions) × hidden_size \(h) in config.json").copiedFromMapping()
    tokenTypeEmbeddings = try source.tensor(
      "embeddings.token_type_embeddings.weight", shape: [c.tokenTypes, h],
      reason: "type_vocab_size \(c.tokenTypes) × hidden_size \(h) in config.json").copiedFromMapping()
    embeddingNormGamma = try source.tensor(
      ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.gamma"], shape: [h], reason: hiddenReason).copiedFromMapping()
    embeddingNormBeta = try source.tensor(
      ["embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta"], shape: [h], reason: hiddenReason).copiedFromMapping()
    layers = []
    var calibrationStates = try calibration.map { (plan) throws(EncoderError) in try CalibrationStates(plan.sequences, encoder: self, engine: factoryEngine) }
    var floatStates = calibration?.floatTarget == true && calibration?.biasCorrection == true ? calibrationStates : nil
    for index in 0..<c.layers {
      let weights = try LayerWeights(index: index, source: source, configuration: c)
      // The file's pages read for this layer (and those mapped around its small tensors)
      // are given back as soon as it is built, so that they never add up while loading.
      defer { source.evictAllPages() }
      guard let plan = calibration, var states = calibrationStates else {
        layers.append(try weights.makeLayer(factory: factory, engine: factoryEngine))
        continue
      }
      // GPTQ on each product's inputs when everything before it is already quantized (see
      // `CalibratedLayerBuilder`); the states then advance through the quantized layer.
      var builder = try CalibratedLayerBuilder(weights: weights, plan: plan, engine: factoryEngine)
      try builder.quantize(on: states, configuration: c, floatStates: floatStates)
      let layer = try builder.layer()
      try states.advance(through: layer, configuration: c, engine: factoryEngine)
      if var float = floatStates {
        try float.advance(through: try builder.floatLayer(), configuration: c, engine: factoryEngine)
        floatStates = float
      }
      calibrationStates = states
      layers.append(layer)
    }
    source.evictAllPages()
    // A checkpoint with more layers than the configuration is a mismatch, not a subset.
    let extra = "encoder.layer.\(c.layers).attention.self.query.weight"
    if source.contains(extra) {
      throw .shapeMismatch(
        tensor: source.prefix + extra, expected: [], actual: [h, h],
        reason: "the weights hold more layers than num_hidden_layers \(c.layers) in config.json")
    }
  }

  /// The hidden states of the last layer for each sequence of token ids: one
  /// `length × hiddenSize` matrix per sequence. Token types are 0 (single sentences).
  ///
  /// Throws `.invalidSequenceLength` for an empty sequence or one longer than
  /// `maximumPositions`, `.tokenOutOfRange` for an id outside the vocabulary.
  public func hiddenStates(for sequences: [[Int]], engine: Engine) throws(EncoderError) -> [Matrix] {
    let batch = try PackedBatch(sequences, configuration: configuration)
    var states = [Float](repeating: 0, count: batch.tokenCount * configuration.hiddenSize)
    try states.withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
      guard let base = buffer.baseAddress, batch.tokenCount > 0 else { return }
      try forward(batch, into: base, engine: engine)
    }
    let h = configuration.hiddenSize
    var result: [Matrix] = []
    for index in 0..<batch.count {
      let range = batch.offsets[index] * h..<batch.offsets[index + 1] * h
      do {
        result.append(try Matrix(rows: batch.lengths[index], columns: h, elements: Array(states[range])))
      } catch {
        throw .engine(error)
      }
    }
    return result
  }

  // MARK: - Forward pass

  /// Rows of the feed-forward block computed at a time, so that the intermediate
  /// activations take 1024 × intermediate floats (6 MiB for MiniLM) instead of growing with
  /// the batch. Each block repacks the weights inside the gemm: measured against a whole
  /// batch at once (~4 400 tokens), 1024 rows cost ~0.4 % more packing time, 256 rows ~3 %.
  static let feedForwardBlockRows = 1024

  /// Runs the forward pass on `batch`, writing `tokenCount × hiddenSize` states to `out`.
  ///
  /// Scratch: one `tokens × 3h` buffer of q|k|v rows, reused in place — each head's
  /// context overwrites its queries once its scores are computed, the attention projection
  /// goes to the dead keys, the feed-forward output to the dead values — plus one
  /// feed-forward block; attention takes one length² score block per sequence in flight.
  ///
  /// `scratch`, when given, must hold `scratchCount(tokens:)` floats for this batch's
  /// tokens: successive passes then reuse one scratch instead of mapping fresh pages.
  func forward(
    _ batch: PackedBatch, into out: UnsafeMutablePointer<Float>, engine: Engine, scratch: UnsafeMutablePointer<Float>? = nil
  ) throws(EncoderError) {
    if batch.tokenCount == 0 { return }
    embed(batch, into: out, engine: engine)
    try Self.run(layers, configuration: configuration, batch: batch, states: out, engine: engine, scratch: scratch)
  }

  /// Floats of scratch `run` needs for a batch of `tokens` tokens: T × 3h for q|k|v plus one
  /// feed-forward block.
  static func scratchCount(tokens: Int, configuration c: BertConfiguration) -> Int {
    tokens * 3 * c.hiddenSize + Swift.min(tokens, feedForwardBlockRows) * c.intermediateSize
  }

  /// Runs `layers` on the `tokenCount × hiddenSize` states of `batch` in place. `capture`
  /// (calibration) sees the input rows of every product before it runs.
  static func run(
    _ layers: [Layer], configuration c: BertConfiguration, batch: PackedBatch, states out: UnsafeMutablePointer<Float>, engine: Engine,
    capture: InputCapture? = nil, scratch given: UnsafeMutablePointer<Float>? = nil
  ) throws(EncoderError) {
    let h = c.hiddenSize
    let inner = c.intermediateSize
    let tokens = batch.tokenCount
    if tokens == 0 { return }
    let threads = engine.effectiveThreads
    let epsilon = c.layerNormEpsilon
    let stride = 3 * h
    let blockRows = Swift.min(tokens, Self.feedForwardBlockRows)
    let scratch = given ?? UnsafeMutablePointer<Float>.allocate(capacity: scratchCount(tokens: tokens, configuration: c))
    defer { if given == nil { scratch.deallocate() } }
    let qkv = scratch
    let block = qkv + tokens * stride
    let box = UncheckedSendableBox((hidden: out, qkv: qkv, block: block))
    let kernels = LayerKernels(engine)

    for layer in layers {
      // Q, K, V side by side. The key bias is left out: it adds q·b_k to every score of a
      // query row, which softmax ignores; the value bias is folded into the output bias.
      try capture?(.queryKeyValue, tokens, out, h)
      try layer.queryKeyValue.apply(rows: tokens, input: out, inputStride: h, output: qkv, outputStride: stride, engine: engine)
      Parallel.forEachChunk(tokens, granularity: 16, threads: threads) { range in
        kernels.bias.addBias(
          rows: range.count, columns: h, box.value.qkv + range.lowerBound * stride, ld: stride, bias: layer.queryBias.pointer)
      }
      try attention(batch, configuration: c, qkv: qkv, engine: engine, kernels: kernels)
      // Output projection (into the keys' columns), then LayerNorm(· + b + residual).
      try capture?(.attentionOutput, tokens, qkv, stride)
      try layer.attentionOutput.apply(rows: tokens, input: qkv, inputStride: stride, output: qkv + h, outputStride: stride, engine: engine)
      Parallel.forEachChunk(tokens, granularity: 8, threads: threads) { range in
        kernels.residualNorm.addBiasResidualLayerNorm(
          rows: range.count, columns: h, box.value.qkv + range.lowerBound * stride + h, ld: stride,
          bias: layer.attentionOutputBias.pointer, residual: box.value.hidden + range.lowerBound * h,
          gamma: layer.attentionNormGamma.pointer, beta: layer.attentionNormBeta.pointer, epsilon: epsilon)
      }
      // Feed-forward by blocks of rows: GELU(x·W₁ᵀ + b₁)·W₂ᵀ (into the values' columns),
      // then LayerNorm(· + b₂ + residual).
      var first = 0
      while first < tokens {
        let rows = Swift.min(blockRows, tokens - first)
        let states = out + first * h
        try capture?(.intermediate, rows, states, h)
        try layer.intermediate.apply(rows: rows, input: states, inputStride: h, output: block, outputStride: inner, engine: engine)
        Parallel.forEachChunk(rows, granularity: 8, threads: threads) { range in
          kernels.gelu.addBiasGELU(
            rows: range.count, columns: inner, box.value.block + range.lowerBound * inner, ld: inner,
            bias: layer.intermediateBias.pointer)
        }
        let target = qkv + first * stride + 2 * h
        try capture?(.output, rows, block, inner)
        try layer.output.apply(rows: rows, input: block, inputStride: inner, output: target, outputStride: stride, engine: engine)
        let offset = first
        Parallel.forEachChunk(rows, granularity: 8, threads: threads) { range in
          let row = offset + range.lowerBound
          kernels.residualNorm.addBiasResidualLayerNorm(
            rows: range.count, columns: h, box.value.qkv + row * stride + 2 * h, ld: stride, bias: layer.outputBias.pointer,
            residual: box.value.hidden + row * h, gamma: layer.outputNormGamma.pointer,
            beta: layer.outputNormBeta.pointer, epsilon: epsilon)
        }
        first += rows
      }
    }
  }

  /// out[t] ← LayerNorm(word[idₜ] + position[t − start] + tokenType[0]).
  func embed(_ batch: PackedBatch, into out: UnsafeMutablePointer<Float>, engine: Engine) {
    let threads = engine.effectiveThreads
    let norm = engine.backend(for: .addLayerNorm, .large)
    let h = configuration.hiddenSize
    let epsilon = configuration.layerNormEpsilon
    let outBox = UncheckedSendableBox(out)
    batch.ids.withUnsafeBufferPointer { ids in
      batch.positions.withUnsafeBufferPointer { positions in
        let idsBox = UncheckedSendableBox(ids)
        let positionsBox = UncheckedSendableBox(positions)
        Parallel.forEachChunk(batch.tokenCount, granularity: 16, threads: threads) { range in
          for t in range {
            let target = outBox.value + t * h
            norm.addLayerNorm(
              columns: h, wordEmbeddings.row(Int(idsBox.value[t]), columns: h, into: target),
              positionEmbeddings.pointer + Int(positionsBox.value[t]) * h,
              tokenTypeEmbeddings.pointer, gamma: embeddingNormGamma.pointer, beta: embeddingNormBeta.pointer,
              epsilon: epsilon, outBox.value + t * h)
          }
        }
      }
    }
  }

  /// For each sequence and head, softmax(Q·Kᵀ/√d)·V over the sequence's own tokens
  /// (as diag(1/Σ)·(2^(S − max)·V) with S = Q·Kᵀ·log₂e/√d),
  /// written over that head's queries (dead once its scores are computed). Sequences run
  /// in parallel; their products on one thread each.
  private static func attention(
    _ batch: PackedBatch, configuration c: BertConfiguration, qkv: UnsafeMutablePointer<Float>, engine: Engine,
    kernels: LayerKernels
  ) throws(EncoderError) {
    let h = c.hiddenSize
    let d = c.headDimension
    let stride = 3 * h
    // Scores in base 2: softmax(s) = 2^(s·log₂e − max)/Σ, so the exponent needs no
    // multiplication by log₂e (`TransformerKernels.exponentiateRows`).
    let scale = 1.442_695_04 / Float(d).squareRoot()
    let single = engine.withThreads(1)
    let box = UncheckedSendableBox(qkv)
    let failure = LockedValue<ArrowheadError?>(nil)
    let workers = Swift.min(batch.count, Swift.max(engine.effectiveThreads, 1))
    Parallel.forEach(workers, threads: workers) { worker in
      let qkv = box.value
      // Every workers-th sequence: the batch is sorted by length, so the work is balanced.
      let sequences = Swift.stride(from: worker, to: batch.count, by: workers)
      // One length × length score block while a sequence runs (not Σ nᵢ² for the batch):
      // 256 KiB at 256 tokens, against 8 MiB for 32 such sequences; allocated once for a
      // thread's sequences (a block that size is mapped afresh by each allocation).
      let longest = sequences.map { batch.lengths[$0] }.max() ?? 0
      let block = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(longest * longest + longest, 1))
      defer { block.deallocate() }
      // 1/Σ of each score row, applied to the d-wide context rows instead of the n-wide weights.
      let inverseSums = block + longest * longest
      for index in sequences {
        let length = batch.lengths[index]
        let rows = qkv + batch.offsets[index] * stride
        let headLayout = MatrixLayout(rows: length, columns: d, leadingDimension: stride)
        let scoreLayout = MatrixLayout(rows: length, columns: length)
        let headCount = headLayout.requiredCount
        do throws(ArrowheadError) {
          for head in 0..<c.attentionHeads {
            let q = rows + head * d
            try single.gemm(
              transposeB: .transposed, alpha: scale, a: UnsafeBufferPointer(start: q, count: headCount), headLayout,
              b: UnsafeBufferPointer(start: rows + h + head * d, count: headCount), headLayout,
              c: UnsafeMutableBufferPointer(start: block, count: length * length), scoreLayout)
            kernels.exponentiate.exponentiateRows(rows: length, columns: length, block, ld: length, inverseSums: inverseSums)
            try single.gemm(
              a: UnsafeBufferPointer(start: block, count: length * length), scoreLayout,
              b: UnsafeBufferPointer(start: rows + 2 * h + head * d, count: headCount), headLayout,
              c: UnsafeMutableBufferPointer(start: q, count: headCount), headLayout)
            kernels.scale.scaleRows(rows: length, columns: d, q, ld: stride, scales: inverseSums)
          }
        } catch {
          failure.withLock { if $0 == nil { $0 = error } }
          return
        }
      }
    }
    if let error = failure.withLock({ $0 }) { throw .engine(error) }
  }
}

/// The transformer kernels a pass runs (`TransformerKernels`), as dispatch chose them for
/// the pass's engine: chosen once per pass, not per row block.
struct LayerKernels: Sendable {
  let bias: any Backend
  let gelu: any Backend
  let residualNorm: any Backend
  let exponentiate: any Backend
  let scale: any Backend

  init(_ engine: Engine) {
    bias = engine.backend(for: .addBias, .large)
    gelu = engine.backend(for: .addBiasGELU, .large)
    residualNorm = engine.backend(for: .addBiasResidualLayerNorm, .large)
    exponentiate = engine.backend(for: .exponentiateRows, .large)
    scale = engine.backend(for: .scaleRows, .large)
  }
}

/// A batch of token-id sequences packed back to back (no padding).
struct PackedBatch: Sendable {
  /// Token ids, all sequences concatenated.
  var ids: [Int32]
  /// Each token's position within its sequence.
  var positions: [Int32]
  /// Tokens per sequence.
  var lengths: [Int]
  /// Start of each sequence in `ids` (count + 1 entries; the last is the total).
  var offsets: [Int]

  var count: Int { lengths.count }
  var tokenCount: Int { offsets.last ?? 0 }

  /// Sequences `range` of this batch, packed on their own.
  func slice(_ range: Range<Int>) -> PackedBatch {
    if range == 0..<count { return self }
    let start = offsets[range.lowerBound], end = offsets[range.upperBound]
    return PackedBatch(
      ids: Array(ids[start..<end]), positions: Array(positions[start..<end]), lengths: Array(lengths[range]),
      offsets: offsets[range.lowerBound...range.upperBound].map { $0 - start })
  }

  private init(ids: [Int32], positions: [Int32], lengths: [Int], offsets: [Int]) {
    self.ids = ids
    self.positions = positions
    self.lengths = lengths
    self.offsets = offsets
  }

  init<S: Collection>(_ sequences: [S], configuration: BertConfiguration) throws(EncoderError) where S.Element: BinaryInteger {
    var ids: [Int32] = []
    var positions: [Int32] = []
    var lengths: [Int] = []
    var offsets = [0]
    ids.reserveCapacity(sequences.reduce(0) { $0 + $1.count })
    positions.reserveCapacity(ids.capacity)
    for (index, sequence) in sequences.enumerated() {
      guard (1...configuration.maximumPositions).contains(sequence.count) else {
        throw .invalidSequenceLength(sequence: index, length: sequence.count, maximum: configuration.maximumPositions)
      }
      for (position, id) in sequence.enumerated() {
        guard id >= 0, id < configuration.vocabularySize else {
          throw .tokenOutOfRange(sequence: index, position: position, id: Int(id), vocabularySize: configuration.vocabularySize)
        }
        ids.append(Int32(id))
        positions.append(Int32(position))
      }
      lengths.append(sequence.count)
      offsets.append(ids.count)
    }
    self.ids = ids
    self.positions = positions
    self.lengths = lengths
    self.offsets = offsets
  }
}
