import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadQuant
import Foundation

/// `arrowhead bench qgemm`: y = x·Ŵᵀ on quantized weights, every backend and quantized-matmul
/// path side by side with the Float32 product of the same shape (SGEMM, or SGEMV for M = 1).
struct BenchQGemm: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "qgemm",
    abstract: "Quantized matmul y = x·Ŵᵀ (M×K activations, N×K weights) vs Float32 SGEMM of the same shape.",
    discussion: """
      Weights are quantized with min-max parameters (random Float32 weights, or --weights FILE \
      --tensor NAME), repacked once (the repack time and size are reported), and multiplied by \
      random activations in [-1, 1) (or --activations X.npy, M × K). Every repeat runs each \
      candidate once in turn. Rows: each backend that implements the kernel, each other \
      quantized-matmul path the CPU can run (e.g. simd-x86-64-v3+avx2 where AVX-VNNI exists), \
      the dispatched engine call, and the Float32 product per backend. For M = 1 the weight \
      bytes read per second are reported (packed codes + scales + offsets; Float32: 4·N·K). \
      The error column is the relative Frobenius error ‖y − x·Wᵀ‖/‖x·Wᵀ‖ against the Float32 \
      product of the unquantized weights; 'dequantize+sgemm' is the same for x·Ŵᵀ with Ŵ \
      materialised in Float32.
      """)

  @Option(help: "Code bits: 2, 3, 4 or 8.")
  var bits: Int = 4

  @Option(help: "Group size along K (ignored with --per-channel).")
  var group: Int = 64

  @Flag(help: "One scale per row of Ŵ instead of per group.")
  var perChannel = false

  @Flag(help: "Integer zero-points (x̂ = (q − z)·s) instead of float minima (x̂ = q·s + m).")
  var zeroPoint = false

  @Option(help: "weight-only, int8, int16, both (weight-only and int8) or all.")
  var mode: String = "both"

  @Option(help: "A product M,N,K (repeat the option for several). Default: 1,4096,4096 and 128,1536,384.")
  var shape: [String] = []

  @Option(help: "Comma-separated square sizes n (M = N = K = n), instead of --shape.")
  var sizes: String?

  @Option(help: "A safetensors file holding the weights (with --tensor).")
  var weights: String?

  @Option(help: "The tensor of --weights to quantize (N × K).")
  var tensor: String?

  @Option(help: "Activations as a .npy file of M × K float32 (with --weights, or alone with random weights).")
  var activations: String?

  @Flag(help: """
    With --threads N > 1: also time the dispatched quantized products and each Float32 product \
    on 1 thread, interleaved sample by sample with the N-thread ones, and report the speed-up \
    (same process, same protocol, so that the host's noise hits both alike).
    """)
  var scaling = false

  @OptionGroup var options: BenchOptions

  func validate() throws {
    guard QuantizationScheme.supportedBits.contains(bits) else { throw ValidationError("--bits must be 2, 3, 4 or 8") }
    if !perChannel, !QuantizationScheme.supportedGroupSizes.contains(group) {
      throw ValidationError("--group must be in \(QuantizationScheme.supportedGroupSizes)")
    }
    guard ["weight-only", "int8", "int16", "both", "all"].contains(mode) else {
      throw ValidationError("--mode must be weight-only, int8, int16, both or all")
    }
    if scaling && options.threads == 1 {
      throw ValidationError("--scaling compares N threads with 1: give --threads N > 1 (or leave --threads out for all cores)")
    }
    if (weights == nil) != (tensor == nil) { throw ValidationError("--weights and --tensor go together") }
    if weights != nil, !shape.isEmpty || sizes != nil { throw ValidationError("--weights sets the shape: drop --shape/--sizes") }
    if !shape.isEmpty, sizes != nil { throw ValidationError("--shape and --sizes are exclusive") }
    for text in shape {
      let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw ValidationError("--shape must be M,N,K with positive integers, got '\(text)'")
      }
    }
  }

  var modes: [QuantizedMatmulMode] {
    switch mode {
    case "weight-only": [.weightOnly]
    case "int8": [.int8]
    case "int16": [.int16]
    case "both": [.weightOnly, .int8]
    default: QuantizedMatmulMode.allCases
    }
  }

  func run() throws {
    let (engine, backends) = try options.resolve()
    let scheme: QuantizationScheme
    do {
      scheme = try QuantizationScheme(
        bits: bits, granularity: perChannel ? .perChannel : .perGroup(group), mode: zeroPoint ? .zeroPoint : .floatMinimum)
    } catch {
      throw CommandFailure("\(error)")
    }
    var generator = SeededGenerator(seed: options.seed)
    var problems: [QGemmProblem] = []
    if let weights, let tensor {
      let file: SafetensorsFile
      let info: SafetensorsTensorInfo
      let values: [Float]
      do {
        file = try SafetensorsFile(path: weights)
        if file.metadata[QuantizedModelFormat.formatKey] == "quantized" {
          // Its tensors are stored as codes and parameters: "no such tensor" would mislead.
          throw CommandFailure(
            "'\(weights)' is an Arrowhead quantized file: --weights takes the Float32 original (bench qgemm quantizes it with --bits and --group)")
        }
        info = try file.requireInfo(tensor)
        values = try file.floats(tensor)
      } catch {
        throw CommandFailure("\(error)")
      }
      guard info.shape.count == 2 else { throw CommandFailure("tensor '\(tensor)' has shape \(info.shape); a matrix (N × K) is needed") }
      let (n, k) = (info.shape[0], info.shape[1])
      let x = try loadActivations(columns: k, generator: &generator, defaultRows: 1)
      problems.append(QGemmProblem(m: x.count / k, n: n, k: k, weights: values, x: x, source: "\(tensor) of \(weights)"))
    } else {
      var shapes: [(Int, Int, Int)] = []
      if let sizes {
        shapes = try parseSizes(sizes, name: "sizes").map { ($0, $0, $0) }
      } else if shape.isEmpty {
        shapes = [(1, 4096, 4096), (128, 1536, 384)]
      } else {
        shapes = shape.map { text in
          let parts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
          return (parts[0], parts[1], parts[2])
        }
      }
      for (m, n, k) in shapes {
        let w = generator.floats(n * k)
        let x = activations != nil ? try loadActivations(columns: k, generator: &generator, defaultRows: m) : generator.floats(m * k)
        problems.append(QGemmProblem(m: x.count / k, n: n, k: k, weights: w, x: x, source: "random"))
      }
    }
    var rows: [QGemmRow] = []
    var summaries: [QGemmProblemSummary] = []
    for problem in problems {
      let (problemRows, summary) = try measure(problem, scheme: scheme, engine: engine, backends: backends)
      rows += problemRows
      summaries.append(summary)
    }
    let report = QGemmReport(
      cpu: engine.cpu.model.isEmpty ? engine.cpu.vendor : engine.cpu.model,
      date: ISO8601DateFormatter().string(from: Date()), scheme: scheme.description, threads: engine.effectiveThreads,
      repeats: options.repeats, clock: options.benchClock.rawValue, loadAverage: currentLoadAverageText(),
      problems: summaries, rows: rows, scaling: QGemmScaling.pairs(in: rows))
    print(try report.render(options.output.format), terminator: "")
  }

  /// x from --activations (its rows; K must match) or random.
  func loadActivations(columns k: Int, generator: inout SeededGenerator, defaultRows: Int) throws -> [Float] {
    guard let activations else { return generator.floats(defaultRows * k) }
    do {
      let matrix = try NPYFile.readFloat32(activations)
      guard matrix.columns == k else {
        throw CommandFailure("\(activations) has \(matrix.columns) columns; the weights have K = \(k)")
      }
      // Non-finite activations propagate through the products (documented), which would
      // make every error column NaN: a benchmark of them measures nothing.
      if let position = matrix.elements.firstIndex(where: { !$0.isFinite }) {
        throw CommandFailure(
          "'\(activations)' row \(position / k), column \(position % k) holds \(matrix.elements[position]): the benchmark needs finite activations")
      }
      return matrix.elements
    } catch let failure as CommandFailure {
      throw failure
    } catch {
      throw CommandFailure("\(error)")
    }
  }

  /// Times every candidate on one problem, side by side.
  func measure(
    _ problem: QGemmProblem, scheme: QuantizationScheme, engine: Engine, backends: [any Backend]
  ) throws -> ([QGemmRow], QGemmProblemSummary) {
    let (m, n, k) = (problem.m, problem.n, problem.k)
    let quantized: QuantizedTensor
    let matrix: QuantizedMatrix
    let packStart = monotonicSeconds()
    do {
      quantized = try Quantizer(scheme: scheme, engine: engine).quantize(problem.weights, shape: [n, k], name: "weights")
    } catch {
      throw CommandFailure("\(error)")
    }
    let quantizeSeconds = monotonicSeconds() - packStart
    let repackStart = monotonicSeconds()
    do {
      matrix = try QuantizedMatrix(quantized, name: "weights", engine: engine)
    } catch {
      throw CommandFailure("\(error)")
    }
    let repackSeconds = monotonicSeconds() - repackStart
    let dequantized = quantized.dequantized(engine: engine)
    let shapeText = "\(m)×\(n)×\(k)"
    let flops = 2 * Double(m) * Double(n) * Double(k)
    let threads = engine.effectiveThreads
    // The thread counts each scaled candidate runs at (1 thread first, then the engine's).
    let threadCounts = scaling && threads > 1 ? [1, threads] : [threads]
    let y = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    y.initialize(repeating: 0, count: m * n)
    defer { y.deallocate() }
    let output = UncheckedSendableBox(y)

    // The exact Float32 product of the unquantized weights (the error reference), and of Ŵ.
    let x = try Matrix(rows: m, columns: k, elements: problem.x)
    let w = try Matrix(rows: n, columns: k, elements: problem.weights)
    let wHat = try Matrix(rows: n, columns: k, elements: dequantized)
    let exact = try engine.multiply(x, w, transposeB: .transposed).elements
    let dequantizedError = relativeError(try engine.multiply(x, wHat, transposeB: .transposed).elements, exact)

    struct Candidate {
      var operation: String, backend: String, dispatched: Bool, weightBytes: Int, threads: Int, run: () -> Void
      var error: () -> Double?
    }
    var candidates: [Candidate] = []
    func currentOutput() -> [Float] { Array(UnsafeBufferPointer(start: output.value, count: m * n)) }
    for mode in modes {
      var quantizedBackends: [any Backend] = backends.filter { $0.implements(mode.operation) }
      // Each path this CPU runs that no selected variant takes by itself (e.g. AVX2 where
      // AVX-VNNI exists), once, on the lowest variant allowed to run it.
      let selected = compiledSIMDVariants.filter { variant in backends.contains { $0.name == variant.name } }
      for path in QuantizedMatmulPath.allCases where !selected.contains(where: { $0.quantizedMatmulPath == path }) {
        if let forced = selected.lazy.compactMap({ $0.withQuantizedMatmulPath(path) }).first { quantizedBackends.append(forced) }
      }
      // One call of `backend`'s kernel for this mode on `callThreads` threads.
      func kernelCall(_ backend: any Backend, threads callThreads: Int) -> () -> Void {
        {
          problem.x.withUnsafeBufferPointer { xb in
            matrix.withOperand { operand in
              switch mode {
              case .weightOnly:
                backend.quantizedMatmulWeightOnly(
                  rows: m, xb.baseAddress!, ldx: k, operand, bias: nil, output.value, ldy: n, threads: callThreads)
              case .int8:
                backend.quantizedMatmulInt8(
                  rows: m, xb.baseAddress!, ldx: k, operand, bias: nil, output.value, ldy: n, threads: callThreads)
              case .int16:
                backend.quantizedMatmulInt16(
                  rows: m, xb.baseAddress!, ldx: k, operand, bias: nil, output.value, ldy: n, threads: callThreads)
              }
            }
          }
        }
      }
      for backend in quantizedBackends {
        candidates.append(Candidate(
          operation: "qgemm \(mode)", backend: backend.name, dispatched: false, weightBytes: matrix.layout.byteCount,
          threads: threads, run: kernelCall(backend, threads: threads), error: { relativeError(currentOutput(), exact) }))
      }
      // The dispatched backend on 1 thread, timed beside the N-thread call (--scaling).
      let dispatchedBackend = engine.backend(for: mode.operation, .quantizedMatmul(rows: m))
      if threadCounts.count > 1 {
        candidates.append(Candidate(
          operation: "qgemm \(mode)", backend: dispatchedBackend.name, dispatched: true, weightBytes: matrix.layout.byteCount,
          threads: 1, run: kernelCall(dispatchedBackend, threads: 1), error: { relativeError(currentOutput(), exact) }))
      }
      candidates.append(Candidate(
        operation: "qgemm \(mode)", backend: dispatchedBackend.name, dispatched: true,
        weightBytes: matrix.layout.byteCount, threads: threads,
        run: {
          problem.x.withUnsafeBufferPointer { xb in
            try? engine.quantizedMatmul(
              xb, MatrixLayout(rows: m, columns: k), weights: matrix, mode: mode,
              into: UnsafeMutableBufferPointer(start: output.value, count: m * n), MatrixLayout(rows: m, columns: n))
          }
        }, error: { relativeError(currentOutput(), exact) }))
    }
    // The Float32 product: SGEMM x·Wᵀ (SGEMV W·x for M = 1) on each backend, and dispatched.
    let floatOperation = m == 1 ? "sgemv" : "sgemm"
    for backend in backends {
      for floatThreads in threadCounts {
        candidates.append(Candidate(
          operation: floatOperation, backend: backend.name, dispatched: false, weightBytes: 4 * n * k, threads: floatThreads,
          run: {
            problem.x.withUnsafeBufferPointer { xb in
              problem.weights.withUnsafeBufferPointer { wb in
                if m == 1 {
                  backend.gemv(
                    .normal, rows: n, columns: k, alpha: 1, wb.baseAddress!, lda: k, xb.baseAddress!, beta: 0, output.value,
                    threads: floatThreads)
                } else {
                  backend.gemm(.normal, .transposed, rows: m, columns: n, depth: k, alpha: 1, xb.baseAddress!, lda: k,
                               wb.baseAddress!, ldb: k, beta: 0, output.value, ldc: n, threads: floatThreads)
                }
              }
            }
          }, error: { nil }))
      }
    }
    candidates.append(Candidate(
      operation: floatOperation, backend: engine.backend(for: m == 1 ? .gemv : .gemm, m == 1 ? .gemv(rows: n, columns: k) : .gemm(rows: m, columns: n, depth: k)).name,
      dispatched: true, weightBytes: 4 * n * k, threads: threads,
      run: {
        problem.x.withUnsafeBufferPointer { xb in
          problem.weights.withUnsafeBufferPointer { wb in
            try? engine.gemm(transposeB: .transposed, a: xb, MatrixLayout(rows: m, columns: k), b: wb, MatrixLayout(rows: n, columns: k),
                             c: UnsafeMutableBufferPointer(start: output.value, count: m * n), MatrixLayout(rows: m, columns: n))
          }
        }
      }, error: { nil }))

    // Errors first (one run each), then the timings.
    var errors: [Double?] = []
    for candidate in candidates {
      candidate.run()
      errors.append(candidate.error())
    }
    let timings = timeSideBySide(
      candidates.map(\.run), repeats: options.repeats, clock: options.benchClock,
      settleAfter: candidates.map { threads > 1 && leavesSpinningThreads(backend: $0.backend) },
      warmUpSeconds: threads > 1 ? 0.01 : 0)
    // "vs best f32" compares with the best Float32 product at the same thread count.
    func bestFloat(threads: Int) -> Double {
      zip(candidates, timings).filter { $0.0.operation == floatOperation && $0.0.threads == threads }.map(\.1.best).min() ?? .nan
    }
    let rows = zip(zip(candidates, timings), errors).map { pair, error in
      let (candidate, timing) = pair
      let bestFloat = bestFloat(threads: candidate.threads)
      return QGemmRow(
        operation: candidate.operation, shape: shapeText, m: m, n: n, k: k, backend: candidate.backend,
        dispatched: candidate.dispatched, threads: candidate.threads, bestMilliseconds: timing.best * 1e3,
        medianMilliseconds: timing.median * 1e3, gflops: flops / timing.best / 1e9, medianGflops: flops / timing.median / 1e9,
        weightGBPerSecond: m == 1 ? Double(candidate.weightBytes) / timing.best / 1e9 : nil,
        versusBestFloat32: bestFloat / timing.best, relativeError: error)
    }
    let summary = QGemmProblemSummary(
      shape: shapeText, source: problem.source, quantizeMilliseconds: quantizeSeconds * 1e3, repackMilliseconds: repackSeconds * 1e3,
      packedBytes: matrix.layout.byteCount, packedBitsPerWeight: 8 * Double(matrix.layout.byteCount) / Double(max(1, n * k)),
      fileBitsPerWeight: quantized.bitsPerWeight, dequantizeSgemmError: dequantizedError)
    return (rows, summary)
  }
}

