import Arrowhead
import ArrowheadQuant
import CArrowhead

// Quantized matrices: a quantized tensor repacked for the quantized-matmul kernels
// (`QuantizedMatrix`), and y = x·Ŵᵀ (+ bias) computed on its codes (`Engine.quantizedMatmul`).
// The handle names an immutable `QuantizedMatrix` value, so one matrix may be multiplied
// from several threads at once.

/// Implements `ah_qmatrix_create` of arrowhead.h: repacks a quantized tensor for the
/// quantized-matmul kernels (`QuantizedMatrix`); the matrix is independent of the tensor, which
/// may be freed.
@c @implementation
public func ah_qmatrix_create(
  _ engine: OpaquePointer?, _ tensor: OpaquePointer?, _ matrix: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let quantized = try registry.tensor(tensor)
    let out = try Argument.required(matrix, "matrix")
    let repacked = try QuantizedMatrix(quantized, name: "tensor", engine: kernels)
    out.pointee = registry.handle(for: .qmatrix(repacked))
  }
}

/// Implements `ah_qmatrix_tensor` of arrowhead.h: the matrix's weights as a rows × columns
/// quantized tensor: the inverse of `ah_qmatrix_create`.
@c @implementation
public func ah_qmatrix_tensor(
  _ engine: OpaquePointer?, _ matrix: OpaquePointer?, _ tensor: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let repacked = try registry.qmatrix(matrix)
    let out = try Argument.required(tensor, "tensor")
    out.pointee = registry.handle(for: .tensor(try QuantizedTensor(repacked, name: "matrix", engine: kernels)))
  }
}

/// Implements `ah_qmatrix_load` of arrowhead.h: the quantized tensor `name` of an Arrowhead
/// quantized safetensors file, checksums verified, repacked as `ah_qmatrix_create` does.
@c @implementation
public func ah_qmatrix_load(
  _ engine: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>?,
  _ matrix: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let file = try Argument.string(path, "path"), tensorName = try Argument.string(name, "name")
    let out = try Argument.required(matrix, "matrix")
    let model = try QuantizedModelFile(path: file, engine: kernels)
    guard model.info(tensorName) != nil else { throw missingTensor(tensorName, in: model, file: file) }
    out.pointee = registry.handle(for: .qmatrix(try model.matrix(tensorName)))
  }
}

/// The error for a name that is not a quantized tensor of `model`: kept in floating point,
/// or absent (then the message lists the first quantized names, so a typo is visible).
private func missingTensor(_ name: String, in model: QuantizedModelFile, file: String) -> ABIError {
  var quantized: [String] = []
  var kept = false
  for entry in model.entries {
    switch entry {
    case .quantized(let info): quantized.append(info.name)
    case .plain(let plain): if plain.name == name { kept = true }
    case .activation: break
    }
  }
  if kept {
    return ABIError(.invalidArgument, "'\(name)' in \(file) is stored in floating point, not quantized")
  }
  let shown = quantized.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
  let more = quantized.count > 8 ? " and \(quantized.count - 8) more" : ""
  let holds = quantized.isEmpty ? "no quantized tensor" : "quantized tensors \(shown)\(more)"
  return ABIError(.invalidArgument, "\(file) has no quantized tensor '\(name)'; it holds \(holds)")
}

/// Implements `ah_qmatrix_describe` of arrowhead.h: fills `info` with bits, mode, rows
/// (outputs), columns (inputs), group size and bytes.
@c @implementation
public func ah_qmatrix_describe(_ matrix: OpaquePointer?, _ info: UnsafeMutablePointer<ah_qmatrix_info>?) -> ah_status {
  abiCall {
    let layout = try registry.qmatrix(matrix).layout
    let out = try Argument.required(info, "info")
    var facts = ah_qmatrix_info()
    facts.bits = Int32(layout.bits)
    facts.mode = Int32(layout.form == .floatMinimum ? AH_MODE_FLOAT_MINIMUM : AH_MODE_ZERO_POINT)
    facts.rows = Int64(layout.rows)
    facts.columns = Int64(layout.columns)
    facts.group_size = Int64(layout.groupSize)
    facts.bytes = Int64(layout.byteCount)
    out.pointee = facts
  }
}

/// Implements `ah_qmatrix_matmul` of arrowhead.h: y = x·Ŵᵀ (+ bias) for `m` rows of
/// activations, computed on the codes in the `AH_QMATMUL_*` mode `mode`
/// (`Engine.quantizedMatmul`); `threads` 0: the engine's.
@c @implementation
public func ah_qmatrix_matmul(
  _ engine: OpaquePointer?, _ matrix: OpaquePointer?, _ mode: Int32, _ m: Int64, _ x: UnsafePointer<Float>?,
  _ ldx: Int64, _ bias: UnsafePointer<Float>?, _ threads: Int32, _ y: UnsafeMutablePointer<Float>?, _ ldy: Int64
) -> ah_status {
  abiCall {
    var kernels = try registry.engine(engine)
    let weights = try registry.qmatrix(matrix)
    let arithmetic = try matmulMode(mode)
    guard threads >= 0 else { throw ABIError(.invalidArgument, "threads = \(threads) is negative; 0 means the engine's") }
    if threads > 0 { kernels = kernels.withThreads(Int(threads)) }
    let rows = try Argument.count(m, "m")
    let w = weights.layout
    let layoutX = try layout(stored: (rows, w.columns), ldx, "ldx")
    let layoutY = try layout(stored: (rows, w.rows), ldy, "ldy")
    let bufferX = try Argument.buffer(x, count: layoutX.requiredCount, "x")
    let bufferY = try Argument.output(y, capacity: Int64(layoutY.requiredCount), needed: layoutY.requiredCount, "y")
    if let bias {
      try kernels.quantizedMatmul(
        bufferX, layoutX, weights: weights, bias: UnsafeBufferPointer(start: bias, count: w.rows), mode: arithmetic,
        into: bufferY, layoutY)
    } else {
      try kernels.quantizedMatmul(bufferX, layoutX, weights: weights, mode: arithmetic, into: bufferY, layoutY)
    }
  }
}

/// The mode of an `AH_QMATMUL_*` constant.
private func matmulMode(_ value: Int32) throws(ABIError) -> QuantizedMatmulMode {
  switch Int(value) {
  case AH_QMATMUL_WEIGHT_ONLY: return .weightOnly
  case AH_QMATMUL_INT8: return .int8
  case AH_QMATMUL_INT16: return .int16
  default:
    throw ABIError(
      .invalidArgument, "mode \(value) is unknown; expected AH_QMATMUL_WEIGHT_ONLY (0), AH_QMATMUL_INT8 (1) or AH_QMATMUL_INT16 (2)")
  }
}

/// Implements `ah_qmatrix_free` of arrowhead.h: releases a quantized-matrix handle (NULL:
/// `AH_OK`).
@c @implementation
public func ah_qmatrix_free(_ matrix: OpaquePointer?) -> ah_status {
  abiCall { try registry.free(matrix, as: .qmatrix) }
}
