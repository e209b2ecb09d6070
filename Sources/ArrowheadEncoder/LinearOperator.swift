// The linear layers of the encoder, behind one small protocol so that the weights can be
// held in another form (the quantized matrices of `--weights int8|int4`, issue 12) without
// touching the forward pass.
import ArrowheadCore

/// y = x·Wᵀ for a layer with an `outputs × inputs` weight W (PyTorch's `nn.Linear` layout).
///
/// The bias is not applied here: the forward pass adds it in the pass that follows each
/// product (bias + GELU, bias + residual + LayerNorm), which reads the output once instead
/// of twice.
protocol LinearOperator: Sendable {
  /// Width of the input rows.
  var inputs: Int { get }
  /// Width of the output rows.
  var outputs: Int { get }
  /// output[r, o] = Σᵢ input[r, i]·W[o, i] for r < rows. Rows of `input` are
  /// `inputStride` apart, rows of `output` `outputStride` apart (both ≥ the row width).
  func apply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int, engine: Engine
  ) throws(EncoderError)
}

/// Makes the linear operator of one weight matrix: the one place that decides how weights
/// are held. Float32 keeps the (memory-mapped) matrix and multiplies with `Engine.gemm`.
protocol LinearOperatorFactory: Sendable {
  /// The operator for `weight` (`outputs × inputs`).
  func makeOperator(for weight: WeightTensor) throws(EncoderError) -> any LinearOperator
}

/// A Float32 weight multiplied through the engine's gemm, C = A·Bᵀ with B the weight as
/// stored (no transposed copy: the gemm packs B's panels either way).
struct DenseLinearOperator: LinearOperator {
  let weight: WeightTensor
  var outputs: Int { weight.shape[0] }
  var inputs: Int { weight.shape[1] }

  func apply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int, engine: Engine
  ) throws(EncoderError) {
    if rows == 0 { return }
    let layoutA = MatrixLayout(rows: rows, columns: inputs, leadingDimension: inputStride)
    let layoutB = MatrixLayout(rows: outputs, columns: inputs)
    let layoutC = MatrixLayout(rows: rows, columns: outputs, leadingDimension: outputStride)
    do {
      try engine.gemm(
        transposeB: .transposed,
        a: UnsafeBufferPointer(start: input, count: layoutA.requiredCount), layoutA,
        b: weight.buffer, layoutB,
        c: UnsafeMutableBufferPointer(start: output, count: layoutC.requiredCount), layoutC)
    } catch {
      throw .engine(error)
    }
  }
}

/// Float32 weights, kept as they are in the file.
struct DenseLinearFactory: LinearOperatorFactory {
  func makeOperator(for weight: WeightTensor) throws(EncoderError) -> any LinearOperator {
    DenseLinearOperator(weight: weight)
  }
}
