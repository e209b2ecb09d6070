import Arrowhead
import Testing

/// A CPU with nothing beyond SSE2, to check what dispatch does on older machines.
let oldCPU = CPUInfo(
  vendor: "GenuineIntel", model: "simulated SSE2-only CPU", architecture: .x86_64, logicalCores: 4,
  caches: CacheSizes(l1Data: 32768, l2: 262_144, l3: 8_388_608), features: [.sse2])

/// A third-party backend that implements one kernel — and nothing else: every other kernel
/// is its family's default (the reference code), with no delegation written here.
struct ThirdPartyBackend: Backend {
  var name: String { "third-party" }
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .dot ? Preference(score: 1000, reason: "test backend") : nil
  }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return sum
  }
}

/// A backend whose dot is correct but slow (it repeats the work 200 times), and which claims
/// the highest static score: measured dispatch must not believe it.
struct BoastfulSlowBackend: Backend {
  var name: String { "boastful-slow" }
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .dot ? Preference(score: 10_000, reason: "claims to be fastest") : nil
  }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var result: Float = 0
    for _ in 0..<200 {
      var sum: Float = 0
      for i in 0..<count { sum += x[i] * y[i] }
      result = sum
    }
    return result
  }
}

/// A backend whose `scale` returns at once for α = 1 — as OpenBLAS's `cblas_sscal` does — and
/// is slow for every other α, and which claims the highest static score: a calibration that
/// timed α = 1 would crown it.
struct IdentityShortcutBackend: Backend {
  var name: String { "identity-shortcut" }
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .scale ? Preference(score: 10_000, reason: "claims to be fastest") : nil
  }
  func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    if alpha == 1 { return }
    var sink: Float = 0
    for _ in 0..<200 {
      for i in 0..<count { sink += x[i] }
    }
    for i in 0..<count { x[i] = alpha * x[i] }
    if sink.isNaN && alpha == 12_345 { x[0] = sink }  // keeps the slow loop
  }
}

