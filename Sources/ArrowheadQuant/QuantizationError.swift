import ArrowheadCore
import ArrowheadIO

/// An error raised by the quantizer, its pipeline or its file format.
///
/// Every case names what was wrong (the tensor, the index, the file and line, the value)
/// and, for unsupported settings, lists what is supported.
public enum QuantizationError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A bit width other than those in `supported`.
  case unsupportedBits(Int, supported: [Int])
  /// A group size outside `supported`.
  case unsupportedGroupSize(Int, supported: ClosedRange<Int>)
  /// A tensor holds NaN or ±∞; `index` is the first such flat (row-major) index.
  case nonFiniteWeight(tensor: String, index: Int, value: Float)
  /// A dequantized (or converted) output value is NaN or ±∞, or becomes ±∞ in the output
  /// dtype (`index` is the first such flat index, `value` its Float32 value).
  case nonFiniteOutput(tensor: String, index: Int, value: Float, dtype: String)
  /// The output path names one of the input files (writing it would destroy the input).
  case outputIsInput(OutputOverwritesInputError)
  /// A buffer or shape does not match what was declared.
  case shapeMismatch(tensor: String, expected: String, actual: String)
  /// Quantization parameters that cannot be used (negative or non-finite scale, zero-point
  /// that is not an integer in range …) for `group` of `tensor`.
  case invalidParameters(tensor: String, group: Int, reason: String)
  /// An option or argument outside its accepted range.
  case invalidOption(name: String, value: String, expected: String)
  /// A calibration file line that cannot be used (`line` is 1-based).
  case invalidCalibration(file: String, line: Int, reason: String)
  /// The time grouping or the calibration coverage is unusable.
  case invalidTimeGrouping(reason: String)
  /// A quantized file whose Arrowhead metadata or companion tensors are inconsistent.
  case invalidQuantizedFile(file: String, tensor: String?, reason: String)
  /// A file could not be read or written.
  case file(SafetensorsError)
  /// A kernel or engine error.
  case engine(ArrowheadError)

  /// A sentence naming what was wrong and, for unsupported settings, what is supported.
  public var description: String {
    switch self {
    case let .unsupportedBits(bits, supported):
      return "\(bits)-bit quantization is not supported; supported widths: \(supported.map(String.init).joined(separator: ", "))"
    case let .unsupportedGroupSize(size, supported):
      return "group size \(size) is not supported; supported: \(supported.lowerBound)…\(supported.upperBound) (the last group of a row may be shorter)"
    case let .nonFiniteWeight(tensor, index, value):
      return "tensor '\(tensor)' holds \(value) at flat index \(index); quantize only finite weights (or keep such tensors in floating point)"
    case let .nonFiniteOutput(tensor, index, value, dtype):
      let what = value.isFinite ? "\(value), which overflows \(dtype)," : "\(value)"
      return "tensor '\(tensor)' would hold \(what) at flat index \(index) in the output; choose a wider --dtype, or allow non-finite output explicitly"
    case let .outputIsInput(error):
      return error.description
    case let .shapeMismatch(tensor, expected, actual):
      return "tensor '\(tensor)': expected \(expected), got \(actual)"
    case let .invalidParameters(tensor, group, reason):
      return "tensor '\(tensor)', group \(group): \(reason)"
    case let .invalidOption(name, value, expected):
      return "\(name) = \(value) is invalid; expected \(expected)"
    case let .invalidCalibration(file, line, reason):
      return "\(file):\(line): \(reason)"
    case let .invalidTimeGrouping(reason):
      return "time grouping: \(reason)"
    case let .invalidQuantizedFile(file, tensor, reason):
      return "\(file): " + (tensor.map { "tensor '\($0)': " } ?? "") + reason
    case let .file(error):
      return error.description
    case let .engine(error):
      return error.description
    }
  }
}
