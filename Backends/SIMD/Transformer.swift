// Transformer kernels of the SIMD backend: the element-wise and row-wise steps of a
// transformer layer (bias, GELU, LayerNorm, the softmax's exponentials), see
// Sources/ArrowheadCore/Families/TransformerKernels.swift for their meaning.
//
// Written on SIMD16<Float> whatever the ISA (one ZMM register on x86-64-v4, two YMM on v3,
// four SSE registers on baseline) and without fused multiply-adds (`*` then `+`): every
// ISA level computes the same bits, so an encoder's output does not depend on the CPU.
//
// Accuracy: softmax's 2^x has a relative error ≤ 1.9e-7 (degree-5 fit on |f| ≤ 1/2, see
// `exp2NonPositive`); GELU's Φ is a degree-5/5 rational fit, |error| ≤ 2.4e-7·max(1, |v|)
// in GELU (see `gelu`); every reduction sums 16 partial sums in Float.
import ArrowheadCore

typealias FloatVector = SIMD16<Float>

enum SIMDTransformer {
  static let lanes = FloatVector.scalarCount

  // MARK: exp2 and GELU

  /// 2^x lane by lane for x ≤ 0 (softmax's shifted scores in base 2; clamped at −126,
  /// where 2^−126 ≈ 1.2·10⁻³⁸ stands for 0 beside the row's largest weight, 1).
  ///
  /// x = n + f with n = round(x) (the 1.5·2²³ trick) and f = x − n exact, |f| ≤ 1/2;
  /// 2^f by a degree-5 polynomial fitted for relative error (Lawson-weighted least squares
  /// on Chebyshev nodes: 9.1·10⁻⁸ in exact arithmetic, ≤ 1.9·10⁻⁷ evaluated in Float, about
  /// 1.6 ulp); 2ⁿ built in the exponent bits, exact. No Cody–Waite split is needed in base
  /// 2: the factor log₂e is folded into the scores' scale by the caller.
  @inline(__always)
  static func exp2NonPositive(_ x: FloatVector) -> FloatVector {
    var clamped = x
    let low = FloatVector(repeating: -126)
    clamped.replace(with: low, where: clamped .< low)
    let magic = FloatVector(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
    let shifted = clamped + magic
    let f = clamped - (shifted - magic)
    var p = FloatVector(repeating: 1.326_472_5e-3)
    p = p * f + FloatVector(repeating: 9.671_512_8e-3)
    p = p * f + FloatVector(repeating: 5.550_733_7e-2)
    p = p * f + FloatVector(repeating: 0.240_222_42)
    p = p * f + FloatVector(repeating: 0.693_146_98)
    p = p * f + FloatVector(repeating: 1)
    // n sits in the low mantissa bits of `shifted` (bits 0x4B40_0000 + n); 2ⁿ = (n + 127) << 23.
    let exponent = bits(shifted) &+ SIMD16<Int32>(repeating: 127 - 0x4B40_0000)
    return p * float(bits: exponent &<< SIMD16<Int32>(repeating: 23))
  }

  /// GELU(v) = v·Φ(v), Φ the standard normal CDF, lane by lane.
  ///
  /// Φ(v) = 1/2 + c·P(c²)/Q(c²) with c = v clamped to ±5.6 (Φ(−5.6) ≈ 1.1·10⁻⁸, which
  /// Float cannot tell from 0 beside 1), P and Q of degree 5 with Q(0) = 1: a rational fit
  /// of (Φ(c) − 1/2)/c on [0, 5.6] (Lawson-weighted linearised least squares), whose error
  /// in Φ is ≤ 9.4·10⁻⁹ in exact arithmetic. Evaluated in Float, |GELU(v) − v·Φ(v)| ≤
  /// 2.4·10⁻⁷·max(1, |v|) (measured on 2·10⁶ points of [−12, 12]: the rounding of Φ near
  /// 1, about 2 ulp). Below −5.6 the result is 0, where the exact value is above
  /// −7·10⁻⁸. One division, no exp: about half the work of
  /// the erf of Abramowitz & Stegun 7.1.26 with its exp.
  @inline(__always)
  static func gelu(_ v: FloatVector) -> FloatVector {
    let bound = FloatVector(repeating: 5.6)
    let negativeBound = FloatVector.zero - bound
    var c = v
    c.replace(with: bound, where: c .> bound)
    c.replace(with: negativeBound, where: c .< negativeBound)
    let s = c * c
    var p = FloatVector(repeating: 2.214_329e-8)
    p = p * s + FloatVector(repeating: 6.356_847_1e-6)
    p = p * s + FloatVector(repeating: 1.738_860_3e-4)
    p = p * s + FloatVector(repeating: 4.707_482_2e-3)
    p = p * s + FloatVector(repeating: 3.437_948_3e-2)
    p = p * s + FloatVector(repeating: 0.398_942_22)
    var q = FloatVector(repeating: 1.180_175_2e-6)
    q = q * s + FloatVector(repeating: 7.511_350_2e-5)
    q = q * s + FloatVector(repeating: 1.913_181_7e-3)
    q = q * s + FloatVector(repeating: 2.894_205_8e-2)
    q = q * s + FloatVector(repeating: 0.252_842_3)
    q = q * s + FloatVector(repeating: 1)
    var phi = FloatVector(repeating: 0.5) + c * p / q
    phi.replace(with: 0, where: v .< negativeBound)
    return v * phi
  }

  /// GELU of one value (the scalar tail of the vector loops).
  @inline(__always)
  static func gelu(_ v: Float) -> Float { gelu(FloatVector(repeating: v))[0] }

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

  /// x ← GELU(x + bias) on each of `rows` rows of `columns` (leading dimension `ld`),
  /// GELU(v) = v·Φ(v).
  static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    for row in 0..<rows {
      let line = x + row * ld
      var j = 0
      while j + lanes <= columns {
        store(gelu(load(line + j) + load(bias + j)), line + j)
        j += lanes
      }
      while j < columns {
        line[j] = gelu(line[j] + bias[j])
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
      let total = add(columns: columns, x + row * ld, bias, output, into: output)
      layerNormInPlace(columns: columns, output, sum: total, gamma: gamma, beta: beta, epsilon: epsilon)
    }
  }

  /// v ← (v − μ)/√(σ² + ε)·γ + β for one row of `columns` whose sum Σv (μ·columns) the
  /// caller computed while writing the row (`add`).
  @inline(__always)
  static func layerNormInPlace(
    columns: Int, _ v: UnsafeMutablePointer<Float>, sum: Float, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    epsilon: Float
  ) {
    let mean = sum / Float(columns)
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

  /// The unnormalised softmax of each of `rows` rows of `x` (length `columns`, leading
  /// dimension `ld`), in base 2: xⱼ ← 2^(xⱼ − max), and `inverseSums[row]` ← 1/Σⱼ 2^(xⱼ − max).
  ///
  /// With scores scaled by log₂e beforehand this is e^(sⱼ − max)/Σ: softmax, once each row
  /// is multiplied by its inverse sum — which the caller applies to the d-wide product
  /// P·V instead of the n-wide P (`scaleRows`), the same value up to one rounding.
  static func exponentiateRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>) {
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
        let e = exp2NonPositive(load(line + j) - shift)
        store(e, line + j)
        total += e
        j += lanes
      }
      while j < columns {
        let e = exp2NonPositive(FloatVector(repeating: line[j] - maximum))[0]
        line[j] = e
        tail += e
        j += 1
      }
      inverseSums[row] = 1 / (horizontalSum(total) + tail)
    }
  }

  /// Each of `rows` rows of `x` (length `columns`, leading dimension `ld`) ← row · scales[row].
  static func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>) {
    for row in 0..<rows {
      let line = x + row * ld
      let factor = FloatVector(repeating: scales[row])
      var j = 0
      while j + lanes <= columns {
        store(load(line + j) * factor, line + j)
        j += lanes
      }
      while j < columns {
        line[j] *= scales[row]
        j += 1
      }
    }
  }

  /// out ← LayerNorm(a + b + c)·γ + β for one row of `columns` (a token's embedding:
  /// word + position + token type).
  static func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    let total = add(columns: columns, a, b, c, into: out)
    layerNormInPlace(columns: columns, out, sum: total, gamma: gamma, beta: beta, epsilon: epsilon)
  }

  /// out ← a + b + c (`out` may be one of the inputs); returns Σ out (16 partial
  /// sums, then the tail), so that LayerNorm need not read the row again for its mean.
  @inline(__always)
  @discardableResult
  static func add(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>
  ) -> Float {
    var total = FloatVector.zero
    var tail: Float = 0
    var j = 0
    while j + lanes <= columns {
      let v = load(a + j) + load(b + j) + load(c + j)
      store(v, out + j)
      total += v
      j += lanes
    }
    while j < columns {
      let v = a[j] + b[j] + c[j]
      out[j] = v
      tail += v
      j += 1
    }
    return horizontalSum(total) + tail
  }

  // MARK: helpers

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

// MARK: - Exported kernels

extension SIMDKernels {
  public static func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    SIMDTransformer.addBias(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }

  public static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    SIMDTransformer.addBiasGELU(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }

  public static func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    SIMDTransformer.addBiasResidualLayerNorm(
      rows: rows, columns: columns, x, ld: ld, bias: bias, residual: residual, gamma: gamma, beta: beta, epsilon: epsilon)
  }

  public static func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    SIMDTransformer.addLayerNorm(columns: columns, a, b, c, gamma: gamma, beta: beta, epsilon: epsilon, out)
  }

  public static func exponentiateRows(
    rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>
  ) {
    SIMDTransformer.exponentiateRows(rows: rows, columns: columns, x, ld: ld, inverseSums: inverseSums)
  }

  public static func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>) {
    SIMDTransformer.scaleRows(rows: rows, columns: columns, x, ld: ld, scales: scales)
  }
}
