import Arrowhead
import ArrowheadSIMD
import Testing

/// `ARROWHEAD_CPU_DISABLE`: features named there (and every feature built on them) count as
/// absent, so a process on an AVX-512 CPU runs the kernels an AVX2-only CPU would run.
@Suite struct CPUDisableTests {
  /// A simulated AVX-512 VNNI CPU (Zen 4's features).
  let zen4 = CPUInfo(
    vendor: "AuthenticAMD", model: "simulated Zen 4", family: 25, modelNumber: 17, architecture: .x86_64, logicalCores: 2,
    caches: CacheSizes(l1Data: 32768, l2: 1_048_576, l3: 33_554_432),
    features: [.sse2, .sse42, .avx, .avx2, .fma, .f16c, .bmi2, .avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd, .avx512vnni, .avx512bf16])

  @Test func aFeatureTakesEveryFeatureBuiltOnItWithIt() throws {
    let avx512: Set<CPUFeature> = [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd, .avx512vnni, .avx512bf16, .amxInt8]
    #expect(try CPUInfo.features(toDisable: "AVX512F") == avx512)
    #expect(try CPUInfo.features(toDisable: "AMX-INT8") == [.amxInt8])
    #expect(try CPUInfo.features(toDisable: "avx512") == avx512)
    #expect(try CPUInfo.features(toDisable: "AVX2") == avx512.union([.avx2, .avxvnni]))
    #expect(try CPUInfo.features(toDisable: "avx-vnni") == [.avxvnni])
    #expect(try CPUInfo.features(toDisable: "AVXVNNI, avx512_vnni") == [.avxvnni, .avx512vnni])
    #expect(try CPUInfo.features(toDisable: "sse4.2") == CPUFeature.allCases.filter { $0.isX86 && ![.sse2, .bmi2].contains($0) }.reduce(into: []) { $0.insert($1) })
    #expect(try CPUInfo.features(toDisable: "DOTPROD") == [.dotprod])
    #expect(CPUFeature.avx512vnni.foundations == [.avx512vnni, .avx512f, .avx2, .fma, .avx, .sse42, .sse2])
  }

  @Test func anUnknownNameIsAnErrorListingTheValidOnes() {
    #expect(throws: ArrowheadError.self) { try CPUInfo.features(toDisable: "AVX512F,AVX1024") }
    do {
      _ = try CPUInfo.features(toDisable: "AVX1024")
      Issue.record("no error")
    } catch {
      guard case let .invalidEnvironment(variable, value, expected) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(variable == "ARROWHEAD_CPU_DISABLE" && value == "AVX1024")
      #expect(expected.contains("AVX512F") && expected.contains("AVX-VNNI") && expected.contains("AVX512"))
    }
    #expect(throws: ArrowheadError.self) {
      _ = try Engine.fromEnvironment(registry: .builtIn, environment: ["ARROWHEAD_CPU_DISABLE": "AVX1024"])
    }
  }

  @Test func disablingAVX512LeavesTheAVX2Machine() throws {
    let masked = zen4.disabling(try CPUInfo.features(toDisable: "AVX512F"))
    #expect(masked.features == [.sse2, .sse42, .avx, .avx2, .fma, .f16c, .bmi2])
    #expect(masked.featuresDisabledByEnvironment == [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd, .avx512vnni, .avx512bf16])
    // Only what the CPU had is recorded as removed.
    let vnniOff = zen4.disabling(try CPUInfo.features(toDisable: "AVX-VNNI"))
    #expect(vnniOff.features == zen4.features && vnniOff.featuresDisabledByEnvironment.isEmpty)

    let engine = try Engine(registry: .builtIn, cpu: masked)
    #expect(!engine.runnableBackends.contains { $0.requiredFeatures.contains(.avx512f) })
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        #expect(engine.backend(for: operation, shape).isRunnable(on: masked), "\(operation) \(shape)")
      }
    }
    #expect(![.avx512VNNI, .amx].contains(QuantizedMatmulPath.best(level: 4, cpu: masked)))
  }

  /// The variable applied to this machine's CPU: whatever it has, no AVX-512 kernel is
  /// runnable afterwards, and forcing one is refused.
  @Test func theEnvironmentVariableMasksThisCPU() throws {
    let engine = try Engine.fromEnvironment(
      registry: .builtIn, environment: ["ARROWHEAD_CPU_DISABLE": "AVX512F", "ARROWHEAD_DISPATCH": "static"])
    #expect(engine.cpu.features.isDisjoint(with: [.avx512f, .avx512bw, .avx512vnni]))
    // What this CPU has, whether or not the suite itself runs under the variable.
    let detected = CPUInfo.current.features.union(CPUInfo.current.featuresDisabledByEnvironment)
    #expect(engine.cpu.featuresDisabledByEnvironment == detected.filter { $0.foundations.contains(.avx512f) })
    #expect(!engine.runnableBackends.contains { $0.requiredFeatures.contains(.avx512f) })
    if detected.contains(.avx512f) {
      #expect(throws: ArrowheadError.self) {
        _ = try Engine.fromEnvironment(
          registry: .builtIn, environment: ["ARROWHEAD_CPU_DISABLE": "AVX512", "ARROWHEAD_BACKEND": "simd-x86-64-v4"])
      }
    }
  }
}
