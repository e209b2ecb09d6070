import ArrowheadCore
import ArrowheadQuant

/// GPTQ in the model pipeline (`ModelQuantizationOptions.matrixQuantizer`): the Hessians of
/// the calibration inputs, one per input width; a tensor whose columns match one is
/// quantized by GPTQ, any other by the pipeline's group optimizer (the report says which).
///
/// ```swift
/// let h = try GPTQHessian(inputs: embeddings, columns: 384)
/// var options = ModelQuantizationOptions(scheme: scheme, optimizer: try GridSearchOptimizer())
/// options.matrixQuantizer = GPTQModelQuantizer(quantizer: try GPTQQuantizer(groupOptimizer: try GridSearchOptimizer()),
///                                               hessians: [h], inputs: "embeddings.word_embeddings.weight")
/// ```
public struct GPTQModelQuantizer: MatrixQuantizer {
  /// The GPTQ settings.
  public let quantizer: GPTQQuantizer
  /// The Hessians by order (input width).
  public let hessians: [Int: GPTQHessian]
  /// Where the calibration inputs came from (for the report).
  public let inputs: String

  /// Creates the adapter; a later Hessian of an order already given replaces the earlier.
  public init(quantizer: GPTQQuantizer, hessians: [GPTQHessian], inputs: String) {
    self.quantizer = quantizer
    var byOrder: [Int: GPTQHessian] = [:]
    for hessian in hessians { byOrder[hessian.order] = hessian }
    self.hessians = byOrder
    self.inputs = inputs
  }

  /// "gptq".
  public var name: String { quantizer.name }

  /// GPTQ's settings, the inputs and the widths they cover.
  public var settings: [String: String] {
    var result = quantizer.settings
    result["inputs"] = inputs
    result["input_widths"] = hessians.keys.sorted().map(String.init).joined(separator: ",")
    return result
  }

  /// Why GPTQ cannot quantize a tensor of `shape`, or nil if it can.
  public func inapplicability(shape: [Int]) -> String? {
    guard shape.count >= 2 else { return "a \(shape.count)-D tensor has no input dimension" }
    let columns = shape.dropFirst().reduce(1, *)
    if hessians[columns] == nil {
      return "no calibration inputs of width \(columns) (have \(hessians.keys.sorted().map(String.init).joined(separator: ", ")))"
    }
    return nil
  }

  /// GPTQ for a tensor whose columns match a Hessian, nil otherwise.
  public func quantize(
    _ values: UnsafeBufferPointer<Float>, shape: [Int], name: String, scheme: QuantizationScheme, engine: Engine
  ) throws(QuantizationError) -> MatrixQuantization? {
    guard inapplicability(shape: shape) == nil, let hessian = hessians[shape.dropFirst().reduce(1, *)] else { return nil }
    do {
      let result = try quantizer.quantize(values, shape: shape, scheme: scheme, hessian: hessian, name: name, engine: engine)
      return MatrixQuantization(
        result: QuantizationResult(tensor: result.tensor, statistics: result.statistics, seconds: result.seconds, optimizerSeconds: result.seconds),
        outputRelativeError: result.outputError,
        note: result.dampingsTried.count > 1 ? "damping escalated to \(result.damping) (tried \(result.dampingsTried.map { "\($0)" }.joined(separator: ", ")))" : nil)
    } catch {
      throw error.quantizationError(tensor: name)
    }
  }
}

extension ThermodynamicOptimizer: ActivationParameterOptimizer {
  /// The thermodynamic optimizer on each time group's fitting rows, with the output-error
  /// objective when `data` has channel importances. The losses reported are the loss at
  /// min-max and at the result.
  public func optimize(
    _ parameters: TimeAwareActivationParameters, data: ActivationCalibrationData, configuration: TimeAwareConfiguration
  ) throws(QuantizationError) -> ActivationOptimization {
    try data.fitting(parameters) { (groups) throws(OptimizationError) in
      let result = try optimize(
        groups: groups, bits: parameters.bits, mode: parameters.mode, layer: parameters.layer, channels: data.channels,
        importance: data.channelImportance)
      return ActivationOptimization(
        groupParameters: result.parameters, initialLoss: result.minMax.total, finalLoss: result.final.total, iterations: result.iterations,
        converged: result.converged)
    }
  }
}

extension ClippingSearch: ActivationParameterOptimizer {
  /// The clipping search on each time group's fitting rows, weighted by the layer's channel
  /// importances when `data` has them. The losses reported are mean relative output errors
  /// (1 at min-max); the iterations, the ranges evaluated.
  public func optimize(
    _ parameters: TimeAwareActivationParameters, data: ActivationCalibrationData, configuration: TimeAwareConfiguration
  ) throws(QuantizationError) -> ActivationOptimization {
    try data.fitting(parameters) { (groups) throws(OptimizationError) in
      let chosen = try search(
        groups: groups, bits: parameters.bits, mode: parameters.mode, layer: parameters.layer, channels: data.channels,
        importance: data.channelImportance)
      let relative = chosen.map { $0.minMaxError > 0 ? $0.error / $0.minMaxError : 1 }
      return ActivationOptimization(
        groupParameters: chosen.map(\.parameters), initialLoss: 1, finalLoss: relative.reduce(0, +) / Double(max(1, relative.count)),
        iterations: chosen.map(\.evaluations).reduce(0, +), converged: true)
    }
  }
}

extension ActivationCalibrationData {
  /// `body` on every time group's fitting rows, its errors mapped to the pipeline's.
  func fitting(
    _ parameters: TimeAwareActivationParameters, _ body: ([[Float]]) throws(OptimizationError) -> ActivationOptimization
  ) throws(QuantizationError) -> ActivationOptimization {
    do {
      return try body(groups.map(\.fit))
    } catch {
      throw error.quantizationError(tensor: parameters.layer)
    }
  }
}

extension OptimizationError {
  /// The closest `QuantizationError` (for the model pipeline, whose errors are those).
  func quantizationError(tensor: String) -> QuantizationError {
    switch self {
    case .quantization(let error): return error
    case .engine(let error): return .engine(error)
    case let .nonFiniteValue(name, index, value): return .nonFiniteWeight(tensor: name, index: index, value: value)
    case let .shapeMismatch(name, expected, actual): return .shapeMismatch(tensor: name, expected: expected, actual: actual)
    case let .nonFiniteActivation(layer, group, index, value):
      return .invalidTimeGrouping(reason: "layer '\(layer)', time group \(group): sample \(index) is \(value); calibration samples must be finite")
    case .emptyInput, .invalidSetting, .hessianNotPositiveDefinite, .errorFeedbackOverflow:
      return .invalidOption(name: "optimizer (tensor '\(tensor)')", value: description, expected: "valid optimizer inputs and settings")
    }
  }
}
