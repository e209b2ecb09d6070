import ArgumentParser
import Arrowhead
import ArrowheadIO
import Foundation

/// `arrowhead bench`: the backends side by side on one operation, best/median of repeats.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmark backends side by side (gemm, gemv, dot, distances, qgemm), or the tokenizer.",
    discussion: """
      Every repeat runs each backend once in turn, so a noisy neighbour slows them alike. \
      Rows marked 'dispatched' go through Engine's checked API with the automatic choice. \
      GFLOP/s uses the best sample; '% peak' divides by the measured single-core peak of \
      the best SIMD variant times the thread count.
      """,
    subcommands: [BenchGemm.self, BenchGemv.self, BenchDot.self, BenchDistances.self, BenchTokenize.self, BenchQGemm.self]
  )
}

/// Options shared by every `bench` subcommand.
struct BenchOptions: ParsableArguments {
  @Option(help: "Threads for the kernels that split their work (every bench but dot and l2, which run on one). Default: ARROWHEAD_THREADS or all cores.")
  var threads: Int?

  @Option(help: "Timed repeats per backend (each sample ≥ 20 ms).")
  var repeats: Int = 5

  @Option(help: "Comma-separated backend names (default: every runnable backend except reference).")
  var backends: String?

  @Flag(help: "Also time the reference backend (slow).")
  var includeReference = false

  @Option(help: "Seed of the random inputs.")
  var seed: UInt64 = 42

  @Option(help: "Clock: 'wall' (default) or 'thread' (CPU time of this thread; for 1-thread runs on a busy machine).")
  var clock: String = "wall"

  var benchClock: BenchClock { BenchClock(rawValue: clock) ?? .wall }

  @Option(help: "Write an SVG chart of throughput per size and backend to this file.")
  var svg: String?

  @OptionGroup var output: OutputOptions

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    try require(repeats, in: Limits.repeats, "--repeats")
    guard let parsed = BenchClock(rawValue: clock) else { throw ValidationError("--clock must be wall or thread") }
    if parsed == .thread && (threads ?? 1) != 1 {
      throw ValidationError("--clock thread measures one thread only: use it with --threads 1")
    }
  }

  /// The engine (environment-checked) and the backends to compare.
  func resolve() throws -> (engine: Engine, backends: [any Backend]) {
    // The engine is configured (and its dispatch measured) for the thread count under test.
    let engine = try commandEngine(threads: threads)
    // The chart is written after the measurements: a destination that cannot take it fails now.
    if let svg { try requireWritableOutput(svg, option: "--svg") }
    var chosen: [any Backend]
    if let backends {
      chosen = []
      for name in backends.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
        if chosen.contains(where: { $0.name == name }) {
          throw CommandFailure("--backends names '\(name)' twice")
        }
        guard let backend = engine.registry.backend(named: name) else {
          throw CommandFailure("unknown backend '\(name)'; valid: \(engine.registry.names.joined(separator: ", "))")
        }
        guard backend.isRunnable(on: engine.cpu) else {
          throw CommandFailure("backend '\(name)' cannot run on this CPU (missing \(engine.cpu.missing(backend.requiredFeatures).map(\.rawValue).joined(separator: ", ")))")
        }
        chosen.append(backend)
      }
    } else {
      chosen = engine.runnableBackends.filter { includeReference || $0.name != "reference" }
    }
    return (engine, chosen)
  }
}

/// One measured row of a benchmark report.
struct BenchRow: Codable, Sendable {
  var operation: String
  var shape: String
  /// The size used for charts (n for square gemm, count for dot …).
  var size: Int
  var backend: String
  var dispatched: Bool
  var threads: Int
  var bestMilliseconds: Double
  var medianMilliseconds: Double
  /// Throughput at the best sample, in `unit`.
  var throughput: Double
  var medianThroughput: Double
  var unit: String
  /// Throughput ÷ (measured peak × threads), for FLOP-bound operations.
  var percentOfPeak: Double?
}

