import ArrowheadCore
import ArrowheadQuant

/// An error raised by a parameter optimizer or by GPTQ.
///
/// Every case names what was wrong (the setting and its accepted range, the layer and
/// time group, the tensor and its shape, the dampings tried), so that the message alone
/// tells the caller what to fix.
public enum OptimizationError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A setting outside its accepted range (λ < 0, β ≤ 0, p ∉ (0, 1], κ < 1 …).
  case invalidSetting(name: String, value: String, expected: String)
  /// A calibration activation is NaN or ±∞: `index` is the first such sample of `group`
  /// (in the group's sample order) of `layer`.
  case nonFiniteActivation(layer: String, group: Int, index: Int, value: Float)
  /// A weight or input is NaN or ±∞ (`index` is the first flat, row-major index).
  case nonFiniteValue(tensor: String, index: Int, value: Float)
  /// Two inputs whose shapes must agree do not (e.g. X's columns and W's columns).
  case shapeMismatch(tensor: String, expected: String, actual: String)
  /// An input that must hold data is empty (no calibration rows, a time group without samples).
  case emptyInput(what: String)
  /// H = XᵀX + damping stayed non-positive-definite for every damping tried (as fractions
  /// of mean(diag H)); `pivot` is the column where the last Cholesky factorisation failed.
  case hessianNotPositiveDefinite(tensor: String, order: Int, dampings: [Double], pivot: Int)
  /// GPTQ's error feedback carried a weight past the Float32 range: finite weights near
  /// ±3.4·10³⁸ (or an inverse Hessian with huge entries) overflow when the rounding error of
  /// earlier columns is pushed onto them. `row` and `column` index the original tensor;
  /// `value` is what the weight became.
  case errorFeedbackOverflow(tensor: String, row: Int, column: Int, value: Float)
  /// The quantizer refused something (scheme, parameters, shapes).
  case quantization(QuantizationError)
  /// A kernel or engine error.
  case engine(ArrowheadError)

  /// A sentence naming what was wrong and what is accepted.
  public var description: String {
    switch self {
    case let .invalidSetting(name, value, expected):
      return "\(name) = \(value) is invalid; expected \(expected)"
    case let .nonFiniteActivation(layer, group, index, value):
      return "layer '\(layer)', time group \(group): activation sample \(index) is \(value); calibration activations must be finite"
    case let .nonFiniteValue(tensor, index, value):
      return "tensor '\(tensor)' holds \(value) at flat index \(index); inputs must be finite"
    case let .shapeMismatch(tensor, expected, actual):
      return "tensor '\(tensor)': expected \(expected), got \(actual)"
    case let .emptyInput(what):
      return "\(what) is empty"
    case let .hessianNotPositiveDefinite(tensor, order, dampings, pivot):
      let tried = dampings.map { "\($0)" }.joined(separator: ", ")
      return "tensor '\(tensor)': H = XᵀX + λ·mean(diag H)·I (\(order)×\(order)) is not positive definite for λ ∈ {\(tried)} "
        + "(Cholesky failed at column \(pivot)); the inputs are degenerate — give more, or more varied, calibration rows"
    case let .errorFeedbackOverflow(tensor, row, column, value):
      return "tensor '\(tensor)': GPTQ's error feedback carried the weight at row \(row), column \(column) to \(value), "
        + "past the Float32 range; the weights are too large for GPTQ in Float32 — scale them down, or quantize this tensor round-to-nearest"
    case let .quantization(error):
      return error.description
    case let .engine(error):
      return error.description
    }
  }

  /// Throws `.invalidSetting` unless `value` is finite and lies in `range`.
  static func require(_ name: String, _ value: Double, in range: ClosedRange<Double>, _ expected: String) throws(OptimizationError) {
    guard value.isFinite, range.contains(value) else { throw .invalidSetting(name: name, value: "\(value)", expected: expected) }
  }

  /// Throws `.invalidSetting` unless `value` lies in `range`.
  static func require(_ name: String, _ value: Int, in range: ClosedRange<Int>) throws(OptimizationError) {
    guard range.contains(value) else {
      throw .invalidSetting(name: name, value: "\(value)", expected: "an integer in \(range.lowerBound)…\(range.upperBound)")
    }
  }
}
