import ArrowheadCore
import ArrowheadIO

/// One tensor of an inspected file.
public struct InspectedTensor: Sendable, Codable {
  /// The tensor's (or layer's) name.
  public var name: String
  /// `quantized`, `float`, `other` (non-float, passed through) or `activation`.
  public var kind: String
  /// How it is stored: a scheme ("int4 g64 float_minimum") or a dtype ("F32").
  public var storage: String
  /// The (original) shape.
  public var shape: [Int]
  /// Stored bytes.
  public var storedBytes: Int
  /// Stored bits per weight (quantized tensors).
  public var bitsPerWeight: Double?
  /// Error against the original, when one was given.
  public var metrics: QuantizationMetrics?
}

/// The result of inspecting a file.
public struct InspectionReport: Sendable, Codable {
  /// The file.
  public var file: String
  /// "arrowhead quantized v1" or "safetensors".
  public var format: String
  /// The file's tensors (companions folded), in file order.
  public var tensors: [InspectedTensor]
  /// The file's size in bytes (all shards).
  public var fileBytes: Int
  /// The original compared against, if any.
  public var original: String?
  /// Size-weighted relative error of the quantized tensors against the original.
  public var sizeWeightedRelativeError: Double?
  /// Weights in quantized tensors.
  public var quantizedWeights: Int
}

/// Lists a safetensors file's tensors; for an Arrowhead quantized file, their schemes and
/// sizes, and with an original model, each quantized tensor's error.
public enum ModelInspector {
  /// Inspects `path`, comparing quantized tensors with `original` when given.
  /// Throws when a quantized tensor is missing from the original or has another shape.
  public static func inspect(_ path: String, original: String? = nil, engine: Engine = .default) throws(QuantizationError) -> InspectionReport {
    let model: SafetensorsModel
    do {
      model = try SafetensorsModel(path: path)
    } catch {
      throw .file(error)
    }
    let fileBytes = model.files.reduce(0) { $0 + $1.fileSize }
    guard model.metadata[QuantizedModelFormat.formatKey] == "quantized" else {
      let tensors = model.entries.map { entry in
        InspectedTensor(
          name: entry.name, kind: entry.info.dtype.isFloatingPoint ? "float" : "other", storage: entry.info.dtype.rawValue,
          shape: entry.info.shape, storedBytes: entry.info.byteCount, bitsPerWeight: nil, metrics: nil)
      }
      return InspectionReport(file: path, format: "safetensors", tensors: tensors, fileBytes: fileBytes, original: original, sizeWeightedRelativeError: nil, quantizedWeights: 0)
    }
    let file = try QuantizedModelFile(path: path, engine: engine)
    var reference: SafetensorsModel?
    if let original {
      do {
        reference = try SafetensorsModel(path: original)
      } catch {
        throw .file(error)
      }
    }
    var summary = ModelErrorSummary()
    var tensors: [InspectedTensor] = []
    for entry in file.entries {
      switch entry {
      case .plain(let plain):
        tensors.append(InspectedTensor(
          name: plain.name, kind: plain.info.dtype.isFloatingPoint ? "float" : "other", storage: plain.info.dtype.rawValue,
          shape: plain.info.shape, storedBytes: plain.info.byteCount, bitsPerWeight: nil, metrics: nil))
      case .activation(let layer):
        let stored = try file.activationParameters(layer)
        tensors.append(InspectedTensor(
          name: layer, kind: "activation",
          storage: "int\(stored.bits) \(stored.mode.fileName) × \(stored.grouping.groups) time groups / \(stored.grouping.timesteps) steps",
          shape: [stored.grouping.groups], storedBytes: 8 * stored.grouping.groups + 4 * (stored.grouping.groups + 1) + 8 * (stored.timestepParameters?.count ?? 0),
          bitsPerWeight: nil, metrics: nil))
      case .quantized(let info):
        var metrics: QuantizationMetrics?
        if let reference {
          let tensor = try file.tensor(info.name)
          metrics = try compare(tensor, info: info, with: reference, engine: engine)
          if let metrics { summary.add(count: metrics.count, relativeError: metrics.relativeError) }
        }
        tensors.append(InspectedTensor(
          name: info.name, kind: "quantized", storage: info.scheme.description, shape: info.shape, storedBytes: info.storedByteCount,
          bitsPerWeight: info.layout.bitsPerWeight, metrics: metrics))
        if reference == nil { summary.weightCount += info.layout.count }
      }
    }
    return InspectionReport(
      file: path, format: "arrowhead quantized v\(file.formatVersion)", tensors: tensors, fileBytes: fileBytes, original: original,
      sizeWeightedRelativeError: reference == nil ? nil : summary.sizeWeightedRelativeError, quantizedWeights: summary.weightCount)
  }

