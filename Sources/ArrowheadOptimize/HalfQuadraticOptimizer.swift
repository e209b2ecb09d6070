import ArrowheadCore
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
/// vectorised log₂/exp₂ (the `hqqZeroStep` / `hqqScaleStep` kernels). O(iterations · n).
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
  /// `bits` must be one of `QuantizationScheme.supportedBits` (see
  /// `ParameterOptimizer.parameters(for:importance:bits:mode:engine:)`).
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters {
    var low = Float.infinity, high = -Float.infinity
    for value in group {
      low = min(low, value)
      high = max(high, value)
    }
    if group.isEmpty { (low, high) = (0, 0) }
    return solve(group, minimum: low, maximum: high, bits: bits, mode: mode, engine: engine)
  }

  /// Parameters for every group of `batch` (extremes from the quantizer's kernel).
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    for index in 0..<batch.groupCount {
      let chosen = solve(
        batch.group(index), minimum: batch.minimums[index], maximum: batch.maximums[index], bits: bits, mode: mode,
        engine: batch.engine)
      scales[index] = chosen.scale
      offsets[index] = chosen.offset
    }
  }

  func solve(
    _ group: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float, bits: Int, mode: QuantizationMode, engine: Engine
  ) -> AffineParameters {
    let fallback = AffineParameters.minMax(minimum: minimum, maximum: maximum, bits: bits, mode: mode)
    guard let x = group.baseAddress, group.count >= 2, maximum > minimum else { return fallback }
    let count = group.count
    // The optimizer family's kernels (every one on the backend dispatch picks for this size).
    let kernels = engine.backend(for: .hqqZeroStep, .vector(count: count))
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
        let step = kernels.hqqZeroStep(count: count, x, inverse: inverse, zero: zero, beta: beta, exponent: exponent, top: top)
        zero = step.update
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
      let sums = kernels.codeSums(count: count, x, weights: nil, weightedValues: nil, a: inverse, b: z, top: top)
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
        let step = kernels.hqqScaleStep(count: count, x, scale: scale, zero: half, beta: beta, exponent: exponent, top: top)
        if step.update > 0, step.update.isFinite { scale = step.update }
        beta *= kappa
        if earlyStop {
          if step.meanAbsoluteError < best { best = step.meanAbsoluteError } else { break }
        }
      }
      let chosen = AffineParameters(scale: scale, offset: half)
      return chosen.isStorable(bits: bits, mode: mode) ? chosen : fallback
    }
  }
}
