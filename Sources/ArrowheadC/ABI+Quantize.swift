import Arrowhead
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import CArrowhead

// Quantized tensors (quantize one float32 tensor, read its parts back) and whole-model
// quantization of safetensors files.

/// Most dimensions a tensor may have through the ABI (a bound on the shape array read).
private let maximumRank = 32

/// Implements `ah_quantize` of arrowhead.h: quantizes a row-major float32 tensor of `shape`
/// with the given scheme and optimizer (NULL: "minmax"; "signed-max" only with
/// `AH_MODE_SYMMETRIC`).
@c @implementation
public func ah_quantize(
  _ engine: OpaquePointer?, _ values: UnsafePointer<Float>?, _ shape: UnsafePointer<Int64>?, _ ndim: Int32,
  _ bits: Int32, _ granularity: Int32, _ group_size: Int64, _ mode: Int32, _ optimizer: UnsafePointer<CChar>?,
  _ optimizer_settings: UnsafePointer<CChar>?, _ tensor: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let out = try Argument.required(tensor, "tensor")
    let (dimensions, count) = try Argument.shape(shape, ndim: ndim)
    let scheme = try Scheme.make(bits: bits, granularity: granularity, groupSize: group_size, mode: mode)
    let name = optimizer.map { String(cString: $0) } ?? "minmax"
    if name == "signed-max" && scheme.mode != .symmetric {
      throw ABIError(.invalidArgument, "optimizer 'signed-max' chooses symmetric scales (ggml Q4_0's rule): it needs AH_MODE_SYMMETRIC")
    }
    let settings = try Scheme.settings(optimizer_settings.map { String(cString: $0) }, for: name)
    let quantizer = Quantizer(scheme: scheme, optimizer: try OptimizerCatalog.make(name: name, settings: settings), engine: kernels)
    let quantized = try quantizer.quantize(try Argument.buffer(values, count: count, "values"), shape: dimensions, name: "values")
    out.pointee = registry.handle(for: .tensor(quantized))
  }
}

/// Implements `ah_tensor_create` of arrowhead.h: a quantized tensor from its packed codes,
/// scales and offsets, each checked against the shape and scheme, then copied.
@c @implementation
public func ah_tensor_create(
  _ engine: OpaquePointer?, _ shape: UnsafePointer<Int64>?, _ ndim: Int32, _ bits: Int32, _ granularity: Int32,
  _ group_size: Int64, _ mode: Int32, _ packed_codes: UnsafePointer<UInt8>?, _ packed_bytes: Int64,
  _ scales: UnsafePointer<Float>?, _ offsets: UnsafePointer<Float>?, _ group_count: Int64,
  _ tensor: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  tensorFromParts(engine, shape, ndim, bits, granularity, group_size, mode, scales, offsets, group_count, tensor) {
    dimensions, scheme, scaleValues, offsetValues, kernels in
    let bytes = try Argument.buffer(packed_codes, count: try Argument.count(packed_bytes, "packed_bytes"), "packed_codes")
    return try QuantizedTensor(
      shape: dimensions, scheme: scheme, packedCodes: Array(bytes), scales: scaleValues, offsets: offsetValues, name: "tensor",
      engine: kernels)
  }
}

/// Implements `ah_tensor_create_from_codes` of arrowhead.h: `ah_tensor_create` from one
/// unpacked code per weight instead of the packed stream.
@c @implementation
public func ah_tensor_create_from_codes(
  _ engine: OpaquePointer?, _ shape: UnsafePointer<Int64>?, _ ndim: Int32, _ bits: Int32, _ granularity: Int32,
  _ group_size: Int64, _ mode: Int32, _ codes: UnsafePointer<UInt8>?, _ count: Int64,
  _ scales: UnsafePointer<Float>?, _ offsets: UnsafePointer<Float>?, _ group_count: Int64,
  _ tensor: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  tensorFromParts(engine, shape, ndim, bits, granularity, group_size, mode, scales, offsets, group_count, tensor) {
    dimensions, scheme, scaleValues, offsetValues, kernels in
    let values = try Argument.buffer(codes, count: try Argument.count(count, "count"), "codes")
    let parameters = zip(scaleValues, offsetValues).map { AffineParameters(scale: $0, offset: $1) }
    return try QuantizedTensor(
      shape: dimensions, scheme: scheme, codes: Array(values), parameters: parameters, name: "tensor", engine: kernels)
  }
}