/// A benchmark report: machine, peak and rows.
struct BenchReport: Codable, Sendable {
  var cpu: String
  var date: String
  var peakGFLOPSPerCore: Double
  var peakMeasuredWith: String
  var threads: Int
  var repeats: Int
  var rows: [BenchRow]

  func render(_ format: OutputFormat) throws -> String {
    switch format {
    case .json:
      return try jsonString(self)
    case .table, .csv:
      var table = TextTable(["operation", "shape", "backend", "threads", "best ms", "median ms", "best", "median", "unit", "% peak"])
      for row in rows {
        table.append([
          row.operation, row.shape, row.dispatched ? "\(row.backend) (dispatched)" : row.backend, "\(row.threads)",
          formatted(row.bestMilliseconds, decimals: 3), formatted(row.medianMilliseconds, decimals: 3),
          formatted(row.throughput), formatted(row.medianThroughput), row.unit,
          row.percentOfPeak.map { formatted($0) } ?? "",
        ])
      }
      if format == .csv { return table.renderCSV() }
      let header = "CPU: \(cpu)\nmeasured peak: \(formatted(peakGFLOPSPerCore)) GFLOP/s per core (\(peakMeasuredWith) FMA loop); "
        + "threads \(threads); best/median of \(repeats) repeats\n\n"
      return header + table.render() + ratioSummary()
    }
  }

  /// "simd-x86-64-v3 0.97×" per (operation, shape), against OpenBLAS's row for the same
  /// operation; squared-L2 rows are compared with OpenBLAS's dot (cblas_sdot), the BLAS
  /// routine a user would otherwise call.
  func ratioSummary() -> String {
    var lines: [String] = []
    var keys: [String] = []
    for row in rows where !keys.contains(row.operation + " " + row.shape) { keys.append(row.operation + " " + row.shape) }
    for key in keys {
      let group = rows.filter { $0.operation + " " + $0.shape == key }
      guard let first = group.first else { continue }
      let anchorOperation = first.operation == "l2" ? "dot" : first.operation
      guard let anchor = rows.first(where: {
        $0.operation == anchorOperation && $0.shape == first.shape && $0.backend == "openblas" && !$0.dispatched
      }) else { continue }
      let ratios = group.filter { $0.operation != anchor.operation || $0.backend != anchor.backend || $0.dispatched }.map {
        "\($0.dispatched ? "dispatched(\($0.backend))" : $0.backend) \(formatted($0.throughput / anchor.throughput, decimals: 2))×"
      }
      let versus = anchor.operation == first.operation ? "openblas" : "openblas \(anchor.operation)"
      if !ratios.isEmpty { lines.append("  \(key): vs \(versus): " + ratios.joined(separator: ", ")) }
    }
    return lines.isEmpty ? "" : "\nratios (best vs best, higher is better):\n" + lines.joined(separator: "\n") + "\n"
  }
}

/// Measures candidates side by side and builds rows.
func benchRows(
  operation: String, shape: String, size: Int, work: Double, unit: String, flopBound: Bool,
  candidates: [(name: String, dispatched: Bool, run: () -> Void)],
  threads: Int, repeats: Int, peak: Double, clock: BenchClock = .wall
) -> [BenchRow] {
  let timings = timeSideBySide(
    candidates.map(\.run), repeats: repeats, clock: clock,
    settleAfter: candidates.map { threads > 1 && leavesSpinningThreads(backend: $0.name) },
    warmUpSeconds: threads > 1 ? 0.01 : 0)
  return zip(candidates, timings).map { candidate, timing in
    let best = work / timing.best / 1e9, median = work / timing.median / 1e9
    return BenchRow(
      operation: operation, shape: shape, size: size, backend: candidate.name, dispatched: candidate.dispatched,
      threads: threads, bestMilliseconds: timing.best * 1e3, medianMilliseconds: timing.median * 1e3,
      throughput: best, medianThroughput: median, unit: unit,
      percentOfPeak: flopBound && peak.isFinite ? 100 * best / (peak * Double(threads)) : nil)
  }
}

