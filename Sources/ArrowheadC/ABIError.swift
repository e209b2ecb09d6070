import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import ArrowheadSearch
import ArrowheadTokenizer
import CArrowhead
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The status codes of `arrowhead.h`, as a Swift enum (the header's constants are the
/// single source of the numbers).
enum ABIStatus: Sendable {
  case invalidArgument, invalidHandle, nonFinite, notFound, emptyIndex, io, corruptFile, unsupported, callback, internalError

  var code: ah_status {
    switch self {
    case .invalidArgument: ah_status(AH_ERROR_INVALID_ARGUMENT)
    case .invalidHandle: ah_status(AH_ERROR_INVALID_HANDLE)
    case .nonFinite: ah_status(AH_ERROR_NON_FINITE)
    case .notFound: ah_status(AH_ERROR_NOT_FOUND)
    case .emptyIndex: ah_status(AH_ERROR_EMPTY_INDEX)
    case .io: ah_status(AH_ERROR_IO)
    case .corruptFile: ah_status(AH_ERROR_CORRUPT_FILE)
    case .unsupported: ah_status(AH_ERROR_UNSUPPORTED)
    case .callback: ah_status(AH_ERROR_CALLBACK)
    case .internalError: ah_status(AH_ERROR_INTERNAL)
    }
  }
}

/// A failure of a C ABI call: a status code and the message `ah_last_error()` returns.
struct ABIError: Error, Sendable {
  var status: ABIStatus
  var message: String

  init(_ status: ABIStatus, _ message: String) {
    self.status = status
    self.message = message
  }

  /// Classifies an error thrown by the Swift modules; the message is its description.
  init(_ error: any Error) {
    switch error {
    case let error as ABIError: self = error
    case let error as SearchError: self.init(Self.status(of: error), error.description)
    case let error as IndexFileError: self.init(Self.status(of: error), error.description)
    case let error as QuantizationError: self.init(Self.status(of: error), error.description)
    case let error as OptimizationError: self.init(Self.status(of: error), error.description)
    case let error as ArrowheadError: self.init(Self.status(of: error), error.description)
    case let error as SafetensorsError: self.init(Self.status(of: error), error.description)
    case let error as EncoderError: self.init(Self.status(of: error), error.description)
    case let error as TokenizerError: self.init(Self.status(of: error), error.description)
    case let error as JSONSyntaxError: self.init(.invalidArgument, "options: \(error.description)")
    default: self.init(.internalError, String(describing: error))
    }
  }

  static func status(of error: SearchError) -> ABIStatus {
    switch error {
    case .nonFiniteValue: .nonFinite
    case .unknownID: .notFound
    case .emptyIndex: .emptyIndex
    case .kernel: .internalError
    case .dimensionMismatch, .invalidK, .duplicateID, .idCountMismatch, .invalidParameter, .capacityExceeded:
      .invalidArgument
    }
  }

  static func status(of error: IndexFileError) -> ABIStatus {
    switch error {
    case .cannotOpen, .writeFailed: .io
    case .badMagic, .unsupportedVersion, .truncated, .checksumMismatch, .inconsistent: .corruptFile
    case .unsupported: .unsupported
    }
  }

  static func status(of error: QuantizationError) -> ABIStatus {
    switch error {
    case .nonFiniteWeight, .nonFiniteOutput: .nonFinite
    case .file(let file): status(of: file)
    case .invalidQuantizedFile: .corruptFile
    case .engine(let engine): status(of: engine)
    case .unsupportedBits, .unsupportedGroupSize, .shapeMismatch, .invalidParameters, .invalidOption,
      .invalidCalibration, .invalidTimeGrouping, .outputIsInput:
      .invalidArgument
    }
  }

  static func status(of error: OptimizationError) -> ABIStatus {
    switch error {
    case .nonFiniteActivation, .nonFiniteValue, .errorFeedbackOverflow: .nonFinite
    case .quantization(let inner): status(of: inner)
    case .engine(let inner): status(of: inner)
    case .invalidSetting, .shapeMismatch, .emptyInput, .hessianNotPositiveDefinite: .invalidArgument
    }
  }

  static func status(of error: ArrowheadError) -> ABIStatus {
    switch error {
    case .nonFiniteValue: .nonFinite
    case .noConvergence: .internalError
    default: .invalidArgument
    }
  }

  static func status(of error: SafetensorsError) -> ABIStatus {
    switch error.kind {
    case .io: .io
    case .missingTensor: .invalidArgument
    case .unsupportedDType: .unsupported
    default: .corruptFile
    }
  }
}

/// Runs the body of a C ABI function: AH_OK when it returns, else the error's status with
/// its message recorded as the calling thread's last error. Nothing thrown escapes.
func abiCall(_ body: () throws -> Void) -> ah_status {
  do {
    try body()
    return ah_status(AH_OK)
  } catch {
    let failure = ABIError(error)
    var message = failure.message
    message.withUTF8 { bytes in
      bytes.withMemoryRebound(to: CChar.self) { text in
        ah_internal_set_error(failure.status.code, text.baseAddress, text.count)
      }
    }
    return failure.status.code
  }
}

// MARK: - Argument checks

/// Shared validation of raw C arguments; every failure names the argument.
enum Argument {
  /// `pointer`, which must not be NULL.
  static func required<T>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws(ABIError) -> UnsafeMutablePointer<T> {
    guard let pointer else { throw ABIError(.invalidArgument, "'\(name)' is NULL") }
    return pointer
  }

  /// A non-negative count.
  static func count(_ value: Int64, _ name: String) throws(ABIError) -> Int {
    guard value >= 0 else { throw ABIError(.invalidArgument, "'\(name)' = \(value) is negative") }
    guard let result = Int(exactly: value) else { throw ABIError(.invalidArgument, "'\(name)' = \(value) is too large") }
    return result
  }

  /// a · b, or an error naming `what` on overflow.
  static func product(_ a: Int, _ b: Int, _ what: String) throws(ABIError) -> Int {
    let (result, overflow) = a.multipliedReportingOverflow(by: b)
    guard !overflow else { throw ABIError(.invalidArgument, "\(what): \(a) × \(b) elements overflow") }
    return result
  }

  /// `count` elements at `pointer` (NULL is allowed only when `count` is 0).
  static func buffer<T>(_ pointer: UnsafePointer<T>?, count: Int, _ name: String) throws(ABIError) -> UnsafeBufferPointer<T> {
    guard let pointer else {
      guard count == 0 else { throw ABIError(.invalidArgument, "'\(name)' is NULL but \(count) elements were announced") }
      return UnsafeBufferPointer(start: nil, count: 0)
    }
    return UnsafeBufferPointer(start: pointer, count: count)
  }

  /// A writable output buffer of at least `needed` elements; `capacity` is what the caller
  /// says it holds.
  static func output<T>(
    _ pointer: UnsafeMutablePointer<T>?, capacity: Int64, needed: Int, _ name: String
  ) throws(ABIError) -> UnsafeMutableBufferPointer<T> {
    guard capacity >= Int64(needed) else {
      throw ABIError(.invalidArgument, "'\(name)' holds \(capacity) elements but \(needed) are needed")
    }
    guard let pointer else {
      guard needed == 0 else { throw ABIError(.invalidArgument, "'\(name)' is NULL but \(needed) elements are needed") }
      return UnsafeMutableBufferPointer(start: nil, count: 0)
    }
    return UnsafeMutableBufferPointer(start: pointer, count: needed)
  }

  /// A NUL-terminated UTF-8 string that must not be NULL.
  static func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws(ABIError) -> String {
    guard let pointer else { throw ABIError(.invalidArgument, "'\(name)' is NULL") }
    return String(cString: pointer)
  }

  /// The metric of an `AH_METRIC_*` constant.
  static func metric(_ value: Int32) throws(ABIError) -> Metric {
    switch Int(value) {
    case AH_METRIC_L2: return .squaredL2
    case AH_METRIC_INNER_PRODUCT: return .innerProduct
    case AH_METRIC_COSINE: return .cosine
    default:
      throw ABIError(.invalidArgument, "metric \(value) is unknown; expected AH_METRIC_L2 (0), AH_METRIC_INNER_PRODUCT (1) or AH_METRIC_COSINE (2)")
    }
  }

  /// The `AH_METRIC_*` constant of a metric.
  static func code(of metric: Metric) -> Int32 {
    switch metric {
    case .squaredL2: Int32(AH_METRIC_L2)
    case .innerProduct: Int32(AH_METRIC_INNER_PRODUCT)
    case .cosine: Int32(AH_METRIC_COSINE)
    }
  }
}

/// Copies `text` into a `malloc`ed C string the caller releases with `ah_string_free`.
func mallocString(_ text: String) throws(ABIError) -> UnsafeMutablePointer<CChar> {
  guard let copy = strdup(text) else { throw ABIError(.internalError, "out of memory copying a \(text.utf8.count)-byte string") }
  return copy
}
