import ArrowheadCore
import ArrowheadIO

/// A quantized tensor's description read from a file's metadata.
public struct QuantizedTensorInfo: Sendable, Hashable {
  /// The tensor's name (without companion suffixes).
  public var name: String
  /// Its scheme.
  public var scheme: QuantizationScheme
  /// The original shape.
  public var shape: [Int]
  /// The original dtype.
  public var sourceDType: SafetensorsDType
  /// The optimizer that chose its parameters.
  public var optimizer: String
  /// Stored bytes (codes and parameters).
  public var storedByteCount: Int { scheme.layout(shape: shape).storedByteCount }
}

/// A stored layer's time-aware activation parameters.
public struct StoredActivationParameters: Sendable {
  /// The layer.
  public var layer: String
  /// The grouping.
  public var grouping: TimeGrouping
  /// Activation bits.
  public var bits: Int
  /// Activation mode.
  public var mode: QuantizationMode
  /// Per-group parameters.
  public var groupParameters: [AffineParameters]
  /// Per-timestep parameters, if smoothing was applied.
  public var timestepParameters: [AffineParameters]?
  /// The optimizer that chose the group parameters (nil: min-max of the estimated ranges).
  public var optimizer: String? = nil
}

/// A quantized safetensors file (or sharded model) opened for reading; see
/// `QuantizedModelFormat`. Metadata and companion tensors are validated when a tensor is
/// loaded; the version is checked on open.
public struct QuantizedModelFile: Sendable {
  /// What a name in the file is.
  public enum Entry: Sendable {
    /// A quantized tensor.
    case quantized(QuantizedTensorInfo)
    /// A tensor stored as is (kept in floating point or passed through).
    case plain(SafetensorsModel.Entry)
    /// A layer's time-aware activation parameters.
    case activation(layer: String)
  }

  /// The underlying model.
  public let model: SafetensorsModel
  /// Everything in the file, in file order (companions folded into their tensor).
  public let entries: [Entry]
  /// Metadata not belonging to the Arrowhead format (e.g. the source model's).
  public let userMetadata: [String: String]
  private let quantizedByName: [String: QuantizedTensorInfo]
  /// The engine whose kernels unpack what is loaded.
  public let engine: Engine

  /// Opens `path`; kernels run on `engine`. Throws `.invalidQuantizedFile` if it is not an
  /// Arrowhead quantized file, has another format version, or holds a malformed tensor
  /// description.
  public init(path: String, engine: Engine = .default) throws(QuantizationError) {
    self.engine = engine
    do {
      model = try SafetensorsModel(path: path)
    } catch {
      throw .file(error)
    }
    let metadata = model.metadata
    guard metadata[QuantizedModelFormat.formatKey] == "quantized" else {
      throw .invalidQuantizedFile(file: path, tensor: nil, reason: "no '\(QuantizedModelFormat.formatKey)' = 'quantized' metadata: not an Arrowhead quantized file")
    }
    guard metadata[QuantizedModelFormat.versionKey] == String(QuantizedModelFormat.version) else {
      throw .invalidQuantizedFile(
        file: path, tensor: nil,
        reason: "format version \(metadata[QuantizedModelFormat.versionKey] ?? "missing"); this reader understands version \(QuantizedModelFormat.version)")
    }
    var quantized: [String: QuantizedTensorInfo] = [:]
    var layers = Set<String>()
    var user: [String: String] = [:]
    for (key, value) in metadata {
      if key.hasPrefix(QuantizedModelFormat.tensorKeyPrefix) {
        let name = String(key.dropFirst(QuantizedModelFormat.tensorKeyPrefix.count))
        quantized[name] = try Self.parseDescription(value, name: name, file: path)
      } else if key.hasPrefix(QuantizedModelFormat.activationKeyPrefix) {
        layers.insert(String(key.dropFirst(QuantizedModelFormat.activationKeyPrefix.count)))
      } else if key != QuantizedModelFormat.formatKey && key != QuantizedModelFormat.versionKey {
        user[key] = value
      }
    }
    // File order: a quantized tensor appears where its codes are; activations where their scales are.
    var entries: [Entry] = []
    for entry in model.entries {
      let name = entry.name
      if name.hasSuffix(".__codes"), let info = quantized[String(name.dropLast(".__codes".count))] {
        entries.append(.quantized(info))
      } else if name.hasSuffix(".__act_scales"), layers.contains(String(name.dropLast(".__act_scales".count))) {
        entries.append(.activation(layer: String(name.dropLast(".__act_scales".count))))
      } else if Self.isCompanion(name, quantized: quantized, layers: layers) {
        continue
      } else {
        entries.append(.plain(entry))
      }
    }
    for name in quantized.keys.sorted() where model.entry(QuantizedModelFormat.codesName(name)) == nil {
      throw .invalidQuantizedFile(file: path, tensor: name, reason: "described in the metadata but '\(QuantizedModelFormat.codesName(name))' is missing")
    }
    self.entries = entries
    self.userMetadata = user
    self.quantizedByName = quantized
  }

