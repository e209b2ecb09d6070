import ArrowheadCore
import ArrowheadIO

/// The Arrowhead quantized safetensors format, version 1.
///
/// A quantized model is an ordinary safetensors file. A quantized tensor `W` of shape S is
/// stored as companion tensors
///
/// | name             | dtype | shape                       | content                                  |
/// |------------------|-------|-----------------------------|------------------------------------------|
/// | `W.__codes`      | U8    | [rows, ⌈columns·b/8⌉]       | codes, each row a little-endian bit stream |
/// | `W.__scales`     | F32   | [rows, groups per row] ([1] per tensor) | scales                        |
/// | `W.__minimums`   | F32   | as scales                   | float minima (`float_minimum` mode only) |
/// | `W.__zero_points`| U8    | [⌈groups·b/8⌉]              | zero-points packed with b bits (`zero_point` only) |
///
/// (symmetric tensors store no offsets: z = 2^(b−1)), and a `__metadata__` entry
/// `arrowhead.q.W` holding JSON: `{"bits": 4, "granularity": "group", "group_size": 64,
/// "mode": "float_minimum", "shape": [384, 384], "dtype": "F32", "optimizer": "minmax"}`
/// (`granularity` is `group`, `channel` or `tensor`; `dtype` is the original's).
/// Rows and columns follow `QuantizationGranularity`; the bit order is that of
/// `BitPacking`. Tensors kept in floating point or passed through keep their own name and
/// dtype. Time-aware activation parameters of layer L are stored as `L.__act_scales`,
/// `L.__act_offsets` (F32 [G]), `L.__act_group_starts` (I32 [G + 1]) and, with smoothing,
/// `L.__act_timestep_scales` / `L.__act_timestep_offsets` (F32 [T]), described by
/// `arrowhead.act.L` = `{"timesteps": T, "groups": G, "bits": 8, "mode": "zero_point",
/// "range": "minmax", "smoothing": "cubic", "window": 5, "smoothness": 0.93}` (plus
/// `"optimizer"`, `"objective"` and `"fallback_groups"` when an optimizer or the held-out
/// check chose the group parameters).
/// The file-level keys are `arrowhead.format` = `quantized` and
/// `arrowhead.format_version` = `2`.
///
/// Version 2 adds `arrowhead.checksums` = `{"algorithm": "crc32", "metadata": "89abcdef",
/// "tensors": {"W.__codes": "01234567", …}}`: a CRC-32 of every tensor (its name, dtype,
/// shape and bytes: `SafetensorsChecksum.tensor`) and of every other metadata entry
/// (`SafetensorsChecksum.metadata`), checked when the file is opened. Version 1 (the same
/// layout without checksums) is still read; other versions are refused.
public enum QuantizedModelFormat {
  /// The format version this library writes.
  public static let version = 2
  /// The versions this library reads (1: no checksums).
  public static let readableVersions = [1, 2]
  /// The most weights a quantized tensor's description may declare (2⁴⁸).
  public static let maximumElements = 1 << 48
  /// Metadata key of the checksums (version 2).
  public static let checksumsKey = "arrowhead.checksums"
  /// Metadata key of the format marker.
  public static let formatKey = "arrowhead.format"
  /// Metadata key of the version.
  public static let versionKey = "arrowhead.format_version"
  /// Metadata key prefix of a quantized tensor's description.
  public static let tensorKeyPrefix = "arrowhead.q."
  /// Metadata key prefix of a layer's time-aware activation description.
  public static let activationKeyPrefix = "arrowhead.act."

  /// Companion tensor names of quantized tensor `name`.
  public static func codesName(_ name: String) -> String { name + ".__codes" }
  /// The scales' name.
  public static func scalesName(_ name: String) -> String { name + ".__scales" }
  /// The float minima's name.
  public static func minimumsName(_ name: String) -> String { name + ".__minimums" }
  /// The packed zero-points' name.
  public static func zeroPointsName(_ name: String) -> String { name + ".__zero_points" }

  static func granularityName(_ granularity: QuantizationGranularity) -> String {
    switch granularity {
    case .perTensor: "tensor"
    case .perChannel: "channel"
    case .perGroup: "group"
    }
  }

