import Arrowhead
import ArrowheadEncoder
import ArrowheadTokenizer
import CArrowhead

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The text encoder: a sentence-transformers model (`SentenceEncoder`) loaded once, then
// batches of UTF-8 texts embedded into caller-owned float buffers. The handle names a
// `SentenceEncoder` value (immutable, Sendable), so several threads may encode with one
// encoder at once.

/// Implements `ah_encoder_load` of arrowhead.h: a `SentenceEncoder` loaded from the
/// sentence-transformers folder `model_dir`, its matrices held as `weights` names (NULL:
/// "f32").
@c @implementation
public func ah_encoder_load(
  _ engine: OpaquePointer?, _ model_dir: UnsafePointer<CChar>?, _ weights: UnsafePointer<CChar>?,
  _ encoder: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall { try loadEncoder(engine, model_dir, weights, nil, encoder) }
}

/// Implements `ah_encoder_load_with` of arrowhead.h: `ah_encoder_load` choosing the quantized
/// layers' activation arithmetic (`activations`: NULL for the default, "weight-only", "int8" or
/// "int16").
@c @implementation
public func ah_encoder_load_with(
  _ engine: OpaquePointer?, _ model_dir: UnsafePointer<CChar>?, _ weights: UnsafePointer<CChar>?,
  _ activations: UnsafePointer<CChar>?, _ encoder: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall { try loadEncoder(engine, model_dir, weights, activations, encoder) }
}

/// The body of `ah_encoder_load` and `ah_encoder_load_with`.
private func loadEncoder(
  _ engine: OpaquePointer?, _ model_dir: UnsafePointer<CChar>?, _ weights: UnsafePointer<CChar>?,
  _ activations: UnsafePointer<CChar>?, _ encoder: UnsafeMutablePointer<OpaquePointer?>?
) throws {
  let kernels = try registry.engine(engine)
  let out = try Argument.required(encoder, "encoder")
  let folder = try Argument.string(model_dir, "model_dir")
  let format = try EncoderArguments.weightFormat(weights.map { String(cString: $0) })
  let arithmetic = try activations.map { (name) throws(ABIError) in try EncoderArguments.activations(String(cString: name)) }
  guard EncoderArguments.isDirectory(folder) else {
    throw ABIError(.io, "model folder '\(folder)' does not exist or is not a directory")
  }
  // Activations with Float32 layers are refused by SentenceEncoder itself, before loading.
  let loaded = try SentenceEncoder(folder: folder, engine: kernels, weights: format, activations: arithmetic)
  out.pointee = registry.handle(for: .encoder(loaded))
}

