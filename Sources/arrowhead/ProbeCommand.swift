import ArgumentParser
import Arrowhead
import Foundation

/// `arrowhead probe`: what this CPU can do, which backends exist and which runs each
/// operation (compiled → available → chosen, like SimSIMD/NumKong's capability report).
struct Probe: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Report the CPU, the backends and which kernel runs each operation, and why.",
    discussion: """
      Dispatch is measured on first use (well under a second) and cached per CPU model, library \
      version and thread count; the report shows each candidate's measured time per call and where \
      the figures came from. --recalibrate measures again; ARROWHEAD_DISPATCH=static uses the static \
      preferences instead. With --bench, also measure every runnable backend on larger problems (≈ 10 s).
      """)

  @Flag(help: "Also measure each operation on each runnable backend (short runs).")
  var bench = false

  @Flag(help: "Measure dispatch again now, replacing the cached figures.")
  var recalibrate = false

  @Option(help: "Threads the engine is configured for (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Flag(help: "Print the report as JSON.")
  var json = false

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
  }

  func run() throws {
    let engine = try commandEngine(threads: threads, dispatch: recalibrate ? .remeasure : nil)
    var report = ProbeReport(engine: engine)
    if bench { report.measurements = ProbeBench.run(engine: engine) }
    if json {
      print(try jsonString(report))
    } else {
      print(report.text(commandLineThreads: threads), terminator: "")
    }
  }
}

/// The text form of the probe's findings (`ProbeReport` lives in the Arrowhead module, so
/// that the C ABI and the Python package return the same report as `probe --json`).
extension ProbeReport {
  /// - Parameter commandLineThreads: `probe --threads N`, which sets the engine's count as
  ///   `ARROWHEAD_THREADS` would (both are capped at the logical cores).
  func text(commandLineThreads: Int? = nil) -> String {
    var out = "Arrowhead \(version) — hardware probe\n\n"
    out += "CPU\n"
    out += "  model        \(cpu.model.isEmpty ? "(unknown)" : cpu.model) (\(cpu.vendor), family \(cpu.family) model \(cpu.modelNumber) stepping \(cpu.stepping))\n"
    out += "  architecture \(cpu.architecture), \(cpu.logicalCores) logical cores available to this process\n"
    out += "  caches       L1d \(formattedBytes(cpu.l1DataBytes)) per core, L2 \(formattedBytes(cpu.l2Bytes)) per core, L3 \(formattedBytes(cpu.l3Bytes)) (from /sys)\n"
    let order = CPUFeature.allCases.map(\.rawValue)
    let features = cpu.features.keys.sorted { (order.firstIndex(of: $0) ?? 0) < (order.firstIndex(of: $1) ?? 0) }
    out += "  features     " + features.map { (cpu.features[$0] ?? false ? "✓ " : "✗ ") + $0 }.joined(separator: "  ") + "\n"
    if !cpu.featuresDisabledByOS.isEmpty {
      out += "  disabled     \(cpu.featuresDisabledByOS.joined(separator: ", ")) (reported by the CPU, register state not enabled by the OS)\n"
    }
    if !cpu.featuresDisabledByEnvironment.isEmpty {
      out += "  disabled     \(cpu.featuresDisabledByEnvironment.joined(separator: ", ")) (by ARROWHEAD_CPU_DISABLE: kernels that need them do not run)\n"
    }
    let requested = commandLineThreads.map { "--threads \($0)" } ?? threadsVariable.map { "ARROWHEAD_THREADS=\($0)" }
    let askedFor = commandLineThreads ?? threadsVariable.flatMap { Int($0) }
    let source = requested.map { text in
      (askedFor ?? 0) > threads ? "\(text), capped at the \(cpu.logicalCores) logical cores" : text
    } ?? "all logical cores; cap with ARROWHEAD_THREADS or --threads"
    out += "\nThreads\n  \(threads) (\(source))\n"
    if let openBLAS {
      out += "\nOpenBLAS\n"
      out += "  version      \(openBLAS["version"] ?? "?") — \(openBLAS["config"] ?? "")\n"
      out += "  core         \(openBLAS["coreName"] ?? "?") kernels, \(openBLAS["parallel"] ?? "?"); set to the engine's thread count per call\n"
    } else {
      out += "\nOpenBLAS\n  not compiled in (package trait `OpenBLAS` disabled)\n"
    }
    out += "\nBackends (compiled → runnable)\n"
    var table = TextTable(["backend", "compiled for", "runnable", "accelerates"])
    for backend in backends {
      table.append([
        backend.name, backend.compiledISA,
        backend.runnable ? "yes" : "no (missing \(backend.missingFeatures.joined(separator: ", ")))",
        backend.accelerates.count == KernelOperation.allCases.count ? "all" : backend.accelerates.joined(separator: ","),
      ])
    }
    out += indent(table.render())
    out += "\nDispatch (chosen backend per operation and size\(forcedBackend.map { "; forced: \($0)" } ?? ""))\n"
    out += "  mode \(dispatchMode.mode); figures \(dispatchMode.cache)"
    if dispatchMode.calibrationSeconds > 0 { out += " (\(String(format: "%.2f", dispatchMode.calibrationSeconds)) s)" }
    out += "\n"
    var dispatchTable = TextTable(["operation", "size", "backend", "from", "measured per call (fastest first)"])
    for choice in dispatch {
      let figures = choice.candidates.isEmpty
        ? choice.reason
        : choice.candidates.map { "\($0.backend) \(formattedDuration($0.secondsPerCall))" }.joined(separator: ", ")
      dispatchTable.append([choice.operation, choice.size, choice.backend, choice.source, figures])
    }
    out += indent(dispatchTable.render())
    if let measurements {
      out += "\nMeasured on this machine (best of 3; winner marked *)\n"
      var benchTable = TextTable(["operation", "shape", "backend", "throughput", "unit", ""])
      let keys = measurements.reduce(into: [String]()) { keys, m in
        if !keys.contains(m.operation + " " + m.shape) { keys.append(m.operation + " " + m.shape) }
      }
      let groups = Dictionary(grouping: measurements, by: { $0.operation + " " + $0.shape })
      for group in keys.compactMap({ key in groups[key].map { (key: key, value: $0) } }) {
        let best = group.value.map(\.throughput).max() ?? 0
        for measurement in group.value {
          benchTable.append([
            measurement.operation, measurement.shape, measurement.backend, formatted(measurement.throughput),
            measurement.unit, measurement.throughput == best ? "*" : "",
          ])
        }
      }
      out += indent(benchTable.render())
    }
    return out
  }