func finishReport(_ rows: [BenchRow], options: BenchOptions, engine: Engine, peak: (gflops: Double, variant: String), title: String) throws {
  let report = BenchReport(
    cpu: engine.cpu.model.isEmpty ? engine.cpu.vendor : engine.cpu.model,
    date: ISO8601DateFormatter().string(from: Date()), peakGFLOPSPerCore: peak.gflops,
    peakMeasuredWith: peak.variant, threads: engine.effectiveThreads, repeats: options.repeats, rows: rows)
  print(try report.render(options.output.format), terminator: "")
  if let svg = options.svg {
    let chart = SVGChart.lineChart(
      title: title, xLabel: "size", yLabel: rows.first?.unit ?? "",
      series: Dictionary(grouping: rows, by: { $0.dispatched ? "\($0.backend) (dispatched)" : $0.backend })
        .map { (name: $0.key, points: $0.value.map { (x: Double($0.size), y: $0.throughput) }) }
        .sorted { $0.name < $1.name },
      logX: true)
    do {
      try AtomicFile.write(Array(chart.utf8), to: svg)
    } catch {
      throw CommandFailure("\(error)")
    }
    StandardError.write("wrote \(svg)\n")
  }
}

func parseSizes(_ text: String, name: String) throws -> [Int] {
  let sizes = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 }) else {
    throw ValidationError("--\(name) must be a comma-separated list of positive integers, got '\(text)'")
  }
  return sizes.compactMap { $0 }
}

// MARK: - gemm

struct BenchGemm: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm", abstract: "C = A·B (or A·Bᵀ), square n×n (or --shape m,n,k), FLOP = 2·m·n·k.")

  @Option(help: "Comma-separated square sizes n.")
  var sizes: String = "64,256,512,1024,2048"

  @Option(help: "One rectangular problem as m,n,k (overrides --sizes).")
  var shape: String?

  @Flag(help: "Multiply by Bᵀ with B stored n×k (a linear layer's x·Wᵀ, PyTorch's weight layout).")
  var transposedB = false

  @OptionGroup var options: BenchOptions

  func validate() throws {
    for (m, n, k) in try problems() {
      try require(m, in: 1...(1 << 20), "each of --sizes")
      try requireElements([m, k], "gemm \(m)×\(n)×\(k) (A)")
      try requireElements([k, n], "gemm \(m)×\(n)×\(k) (B)")
      try requireElements([m, n], "gemm \(m)×\(n)×\(k) (C)")
    }
  }

  func problems() throws -> [(Int, Int, Int)] {
    if let shape {
      let parts = try parseSizes(shape, name: "shape")
      guard parts.count == 3 else { throw ValidationError("--shape must be m,n,k") }
      for part in parts { try require(part, in: 1...(1 << 20), "each of --shape m,n,k") }
      return [(parts[0], parts[1], parts[2])]
    }
    return try parseSizes(sizes, name: "sizes").map { ($0, $0, $0) }
  }

  func run() throws {
    let (engine, backends) = try options.resolve()
    let peak = measuredPeakGFLOPS(cpu: engine.cpu)
    let problems = try problems()
    let transposeB: Transpose = transposedB ? .transposed : .normal
    var generator = SeededGenerator(seed: options.seed)
    var rows: [BenchRow] = []
    let threads = engine.effectiveThreads
    for (m, n, k) in problems {
      let a = try Matrix(rows: m, columns: k, elements: randomFloats(m * k, using: &generator))
      let b = transposedB
        ? try Matrix(rows: n, columns: k, elements: randomFloats(k * n, using: &generator))
        : try Matrix(rows: k, columns: n, elements: randomFloats(k * n, using: &generator))
      let ldb = transposedB ? k : n
      let output = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
      output.initialize(repeating: 0, count: m * n)
      defer { output.deallocate() }
      var candidates: [(name: String, dispatched: Bool, run: () -> Void)] = []
      for backend in backends {
        candidates.append((backend.name, false, {
          a.elements.withUnsafeBufferPointer { ab in
            b.elements.withUnsafeBufferPointer { bb in
              backend.gemm(.normal, transposeB, rows: m, columns: n, depth: k, alpha: 1, ab.baseAddress!, lda: k,
                           bb.baseAddress!, ldb: ldb, beta: 0, output, ldc: n, threads: threads)
            }
          }
        }))
      }
      // m = 1 and n = 1 run on the dispatched gemv (Bᵀ·x for m = 1, A·x for n = 1).
      let dispatchedName = m == 1 ? engine.backend(for: transposedB ? .gemv : .gemvTransposed, .gemv(rows: k, columns: n)).name
        : n == 1 ? engine.backend(for: .gemv, .gemv(rows: m, columns: k)).name
        : engine.backend(for: .gemm, .gemm(rows: m, columns: n, depth: k)).name
      candidates.append((dispatchedName, true, {
        a.elements.withUnsafeBufferPointer { ab in
          b.elements.withUnsafeBufferPointer { bb in
            _ = try? engine.gemm(transposeB: transposeB, a: ab, a.layout, b: bb, b.layout,
                                 c: UnsafeMutableBufferPointer(start: output, count: m * n), MatrixLayout(rows: m, columns: n))
          }
        }
      }))
      rows += benchRows(
        operation: transposedB ? "gemm-bt" : "gemm", shape: m == n && n == k ? "n=\(n)" : "\(m)×\(n)×\(k)", size: n,
        work: 2 * Double(m) * Double(n) * Double(k), unit: "GFLOP/s", flopBound: true,
        candidates: candidates, threads: threads, repeats: options.repeats, peak: peak.gflops, clock: options.benchClock)
    }
    try finishReport(rows, options: options, engine: engine, peak: peak, title: transposedB ? "SGEMM A·Bᵀ, \(threads) thread(s)" : "SGEMM, \(threads) thread(s)")
  }
}

