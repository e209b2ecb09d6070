import ArrowheadCore
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import ArrowheadTokenizer
import Synchronization

/// How the encoder's linear layers hold their weights.
///
/// Position and token-type embeddings, LayerNorm parameters and biases always stay in
/// Float32 (a few KiB per layer); the word-embedding table is held as INT8 rows when the
/// linear layers are quantized (read a row per token).
public enum WeightFormat: String, Sendable, Hashable, CaseIterable {
  /// As the weights file holds them: Float32 for a plain safetensors file; for an Arrowhead
  /// quantized file (`arrowhead quantize`), its quantized matrices through the quantized
  /// matmul and the tensors it kept in floating point through the gemm.
  case automatic = "auto"
  /// Float32 (F16/BF16 converted; an Arrowhead quantized file dequantized), multiplied by
  /// `Engine.gemm`.
  case float32 = "f32"
  /// Quantized on load to INT8, groups of 64, float minimum, min-max parameters.
  case int8
  /// Quantized on load to INT4, groups of 64, float minimum, parameters chosen by the grid
  /// search with least squares (`GridSearchOptimizer`, the lowest-error weight optimizer
  /// of the library that needs no calibration data).
  case int4

  /// The scheme `int8` and `int4` quantize with (nil for the others).
  public var scheme: QuantizationScheme? {
    switch self {
    case .automatic, .float32: nil
    case .int8: try? QuantizationScheme(bits: 8, granularity: .perGroup(64), mode: .floatMinimum)
    case .int4: try? QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .floatMinimum)
    }
  }

  /// The activation arithmetic used when none is given: `.int8` (W8A8, W4A8) for both
  /// quantized formats — measured faster than Float32 activations on MiniLM batches, at a
  /// mean cosine to the Float32 embedding of 0.9994 (INT8) and the same as weight-only
  /// for INT4 (see the module README).
  public var defaultActivations: QuantizedMatmulMode { .int8 }
}

/// How `encode` spreads its work over threads.
public enum EncoderParallelism: String, Sendable, Hashable, CaseIterable {
  /// Whole batches on separate threads, each batch's products on one thread. The default:
  /// measured faster on 2 cores (see the README), since nothing waits at the joins of
  /// the many small steps of a layer.
  case acrossBatches = "batches"
  /// One batch at a time, every product and row pass split over the threads.
  case insideProducts = "products"
}

/// Options of `SentenceEncoder.encode`.
public struct EncodingOptions: Sendable, Hashable {
  /// Texts per forward pass (≥ 1). Default 32, as sentence-transformers.
  public var batchSize: Int
  /// At most this many tokens per batch (nil: no limit): a batch of long texts then holds
  /// fewer than `batchSize` texts; a text longer than the limit still runs, alone. (The
  /// layers run a batch in passes of at most 256 tokens whatever this is, so the scratch
  /// of a pass does not grow with the batch.)
  public var maximumBatchTokens: Int?
  /// Threads (≥ 1); nil: the engine's.
  public var threads: Int?
  /// How the threads share the work.
  public var parallelism: EncoderParallelism

  /// Creates options.
  public init(
    batchSize: Int = 32, threads: Int? = nil, parallelism: EncoderParallelism = .acrossBatches, maximumBatchTokens: Int? = nil
  ) {
    self.batchSize = batchSize
    self.maximumBatchTokens = maximumBatchTokens
    self.threads = threads
    self.parallelism = parallelism
  }
}

/// What `SentenceEncoder.encodeReporting` returns: the embeddings and what happened to
/// the texts on the way.
public struct SentenceEncoding: Sendable, Equatable {
  /// One row per text, in input order.
  public var embeddings: Matrix
  /// Indices of the texts that were longer than `maximumSequenceLength` tokens and lost
  /// their end (as sentence-transformers truncates them).
  public var truncatedTexts: [Int]
  /// Tokens run through the model (special tokens included, after truncation).
  public var tokenCount: Int

  /// Creates a value.
  public init(embeddings: Matrix, truncatedTexts: [Int], tokenCount: Int) {
    self.embeddings = embeddings
    self.truncatedTexts = truncatedTexts
    self.tokenCount = tokenCount
  }
}

/// What the streaming `SentenceEncoder.encode(_:options:progress:rows:)` reports besides
/// the rows it hands over.
public struct EncodingSummary: Sendable, Equatable {
  /// Indices of the texts that were longer than `maximumSequenceLength` tokens and lost
  /// their end, in increasing order.
  public var truncatedTexts: [Int]
  /// Tokens run through the model (special tokens included, after truncation).
  public var tokenCount: Int

