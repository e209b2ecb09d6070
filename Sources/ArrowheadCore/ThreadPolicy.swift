#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads Arrowhead may use: the logical cores of this process, capped by
/// `ARROWHEAD_THREADS` when set.
///
/// Kernels that parallelise (gemm, distances) receive this count; OpenBLAS is set to the
/// same count for each call; engine code that runs its own parallel loop passes 1 to the
/// kernels inside it. So the cores are never oversubscribed.
public enum ThreadPolicy {
  /// The environment variable that caps the thread count.
  public static let environmentVariable = "ARROWHEAD_THREADS"

  /// The thread count from `environment` (default: the process environment) for `cpu`.
  /// Throws `.invalidEnvironment` for a value that is not a positive integer.
  public static func threads(
    environment: [String: String] = ProcessEnvironment.current, cpu: CPUInfo = .current
  ) throws(ArrowheadError) -> Int {
    guard let text = environment[environmentVariable], !text.isEmpty else { return cpu.logicalCores }
    guard let value = Int(text), value >= 1 else {
      throw .invalidEnvironment(variable: environmentVariable, value: text, expected: "a positive integer")
    }
    return min(value, cpu.logicalCores)
  }
}

/// A snapshot of the process environment (Foundation-free).
public enum ProcessEnvironment {
  /// The environment variables of this process.
  public static var current: [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
      let text = String(cString: entry)
      if let equals = text.firstIndex(of: "=") {
        result[String(text[..<equals])] = String(text[text.index(after: equals)...])
      }
      pointer += 1
    }
    return result
  }
}

/// Writes diagnostics to standard error without touching the C `stderr` global (which
/// strict concurrency rejects).
package enum StandardError {
  /// Writes `text` to file descriptor 2, as is.
  package static func write(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeMutableBytes { raw in
        #if canImport(Darwin)
        Darwin.write(2, raw.baseAddress! + offset, raw.count - offset)
        #else
        Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
        #endif
      }
      if written <= 0 { return }
      offset += written
    }
  }
}