// MARK: - gemv

struct BenchGemv: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemv", abstract: "y = A·x (or Aᵀ·x), square n×n; reported as GB/s of A read.")

  @Option(help: "Comma-separated square sizes n.")
  var sizes: String = "256,1024,4096"

  func validate() throws {
    for n in try parseSizes(sizes, name: "sizes") { try require(n, in: 1...(1 << 14), "each of --sizes", why: "an n×n matrix of n ≤ 16384 is 1 GiB") }
  }

  @Flag(help: "Use Aᵀ·x.")
  var transposed = false

  @OptionGroup var options: BenchOptions

  func run() throws {
    let (engine, backends) = try options.resolve()
    let peak = measuredPeakGFLOPS(cpu: engine.cpu)
    var generator = SeededGenerator(seed: options.seed)
    var rows: [BenchRow] = []
    let threads = engine.effectiveThreads
    let transpose: Transpose = transposed ? .transposed : .normal
    for n in try parseSizes(sizes, name: "sizes") {
      let a = randomFloats(n * n, using: &generator), x = randomFloats(n, using: &generator)
      let y = UnsafeMutablePointer<Float>.allocate(capacity: n)
      y.initialize(repeating: 0, count: n)
      defer { y.deallocate() }
      var candidates: [(name: String, dispatched: Bool, run: () -> Void)] = backends.map { backend in
        (backend.name, false, {
          a.withUnsafeBufferPointer { ab in
            x.withUnsafeBufferPointer { xb in
              backend.gemv(transpose, rows: n, columns: n, alpha: 1, ab.baseAddress!, lda: n, xb.baseAddress!, beta: 0, y, threads: threads)
            }
          }
        })
      }
      candidates.append((engine.backend(for: transposed ? .gemvTransposed : .gemv, .gemv(rows: n, columns: n)).name, true, {
        a.withUnsafeBufferPointer { ab in
          x.withUnsafeBufferPointer { xb in
            try? engine.gemv(transpose: transpose, a: ab, MatrixLayout(rows: n, columns: n), x: xb, y: UnsafeMutableBufferPointer(start: y, count: n))
          }
        }
      }))
      rows += benchRows(
        operation: transposed ? "gemv-T" : "gemv", shape: "n=\(n)", size: n, work: Double(n * n * 4), unit: "GB/s",
        flopBound: false, candidates: candidates, threads: threads, repeats: options.repeats, peak: peak.gflops, clock: options.benchClock)
    }
    try finishReport(rows, options: options, engine: engine, peak: peak, title: "SGEMV (GB/s of A)")
  }
}

