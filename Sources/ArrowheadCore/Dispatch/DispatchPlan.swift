/// How an engine decides which backend runs each kernel.
public enum DispatchMode: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
  /// Measure every candidate on this CPU (well under a second), once per CPU model, library
  /// version, backend set and thread count: the figures are cached in the user's cache
  /// directory (`DispatchCache`) and a later process reads them back. The default.
  case measured
  /// Measure again now, replacing the cached figures.
  case remeasure
  /// The backends' static preferences only (no measurement, no cache).
  case `static`

  /// The environment variable that selects the mode.
  public static let environmentVariable = "ARROWHEAD_DISPATCH"

  /// The mode named by `ARROWHEAD_DISPATCH` in `environment` (`.measured` when unset or
  /// empty). Throws `.invalidEnvironment` listing the valid values for anything else.
  public init(environment: [String: String]) throws(ArrowheadError) {
    guard let text = environment[Self.environmentVariable], !text.isEmpty else {
      self = .measured
      return
    }
    guard let mode = DispatchMode(rawValue: text.lowercased()) else {
      throw .invalidEnvironment(
        variable: Self.environmentVariable, value: text,
        expected: "one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    self = mode
  }

  public var description: String { rawValue }
}

/// Every dispatch decision of one engine, with the evidence behind it.
public struct DispatchPlan: Sendable {
  /// Where a decision came from.
  public enum Source: String, Sendable, Codable {
    /// `ARROWHEAD_BACKEND` or `forcing:` named the backend.
    case forced
    /// Only one runnable backend implements the kernel (or none: the reference code runs).
    case only
    /// The backends' static preferences (`ARROWHEAD_DISPATCH=static`, or a CPU that is not
    /// the one this process runs on).
    case `static`
    /// Measured in this process.
    case measured
    /// Measured by an earlier process, read from the cache.
    case cached
  }

  /// One candidate's measured time on the calibration problems of a decision.
  public struct Measurement: Sendable, Equatable {
    /// The backend.
    public var backend: String
    /// Seconds per call (geometric mean over the decision's calibration problems).
    public var secondsPerCall: Double
  }

  /// The backend chosen for one (operation, size class).
  public struct Decision: Sendable {
    /// The kernel.
    public var operation: KernelOperation
    /// The size class.
    public var shape: ShapeClass
    /// The chosen backend's name.
    public var backend: String
    /// One line saying why.
    public var reason: String
    /// Where the decision came from.
    public var source: Source
    /// What was measured (empty unless `source` is `.measured` or `.cached`), fastest first.
    public var measurements: [Measurement]
    /// Position of the backend in the engine's runnable list.
    let backendIndex: Int

    /// The calibration problems measured, in words (e.g. "gemm 4×4×4, 16×16×16, …"); empty
    /// when nothing was measured. Built on demand (only reports need it).
    public var problems: String {
      measurements.isEmpty ? "" : Calibration.problemDescription(operation, shape)
    }
  }

  /// What happened to the dispatch cache.
  public enum CacheStatus: Sendable, Equatable, CustomStringConvertible {
    /// Static or forced dispatch: no cache involved.
    case notUsed
    /// Every measured decision was read from this file.
    case read(path: String)
    /// Measured now and written to this file.
    case written(path: String)
    /// Measured now; the cache could not be used, for this reason.
    case unavailable(reason: String)

    public var description: String {
      switch self {
      case .notUsed: "not used"
      case .read(let path): "read from \(path)"
      case .written(let path): "measured now, written to \(path)"
      case .unavailable(let reason): "measured now, not cached (\(reason))"
      }
    }
  }

  /// The mode the plan was made in.
  public let mode: DispatchMode
  /// One decision per (operation, size class), in `KernelOperation.allCases` order.
  public let decisions: [Decision]
  /// What happened to the dispatch cache.
  public let cache: CacheStatus
  /// Seconds spent measuring in this process (0 when everything came from the cache).
  public let calibrationSeconds: Double
  /// The backend that runs kernels no backend implements (the reference, when runnable).
  let fallbackIndex: Int

  /// The decision for `operation` at `shape`.
  public func decision(for operation: KernelOperation, _ shape: ShapeClass) -> Decision? {
    decisions.first { $0.operation == operation && $0.shape == shape }
  }

  /// Builds the plan for `runnable` backends (see `Engine.init`).
  static func make(
    runnable: [any Backend], cpu: CPUInfo, threads: Int, forced: Int?, mode: DispatchMode
  ) -> DispatchPlan {
    let fallback = runnable.firstIndex { $0.name == ReferenceBackend().name } ?? 0
    var decisions: [Decision] = []
    var toMeasure: [(position: Int, candidates: [Int])] = []
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        if let forced {
          let preference = runnable[forced].preference(for: operation, shape)
          let what = preference?.reason ?? "reference code: the backend does not implement it"
          decisions.append(Decision(
            operation: operation, shape: shape, backend: runnable[forced].name,
            reason: "forced by \(Engine.backendVariable) (\(what))", source: .forced, measurements: [],
            backendIndex: forced))
          continue
        }
        let candidates = runnable.indices.filter { runnable[$0].preference(for: operation, shape) != nil }
        guard let best = staticWinner(candidates, runnable, operation, shape) else {
          decisions.append(Decision(
            operation: operation, shape: shape, backend: runnable[fallback].name,
            reason: "no backend implements it: reference code", source: .only, measurements: [],
            backendIndex: fallback))
          continue
        }
        let preference = runnable[best].preference(for: operation, shape)
        decisions.append(Decision(
          operation: operation, shape: shape, backend: runnable[best].name, reason: preference?.reason ?? "",
          source: candidates.count == 1 ? .only : .static, measurements: [], backendIndex: best))
        if candidates.count > 1 { toMeasure.append((decisions.count - 1, candidates)) }
      }
    }
    guard forced == nil, mode != .static, cpu == CPUInfo.current, !toMeasure.isEmpty else {
      return DispatchPlan(mode: mode, decisions: decisions, cache: .notUsed, calibrationSeconds: 0, fallbackIndex: fallback)
    }
    let outcome = Calibration.results(
      for: toMeasure.map { (decisions[$0.position].operation, decisions[$0.position].shape, $0.candidates) },
      runnable: runnable, cpu: cpu, threads: threads, remeasure: mode == .remeasure)
    for (position, candidates) in toMeasure {
      let operation = decisions[position].operation, shape = decisions[position].shape
      guard let timings = outcome.timings[Calibration.entryName(operation, shape)] else { continue }
      let measured = candidates.compactMap { index -> (Int, Double)? in
        timings[runnable[index].name].map { (index, $0) }
      }.sorted { $0.1 < $1.1 }
      guard let fastest = measured.first else { continue }
      // Within 5 % of the fastest, the static preference decides: a noisy neighbour must
      // not flip a decision between equals.
      let nearlyFastest = measured.filter { $0.1 <= fastest.1 * 1.05 }.map(\.0)
      let chosen = staticWinner(nearlyFastest, runnable, operation, shape) ?? fastest.0
      let runnerUp = measured.first { $0.0 != chosen }
      var reason = "measured \(Calibration.format(seconds: timings[runnable[chosen].name] ?? fastest.1))/call"
      if let runnerUp {
        reason += ", next \(runnable[runnerUp.0].name) \(Calibration.format(seconds: runnerUp.1))"
      }
      if let detail = runnable[chosen].preference(for: operation, shape)?.reason { reason += " — \(detail)" }
      decisions[position] = Decision(
        operation: operation, shape: shape, backend: runnable[chosen].name, reason: reason,
        source: outcome.fromCache ? .cached : .measured,
        measurements: measured.map { Measurement(backend: runnable[$0.0].name, secondsPerCall: $0.1) }, backendIndex: chosen)
    }
    return DispatchPlan(
      mode: mode, decisions: decisions, cache: outcome.cache, calibrationSeconds: outcome.seconds, fallbackIndex: fallback)
  }

  /// The candidate (an index into `runnable`) with the highest static score (the first on a
  /// tie), nil if none.
  static func staticWinner(
    _ candidates: [Int], _ runnable: [any Backend], _ operation: KernelOperation, _ shape: ShapeClass
  ) -> Int? {
    Calibration.favourite(candidates.map { runnable[$0].preference(for: operation, shape)?.score }).map { candidates[$0] }
  }
}
