// Linear layers on quantized weights: y = x·Ŵᵀ through the engine's quantized-matmul entry
// point (`Engine.quantizedMatmul`), with Float32 activations (weight-only) or activations
// quantized to int8 per (row, weight group) on the fly (W8A8 / W4A8).
import ArrowheadCore
import ArrowheadQuant

/// A quantized weight matrix packed for the quantized-matmul kernels.
struct QuantizedLinearOperator: LinearOperator {
  let matrix: QuantizedMatrix
  let mode: QuantizedMatmulMode
  var inputs: Int { matrix.layout.columns }
  var outputs: Int { matrix.layout.rows }

  func apply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int, engine: Engine
  ) throws(EncoderError) {
    try multiply(rows: rows, input: input, inputStride: inputStride, output: output, outputStride: outputStride, mode: mode, engine: engine)
  }

  /// Ŵ·v with Float32 activations (whatever `mode` is: the folded bias is a constant).
  func product(with vector: UnsafePointer<Float>, engine: Engine) throws(EncoderError) -> [Float] {
    var result = [Float](repeating: 0, count: outputs)
    try result.withUnsafeMutableBufferPointer { (buffer) throws(EncoderError) in
      guard let base = buffer.baseAddress else { return }
      try multiply(rows: 1, input: vector, inputStride: inputs, output: base, outputStride: outputs, mode: .weightOnly, engine: engine)
    }
    return result
  }

  private func multiply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
    mode: QuantizedMatmulMode, engine: Engine
  ) throws(EncoderError) {
    if rows == 0 { return }
    let layoutX = MatrixLayout(rows: rows, columns: inputs, leadingDimension: inputStride)
    let layoutY = MatrixLayout(rows: rows, columns: outputs, leadingDimension: outputStride)
    do {
      try engine.quantizedMatmul(
        UnsafeBufferPointer(start: input, count: layoutX.requiredCount), layoutX, weights: matrix, mode: mode,
        into: UnsafeMutableBufferPointer(start: output, count: layoutY.requiredCount), layoutY)
    } catch {
      throw .engine(error)
    }
  }
}

/// Quantized linear layers, and the word-embedding table in INT8 rows.
///
/// With a `quantizer`, Float32 weights are quantized on load (Q, K and V stacked first:
/// per-channel and per-group schemes quantize rows independently, so stacking changes no
/// code) and the mapped Float32 pages are given back, so that they stop counting as
/// resident memory. Without one, the tensors of an Arrowhead quantized file are used as
/// stored: quantized parts run quantized (stacked into one matrix when their schemes
/// agree and are not per-tensor), parts the file kept in floating point run through the
/// gemm.
struct QuantizedLinearFactory: LinearOperatorFactory {
  let quantizer: Quantizer?
  let mode: QuantizedMatmulMode
  let engine: Engine
  /// Matrices quantized by `wideQuantizer` instead (INT8 kept under an INT4 format).
  var wideMatrices: Set<EncoderMatrix> = []
  var wideQuantizer: Quantizer?

  func makeOperator(for parts: [LinearWeight]) throws(EncoderError) -> any LinearOperator {
    if let quantizer {
      var operators: [any LinearOperator] = []
      for run in partRuns(parts, wide: wideMatrices) {
        let dense = run.parts.map { $0.dense(engine: engine) }
        let weight = dense.count == 1 ? dense[0] : WeightTensor.stacked(dense, name: dense[0].name)
        let tensor: QuantizedTensor
        do {
          tensor = try (run.wide ? wideQuantizer ?? quantizer : quantizer).quantize(weight.buffer, shape: weight.shape, name: weight.name)
        } catch {
          throw .quantization(error)
        }
        weight.evictPages()
        operators.append(try Self.matrixOperator(tensor, name: weight.name, mode: mode, engine: engine))
      }
      return operators.count == 1 ? operators[0] : ConcatenatedLinearOperator(parts: operators)
    }
    let quantized = parts.compactMap { part -> (QuantizedTensor, String)? in
      if case .quantized(let tensor, let name) = part { return (tensor, name) }
      return nil
    }
    if quantized.count == parts.count, let first = quantized.first,
      quantized.allSatisfy({ $0.0.scheme == first.0.scheme && $0.0.shape.count == 2 }),
      first.0.scheme.granularity != .perTensor
    {
      if quantized.count == 1 { return try Self.matrixOperator(first.0, name: first.1, mode: mode, engine: engine) }
      // Groups are numbered row by row: stacking rows concatenates codes and parameters.
      var codes: [UInt8] = []
      var parameters: [AffineParameters] = []
      for (tensor, _) in quantized {
        codes += tensor.codes(engine: engine)
        parameters += zip(tensor.scales, tensor.offsets).map { AffineParameters(scale: $0, offset: $1) }
      }
      let rows = quantized.reduce(0) { $0 + $1.0.shape[0] }
      let stacked: QuantizedTensor
      do {
        stacked = try QuantizedTensor(
          shape: [rows, first.0.shape[1]], scheme: first.0.scheme, codes: codes, parameters: parameters, name: first.1, engine: engine)
      } catch {
        throw .quantization(error)
      }
      return try Self.matrixOperator(stacked, name: first.1, mode: mode, engine: engine)
    }
    var operators: [any LinearOperator] = []
    for part in parts {
      switch part {
      case .dense(let tensor): operators.append(DenseLinearOperator(weight: tensor))
      case .quantized(let tensor, let name): operators.append(try Self.matrixOperator(tensor, name: name, mode: mode, engine: engine))
      }
    }
    return operators.count == 1 ? operators[0] : ConcatenatedLinearOperator(parts: operators)
  }

  /// The word-embedding table as INT8 rows (one scale and float minimum per row, min-max):
  /// one byte per weight instead of four, dequantized a row per token. Per row rather than
  /// per group of 64: the parameters take 0.24 MB instead of 1.5 MB for MiniLM, at the same
  /// embedding cosine (measured, see the README). A table the quantized file already holds
  /// quantized arrives dequantized and is quantized the same way.
  func makeEmbeddingTable(for table: WeightTensor) throws(EncoderError) -> EmbeddingTable {
    guard let scheme = try? QuantizationScheme(bits: 8, granularity: .perChannel, mode: .floatMinimum) else { return .dense(table) }
    return try EmbeddingTable.quantizing(table, with: Quantizer(scheme: scheme, engine: engine), engine: engine)
  }

  static func matrixOperator(
    _ tensor: QuantizedTensor, name: String, mode: QuantizedMatmulMode, engine: Engine
  ) throws(EncoderError) -> QuantizedLinearOperator {
    do {
      return QuantizedLinearOperator(matrix: try QuantizedMatrix(tensor, name: name, engine: engine), mode: mode)
    } catch {
      throw .quantization(error)
    }
  }
}
