// The word-embedding table: Float32 (mapped), or INT8 rows for the quantized encoder.
//
// The table (vocabulary × hidden: 30 522 × 384 floats, 47 MB for MiniLM) is as large as
// all linear layers together, and a large corpus touches most of its pages; kept in
// Float32 it would hold the quantized encoder's resident memory far above half of the
// Float32 encoder's. One row is read per token, so it is dequantized row by row.
import ArrowheadCore
import ArrowheadQuant

/// Rows of the word-embedding table, looked up by token id.
enum EmbeddingTable: Sendable {
  /// Float32 rows (mapped from the weights file, or owned).
  case dense(WeightTensor)
  /// Quantized rows: one code per weight, one scale and float minimum per group (a group
  /// is a whole row for the quantized encoder).
  case quantized(QuantizedRows)

  /// Writes row `id` (`columns` floats) to `out`.
  @inline(__always)
  func row(_ id: Int, columns: Int, into out: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    switch self {
    case .dense(let tensor):
      return tensor.pointer + id * columns
    case .quantized(let rows):
      rows.dequantize(row: id, into: out)
      return UnsafePointer(out)
    }
  }

  /// Rows quantized per chunk (per-row groups: the codes do not depend on the chunking),
  /// so that only one chunk of the mapped Float32 table is resident at a time.
  static let chunkRows = 1024

  /// The table quantized with `quantizer` (per-group or per-channel), chunk by chunk, each
  /// chunk's mapped Float32 pages given back once it is quantized.
  static func quantizing(_ tensor: WeightTensor, with quantizer: Quantizer, engine: Engine) throws(EncoderError) -> EmbeddingTable {
    let rows = tensor.shape[0], columns = tensor.shape[1]
    var codes: [UInt8] = []
    var scales: [Float] = []
    var offsets: [Float] = []
    codes.reserveCapacity(rows * columns)
    var start = 0
    var chunk: QuantizedRows?
    while start < rows {
      let count = Swift.min(chunkRows, rows - start)
      let range = start * columns..<(start + count) * columns
      let quantized: QuantizedTensor
      do {
        quantized = try quantizer.quantize(
          UnsafeBufferPointer(rebasing: tensor.buffer[range]), shape: [count, columns], name: tensor.name)
      } catch {
        throw .quantization(error)
      }
      tensor.evictPages(elements: range)
      let part = QuantizedRows(quantized, engine: engine)
      codes += part.codes
      scales += part.scales
      offsets += part.offsets
      chunk = part
      start += count
    }
    guard let chunk else { return .dense(tensor) }
    return .quantized(QuantizedRows(
      columns: columns, groupSize: chunk.groupSize, groupsPerRow: chunk.groupsPerRow, floatMinimum: chunk.floatMinimum,
      codes: codes, scales: scales, offsets: offsets))
  }
}

/// A quantized matrix kept row-major with one byte per code, for dequantizing single rows:
/// x = q·s + m (float minimum) or (q − z)·s (zero-point and symmetric), as
/// `QuantizedTensor.dequantized()` computes it.
struct QuantizedRows: Sendable {
  let columns: Int
  let groupSize: Int
  let groupsPerRow: Int
  let floatMinimum: Bool
  let codes: [UInt8]
  let scales: [Float]
  let offsets: [Float]

  init(
    columns: Int, groupSize: Int, groupsPerRow: Int, floatMinimum: Bool, codes: [UInt8], scales: [Float], offsets: [Float]
  ) {
    self.columns = columns
    self.groupSize = groupSize
    self.groupsPerRow = groupsPerRow
    self.floatMinimum = floatMinimum
    self.codes = codes
    self.scales = scales
    self.offsets = offsets
  }

  init(_ tensor: QuantizedTensor, engine: Engine) {
    let layout = tensor.layout
    columns = layout.columns
    if case .perGroup(let size) = tensor.scheme.granularity {
      groupSize = Swift.min(size, Swift.max(columns, 1))
    } else {
      groupSize = Swift.max(columns, 1)
    }
    groupsPerRow = columns == 0 ? 0 : (columns + groupSize - 1) / groupSize
    floatMinimum = tensor.scheme.mode == .floatMinimum
    codes = tensor.codes(engine: engine)
    if case .perTensor = tensor.scheme.granularity {
      let rows = layout.rows
      scales = [Float](repeating: tensor.scales.first ?? 0, count: rows * groupsPerRow)
      offsets = [Float](repeating: tensor.offsets.first ?? 0, count: rows * groupsPerRow)
    } else {
      scales = tensor.scales
      offsets = tensor.offsets
    }
  }

  func dequantize(row: Int, into out: UnsafeMutablePointer<Float>) {
    codes.withUnsafeBufferPointer { codes in
      let line = codes.baseAddress! + row * columns
      for g in 0..<groupsPerRow {
        let s = scales[row * groupsPerRow + g], o = offsets[row * groupsPerRow + g]
        let start = g * groupSize, end = Swift.min(start + groupSize, columns)
        if floatMinimum {
          for j in start..<end { out[j] = Float(line[j]) * s + o }
        } else {
          for j in start..<end { out[j] = (Float(line[j]) - o) * s }
        }
      }
    }
  }
}
