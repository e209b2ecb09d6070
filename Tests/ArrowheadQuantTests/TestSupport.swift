import Arrowhead
import ArrowheadQuant

#if canImport(Glibc)
import Glibc
#endif

/// `count` values, roughly Gaussian (sum of uniforms) with a few outliers, like real weights.
func weightLikeValues(_ count: Int, seed: UInt64, scale: Float = 0.05) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { index in
    var sum: Float = 0
    for _ in 0..<4 { sum += Float.random(in: -1...1, using: &generator) }
    let outlier: Float = index % 997 == 13 ? 8 : 1
    return sum * scale * outlier
  }
}

/// A fresh temporary directory.
func quantTemporaryDirectory() -> String {
  var template = Array("/tmp/arrowhead-quant-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return path.map { String(cString: $0) } ?? "/tmp"
}

/// An independent scalar model of the quantizer, written from the documented formulas (not
/// from the implementation): per group min-max parameters, q = clamp(round(·)), x̂.
func scalarModel(_ values: [Float], rows: Int, columns: Int, groupSize: Int, bits: Int, mode: QuantizationMode)
  -> (codes: [UInt8], reconstruction: [Float], parameters: [AffineParameters])
{
  let top = Float((1 << bits) - 1)
  var codes: [UInt8] = [], reconstruction: [Float] = [], parameters: [AffineParameters] = []
  for row in 0..<rows {
    var start = 0
    while start < columns {
      let group = Array(values[(row * columns + start)..<(row * columns + min(columns, start + groupSize))])
      let low = group.min()!, high = group.max()!
      let chosen: AffineParameters
      switch mode {
      case .floatMinimum:
        chosen = AffineParameters(scale: (high - low) / top, offset: low)
      case .zeroPoint:
        let lo = min(low, 0), hi = max(high, 0)
        let s = (hi - lo) / top
        chosen = s == 0 ? AffineParameters(scale: 0, offset: 0) : AffineParameters(scale: s, offset: min(max((-lo / s).rounded(.toNearestOrEven), 0), top))
      case .symmetric:
        let half = Float(1 << (bits - 1))
        chosen = AffineParameters(scale: max(abs(low), abs(high)) / (half - 1), offset: half)
      }
      parameters.append(chosen)
      for x in group {
        let q: Float
        switch mode {
        case .floatMinimum: q = chosen.scale == 0 ? 0 : ((x - chosen.offset) / chosen.scale).rounded(.toNearestOrEven)
        case .zeroPoint, .symmetric: q = (chosen.scale == 0 ? 0 : (x / chosen.scale).rounded(.toNearestOrEven)) + chosen.offset
        }
        let code = min(max(q, 0), top)
        codes.append(UInt8(code))
        reconstruction.append(mode == .floatMinimum ? code * chosen.scale + chosen.offset : (code - chosen.offset) * chosen.scale)
      }
      start += groupSize
    }
  }
  return (codes, reconstruction, parameters)
}

/// `scalarModel` for a whole tensor of `shape` under `scheme`: per tensor one group, per
/// channel one group per row, per group G groups of G along each row (rows and columns as
/// the quantizer lays any shape out: `QuantizationScheme.layout(shape:tensor:)`; `shape` must be valid).
func scalarModel(_ values: [Float], shape: [Int], scheme: QuantizationScheme)
  -> (codes: [UInt8], reconstruction: [Float], parameters: [AffineParameters])
{
  let layout = QuantizationLayout(shape: shape, scheme: scheme)
  switch scheme.granularity {
  case .perTensor:
    return scalarModel(values, rows: 1, columns: values.count, groupSize: values.count, bits: scheme.bits, mode: scheme.mode)
  case .perChannel:
    return scalarModel(values, rows: layout.rows, columns: layout.columns, groupSize: layout.columns, bits: scheme.bits, mode: scheme.mode)
  case .perGroup(let size):
    return scalarModel(values, rows: layout.rows, columns: layout.columns, groupSize: size, bits: scheme.bits, mode: scheme.mode)
  }
}

/// ‖W − Ŵ‖/‖W‖ and cos(W, Ŵ), in Double.
func relativeErrorAndCosine(_ original: [Float], _ approximation: [Float]) -> (relativeError: Double, cosine: Double) {
  var errorSquared = 0.0, norm = 0.0, approximationNorm = 0.0, dot = 0.0
  for (w, a) in zip(original, approximation) {
    errorSquared += (Double(w) - Double(a)) * (Double(w) - Double(a))
    norm += Double(w) * Double(w)
    approximationNorm += Double(a) * Double(a)
    dot += Double(w) * Double(a)
  }
  return ((errorSquared / norm).squareRoot(), dot / (norm * approximationNorm).squareRoot())
}