  static func isCompanion(_ name: String, quantized: [String: QuantizedTensorInfo], layers: Set<String>) -> Bool {
    for suffix in [".__scales", ".__minimums", ".__zero_points"] where name.hasSuffix(suffix) {
      if quantized[String(name.dropLast(suffix.count))] != nil { return true }
    }
    for suffix in [".__act_offsets", ".__act_group_starts", ".__act_timestep_scales", ".__act_timestep_offsets"] where name.hasSuffix(suffix) {
      if layers.contains(String(name.dropLast(suffix.count))) { return true }
    }
    return false
  }

  static func parseDescription(_ text: String, name: String, file: String) throws(QuantizationError) -> QuantizedTensorInfo {
    func invalid(_ reason: String) -> QuantizationError { .invalidQuantizedFile(file: file, tensor: name, reason: reason) }
    let json: JSONValue
    do {
      json = try JSONValue.parse(Array(text.utf8))
    } catch {
      throw invalid("malformed description JSON: \(error)")
    }
    guard let bits = json["bits"]?.integer, let granularityName = json["granularity"]?.string,
      let modeName = json["mode"]?.string, let mode = QuantizationMode(fileName: modeName),
      let shapeValues = json["shape"]?.array, let dtypeName = json["dtype"]?.string,
      let dtype = SafetensorsDType(rawValue: dtypeName)
    else {
      throw invalid("description lacks bits, granularity, mode, shape or dtype: \(text)")
    }
    let shape = shapeValues.compactMap(\.integer)
    guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else { throw invalid("invalid shape in \(text)") }
    let granularity: QuantizationGranularity
    switch granularityName {
    case "tensor": granularity = .perTensor
    case "channel": granularity = .perChannel
    case "group":
      guard let size = json["group_size"]?.integer else { throw invalid("granularity 'group' without group_size") }
      granularity = .perGroup(size)
    default: throw invalid("unknown granularity '\(granularityName)' (known: tensor, channel, group)")
    }
    let scheme: QuantizationScheme
    do {
      scheme = try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
    } catch {
      throw invalid(error.description)
    }
    return QuantizedTensorInfo(name: name, scheme: scheme, shape: shape, sourceDType: dtype, optimizer: json["optimizer"]?.string ?? "unknown")
  }

  /// The description of quantized tensor `name`, or nil.
  public func info(_ name: String) -> QuantizedTensorInfo? { quantizedByName[name] }