/// What `ah_tensor_create` and `ah_tensor_create_from_codes` share: the engine, output,
/// shape, scheme and parameter arguments checked in that order, then `make` builds the tensor
/// from its codes (the part in which the two differ).
private func tensorFromParts(
  _ engine: OpaquePointer?, _ shape: UnsafePointer<Int64>?, _ ndim: Int32, _ bits: Int32, _ granularity: Int32,
  _ groupSize: Int64, _ mode: Int32, _ scales: UnsafePointer<Float>?, _ offsets: UnsafePointer<Float>?, _ groupCount: Int64,
  _ tensor: UnsafeMutablePointer<OpaquePointer?>?,
  _ make: (_ shape: [Int], _ scheme: QuantizationScheme, _ scales: [Float], _ offsets: [Float], _ engine: Engine) throws -> QuantizedTensor
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let out = try Argument.required(tensor, "tensor")
    let (dimensions, _) = try Argument.shape(shape, ndim: ndim)
    let scheme = try Scheme.make(bits: bits, granularity: granularity, groupSize: groupSize, mode: mode)
    let (scaleValues, offsetValues) = try Argument.parameters(scales, offsets, count: groupCount)
    out.pointee = registry.handle(for: .tensor(try make(dimensions, scheme, scaleValues, offsetValues, kernels)))
  }
}

extension Argument {
  /// The dimensions of a tensor's `shape` (`ndim` values, 0 … 32) and their product,
  /// each checked.
  static func shape(_ shape: UnsafePointer<Int64>?, ndim: Int32) throws(ABIError) -> (dimensions: [Int], count: Int) {
    guard ndim >= 0, ndim <= maximumRank else {
      throw ABIError(.invalidArgument, "ndim = \(ndim); expected 0 … \(maximumRank)")
    }
    var dimensions: [Int] = []
    var count = 1
    for (axis, extent) in try Argument.buffer(shape, count: Int(ndim), "shape").enumerated() {
      let size = try Argument.count(extent, "shape[\(axis)]")
      dimensions.append(size)
      count = try Argument.product(count, size, "shape")
    }
    return (dimensions, count)
  }

  /// `count` scales and `count` offsets, copied.
  static func parameters(
    _ scales: UnsafePointer<Float>?, _ offsets: UnsafePointer<Float>?, count: Int64
  ) throws(ABIError) -> (scales: [Float], offsets: [Float]) {
    let groups = try Argument.count(count, "group_count")
    return (Array(try Argument.buffer(scales, count: groups, "scales")), Array(try Argument.buffer(offsets, count: groups, "offsets")))
  }
}

/// Conversions between the header's scheme constants and `QuantizationScheme`.
enum Scheme {
  /// The scheme of `bits`, `granularity` (AH_GRANULARITY_*, with `groupSize` for groups)
  /// and `mode` (AH_MODE_*).
  static func make(bits: Int32, granularity: Int32, groupSize: Int64, mode: Int32) throws -> QuantizationScheme {
    try QuantizationScheme(bits: Int(bits), granularity: try Scheme.granularity(granularity, groupSize: groupSize), mode: try Scheme.mode(mode))
  }

  static func granularity(_ value: Int32, groupSize: Int64) throws(ABIError) -> QuantizationGranularity {
    switch Int(value) {
    case AH_GRANULARITY_GROUP: return .perGroup(try Argument.count(groupSize, "group_size"))
    case AH_GRANULARITY_CHANNEL: return .perChannel
    case AH_GRANULARITY_TENSOR: return .perTensor
    default:
      throw ABIError(.invalidArgument, "granularity \(value) is unknown; expected AH_GRANULARITY_GROUP (0), _CHANNEL (1) or _TENSOR (2)")
    }
  }

  static func mode(_ value: Int32) throws(ABIError) -> QuantizationMode {
    switch Int(value) {
    case AH_MODE_FLOAT_MINIMUM: return .floatMinimum
    case AH_MODE_ZERO_POINT: return .zeroPoint
    case AH_MODE_SYMMETRIC: return .symmetric
    default:
      throw ABIError(.invalidArgument, "mode \(value) is unknown; expected AH_MODE_FLOAT_MINIMUM (0), _ZERO_POINT (1) or _SYMMETRIC (2)")
    }
  }

  static func code(of mode: QuantizationMode) -> Int32 {
    switch mode {
    case .floatMinimum: Int32(AH_MODE_FLOAT_MINIMUM)
    case .zeroPoint: Int32(AH_MODE_ZERO_POINT)
    case .symmetric: Int32(AH_MODE_SYMMETRIC)
    }
  }

  /// Optimizer settings from a JSON object whose values are strings, numbers or booleans
  /// (as `--optimizer-option KEY=VALUE` spells them).
  static func settings(_ json: String?, for optimizer: String) throws -> [String: String] {
    guard let json else { return [:] }
    let value = try JSONValue.parse(Array(json.utf8))
    guard let members = value.members else {
      throw ABIError(.invalidArgument, "optimizer settings for '\(optimizer)' must be a JSON object, got \(value.typeName)")
    }
    var result: [String: String] = [:]
    for (key, member) in members { result[key] = try OptionReader.text(member, "optimizer setting '\(key)'") }
    return result
  }
}

