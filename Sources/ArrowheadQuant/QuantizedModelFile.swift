import ArrowheadCore
import ArrowheadIO

/// A quantized tensor's description read from a file's metadata.
public struct QuantizedTensorInfo: Sendable, Hashable {
  /// The tensor's name (without companion suffixes).
  public var name: String
  /// Its scheme.
  public var scheme: QuantizationScheme
  /// The original shape (checked when the file was opened: no negative dimension, at most
  /// `QuantizedModelFormat.maximumElements` weights).
  public internal(set) var shape: [Int]
  /// The original dtype.
  public var sourceDType: SafetensorsDType
  /// The optimizer that chose its parameters.
  public var optimizer: String
  /// Stored bytes (codes and parameters).
  public var storedByteCount: Int { layout.storedByteCount }
  /// The tensor's layout under its scheme.
  public var layout: QuantizationLayout { QuantizationLayout(shape: shape, scheme: scheme) }
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
/// `QuantizedModelFormat`. The version, the tensor descriptions and (version 2) every
/// checksum are checked on open; companion tensors' dtypes, shapes and parameters when a
/// tensor is loaded.
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

  /// The file's format version (1 or 2).
  public let formatVersion: Int

  /// Opens `path`; kernels run on `engine`. Throws `.invalidQuantizedFile` if it is not an
  /// Arrowhead quantized file, has a version this reader does not know, holds a malformed
  /// tensor description, or (version 2, with `verifyChecksums`) a tensor or metadata entry
  /// whose checksum does not match — which reads every tensor once (~1–2 GB/s).
  public init(path: String, verifyChecksums: Bool = true, engine: Engine = .default) throws(QuantizationError) {
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
    guard let versionText = metadata[QuantizedModelFormat.versionKey], let version = Int(versionText),
      QuantizedModelFormat.readableVersions.contains(version)
    else {
      throw .invalidQuantizedFile(
        file: path, tensor: nil,
        reason: "format version \(metadata[QuantizedModelFormat.versionKey] ?? "missing"); this reader understands versions \(QuantizedModelFormat.readableVersions.map(String.init).joined(separator: ", "))")
    }
    formatVersion = version
    if version >= 2 && verifyChecksums {
      try Self.verifyChecksums(model, path: path)
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
      } else if key != QuantizedModelFormat.formatKey && key != QuantizedModelFormat.versionKey && key != QuantizedModelFormat.checksumsKey {
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

  /// Checks the version 2 checksums: of the metadata, and of every tensor (each tensor
  /// must have one, and every checksum must name a tensor).
  static func verifyChecksums(_ model: SafetensorsModel, path: String) throws(QuantizationError) {
    func invalid(_ tensor: String?, _ reason: String) -> QuantizationError { .invalidQuantizedFile(file: path, tensor: tensor, reason: reason) }
    guard let text = model.metadata[QuantizedModelFormat.checksumsKey] else {
      throw invalid(nil, "format version 2 without '\(QuantizedModelFormat.checksumsKey)' metadata")
    }
    let json: JSONValue
    do {
      json = try JSONValue.parse(Array(text.utf8))
    } catch {
      throw invalid(nil, "malformed '\(QuantizedModelFormat.checksumsKey)': \(error)")
    }
    guard json["algorithm"]?.string == "crc32", let metadataHex = json["metadata"]?.string,
      let storedMetadata = UInt32(hex: metadataHex), let tensorMembers = json["tensors"]?.members
    else {
      throw invalid(nil, "'\(QuantizedModelFormat.checksumsKey)' lacks algorithm \"crc32\", metadata or tensors")
    }
    let computedMetadata = SafetensorsChecksum.metadata(model.metadata, excluding: QuantizedModelFormat.checksumsKey)
    guard computedMetadata == storedMetadata else {
      throw invalid(nil, "metadata checksum \(SafetensorsChecksum.hex(computedMetadata)) ≠ stored \(metadataHex): the header was altered")
    }
    var stored: [String: UInt32] = [:]
    for (name, value) in tensorMembers {
      guard let hex = value.string, let checksum = UInt32(hex: hex) else { throw invalid(name, "checksum '\(value.serialized)' is not 8 hexadecimal digits") }
      stored[name] = checksum
    }
    for entry in model.entries {
      guard let expected = stored.removeValue(forKey: entry.name) else {
        throw invalid(entry.name, "the tensor has no checksum (added after the file was written?)")
      }
      let computed = SafetensorsChecksum.tensor(
        name: entry.name, dtype: entry.info.dtype, shape: entry.info.shape, bytes: entry.file.bytes(of: entry.info))
      guard computed == expected else {
        throw invalid(entry.name, "checksum \(SafetensorsChecksum.hex(computed)) ≠ stored \(SafetensorsChecksum.hex(expected)): the tensor's bytes were altered")
      }
    }
    if let missing = stored.keys.min() {
      throw invalid(missing, "a checksum names this tensor but the file does not hold it")
    }
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
    // The layout multiplies the dimensions (and the columns by the bit width): keep the
    // product far from overflow. 2⁴⁸ weights is beyond any file this reader could map.
    // Zeros aside: the layout multiplies the trailing dimensions on their own.
    var elements = 1
    for dimension in shape where dimension > 0 {
      let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= QuantizedModelFormat.maximumElements else {
        throw invalid("shape \(shape) holds more than \(QuantizedModelFormat.maximumElements) weights")
      }
      elements = product
    }
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
    let layout = info.layout
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
    return try QuantizedTensor(
      shape: info.shape, scheme: info.scheme, packedCodes: codes, scales: scales, offsets: offsets, name: name, engine: engine)
  }

  /// Loads layer `layer`'s activation parameters. Throws `.invalidQuantizedFile` naming the
  /// file and the layer when its description, grouping, companions or parameters are not
  /// what the writer stores.
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
    guard QuantizationScheme.supportedBits.contains(bits) else {
      throw invalid("activation bits \(bits) is not one of \(QuantizationScheme.supportedBits.map(String.init).joined(separator: ", "))")
    }
    let grouping: TimeGrouping
    do {
      grouping = try TimeGrouping(timesteps: timesteps, groups: groups)
    } catch {
      // The grouping's own message names neither the file nor the layer.
      throw invalid("activation description: \(error.description)")
    }
    let scales = try floats(layer + ".__act_scales", shape: [groups], owner: layer)
    let offsets = try floats(layer + ".__act_offsets", shape: [groups], owner: layer)
    // The checks of the weights' parameters (storable, every code finite): parameters that
    // fail them were not written by the quantizer, and would quantize activations to ±∞/NaN.
    func checked(_ scales: [Float], _ offsets: [Float], _ what: String) throws(QuantizationError) -> [AffineParameters] {
      var parameters: [AffineParameters] = []
      parameters.reserveCapacity(scales.count)
      for (index, (scale, offset)) in zip(scales, offsets).enumerated() {
        let p = AffineParameters(scale: scale, offset: offset)
        if let problem = p.storageProblem(bits: bits, mode: mode) ?? p.reconstructionProblem(bits: bits, mode: mode) {
          throw invalid("activation \(what) \(index): \(problem)")
        }
        parameters.append(p)
      }
      return parameters
    }
    let groupParameters = try checked(scales, offsets, "time group")
    var table: [AffineParameters]?
    if model.entry(layer + ".__act_timestep_scales") != nil {
      let timestepScales = try floats(layer + ".__act_timestep_scales", shape: [timesteps], owner: layer)
      let timestepOffsets = try floats(layer + ".__act_timestep_offsets", shape: [timesteps], owner: layer)
      table = try checked(timestepScales, timestepOffsets, "timestep")
    }
    return StoredActivationParameters(
      layer: layer, grouping: grouping, bits: bits, mode: mode, groupParameters: groupParameters, timestepParameters: table,
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

extension UInt32 {
  /// Parses exactly eight hexadecimal digits.
  init?(hex text: String) {
    guard text.utf8.count == 8, let value = UInt32(text, radix: 16) else { return nil }
    self = value
  }
}
