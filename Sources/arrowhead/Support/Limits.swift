import ArgumentParser
import ArrowheadIO

/// Upper limits of options whose value sizes a command's work or memory, checked in
/// `validate()` so that a mistyped number fails at once with the limit instead of running
/// for hours or allocating terabytes. Each limit is far above any sensible use.
enum Limits {
  /// Timed repetitions (`--repeat`, `--repeats`).
  static let repeats = 1...1000
  /// Elements of one benchmark operand (2²⁸ floats = 1 GiB).
  static let benchElements = 1 << 28
  /// Iterations of an optimizer run from the CLI (the thermodynamic optimizer's own bound,
  /// `ThermodynamicOptimizer.maximumIterations`; the finite-difference oracle shares it).
  static let iterations = 1...100_000
  /// Synthetic samples (`optimize thermo --samples`): 2²⁸ floats = 1 GiB.
  static let samples = 1...(1 << 28)
}

/// Throws "--option must be in a…b, got v" unless `range` holds `value`.
func require(_ value: Int, in range: ClosedRange<Int>, _ option: String, why: String? = nil) throws {
  guard range.contains(value) else {
    throw ValidationError("\(option) must be in \(range.lowerBound)…\(range.upperBound), got \(value)" + (why.map { " (\($0))" } ?? ""))
  }
}

/// Throws "OPTION applies only with NEEDS; FIX" when an option was given where it has no
/// effect (silently ignoring it would let the user believe it did something). `fix`
/// defaults to "remove it or add NEEDS".
func requireApplicable(_ given: Bool, _ option: String, needs: String, fix: String? = nil) throws {
  if given { throw ValidationError("\(option) applies only with \(needs); \(fix ?? "remove it or add \(needs)")") }
}

/// Throws when `output` names the same file as one of `inputs` (the run would destroy an
/// input it reads).
func requireDistinctOutput(_ output: String, option: String = "-o", from inputs: [String?]) throws {
  do {
    try OutputOverwritesInputError.check(output: output, inputs: inputs.compactMap { $0 })
  } catch {
    throw ValidationError("\(option): \(error.description)")
  }
}

/// Throws unless `path` can be written now (`AtomicFile.checkWritable`: its directory takes
/// a new file, it is not a directory or read-only). Called before the work whose result goes
/// there, so that a bad destination fails at once rather than after a long build or search.
func requireWritableOutput(_ path: String, option: String) throws {
  do {
    try AtomicFile.checkWritable(path)
  } catch {
    throw CommandFailure("\(option): \(error)")
  }
}

/// Throws unless `count` elements (e.g. m·n of a benchmark matrix) stay within
/// `Limits.benchElements`; multiplication overflow counts as too many.
func requireElements(_ factors: [Int], _ what: String) throws {
  var total = 1
  for factor in factors {
    let (product, overflow) = total.multipliedReportingOverflow(by: factor)
    guard !overflow, product <= Limits.benchElements else {
      throw ValidationError("\(what) needs more than \(Limits.benchElements) elements (1 GiB of Float32); choose smaller sizes")
    }
    total = product
  }
}
