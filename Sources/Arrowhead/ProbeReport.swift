/// What the hardware probe finds: the CPU, the backends compiled in and runnable here, and
/// which backend runs each operation at each size, and why (compiled → available → chosen).
///
/// `arrowhead probe --json` prints it; the C ABI's `ah_probe_json` and Python's
/// `arrowhead.probe()` return the same value, so the three always agree. Encoded with any
/// `JSONEncoder`; keys are the property names below.
///
/// ```swift
/// let report = ProbeReport(engine: .default)
/// report.dispatch.first { $0.operation == "gemm" }?.backend   // e.g. "simd-x86-64-v4"
/// ```
public struct ProbeReport: Codable, Sendable {
  /// The CPU as the engine sees it.
  public struct Cpu: Codable, Sendable {
    /// Vendor string ("GenuineIntel", "AuthenticAMD", "Apple", …).
    public var vendor: String
    /// Brand string (empty when the CPU reports none).
    public var model: String
    /// "x86_64" or "arm64".
    public var architecture: String
    /// CPUID family, model and stepping (0 on arm64).
    public var family: Int, modelNumber: Int, stepping: Int
    /// Logical cores available to this process.
    public var logicalCores: Int
    /// Cache sizes in bytes (from /sys; 0 when unknown).
    public var l1DataBytes: Int, l2Bytes: Int, l3Bytes: Int
    /// Every feature relevant to this architecture → whether it is usable.
    public var features: [String: Bool]
    /// Features the CPU reports but whose register state the OS does not enable.
    public var featuresDisabledByOS: [String]
    /// Usable features that `ARROWHEAD_CPU_DISABLE` turned off (kernels that need them do
    /// not run).
    public var featuresDisabledByEnvironment: [String]
  }

  /// One backend compiled into this binary.
  public struct BackendEntry: Codable, Sendable {
    /// Its name ("reference", "simd-x86-64-v3", "openblas", …).
    public var name: String
    /// The ISA it was compiled for.
    public var compiledISA: String
    /// Whether this CPU can run it.
    public var runnable: Bool
    /// CPU features it needs that are missing.
    public var missingFeatures: [String]
    /// The operations it accelerates.
    public var accelerates: [String]
    /// Backend-specific facts (e.g. OpenBLAS's version and core).
    public var details: [String: String]
  }

  /// The backend chosen for one operation at one size class.
  public struct Choice: Codable, Sendable {
    /// Operation, its kernel family, and size class ("small" / "large").
    public var operation: String, family: String, size: String
    /// The chosen backend and why.
    public var backend: String, reason: String
    /// Where the choice came from: forced, only, static, measured or cached.
    public var source: String
    /// The calibration problems, in words.
    public var problems: String
    /// Measured seconds per call of each candidate, fastest first.
    public var candidates: [Candidate]
  }

  /// One candidate's measured time per call.
  public struct Candidate: Codable, Sendable {
    /// The backend and its seconds per call.
    public var backend: String, secondsPerCall: Double
  }

  /// How dispatch was decided.
  public struct Dispatch: Codable, Sendable {
    /// static, measured or remeasure; where the figures are cached; seconds spent measuring.
    public var mode: String, cache: String, calibrationSeconds: Double
  }

  /// One measurement of `arrowhead probe --bench`.
  public struct Measurement: Codable, Sendable {
    /// Operation and shape measured, on which backend.
    public var operation: String, shape: String, backend: String
    /// Throughput in `unit` ("GFLOP/s", "GB/s").
    public var throughput: Double, unit: String

    /// Creates a measurement.
    public init(operation: String, shape: String, backend: String, throughput: Double, unit: String) {
      self.operation = operation
      self.shape = shape
      self.backend = backend
      self.throughput = throughput
      self.unit = unit
    }
  }

  /// `ArrowheadVersion.string`.
  public var version: String
  /// The CPU.
  public var cpu: Cpu
  /// The engine's thread count.
  public var threads: Int
  /// `ARROWHEAD_THREADS` as set, if set.
  public var threadsVariable: String?
  /// The backend every operation is forced to, if any.
  public var forcedBackend: String?
  /// Facts about the linked OpenBLAS (nil without the `OpenBLAS` trait).
  public var openBLAS: [String: String]?
  /// Every backend compiled in.
  public var backends: [BackendEntry]
  /// How dispatch was decided.
  public var dispatchMode: Dispatch
  /// The choice for every operation and size class.
  public var dispatch: [Choice]
  /// Measurements (`probe --bench`), else nil.
  public var measurements: [Measurement]?

  /// The report for `engine` (no measurements).
  public init(engine: Engine) {
    let info = engine.cpu
    let relevant = CPUFeature.allCases.filter { info.architecture == .arm64 ? !$0.isX86 : $0.isX86 }
    cpu = Cpu(
      vendor: info.vendor, model: info.model, architecture: info.architecture.rawValue,
      family: info.family, modelNumber: info.modelNumber, stepping: info.stepping, logicalCores: info.logicalCores,
      l1DataBytes: info.caches.l1Data, l2Bytes: info.caches.l2, l3Bytes: info.caches.l3,
      features: Dictionary(uniqueKeysWithValues: relevant.map { ($0.rawValue, info.features.contains($0)) }),
      featuresDisabledByOS: info.featuresDisabledByOS.sorted().map(\.rawValue),
      featuresDisabledByEnvironment: info.featuresDisabledByEnvironment.sorted().map(\.rawValue))
    version = ArrowheadVersion.string
    threads = engine.threads
    threadsVariable = ProcessEnvironment.current[ThreadPolicy.environmentVariable]
    forcedBackend = engine.forcedBackend
    openBLAS = openBLASInfo
    backends = engine.registry.backends.map { backend in
      BackendEntry(
        name: backend.name, compiledISA: backend.compiledISA, runnable: backend.isRunnable(on: info),
        missingFeatures: info.missing(backend.requiredFeatures).map(\.rawValue),
        accelerates: backend.acceleratedOperations.map(\.name), details: backend.details)
    }
    let plan = engine.plan
    dispatchMode = Dispatch(mode: plan.mode.rawValue, cache: plan.cache.description, calibrationSeconds: plan.calibrationSeconds)
    dispatch = plan.decisions.map { decision in
      Choice(
        operation: decision.operation.name, family: decision.operation.family.description, size: decision.shape.rawValue,
        backend: decision.backend, reason: decision.reason, source: decision.source.rawValue, problems: decision.problems,
        candidates: decision.measurements.map { Candidate(backend: $0.backend, secondsPerCall: $0.secondsPerCall) })
    }
  }
}
