// EncoderKernels: the element-wise and row-wise kernels of the BERT forward pass, in
// straightforward vectorised Swift (SIMD16<Float>, any ISA; this module is compiled for
// the baseline, where a SIMD16 operation is four SSE instructions).
//
// These are the only kernels the encoder does not take from `Engine`: LayerNorm, GELU,
// softmax, bias additions, the embedding gather and pooling. They sit behind this one
// internal enum so that they can move into a kernel family of the engine later, unchanged
// in meaning. Baseline x86-64 has no FMA: products and sums are written as `*` and `+`
// (`addingProduct` would become a libm `fmaf` call per lane there).
//
// Accuracy: exp has a relative error ≤ 2 ulp-ish over its range (Cody–Waite reduction,
// degree-7 Taylor polynomial on |r| ≤ ln2/2, truncation term r⁸/8! ≤ 5.4e-9); erf uses
// Abramowitz & Stegun 7.1.26 (Hastings), |error| ≤ 1.5e-7 absolute; every reduction sums
// 16 partial sums in Float.

typealias FloatVector = SIMD16<Float>

enum EncoderKernels {
  static let lanes = FloatVector.scalarCount

  // MARK: exp and erf

  /// e^x lane by lane for x in [−87.3, 88] (clamped there; e^−87.3 ≈ 1.2e−38 stands for 0,
  /// and 88 keeps 2ⁿ ≤ 2¹²⁷).
  ///
  /// x = n·ln2 + r with n = round(x/ln2) (exact by the 1.5·2²³ trick), ln2 split in a high
  /// part whose product with n is exact and a low part; e^r by its Taylor series to r⁷;
  /// 2ⁿ built in the exponent bits.
  @inline(__always)
  static func exp(_ x: FloatVector) -> FloatVector {
    var clamped = x
    let low = FloatVector(repeating: -87.3), high = FloatVector(repeating: 88)
    clamped.replace(with: low, where: .!(clamped .>= low))  // also turns NaN into the lower bound
    clamped.replace(with: high, where: clamped .> high)
    let magic = FloatVector(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
    let shifted = clamped * FloatVector(repeating: 1.442_695_04) + magic
    let n = shifted - magic
    let r = clamped - n * FloatVector(repeating: 0.693_145_75) - n * FloatVector(repeating: 1.428_606_8e-6)
    var p = FloatVector(repeating: 1.0 / 5040)
    p = p * r + FloatVector(repeating: 1.0 / 720)
    p = p * r + FloatVector(repeating: 1.0 / 120)
    p = p * r + FloatVector(repeating: 1.0 / 24)
    p = p * r + FloatVector(repeating: 1.0 / 6)
    p = p * r + FloatVector(repeating: 0.5)
    p = p * r + FloatVector(repeating: 1)
    p = p * r + FloatVector(repeating: 1)
    // n sits in the low mantissa bits of `shifted`; 2ⁿ = (n + 127) << 23 as a float.
    let integer = bits(shifted) &- bits(magic)
    let scale = float(bits: (integer &+ SIMD16<Int32>(repeating: 127)) &<< SIMD16<Int32>(repeating: 23))
    return p * scale
  }

  /// Φ(x) = (1 + erf(x/√2))/2, the standard normal CDF, lane by lane.
  ///
  /// A&S 7.1.26 gives erfc(z) ≈ (a₁t + … + a₅t⁵)·e^(−z²) with t = 1/(1 + p·z) for z ≥ 0, so
  /// Φ(x) = 1 − erfc(|x|/√2)/2 for x ≥ 0 and erfc(|x|/√2)/2 for x < 0: the lower tail is
  /// computed directly, without the cancellation of 1 + erf.
  @inline(__always)
  static func normalCDF(_ x: FloatVector) -> FloatVector {
    let magnitude = float(bits: bits(x) & SIMD16<Int32>(repeating: 0x7FFF_FFFF))
    let z = magnitude * FloatVector(repeating: 0.707_106_77)
    let t = FloatVector(repeating: 1) / (FloatVector(repeating: 1) + FloatVector(repeating: 0.327_591_1) * z)
    var poly = FloatVector(repeating: 1.061_405_429)
    poly = poly * t + FloatVector(repeating: -1.453_152_027)
    poly = poly * t + FloatVector(repeating: 1.421_413_741)
    poly = poly * t + FloatVector(repeating: -0.284_496_736)
    poly = poly * t + FloatVector(repeating: 0.254_829_592)
    let halfTail = FloatVector(repeating: 0.5) * poly * t * exp(FloatVector.zero - z * z)
    var result = FloatVector(repeating: 1) - halfTail
    result.replace(with: halfTail, where: x .< FloatVector.zero)
    return result
  }

  /// Φ(x) for one value (the scalar tail of the vector loops).
  @inline(__always)
  static func normalCDF(_ x: Float) -> Float { normalCDF(FloatVector(repeating: x))[0] }

  /// e^x for one value (the scalar tail of the vector loops).
  @inline(__always)
  static func exp(_ x: Float) -> Float { exp(FloatVector(repeating: x))[0] }

  // MARK: rows

  /// Adds `bias` (length `columns`) to each of `rows` rows of `x` (leading dimension `ld`).
  static func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    for row in 0..<rows {
      let line = x + row * ld
      var j = 0
      while j + lanes <= columns {
        store(load(line + j) + load(bias + j), line + j)
        j += lanes
      }
      while j < columns {
        line[j] += bias[j]
        j += 1
      }
    }
  }

