import Arrowhead
import Testing

/// A CPU with nothing beyond SSE2, to check what dispatch does on older machines.
let oldCPU = CPUInfo(
  vendor: "GenuineIntel", model: "simulated SSE2-only CPU", architecture: .x86_64, logicalCores: 4,
  caches: CacheSizes(l1Data: 32768, l2: 262_144, l3: 8_388_608), features: [.sse2])

/// A third-party backend: the reference kernels under another name, wanting every dot.
struct ThirdPartyBackend: Backend {
  let base = ReferenceBackend()
  var name: String { "third-party" }
  var compiledISA: String { "test" }
  var requiredFeatures: Set<CPUFeature> { [] }
  var details: [String: String] { [:] }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference {
    operation == .dot ? Preference(score: 1000, reason: "test backend") : .notAccelerated()
  }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float { base.dot(count: count, x, y) }
  func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) { base.axpy(count: count, alpha: alpha, x, y) }
  func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) { base.scale(count: count, alpha: alpha, x) }
  func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float { base.sumOfSquares(count: count, x) }
  func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int { base.indexOfMaxMagnitude(count: count, x) }
  func gemv(_ t: Transpose, rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
            _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int) {
    base.gemv(t, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }
  func gemm(_ ta: Transpose, _ tb: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
            _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
            _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
    base.gemm(ta, tb, rows: rows, columns: columns, depth: depth, alpha: alpha, a, lda: lda, b, ldb: ldb,
              beta: beta, c, ldc: ldc, threads: threads)
  }
  func distances(_ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int, queries: UnsafePointer<Float>,
                 ldq: Int, base b: UnsafePointer<Float>, ldb: Int, queryNorms: UnsafePointer<Float>?,
                 baseNorms: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int) {
    base.distances(metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension, queries: queries, ldq: ldq,
                   base: b, ldb: ldb, queryNorms: queryNorms, baseNorms: baseNorms, out, ldo: ldo, threads: threads)
  }
  func groupMinMax(count: Int, groupSize: Int, _ x: UnsafePointer<Float>, minimums: UnsafeMutablePointer<Float>,
                   maximums: UnsafeMutablePointer<Float>) -> Bool {
    base.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }
  func quantize(count: Int, groupSize: Int, _ x: UnsafePointer<Float>, scales: UnsafePointer<Float>,
                offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int, _ codes: UnsafeMutablePointer<UInt8>) {
    base.quantize(count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }
  func dequantize(count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
                  offsets: UnsafePointer<Float>, form: AffineForm, _ x: UnsafeMutablePointer<Float>) {
    base.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }
  func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    base.pack(count: count, bits: bits, codes, packed)
  }
  func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    base.unpack(count: count, bits: bits, packed, codes)
  }
  func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 { base.int8Dot(count: count, a, b) }
  func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    base.uint8SquaredL2(count: count, a, b)
  }
  func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    try base.choleskyFactor(order: order, a, lda: lda)
  }
  func triangularSolve(_ side: Side, _ t: Transpose, rows: Int, columns: Int, _ l: UnsafePointer<Float>, ldl: Int,
                       _ b: UnsafeMutablePointer<Float>, ldb: Int) {
    base.triangularSolve(side, t, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }
  func symmetricEigen(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>) throws(ArrowheadError) {
    try base.symmetricEigen(order: order, a, lda: lda, eigenvalues: eigenvalues)
  }
}

@Suite struct DispatchTests {
  @Test func everyChoiceIsRunnableAndHasTheHighestScore() throws {
    let engine = try Engine(registry: .builtIn)
    let runnable = engine.runnableBackends
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        let chosen = engine.backend(for: operation, shape)
        #expect(chosen.isRunnable())
        let best = runnable.map { $0.preference(for: operation, shape).score }.max() ?? 0
        #expect(chosen.preference(for: operation, shape).score == best, "\(operation) \(shape) chose \(chosen.name)")
        #expect(!engine.selection(for: operation, shape).reason.isEmpty)
      }
    }
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

  @Test func aThirdPartyBackendCanBeRegisteredAndWinsWhereItScoresHighest() throws {
    var registry = BackendRegistry.builtIn
    try registry.register(ThirdPartyBackend())
    #expect(throws: ArrowheadError.self) { try registry.register(ThirdPartyBackend()) }  // duplicate name
    let engine = try Engine(registry: registry)
    #expect(engine.backend(for: .dot, .large).name == "third-party")
    #expect(engine.backend(for: .gemm, .large).name != "third-party")
    #expect(try engine.dot([1, 2, 3], [4, 5, 6]) == 32)
  }

  @Test func withThreadsChangesOnlyTheThreadCount() throws {
    let engine = try Engine(registry: .builtIn, threads: 2)
    #expect(engine.withThreads(1).effectiveThreads == 1)
    #expect(engine.withThreads(0).effectiveThreads == 1)
    #expect(engine.effectiveThreads == 2)
  }
}