// MARK: - dot

struct BenchDot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dot",
    abstract: "Dot product and squared L2 distance of two vectors, in element pairs per second (G pairs/s).",
    discussion: """
      Where a vector starts relative to a 64-byte cache line changes what an AVX-512 kernel \
      costs (a 512-bit load across two lines takes two load slots). By default the vectors go \
      wherever the allocator puts them; --offsets X,Y starts them X and Y floats past a line.
      """)

  @Option(help: "Comma-separated vector lengths.")
  var sizes: String = "256,4096,65536"

  @Option(help: "Start the two vectors X,Y floats past a 64-byte cache line (0–15 each, e.g. 4,12). Default: wherever the allocator puts them.")
  var offsets: String?

  func validate() throws {
    for n in try parseSizes(sizes, name: "sizes") { try require(n, in: 1...Limits.benchElements, "each of --sizes") }
    _ = try placement()
    if let threads = options.threads, threads != 1 {
      throw ValidationError("--threads \(threads): dot and l2 run on one thread (a 4096-float dot takes ~0.2 µs); remove it")
    }
  }

  /// The two offsets of --offsets, or nil.
  func placement() throws -> (x: Int, y: Int)? {
    guard let offsets else { return nil }
    let parts = offsets.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let x = parts[0], let y = parts[1], (0...15).contains(x), (0...15).contains(y) else {
      throw ValidationError("--offsets: expected two floats-past-a-line offsets X,Y in 0…15, got '\(offsets)'")
    }
    return (x, y)
  }

  @OptionGroup var options: BenchOptions

  func run() throws {
    let (engine, backends) = try options.resolve()
    let peak = measuredPeakGFLOPS(cpu: engine.cpu)
    let placement = try placement()
    var generator = SeededGenerator(seed: options.seed)
    var rows: [BenchRow] = []
    var sink: Float = 0
    for n in try parseSizes(sizes, name: "sizes") {
      let xVector = BenchVector(randomFloats(n, using: &generator), floatsPastLine: placement?.x)
      let yVector = BenchVector(randomFloats(n, using: &generator), floatsPastLine: placement?.y)
      let x = xVector.buffer, y = yVector.buffer
      let shape = placement.map { "n=\(n) @\($0.x),\($0.y)" } ?? "n=\(n)"
      var candidates: [(name: String, dispatched: Bool, run: () -> Void)] = backends.map { backend in
        (backend.name, false, { sink += backend.dot(count: n, x.baseAddress!, y.baseAddress!) })
      }
      candidates.append((engine.backend(for: .dot, .vector(count: n)).name, true, {
        sink += (try? engine.dot(x, y)) ?? 0
      }))
      rows += benchRows(
        operation: "dot", shape: shape, size: n, work: Double(n), unit: "G pairs/s", flopBound: false,
        candidates: candidates, threads: 1, repeats: options.repeats, peak: peak.gflops, clock: options.benchClock)
      // Squared L2 of one pair (OpenBLAS has no such routine: it is compared with sdot).
      var l2: [(name: String, dispatched: Bool, run: () -> Void)] = backends.filter { $0.name != "openblas" }.map { backend in
        (backend.name, false, { sink += backend.squaredDistance(count: n, x.baseAddress!, y.baseAddress!) })
      }
      l2.append((engine.backend(for: .squaredDistance, .vector(count: n)).name, true, {
        sink += (try? engine.squaredDistance(x, y)) ?? 0
      }))
      rows += benchRows(
        operation: "l2", shape: shape, size: n, work: Double(n), unit: "G pairs/s", flopBound: false,
        candidates: l2, threads: 1, repeats: options.repeats, peak: peak.gflops, clock: options.benchClock)
      withExtendedLifetime((xVector, yVector)) {}
    }
    if sink == .infinity { StandardError.write("") }
    try finishReport(rows, options: options, engine: engine, peak: peak, title: "dot / squared L2")
  }
}