  /// The JSON description of a quantized tensor.
  static func description(of tensor: QuantizedTensor, sourceDType: SafetensorsDType, optimizer: String) -> String {
    var members: [(key: String, value: JSONValue)] = [
      ("bits", .integer(tensor.scheme.bits)),
      ("granularity", .string(granularityName(tensor.scheme.granularity))),
    ]
    if case .perGroup(let size) = tensor.scheme.granularity { members.append(("group_size", .integer(size))) }
    members += [
      ("mode", .string(tensor.scheme.mode.fileName)),
      ("shape", .array(tensor.shape.map { .integer($0) })),
      ("dtype", .string(sourceDType.rawValue)),
      ("optimizer", .string(optimizer)),
    ]
    return JSONValue.object(members).serialized
  }

  /// The `arrowhead.checksums` value.
  static func checksumsJSON(metadata: UInt32, tensors: [String: UInt32]) -> String {
    JSONValue.object([
      ("algorithm", .string("crc32")),
      ("metadata", .string(SafetensorsChecksum.hex(metadata))),
      ("tensors", .object(tensors.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string(SafetensorsChecksum.hex($0.value))) })),
    ]).serialized
  }

  /// The stored shape of scales (and float minima).
  static func parameterShape(_ layout: QuantizationLayout) -> [Int] {
    layout.scheme.granularity == .perTensor ? [layout.groupCount] : [layout.rows, layout.groupsPerRow]
  }
}

/// Writes a quantized model tensor by tensor (see `QuantizedModelFormat`); memory stays
/// near one tensor (`SafetensorsWriter` spills to disk).
public final class QuantizedModelWriter {
  /// The underlying writer.
  public let writer: SafetensorsWriter
  private var metadata: [String: String]
  /// The engine whose kernels pack zero-points.
  private let engine: Engine

  /// Prepares to write `path`; `metadata` (e.g. the source's) is kept alongside the format
  /// keys; kernels run on `engine`.
  /// `baseline`: the destination when the job began (default: now); the file is not
  /// written if another writer replaced it since.
  public init(
    path: String, metadata: [String: String] = [:], engine: Engine = .default, baseline: AtomicFile.Baseline? = nil
  ) throws(QuantizationError) {
    self.engine = engine
    do {
      writer = try SafetensorsWriter(path: path, recordingChecksums: true, baseline: baseline)
    } catch {
      throw .file(error)
    }
    self.metadata = metadata
    self.metadata[QuantizedModelFormat.formatKey] = "quantized"
    self.metadata[QuantizedModelFormat.versionKey] = String(QuantizedModelFormat.version)
  }

  /// Adds quantized tensor `name`.
  public func add(_ name: String, _ tensor: QuantizedTensor, sourceDType: SafetensorsDType = .f32, optimizer: String = "minmax") throws(QuantizationError) {
    let layout = tensor.layout
    let parameterShape = QuantizedModelFormat.parameterShape(layout)
    do {
      try writer.add(QuantizedModelFormat.codesName(name), dtype: .u8, shape: [layout.rows, layout.rowByteCount], values: tensor.packedCodes)
      try writer.add(QuantizedModelFormat.scalesName(name), dtype: .f32, shape: parameterShape, values: tensor.scales)
      switch tensor.scheme.mode {
      case .floatMinimum:
        try writer.add(QuantizedModelFormat.minimumsName(name), dtype: .f32, shape: parameterShape, values: tensor.offsets)
      case .zeroPoint:
        let codes = tensor.offsets.map { UInt8($0) }  // checked integral in 0…2ᵇ − 1 by QuantizedTensor
        var packed = [UInt8](repeating: 0, count: layout.offsetByteCount)
        if !codes.isEmpty {
          BitPacking.pack(count: codes.count, bits: tensor.scheme.bits, codes, &packed, engine: engine)
        }
        try writer.add(QuantizedModelFormat.zeroPointsName(name), dtype: .u8, shape: [packed.count], values: packed)
      case .symmetric:
        break
      }
    } catch {
      throw .file(error)
    }
    metadata[QuantizedModelFormat.tensorKeyPrefix + name] = QuantizedModelFormat.description(of: tensor, sourceDType: sourceDType, optimizer: optimizer)
  }

