// Optimizer kernels of the SIMD backend: the inner loops of grid search + least squares,
// HQQ and the thermodynamic loss (see Sources/ArrowheadCore/Families/OptimizerKernels.swift).
//
// ISA: whatever this module is compiled for; 8 lanes (SIMD8<Float>: two SSE registers on
// baseline, one YMM register on x86-64-v3/v4). Codes are rounded half to even with the
// 1.5·2²³ trick ((t + 1.5·2²³) − 1.5·2²³ rounds t ∈ [0, 2²²) to the nearest integer),
// applied after the clamp (clamp and round commute for integral bounds), so the loops need
// no SSE4.1 `roundps`. Mul then add, never fused, and lane sums folded in lane order: every
// ISA level returns the same bits. Lanes accumulate in Float32 over runs of at most 1024
// elements, then in Double, which keeps Σq and Σq² exact for any group up to 1024 elements
// and the relative error of the sums near 10⁻⁷ beyond.
import ArrowheadCore

/// Elements accumulated in Float32 before the partial sums move to Double.
let optimizerChunk = 1024

/// Σ of the eight lanes in lane order (what the standard library's `sum()` does, written
/// out so that no generic code is emitted into this module: see DESIGN.md).
@inline(__always)
func laneOrderSum(_ v: SIMD8<Float>) -> Float {
  var result: Float = -0.0
  for i in 0..<8 { result += v[i] }
  return result
}

/// Vectorised elementary functions (bit manipulation, multiplications and additions only,
/// no libm call per lane — `powf` per weight would make HQQ ~10× slower).
enum FastMath {
  /// 1.5·2²³.
  @inline(__always)
  static var magic: SIMD8<Float> { SIMD8<Float>(repeating: 12_582_912) }

  /// Lane-wise max(t, low) as a per-lane ternary (`maxps`).
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

  /// Lane-wise `mask ? a : b`, bit for bit. The lanes' bits travel as a `SIMDMask`, whose
  /// `.&`, `.|` and `.!` (and so its `replacing(with:where:)`) are single vector operations on
  /// the concrete type; `SIMD8<Float>.replacing(with:where:)` and the integer vectors' `&`,
  /// `|` are the standard library's lane-by-lane loops, which LLVM turns back into vector code
  /// only sometimes: on x86-64-v4, where a compare yields a mask register, the selects of
  /// `hqqZeroStep` stayed one lane at a time (ArrowheadOptimize's README, §9).
  @inline(__always)
  static func select(_ mask: SIMDMask<SIMD8<Int32>>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    let aBits = unsafeBitCast(a, to: SIMDMask<SIMD8<Int32>>.self)
    let bBits = unsafeBitCast(b, to: SIMDMask<SIMD8<Int32>>.self)
    return unsafeBitCast(bBits.replacing(with: aBits, where: mask), to: SIMD8<Float>.self)
  }

  /// clamp(round(t), 0, top), ties to even.
  @inline(__always)
  static func roundedCode(_ t: SIMD8<Float>, top: SIMD8<Float>) -> SIMD8<Float> {
    let clamped = min(max(t, SIMD8<Float>()), top)
    return (clamped + magic) - magic
  }

  /// log₂ x for finite x > 0 (values below 10⁻³⁰ are treated as 10⁻³⁰): x = 2ᵉ·m with
  /// m ∈ [√½, √2); log₂ m = (2/ln 2)·atanh u, u = (m − 1)/(m + 1), |u| ≤ 0.172, by its odd
  /// series to u⁷ (truncation ≈ 4·10⁻⁸).
  #if compiler(>=6.3)
  @inline(always)  // a guarantee; `@inline(__always)` is a hint the inliner declined in hqqZeroStep
  #else
  @inline(__always)
  #endif
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

