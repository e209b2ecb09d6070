import CArrowheadCPU

/// Runs every kernel on the fastest runnable backend for its operation and size, after
/// checking its arguments.
///
/// The choice is made once, when the engine is created (`DispatchPlan`): by default from a
/// short measurement of every candidate on this CPU, cached per CPU model and library
/// version (`DispatchMode.measured`), or from the backends' static preferences
/// (`ARROWHEAD_DISPATCH=static`). A backend whose CPU features are missing is never a
/// candidate. The choice can be forced for every operation (`ARROWHEAD_BACKEND=<name>`, or
/// `forcing:`), and it is always visible: `selection(for:_:)` and `plan` say which backend
/// runs an operation and why, which is what `arrowhead probe` prints.
///
/// Engines are immutable values, safe to share between threads. Engine modules
/// (quantizer, optimizer, search) call kernels only through an engine, so forcing a
/// backend or a thread count reaches everything they do.
///
/// ```swift
/// let engine = Engine.default
/// let c = try engine.multiply(a, b)               // gemm on the chosen backend
/// print(engine.selection(for: .gemm, .large))     // "simd-x86-64-v4: measured …"
/// ```
public struct Engine: Sendable {
  /// The environment variable that forces one backend for every operation.
  public static let backendVariable = "ARROWHEAD_BACKEND"

  /// Which backend runs one (operation, size class) and why.
  public struct Selection: Sendable, Equatable, CustomStringConvertible {
    /// The backend's name.
    public var backend: String
    /// Why it was chosen.
    public var reason: String
    public var description: String { "\(backend): \(reason)" }
  }

  /// All backends compiled in (runnable or not).
  public let registry: BackendRegistry
  /// The CPU the choice was made for.
  public let cpu: CPUInfo
  /// Threads a parallel kernel may use.
  public let threads: Int
  /// The backend forced for every operation, if any.
  public let forcedBackend: String?
  /// Every decision: per (operation, size class), the backend, the reason and the
  /// measurements behind it.
  public let plan: DispatchPlan

  private let runnable: [any Backend]
  /// The chosen backend per slot (`KernelOperation.slot(_:)`).
  let table: ContiguousArray<any Backend>
  /// The chosen gemm and gemv as function values (the hot path of `gemm` and `gemv`).
  let matrixEntries: MatrixEntries
  /// The chosen dot and squared distance as function values (the hot path of `dot` and
  /// `squaredDistance`).
  let level1Entries: Level1Entries

  /// Creates an engine choosing among `registry`'s backends that `cpu` can run.
  ///
  /// - Parameters:
  ///   - threads: threads for parallel kernels (default: all logical cores); clamped to
  ///     `1 ... Parallel.maximumThreads`.
  ///   - backendName: run every operation on this backend. Throws `.unknownBackend` (with
  ///     the valid names) if it is not registered and `.backendNotRunnable` if this CPU
  ///     lacks its features — it is never run anyway, so it can never fault.
  ///   - dispatch: how to choose among the candidates (default `.measured`). Measuring
  ///     needs `cpu` to be the CPU this process runs on; for any other (a simulated CPU in
  ///     a test) the static preferences decide.
  public init(
    registry: BackendRegistry, cpu: CPUInfo = .current, threads: Int? = nil, forcing backendName: String? = nil,
    dispatch: DispatchMode = .measured
  ) throws(ArrowheadError) {
    self.registry = registry
    self.cpu = cpu
    self.threads = Parallel.clampedThreads(threads ?? cpu.logicalCores)
    self.forcedBackend = backendName
    let runnable = registry.runnable(on: cpu)
    self.runnable = runnable
    guard !runnable.isEmpty else {
      throw .unknownBackend(name: "(none runnable)", valid: registry.names)
    }
    var forced: Int?
    if let backendName {
      guard let backend = registry.backend(named: backendName) else {
        throw .unknownBackend(name: backendName, valid: registry.names)
      }
      guard let index = runnable.firstIndex(where: { $0.name == backendName }) else {
        throw .backendNotRunnable(
          name: backendName, missingFeatures: cpu.missing(backend.requiredFeatures).map(\.rawValue),
          runnable: runnable.map(\.name))
      }
      forced = index
    }
    let plan = DispatchPlan.make(
      runnable: runnable, cpu: cpu, threads: self.threads, forced: forced, mode: dispatch)
    self.plan = plan
    var table = ContiguousArray<any Backend>(repeating: runnable[plan.fallbackIndex], count: KernelOperation.tableSize)
    for decision in plan.decisions {
      table[decision.operation.slot(decision.shape)] = runnable[decision.backendIndex]
    }
    self.table = table
    self.matrixEntries = MatrixEntries(table)
    self.level1Entries = Level1Entries(table)
  }

  /// The backends this engine may run.
  public var runnableBackends: [any Backend] { runnable }

  /// The backend that runs `operation` at `shape`.
  @inline(__always)
  public func backend(for operation: KernelOperation, _ shape: ShapeClass) -> any Backend {
    table[operation.slot(shape)]
  }

