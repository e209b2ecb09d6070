/// An error reading or writing a vector file (.fvecs / .ivecs / .bvecs / .npy).
///
/// Every case names the file and, where it applies, the byte offset or row that was
/// wrong, so that `row 17 of 'base.fvecs' declares dimension 96, expected 128` tells the
/// user what to fix without a hex editor.
public enum VectorFileError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file could not be opened, inspected or mapped (`reason` is the C `errno` text).
  case cannotOpen(path: String, reason: String)
  /// The file ends before the data its header (or row prefix) promises.
  case truncated(path: String, offset: Int, needed: Int, available: Int)
  /// A row of a .fvecs/.ivecs/.bvecs file declares another dimension than the first row.
  case inconsistentDimension(path: String, row: Int, expected: Int, actual: Int)
  /// A dimension, count or shape that cannot describe a matrix (≤ 0, absurdly large, or
  /// a shape of rank other than 1 or 2).
  case invalidShape(path: String, reason: String)
  /// The .npy header is malformed (bad magic, unknown version, unparsable dictionary).
  case badHeader(path: String, reason: String)
  /// The element type is not one this reader handles (`found` is the numpy descr, e.g.
  /// "<f2"), with the types it does handle.
  case unsupportedElementType(path: String, found: String, supported: [String])
  /// The array is stored in Fortran (column-major) order; only C order is read.
  case fortranOrder(path: String)
  /// The file extension is not one of the supported vector formats.
  case unknownFormat(path: String, supported: [String])
  /// Writing the file failed.
  case writeFailed(path: String, reason: String)

  /// A one-line message naming the file, the row or offset, and what is wrong.
  public var description: String {
    switch self {
    case let .cannotOpen(path, reason):
      return "cannot open '\(path)': \(reason)"
    case let .truncated(path, offset, needed, available):
      return "'\(path)' is truncated: \(needed) bytes needed at offset \(offset), only \(available) available"
    case let .inconsistentDimension(path, row, expected, actual):
      return "row \(row) of '\(path)' declares dimension \(actual), expected \(expected) (as row 0)"
    case let .invalidShape(path, reason):
      return "'\(path)' has an invalid shape: \(reason)"
    case let .badHeader(path, reason):
      return "'\(path)' has a malformed header: \(reason)"
    case let .unsupportedElementType(path, found, supported):
      return "'\(path)' holds elements of type '\(found)'; supported: \(supported.joined(separator: ", "))"
    case let .fortranOrder(path):
      return "'\(path)' is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray)"
    case let .unknownFormat(path, supported):
      return "'\(path)' is not a known vector file; supported extensions: \(supported.joined(separator: ", "))"
    case let .writeFailed(path, reason):
      return "cannot write '\(path)': \(reason)"
    }
  }
}
