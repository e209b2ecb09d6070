/// Runs every kernel on the fastest runnable backend for its operation and size, after
/// checking its arguments.
///
/// The choice is made once, when the engine is created, from each runnable backend's
/// `preference(for:_:)` (highest score wins; a backend whose CPU features are missing
/// scores nothing). It can be forced for every operation (`ARROWHEAD_BACKEND=<name>`, or
/// `forcing:`), and it is always visible: `selection(for:_:)` says which backend runs an
/// operation and why, which is what `arrowhead probe` prints.
///
/// Engines are immutable values, safe to share between threads.
///
/// ```swift
/// let engine = Engine.default
/// let c = try engine.multiply(a, b)               // gemm on the chosen backend
/// print(engine.selection(for: .gemm, .large))     // "simd-x86-64-v3: 6×16 …"
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

  private let runnable: [any Backend]
  /// The chosen backend per (operation, size class), flat: index op.ordinal·2 + shape.ordinal.
  let table: [any Backend]
  private let reasons: [KernelOperation: [ShapeClass: String]]

  /// Creates an engine choosing among `registry`'s backends that `cpu` can run.
  ///
  /// - Parameters:
  ///   - threads: threads for parallel kernels (default: all logical cores); clamped to ≥ 1.
  ///   - backendName: run every operation on this backend. Throws `.unknownBackend` (with
  ///     the valid names) if it is not registered and `.backendNotRunnable` if this CPU
  ///     lacks its features — it is never run anyway, so it can never fault.
  public init(
    registry: BackendRegistry, cpu: CPUInfo = .current, threads: Int? = nil, forcing backendName: String? = nil
  ) throws(ArrowheadError) {
    self.registry = registry
    self.cpu = cpu
    self.threads = max(1, threads ?? cpu.logicalCores)
    self.forcedBackend = backendName
    let runnable = registry.runnable(on: cpu)
    self.runnable = runnable
    guard !runnable.isEmpty else {
      throw .unknownBackend(name: "(none runnable)", valid: registry.names)
    }
    var plan: [KernelOperation: [ShapeClass: Int]] = [:]
    var reasons: [KernelOperation: [ShapeClass: String]] = [:]
    if let backendName {
      guard let backend = registry.backend(named: backendName) else {
        throw .unknownBackend(name: backendName, valid: registry.names)
      }
      guard let index = runnable.firstIndex(where: { $0.name == backendName }) else {
        throw .backendNotRunnable(
          name: backendName, missingFeatures: cpu.missing(backend.requiredFeatures).map(\.rawValue),
          runnable: runnable.map(\.name))
      }
      for operation in KernelOperation.allCases {
        for shape in ShapeClass.allCases {
          plan[operation, default: [:]][shape] = index
          let preference = backend.preference(for: operation, shape)
          reasons[operation, default: [:]][shape] = "forced by \(Self.backendVariable) (\(preference.reason))"
        }
      }
    } else {
      for operation in KernelOperation.allCases {
        for shape in ShapeClass.allCases {
          var bestIndex = 0
          var best = runnable[0].preference(for: operation, shape)
          for (index, backend) in runnable.enumerated().dropFirst() {
            let preference = backend.preference(for: operation, shape)
            if preference.score > best.score {
              best = preference
              bestIndex = index
            }
          }
          plan[operation, default: [:]][shape] = bestIndex
          reasons[operation, default: [:]][shape] = best.reason
        }
      }
    }
    self.reasons = reasons
    var table: [any Backend] = []
    for operation in KernelOperation.allCases {
      precondition(operation.ordinal == table.count / 2, "KernelOperation.ordinal must follow allCases")
      for shape in ShapeClass.allCases { table.append(runnable[plan[operation]?[shape] ?? 0]) }
    }
    self.table = table
  }

  /// The backends this engine may run.
  public var runnableBackends: [any Backend] { runnable }

  /// The backend that runs `operation` at `shape`.
  @inline(__always)
  public func backend(for operation: KernelOperation, _ shape: ShapeClass) -> any Backend {
    table[operation.ordinal &* 2 &+ shape.ordinal]
  }

  /// Which backend runs `operation` at `shape`, and why.
  public func selection(for operation: KernelOperation, _ shape: ShapeClass) -> Selection {
    Selection(backend: backend(for: operation, shape).name, reason: reasons[operation]?[shape] ?? "")
  }

  /// A copy of this engine whose parallel kernels use `threads` threads (≥ 1). Engine
  /// code calls kernels through `withThreads(1)` inside its own parallel loops.
  public func withThreads(_ threads: Int) -> Engine {
    var copy = self
    copy.threadsOverride = max(1, threads)
    return copy
  }

  private var threadsOverride: Int?
  /// The thread count kernels receive.
  public var effectiveThreads: Int { threadsOverride ?? threads }

  /// A copy of this engine that runs every operation on `name`.
  public func forcing(_ name: String) throws(ArrowheadError) -> Engine {
    try Engine(registry: registry, cpu: cpu, threads: effectiveThreads, forcing: name)
  }

  /// The engine configured from `environment` (`ARROWHEAD_BACKEND`, `ARROWHEAD_THREADS`).
  public static func fromEnvironment(
    registry: BackendRegistry, environment: [String: String] = ProcessEnvironment.current, cpu: CPUInfo = .current
  ) throws(ArrowheadError) -> Engine {
    let threads = try ThreadPolicy.threads(environment: environment, cpu: cpu)
    let forced = environment[backendVariable].flatMap { $0.isEmpty ? nil : $0 }
    return try Engine(registry: registry, cpu: cpu, threads: threads, forcing: forced)
  }
}

// MARK: - Size classes

extension ShapeClass {
  /// Work (m·n·k) up to which a gemm counts as small: every dimension ≤ 64.
  public static let smallGemmWork = 64 * 64 * 64
  /// Order up to which a factorisation counts as small.
  public static let smallFactorizationOrder = 96

  /// The size class of a gemm of `rows × columns × depth`.
  public static func gemm(rows: Int, columns: Int, depth: Int) -> ShapeClass {
    rows * columns * depth <= smallGemmWork ? .small : .large
  }

  /// The size class of a queries × base distance matrix.
  public static func distances(queries: Int, base: Int, dimension: Int) -> ShapeClass {
    queries * base * dimension <= smallGemmWork ? .small : .large
  }

  /// The size class of a factorisation or solve of order `order`.
  public static func factorization(order: Int) -> ShapeClass {
    order <= smallFactorizationOrder ? .small : .large
  }

  /// The size class of an element-wise or reduction kernel over `count` elements.
  public static func vector(count: Int) -> ShapeClass { count <= 256 ? .small : .large }
}