  /// 2ʸ for y clamped to [−126, 126]: y = n + f, 2ᶠ by its Taylor series to f⁶
  /// (truncation ≈ 1.2·10⁻⁷), 2ⁿ built in the exponent bits.
  #if compiler(>=6.3)
  @inline(always)  // a guarantee; `@inline(__always)` is a hint the inliner declined in hqqZeroStep
  #else
  @inline(__always)
  #endif
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

  /// xᵖ for x > 0: relative error ≈ |p·log₂ x|·10⁻⁷ + 2·10⁻⁷.
  #if compiler(>=6.3)
  @inline(always)  // a guarantee; `@inline(__always)` is a hint the inliner declined in hqqZeroStep
  #else
  @inline(__always)
  #endif
  static func pow(_ x: SIMD8<Float>, _ p: Float) -> SIMD8<Float> { exp2(log2(x) * p) }

  /// xᵖ for one value (the scalar tails), through the vector routine.
  @inline(__always)
  static func pow(_ x: Float, _ p: Float) -> Float { pow(SIMD8(repeating: x), p)[0] }
}

/// Whether a sweep measures E (a compile-time switch: the two loops are specialised).
protocol SweepMeasure { static var enabled: Bool { get } }
enum MeasureError: SweepMeasure { static var enabled: Bool { true } }
enum SkipError: SweepMeasure { static var enabled: Bool { false } }

enum SIMDOptimizer {
  /// One code: clamp(round(x·a + b), 0, top), half to even.
  @inline(__always)
  static func code(_ x: Float, a: Float, b: Float, top: Float) -> Float {
    let t = Swift.min(Swift.max(x * a + b, 0), top)
    return (t + 12_582_912) - 12_582_912
  }

