// EncoderKernels: the pooling and normalisation steps of a sentence encoder, in
// straightforward vectorised Swift (SIMD16<Float>; this module is compiled for the
// baseline ISA, where a SIMD16 operation is four SSE instructions). They run once per
// text, not per token, so they stay here; the per-token steps of a layer (bias, GELU,
// LayerNorm, softmax) are the engine's transformer kernel family
// (`TransformerKernels`, compiled per ISA).

typealias FloatVector = SIMD16<Float>

enum EncoderKernels {
  static let lanes = FloatVector.scalarCount

  // MARK: pooling

  /// out ← Σ rows (`rows` × `columns`, dense) · scale.
  static func sumRows(rows: Int, columns: Int, _ x: UnsafePointer<Float>, scale: Float, _ out: UnsafeMutablePointer<Float>) {
    var j = 0
    let scaleVector = FloatVector(repeating: scale)
    while j + lanes <= columns {
      var total = FloatVector.zero
      for row in 0..<rows { total += load(x + row * columns + j) }
      store(total * scaleVector, out + j)
      j += lanes
    }
    while j < columns {
      var total: Float = 0
      for row in 0..<rows { total += x[row * columns + j] }
      out[j] = total * scale
      j += 1
    }
  }

  /// out ← element-wise maximum of `rows` (≥ 1) rows.
  static func maxRows(rows: Int, columns: Int, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
    var j = 0
    while j + lanes <= columns {
      var best = load(x + j)
      for row in 1..<Swift.max(rows, 1) { let v = load(x + row * columns + j)
        best.replace(with: v, where: v .> best) }
      store(best, out + j)
      j += lanes
    }
    while j < columns {
      var best = x[j]
      for row in 1..<Swift.max(rows, 1) { best = Swift.max(best, x[row * columns + j]) }
      out[j] = best
      j += 1
    }
  }

  /// v ← v/‖v‖₂ (v unchanged when ‖v‖ = 0, like sentence-transformers' clamp of the norm
  /// at 1e-12 for a zero vector).
  static func normalize(count: Int, _ v: UnsafeMutablePointer<Float>) {
    var squares = FloatVector.zero
    var tail: Float = 0
    var j = 0
    while j + lanes <= count {
      let x = load(v + j)
      squares += x * x
      j += lanes
    }
    while j < count {
      tail += v[j] * v[j]
      j += 1
    }
    let norm = (horizontalSum(squares) + tail).squareRoot()
    let inverse = 1 / Swift.max(norm, 1e-12)
    for i in 0..<count { v[i] *= inverse }
  }

  // MARK: helpers

  /// Σ lanes, halves folded as vectors (no generic `sum()`, which runs lane by lane).
  @inline(__always)
  static func horizontalSum(_ v: FloatVector) -> Float {
    let eight = v.lowHalf + v.highHalf
    let four = eight.lowHalf + eight.highHalf
    return (four[0] + four[2]) + (four[1] + four[3])
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
  }

  @inline(__always)
  static func load(_ p: UnsafeMutablePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
  }

  @inline(__always)
  static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
  }
}