/// One benchmark problem.
struct QGemmProblem {
  var m: Int, n: Int, k: Int
  var weights: [Float]
  var x: [Float]
  var source: String
}

/// ‖a − b‖ / ‖b‖ in Double.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
  var difference = 0.0, norm = 0.0
  for (u, v) in zip(a, b) {
    difference += (Double(u) - Double(v)) * (Double(u) - Double(v))
    norm += Double(v) * Double(v)
  }
  return norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
}

/// The 1-, 5- and 15-minute load averages ("?" where unknown).
func currentLoadAverageText() -> String {
  guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
  return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// One row of `bench qgemm`.
struct QGemmRow: Codable, Sendable {
  var operation: String
  var shape: String
  var m: Int, n: Int, k: Int
  var backend: String
  var dispatched: Bool
  var threads: Int
  var bestMilliseconds: Double
  var medianMilliseconds: Double
  /// 2·M·N·K / best time.
  var gflops: Double
  var medianGflops: Double
  /// Weight bytes read per second at the best time (M = 1 only).
  var weightGBPerSecond: Double?
  /// Best Float32 time of the same shape ÷ this row's best time.
  var versusBestFloat32: Double
  /// ‖y − x·Wᵀ‖/‖x·Wᵀ‖ (quantized rows).
  var relativeError: Double?
}

/// What one problem's weights cost and how accurate they are.
struct QGemmProblemSummary: Codable, Sendable {
  var shape: String
  var source: String
  var quantizeMilliseconds: Double
  /// `QuantizedMatrix(tensor)`: unpack + repack.
  var repackMilliseconds: Double
  var packedBytes: Int
  var packedBitsPerWeight: Double
  var fileBitsPerWeight: Double
  /// ‖x·Ŵᵀ − x·Wᵀ‖/‖x·Wᵀ‖ with Ŵ materialised in Float32 (SGEMM).
  var dequantizeSgemmError: Double

  var text: String {
    "\(shape) (\(source)): quantized in \(formatted(quantizeMilliseconds)) ms, repacked in \(formatted(repackMilliseconds)) ms "
      + "into \(formattedBytes(packedBytes)) (\(formatted(packedBitsPerWeight, decimals: 2)) bits/weight; in the file "
      + "\(formatted(fileBitsPerWeight, decimals: 2))); dequantize+sgemm error \(formatted(dequantizeSgemmError, decimals: 5))"
  }
}

/// The report of `bench qgemm`.
struct QGemmReport: Codable, Sendable {
  var cpu: String
  var date: String
  var scheme: String
  var threads: Int
  var repeats: Int
  var clock: String
  var loadAverage: String
  var problems: [QGemmProblemSummary]
  var rows: [QGemmRow]
  /// N threads over 1, where --scaling timed both (empty otherwise).
  var scaling: [QGemmScaling] = []

  func render(_ format: OutputFormat) throws -> String {
    if format == .json { return try jsonString(self) }
    var table = TextTable(["operation", "shape", "backend", "threads", "best ms", "median ms", "GFLOP/s", "weights GB/s", "vs best f32", "rel. error"])
    for row in rows {
      table.append([
        row.operation, row.shape, row.dispatched ? "\(row.backend) (dispatched)" : row.backend, "\(row.threads)",
        formatted(row.bestMilliseconds, decimals: 3), formatted(row.medianMilliseconds, decimals: 3), formatted(row.gflops),
        row.weightGBPerSecond.map { formatted($0) } ?? "", formatted(row.versusBestFloat32, decimals: 2) + "×",
        row.relativeError.map { formatted($0, decimals: 5) } ?? "",
      ])
    }
    if format == .csv { return table.renderCSV() }
    var text = "CPU: \(cpu)\nweights: \(scheme); threads \(threads); best/median of \(repeats) repeats (\(clock) clock); load average \(loadAverage)\n"
      + problems.map { "  " + $0.text + "\n" }.joined() + "\n" + table.render()
    if !scaling.isEmpty {
      var speedups = TextTable(["operation", "shape", "backend", "threads", "speed-up (best)", "speed-up (median)"])
      for pair in scaling {
        speedups.append([
          pair.operation, pair.shape, pair.dispatched ? "\(pair.backend) (dispatched)" : pair.backend, "\(pair.threads) / 1",
          formatted(pair.bestSpeedup, decimals: 2) + "×", formatted(pair.medianSpeedup, decimals: 2) + "×",
        ])
      }
      text += "\nN threads over 1 thread, timed interleaved in this run (--scaling):\n" + speedups.render()
    }
    return text
  }
}

/// The speed-up of one candidate from 1 thread to N, both timed in the same run.
struct QGemmScaling: Codable, Sendable {
  var operation: String
  var shape: String
  var backend: String
  var dispatched: Bool
  /// N.
  var threads: Int
  /// Best 1-thread time ÷ best N-thread time.
  var bestSpeedup: Double
  /// Median 1-thread time ÷ median N-thread time.
  var medianSpeedup: Double

  /// Every (operation, shape, backend) that has a 1-thread row and an N-thread row.
  static func pairs(in rows: [QGemmRow]) -> [QGemmScaling] {
    rows.filter { $0.threads > 1 }.compactMap { wide in
      guard let single = rows.first(where: {
        $0.threads == 1 && $0.operation == wide.operation && $0.shape == wide.shape && $0.backend == wide.backend
          && $0.dispatched == wide.dispatched
      }) else { return nil }
      return QGemmScaling(
        operation: wide.operation, shape: wide.shape, backend: wide.backend, dispatched: wide.dispatched, threads: wide.threads,
        bestSpeedup: single.bestMilliseconds / wide.bestMilliseconds,
        medianSpeedup: single.medianMilliseconds / wide.medianMilliseconds)
    }
  }
}
