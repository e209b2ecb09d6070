import Arrowhead
import ArrowheadQuant

/// The half-quadratic solver of HQQ (Badri & Shaji, "Half-Quadratic Quantization of Large
/// Machine Learning Models", 2023; mobiusml/hqq `optimize_weights_proximal`), per group.
///
/// HQQ minimises the lₚ error ‖x − x̂‖ₚᵖ with p < 1 — a sparsity-promoting norm, robust to
/// the few outliers that dominate a min-max range — by splitting it with an auxiliary
/// error variable e and alternating two closed-form steps. With the inverse scale
/// a = 1/s kept at its min-max value a = (2ᵇ − 1)/(max − min) (at most 2·10⁴) and the
/// zero-point z (a float: x̂ = (q − z)/a, i.e. the float minimum m = −z/a) starting at
/// −min·a, each iteration does:
///
/// 1. codes q = clamp(round(x·a + z), 0, 2ᵇ − 1), reconstruction r = (q − z)/a;
/// 2. shrinkage (the proximal operator of |·|ᵖ): e = sign(x − r)·max(|x − r| − |x − r|ᵖ⁻¹/β, 0);
/// 3. the exact zero-point update z = mean(q − (x − e)·a);
/// 4. β ← κ·β; stop early when the mean |x − r| does not decrease (HQQ keeps the zero-point
///    update of that last iteration, and so does this port).
///
/// Defaults are HQQ's: p = 0.7, β = 10, κ = 1.01, 20 iterations, early stop. HQQ stops when
/// the error of the *whole tensor* stops decreasing; here each group stops on its own error,
/// so that groups run independently in parallel (on all-MiniLM-L6-v2 the two differ by
/// 0.2 %: `Benchmarks/peers/optimize_hqq.py --stop tensor|group`).
///
/// Modes: float minimum stores m = −z/a; zero-point rounds z to an integer in 0…2ᵇ − 1 at
/// the end and refits the scale to the resulting codes (least squares, one more pass);
/// symmetric fixes z = 2ᵇ⁻¹, so the analogous exact update is the scale's instead:
/// s = Σ(x − e)(q − z) / Σ(q − z)².
///
/// Cost: at most `iterations` passes per group, each computing |x − r|^(p−1) with a
/// vectorised log₂/exp₂ (`FastMath`). O(iterations · n).
public struct HalfQuadraticOptimizer: ParameterOptimizer {
  /// The norm's exponent p ∈ (0, 1] (1 = l₁ soft thresholding).
  public let norm: Double
  /// The initial penalty β > 0.
  public let beta: Double
  /// β's growth per iteration, κ ≥ 1.
  public let kappa: Double
  /// The maximum number of iterations, 1…1000.
  public let iterations: Int
  /// Whether to stop when the mean absolute error stops decreasing.
  public let earlyStop: Bool

  /// Creates the optimizer; throws `.invalidSetting` for p ∉ (0, 1], β ≤ 0 (or not finite),
  /// κ < 1, or iterations ∉ 1…1000.
  public init(norm: Double = 0.7, beta: Double = 10, kappa: Double = 1.01, iterations: Int = 20, earlyStop: Bool = true) throws(OptimizationError) {
    guard norm.isFinite, norm > 0, norm <= 1 else { throw .invalidSetting(name: "p", value: "\(norm)", expected: "an exponent in (0, 1]") }
    guard beta.isFinite, beta > 0 else { throw .invalidSetting(name: "beta", value: "\(beta)", expected: "a finite value > 0") }
    try OptimizationError.require("kappa", kappa, in: 1...1e6, "a finite value ≥ 1")
    try OptimizationError.require("iterations", iterations, in: 1...1000)
    self.norm = norm
    self.beta = beta
    self.kappa = kappa
    self.iterations = iterations
    self.earlyStop = earlyStop
  }

  /// "hqq".
  public var name: String { "hqq" }

