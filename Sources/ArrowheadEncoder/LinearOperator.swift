// The linear layers of the encoder, behind one small protocol so that the weights can be
// held in another form (Float32 through the gemm, or the quantized matrices of
// `--weights int8|int4` through the quantized matmul) without touching the forward pass.
import ArrowheadCore
import ArrowheadQuant

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
  /// W·v for one vector of `inputs` values, with the weights this operator multiplies by
  /// (Ŵ for a quantized one) and Float32 activations: used once when loading, to fold a
  /// bias through the layer.
  func product(with vector: UnsafePointer<Float>, engine: Engine) throws(EncoderError) -> [Float]
}

/// One linear weight as the weights file holds it: Float32 (mapped or converted), or a
/// quantized tensor of an Arrowhead quantized file.
enum LinearWeight: Sendable {
  case dense(WeightTensor)
  case quantized(QuantizedTensor, name: String)

  /// Rows (outputs).
  var rows: Int {
    switch self {
    case .dense(let tensor): tensor.shape[0]
    case .quantized(let tensor, _): tensor.shape[0]
    }
  }

  /// The tensor's name in the weights file.
  var name: String {
    switch self {
    case .dense(let tensor): tensor.name
    case .quantized(_, let name): name
    }
  }

  /// The weight as Float32 (a quantized one dequantized into an owned buffer).
  func dense(engine: Engine) -> WeightTensor {
    switch self {
    case .dense(let tensor): tensor
    case .quantized(let tensor, let name): WeightTensor(name: name, shape: tensor.shape, values: tensor.dequantized(engine: engine))
    }
  }
}

/// Makes the linear operator of one layer from its weight parts (stacked by rows: Q, K, V
/// give one operator whose output rows are q|k|v): the one place that decides how weights
/// are held.
protocol LinearOperatorFactory: Sendable {
  /// The operator for `parts` (each `rows × inputs`, the same inputs).
  func makeOperator(for parts: [LinearWeight]) throws(EncoderError) -> any LinearOperator
  /// How the word-embedding table is held.
  func makeEmbeddingTable(for table: WeightTensor) throws(EncoderError) -> EmbeddingTable
}

extension LinearOperatorFactory {
  /// Float32, as loaded.
  func makeEmbeddingTable(for table: WeightTensor) throws(EncoderError) -> EmbeddingTable { .dense(table) }
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

  /// W·v accumulated in Double.
  func product(with vector: UnsafePointer<Float>, engine: Engine) -> [Float] {
    var totals = [Double](repeating: 0, count: outputs)
    for column in 0..<inputs {
      let x = Double(vector[column])
      let line = transposed.pointer + column * outputs
      for row in 0..<outputs { totals[row] += Double(line[row]) * x }
    }
    return totals.map { Float($0) }
  }
}

/// Float32 weights, held transposed (quantized parts of a quantized file are dequantized).
struct DenseLinearFactory: LinearOperatorFactory {
  var engine: Engine = .default

  func makeOperator(for parts: [LinearWeight]) throws(EncoderError) -> any LinearOperator {
    let dense = parts.map { $0.dense(engine: engine) }
    return DenseLinearOperator(weight: dense.count == 1 ? dense[0] : WeightTensor.stacked(dense, name: dense[0].name))
  }
}

/// Several operators on the same input whose outputs sit side by side (q|k|v from layers
/// held in different forms, e.g. one kept in Float32 by a quantized file's fall-back).
struct ConcatenatedLinearOperator: LinearOperator {
  let parts: [any LinearOperator]
  var inputs: Int { parts[0].inputs }
  var outputs: Int { parts.reduce(0) { $0 + $1.outputs } }

  func apply(
    rows: Int, input: UnsafePointer<Float>, inputStride: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int, engine: Engine
  ) throws(EncoderError) {
    var offset = 0
    for part in parts {
      try part.apply(rows: rows, input: input, inputStride: inputStride, output: output + offset, outputStride: outputStride, engine: engine)
      offset += part.outputs
    }
  }

  func product(with vector: UnsafePointer<Float>, engine: Engine) throws(EncoderError) -> [Float] {
    var result: [Float] = []
    for part in parts { result += try part.product(with: vector, engine: engine) }
    return result
  }
}

/// One of the six weight matrices of a BERT layer, for choosing how it is held
/// (`SentenceEncoder`'s `int8Matrices`).
public enum EncoderMatrix: String, Sendable, Hashable, CaseIterable {
  /// `attention.self.query`.
  case query
  /// `attention.self.key`.
  case key
  /// `attention.self.value`.
  case value
  /// `attention.output.dense`.
  case attentionOutput = "attention-output"
  /// `intermediate.dense` (the first feed-forward product).
  case intermediate
  /// `output.dense` (the second feed-forward product).
  case output

  /// The matrix a weight tensor's name ends with (nil for any other tensor).
  init?(tensorName: String) {
    let suffixes: [(String, EncoderMatrix)] = [
      ("attention.self.query.weight", .query), ("attention.self.key.weight", .key), ("attention.self.value.weight", .value),
      ("attention.output.dense.weight", .attentionOutput), ("intermediate.dense.weight", .intermediate), ("output.dense.weight", .output),
    ]
    guard let match = suffixes.first(where: { tensorName.hasSuffix($0.0) }) else { return nil }
    self = match.1
  }
}

/// Consecutive parts that are held alike, in order: whether each run is among `wide` (the
/// matrices kept at INT8 under an INT4 format).
func partRuns(_ parts: [LinearWeight], wide: Set<EncoderMatrix>) -> [(parts: [LinearWeight], wide: Bool)] {
  var runs: [(parts: [LinearWeight], wide: Bool)] = []
  for part in parts {
    let isWide = EncoderMatrix(tensorName: part.name).map(wide.contains) ?? false
    if let last = runs.last, last.wide == isWide {
      runs[runs.count - 1].parts.append(part)
    } else {
      runs.append(([part], isWide))
    }
  }
  return runs
}