  /// Adds a floating-point tensor stored as `dtype`.
  public func add(_ name: String, floats: UnsafeBufferPointer<Float>, shape: [Int], dtype: SafetensorsDType) throws(QuantizationError) {
    do {
      try writer.add(name, shape: shape, floats: floats, as: dtype)
    } catch {
      throw .file(error)
    }
  }

  /// Copies a tensor of an input file unchanged.
  public func addCopy(of tensor: SafetensorsTensorInfo, from file: SafetensorsFile) throws(QuantizationError) {
    do {
      try writer.addCopy(of: tensor, from: file)
    } catch {
      throw .file(error)
    }
  }

  /// Adds a layer's time-aware activation parameters; `optimizer` names what chose the group
  /// parameters when it was not the range estimator's min-max (stored as `"optimizer"`),
  /// `objective` what they were fitted on (`"objective"`: output or input) and `validation`
  /// the held-out check's fallback groups (`"fallback_groups"`, present when it ran).
  ///
  /// - Throws: before anything is written, `.unsupportedBits` for activation bits the reader
  ///   does not accept, `.invalidTimeGrouping` naming the layer when there is not one
  ///   parameter pair per time group (and, with a table, per timestep), and
  ///   `.invalidParameters` naming the layer and the group (or timestep) for parameters the
  ///   reader would refuse (`AffineParameters.storageProblem(bits:mode:)` or
  ///   `reconstructionProblem(bits:mode:)`: e.g. a NaN scale) — such a file used to be
  ///   written, and only reading it failed. O(G + T).
  public func add(
    _ activations: TimeAwareActivationParameters, smoothing: BoundarySmoothing?, estimator: ActivationRangeEstimator,
    optimizer: String? = nil, objective: String? = nil, validation: ActivationValidation? = nil
  ) throws(QuantizationError) {
    let layer = activations.layer
    let grouping = activations.grouping
    try activations.checkStorable()
    do {
      try writer.add(layer + ".__act_scales", dtype: .f32, shape: [grouping.groups], values: activations.groupParameters.map(\.scale))
      try writer.add(layer + ".__act_offsets", dtype: .f32, shape: [grouping.groups], values: activations.groupParameters.map(\.offset))
      try writer.add(layer + ".__act_group_starts", dtype: .i32, shape: [grouping.groups + 1], values: grouping.boundaries.map { Int32($0) })
      if let table = activations.timestepParameters {
        try writer.add(layer + ".__act_timestep_scales", dtype: .f32, shape: [table.count], values: table.map(\.scale))
        try writer.add(layer + ".__act_timestep_offsets", dtype: .f32, shape: [table.count], values: table.map(\.offset))
      }
    } catch {
      throw .file(error)
    }
    var members: [(key: String, value: JSONValue)] = [
      ("timesteps", .integer(grouping.timesteps)), ("groups", .integer(grouping.groups)),
      ("bits", .integer(activations.bits)), ("mode", .string(activations.mode.fileName)),
      ("range", .string(estimator.description)),
      ("smoothness", .number(activations.groupSmoothness.score)),
    ]
    if let optimizer { members.append(("optimizer", .string(optimizer))) }
    if let objective { members.append(("objective", .string(objective))) }
    if let validation { members.append(("fallback_groups", .array(validation.fallbackGroups.map { .integer($0) }))) }
    if let smoothing {
      members += [("smoothing", .string(smoothing.curve.rawValue)), ("window", .integer(smoothing.window))]
    }
    metadata[QuantizedModelFormat.activationKeyPrefix + layer] = JSONValue.object(members).serialized
  }

  /// Writes the file atomically, with the checksums of every tensor and of the metadata.
  public func finish() throws(QuantizationError) {
    var final = metadata
    final[QuantizedModelFormat.checksumsKey] = QuantizedModelFormat.checksumsJSON(
      metadata: SafetensorsChecksum.metadata(final, excluding: QuantizedModelFormat.checksumsKey), tensors: writer.checksums)
    writer.metadata = final
    do {
      try writer.finish()
    } catch {
      throw .file(error)
    }
  }
}