  /// p, β, κ, iterations, early stop.
  public var settings: [String: String] {
    ["p": "\(norm)", "beta": "\(beta)", "kappa": "\(kappa)", "iterations": "\(iterations)", "early_stop": "\(earlyStop)"]
  }

  /// Parameters for one group (importance is not used: HQQ is data-free).
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode
  ) -> AffineParameters {
    var low = Float.infinity, high = -Float.infinity
    for value in group {
      low = min(low, value)
      high = max(high, value)
    }
    if group.isEmpty { (low, high) = (0, 0) }
    return solve(group, minimum: low, maximum: high, bits: bits, mode: mode)
  }

  /// Parameters for every group of `batch` (extremes from the quantizer's kernel).
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    for index in 0..<batch.groupCount {
      let chosen = solve(batch.group(index), minimum: batch.minimums[index], maximum: batch.maximums[index], bits: bits, mode: mode)
      scales[index] = chosen.scale
      offsets[index] = chosen.offset
    }
  }

  func solve(_ group: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float, bits: Int, mode: QuantizationMode) -> AffineParameters {
    let fallback = AffineParameters.minMax(minimum: minimum, maximum: maximum, bits: bits, mode: mode)
    guard let x = group.baseAddress, group.count >= 2, maximum > minimum else { return fallback }
    let count = group.count
    let top = Float((1 << bits) - 1)
    let half = Float(1 << (bits - 1))
    var beta = Float(self.beta)
    let kappa = Float(self.kappa), exponent = Float(norm - 1)
    var best = Float.infinity
    switch mode {
    case .floatMinimum, .zeroPoint:
      let inverse = min(top / (maximum - minimum), 20_000)
      var zero = -minimum * inverse
      for _ in 0..<iterations {
        let step = Self.iterate(x, count, inverse: inverse, zero: zero, beta: beta, exponent: exponent, top: top)
        zero = step.zeroUpdate
        beta *= kappa
        if earlyStop {
          if step.meanAbsoluteError < best { best = step.meanAbsoluteError } else { break }
        }
      }
      if mode == .floatMinimum {
        let chosen = AffineParameters(scale: 1 / inverse, offset: -zero / inverse)
        return chosen.isStorable(bits: bits, mode: mode) ? chosen : fallback
      }
      // Zero-point: x̂ = (q − z)·s with an integral z (HQQ's z is already in code units);
      // after rounding z, the scale is refitted to the codes: s = Σx(q − z)/Σ(q − z)².
      let z = min(max(zero.rounded(.toNearestOrEven), 0), top)
      var scale = 1 / inverse
      let sums = GroupKernels.codeSums(x, count, a: inverse, b: z, top: top)
      let denominator = sums.qq - 2 * Double(z) * sums.q + Double(z) * Double(z) * Double(count)
      var total = 0.0
      for i in 0..<count { total += Double(x[i]) }
      let numerator = sums.xq - Double(z) * total
      if denominator > 0, numerator > 0 { scale = Float(numerator / denominator) }
      let chosen = AffineParameters(scale: scale, offset: z)
      return chosen.isStorable(bits: bits, mode: mode) && scale > 0 ? chosen : fallback
    case .symmetric:
      var scale = fallback.scale
      guard scale > 0 else { return fallback }
      for _ in 0..<iterations {
        let step = Self.iterateScale(x, count, scale: scale, zero: half, beta: beta, exponent: exponent, top: top)
        if step.scaleUpdate > 0, step.scaleUpdate.isFinite { scale = step.scaleUpdate }
        beta *= kappa
        if earlyStop {
          if step.meanAbsoluteError < best { best = step.meanAbsoluteError } else { break }
        }
      }
      let chosen = AffineParameters(scale: scale, offset: half)
      return chosen.isStorable(bits: bits, mode: mode) ? chosen : fallback
    }
  }

  /// One HQQ iteration over a group: mean |x − r| of the current codes and the updated
  /// zero-point mean(q − (x − e)·a).
  @inline(__always)
  static func iterate(
    _ x: UnsafePointer<Float>, _ count: Int, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> (meanAbsoluteError: Float, zeroUpdate: Float) {
    let a8 = SIMD8<Float>(repeating: inverse), z8 = SIMD8<Float>(repeating: zero)
    let top8 = SIMD8<Float>(repeating: top), zero8 = SIMD8<Float>()
    let inverseBeta = SIMD8<Float>(repeating: 1 / beta)
    var absolute8 = SIMD8<Float>(), update8 = SIMD8<Float>()
    var absolute: Double = 0, update: Double = 0
    var i = 0
    while i + 8 <= count {
      let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
      let q = FastMath.roundedCode(v * a8 + z8, top: top8)
      let r = (q - z8) / a8
      let e = v - r
      let magnitude = e.replacing(with: -e, where: e .< zero8)
      absolute8 += magnitude
      var shrunk = magnitude - inverseBeta * FastMath.pow(magnitude, exponent)
      shrunk = shrunk.replacing(with: zero8, where: (shrunk .< zero8) .| (magnitude .== zero8))
      let signed = shrunk.replacing(with: -shrunk, where: e .< zero8)
      update8 += q - (v - signed) * a8
      i += 8
      if i & 1023 == 0 {
        absolute += Double(absolute8.sum())
        update += Double(update8.sum())
        absolute8 = SIMD8()
        update8 = SIMD8()
      }
    }
    absolute += Double(absolute8.sum())
    update += Double(update8.sum())
    while i < count {
      let q = GroupKernels.code(x[i], a: inverse, b: zero, top: top)
      let e = x[i] - (q - zero) / inverse
      let magnitude = abs(e)
      absolute += Double(magnitude)
      var shrunk: Float = 0
      if magnitude > 0 { shrunk = max(magnitude - FastMath.pow(magnitude, exponent) / beta, 0) }
      update += Double(q - (x[i] - (e < 0 ? -shrunk : shrunk)) * inverse)
      i += 1
    }
    return (Float(absolute / Double(count)), Float(update / Double(count)))
  }

  /// One symmetric iteration: mean |x − r| and the scale update Σ(x − e)(q − z)/Σ(q − z)².
  @inline(__always)
  static func iterateScale(
    _ x: UnsafePointer<Float>, _ count: Int, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> (meanAbsoluteError: Float, scaleUpdate: Float) {
    var absolute: Double = 0, numerator: Double = 0, denominator: Double = 0
    let inverse = 1 / scale
    var i = 0
    while i < count {
      let end = min(count, i + 8)
      var v = SIMD8<Float>(repeating: 0)
      for lane in 0..<(end - i) { v[lane] = x[i + lane] }
      var t = v * inverse + zero
      t = t.replacing(with: 0, where: t .< 0)
      t = t.replacing(with: SIMD8(repeating: top), where: t .> top)
      let q = (t + FastMath.magic) - FastMath.magic
      let centred = q - zero
      let e = v - centred * scale
      let magnitude = e.replacing(with: -e, where: e .< 0)
      var shrunk = magnitude - FastMath.pow(magnitude, exponent) / beta
      shrunk = shrunk.replacing(with: 0, where: (shrunk .< 0) .| (magnitude .== 0))
      let signed = shrunk.replacing(with: -shrunk, where: e .< 0)
      let target = v - signed
      for lane in 0..<(end - i) {
        absolute += Double(magnitude[lane])
        numerator += Double(target[lane] * centred[lane])
        denominator += Double(centred[lane] * centred[lane])
      }
      i = end
    }
    return (Float(absolute / Double(count)), denominator > 0 ? Float(numerator / denominator) : scale)
  }
}

extension FastMath {
  /// xᵖ for one value (the scalar tails), through the vector routine.
  @inline(__always)
  static func pow(_ x: Float, _ p: Float) -> Float {
    pow(SIMD8(repeating: x), p)[0]
  }
}
