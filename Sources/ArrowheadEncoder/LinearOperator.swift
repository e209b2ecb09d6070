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

/// A Float32 weight multiplied through the engine's gemm. The weight is stored transposed
/// (inputs × outputs), copied once when loading: the gemm then packs its B panels from
/// contiguous rows, where packing the stored outputs × inputs layout gathered across rows
/// (measured: the packing share of the forward pass fell from ~10 % to ~7 % of the time,
/// and a 4096 × 1536 × 384 product ran ~1.4× faster). The mapped original's pages are
/// given back after the copy, so resident memory holds the weights once.
struct DenseLinearOperator: LinearOperator {
  let transposed: WeightTensor
  let inputs: Int
  let outputs: Int

  init(weight: WeightTensor) {
    outputs = weight.shape[0]
    inputs = weight.shape[1]
    var values = [Float](repeating: 0, count: weight.count)
    let (rows, columns) = (outputs, inputs)
    values.withUnsafeMutableBufferPointer { target in
      // 32 × 32 tiles: both sides stay within a few cache lines per tile.
      let tile = 32
      for rowStart in stride(from: 0, to: rows, by: tile) {
        for columnStart in stride(from: 0, to: columns, by: tile) {
          for row in rowStart..<Swift.min(rowStart + tile, rows) {
            for column in columnStart..<Swift.min(columnStart + tile, columns) {
              target[column * rows + row] = weight.pointer[row * columns + column]
            }
          }
        }
      }
    }
    transposed = WeightTensor(name: weight.name, shape: [inputs, outputs], values: values)
    weight.evictPages()
  }

  func apply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int, engine: Engine
  ) throws(EncoderError) {
    if rows == 0 { return }
    let layoutA = MatrixLayout(rows: rows, columns: inputs, leadingDimension: inputStride)
    let layoutB = MatrixLayout(rows: inputs, columns: outputs)
    let layoutC = MatrixLayout(rows: rows, columns: outputs, leadingDimension: outputStride)
    do {
      try engine.gemm(
        a: UnsafeBufferPointer(start: input, count: layoutA.requiredCount), layoutA,
        b: transposed.buffer, layoutB,
        c: UnsafeMutableBufferPointer(start: output, count: layoutC.requiredCount), layoutC)
    } catch {
      throw .engine(error)
    }
  }
}

/// Float32 weights, held transposed.
struct DenseLinearFactory: LinearOperatorFactory {
  func makeOperator(for weight: WeightTensor) throws(EncoderError) -> any LinearOperator {
    DenseLinearOperator(weight: weight)
  }
}