/// Implements `ah_encoder_activations` of arrowhead.h: the quantized layers' activation
/// arithmetic ("" for float32 weights) as a string the caller releases with `ah_string_free`.
@c @implementation
public func ah_encoder_activations(
  _ encoder: OpaquePointer?, _ activations: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> ah_status {
  abiCall {
    let model = try registry.encoder(encoder)
    try Argument.required(activations, "activations").pointee = try mallocString(model.activations?.rawValue ?? "")
  }
}

/// Implements `ah_encoder_free` of arrowhead.h: releases an encoder handle (NULL: `AH_OK`).
@c @implementation
public func ah_encoder_free(_ encoder: OpaquePointer?) -> ah_status {
  abiCall { try registry.free(encoder, as: .encoder) }
}

/// Implements `ah_encoder_describe` of arrowhead.h: fills `info` with the embedding dimension,
/// tokens per text, hidden size, layers, vocabulary size and whether embeddings are normalised.
@c @implementation
public func ah_encoder_describe(_ encoder: OpaquePointer?, _ info: UnsafeMutablePointer<ah_encoder_info>?) -> ah_status {
  abiCall {
    let model = try registry.encoder(encoder)
    let out = try Argument.required(info, "info")
    var facts = ah_encoder_info()
    facts.dimension = Int64(model.dimension)
    facts.max_length = Int64(model.maximumSequenceLength)
    facts.hidden_size = Int64(model.bert.configuration.hiddenSize)
    facts.layers = Int64(model.bert.configuration.layers)
    facts.vocabulary_size = Int64(model.bert.configuration.vocabularySize)
    facts.normalized = model.pooling.normalizes ? 1 : 0
    out.pointee = facts
  }
}

/// Implements `ah_encoder_weights` of arrowhead.h: the encoder's weight format
/// (`WeightFormat.rawValue`: "f32", "int8", …) as a string the caller releases with
/// `ah_string_free`.
@c @implementation
public func ah_encoder_weights(_ encoder: OpaquePointer?, _ weights: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> ah_status {
  abiCall {
    let model = try registry.encoder(encoder)
    try Argument.required(weights, "weights").pointee = try mallocString(model.weightFormat.rawValue)
  }
}

/// Implements `ah_encoder_encode` of arrowhead.h: embeds `count` UTF-8 texts into `out`
/// (row-major, count × dimension floats; `batch_size` 0: 32, `threads` 0: the engine's);
/// nothing is written on failure.
@c @implementation
public func ah_encoder_encode(
  _ encoder: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int64>?,
  _ count: Int64, _ batch_size: Int64, _ threads: Int32, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64
) -> ah_status {
  encodeTexts(encoder, texts, lengths, count, batch_size, threads, out, capacity, progress: nil, context: nil)
}

/// Implements `ah_encoder_encode_with_progress` of arrowhead.h: `ah_encoder_encode`, reporting
/// the texts embedded so far to `progress` after each batch (once, 0 of 0, when `count` is 0).
@c @implementation
public func ah_encoder_encode_with_progress(
  _ encoder: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int64>?,
  _ count: Int64, _ batch_size: Int64, _ threads: Int32, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64,
  _ progress: ah_progress_fn?, _ context: UnsafeMutableRawPointer?
) -> ah_status {
  encodeTexts(encoder, texts, lengths, count, batch_size, threads, out, capacity, progress: progress, context: context)
}

private func encodeTexts(
  _ encoder: OpaquePointer?, _ texts: UnsafePointer<UnsafePointer<CChar>?>?, _ lengths: UnsafePointer<Int64>?,
  _ count: Int64, _ batch_size: Int64, _ threads: Int32, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64,
  progress: ah_progress_fn?, context: UnsafeMutableRawPointer?
) -> ah_status {
  abiCall {
    let model = try registry.encoder(encoder)
    let rows = try Argument.count(count, "count")
    guard batch_size >= 0 else { throw ABIError(.invalidArgument, "batch_size = \(batch_size) is negative; 0 means 32") }
    guard threads >= 0 else { throw ABIError(.invalidArgument, "threads = \(threads) is negative; 0 means the engine's") }
    let pointers = try Argument.buffer(texts, count: rows, "texts")
    let sizes = try lengths.map { (pointer) throws(ABIError) in try Argument.buffer(pointer, count: rows, "lengths") }
    let destination = try Argument.output(
      out, capacity: capacity, needed: try Argument.product(rows, model.dimension, "out"), "out")
    if rows == 0 {
      progress?(0, 0, context)
      return
    }
    var strings: [String] = []
    strings.reserveCapacity(rows)
    for row in 0..<rows {
      strings.append(try EncoderArguments.text(pointers[row], length: sizes?[row], row: row))
    }
    let options = EncodingOptions(
      batchSize: batch_size == 0 ? 32 : try Argument.count(batch_size, "batch_size"),
      threads: threads == 0 ? nil : Int(threads))
    var reporter: ProgressReporter?
    var report: (@Sendable (Int) -> Void)?
    if let progress {
      let forward = ProgressReporter(total: rows, progress, context)
      reporter = forward
      report = { forward.advance(by: $0) }
    }
    let embeddings = try model.encode(strings, options: options, progress: report)
    reporter?.finish()
    _ = destination.initialize(from: embeddings.elements)
  }
}

/// Validation of the encoder's C arguments.
enum EncoderArguments {
  /// The weight format named by `name` (NULL: `f32`). A name `SentenceEncoder` does not know
  /// is `AH_ERROR_UNSUPPORTED`, listing the formats this build has.
  static func weightFormat(_ name: String?) throws(ABIError) -> WeightFormat {
    let name = name ?? WeightFormat.float32.rawValue
    guard let format = WeightFormat(rawValue: name) else {
      let supported = WeightFormat.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
      throw ABIError(.unsupported, "weights \"\(name)\" are not supported by this build of the encoder; supported: \(supported)")
    }
    return format
  }

  /// The activations' arithmetic named by `name` ("weight-only", "int8", "int16").
  static func activations(_ name: String) throws(ABIError) -> QuantizedMatmulMode {
    guard let mode = QuantizedMatmulMode(rawValue: name) else {
      let valid = QuantizedMatmulMode.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
      throw ABIError(.invalidArgument, "activations \"\(name)\" are unknown; expected \(valid)")
    }
    return mode
  }

  /// Whether `path` is a directory.
  static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  /// Text `row`: `length` bytes at `pointer`, or up to its NUL when `length` is nil. Invalid
  /// UTF-8 is refused (naming the text and the byte offset), never repaired silently.
  static func text(_ pointer: UnsafePointer<CChar>?, length: Int64?, row: Int) throws(ABIError) -> String {
    guard let pointer else { throw ABIError(.invalidArgument, "texts[\(row)] is NULL") }
    let byteCount: Int
    if let length {
      guard length >= 0 else { throw ABIError(.invalidArgument, "lengths[\(row)] = \(length) is negative") }
      guard let exact = Int(exactly: length) else { throw ABIError(.invalidArgument, "lengths[\(row)] = \(length) is too large") }
      byteCount = exact
    } else {
      byteCount = strlen(pointer)
    }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: byteCount)
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    var offset = 0
    var decoder = UTF8()
    var iterator = bytes.makeIterator()
    decoding: while true {
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar): offset += UTF8.width(scalar)
      case .emptyInput, .error: break decoding
      }
    }
    throw ABIError(.invalidArgument, "texts[\(row)] is not valid UTF-8 (first bad byte at offset \(offset))")
  }
}

extension ABIError {
  static func status(of error: EncoderError) -> ABIStatus {
    switch error {
    case .missingFile: .io
    case .invalidFile, .invalidField, .shapeMismatch, .missingTensor: .corruptFile
    case .unsupported, .unsupportedDType: .unsupported
    case .nonFiniteWeight: .nonFinite
    case .tokenOutOfRange, .invalidSequenceLength, .invalidInput, .invalidOption: .invalidArgument
    case .weights(let inner): status(of: inner)
    case .quantization(let inner): status(of: inner)
    case .tokenizer(let inner): status(of: inner)
    case .engine(let inner): status(of: inner)
    }
  }

  static func status(of error: TokenizerError) -> ABIStatus {
    switch error {
    case .unreadableFile, .missingTokenizerFiles: .io
    case .malformedJSON, .invalidField, .missingToken, .emptyVocabulary: .corruptFile
    case .unsupportedModel, .unsupportedComponent: .unsupported
    case .invalidInput, .emptyInput, .invalidLength: .invalidArgument
    }
  }
}