  /// Loads quantized tensor `name`, checking its companions' dtypes and shapes and its
  /// parameters (`QuantizedTensor.init(shape:scheme:packedCodes:scales:offsets:)`).
  public func tensor(_ name: String) throws(QuantizationError) -> QuantizedTensor {
    guard let info = quantizedByName[name] else {
      throw .invalidQuantizedFile(file: model.path, tensor: name, reason: "no quantized tensor of this name")
    }
    let layout = info.scheme.layout(shape: info.shape)
    let parameterShape = QuantizedModelFormat.parameterShape(layout)
    let codes = try bytes(QuantizedModelFormat.codesName(name), dtype: .u8, shape: [layout.rows, layout.rowByteCount], owner: name)
    let scales = try floats(QuantizedModelFormat.scalesName(name), shape: parameterShape, owner: name)
    let offsets: [Float]
    switch info.scheme.mode {
    case .floatMinimum:
      offsets = try floats(QuantizedModelFormat.minimumsName(name), shape: parameterShape, owner: name)
    case .zeroPoint:
      let packed = try bytes(QuantizedModelFormat.zeroPointsName(name), dtype: .u8, shape: [layout.offsetByteCount], owner: name)
      var unpacked = [UInt8](repeating: 0, count: layout.groupCount)
      if layout.groupCount > 0 {
        BitPacking.unpack(count: layout.groupCount, bits: info.scheme.bits, packed, &unpacked, engine: engine)
      }
      offsets = unpacked.map(Float.init)
    case .symmetric:
      offsets = [Float](repeating: Float(info.scheme.symmetricZeroPoint), count: layout.groupCount)
    }
    return try QuantizedTensor(shape: info.shape, scheme: info.scheme, packedCodes: codes, scales: scales, offsets: offsets, name: name)
  }

  /// Loads layer `layer`'s activation parameters.
  public func activationParameters(_ layer: String) throws(QuantizationError) -> StoredActivationParameters {
    guard let text = model.metadata[QuantizedModelFormat.activationKeyPrefix + layer] else {
      throw .invalidQuantizedFile(file: model.path, tensor: layer, reason: "no activation parameters for this layer")
    }
    func invalid(_ reason: String) -> QuantizationError { .invalidQuantizedFile(file: model.path, tensor: layer, reason: reason) }
    let json: JSONValue
    do {
      json = try JSONValue.parse(Array(text.utf8))
    } catch {
      throw invalid("malformed activation description: \(error)")
    }
    guard let timesteps = json["timesteps"]?.integer, let groups = json["groups"]?.integer, let bits = json["bits"]?.integer,
      let mode = json["mode"]?.string.flatMap(QuantizationMode.init(fileName:))
    else { throw invalid("activation description lacks timesteps, groups, bits or mode") }
    let grouping = try TimeGrouping(timesteps: timesteps, groups: groups)
    let scales = try floats(layer + ".__act_scales", shape: [groups], owner: layer)
    let offsets = try floats(layer + ".__act_offsets", shape: [groups], owner: layer)
    var table: [AffineParameters]?
    if model.entry(layer + ".__act_timestep_scales") != nil {
      let timestepScales = try floats(layer + ".__act_timestep_scales", shape: [timesteps], owner: layer)
      let timestepOffsets = try floats(layer + ".__act_timestep_offsets", shape: [timesteps], owner: layer)
      table = zip(timestepScales, timestepOffsets).map { AffineParameters(scale: $0, offset: $1) }
    }
    return StoredActivationParameters(
      layer: layer, grouping: grouping, bits: bits, mode: mode,
      groupParameters: zip(scales, offsets).map { AffineParameters(scale: $0, offset: $1) }, timestepParameters: table,
      optimizer: json["optimizer"]?.string)
  }

  private func companion(_ name: String, dtype: SafetensorsDType, shape: [Int], owner: String) throws(QuantizationError) -> SafetensorsModel.Entry {
    guard let entry = model.entry(name) else {
      throw .invalidQuantizedFile(file: model.path, tensor: owner, reason: "companion tensor '\(name)' is missing")
    }
    guard entry.info.dtype == dtype, entry.info.shape == shape else {
      throw .invalidQuantizedFile(
        file: entry.file.path, tensor: owner,
        reason: "companion '\(name)' is \(entry.info.dtype.rawValue) \(entry.info.shape), expected \(dtype.rawValue) \(shape)")
    }
    return entry
  }

  private func bytes(_ name: String, dtype: SafetensorsDType, shape: [Int], owner: String) throws(QuantizationError) -> [UInt8] {
    let entry = try companion(name, dtype: dtype, shape: shape, owner: owner)
    return Array(entry.file.bytes(of: entry.info))
  }

  private func floats(_ name: String, shape: [Int], owner: String) throws(QuantizationError) -> [Float] {
    let entry = try companion(name, dtype: .f32, shape: shape, owner: owner)
    do {
      return try entry.file.floats(name)
    } catch {
      throw .file(error)
    }
  }
}