  /// Creates a value.
  public init(truncatedTexts: [Int], tokenCount: Int) {
    self.truncatedTexts = truncatedTexts
    self.tokenCount = tokenCount
  }
}

/// Why a streaming `SentenceEncoder.encode(_:options:progress:rows:)` failed: the encoder,
/// or the code that received the rows.
public enum StreamedEncodingFailure<ConsumerError: Error>: Error {
  /// The encoder's error (an option, a sequence, the engine).
  case encoder(EncoderError)
  /// What the `rows` closure threw; no batch was handed over after it.
  case consumer(ConsumerError)
}

extension StreamedEncodingFailure where ConsumerError == Never {
  /// The encoder's error (the only kind when the consumer cannot throw).
  var encoderError: EncoderError {
    switch self {
    case .encoder(let error): error
    }
  }
}

/// A sentence-transformers model on Arrowhead's engine: texts in, one embedding per text
/// out.
///
/// Loads a sentence-transformers folder: `modules.json` (Transformer → Pooling →
/// optional Normalize), the transformer's `config.json`, safetensors weights and tokenizer
/// (`tokenizer.json` or `vocab.txt`), the pooling `config.json` and
/// `sentence_bert_config.json` (`max_seq_length`, the truncation length).
///
/// Texts are tokenized, sorted by token count (longest first), cut into batches and
/// packed without padding; the result's rows are in input order.
///
/// ```swift
/// let encoder = try SentenceEncoder(folder: "all-MiniLM-L6-v2", engine: .default)
/// let embeddings = try encoder.encode(["A man is eating food.", "Someone eats."])  // 2 × 384
/// ```
public struct SentenceEncoder: Sendable {
  /// The transformer.
  public let bert: BertEncoder
  /// Pooling modes and normalisation.
  public let pooling: PoolingConfiguration
  /// Longest token sequence the model reads (`max_seq_length`, at most the position table).
  public let maximumSequenceLength: Int
  /// The engine that runs the products.
  public let engine: Engine
  /// How the matrices are held (as asked; `.automatic` stays `.automatic`).
  public let weightFormat: WeightFormat
  /// The activation arithmetic of the quantized layers (nil when none is quantized).
  public let activations: QuantizedMatmulMode?
  /// The tokenizer (truncating at `maximumSequenceLength`, not padding).
  public let tokenizer: Tokenizer
  /// Whether the quantized layers were made by GPTQ on calibration texts.
  public let isCalibrated: Bool
  /// The matrices kept at INT8 under `.int4` weights (empty otherwise).
  public let int8Matrices: Set<EncoderMatrix>

  /// Width of the embeddings.
  public var dimension: Int { pooling.outputDimension(hiddenSize: bert.configuration.hiddenSize) }

