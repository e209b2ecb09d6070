import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import Foundation

/// `arrowhead optimize gptq MODEL`: GPTQ against min-max and grid on real inputs — by
/// default the model's own word embeddings as inputs to its first layer's q/k/v projections.
struct OptimizeGPTQ: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gptq",
    abstract: "Output error ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ and weight error of GPTQ vs min-max and grid, with real calibration inputs.",
    discussion: """
      X = the rows of --inputs (a 2-D tensor of the model, default the word embeddings); W = each --layers matrix \
      (its columns must equal X's). H = XᵀX is built once per input width through the engine's gemm.
      """
  )

  @Argument(help: "A safetensors model (e.g. all-MiniLM-L6-v2's model.safetensors).")
  var model: String

  @Option(name: .long, help: "The 2-D tensor whose rows are the calibration inputs.")
  var inputs = "embeddings.word_embeddings.weight"

  @Option(name: .long, parsing: .upToNextOption, help: "The weight matrices to quantize.")
  var layers = [
    "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.key.weight",
    "encoder.layer.0.attention.self.value.weight",
  ]

  @Option(name: .customLong("input-rows"), help: "Use only the first N input rows (default: all).")
  var inputRows: Int?

  @OptionGroup var schemeOptions: SchemeOptions

  @Option(name: .customLong("block-size"), help: "GPTQ columns per block.")
  var blockSize = 128

  @Option(name: .long, help: "GPTQ damping λ (fraction of mean(diag H)).")
  var damping = 0.01

  @Flag(name: .customLong("hessian-importance"), help: "Weight the group optimizer by diag(H) (per input feature).")
  var hessianImportance = false

  @Option(name: .long, help: "Optimizer settings as OPTIMIZER:KEY=VALUE (repeatable) for the grid rows.")
  var set: [String] = []

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Flag(name: .long, help: "Print the report as JSON.")
  var json = false

  struct Row: Codable {
    var layer: String
    var method: String
    var weightError: Double
    var outputError: Double
    var seconds: Double
  }

  struct Report: Codable {
    var inputs: String
    var inputRows: Int
    var scheme: String
    var hessianSeconds: Double
    var rows: [Row]
    /// Σ over layers of output error² per method, as √(mean): the aggregate compared below.
    var aggregateOutputError: [String: Double]
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let scheme = try schemeOptions.scheme()
    let settings = try optimizerSettings(set)
    do {
      let file = try SafetensorsFile(path: model)
      let inputInfo = try file.requireInfo(inputs)
      guard inputInfo.shape.count == 2 else { throw CommandFailure("--inputs \(inputs) has shape \(inputInfo.shape); need a 2-D tensor") }
      var x = try file.floats(inputs)
      let width = inputInfo.shape[1]
      if let inputRows {
        guard inputRows >= 1 else { throw CommandFailure("--input-rows must be ≥ 1") }
        x = Array(x.prefix(min(inputRows, inputInfo.shape[0]) * width))
      }
      let hessianStarted = monotonicSeconds()
      let hessian = try GPTQHessian(inputs: x, columns: width, name: inputs, engine: engine)
      let hessianSeconds = monotonicSeconds() - hessianStarted
      let grid = try OptimizerCatalog.make(name: "grid", settings: settings["grid"] ?? [:])
      let methods: [(String, (SafetensorsTensorInfo, [Float]) throws -> (weight: Double, output: Double))] = [
        ("minmax", { info, w in try Self.roundToNearest(w, info, scheme, MinMaxOptimizer(), hessian, engine) }),
        ("grid", { info, w in try Self.roundToNearest(w, info, scheme, grid, hessian, engine) }),
        ("gptq (minmax groups)", { info, w in
          let result = try GPTQQuantizer(blockSize: blockSize, damping: damping, groupOptimizer: MinMaxOptimizer(), hessianImportance: hessianImportance).quantize(
            w, shape: info.shape, scheme: scheme, hessian: hessian, name: info.name, engine: engine)
          return (result.statistics.relativeError, result.outputError)
        }),
        ("gptq (grid groups)", { info, w in
          let result = try GPTQQuantizer(blockSize: blockSize, damping: damping, groupOptimizer: grid, hessianImportance: hessianImportance).quantize(
            w, shape: info.shape, scheme: scheme, hessian: hessian, name: info.name, engine: engine)
          return (result.statistics.relativeError, result.outputError)
        }),
      ]
      var rows: [Row] = []
      var squared: [String: Double] = [:]
      for layer in layers {
        let info = try file.requireInfo(layer)
        let w = try file.floats(layer)
        for (method, body) in methods {
          let started = monotonicSeconds()
          let errors = try body(info, w)
          rows.append(Row(layer: layer, method: method, weightError: errors.weight, outputError: errors.output, seconds: monotonicSeconds() - started))
          squared[method, default: 0] += errors.output * errors.output / Double(layers.count)
        }
      }
      let report = Report(
        inputs: inputs, inputRows: x.count / width, scheme: scheme.description, hessianSeconds: hessianSeconds, rows: rows,
        aggregateOutputError: squared.mapValues { $0.squareRoot() })
      if json {
        print(try jsonString(report))
        return
      }
      var table = TextTable(["layer", "method", "weight rel.error", "output rel.error", "seconds"])
      for row in rows {
        table.append([
          row.layer, row.method, String(format: "%.5f", row.weightError), String(format: "%.5f", row.outputError), String(format: "%.3f", row.seconds),
        ])
      }
      print(table.render(), terminator: "")
      print("X = \(report.inputRows) rows of \(inputs) (H = XᵀX \(width)×\(width) in \(String(format: "%.3f", hessianSeconds)) s), \(scheme.description), \(engine.effectiveThreads) thread(s)")
      let aggregate = report.aggregateOutputError
      for (method, value) in aggregate.sorted(by: { $0.key < $1.key }) {
        print(String(format: "  rms output error %-22@ %.5f  (× %.3f of minmax)", method, value, value / (aggregate["minmax"] ?? value)))
      }
    } catch let error as OptimizationError {
      throw CommandFailure(error.description)
    } catch let error as SafetensorsError {
      throw CommandFailure(error.description)
    }
  }

  /// Round-to-nearest with `optimizer`'s parameters: weight and output errors.
  static func roundToNearest(
    _ w: [Float], _ info: SafetensorsTensorInfo, _ scheme: QuantizationScheme, _ optimizer: any ParameterOptimizer, _ hessian: GPTQHessian,
    _ engine: Engine
  ) throws -> (weight: Double, output: Double) {
    let result = try Quantizer(scheme: scheme, optimizer: optimizer, engine: engine).quantizeAndMeasure(w, shape: info.shape, name: info.name)
    let output = try hessian.outputError(original: w, reconstructed: result.tensor.dequantized(engine: engine), engine: engine)
    return (result.statistics.relativeError, output)
  }
}
