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

/// The names of every backend this CPU runs.
let runnableBackendNames = Engine.default.runnableBackends.map(\.name)

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
