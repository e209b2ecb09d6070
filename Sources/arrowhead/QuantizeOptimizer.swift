import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import Foundation

/// `arrowhead quantize --optimizer minmax|signed-max|grid|hqq|thermo|clip|gptq` and its settings.
struct OptimizerOptions: ParsableArguments {
  @Option(name: .long, help: """
    How quantization parameters are chosen: minmax (default), signed-max (with --symmetric: every code in use, \
    ggml Q4_0's rule), grid (clip grid + least squares), hqq (half-quadratic), \
    gptq (error compensation with --gptq-inputs), thermo or clip (time-aware activation parameters: thermodynamic \
    optimizer, or MSE-optimal clipping search, of each layer's output error; need --time-groups).
    """)
  var optimizer = "minmax"

  @Option(name: .customLong("optimizer-option"), help: """
    KEY=VALUE setting of the optimizer (repeatable). grid: steps keep refinements local_rounds clip; hqq: p beta kappa \
    iterations early_stop; thermo: lambda1 lambda2 learning_rate iterations tolerance patience start (minmax|clip); \
    clip: grid_points rounds; gptq: block_size damping escalations hessian_importance.
    """)
  var optimizerOptions: [String] = []

  @Option(name: .customLong("weight-optimizer"), help: "With gptq, thermo or clip: the per-group weight optimizer (minmax, signed-max, grid, hqq; default grid for gptq, minmax for thermo and clip).")
  var weightOptimizer: String?

  @Option(name: .customLong("gptq-inputs"), help: "GPTQ calibration inputs: a 2-D tensor of the input model, or FILE:TENSOR; its rows are inputs (repeatable, one per input width).")
  var gptqInputs: [String] = []

  @Option(name: .customLong("gptq-input-rows"), help: "Use only the first N rows of each --gptq-inputs tensor.")
  var gptqInputRows: Int?

  static let names = ["minmax", "signed-max", "grid", "hqq", "thermo", "clip", "gptq"]

  /// Whether signed-max chooses the weight parameters (it needs symmetric codes).
  var usesSignedMaximum: Bool { optimizer == "signed-max" || weightOptimizer == "signed-max" }

  /// The optimizers that choose time-aware activation parameters.
  static let activationNames = ["thermo", "clip"]

  func validate() throws {
    guard Self.names.contains(optimizer) else {
      throw ValidationError("--optimizer must be one of \(Self.names.joined(separator: ", ")), got '\(optimizer)'")
    }
    if let weightOptimizer, !OptimizerCatalog.weightOptimizerNames.contains(weightOptimizer) {
      throw ValidationError("--weight-optimizer must be one of \(OptimizerCatalog.weightOptimizerNames.joined(separator: ", "))")
    }
    if weightOptimizer != nil && !(["gptq"] + Self.activationNames).contains(optimizer) {
      throw ValidationError("--weight-optimizer goes with --optimizer gptq, thermo or clip")
    }
    if optimizer == "gptq" && gptqInputs.isEmpty {
      throw ValidationError("--optimizer gptq needs calibration inputs: --gptq-inputs TENSOR (e.g. embeddings.word_embeddings.weight) or FILE:TENSOR")
    }
    if optimizer != "gptq" && (!gptqInputs.isEmpty || gptqInputRows != nil) {
      throw ValidationError("--gptq-inputs and --gptq-input-rows go with --optimizer gptq")
    }
    if let gptqInputRows, gptqInputRows < 1 { throw ValidationError("--gptq-input-rows must be ≥ 1") }
    _ = try settings()
  }

  func settings() throws -> [String: String] {
    var result: [String: String] = [:]
    for item in optimizerOptions {
      let parts = item.split(separator: "=", maxSplits: 1)
      guard parts.count == 2 else { throw ValidationError("--optimizer-option expects KEY=VALUE, got '\(item)'") }
      result[String(parts[0])] = String(parts[1])
    }
    return result
  }

  /// Fills the optimizer fields of `options` (GPTQ Hessians are built from the inputs here).
  func configure(_ options: inout ModelQuantizationOptions, input: String, engine: Engine) throws {
    let settings = try settings()
    do {
      switch optimizer {
      case "thermo":
        options.activationOptimizer = try OptimizerCatalog.thermodynamic(settings: settings)
        options.optimizer = try OptimizerCatalog.make(name: weightOptimizer ?? "minmax")
      case "clip":
        options.activationOptimizer = try OptimizerCatalog.clipping(settings: settings)
        options.optimizer = try OptimizerCatalog.make(name: weightOptimizer ?? "minmax")
      case "gptq":
        let groups = try OptimizerCatalog.make(name: weightOptimizer ?? "grid")
        let gptq = try OptimizerCatalog.gptq(settings: settings, groupOptimizer: groups)
        options.optimizer = groups
        options.matrixQuantizer = GPTQModelQuantizer(quantizer: gptq, hessians: try hessians(input: input, engine: engine), inputs: gptqInputs.joined(separator: ", "))
      default:
        options.optimizer = try OptimizerCatalog.make(name: optimizer, settings: settings)
      }
    } catch let error as OptimizationError {
      throw CommandFailure(error.description)
    }
  }

  /// H = XᵀX of each --gptq-inputs tensor.
  func hessians(input: String, engine: Engine) throws -> [GPTQHessian] {
    var result: [GPTQHessian] = []
    for spec in gptqInputs {
      let values: [Float]
      let shape: [Int]
      do {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        if parts.count == 2 && FileManager.default.fileExists(atPath: parts[0]) {
          let file = try SafetensorsFile(path: parts[0])
          shape = try file.requireInfo(parts[1]).shape
          values = try file.floats(parts[1])
        } else {
          let model = try SafetensorsModel(path: input)
          guard let entry = model.entry(spec) else {
            throw CommandFailure("--gptq-inputs '\(spec)' names no tensor of \(input) (nor FILE:TENSOR of an existing file)")
          }
          shape = entry.info.shape
          values = try entry.file.floats(spec)
        }
      } catch let error as SafetensorsError {
        throw CommandFailure(error.description)
      }
      guard shape.count == 2, shape[1] > 0 else { throw CommandFailure("--gptq-inputs '\(spec)' has shape \(shape); need rows × features") }
      let rows = min(shape[0], gptqInputRows ?? shape[0])
      do {
        result.append(try GPTQHessian(inputs: Array(values.prefix(rows * shape[1])), columns: shape[1], name: spec, engine: engine))
      } catch {
        throw CommandFailure(error.description)
      }
    }
    return result
  }
}