  static func compare(_ tensor: QuantizedTensor, info: QuantizedTensorInfo, with reference: SafetensorsModel, engine: Engine) throws(QuantizationError) -> QuantizationMetrics {
    guard let original = reference.entry(info.name) else {
      throw .invalidQuantizedFile(file: reference.path, tensor: info.name, reason: "the original model has no tensor of this name")
    }
    guard original.info.shape == info.shape else {
      throw .shapeMismatch(tensor: info.name, expected: "shape \(info.shape) (quantized)", actual: "\(original.info.shape) in \(reference.path)")
    }
    let approximation = tensor.dequantized(engine: engine)
    var statistics = ErrorStatistics()
    do {
      try original.file.withFloats(original.info) { (values: UnsafeBufferPointer<Float>) throws(Never) in
        approximation.withUnsafeBufferPointer { statistics.accumulate(original: values, reconstructed: $0) }
      }
    } catch {
      if case .file(let failure) = error { throw .file(failure) }
    }
    original.file.evictPages(of: original.info)
    return QuantizationMetrics(statistics, bitsPerWeight: tensor.bitsPerWeight, originalBitsPerWeight: Double(8 * original.info.dtype.size))
  }
}

/// Writes a plain safetensors model from a quantized one.
public enum ModelDequantizer {
  /// What `dequantize` did.
  public struct Report: Sendable, Codable {
    /// Tensors dequantized.
    public var dequantized: Int
    /// Float tensors converted or copied.
    public var copied: Int
    /// Activation-parameter sets dropped (a plain model has no place for them).
    public var droppedActivations: Int
    /// The output's size.
    public var outputBytes: Int
    /// Seconds.
    public var seconds: Double
  }

  static func name(of entry: QuantizedModelFile.Entry) -> String {
    switch entry {
    case .quantized(let info): info.name
    case .plain(let plain): plain.name
    case .activation(let layer): layer
    }
  }