@Suite struct DispatchTests {
  @Test func staticDispatchTakesTheHighestScoreAmongTheBackendsThatImplementAKernel() throws {
    let engine = try Engine(registry: .builtIn, dispatch: .static)
    let runnable = engine.runnableBackends
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        let chosen = engine.backend(for: operation, shape)
        #expect(chosen.isRunnable())
        let scores = runnable.compactMap { $0.preference(for: operation, shape)?.score }
        if let best = scores.max() {
          #expect(chosen.preference(for: operation, shape)?.score == best, "\(operation) \(shape) chose \(chosen.name)")
        } else {
          #expect(chosen.name == "reference", "\(operation) \(shape): nothing implements it, the reference runs")
        }
        #expect(!engine.selection(for: operation, shape).reason.isEmpty)
        #expect(engine.plan.decision(for: operation, shape)?.source != .measured)
      }
    }
  }

  @Test func measuredDispatchChoosesAmongImplementersWithinFivePercentOfTheFastest() throws {
    let engine = try Engine(registry: .builtIn, dispatch: .measured)
    for decision in engine.plan.decisions {
      let chosen = engine.backend(for: decision.operation, decision.shape)
      #expect(chosen.name == decision.backend)
      guard decision.source == .measured || decision.source == .cached else { continue }
      #expect(chosen.implements(decision.operation), "\(decision.operation) \(decision.shape)")
      let fastest = try #require(decision.measurements.first)
      let mine = try #require(decision.measurements.first { $0.backend == decision.backend })
      #expect(mine.secondsPerCall <= fastest.secondsPerCall * 1.05 + 1e-12, "\(decision.operation) \(decision.shape)")
      #expect(decision.measurements.allSatisfy { $0.secondsPerCall.isFinite && $0.secondsPerCall > 0 })
    }
  }

  @Test func measurementOverridesAStaticPreferenceThatLies() throws {
    var registry = BackendRegistry.builtIn
    try registry.register(BoastfulSlowBackend())
    let statically = try Engine(registry: registry, dispatch: .static)
    #expect(statically.backend(for: .dot, .large).name == "boastful-slow")
    let measured = try Engine(registry: registry, dispatch: .remeasure)
    #expect(measured.backend(for: .dot, .large).name != "boastful-slow")
    let decision = try #require(measured.plan.decision(for: .dot, .large))
    #expect(decision.source == .measured)
    #expect(decision.measurements.last?.backend == "boastful-slow")
  }

  @Test func calibrationDoesNotTimeAnIdentityThatAKernelMaySkip() throws {
    var registry = BackendRegistry.builtIn
    try registry.register(IdentityShortcutBackend())
    let statically = try Engine(registry: registry, dispatch: .static)
    #expect(statically.backend(for: .scale, .large).name == "identity-shortcut")
    let measured = try Engine(registry: registry, dispatch: .remeasure)
    for shape in ShapeClass.allCases {
      #expect(measured.backend(for: .scale, shape).name != "identity-shortcut", "scale \(shape)")
      let decision = try #require(measured.plan.decision(for: .scale, shape))
      #expect(decision.source == .measured)
      #expect(decision.measurements.last?.backend == "identity-shortcut", "scale \(shape): measured slowest")
    }
  }

  @Test func anUnknownDispatchModeListsTheValidOnes() {
    #expect(throws: ArrowheadError.invalidEnvironment(
      variable: "ARROWHEAD_DISPATCH", value: "fastest", expected: "one of measured, remeasure, static")
    ) {
      _ = try Engine.fromEnvironment(registry: .builtIn, environment: ["ARROWHEAD_DISPATCH": "fastest"])
    }
    #expect((try? DispatchMode(environment: [:])) == .measured)
    #expect((try? DispatchMode(environment: ["ARROWHEAD_DISPATCH": "STATIC"])) == .static)
  }

  /// The kernel families are complete and consistent: each operation sits at its index in
  /// its family, names are unique, and every family fits its dispatch-table slots.
  @Test func kernelFamiliesAreConsistent() {
    var names = Set<String>()
    for family in KernelFamily.allCases {
      #expect(family.operations.count <= KernelFamily.capacity)
      for (index, operation) in family.operations.enumerated() {
        #expect(operation.family == family && operation.index == index, "\(operation)")
        #expect(names.insert(operation.name).inserted, "duplicate \(operation)")
        #expect(KernelOperation(named: operation.name) == operation)
      }
    }
    let slots = KernelOperation.allCases.flatMap { op in ShapeClass.allCases.map { op.slot($0) } }
    #expect(Set(slots).count == slots.count)
  }

  @Test func aCPUWithoutAVX2NeverGetsTheAVX2Variant() throws {
    let engine = try Engine(registry: .builtIn, cpu: oldCPU)
    #expect(!engine.runnableBackends.map(\.name).contains("simd-x86-64-v3"))
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        #expect(engine.backend(for: operation, shape).isRunnable(on: oldCPU))
      }
    }
  }

  @Test func forcingAVariantTheCPUCannotRunIsAClearError() throws {
    #if arch(x86_64)
    do {
      _ = try Engine(registry: .builtIn, cpu: oldCPU, forcing: "simd-x86-64-v3")
      Issue.record("forcing an unrunnable variant must throw")
    } catch {
      guard case let .backendNotRunnable(name, missing, runnable) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(name == "simd-x86-64-v3")
      #expect(missing.contains("AVX2") && missing.contains("FMA"))
      #expect(runnable.contains("simd-baseline") && runnable.contains("reference"))
      #expect(error.description.contains("cannot run on this CPU"))
    }
    #endif
  }

  @Test func anUnknownBackendNameListsTheValidOnes() {
    #expect(throws: ArrowheadError.unknownBackend(name: "cuda", valid: BackendRegistry.builtIn.names)) {
      _ = try Engine(registry: .builtIn, forcing: "cuda")
    }
    #expect(BackendRegistry.builtIn.names.contains("reference"))
  }

  @Test func theEnvironmentForcesABackendAndCapsThreads() throws {
    let forced = try Engine.fromEnvironment(registry: .builtIn, environment: ["ARROWHEAD_BACKEND": "reference", "ARROWHEAD_THREADS": "1"])
    #expect(forced.forcedBackend == "reference")
    #expect(forced.threads == 1)
    for operation in KernelOperation.allCases {
      #expect(forced.backend(for: operation, .large).name == "reference")
      #expect(forced.selection(for: operation, .small).reason.hasPrefix("forced by ARROWHEAD_BACKEND"))
    }
    let capped = try Engine.fromEnvironment(registry: .builtIn, environment: ["ARROWHEAD_THREADS": "999"])
    #expect(capped.threads == CPUInfo.current.logicalCores)
    for bad in ["0", "-2", "two", "1.5"] {
      #expect(throws: ArrowheadError.invalidEnvironment(variable: "ARROWHEAD_THREADS", value: bad, expected: "a positive integer")) {
        _ = try Engine.fromEnvironment(registry: .builtIn, environment: ["ARROWHEAD_THREADS": bad])
      }
    }
  }

  @Test func aThirdPartyBackendImplementsOneKernelAndInheritsTheReferenceForTheRest() throws {
    var registry = BackendRegistry.builtIn
    try registry.register(ThirdPartyBackend())
    #expect(throws: ArrowheadError.self) { try registry.register(ThirdPartyBackend()) }  // duplicate name
    let engine = try Engine(registry: registry, dispatch: .static)
    #expect(engine.backend(for: .dot, .large).name == "third-party")
    #expect(engine.backend(for: .gemm, .large).name != "third-party")
    #expect(try engine.dot([1, 2, 3], [4, 5, 6]) == 32)
    #expect(ThirdPartyBackend().acceleratedOperations == [.dot])
    // Forced, everything runs on it: its own dot, the reference code for the rest.
    let forced = try engine.forcing("third-party")
    let c = try forced.multiply(try Matrix(rows: 1, columns: 2, elements: [1, 2]), try Matrix(rows: 2, columns: 1, elements: [3, 4]))
    #expect(c.elements == [11])
  }

  @Test func dotAndSquaredDistanceRunTheChosenBackendInBothSizeClasses() throws {
    // A backend without function entries (the engine wraps its methods) marks its results.
    var registry = BackendRegistry.builtIn
    try registry.register(MarkedPairBackend())
    let marked = try Engine(registry: registry, dispatch: .static)
    for count in [3, 256, 257, 1000] {  // 256 is the last of the small class
      let x = (0..<count).map { Float($0 % 7) }, y = (0..<count).map { Float($0 % 5) - 2 }
      let dot = zip(x, y).reduce(Float(0)) { $0 + $1.0 * $1.1 }
      let distance = zip(x, y).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
      #expect(try marked.dot(x, y) == dot + 1000, "dot of \(count)")
      #expect(try marked.squaredDistance(x, y) == distance + 2000, "squared distance of \(count)")
    }
    // Every built-in backend, forced: the engine's entry gives the backend's own bits.
    var generator = SeededGenerator(seed: 11)
    for backend in BackendRegistry.builtIn.runnable(on: .current) {
      let engine = try Engine(registry: .builtIn, forcing: backend.name)
      for count in [1, 17, 256, 257, 4099] {
        let x = (0..<count).map { _ in Float.random(in: -1..<1, using: &generator) }
        let y = (0..<count).map { _ in Float.random(in: -1..<1, using: &generator) }
        let (direct, distance) = x.withUnsafeBufferPointer { xb in
          y.withUnsafeBufferPointer { yb in
            (backend.dot(count: count, xb.baseAddress!, yb.baseAddress!),
             backend.squaredDistance(count: count, xb.baseAddress!, yb.baseAddress!))
          }
        }
        #expect(try engine.dot(x, y).bitPattern == direct.bitPattern, "\(backend.name) dot of \(count)")
        #expect(try engine.squaredDistance(x, y).bitPattern == distance.bitPattern, "\(backend.name) l2 of \(count)")
      }
    }
  }

  @Test func withThreadsChangesOnlyTheThreadCount() throws {
    let engine = try Engine(registry: .builtIn, threads: 2)
    #expect(engine.withThreads(1).effectiveThreads == 1)
    #expect(engine.withThreads(0).effectiveThreads == 1)
    #expect(engine.effectiveThreads == 2)
  }
}