  /// Which backend runs `operation` at `shape`, and why.
  public func selection(for operation: KernelOperation, _ shape: ShapeClass) -> Selection {
    let decision = plan.decision(for: operation, shape)
    return Selection(backend: backend(for: operation, shape).name, reason: decision?.reason ?? "")
  }

  /// A copy of this engine whose parallel kernels use `threads` threads, clamped to
  /// `1 ... Parallel.maximumThreads`. Engine
  /// code calls kernels through `withThreads(1)` inside its own parallel loops.
  public func withThreads(_ threads: Int) -> Engine {
    var copy = self
    copy.threadsOverride = Parallel.clampedThreads(threads)
    return copy
  }

  private var threadsOverride: Int?
  /// The thread count kernels receive.
  public var effectiveThreads: Int { threadsOverride ?? threads }

  /// A copy of this engine that runs every operation on `name`.
  public func forcing(_ name: String) throws(ArrowheadError) -> Engine {
    try Engine(registry: registry, cpu: cpu, threads: effectiveThreads, forcing: name, dispatch: plan.mode)
  }

  /// The engine configured from `environment` (`ARROWHEAD_BACKEND`, `ARROWHEAD_THREADS`,
  /// `ARROWHEAD_DISPATCH`, and `ARROWHEAD_CPU_DISABLE` applied to `cpu`).
  public static func fromEnvironment(
    registry: BackendRegistry, environment: [String: String] = ProcessEnvironment.current, cpu: CPUInfo = .current
  ) throws(ArrowheadError) -> Engine {
    var cpu = cpu
    if let text = environment[CPUInfo.disableVariable], !text.isEmpty {
      cpu = cpu.disabling(try CPUInfo.features(toDisable: text))
    }
    let threads = try ThreadPolicy.threads(environment: environment, cpu: cpu)
    let forced = environment[backendVariable].flatMap { $0.isEmpty ? nil : $0 }
    let mode = try DispatchMode(environment: environment)
    return try Engine(registry: registry, cpu: cpu, threads: threads, forcing: forced, dispatch: mode)
  }
}

// MARK: - The process-wide engine

extension Engine {
  /// The process-wide engine: the built-in backends (`BackendRegistry.builtIn`),
  /// configured from `ARROWHEAD_BACKEND`, `ARROWHEAD_THREADS`, `ARROWHEAD_DISPATCH` and
  /// `ARROWHEAD_CPU_DISABLE`.
  /// Created once. If the environment is invalid (unknown backend, one this CPU cannot run,
  /// a bad thread count or dispatch mode) it falls back to automatic selection on all
  /// cores, prints the error once on stderr and records it in `environmentError`; call
  /// `Engine.fromEnvironment()` to get the error thrown instead.
  public static let `default`: Engine = {
    switch makeFromEnvironment() {
    case .success(let engine):
      return engine
    case .failure(let error):
      StandardError.write("arrowhead: ignoring invalid environment: \(error)\n")
      if let engine = try? Engine(registry: .builtIn) { return engine }
      return Engine(referenceOnly: ())
    }
  }()

  /// The error that made `Engine.default` ignore the environment, if any.
  public static var environmentError: ArrowheadError? {
    if case .failure(let error) = makeFromEnvironment() { return error }
    return nil
  }

  /// The engine configured from the process environment over the built-in backends.
  public static func fromEnvironment() throws(ArrowheadError) -> Engine {
    try makeFromEnvironment().get()
  }

  private static func makeFromEnvironment() -> Result<Engine, ArrowheadError> {
    do {
      return .success(try Engine.fromEnvironment(registry: .builtIn))
    } catch {
      return .failure(error)
    }
  }

  /// An engine over the reference backend alone (which always runs): the last resort.
  private init(referenceOnly: Void) {
    registry = BackendRegistry(unchecked: [ReferenceBackend()])
    cpu = .current
    threads = 1
    forcedBackend = nil
    runnable = registry.backends
    plan = DispatchPlan.make(runnable: runnable, cpu: cpu, threads: 1, forced: nil, mode: .static)
    table = ContiguousArray(repeating: runnable[0], count: KernelOperation.tableSize)
    matrixEntries = MatrixEntries(table)
    level1Entries = Level1Entries(table)
  }
}

// MARK: - Size classes

extension ShapeClass {
  /// The size class of an element-wise or reduction kernel over `count` elements.
  @inline(__always)
  public static func vector(count: Int) -> ShapeClass { count <= 256 ? .small : .large }
}

/// Calls `body` with the base addresses of two buffers, substituting a valid dummy
/// pointer for an empty buffer (kernels never read it when a dimension is 0).
@inline(__always)
func withPlaceholder<R>(
  _ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>,
  _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R
) -> R {
  var dummy: Float = 0
  return withUnsafePointer(to: &dummy) { placeholder in
    body(x.baseAddress ?? placeholder, y.baseAddress ?? placeholder)
  }
}