  /// Dequantizes every quantized tensor of `input` to `dtype` (F32, F16, BF16) under its
  /// original name and shape; other float tensors are converted to `dtype` too, non-float
  /// tensors copied, activation parameters dropped. Tensor by tensor, atomic.
  ///
  /// Every float value written is checked: a NaN or ±∞, or a value that overflows `dtype`
  /// (|x| ≥ 65520 in F16), throws `.nonFiniteOutput` naming the tensor and index, unless
  /// `allowNonFinite` is set. `output` must not be one of the input's files.
  public static func dequantize(
    input: String, output: String, dtype: SafetensorsDType = .f32, allowNonFinite: Bool = false, engine: Engine = .default,
    progress: ((QuantizationProgress) -> Void)? = nil
  ) throws(QuantizationError) -> Report {
    let started = MonotonicClock.now()
    guard [.f32, .f16, .bf16].contains(dtype) else {
      throw .invalidOption(name: "--dtype", value: dtype.rawValue, expected: "F32, F16 or BF16")
    }
    let file = try QuantizedModelFile(path: input, engine: engine)
    do {
      try OutputOverwritesInputError.check(output: output, inputs: [input] + file.model.files.map(\.path))
    } catch {
      throw .outputIsInput(error)
    }
    func checkFinite(_ name: String, _ values: UnsafeBufferPointer<Float>) throws(QuantizationError) {
      guard !allowNonFinite, let (index, value) = firstNonFinite(values, as: dtype) else { return }
      throw .nonFiniteOutput(tensor: name, index: index, value: value, dtype: dtype.rawValue)
    }
    let writer: SafetensorsWriter
    do {
      writer = try SafetensorsWriter(path: output, metadata: file.userMetadata)
    } catch {
      throw .file(error)
    }
    var report = Report(dequantized: 0, copied: 0, droppedActivations: 0, outputBytes: 0, seconds: 0)
    /// Float tensor `name` of `file` checked and handed to `body`, file errors mapped.
    func withCheckedFloats(
      _ name: String, _ info: SafetensorsTensorInfo, in source: SafetensorsFile, _ body: (UnsafeBufferPointer<Float>) throws(SafetensorsError) -> Void
    ) throws(QuantizationError) {
      do throws(SafetensorsFloatAccessError<QuantizationError>) {
        try source.withFloats(info) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) in
          try checkFinite(name, values)
          do throws(SafetensorsError) { try body(values) } catch { throw .file(error) }
        }
      } catch {
        switch error {
        case .file(let failure): throw .file(failure)
        case .body(let failure): throw failure
        }
      }
    }
    for (position, entry) in file.entries.enumerated() {
      switch entry {
      case .quantized(let info):
        let values = try file.tensor(info.name).dequantized(engine: engine)
        try values.withUnsafeBufferPointer { (buffer) throws(QuantizationError) in
          try checkFinite(info.name, buffer)
          do throws(SafetensorsError) { try writer.add(info.name, shape: info.shape, floats: buffer, as: dtype) } catch { throw .file(error) }
        }
        report.dequantized += 1
      case .plain(let plain):
        if plain.info.dtype.isConvertibleToFloat && plain.info.dtype != dtype {
          try withCheckedFloats(plain.name, plain.info, in: plain.file) { (values) throws(SafetensorsError) in
            try writer.add(plain.name, shape: plain.info.shape, floats: values, as: dtype)
          }
          plain.file.evictPages(of: plain.info)
        } else {
          if plain.info.dtype.isConvertibleToFloat && !allowNonFinite {
            try withCheckedFloats(plain.name, plain.info, in: plain.file) { (_) throws(SafetensorsError) in }
          }
          do throws(SafetensorsError) { try writer.addCopy(of: plain.info, from: plain.file) } catch { throw .file(error) }
        }
        report.copied += 1
      case .activation:
        report.droppedActivations += 1
      }
      progress?(QuantizationProgress(completed: position + 1, total: file.entries.count, tensor: Self.name(of: entry)))
    }
    do {
      try writer.finish()
    } catch {
      throw .file(error)
    }
    report.outputBytes = ModelQuantizer.fileSize(output)
    report.seconds = MonotonicClock.now() - started
    return report
  }
}

/// The first value of `values` that is not finite, or that becomes infinite when stored as
/// `dtype` (F16/BF16 round to nearest even; F32 and F64 keep every finite Float32), as
/// (flat index, value); nil when every value is fine.
func firstNonFinite(_ values: UnsafeBufferPointer<Float>, as dtype: SafetensorsDType) -> (Int, Float)? {
  for (index, value) in values.enumerated() {
    guard value.isFinite else { return (index, value) }
    switch dtype {
    case .f16 where abs(value) >= 65504:
      if HalfConversion.float(fromHalf: HalfConversion.half(from: value)).isInfinite { return (index, value) }
    case .bf16 where abs(value) >= 3.3e38:
      if HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: value)).isInfinite { return (index, value) }
    default:
      break
    }
  }
  return nil
}