  static func groupSums(_ x: UnsafePointer<Float>, _ count: Int, weights: UnsafePointer<Float>?) -> GroupSums {
    var result = GroupSums()
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var w8 = SIMD8<Float>(), x8 = SIMD8<Float>(), xx8 = SIMD8<Float>()
      var i = start
      if let weights {
        while i + 8 <= end {
          let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
          let w = UnsafeRawPointer(weights + i).loadUnaligned(as: SIMD8<Float>.self)
          let wv = w * v
          w8 += w
          x8 += wv
          xx8 += wv * v
          i += 8
        }
      } else {
        while i + 8 <= end {
          let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
          w8 += SIMD8(repeating: 1)
          x8 += v
          xx8 += v * v
          i += 8
        }
      }
      var w1: Float = 0, x1: Float = 0, xx1: Float = 0
      while i < end {
        let w = weights?[i] ?? 1
        w1 += w
        x1 += w * x[i]
        xx1 += w * x[i] * x[i]
        i += 1
      }
      result.weight += Double(laneOrderSum(w8)) + Double(w1)
      result.sum += Double(laneOrderSum(x8)) + Double(x1)
      result.sumOfSquares += Double(laneOrderSum(xx8)) + Double(xx1)
      start = end
    }
    return result
  }

  static func codeSums(_ x: UnsafePointer<Float>, _ count: Int, a: Float, b: Float, top: Float) -> CodeSums {
    var result = CodeSums()
    let a8 = SIMD8<Float>(repeating: a), b8 = SIMD8<Float>(repeating: b)
    let top8 = SIMD8<Float>(repeating: top)
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var q8 = SIMD8<Float>(), qq8 = SIMD8<Float>(), xq8 = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + b8, top: top8)
        q8 += q
        qq8 += q * q
        xq8 += v * q
        i += 8
      }
      var q1: Float = 0, qq1: Float = 0, xq1: Float = 0
      while i < end {
        let q = code(x[i], a: a, b: b, top: top)
        q1 += q
        qq1 += q * q
        xq1 += x[i] * q
        i += 1
      }
      result.q += Double(laneOrderSum(q8)) + Double(q1)
      result.qq += Double(laneOrderSum(qq8)) + Double(qq1)
      result.xq += Double(laneOrderSum(xq8)) + Double(xq1)
      start = end
    }
    return result
  }

  static func weightedCodeSums(
    _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, weightedValues wx: UnsafePointer<Float>, _ count: Int,
    a: Float, b: Float, top: Float
  ) -> CodeSums {
    var result = CodeSums()
    let a8 = SIMD8<Float>(repeating: a), b8 = SIMD8<Float>(repeating: b)
    let top8 = SIMD8<Float>(repeating: top)
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var q8 = SIMD8<Float>(), qq8 = SIMD8<Float>(), xq8 = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + b8, top: top8)
        let wq = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self) * q
        q8 += wq
        qq8 += wq * q
        xq8 += UnsafeRawPointer(wx + i).loadUnaligned(as: SIMD8<Float>.self) * q
        i += 8
      }
      var q1: Float = 0, qq1: Float = 0, xq1: Float = 0
      while i < end {
        let q = code(x[i], a: a, b: b, top: top)
        q1 += w[i] * q
        qq1 += w[i] * q * q
        xq1 += wx[i] * q
        i += 1
      }
      result.q += Double(laneOrderSum(q8)) + Double(q1)
      result.qq += Double(laneOrderSum(qq8)) + Double(qq1)
      result.xq += Double(laneOrderSum(xq8)) + Double(xq1)
      start = end
    }
    return result
  }

  @inline(__always)
  static func laneCode(_ v: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ top: SIMD8<Float>) -> SIMD8<Float> {
    FastMath.roundedCode(v * a + b, top: top)
  }

  /// Eight candidates, one per lane: each weight is broadcast to the eight lanes.
  @inline(never)
  static func plainSweep<M: SweepMeasure>(
    _ x: UnsafePointer<Float>, _ count: Int, _ lanes: CandidateLanes, _ top: Float, _: M.Type
  ) -> LaneSums {
    var result = LaneSums()
    let top8 = SIMD8<Float>(repeating: top)
    let a = lanes.a, b = lanes.b, s = lanes.s, m = lanes.m
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var q = SIMD8<Float>(), qq = SIMD8<Float>(), xq = SIMD8<Float>(), e = SIMD8<Float>()
      for i in start..<end {
        let v = SIMD8<Float>(repeating: x[i])
        let c = laneCode(v, a, b, top8)
        q += c
        qq += c * c
        xq += v * c
        if M.enabled {
          let r = v - (c * s + m)
          e += r * r
        }
      }
      result.q += SIMD8<Double>(q)
      result.qq += SIMD8<Double>(qq)
      result.xq += SIMD8<Double>(xq)
      if M.enabled { result.error += SIMD8<Double>(e) }
      start = end
    }
    return result
  }

  @inline(never)
  static func weightedSweep<M: SweepMeasure>(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ wx: UnsafePointer<Float>, _ count: Int, _ lanes: CandidateLanes,
    _ top: Float, _: M.Type
  ) -> LaneSums {
    var result = LaneSums()
    let top8 = SIMD8<Float>(repeating: top)
    let a = lanes.a, b = lanes.b, s = lanes.s, m = lanes.m
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var q = SIMD8<Float>(), qq = SIMD8<Float>(), xq = SIMD8<Float>(), e = SIMD8<Float>()
      for i in start..<end {
        let v = SIMD8<Float>(repeating: x[i])
        let c = laneCode(v, a, b, top8)
        let wc = SIMD8<Float>(repeating: w[i]) * c
        q += wc
        qq += wc * c
        xq += SIMD8<Float>(repeating: wx[i]) * c
        if M.enabled {
          let r = v - (c * s + m)
          e += SIMD8<Float>(repeating: w[i]) * r * r
        }
      }
      result.q += SIMD8<Double>(q)
      result.qq += SIMD8<Double>(qq)
      result.xq += SIMD8<Double>(xq)
      if M.enabled { result.error += SIMD8<Double>(e) }
      start = end
    }
    return result
  }

  /// Σ(x̂ − x)², Σx̂, Σx̂² of x̂ = q·s + (−b·s).
  static func reconstructionSums(_ x: UnsafePointer<Float>, _ count: Int, a: Float, b: Float, s: Float, top: Float) -> ReconstructionSums {
    let a8 = SIMD8<Float>(repeating: a), b8 = SIMD8<Float>(repeating: b), s8 = SIMD8<Float>(repeating: s)
    let m8 = SIMD8<Float>(repeating: -b * s), top8 = SIMD8<Float>(repeating: top)
    var result = ReconstructionSums()
    var start = 0
    while start < count {
      let end = Swift.min(count, start + optimizerChunk)
      var e8 = SIMD8<Float>(), h8 = SIMD8<Float>(), hh8 = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + b8, top: top8)
        let approximation = q * s8 + m8
        let r = approximation - v
        e8 += r * r
        h8 += approximation
        hh8 += approximation * approximation
        i += 8
      }
      var e1: Float = 0, h1: Float = 0, hh1: Float = 0
      while i < end {
        let approximation = code(x[i], a: a, b: b, top: top) * s + (-b * s)
        e1 += (approximation - x[i]) * (approximation - x[i])
        h1 += approximation
        hh1 += approximation * approximation
        i += 1
      }
      result.squaredError += Double(laneOrderSum(e8)) + Double(e1)
      result.sum += Double(laneOrderSum(h8)) + Double(h1)
      result.sumOfSquares += Double(laneOrderSum(hh8)) + Double(hh1)
      start = end
    }
    return result
  }

  /// One HQQ iteration over an affine group: mean |x − r| of the current codes and the
  /// updated zero-point mean(q − (x − e)·a).
  static func hqqZeroStep(
    _ x: UnsafePointer<Float>, _ count: Int, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    let a8 = SIMD8<Float>(repeating: inverse), z8 = SIMD8<Float>(repeating: zero)
    let top8 = SIMD8<Float>(repeating: top), zero8 = SIMD8<Float>()
    let inverseBeta = SIMD8<Float>(repeating: 1 / beta)
    var absolute: Double = 0, update: Double = 0
    var i = 0
    // Runs of 1024 elements, each summed in Float32 then added in Double (a flush inside the
    // vector loop made LLVM build the v4 sums lane by lane).
    while i + 8 <= count {
      let end = Swift.min(count, i + optimizerChunk)
      var absolute8 = SIMD8<Float>(), update8 = SIMD8<Float>()
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + z8, top: top8)
        let r = (q - z8) / a8
        let e = v - r
        let magnitude = FastMath.select(e .< zero8, -e, e)
        absolute8 += magnitude
        var shrunk = magnitude - inverseBeta * FastMath.pow(magnitude, exponent)
        shrunk = FastMath.select((shrunk .< zero8) .| (magnitude .== zero8), zero8, shrunk)
        let signed = FastMath.select(e .< zero8, -shrunk, shrunk)
        update8 += q - (v - signed) * a8
        i += 8
      }
      absolute += Double(laneOrderSum(absolute8))
      update += Double(laneOrderSum(update8))
    }
    while i < count {
      let q = code(x[i], a: inverse, b: zero, top: top)
      let e = x[i] - (q - zero) / inverse
      let magnitude = abs(e)
      absolute += Double(magnitude)
      var shrunk: Float = 0
      if magnitude > 0 { shrunk = Swift.max(magnitude - FastMath.pow(magnitude, exponent) / beta, 0) }
      update += Double(q - (x[i] - (e < 0 ? -shrunk : shrunk)) * inverse)
      i += 1
    }
    return HalfQuadraticStep(meanAbsoluteError: Float(absolute / Double(count)), update: Float(update / Double(count)))
  }

  /// One symmetric iteration: mean |x − r| and the scale update Σ(x − e)(q − z)/Σ(q − z)².
  static func hqqScaleStep(
    _ x: UnsafePointer<Float>, _ count: Int, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    let inverse = 1 / scale
    let a8 = SIMD8<Float>(repeating: inverse), z8 = SIMD8<Float>(repeating: zero), s8 = SIMD8<Float>(repeating: scale)
    let top8 = SIMD8<Float>(repeating: top), zero8 = SIMD8<Float>()
    let inverseBeta = SIMD8<Float>(repeating: 1 / beta)
    var absolute: Double = 0, numerator: Double = 0, denominator: Double = 0
    var i = 0
    // As `hqqZeroStep`: runs of 1024 elements summed in Float32 lanes, then in Double, and
    // `FastMath.select` for the selects. (Each element's three terms were added to Double
    // sums one lane at a time, a chain of dependent adds, and the selects were
    // `replacing(with:where:)`: 16 384 values took 20.7–21.4 µs on AVX2 and AVX-512.)
    while i + 8 <= count {
      let end = Swift.min(count, i + optimizerChunk)
      var absolute8 = SIMD8<Float>(), numerator8 = SIMD8<Float>(), denominator8 = SIMD8<Float>()
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let centred = FastMath.roundedCode(v * a8 + z8, top: top8) - z8
        let e = v - centred * s8
        let magnitude = FastMath.select(e .< zero8, -e, e)
        absolute8 += magnitude
        var shrunk = magnitude - inverseBeta * FastMath.pow(magnitude, exponent)
        shrunk = FastMath.select((shrunk .< zero8) .| (magnitude .== zero8), zero8, shrunk)
        let signed = FastMath.select(e .< zero8, -shrunk, shrunk)
        numerator8 += (v - signed) * centred
        denominator8 += centred * centred
        i += 8
      }
      absolute += Double(laneOrderSum(absolute8))
      numerator += Double(laneOrderSum(numerator8))
      denominator += Double(laneOrderSum(denominator8))
    }
    while i < count {
      let centred = code(x[i], a: inverse, b: zero, top: top) - zero
      let e = x[i] - centred * scale
      let magnitude = abs(e)
      absolute += Double(magnitude)
      var shrunk: Float = 0
      if magnitude > 0 { shrunk = Swift.max(magnitude - FastMath.pow(magnitude, exponent) / beta, 0) }
      numerator += Double((x[i] - (e < 0 ? -shrunk : shrunk)) * centred)
      denominator += Double(centred * centred)
      i += 1
    }
    return HalfQuadraticStep(
      meanAbsoluteError: Float(absolute / Double(count)), update: denominator > 0 ? Float(numerator / denominator) : scale)
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums {
    SIMDOptimizer.groupSums(x, count, weights: weights)
  }

  public static func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    a: Float, b: Float, top: Float
  ) -> CodeSums {
    if let weights, let weightedValues {
      return SIMDOptimizer.weightedCodeSums(x, weights: weights, weightedValues: weightedValues, count, a: a, b: b, top: top)
    }
    return SIMDOptimizer.codeSums(x, count, a: a, b: b, top: top)
  }

  public static func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool
  ) -> LaneSums {
    if let w = weights, let wx = weightedValues {
      return measureError
        ? SIMDOptimizer.weightedSweep(x, w, wx, count, lanes, top, MeasureError.self)
        : SIMDOptimizer.weightedSweep(x, w, wx, count, lanes, top, SkipError.self)
    }
    return measureError
      ? SIMDOptimizer.plainSweep(x, count, lanes, top, MeasureError.self)
      : SIMDOptimizer.plainSweep(x, count, lanes, top, SkipError.self)
  }

  public static func reconstructionSums(
    count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float
  ) -> ReconstructionSums {
    SIMDOptimizer.reconstructionSums(x, count, a: a, b: b, s: scale, top: top)
  }

  public static func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    SIMDOptimizer.hqqZeroStep(x, count, inverse: inverse, zero: zero, beta: beta, exponent: exponent, top: top)
  }

  public static func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    SIMDOptimizer.hqqScaleStep(x, count, scale: scale, zero: zero, beta: beta, exponent: exponent, top: top)
  }
}
