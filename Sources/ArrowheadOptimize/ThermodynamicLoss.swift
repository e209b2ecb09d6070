import ArrowheadCore
import ArrowheadQuant
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Continuous activation quantization parameters of one time group: x̂ = s·(q − z) with
/// q = clamp(round(x/s + z), 0, 2ᵇ − 1). For the float minimum, z = −m/s; for a zero-point
/// z is made integral when the optimizer finishes; for symmetric, z = 2ᵇ⁻¹ throughout.
public struct ContinuousParameters: Sendable, Hashable {
  /// The scale s > 0.
  public var scale: Double
  /// The zero-point z (in codes; not necessarily integral while optimizing).
  public var zeroPoint: Double

  /// Creates parameters.
  public init(scale: Double, zeroPoint: Double) {
    self.scale = scale
    self.zeroPoint = zeroPoint
  }

  /// The continuous form of stored parameters under `mode` (float minimum: z = −m/s).
  public init(_ parameters: AffineParameters, mode: QuantizationMode) {
    scale = Double(parameters.scale)
    zeroPoint = mode == .floatMinimum ? (parameters.scale > 0 ? -Double(parameters.offset) / Double(parameters.scale) : 0) : Double(parameters.offset)
  }

  /// Stored parameters under `mode`: float minimum m = −z·s; zero-point z rounded (half to
  /// even) and clamped to 0…2ᵇ − 1; symmetric z = 2ᵇ⁻¹.
  public func affine(bits: Int, mode: QuantizationMode) -> AffineParameters {
    switch mode {
    case .floatMinimum:
      return AffineParameters(scale: Float(scale), offset: Float(-zeroPoint * scale))
    case .zeroPoint:
      return AffineParameters(scale: Float(scale), offset: Float(min(max(zeroPoint.rounded(.toNearestOrEven), 0), Double((1 << bits) - 1))))
    case .symmetric:
      return AffineParameters(scale: Float(scale), offset: Float(1 << (bits - 1)))
    }
  }
}

/// The terms of the thermodynamic loss at one point.
public struct ThermodynamicTerms: Sendable, Hashable, Codable {
  /// (1/G)·Σ_g O_g/O⁰_g: mean over groups of the output error relative to that of the group's
  /// min-max parameters (1 at min-max; below 1 is better than min-max).
  public var reconstruction: Double
  /// (1/G)·Σ_g K_g/(1 + K_g): mean bounded KL divergence between the Gaussians of original
  /// and quantized activations, in [0, 1).
  public var divergence: Double
  /// (1/(G − 1))·Σ_b P_b: mean Markov smoothness penalty over the G − 1 boundaries, in [0, 1].
  public var smoothness: Double
  /// reconstruction + λ₁·divergence + λ₂·smoothness.
  public var total: Double
}

