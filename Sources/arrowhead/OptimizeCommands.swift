import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import Foundation

/// `arrowhead optimize`: measure the quantization-parameter optimizers (weights: `eval`;
/// GPTQ with calibration inputs: `gptq`; time-aware activation parameters: `thermo`).
struct Optimize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure the quantization-parameter optimizers (minmax, grid, hqq, thermo, gptq) on real or generated data.",
    discussion: """
      arrowhead optimize eval MODEL [--bits 8 4 2] [--optimizers minmax grid hqq]
        [--repeat 3]
      arrowhead optimize gptq MODEL [--inputs embeddings.word_embeddings.weight]
        [--layers PATTERN …]
      arrowhead optimize thermo [--groups 10] [--samples 1000000]
      See Sources/ArrowheadOptimize/README.md for the maths and the measured figures.
      """,
    subcommands: [OptimizeEval.self, OptimizeGPTQ.self, OptimizeThermo.self]
  )
}

/// Reference figures on all-MiniLM-L6-v2 (shared/DATA.md): 37 linear matrices, G = 64,
/// size-weighted relative error; and the issue's goals for `grid`.
enum MiniLMReference {
  /// (optimizer, mode, bits) → (figure, source).
  static func figure(optimizer: String, mode: QuantizationMode, bits: Int) -> (Double, String)? {
    switch (optimizer, mode, bits) {
    case ("minmax", .floatMinimum, 8): (0.00559, "numpy min-max")
    case ("minmax", .floatMinimum, 4): (0.09472, "numpy min-max")
    case ("minmax", .floatMinimum, 2): (0.47413, "numpy min-max")
    case ("minmax", .zeroPoint, 8): (0.00568, "numpy min-max")
    case ("minmax", .zeroPoint, 4): (0.09585, "numpy min-max")
    case ("minmax", .zeroPoint, 2): (0.47301, "numpy min-max")
    case ("hqq", .floatMinimum, 8): (0.00537, "HQQ (CPU)")
    case ("hqq", .floatMinimum, 4): (0.09056, "HQQ (CPU)")
    case ("hqq", .floatMinimum, 2): (0.45068, "HQQ (CPU)")
    case ("grid", .floatMinimum, 8): (0.00532, "goal")
    case ("grid", .floatMinimum, 4): (0.0855, "goal")
    case ("grid", .floatMinimum, 2): (0.340, "goal")
    default: nil
    }
  }
}

/// Parses `NAME:KEY=VALUE` items into per-optimizer settings.
func optimizerSettings(_ items: [String]) throws -> [String: [String: String]] {
  var result: [String: [String: String]] = [:]
  for item in items {
    let parts = item.split(separator: ":", maxSplits: 1)
    let pair = parts.count == 2 ? parts[1].split(separator: "=", maxSplits: 1) : []
    guard parts.count == 2, pair.count == 2 else {
      throw ValidationError("--set expects OPTIMIZER:KEY=VALUE (e.g. grid:steps=7), got '\(item)'")
    }
    result[String(parts[0]), default: [:]][String(pair[0])] = String(pair[1])
  }
  return result
}