  private func indent(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
  }
}

/// Short measurements of each operation on each runnable backend for `probe --bench`.
enum ProbeBench {
  typealias Measurement = ProbeReport.Measurement

  static func run(engine: Engine) -> [Measurement] {
    var generator = SeededGenerator(seed: 1)
    let backends = engine.runnableBackends.filter { $0.name != "reference" }
    let threads = engine.effectiveThreads
    var results: [Measurement] = []
    func measure(_ operation: String, _ shape: String, work: Double, unit: String, _ body: @escaping (any Backend) -> Void) {
      let timings = timeSideBySide(backends.map { backend in { body(backend) } }, repeats: 3, minimumSampleSeconds: 0.05)
      for (backend, timing) in zip(backends, timings) {
        results.append(Measurement(operation: operation, shape: shape, backend: backend.name,
                                   throughput: work / timing.best / 1e9, unit: unit))
      }
    }
    // gemm 512³ (GFLOP/s) and 32³ (small).
    for n in [32, 512] {
      let a = randomFloats(n * n, using: &generator), b = randomFloats(n * n, using: &generator)
      var c = [Float](repeating: 0, count: n * n)
      measure("gemm", "n=\(n), \(threads) thr", work: 2 * pow(Double(n), 3), unit: "GFLOP/s") { backend in
        backend.gemm(.normal, .normal, rows: n, columns: n, depth: n, alpha: 1, a, lda: n, b, ldb: n,
                     beta: 0, &c, ldc: n, threads: threads)
      }
    }
    // gemv 2048² (GB/s of A).
    let n = 2048
    let matrix = randomFloats(n * n, using: &generator), x = randomFloats(n, using: &generator)
    var y = [Float](repeating: 0, count: n)
    measure("gemv", "n=\(n), \(threads) thr", work: Double(n * n * 4), unit: "GB/s") { backend in
      backend.gemv(.normal, rows: n, columns: n, alpha: 1, matrix, lda: n, x, beta: 0, &y, threads: threads)
    }
    // dot 4096 (GFLOP/s).
    let u = randomFloats(4096, using: &generator), v = randomFloats(4096, using: &generator)
    var sink: Float = 0
    measure("dot", "n=4096", work: 8192, unit: "GFLOP/s") { backend in sink += backend.dot(count: 4096, u, v) }
    // distances 256 × 8192 × 128, squared L2 (GFLOP/s).
    let queries = randomFloats(256 * 128, using: &generator), base = randomFloats(8192 * 128, using: &generator)
    var out = [Float](repeating: 0, count: 256 * 8192)
    measure("distances", "256×8192×128 L2, \(threads) thr", work: 2 * 256 * 8192 * 128, unit: "GFLOP/s") { backend in
      backend.distances(.squaredL2, queryCount: 256, baseCount: 8192, dimension: 128, queries: queries, ldq: 128,
                        base: base, ldb: 128, queryNorms: nil, baseNorms: nil, &out, ldo: 8192, threads: threads)
    }
    // quantize INT4 G=64 (GB/s of Float32 input), 1 Mi values.
    let count = 1 << 20, group = 64
    let weights = randomFloats(count, using: &generator)
    let scales = [Float](repeating: 2.0 / 15, count: count / group), minimums = [Float](repeating: -1, count: count / group)
    var codes = [UInt8](repeating: 0, count: count)
    measure("quantize", "INT4 G=64, 1 Mi", work: Double(count * 4), unit: "GB/s") { backend in
      backend.quantize(count: count, groupSize: group, weights, scales: scales, offsets: minimums, form: .floatMinimum,
                       maxCode: 15, &codes)
    }
    // Cholesky 256 (GFLOP/s, n³/3 FLOP).
    let spd = spdMatrix(256, using: &generator)
    var factor = spd
    measure("cholesky", "n=256", work: pow(256, 3) / 3, unit: "GFLOP/s") { backend in
      factor = spd
      try? backend.choleskyFactor(order: 256, &factor, lda: 256)
    }
    if sink == .infinity { StandardError.write("") }
    return results
  }

  static func spdMatrix(_ n: Int, using generator: inout SeededGenerator) -> [Float] {
    let b = randomFloats(n * n, using: &generator)
    var a = [Float](repeating: 0, count: n * n)
    for i in 0..<n {
      for j in 0...i {
        var sum: Float = 0
        for p in 0..<n { sum += b[p * n + i] * b[p * n + j] }
        a[i * n + j] = sum / Float(n) + (i == j ? 1 : 0)
        a[j * n + i] = a[i * n + j]
      }
    }
    return a
  }
}

/// "12.3 ns", "4.56 µs", "1.23 ms".
func formattedDuration(_ seconds: Double) -> String {
  if seconds < 1e-6 { return String(format: "%.3g ns", seconds * 1e9) }
  if seconds < 1e-3 { return String(format: "%.3g µs", seconds * 1e6) }
  return String(format: "%.3g ms", seconds * 1e3)
}