/// The "thermodynamic" loss of per-time-group activation parameters, with its analytic
/// gradient.
///
/// For G time groups with calibration samples x_{g,i} (channel importances w_{g,i}, see
/// `ActivationCalibrationData`; 1 without them) and parameters θ_g = (s_g, z_g):
///
///   L(θ) = (1/G)·Σ_g [O_g(θ_g)/O⁰_g + λ₁·K_g/(1 + K_g)] + λ₂·(1/(G − 1))·Σ_b P_b
///
/// - **Output error** O_g = Σᵢ wᵢ(x̂ᵢ − xᵢ)²: the layer's output error through its weights'
///   channel norms (the plain squared error without importances), divided by O⁰_g, its value
///   at the group's min-max parameters — so every group's term is 1 at min-max and the loss
///   is dimensionless.
/// - **Divergence** K_g = KL(𝒩(μ, σ²) ‖ 𝒩(μ̂, σ̂²)) = ln(σ̂/σ) + (σ² + (μ − μ̂)²)/(2σ̂²) − ½ of
///   the (importance-weighted) Gaussians fitted to the original and to the quantized samples
///   (σ̂² is floored at 10⁻¹²·σ²; a constant group has K = 0), bounded as K/(1 + K) ∈ [0, 1).
/// - **Smoothness** (the Markov chain of adjacent groups, as `SmoothnessValidator` measures
///   it): P_b = ½·[((s_{b+1} − s_b)/max(s_b, s_{b+1}))² + ((z_{b+1} − z_b)/(2ᵇ − 1))²] ∈ [0, 1].
///   Squared jumps make the penalty differentiable where the jump is zero.
///
/// **The regularisers cannot dominate**: both lie in [0, 1] while the output term is 1 at
/// min-max, so at any point the optimizer prefers to min-max, the mean relative output error
/// is at most L(min-max) ≤ 1 + λ₁ + λ₂ (with the defaults λ₁ = 0.1, λ₂ = 0.01: 11 %), and
/// the pipeline's held-out check (`ActivationGuard`) replaces any group that ends worse than
/// min-max — smoothness never costs accuracy inside a group. (The previous form, R_g =
/// SSE/Σx² with unbounded penalties, let a 30 % scale jump outweigh the whole 8-bit
/// reconstruction error: on a real UNet its INT8 output error was 5.8× min-max's.)
///
/// **Gradients** are exact wherever L is differentiable: the codes q are piecewise constant
/// in θ (rounding has derivative 0 between its jumps), so the gradient flows straight
/// through the dequantization x̂ = s·(q − z) with the codes held at their current values.
/// With u = q − z and weighted sums: ∂O/∂s = 2(s·Σwu² − Σwxu), ∂O/∂z = −2s(s·Σwu − Σwx),
/// μ̂ = s·Σwu/W, σ̂² = s²·Var_w(q), ∂μ̂/∂s = Σwu/W, ∂μ̂/∂z = −s, ∂σ̂²/∂s = 2s·Var_w(q),
/// ∂σ̂²/∂z = 0, ∂(K/(1+K)) = ∂K/(1+K)². Every term depends on the samples only through W,
/// Σwx, Σwx², Σwq, Σwq², Σwxq, which `SortedSamples` computes in O(2ᵇ·log n) per group from
/// sorted samples and prefix sums — so one evaluation with its gradient costs
/// O(G·2ᵇ·log n), against the G·n of re-quantizing every sample (`requantizedTerms`, what a
/// finite-difference optimizer must do 4G + 1 times per step).
public struct ThermodynamicLoss: Sendable {
  /// The layer (for errors).
  public let layer: String
  /// Activation bits.
  public let bits: Int
  /// Activation mode.
  public let mode: QuantizationMode
  /// λ₁ (divergence weight).
  public let divergenceWeight: Double
  /// λ₂ (smoothness weight).
  public let smoothnessWeight: Double
  /// Channels per sample row and their importances (nil: every weight 1).
  public let channels: Int?, importance: [Float]?
  /// Per-group sorted samples.
  let groups: [SortedSamples]
  /// O⁰_g: each group's output error at its min-max parameters (floored, see `init`).
  let minMaxErrors: [Double]
  /// The original samples, in calibration order (for `requantizedTerms`).
  let raw: [[Float]]
  /// Threads for per-group work.
  let threads: Int
  /// The engine whose kernels re-quantize samples (`requantizedTerms`).
  let engine: Engine

  /// The number of time groups.
  public var groupCount: Int { groups.count }
  /// The largest code, 2ᵇ − 1.
  public var top: Int { (1 << bits) - 1 }

