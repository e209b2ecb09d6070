/// An error raised by Arrowhead's kernels, backends or dispatch.
///
/// Every case names the argument that was wrong and the sizes involved, so that a message
/// such as `argument 'a' needs 1200 elements (rows 30, columns 40, leading dimension 40)
/// but the buffer holds 1000` tells the caller what to fix without a debugger.
public enum ArrowheadError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A dimension was negative.
  case negativeDimension(argument: String, value: Int)
  /// Two arguments whose sizes must agree do not.
  case shapeMismatch(argument: String, expected: String, actual: String)
  /// A leading dimension is smaller than the row it must step over.
  case leadingDimensionTooSmall(argument: String, leadingDimension: Int, rowLength: Int)
  /// A buffer is shorter than its shape and leading dimension require.
  case bufferTooShort(argument: String, required: Int, actual: Int)
  /// An argument that must be finite holds NaN or ±∞ (first offending flat index).
  case nonFiniteValue(argument: String, index: Int)
  /// A matrix that must be symmetric positive definite is not; `pivot` is the first
  /// (0-based) column whose diagonal became ≤ 0 during factorisation.
  case notPositiveDefinite(argument: String, order: Int, pivot: Int)
  /// An iterative routine did not converge.
  case noConvergence(operation: String, iterations: Int)
  /// A parameter is outside the range the operation accepts.
  case invalidParameter(name: String, value: String, expected: String)
  /// `ARROWHEAD_BACKEND` (or a forced selection) names no compiled backend.
  case unknownBackend(name: String, valid: [String])
  /// The named backend is compiled in, but this CPU lacks the features it needs.
  case backendNotRunnable(name: String, missingFeatures: [String], runnable: [String])
  /// An environment variable holds a value that cannot be used.
  case invalidEnvironment(variable: String, value: String, expected: String)

  public var description: String {
    switch self {
    case let .negativeDimension(argument, value):
      return "argument '\(argument)' is \(value); dimensions must be ≥ 0"
    case let .shapeMismatch(argument, expected, actual):
      return "argument '\(argument)' has shape \(actual), expected \(expected)"
    case let .leadingDimensionTooSmall(argument, leadingDimension, rowLength):
      return "argument '\(argument)' has leading dimension \(leadingDimension), smaller than its row length \(rowLength)"
    case let .bufferTooShort(argument, required, actual):
      return "argument '\(argument)' needs \(required) elements but its buffer holds \(actual)"
    case let .nonFiniteValue(argument, index):
      return "argument '\(argument)' holds a NaN or infinite value at index \(index)"
    case let .notPositiveDefinite(argument, order, pivot):
      return "argument '\(argument)' (\(order)×\(order)) is not positive definite: pivot \(pivot) is not > 0"
    case let .noConvergence(operation, iterations):
      return "\(operation) did not converge in \(iterations) iterations"
    case let .invalidParameter(name, value, expected):
      return "parameter '\(name)' = \(value) is invalid; expected \(expected)"
    case let .unknownBackend(name, valid):
      return "unknown backend '\(name)'; valid names: \(valid.joined(separator: ", "))"
    case let .backendNotRunnable(name, missing, runnable):
      return "backend '\(name)' cannot run on this CPU (missing \(missing.joined(separator: ", "))); runnable: \(runnable.joined(separator: ", "))"
    case let .invalidEnvironment(variable, value, expected):
      return "\(variable)=\(value) is invalid; expected \(expected)"
    }
  }
}