  /// Loads the sentence-transformers model in `folder`.
  ///
  /// - Parameters:
  ///   - weights: how the linear layers hold their weights: `.automatic` (default) uses the
  ///     weights file as it is (Float32, or an Arrowhead quantized file's matrices), `.int8`
  ///     / `.int4` quantize a Float32 file on load — the Float32 matrices are not kept —
  ///     and `.float32` dequantizes a quantized file.
  ///   - activations: for quantized layers, Float32 activations (`.weightOnly`) or int8 ones
  ///     quantized on the fly (`.int8`); nil: `weights.defaultActivations` (`.int8`).
  ///     Refused (`.invalidOption`) where the layers are Float32 (a Float32 file with
  ///     `.automatic`, or `.float32`).
  ///   - calibration: with `.int8` / `.int4`, texts on which to calibrate the quantization:
  ///     each linear layer is then quantized by GPTQ (`GPTQQuantizer`, group parameters from
  ///     the grid search for int4, min-max for int8) with the second moments of the inputs
  ///     it receives on these texts, layer after layer (a layer sees the output of the
  ///     quantized layers before it). nil (default): round-to-nearest with the format's
  ///     optimizer. Use texts like the ones to embed, not the ones evaluated on; 64–256 are
  ///     enough (loading runs the model over them once per layer). Refused with any other
  ///     `weights` (`.invalidOption`), and empty (`.invalidOption`).
  ///   - int8Matrices: with `.int4`, these matrices of every layer are quantized to INT8
  ///     instead (groups of 64, min-max, or GPTQ with min-max groups when calibrating): a
  ///     mixed-precision option beyond the plain INT4 format, for the matrices the
  ///     embedding is most sensitive to (`.value` for MiniLM: 1/12 of the linear weights,
  ///     see the module README). Refused with any other `weights`.
  ///
  /// Throws `EncoderError` naming the file that is missing or wrong (`modules.json`,
  /// `config.json`, `1_Pooling/config.json`, `model.safetensors`), an unsupported setting
  /// and the field that holds it, a tensor whose shape disagrees with the configuration
  /// (a quantized file's tensors included), a NaN or ±∞ weight (`.nonFiniteWeight`, naming
  /// the tensor and index), a quantized file that fails its checks, or `.invalidOption` for
  /// `.int8` / `.int4` on a file that is already quantized.
  public init(
    folder: String, engine: Engine = .default, weights: WeightFormat = .automatic, activations: QuantizedMatmulMode? = nil,
    calibration: [String]? = nil, int8Matrices: Set<EncoderMatrix> = []
  ) throws(EncoderError) {
    let layout = try SentenceTransformerLayout(folder: folder)
    let configuration = try BertConfiguration(contentsOf: ModelFolder.join(layout.transformerFolder, "config.json"))
    let quantizedFile = try Self.quantizedFileBits(in: layout.transformerFolder)
    let maximum = Swift.min(layout.maximumSequenceLength ?? configuration.maximumPositions, configuration.maximumPositions)
    let tokenizer: Tokenizer
    do {
      tokenizer = try Self.unpadded(Tokenizer(modelDirectory: layout.transformerFolder, maximumLength: maximum))
    } catch {
      throw .tokenizer(error)
    }
    if !int8Matrices.isEmpty && (weights != .int4 || quantizedFile != nil) {
      throw .invalidOption(
        name: "int8Matrices", value: int8Matrices.map(\.rawValue).sorted().joined(separator: ","),
        expected: "weights int4 quantized on load from a Float32 file (matrices kept at INT8 among INT4 ones)")
    }
    if let calibration {
      guard weights == .int8 || weights == .int4, quantizedFile == nil else {
        throw .invalidOption(
          name: "calibration", value: "\(calibration.count) texts",
          expected: "weights int8 or int4 quantized on load from a Float32 file (not \(weights.rawValue)\(quantizedFile == nil ? "" : " on an already quantized file"))")
      }
      guard !calibration.isEmpty else {
        throw .invalidOption(name: "calibration", value: "0 texts", expected: "at least one calibration text")
      }
    }
    var plan: CalibrationPlan?
    let factory: any LinearOperatorFactory
    switch (weights, quantizedFile) {
    case (.float32, _), (.automatic, nil):
      if let activations {
        // Float32 layers have no activation mode: silently ignoring it would let the
        // caller believe the products ran with it.
        throw .invalidOption(
          name: "activations", value: activations.rawValue,
          expected: "no activation mode here: activations apply to quantized layers, and these are Float32 (\(quantizedFile == nil ? "the model's weights are Float32" : "weights f32 dequantizes the quantized file")); use weights int8 or int4, or an Arrowhead quantized model with weights auto")
      }
      factory = DenseLinearFactory(engine: engine)
      self.activations = nil
    case (.automatic, let bits?):
      let mode = activations ?? (bits > 0 ? weights.defaultActivations : .weightOnly)
      factory = QuantizedLinearFactory(quantizer: nil, mode: mode, engine: engine)
      self.activations = mode
    case (.int8, _?), (.int4, _?):
      throw .invalidOption(
        name: "weights", value: weights.rawValue,
        expected: "auto or f32: '\(layout.transformerFolder)' holds an Arrowhead quantized file, which is used as quantized (auto) or dequantized (f32)")
    case (.int8, nil), (.int4, nil):
      guard let scheme = weights.scheme else { throw .invalidOption(name: "weights", value: weights.rawValue, expected: "f32, int8, int4") }
      let optimizer: any ParameterOptimizer
      if weights == .int4 {
        do {
          optimizer = try GridSearchOptimizer()
        } catch {
          throw .invalidOption(name: "weights", value: weights.rawValue, expected: "\(error)")
        }
      } else {
        optimizer = MinMaxOptimizer()
      }
      let mode = activations ?? weights.defaultActivations
      let wide = weights == .int4 ? int8Matrices : []
      let wideScheme = WeightFormat.int8.scheme
      factory = QuantizedLinearFactory(
        quantizer: Quantizer(scheme: scheme, optimizer: optimizer, engine: engine), mode: mode, engine: engine, wideMatrices: wide,
        wideQuantizer: wideScheme.map { Quantizer(scheme: $0, optimizer: MinMaxOptimizer(), engine: engine) })
      self.activations = mode
      if let calibration {
        let gptq: GPTQQuantizer
        let wideGPTQ: GPTQQuantizer
        do {
          gptq = try GPTQQuantizer(groupOptimizer: optimizer, hessianImportance: true)
          wideGPTQ = try GPTQQuantizer(groupOptimizer: MinMaxOptimizer())
        } catch {
          throw .invalidOption(name: "calibration", value: "\(calibration.count) texts", expected: "\(error)")
        }
        let sequences = tokenizer.encode(calibration, threads: engine.effectiveThreads).encodings.map(\.ids)
        plan = CalibrationPlan(
          sequences: sequences, scheme: scheme, gptq: gptq, mode: mode, wideMatrices: wide, wideScheme: wideScheme, wideGPTQ: wideGPTQ)
      }
    }
    // The weights first: a wrong width in config.json is reported against the tensors.
    bert = try BertEncoder(
      configuration: configuration, weightsFolder: layout.transformerFolder, factory: factory, engine: engine, calibration: plan)
    pooling = try PoolingConfiguration(
      contentsOf: layout.poolingConfigurationPath, hiddenSize: configuration.hiddenSize, normalizes: layout.normalizes)
    maximumSequenceLength = maximum
    self.engine = engine
    weightFormat = weights
    isCalibrated = plan != nil
    self.int8Matrices = weights == .int4 ? int8Matrices : []
    self.tokenizer = tokenizer
    // The Float32 weights the quantizer (or the transposition) worked from are freed now,
    // in between the layers built from them: their pages go back to the kernel.
    FreedMemory.giveBack()
  }

  /// Creates an encoder from parts (tests, custom pipelines); `tokenizer` is set to
  /// truncate at `maximumSequenceLength` (default: the model's position table).
  public init(
    bert: BertEncoder, tokenizer: Tokenizer, pooling: PoolingConfiguration, maximumSequenceLength: Int? = nil, engine: Engine
  ) throws(EncoderError) {
    self.bert = bert
    self.pooling = pooling
    let maximum = Swift.min(maximumSequenceLength ?? bert.configuration.maximumPositions, bert.configuration.maximumPositions)
    self.maximumSequenceLength = maximum
    self.engine = engine
    weightFormat = .automatic
    activations = nil
    isCalibrated = false
    int8Matrices = []
    do {
      var configured = try Self.unpadded(tokenizer)
      try configured.setTruncation(Truncation(maximumLength: maximum, side: tokenizer.truncation?.side ?? .right))
      self.tokenizer = configured
    } catch {
      throw .tokenizer(error)
    }
  }

  /// The widest bits of the quantized tensors when `folder`'s weights file is an Arrowhead
  /// quantized file (nil for a plain file or an absent one: loading reports that).
  private static func quantizedFileBits(in folder: String) throws(EncoderError) -> Int? {
    guard let model = try? SafetensorsModel(path: folder), model.metadata[QuantizedModelFormat.formatKey] != nil else { return nil }
    let prefix = QuantizedModelFormat.tensorKeyPrefix
    var widest = 0
    for (key, value) in model.metadata where key.hasPrefix(prefix) {
      if let bits = (try? JSONValue.parse(Array(value.utf8)))?["bits"]?.integer {
        widest = Swift.max(widest, bits)
      }
    }
    return widest
  }

  private static func unpadded(_ tokenizer: Tokenizer) throws(TokenizerError) -> Tokenizer {
    var copy = tokenizer
    try copy.setPadding(nil)
    return copy
  }

  /// Embeds `texts`: one row per text, in input order (see `encodeReporting` for how many
  /// were truncated). Any text is accepted; an empty one embeds `[CLS] [SEP]`.
  ///
  /// - Parameters:
  ///   - options: batch size (32), threads (the engine's), parallelism.
  ///   - progress: called with the number of texts just finished (after each batch),
  ///     possibly from several threads at once.
  public func encode(
    _ texts: [String], options: EncodingOptions = EncodingOptions(), progress: (@Sendable (Int) -> Void)? = nil
  ) throws(EncoderError) -> Matrix {
    try encodeReporting(texts, options: options, progress: progress).embeddings
  }

  /// Embeds `texts` and reports which were truncated and how many tokens ran.
  ///
  /// The same batches and values as the streaming `encode(_:options:progress:rows:)`,
  /// gathered into one matrix.
  public func encodeReporting(
    _ texts: [String], options: EncodingOptions = EncodingOptions(), progress: (@Sendable (Int) -> Void)? = nil
  ) throws(EncoderError) -> SentenceEncoding {
    let (embeddings, summary) = try gathered(rows: texts.count) { consume throws(StreamedEncodingFailure<Never>) in
      try encode(texts, options: options, progress: progress, rows: consume)
    }
    return SentenceEncoding(embeddings: embeddings, truncatedTexts: summary.truncatedTexts, tokenCount: summary.tokenCount)
  }

  /// Runs a streaming encode (`stream` hands its batches to the closure it is given) and
  /// gathers the batches' rows into one `count × dimension` matrix in input order.
  private func gathered<R>(
    rows count: Int, _ stream: (([Int], Matrix) throws(Never) -> Void) throws(StreamedEncodingFailure<Never>) -> R
  ) throws(EncoderError) -> (Matrix, R) {
    let width = dimension
    var output = [Float](repeating: 0, count: count * width)
    let result: R
    do throws(StreamedEncodingFailure<Never>) {
      result = try stream { (rows, embeddings) throws(Never) in Self.scatter(embeddings, rows: rows, into: &output) }
    } catch {
      throw error.encoderError
    }
    do {
      return (try Matrix(rows: count, columns: width, elements: output), result)
    } catch {
      throw .engine(error)
    }
  }

  /// Texts tokenized at a time by the streaming `encode`, which keeps only each text's
  /// ids, packed (`TokenStore`), not the tokenizer's whole output (the encodings of a
  /// whole 10 000-text corpus took ~17 MiB when they were all held). Measured (with the
  /// texts tokenized a second time per batch, before `TokenStore`): INT8 on the 10 000
  /// corpus texts at 1 thread peaked 1.2 MiB lower than with chunks of 1 024 texts; the
  /// tokenizer's threads still get ≥ 2 texts per chunk.
  static let lengthPassTexts = 64

  /// Embeds `texts` and hands the embeddings over batch by batch, without holding all the
  /// texts' encodings or all the embeddings: `rows` receives each batch once it is done —
  /// `rows[i]` is the input index of row i of `embeddings` (a `rows.count × dimension`
  /// matrix) — in the batches' order, not the input's, one call at a time (possibly from
  /// a worker thread, never concurrently), each text exactly once.
  ///
  /// The texts are tokenized first, in chunks, keeping only their ids, packed at 2 bytes
  /// an id for a vocabulary of ≤ 65 536 tokens (and checked, so that a bad sequence fails
  /// before any row is handed over); the texts themselves are released then, if the
  /// caller handed them over (`consume`), so that the strings (~3 MiB for a 10 000-text
  /// corpus against ~1.3 MiB of ids) are not held while the model runs. The batches are
  /// the ones `encodeReporting` and `encode(tokenIDs:)` run — all texts sorted by token
  /// count, longest first, then cut — so every row is bit-identical to theirs.
  ///
  /// ```swift
  /// var embeddings = [[Float]](repeating: [], count: texts.count)
  /// let summary = try encoder.encode(texts) { (rows, batch) throws(Never) in
  ///   for (i, row) in rows.enumerated() { embeddings[row] = Array(batch.elements[i * batch.columns..<(i + 1) * batch.columns]) }
  /// }
  /// print(summary.tokenCount, summary.truncatedTexts)
  /// ```
  ///
  /// - Throws: `.encoder` with the error `encodeReporting` would throw, or `.consumer`
  ///   with the first error `rows` threw (no batch is handed over after it).
  public func encode<E: Error>(
    _ texts: consuming [String], options: EncodingOptions = EncodingOptions(), progress: (@Sendable (Int) -> Void)? = nil,
    rows consume: ([Int], Matrix) throws(E) -> Void
  ) throws(StreamedEncodingFailure<E>) -> EncodingSummary {
    try encode(consume texts, options: options, progress: progress, lengthPassTexts: Self.lengthPassTexts, rows: consume)
  }

  /// `encode(_:options:progress:rows:)` with the texts tokenized `lengthPassTexts` at a
  /// time (tests use small chunks).
  func encode<E: Error>(
    _ texts: consuming [String], options: EncodingOptions, progress: (@Sendable (Int) -> Void)?, lengthPassTexts: Int,
    rows consume: ([Int], Matrix) throws(E) -> Void
  ) throws(StreamedEncodingFailure<E>) -> EncodingSummary {
    let threads: Int
    do throws(EncoderError) {
      threads = try checkedThreads(options)
    } catch {
      throw .encoder(error)
    }
    var store = TokenStore(vocabularySize: bert.configuration.vocabularySize, texts: texts.count)
    var truncated: [Int] = []
    for start in stride(from: 0, to: texts.count, by: Swift.max(lengthPassTexts, 1)) {
      let end = Swift.min(texts.count, start + Swift.max(lengthPassTexts, 1))
      let chunk = tokenizer.encode(Array(texts[start..<end]), threads: threads)
      for (offset, encoding) in chunk.encodings.enumerated() {
        do throws(EncoderError) {
          try check(encoding.ids, index: start + offset)
        } catch {
          throw .encoder(error)
        }
        if encoding.wasTruncated { truncated.append(start + offset) }
        store.append(encoding.ids)
      }
    }
    // The strings are not read again: released here when the caller handed them over,
    // and their pages given back (they lie below the model's weights in the heap).
    texts = []
    store.shrinkToFit()
    FreedMemory.giveBack()
    let tokens = store.tokenCount
    let ids = store
    try execute(
      lengths: store.lengths, options: options, progress: progress, sequences: { members in members.map { ids.ids(of: $0) } },
      rows: consume)
    return EncodingSummary(truncatedTexts: truncated, tokenCount: tokens)
  }

  /// Embeds already tokenized texts (each sequence with its `[CLS]` and `[SEP]` ids):
  /// one row per sequence, in input order.
  ///
  /// - Parameters:
  ///   - progress: called with the number of sequences just finished (after each batch),
  ///     possibly from several threads at once.
  /// - Throws: `.invalidSequenceLength` for an empty sequence or one longer than
  ///   `maximumSequenceLength`, `.tokenOutOfRange`, `.invalidOption` for a batch size or
  ///   thread count < 1.
  public func encode(
    tokenIDs sequences: [[Int]], options: EncodingOptions = EncodingOptions(),
    progress: (@Sendable (Int) -> Void)? = nil
  ) throws(EncoderError) -> Matrix {
    try run(sequences, options: options, progress: progress)
  }

  func run<S: Collection & Sendable>(
    _ sequences: [S], options: EncodingOptions, progress: (@Sendable (Int) -> Void)?
  ) throws(EncoderError) -> Matrix where S.Element: BinaryInteger, S.Index == Int {
    _ = try checkedThreads(options)
    for (index, sequence) in sequences.enumerated() { try check(sequence, index: index) }
    return try gathered(rows: sequences.count) { consume throws(StreamedEncodingFailure<Never>) in
      try execute(
        lengths: sequences.map(\.count), options: options, progress: progress, sequences: { members in members.map { sequences[$0] } },
        rows: consume)
    }.0
  }

  /// The thread count `options` asks for (the engine's when nil), after checking the
  /// options' numbers.
  private func checkedThreads(_ options: EncodingOptions) throws(EncoderError) -> Int {
    guard options.batchSize >= 1 else {
      throw .invalidOption(name: "batchSize", value: String(options.batchSize), expected: "≥ 1")
    }
    if let threads = options.threads, threads < 1 {
      throw .invalidOption(name: "threads", value: String(threads), expected: "≥ 1")
    }
    if let limit = options.maximumBatchTokens, limit < 1 {
      throw .invalidOption(name: "maximumBatchTokens", value: String(limit), expected: "≥ 1")
    }
    return Parallel.clampedThreads(options.threads ?? engine.effectiveThreads)
  }

  /// Checks that sequence `index` has 1…`maximumSequenceLength` ids, each in the vocabulary.
  private func check<S: Collection>(_ sequence: S, index: Int) throws(EncoderError) where S.Element: BinaryInteger, S.Index == Int {
    guard !sequence.isEmpty, sequence.count <= maximumSequenceLength else {
      throw .invalidSequenceLength(sequence: index, length: sequence.count, maximum: maximumSequenceLength)
    }
    let vocabulary = bert.configuration.vocabularySize
    if let position = sequence.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
      throw .tokenOutOfRange(sequence: index, position: position, id: Int(sequence[position]), vocabularySize: vocabulary)
    }
  }