  /// Prepares the loss of `groups` (one array of calibration samples per time group, in
  /// time order): sorts each group (radix sort, O(n), in parallel over groups) and measures
  /// each group's min-max output error O⁰_g (floored at 10⁻¹²·Σwx² so that an exactly
  /// representable group does not divide by zero). With `importance`, the samples of every
  /// group are rows of `channels` values (channel-last) and sample i weighs
  /// importance[i mod channels].
  ///
  /// - Throws: `.emptyInput` without groups or for a group without samples,
  ///   `.nonFiniteActivation` naming layer, group and index of the first NaN/±∞,
  ///   `.invalidSetting` for λ₁ or λ₂ negative or not finite, `.shapeMismatch` for
  ///   importances that do not fit the rows, `.quantization` for unsupported bits.
  public init(
    groups samples: [[Float]], bits: Int, mode: QuantizationMode, divergenceWeight: Double, smoothnessWeight: Double,
    layer: String = "activations", threads: Int = Engine.default.effectiveThreads, channels: Int? = nil, importance: [Float]? = nil,
    engine: Engine = .default
  ) throws(OptimizationError) {
    guard QuantizationScheme.supportedBits.contains(bits) else {
      throw .quantization(.unsupportedBits(bits, supported: QuantizationScheme.supportedBits))
    }
    try OptimizationError.require("lambda1 (divergence weight)", divergenceWeight, in: 0...1e12, "a finite value ≥ 0")
    try OptimizationError.require("lambda2 (smoothness weight)", smoothnessWeight, in: 0...1e12, "a finite value ≥ 0")
    try Self.validate(samples, layer: layer, channels: channels, importance: importance)
    self.layer = layer
    self.bits = bits
    self.mode = mode
    self.divergenceWeight = divergenceWeight
    self.smoothnessWeight = smoothnessWeight
    self.channels = importance == nil ? nil : channels
    self.importance = importance
    self.threads = max(1, threads)
    self.engine = engine
    raw = samples
    let sorted = Self.sorted(samples, channels: channels, importance: importance, threads: threads)
    groups = sorted
    let top = (1 << bits) - 1
    minMaxErrors = sorted.map { data in
      let start = Self.minMaxStart(data, bits: bits, mode: mode)
      let sums = data.codeSums(a: Float(1 / start.scale), b: Float(start.zeroPoint), top: top)
      return max(Self.outputError(data, start, sums), 1e-12 * data.sumOfSquares, .leastNormalMagnitude)
    }
  }