/// `arrowhead optimize eval MODEL`: every optimizer × bit width over the model's linear
/// matrices, error and time side by side.
struct OptimizeEval: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Size-weighted relative error and time of each weight optimizer on a model's 2-D matrices (all-MiniLM-L6-v2: the issue's table).",
    discussion: """
      Matrices: every 2-D float tensor whose name does not contain 'embeddings' (the 37 encoder and pooler \
      matrices of all-MiniLM-L6-v2). Metric: sqrt(Σ n_k e_k² / Σ n_k), e_k = ‖W_k − Ŵ_k‖/‖W_k‖. Time: wall \
      seconds to quantize (optimizer + quantize + pack + measure) all matrices already in memory, rounds \
      alternating between optimizers; best and median of --repeat rounds.
      """
  )

  @Argument(help: "A safetensors model (e.g. all-MiniLM-L6-v2's model.safetensors).")
  var model: String

  @Option(name: .long, parsing: .upToNextOption, help: "Bit widths.")
  var bits: [Int] = [8, 4, 2]

  @Option(name: .long, parsing: .upToNextOption, help: "Optimizers: minmax, signed-max (symmetric: every code in use), grid, hqq.")
  var optimizers: [String] = ["minmax", "grid", "hqq"]

  @Option(name: .long, help: "Weights per group.")
  var group = 64

  @Flag(name: .long, help: "Symmetric mode (x̂ = (q − 2^(b−1))·s).")
  var symmetric = false

  @Flag(name: .customLong("zero-point"), help: "Integer zero-point mode (x̂ = (q − z)·s).")
  var zeroPoint = false

  @Option(name: .long, help: "Optimizer settings as OPTIMIZER:KEY=VALUE (repeatable), e.g. grid:steps=7 hqq:beta=20.")
  var set: [String] = []

  @Option(name: .long, help: "Timed rounds (each runs every optimizer once).")
  var `repeat` = 3

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @OptionGroup var outputOptions: OutputOptions

  struct Row: Codable {
    var optimizer: String
    var settings: [String: String]
    var bits: Int
    var mode: String
    var sizeWeightedRelativeError: Double
    var reference: Double?
    var referenceSource: String?
    var seconds: TimingSummary
    /// Process CPU seconds (user + system, all threads) per round: robust to other tenants.
    var cpuSeconds: TimingSummary
    var optimizerCPUSeconds: Double
    var matrices: Int
    var weights: Int
  }

  func validate() throws {
    if symmetric && zeroPoint { throw ValidationError("--symmetric and --zero-point are exclusive") }
    try require(`repeat`, in: Limits.repeats, "--repeat")
    if optimizers.contains("signed-max") && !symmetric {
      // Without it the row would be min-max's under signed-max's name.
      throw ValidationError("signed-max chooses symmetric scales (ggml Q4_0's rule): it goes with --symmetric")
    }
    // Settings of an optimizer that does not run would be silently ignored.
    for name in try optimizerSettings(set).keys where !optimizers.contains(name) {
      throw ValidationError("--set \(name):… applies only when --optimizers includes \(name) (running: \(optimizers.joined(separator: ", ")))")
    }
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let mode: QuantizationMode = symmetric ? .symmetric : (zeroPoint ? .zeroPoint : .floatMinimum)
    let settings = try optimizerSettings(set)
    let file: SafetensorsFile
    do {
      file = try SafetensorsFile(path: model)
    } catch {
      throw CommandFailure(error.description)
    }
    let infos = file.tensors.filter { $0.shape.count == 2 && !$0.name.contains("embeddings") && $0.dtype.isFloatingPoint }
    guard !infos.isEmpty else { throw CommandFailure("\(model) holds no 2-D float matrix outside the embeddings") }
    var matrices: [(name: String, shape: [Int], values: [Float])] = []
    for info in infos {
      do {
        matrices.append((info.name, info.shape, try file.floats(info.name)))
      } catch {
        throw CommandFailure(error.description)
      }
    }
    var configurations: [(optimizer: any ParameterOptimizer, scheme: QuantizationScheme)] = []
    for width in bits {
      for name in optimizers {
        do {
          let optimizer = try OptimizerCatalog.make(name: name, settings: settings[name] ?? [:])
          configurations.append((optimizer, try QuantizationScheme(bits: width, granularity: .perGroup(group), mode: mode)))
        } catch let error as OptimizationError {
          throw CommandFailure(error.description)
        } catch {
          throw CommandFailure("\(error)")
        }
      }
    }
    var samples = Array(repeating: [Double](), count: configurations.count)
    var cpuSamples = Array(repeating: [Double](), count: configurations.count)
    var errors = Array(repeating: 0.0, count: configurations.count)
    var optimizerSeconds = Array(repeating: Double.infinity, count: configurations.count)
    let weights = matrices.reduce(0) { $0 + $1.values.count }
    for round in 0...`repeat` {  // round 0 warms up (page cache, code paths) and is not timed
      for (index, configuration) in configurations.enumerated() {
        let quantizer = Quantizer(scheme: configuration.scheme, optimizer: configuration.optimizer, engine: engine)
        var summary = ModelErrorSummary()
        var spent = 0.0
        let started = monotonicSeconds()
        let startedCPU = processCPUSeconds()
        for matrix in matrices {
          let result = try matrix.values.withUnsafeBufferPointer { buffer in
            do {
              return try quantizer.quantizeAndMeasure(buffer, shape: matrix.shape, name: matrix.name)
            } catch {
              throw CommandFailure("\(error)")
            }
          }
          summary.add(count: result.statistics.count, relativeError: result.statistics.relativeError)
          spent += result.optimizerSeconds
        }
        let elapsed = monotonicSeconds() - started
        let cpu = processCPUSeconds() - startedCPU
        if round > 0 {
          samples[index].append(elapsed)
          cpuSamples[index].append(cpu)
          optimizerSeconds[index] = min(optimizerSeconds[index], spent)
        }
        errors[index] = summary.sizeWeightedRelativeError
      }
    }
    var rows: [Row] = []
    for (index, configuration) in configurations.enumerated() {
      let reference = MiniLMReference.figure(optimizer: configuration.optimizer.name, mode: mode, bits: configuration.scheme.bits)
      rows.append(Row(
        optimizer: configuration.optimizer.name, settings: configuration.optimizer.settings, bits: configuration.scheme.bits,
        mode: mode.fileName, sizeWeightedRelativeError: errors[index], reference: reference?.0, referenceSource: reference?.1,
        seconds: TimingSummary(samples: samples[index]), cpuSeconds: TimingSummary(samples: cpuSamples[index]), optimizerCPUSeconds: optimizerSeconds[index], matrices: matrices.count,
        weights: weights))
    }
    switch outputOptions.format {
    case .json:
      print(try jsonString(rows))
    case .csv, .table:
      var table = TextTable(["optimizer", "bits", "mode", "rel.error", "reference", "source", "vs ref", "best s", "median s", "cpu best s", "opt s"])
      for row in rows {
        let versus = row.reference.map { String(format: "%+.2f%%", 100 * (row.sizeWeightedRelativeError / $0 - 1)) } ?? ""
        table.append([
          row.optimizer, "\(row.bits)", row.mode, String(format: "%.5f", row.sizeWeightedRelativeError),
          row.reference.map { String(format: "%.5f", $0) } ?? "", row.referenceSource ?? "", versus,
          String(format: "%.3f", row.seconds.best), String(format: "%.3f", row.seconds.median),
          String(format: "%.3f", row.cpuSeconds.best), String(format: "%.3f", row.optimizerCPUSeconds),
        ])
      }
      if outputOptions.format == .csv {
        print(table.renderCSV(), terminator: "")
      } else {
        print(table.render(), terminator: "")
        print("\(matrices.count) matrices, \(weights) weights, groups of \(group), \(engine.effectiveThreads) thread(s); "
          + "times: wall best/median of \(`repeat`) rounds after a warm-up, optimizers alternating; cpu = process CPU time "
          + "(all threads); opt = seconds inside the optimizer, summed over threads")
      }
    }
  }
}