/// A benchmark operand: `values` copied to memory that starts `floatsPastLine` floats past a
/// 64-byte line, or (nil) wherever the allocator puts an array of that size.
final class BenchVector {
  private let raw: UnsafeMutableRawPointer
  /// The values.
  let buffer: UnsafeBufferPointer<Float>

  init(_ values: [Float], floatsPastLine: Int?) {
    let shift = floatsPastLine ?? 0
    raw = floatsPastLine == nil
      ? UnsafeMutableRawPointer(UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1)))
      : .allocate(byteCount: (values.count + shift) * 4, alignment: 64)
    let start = raw.bindMemory(to: Float.self, capacity: values.count + shift) + shift
    start.initialize(from: values, count: values.count)
    buffer = UnsafeBufferPointer(start: start, count: values.count)
  }

  deinit { raw.deallocate() }
}

// MARK: - distances

struct BenchDistances: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "distances", abstract: "Queries × base distance matrix (FLOP = 2·q·b·d).")

  @Option(help: "Number of queries.")
  var queries: Int = 1000

  @Option(help: "Number of base vectors.")
  var base: Int = 100_000

  @Option(help: "Vector dimension.")
  var dimension: Int = 128

  @Option(help: "Metric: l2, ip or cosine.")
  var metric: String = "l2"

  @OptionGroup var options: BenchOptions

  func validate() throws {
    guard queries >= 1, base >= 1, dimension >= 1 else { throw ValidationError("--queries, --base and --dimension must be ≥ 1") }
    try requireElements([queries, base], "the --queries × --base distance matrix")
    try requireElements([queries + base, dimension], "the vectors (--queries + --base) × --dimension")
    guard Metric(rawValue: metric) != nil else { throw ValidationError("--metric must be l2, ip or cosine") }
  }

  func run() throws {
    let (engine, backends) = try options.resolve()
    let metricValue = Metric(rawValue: metric) ?? .squaredL2
    let peak = measuredPeakGFLOPS(cpu: engine.cpu)
    var generator = SeededGenerator(seed: options.seed)
    let q = randomFloats(queries * dimension, using: &generator)
    let x = randomFloats(base * dimension, using: &generator)
    let out = UnsafeMutablePointer<Float>.allocate(capacity: queries * base)
    out.initialize(repeating: 0, count: queries * base)
    defer { out.deallocate() }
    let threads = engine.effectiveThreads
    let (queries, base, dimension) = (self.queries, self.base, self.dimension)
    var candidates: [(name: String, dispatched: Bool, run: () -> Void)] = backends.map { backend in
      (backend.name, false, {
        q.withUnsafeBufferPointer { qb in
          x.withUnsafeBufferPointer { xb in
            backend.distances(metricValue, queryCount: queries, baseCount: base, dimension: dimension,
                              queries: qb.baseAddress!, ldq: dimension, base: xb.baseAddress!, ldb: dimension,
                              queryNorms: nil, baseNorms: nil, out, ldo: base, threads: threads)
          }
        }
      })
    }
    let shapeClass = ShapeClass.distances(queries: queries, base: base, dimension: dimension)
    candidates.append((engine.backend(for: .distances, shapeClass).name, true, {
      q.withUnsafeBufferPointer { qb in
        x.withUnsafeBufferPointer { xb in
          try? engine.distances(metricValue, queries: qb, MatrixLayout(rows: queries, columns: dimension),
                                base: xb, MatrixLayout(rows: base, columns: dimension),
                                out: UnsafeMutableBufferPointer(start: out, count: queries * base),
                                MatrixLayout(rows: queries, columns: base))
        }
      }
    }))
    let rows = benchRows(
      operation: "distances-\(metricValue.rawValue)", shape: "\(queries)×\(base)×\(dimension)", size: base,
      work: 2 * Double(queries) * Double(base) * Double(dimension), unit: "GFLOP/s", flopBound: true,
      candidates: candidates, threads: threads, repeats: options.repeats, peak: peak.gflops, clock: options.benchClock)
    try finishReport(rows, options: options, engine: engine, peak: peak, title: "distance matrix")
  }
}