  /// Throws for empty or non-finite groups and importances that do not fit the rows.
  static func validate(_ samples: [[Float]], layer: String, channels: Int?, importance: [Float]?) throws(OptimizationError) {
    guard !samples.isEmpty else { throw .emptyInput(what: "calibration of layer '\(layer)' (no time groups)") }
    for (group, values) in samples.enumerated() {
      guard !values.isEmpty else { throw .emptyInput(what: "time group \(group) of layer '\(layer)'") }
      if let index = values.firstIndex(where: { !$0.isFinite }) {
        throw .nonFiniteActivation(layer: layer, group: group, index: index, value: values[index])
      }
      if importance != nil, let channels, channels >= 1, values.count % channels != 0 {
        throw .shapeMismatch(
          tensor: "time group \(group) of layer '\(layer)'", expected: "whole rows of \(channels) channels", actual: "\(values.count) samples")
      }
    }
    if let importance {
      if let channels, channels < 1 {
        throw .invalidSetting(name: "channels of layer '\(layer)'", value: "\(channels)", expected: "an integer ≥ 1 (rows of that many channel values)")
      }
      guard let channels, importance.count == channels else {
        throw .shapeMismatch(
          tensor: "channel importance of layer '\(layer)'", expected: "one value per channel (\(channels.map(String.init) ?? "no channel count given"))",
          actual: "\(importance.count) values")
      }
      if let bad = importance.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
        throw .invalidSetting(name: "channel importance \(bad) of layer '\(layer)'", value: "\(importance[bad])", expected: "a finite value ≥ 0")
      }
    }
  }

  /// Each group sorted (weighted with `importance`), in parallel over groups.
  static func sorted(_ samples: [[Float]], channels: Int?, importance: [Float]?, threads: Int) -> [SortedSamples] {
    var sorted = [SortedSamples?](repeating: nil, count: samples.count)
    sorted.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(samples.count, threads: threads) { group in
        box.value[group] = SortedSamples(samples[group], channels: channels, importance: importance)
      }
    }
    return sorted.map { $0! }
  }

  /// The min-max parameters of one sorted group, as continuous parameters (a group of zeros
  /// gets scale 1: any scale reproduces it).
  static func minMaxStart(_ data: SortedSamples, bits: Int, mode: QuantizationMode) -> ContinuousParameters {
    let chosen = AffineParameters.minMax(minimum: data.values.first ?? 0, maximum: data.values.last ?? 0, bits: bits, mode: mode)
    var continuous = ContinuousParameters(chosen, mode: mode)
    if !(continuous.scale > 0) { continuous.scale = 1 }
    return continuous
  }

  /// O = Σw(x − s(q − z))² from the code sums: s²·Σwu² − 2s·Σwxu + Σwx² with u = q − z.
  @inline(__always)
  static func outputError(_ data: SortedSamples, _ p: ContinuousParameters, _ sum: CodeSums) -> Double {
    let s = p.scale, z = p.zeroPoint
    let suu = sum.qq - 2 * z * sum.q + data.totalWeight * z * z
    let sxu = sum.xq - z * data.sum
    return max(0, s * s * suu - 2 * s * sxu + data.sumOfSquares)
  }

  /// Min-max parameters of every group (the reference point O⁰ is measured at).
  public func minMaxParameters() -> [ContinuousParameters] {
    groups.map { Self.minMaxStart($0, bits: bits, mode: mode) }
  }

  /// Each group's output error O_g at `parameters` relative to its min-max value O⁰_g.
  ///
  /// Precondition: `parameters` holds `groupCount` pairs with positive finite scales and
  /// finite zero-points (the optimizer's own points and `minMaxParameters()` do); fewer
  /// pairs trap (extra ones are ignored). These are the loss's evaluation primitives, called every iteration: the
  /// checked entry point for a caller's starting point is
  /// `ThermodynamicOptimizer.optimize(_:from:)`, which throws.
  public func relativeOutputErrors(_ parameters: [ContinuousParameters]) -> [Double] {
    (0..<groups.count).map { group in
      let p = parameters[group]
      let sums = groups[group].codeSums(a: Float(1 / p.scale), b: Float(p.zeroPoint), top: top)
      return Self.outputError(groups[group], p, sums) / minMaxErrors[group]
    }
  }

  /// The loss at `parameters` (one per group).
  ///
  /// Precondition: `parameters` holds `groupCount` pairs with positive finite scales and
  /// finite zero-points (the optimizer's own points and `minMaxParameters()` do); fewer
  /// pairs trap (extra ones are ignored). These are the loss's evaluation primitives, called every iteration: the
  /// checked entry point for a caller's starting point is
  /// `ThermodynamicOptimizer.optimize(_:from:)`, which throws.
  public func terms(_ parameters: [ContinuousParameters]) -> ThermodynamicTerms {
    evaluate(parameters, gradient: false).terms
  }

  /// The loss and its gradient (∂L/∂s_g, ∂L/∂z_g; ∂L/∂z is 0 in symmetric mode).
  ///
  /// Precondition: `parameters` holds `groupCount` pairs with positive finite scales and
  /// finite zero-points (the optimizer's own points and `minMaxParameters()` do); fewer
  /// pairs trap (extra ones are ignored). These are the loss's evaluation primitives, called every iteration: the
  /// checked entry point for a caller's starting point is
  /// `ThermodynamicOptimizer.optimize(_:from:)`, which throws.
  public func gradient(_ parameters: [ContinuousParameters]) -> (terms: ThermodynamicTerms, scale: [Double], zeroPoint: [Double]) {
    let result = evaluate(parameters, gradient: true)
    return (result.terms, result.scale, result.zeroPoint)
  }

  func evaluate(_ parameters: [ContinuousParameters], gradient: Bool) -> (terms: ThermodynamicTerms, scale: [Double], zeroPoint: [Double]) {
    let count = groups.count
    var sums = [CodeSums](repeating: CodeSums(), count: count)
    sums.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(count, threads: count >= 2 ? threads : 1) { group in
        let p = parameters[group]
        box.value[group] = groups[group].codeSums(a: Float(1 / p.scale), b: Float(p.zeroPoint), top: top)
      }
    }
    var reconstruction = 0.0, divergence = 0.0
    var scaleGradient = [Double](repeating: 0, count: gradient ? count : 0)
    var zeroGradient = [Double](repeating: 0, count: gradient ? count : 0)
    let perGroup = 1 / Double(count)
    for group in 0..<count {
      let data = groups[group], p = parameters[group], sum = sums[group]
      let w = data.totalWeight, s = p.scale, z = p.zeroPoint
      // u = q − z.
      let su = sum.q - w * z
      let suu = sum.qq - 2 * z * sum.q + w * z * z
      let sxu = sum.xq - z * data.sum
      let reference = minMaxErrors[group]
      reconstruction += perGroup * Self.outputError(data, p, sum) / reference
      if gradient {
        scaleGradient[group] += perGroup * 2 * (s * suu - sxu) / reference
        zeroGradient[group] += perGroup * -2 * s * (s * su - data.sum) / reference
      }
      // Divergence between 𝒩(μ, σ²) and 𝒩(μ̂, σ̂²), bounded as K/(1 + K).
      let variance = data.variance
      guard variance > 0, w > 0, divergenceWeight > 0 else { continue }
      let codeVariance = max(0, (w * sum.qq - sum.q * sum.q) / (w * w))
      let floor = 1e-12 * variance
      let quantizedVariance = s * s * codeVariance + floor
      let quantizedMean = s * su / w
      let difference = data.mean - quantizedMean
      let k = max(0, Self.divergence(variance: variance, quantizedVariance: quantizedVariance, difference: difference))
      divergence += perGroup * k / (1 + k)
      if gradient {
        let bound = 1 / ((1 + k) * (1 + k))
        let dMean = -difference / quantizedVariance
        let dVariance = 0.5 / quantizedVariance - (variance + difference * difference) / (2 * quantizedVariance * quantizedVariance)
        scaleGradient[group] += divergenceWeight * perGroup * bound * (dMean * su / w + dVariance * 2 * s * codeVariance)
        zeroGradient[group] += divergenceWeight * perGroup * bound * dMean * -s
      }
    }
    var smoothness = 0.0
    if count > 1 {
      let perBoundary = 0.5 / Double(count - 1)
      let range = Double(top)
      for boundary in 0..<(count - 1) {
        let s1 = parameters[boundary].scale, s2 = parameters[boundary + 1].scale
        let z1 = parameters[boundary].zeroPoint, z2 = parameters[boundary + 1].zeroPoint
        let larger = max(s1, s2)
        let r = (s2 - s1) / larger
        let dz = mode == .symmetric ? 0 : (z2 - z1) / range
        smoothness += perBoundary * (r * r + dz * dz)
        if gradient && smoothnessWeight > 0 {
          // r = 1 − s1/s2 when s2 ≥ s1, else s2/s1 − 1.
          let (d1, d2) = s2 >= s1 ? (-1 / s2, s1 / (s2 * s2)) : (-s2 / (s1 * s1), 1 / s1)
          scaleGradient[boundary] += smoothnessWeight * perBoundary * 2 * r * d1
          scaleGradient[boundary + 1] += smoothnessWeight * perBoundary * 2 * r * d2
          zeroGradient[boundary] -= smoothnessWeight * perBoundary * 2 * dz / range
          zeroGradient[boundary + 1] += smoothnessWeight * perBoundary * 2 * dz / range
        }
      }
    }
    if mode == .symmetric && gradient { zeroGradient = [Double](repeating: 0, count: count) }
    let total = reconstruction + divergenceWeight * divergence + smoothnessWeight * smoothness
    return (ThermodynamicTerms(reconstruction: reconstruction, divergence: divergence, smoothness: smoothness, total: total), scaleGradient, zeroGradient)
  }

  /// The same loss computed the way a finite-difference optimizer must: re-quantizing
  /// every sample of every group (O(Σn)), accumulating the weighted squared error and the
  /// first two weighted moments of x̂ directly. Agrees with `terms(_:)` to rounding (≈ 10⁻⁹
  /// relative on the reconstruction term); provided for such oracles and for checking.
  ///
  /// Precondition: `parameters` holds `groupCount` pairs with positive finite scales and
  /// finite zero-points (the optimizer's own points and `minMaxParameters()` do); fewer
  /// pairs trap (extra ones are ignored). These are the loss's evaluation primitives, called every iteration: the
  /// checked entry point for a caller's starting point is
  /// `ThermodynamicOptimizer.optimize(_:from:)`, which throws.
  public func requantizedTerms(_ parameters: [ContinuousParameters], threads: Int = 1) -> ThermodynamicTerms {
    let count = groups.count
    var moments = [(sse: Double, sum: Double, squares: Double)](repeating: (0, 0, 0), count: count)
    moments.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(count, threads: threads) { group in
        let p = parameters[group]
        box.value[group] = raw[group].withUnsafeBufferPointer {
          requantize($0, a: Float(1 / p.scale), b: Float(p.zeroPoint), s: Float(p.scale), top: Float(top))
        }
      }
    }
    var reconstruction = 0.0, divergence = 0.0
    let perGroup = 1 / Double(count)
    for group in 0..<count {
      let data = groups[group], w = data.totalWeight
      reconstruction += perGroup * moments[group].sse / minMaxErrors[group]
      guard data.variance > 0, w > 0 else { continue }
      let quantizedMean = moments[group].sum / w
      let quantizedVariance = max(0, moments[group].squares / w - quantizedMean * quantizedMean) + 1e-12 * data.variance
      let difference = data.mean - quantizedMean
      let k = max(0, Self.divergence(variance: data.variance, quantizedVariance: quantizedVariance, difference: difference))
      divergence += perGroup * k / (1 + k)
    }
    var smoothness = 0.0
    for boundary in 0..<max(0, count - 1) {
      let s1 = parameters[boundary].scale, s2 = parameters[boundary + 1].scale
      let r = (s2 - s1) / max(s1, s2)
      let dz = mode == .symmetric ? 0 : (parameters[boundary + 1].zeroPoint - parameters[boundary].zeroPoint) / Double(top)
      smoothness += 0.5 * (r * r + dz * dz) / Double(count - 1)
    }
    return ThermodynamicTerms(
      reconstruction: reconstruction, divergence: divergence, smoothness: smoothness,
      total: reconstruction + divergenceWeight * divergence + smoothnessWeight * smoothness)
  }

  /// KL(𝒩(μ, σ²) ‖ 𝒩(μ̂, σ̂²)) = ln(σ̂/σ) + (σ² + (μ − μ̂)²)/(2σ̂²) − ½ with d = μ − μ̂.
  @inline(__always)
  static func divergence(variance: Double, quantizedVariance: Double, difference: Double) -> Double {
    let logarithm: Double = 0.5 * log(quantizedVariance / variance)
    let spread: Double = (variance + difference * difference) / (2 * quantizedVariance)
    return logarithm + spread - 0.5
  }

  /// Σw(x̂ − x)², Σwx̂, Σwx̂² of x̂ = s·q + (−b·s) with codes q = clamp(round(x·a + b)):
  /// unweighted, the engine's `reconstructionSums` kernel; weighted (w = importance[i mod
  /// channels]), a scalar Double loop over `OptimizerCode.code` (a checking path).
  func requantize(_ x: UnsafeBufferPointer<Float>, a: Float, b: Float, s: Float, top: Float) -> (sse: Double, sum: Double, squares: Double) {
    guard let base = x.baseAddress, !x.isEmpty else { return (0, 0, 0) }
    if let importance, let channels {
      var sse = 0.0, sum = 0.0, squares = 0.0
      for i in 0..<x.count {
        let w = Double(importance[i % channels])
        let approximation = Double(OptimizerCode.code(x[i], a: a, b: b, top: top) * s + (-b * s))
        let e = approximation - Double(x[i])
        sse += w * e * e
        sum += w * approximation
        squares += w * approximation * approximation
      }
      return (sse, sum, squares)
    }
    let sums = engine.backend(for: .reconstructionSums, .vector(count: x.count))
      .reconstructionSums(count: x.count, base, a: a, b: b, scale: s, top: top)
    return (sums.squaredError, sums.sum, sums.sumOfSquares)
  }
}