/// Implements `ah_tensor_describe` of arrowhead.h: fills `info` with bits, granularity, mode,
/// shape summary, group count and byte sizes.
@c @implementation
public func ah_tensor_describe(_ tensor: OpaquePointer?, _ info: UnsafeMutablePointer<ah_tensor_info>?) -> ah_status {
  abiCall {
    let quantized = try registry.tensor(tensor)
    let out = try Argument.required(info, "info")
    let layout = quantized.layout
    var facts = ah_tensor_info()
    facts.bits = Int32(quantized.scheme.bits)
    switch quantized.scheme.granularity {
    case .perGroup: facts.granularity = Int32(AH_GRANULARITY_GROUP)
    case .perChannel: facts.granularity = Int32(AH_GRANULARITY_CHANNEL)
    case .perTensor: facts.granularity = Int32(AH_GRANULARITY_TENSOR)
    }
    facts.mode = Scheme.code(of: quantized.scheme.mode)
    facts.ndim = Int32(quantized.shape.count)
    facts.group_size = Int64(layout.groupSize)
    facts.count = Int64(layout.count)
    facts.rows = Int64(layout.rows)
    facts.columns = Int64(layout.columns)
    facts.group_count = Int64(layout.groupCount)
    facts.packed_bytes = Int64(layout.codeByteCount)
    facts.stored_bytes = Int64(layout.storedByteCount)
    out.pointee = facts
  }
}

/// Implements `ah_tensor_shape` of arrowhead.h: writes the tensor's dimensions into `shape`,
/// which holds `capacity` values.
@c @implementation
public func ah_tensor_shape(_ tensor: OpaquePointer?, _ shape: UnsafeMutablePointer<Int64>?, _ capacity: Int64) -> ah_status {
  abiCall {
    let dimensions = try registry.tensor(tensor).shape
    _ = try Argument.output(shape, capacity: capacity, needed: dimensions.count, "shape").initialize(from: dimensions.map { Int64($0) })
  }
}

/// Implements `ah_tensor_dequantize` of arrowhead.h: writes the dequantized values (info.count
/// floats, row-major) into `out`.
@c @implementation
public func ah_tensor_dequantize(_ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64) -> ah_status {
  copyOut(tensor, out, capacity) { $0.dequantized(engine: .default) }
}

/// Implements `ah_tensor_codes` of arrowhead.h: writes one unpacked code per weight (info.count
/// bytes, row-major) into `out`.
@c @implementation
public func ah_tensor_codes(_ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<UInt8>?, _ capacity: Int64) -> ah_status {
  copyOut(tensor, out, capacity) { $0.codes(engine: .default) }
}

/// Implements `ah_tensor_packed_codes` of arrowhead.h: writes the packed codes
/// (info.packed_bytes bytes; each row a little-endian bit stream padded to a byte) into `out`.
@c @implementation
public func ah_tensor_packed_codes(_ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<UInt8>?, _ capacity: Int64) -> ah_status {
  copyOut(tensor, out, capacity) { $0.packedCodes }
}

/// Implements `ah_tensor_scales` of arrowhead.h: writes the per-group scales (info.group_count
/// floats) into `out`.
@c @implementation
public func ah_tensor_scales(_ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64) -> ah_status {
  copyOut(tensor, out, capacity) { $0.scales }
}

/// Implements `ah_tensor_offsets` of arrowhead.h: writes the per-group offsets
/// (info.group_count floats: float minima, zero-points, or 2^(bits−1) for symmetric codes) into
/// `out`.
@c @implementation
public func ah_tensor_offsets(_ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64) -> ah_status {
  copyOut(tensor, out, capacity) { $0.offsets }
}

/// Copies one part of a quantized tensor into the caller's buffer `out` of `capacity`
/// elements. Unpacking and dequantizing use the environment's engine, like the CLI's; the
/// results are identical on every backend.
private func copyOut<Element>(
  _ tensor: OpaquePointer?, _ out: UnsafeMutablePointer<Element>?, _ capacity: Int64,
  _ part: (QuantizedTensor) -> [Element]
) -> ah_status {
  abiCall {
    let quantized = try registry.tensor(tensor)
    let values = part(quantized)
    _ = try Argument.output(out, capacity: capacity, needed: values.count, "out").initialize(from: values)
  }
}

/// Implements `ah_tensor_free` of arrowhead.h: releases a quantized-tensor handle (NULL:
/// `AH_OK`).
@c @implementation
public func ah_tensor_free(_ tensor: OpaquePointer?) -> ah_status {
  abiCall { try registry.free(tensor, as: .tensor) }
}

/// Implements `ah_quantize_model` of arrowhead.h: quantizes a safetensors model into an
/// Arrowhead quantized file at `output`, as `arrowhead quantize` does (`ModelQuantizer`); the
/// report as JSON in `report`, released with `ah_string_free`.
@c @implementation
public func ah_quantize_model(
  _ engine: OpaquePointer?, _ input: UnsafePointer<CChar>?, _ output: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
  _ report: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> ah_status {
  abiCall {
    var kernels = try registry.engine(engine)
    let out = try Argument.required(report, "report")
    let source = try Argument.string(input, "input"), destination = try Argument.string(output, "output")
    let request = try ModelRequest(json: options.map { String(cString: $0) } ?? "{}")
    if let threads = request.threads { kernels = kernels.withThreads(threads) }
    let result = try ModelQuantizer(options: request.options, engine: kernels).quantize(input: source, output: destination)
    out.pointee = try mallocString(try encodeJSON(result))
  }
}