  /// x ← GELU(x + bias) on each of `rows` rows of `columns` (dense), GELU(v) = v·Φ(v).
  static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>) {
    for row in 0..<rows {
      let line = x + row * columns
      var j = 0
      while j + lanes <= columns {
        let v = load(line + j) + load(bias + j)
        store(v * normalCDF(v), line + j)
        j += lanes
      }
      while j < columns {
        let v = line[j] + bias[j]
        line[j] = v * normalCDF(v)
        j += 1
      }
    }
  }

  /// residual ← LayerNorm(x + bias + residual)·γ + β, row by row (`rows` × `columns`; rows
  /// of x are `ld` apart, of residual `columns` apart).
  ///
  /// LayerNorm(v) = (v − μ)/√(σ² + ε) with μ and σ² the mean and (biased) variance of the
  /// row, computed in two passes (the second over v − μ, which avoids the cancellation of
  /// E[v²] − μ²).
  static func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    for row in 0..<rows {
      let output = residual + row * columns
      add(columns: columns, x + row * ld, bias, output, into: output)
      layerNormInPlace(columns: columns, output, gamma: gamma, beta: beta, epsilon: epsilon)
    }
  }

  /// v ← (v − μ)/√(σ² + ε)·γ + β for one row of `columns`.
  @inline(__always)
  static func layerNormInPlace(
    columns: Int, _ v: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    let mean = sum(columns, v) / Float(columns)
    var squares = FloatVector.zero
    var tail: Float = 0
    var j = 0
    let meanVector = FloatVector(repeating: mean)
    while j + lanes <= columns {
      let d = load(v + j) - meanVector
      squares += d * d
      j += lanes
    }
    while j < columns {
      let d = v[j] - mean
      tail += d * d
      j += 1
    }
    let variance = (horizontalSum(squares) + tail) / Float(columns)
    let inverse = 1 / (variance + epsilon).squareRoot()
    let inverseVector = FloatVector(repeating: inverse)
    j = 0
    while j + lanes <= columns {
      store((load(v + j) - meanVector) * inverseVector * load(gamma + j) + load(beta + j), v + j)
      j += lanes
    }
    while j < columns {
      v[j] = (v[j] - mean) * inverse * gamma[j] + beta[j]
      j += 1
    }
  }

  /// Each of `rows` rows of `x` (length `columns`, leading dimension `ld`) ← its softmax,
  /// exp(xⱼ − max)/Σ exp(xₖ − max).
  static func softmaxRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int) {
    for row in 0..<rows {
      let line = x + row * ld
      var maximumVector = FloatVector(repeating: -.infinity)
      var maximum = -Float.infinity
      var j = 0
      while j + lanes <= columns {
        let v = load(line + j)
        maximumVector.replace(with: v, where: v .> maximumVector)
        j += lanes
      }
      while j < columns {
        maximum = Swift.max(maximum, line[j])
        j += 1
      }
      maximum = Swift.max(maximum, horizontalMaximum(maximumVector))
      let shift = FloatVector(repeating: maximum)
      var total = FloatVector.zero
      var tail: Float = 0
      j = 0
      while j + lanes <= columns {
        let e = exp(load(line + j) - shift)
        store(e, line + j)
        total += e
        j += lanes
      }
      while j < columns {
        let e = exp(line[j] - maximum)
        line[j] = e
        tail += e
        j += 1
      }
      let inverse = FloatVector(repeating: 1 / (horizontalSum(total) + tail))
      j = 0
      while j + lanes <= columns {
        store(load(line + j) * inverse, line + j)
        j += lanes
      }
      while j < columns {
        line[j] *= inverse[0]
        j += 1
      }
    }
  }

  /// out ← word + position + tokenType, then LayerNorm·γ + β (one token's embedding).
  static func embedToken(
    columns: Int, word: UnsafePointer<Float>, position: UnsafePointer<Float>, tokenType: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    add(columns: columns, word, position, tokenType, into: out)
    layerNormInPlace(columns: columns, out, gamma: gamma, beta: beta, epsilon: epsilon)
  }

  /// out ← a + b + c (`out` may be one of the inputs).
  @inline(__always)
  static func add(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>
  ) {
    var j = 0
    while j + lanes <= columns {
      store(load(a + j) + load(b + j) + load(c + j), out + j)
      j += lanes
    }
    while j < columns {
      out[j] = a[j] + b[j] + c[j]
      j += 1
    }
  }

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

  @inline(__always)
  static func sum(_ count: Int, _ x: UnsafePointer<Float>) -> Float {
    var total = FloatVector.zero
    var tail: Float = 0
    var j = 0
    while j + lanes <= count {
      total += load(x + j)
      j += lanes
    }
    while j < count {
      tail += x[j]
      j += 1
    }
    return horizontalSum(total) + tail
  }

  /// Σ lanes, halves folded as vectors (no generic `sum()`, which runs lane by lane).
  @inline(__always)
  static func horizontalSum(_ v: FloatVector) -> Float {
    let eight = v.lowHalf + v.highHalf
    let four = eight.lowHalf + eight.highHalf
    return (four[0] + four[2]) + (four[1] + four[3])
  }

  /// The largest lane (halves folded as vectors).
  @inline(__always)
  static func horizontalMaximum(_ v: FloatVector) -> Float {
    var eight = v.lowHalf
    eight.replace(with: v.highHalf, where: v.highHalf .> eight)
    var four = eight.lowHalf
    four.replace(with: eight.highHalf, where: eight.highHalf .> four)
    return Swift.max(Swift.max(four[0], four[1]), Swift.max(four[2], four[3]))
  }

  @inline(__always)
  static func bits(_ x: FloatVector) -> SIMD16<Int32> { unsafeBitCast(x, to: SIMD16<Int32>.self) }

  @inline(__always)
  static func float(bits: SIMD16<Int32>) -> FloatVector { unsafeBitCast(bits, to: FloatVector.self) }

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
