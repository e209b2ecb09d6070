/// Vectorised elementary functions for the optimizers' inner loops (8 lanes, baseline
/// x86-64 friendly: bit manipulation, multiplications and additions only, no libm call
/// per lane — `powf` per weight would make HQQ ~10× slower).
enum FastMath {
  /// 1.5·2²³: (t + magic) − magic rounds t ∈ (−2²², 2²²) to the nearest integer, ties to even.
  @inline(__always)
  static var magic: SIMD8<Float> { SIMD8<Float>(repeating: 12_582_912) }

  /// Lane-wise max(t, low) written as a per-lane ternary, which LLVM turns into `maxps`
  /// (or `cmpltps` + `andps` against zero); `replacing(with:where:)` costs three more
  /// instructions per register on baseline x86-64.
  @inline(__always)
  static func max(_ t: SIMD8<Float>, _ low: SIMD8<Float>) -> SIMD8<Float> {
    var result = SIMD8<Float>()
    for i in 0..<8 { result[i] = low[i] < t[i] ? t[i] : low[i] }
    return result
  }

  /// Lane-wise min(t, high) (`minps`).
  @inline(__always)
  static func min(_ t: SIMD8<Float>, _ high: SIMD8<Float>) -> SIMD8<Float> {
    var result = SIMD8<Float>()
    for i in 0..<8 { result[i] = t[i] < high[i] ? t[i] : high[i] }
    return result
  }

  /// clamp(round(t), 0, top) with ties to even: clamp first (clamping and rounding commute
  /// for integral bounds), then (t + 1.5·2²³) − 1.5·2²³.
  @inline(__always)
  static func roundedCode(_ t: SIMD8<Float>, top: SIMD8<Float>) -> SIMD8<Float> {
    let clamped = min(max(t, SIMD8<Float>()), top)
    return (clamped + magic) - magic
  }

  /// log₂ x for finite x > 0 (values below 10⁻³⁰ are treated as 10⁻³⁰).
  ///
  /// x = 2ᵉ·m with m ∈ [√½, √2); log₂ m = (2/ln 2)·atanh u, u = (m − 1)/(m + 1), |u| ≤ 0.172,
  /// by its odd series to u⁷: truncation ≤ 2.9·|u|⁹/9 ≈ 4·10⁻⁸, so the absolute error is a few
  /// Float32 ulps of the result.
  @inline(__always)
  static func log2(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let clamped = x.replacing(with: 1e-30, where: x .< 1e-30)
    let bits = unsafeBitCast(clamped, to: SIMD8<UInt32>.self)
    var exponent = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: bits &>> 23) &- 127)
    var mantissa = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: SIMD8<Float>.self)
    let large = mantissa .> 1.414_213_5
    mantissa = mantissa.replacing(with: mantissa * 0.5, where: large)
    exponent = exponent.replacing(with: exponent + 1, where: large)
    let u = (mantissa - 1) / (mantissa + 1)
    let u2 = u * u
    let c1: Float = 2.885_390_08, c3: Float = 0.961_796_69, c5: Float = 0.577_078_01, c7: Float = 0.412_198_58
    var series = u2 * c7 + c5
    series = series * u2 + c3
    series = series * u2 + c1
    return exponent + u * series
  }

  /// 2ʸ for y clamped to [−126, 126]: y = n + f (n nearest integer, |f| ≤ ½), 2ᶠ by its
  /// Taylor series to f⁶ (truncation (½·ln 2)⁷/7! ≈ 1.2·10⁻⁷), 2ⁿ built in the exponent bits.
  @inline(__always)
  static func exp2(_ y: SIMD8<Float>) -> SIMD8<Float> {
    var v = y.replacing(with: -126, where: y .< -126)
    v = v.replacing(with: 126, where: v .> 126)
    let shifted = v + magic
    let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let f = v - (shifted - magic)
    let l1: Float = 0.693_147_18, l2: Float = 0.240_226_51, l3: Float = 0.055_504_11
    let l4: Float = 0.009_618_13, l5: Float = 0.001_333_36, l6: Float = 0.000_154_04
    var polynomial = f * l6 + l5
    polynomial = polynomial * f + l4
    polynomial = polynomial * f + l3
    polynomial = polynomial * f + l2
    polynomial = polynomial * f + l1
    polynomial = polynomial * f + 1
    let power = unsafeBitCast((n &+ 127) &<< 23, to: SIMD8<Float>.self)
    return polynomial * power
  }

  /// xᵖ for x > 0 (see `log2` and `exp2`): relative error ≈ |p·log₂ x|·10⁻⁷ + 2·10⁻⁷.
  @inline(__always)
  static func pow(_ x: SIMD8<Float>, _ p: Float) -> SIMD8<Float> {
    exp2(log2(x) * p)
  }
}