/// A backend whose dot adds 1000 and whose squared distance adds 2000 to the true value, and
/// which claims both operations in every size class, so a test can see that it ran.
struct MarkedPairBackend: Backend {
  var name: String { "marked-pair" }
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .dot || operation == .squaredDistance ? Preference(score: 10_000, reason: "test backend") : nil
  }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return sum + 1000
  }
  func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum: Float = 0
    for i in 0..<count { sum += (x[i] - y[i]) * (x[i] - y[i]) }
    return sum + 2000
  }
}

/// A backend that implements only the transposed gemv, and adds 1000 to every output so a
/// test can see which kernel ran.
struct TransposedGemvOnlyBackend: Backend {
  var name: String { "transposed-gemv-only" }
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .gemvTransposed ? Preference(score: 10_000, reason: "test backend") : nil
  }
  func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    ReferenceKernels.gemv(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y)
    for i in 0..<(transpose == .normal ? rows : columns) { y[i] += 1000 }
  }
}

/// A·x and Aᵀ·x are separate dispatch entries: the backend chosen for Aᵀ·x runs Aᵀ·x and the
/// m = 1 gemm (x·B = Bᵀ·x), and nothing else.
@Test func theTransposedGemvIsDispatchedOnItsOwn() throws {
  var registry = BackendRegistry.builtIn
  try registry.register(TransposedGemvOnlyBackend())
  let engine = try Engine(registry: registry, dispatch: .static)
  for shape in ShapeClass.allCases {
    #expect(engine.backend(for: .gemvTransposed, shape).name == "transposed-gemv-only")
    #expect(engine.backend(for: .gemv, shape).name != "transposed-gemv-only")
  }
  let a: [Float] = [1, 2, 3, 4, 5, 6]  // 2 × 3
  var y = [Float](repeating: 0, count: 3)
  try a.withUnsafeBufferPointer { ab in
    try [Float(1), 2].withUnsafeBufferPointer { xb in
      try y.withUnsafeMutableBufferPointer { yb in
        try engine.gemv(transpose: .transposed, a: ab, MatrixLayout(rows: 2, columns: 3), x: xb, y: yb)
      }
    }
  }
  #expect(y == [1009, 1012, 1015])  // Aᵀ·[1, 2] = [9, 12, 15], through the test backend
  var z = [Float](repeating: 0, count: 2)
  try a.withUnsafeBufferPointer { ab in
    try [Float(1), 1, 1].withUnsafeBufferPointer { xb in
      try z.withUnsafeMutableBufferPointer { zb in
        try engine.gemv(a: ab, MatrixLayout(rows: 2, columns: 3), x: xb, y: zb)
      }
    }
  }
  #expect(z == [6, 15])  // A·x: not the test backend
  // m = 1: [1, 2] · A (2 × 3) = Aᵀ·[1, 2], the transposed gemv.
  let row = try engine.multiply(try Matrix(rows: 1, columns: 2, elements: [1, 2]), try Matrix(rows: 2, columns: 3, elements: a))
  #expect(row.elements == [1009, 1012, 1015])
  // n = 1: A · [1, 1, 1]ᵀ = A·x, the untransposed gemv.
  let column = try engine.multiply(try Matrix(rows: 2, columns: 3, elements: a), try Matrix(rows: 3, columns: 1, elements: [1, 1, 1]))
  #expect(column.elements == [6, 15])
}
