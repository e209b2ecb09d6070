import ArrowheadCore
import ArrowheadIO
import ArrowheadQuant
import ArrowheadTokenizer

/// An error raised while loading or running a text encoder.
///
/// Every case names what was wrong: the file, the JSON field, the tensor and its shapes, the
/// input line. Unsupported settings also list what is supported.
public enum EncoderError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A file the model folder must hold is absent (`what` says what it is for).
  case missingFile(path: String, what: String)
  /// A file exists but cannot be read or parsed (bad JSON, wrong top-level type …).
  case invalidFile(path: String, reason: String)
  /// A field of a configuration file is absent or has the wrong type.
  case invalidField(file: String, field: String, reason: String)
  /// A configuration value this encoder does not implement (an architecture, an activation,
  /// a pooling mode, a module type).
  case unsupported(file: String, field: String, value: String, supported: [String])
  /// The configuration and the weights disagree, or a tensor has the wrong shape.
  case shapeMismatch(tensor: String, expected: [Int], actual: [Int], reason: String)
  /// A tensor the configuration requires is not in the weights.
  case missingTensor(file: String, tensor: String)
  /// A tensor's element type cannot be used (supported: F32, F16, BF16, F64).
  case unsupportedDType(tensor: String, dtype: String)
  /// A weight is NaN or ±∞: `index` is the first such element of `tensor` (flat, row-major)
  /// and `value` what it holds (after conversion to Float32).
  case nonFiniteWeight(file: String, tensor: String, index: Int, value: Float)
  /// A token id outside the vocabulary (`sequence` and `position` are 0-based).
  case tokenOutOfRange(sequence: Int, position: Int, id: Int, vocabularySize: Int)
  /// A sequence longer than the model's position table (or empty).
  case invalidSequenceLength(sequence: Int, length: Int, maximum: Int)
  /// A text input file that cannot be used (`line` is 1-based; 0 when not about one line).
  case invalidInput(file: String, line: Int, reason: String)
  /// An option outside its accepted range.
  case invalidOption(name: String, value: String, expected: String)
  /// The weights file could not be read.
  case weights(SafetensorsError)
  /// Quantized weights could not be read or made (a quantized file's failed check, naming
  /// the file and tensor; a weight the quantizer refuses).
  case quantization(QuantizationError)
  /// The tokenizer could not be loaded or configured.
  case tokenizer(TokenizerError)
  /// A kernel or engine error.
  case engine(ArrowheadError)

  /// A sentence naming what was wrong.
  public var description: String {
    switch self {
    case let .missingFile(path, what):
      return "missing file '\(path)' (\(what))"
    case let .invalidFile(path, reason):
      return "'\(path)': \(reason)"
    case let .invalidField(file, field, reason):
      return "'\(file)': field '\(field)' \(reason)"
    case let .unsupported(file, field, value, supported):
      return "'\(file)': \(field) = \(value) is not supported; supported: \(supported.joined(separator: ", "))"
    case let .shapeMismatch(tensor, expected, actual, reason):
      return "tensor '\(tensor)' has shape \(Self.shapeText(actual)), expected \(Self.shapeText(expected)) (\(reason))"
    case let .missingTensor(file, tensor):
      return "'\(file)' holds no tensor '\(tensor)'"
    case let .unsupportedDType(tensor, dtype):
      return "tensor '\(tensor)' has dtype \(dtype); supported: F32, F16, BF16, F64"
    case let .nonFiniteWeight(file, tensor, index, value):
      return "'\(file)': tensor '\(tensor)' holds \(value) at flat index \(index); weights must be finite"
    case let .tokenOutOfRange(sequence, position, id, vocabularySize):
      return "sequence \(sequence), position \(position): token id \(id) is outside the vocabulary (0..<\(vocabularySize))"
    case let .invalidSequenceLength(sequence, length, maximum):
      return "sequence \(sequence) has \(length) tokens; expected 1…\(maximum)"
    case let .invalidInput(file, line, reason):
      return line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)"
    case let .invalidOption(name, value, expected):
      return "\(name) = \(value) is invalid; expected \(expected)"
    case let .weights(error):
      return error.description
    case let .quantization(error):
      return error.description
    case let .tokenizer(error):
      return error.description
    case let .engine(error):
      return error.description
    }
  }

  static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
