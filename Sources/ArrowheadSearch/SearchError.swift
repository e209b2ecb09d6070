import ArrowheadCore

/// An error raised by an index: bad input, an unknown id, an unsupported combination.
///
/// Each case names what was wrong and the sizes involved (`query 3 holds NaN at
/// dimension 17`), so that the caller can fix the input without a debugger. Nothing an
/// index is given ever traps: every check that could fail on user data throws one of these.
public enum SearchError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A vector (or a flat buffer of vectors) has the wrong length for the index.
  case dimensionMismatch(argument: String, expected: Int, actual: Int)
  /// `k` (or another count parameter) is not positive.
  case invalidK(Int)
  /// A vector holds NaN or ±∞; `row` is the vector's position in the batch, `column`
  /// the first offending dimension.
  case nonFiniteValue(argument: String, row: Int, column: Int)
  /// An id is given twice in one batch or is already in the index.
  case duplicateID(Int)
  /// No live vector has this id (never added, or removed).
  case unknownID(Int)
  /// The number of ids differs from the number of vectors.
  case idCountMismatch(vectors: Int, ids: Int)
  /// The index holds no live vector, so there is nothing to search.
  case emptyIndex
  /// A parameter is outside the accepted range.
  case invalidParameter(name: String, value: String, expected: String)
  /// The index cannot hold more vectors (slots are 32-bit).
  case capacityExceeded(requested: Int, maximum: Int)
  /// A kernel rejected its arguments (should not happen for validated input; reported
  /// rather than trapped).
  case kernel(ArrowheadError)

  /// A one-line message naming the argument and the sizes involved.
  public var description: String {
    switch self {
    case let .dimensionMismatch(argument, expected, actual):
      return "'\(argument)' has dimension \(actual), the index has dimension \(expected)"
    case let .invalidK(k):
      return "k = \(k) is invalid; k must be ≥ 1"
    case let .nonFiniteValue(argument, row, column):
      return "'\(argument)' row \(row) holds NaN or infinity at dimension \(column)"
    case let .duplicateID(id):
      return "id \(id) is given twice or already in the index"
    case let .unknownID(id):
      return "no live vector has id \(id)"
    case let .idCountMismatch(vectors, ids):
      return "\(ids) ids given for \(vectors) vectors"
    case .emptyIndex:
      return "the index holds no live vector"
    case let .invalidParameter(name, value, expected):
      return "parameter '\(name)' = \(value) is invalid; expected \(expected)"
    case let .capacityExceeded(requested, maximum):
      return "\(requested) vectors exceed the index capacity of \(maximum)"
    case let .kernel(error):
      return "kernel error: \(error)"
    }
  }
}