  /// Copies row i of `embeddings` to row `rows[i]` of the row-major `output`.
  private static func scatter(_ embeddings: Matrix, rows: [Int], into output: inout [Float]) {
    let width = embeddings.columns
    for (index, row) in rows.enumerated() {
      output[row * width..<(row + 1) * width] = embeddings.elements[index * width..<(index + 1) * width]
    }
  }

  /// The batches of `encode`: sequence indices sorted by length (longest first, then by
  /// index), cut every `batchSize` sequences and before a batch would pass
  /// `maximumBatchTokens` tokens.
  static func batches(lengths: [Int], options: EncodingOptions) -> [[Int]] {
    let order = lengths.indices.sorted { lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
    var batches: [[Int]] = []
    var current: [Int] = []
    var currentTokens = 0
    for index in order {
      let length = lengths[index]
      if !current.isEmpty && (current.count == options.batchSize || currentTokens + length > (options.maximumBatchTokens ?? .max)) {
        batches.append(current)
        current = []
        currentTokens = 0
      }
      current.append(index)
      currentTokens += length
    }
    if !current.isEmpty { batches.append(current) }
    return batches
  }

  /// Runs the batches of `lengths` (checked sequences whose ids `sequences` gives for a
  /// batch's members, called when the batch starts) and hands each batch's embeddings to
  /// `consume`, one call at a time under a lock.
  func execute<S: Collection & Sendable, E: Error>(
    lengths: [Int], options: EncodingOptions, progress: (@Sendable (Int) -> Void)?,
    sequences: @escaping @Sendable ([Int]) -> [S], rows consume: ([Int], Matrix) throws(E) -> Void
  ) throws(StreamedEncodingFailure<E>) where S.Element: BinaryInteger {
    let batches = Self.batches(lengths: lengths, options: options)
    let engine = options.threads.map { self.engine.withThreads($0) } ?? self.engine
    try withoutActuallyEscaping(consume) { (consume) throws(StreamedEncodingFailure<E>) in
      try execute(batches, lengths: lengths, engine: engine, parallelism: options.parallelism, progress: progress, sequences: sequences, rows: consume)
    }
  }

  private func execute<S: Collection & Sendable, E: Error>(
    _ batches: [[Int]], lengths: [Int], engine: Engine, parallelism: EncoderParallelism, progress: (@Sendable (Int) -> Void)?,
    sequences: @escaping @Sendable ([Int]) -> [S], rows consume: @escaping ([Int], Matrix) throws(E) -> Void
  ) throws(StreamedEncodingFailure<E>) where S.Element: BinaryInteger {
    let threads = engine.effectiveThreads
    let width = dimension
    // `consume` is not Sendable: the lock makes its calls one at a time, and every worker
    // has finished before this function returns (it does not escape).
    let consumer = UncheckedSendableBox(consume)
    let failure = LockedValue<StreamedEncodingFailure<E>?>(nil)
    let runBatch = { (members: [Int], batchEngine: Engine, scratch: UnsafeMutablePointer<Float>) in
      do throws(EncoderError) {
        let batch = try PackedBatch(sequences(members), configuration: bert.configuration)
        var embeddings = [Float](repeating: 0, count: members.count * width)
        try embeddings.withUnsafeMutableBufferPointer { buffer throws(EncoderError) in
          guard let base = buffer.baseAddress else { return }
          try encodeBatch(batch, rows: Array(members.indices), into: base, engine: batchEngine, scratch: scratch)
        }
        let matrix: Matrix
        do throws(ArrowheadError) {
          matrix = try Matrix(rows: members.count, columns: width, elements: embeddings)
        } catch {
          throw .engine(error)
        }
        failure.withLock { state in
          guard state == nil else { return }
          do throws(E) {
            try consumer.value(members, matrix)
          } catch {
            state = .consumer(error)
          }
        }
        progress?(members.count)
        FreedMemory.giveBack()
      } catch {
        failure.withLock { if $0 == nil { $0 = .encoder(error) } }
      }
    }
    // One scratch per worker, for the largest batch, mapped once and reused by every
    // batch the worker runs (see `ScratchPages`).
    let scratchFloats = batches.map { batch in scratchCount(lengths: batch.map { lengths[$0] }) }.max() ?? 1
    switch parallelism {
    case .acrossBatches where threads > 1 && batches.count > 1:
      let single = engine.withThreads(1)
      let workers = Swift.min(threads, batches.count)
      let next = Atomic<Int>(0)
      Parallel.forEach(workers, threads: workers) { _ in
        let scratch = ScratchPages(count: scratchFloats)
        while !failure.withLock({ $0 != nil }) {
          let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
          if index >= batches.count { break }
          runBatch(batches[index], single, scratch.base)
        }
      }
    default:
      let scratch = ScratchPages(count: scratchFloats)
      for members in batches {
        runBatch(members, engine, scratch.base)
        if failure.withLock({ $0 != nil }) { break }
      }
    }
    if let error = failure.withLock({ $0 }) { throw error }
  }

  /// Tokens run through the layers at a time: a batch is cut into passes of whole
  /// sequences of at most this many tokens (a longer sequence runs alone), each pooled as
  /// soon as it is done, so that the scratch of a forward pass — states, q|k|v and
  /// feed-forward rows, ~12 KiB per token for MiniLM — stops growing with the batch
  /// (a batch of 32 texts of 256 tokens needed ~57 MiB at once, a pass of 512 tokens needs
  /// ~6 MiB). Every product is row-independent, so this changes no value; the gemms then
  /// have M ≈ 512 rows, as efficient as M = 8 192 (measured, see the README).
  static let passTokens = 256

  /// Tokens of the largest pass of a batch whose sequences have `lengths` tokens: passes
  /// hold at most `passTokens` tokens, or one longer sequence.
  static func passCapacity(lengths: some Collection<Int>) -> Int {
    Swift.max(Swift.min(lengths.reduce(0, +), Swift.max(Self.passTokens, lengths.max() ?? 0)), 1)
  }

  /// Floats of states and layer scratch `encodeBatch` needs for a batch whose sequences
  /// have `lengths` tokens.
  func scratchCount(lengths: some Collection<Int>) -> Int {
    let capacity = Self.passCapacity(lengths: lengths)
    return capacity * bert.configuration.hiddenSize + BertEncoder.scratchCount(tokens: capacity, configuration: bert.configuration)
  }

  /// Runs one packed batch and writes each sequence's pooled embedding to its output row.
  ///
  /// `scratch`, when given, holds at least `scratchCount(lengths: batch.lengths)` floats
  /// (states and the layers' scratch for the largest pass); nil: allocated for the call.
  func encodeBatch(
    _ batch: PackedBatch, rows: [Int], into output: UnsafeMutablePointer<Float>, engine: Engine,
    scratch given: UnsafeMutablePointer<Float>? = nil
  ) throws(EncoderError) {
    let h = bert.configuration.hiddenSize
    let passCapacity = Self.passCapacity(lengths: batch.lengths)
    // States and the layers' scratch for the largest pass, reused by every pass.
    let states = given ?? UnsafeMutablePointer<Float>.allocate(capacity: scratchCount(lengths: batch.lengths))
    defer { if given == nil { states.deallocate() } }
    let scratch = states + passCapacity * h
    var first = 0
    while first < batch.count {
      var end = first + 1
      while end < batch.count && batch.offsets[end + 1] - batch.offsets[first] <= Self.passTokens { end += 1 }
      let pass = batch.slice(first..<end)
      try bert.forward(pass, into: states, engine: engine, scratch: scratch)
      pool(pass, states: states, rows: rows[first..<end], into: output)
      first = end
    }
  }

  /// Pools each sequence of `batch` from its `states` into its output row.
  private func pool(_ batch: PackedBatch, states: UnsafeMutablePointer<Float>, rows: ArraySlice<Int>, into output: UnsafeMutablePointer<Float>) {
    let h = bert.configuration.hiddenSize
    let width = dimension
    for (index, row) in rows.enumerated() {
      let tokens = states + batch.offsets[index] * h
      let length = batch.lengths[index]
      let out = output + row * width
      for (part, mode) in pooling.modes.enumerated() {
        let target = out + part * h
        switch mode {
        case .cls:
          target.update(from: tokens, count: h)
        case .max:
          EncoderKernels.maxRows(rows: length, columns: h, tokens, target)
        case .mean:
          EncoderKernels.sumRows(rows: length, columns: h, tokens, scale: 1 / Float(length), target)
        case .meanSquareRootLength:
          EncoderKernels.sumRows(rows: length, columns: h, tokens, scale: 1 / Float(length).squareRoot(), target)
        }
      }
      if pooling.normalizes { EncoderKernels.normalize(count: width, out) }
    }
  }
}
