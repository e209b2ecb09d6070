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
  /// (1/G)·Σ_g R_g: mean over groups of the reconstruction MSE relative to the group's mean square.
  public var reconstruction: Double
  /// (1/G)·Σ_g K_g: mean KL divergence between the Gaussians of original and quantized activations.
  public var divergence: Double
  /// (1/(G − 1))·Σ_b P_b: mean Markov smoothness penalty over the G − 1 boundaries.
  public var smoothness: Double
  /// reconstruction + λ₁·divergence + λ₂·smoothness.
  public var total: Double
}

/// The "thermodynamic" loss of per-time-group activation parameters, with its analytic
/// gradient.
///
/// For G time groups with calibration samples x_{g,1…n_g} and parameters θ_g = (s_g, z_g):
///
///   L(θ) = (1/G)·Σ_g [R_g + λ₁·K_g] + λ₂·(1/(G − 1))·Σ_b P_b
///
/// - **Reconstruction** R_g = Σᵢ(x̂ᵢ − xᵢ)² / Σᵢxᵢ²: the group's MSE relative to its mean
///   square, so that the three terms are dimensionless and one λ fits every layer.
/// - **Divergence** K_g = KL(𝒩(μ, σ²) ‖ 𝒩(μ̂, σ̂²)) = ln(σ̂/σ) + (σ² + (μ − μ̂)²)/(2σ̂²) − ½, the
///   Gaussians fitted to the original and to the quantized samples (σ̂² is floored at
///   10⁻¹²·σ²; a constant group has K = 0).
/// - **Smoothness** (the Markov chain of adjacent groups, as `SmoothnessValidator` measures
///   it): P_b = ((s_{b+1} − s_b)/max(s_b, s_{b+1}))² + ((z_{b+1} − z_b)/(2ᵇ − 1))². Squared
///   jumps make the penalty differentiable where the jump is zero.
///
/// **Gradients** are exact wherever L is differentiable: the codes q are piecewise constant
/// in θ (rounding has derivative 0 between its jumps), so the gradient flows straight
/// through the dequantization x̂ = s·(q − z) with the codes held at their current values.
/// With u = q − z: ∂SSE/∂s = 2(s·Σu² − Σxu), ∂SSE/∂z = −2s(s·Σu − Σx), μ̂ = s·Σu/n,
/// σ̂² = s²·Var(q), ∂μ̂/∂s = Σu/n, ∂μ̂/∂z = −s, ∂σ̂²/∂s = 2s·Var(q), ∂σ̂²/∂z = 0. Every term
/// depends on the samples only through n, Σx, Σx², Σq, Σq², Σxq, which `SortedSamples`
/// computes in O(2ᵇ·log n) per group from sorted samples and prefix sums — so one
/// evaluation with its gradient costs O(G·2ᵇ·log n), against the G·n of re-quantizing
/// every sample (`requantizedTerms`, what a finite-difference optimizer must do 4G + 1
/// times per step).
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
  /// Per-group sorted samples.
  let groups: [SortedSamples]
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
  /// time order): sorts each group (radix sort, O(n), in parallel over groups).
  ///
  /// - Throws: `.emptyInput` without groups or for a group without samples,
  ///   `.nonFiniteActivation` naming layer, group and index of the first NaN/±∞,
  ///   `.invalidSetting` for λ₁ or λ₂ negative or not finite, `.quantization` for
  ///   unsupported bits.
  public init(
    groups samples: [[Float]], bits: Int, mode: QuantizationMode, divergenceWeight: Double, smoothnessWeight: Double,
    layer: String = "activations", threads: Int = Engine.default.effectiveThreads, engine: Engine = .default
  ) throws(OptimizationError) {
    guard QuantizationScheme.supportedBits.contains(bits) else {
      throw .quantization(.unsupportedBits(bits, supported: QuantizationScheme.supportedBits))
    }
    try OptimizationError.require("lambda1 (divergence weight)", divergenceWeight, in: 0...1e12, "a finite value ≥ 0")
    try OptimizationError.require("lambda2 (smoothness weight)", smoothnessWeight, in: 0...1e12, "a finite value ≥ 0")
    guard !samples.isEmpty else { throw .emptyInput(what: "calibration of layer '\(layer)' (no time groups)") }
    for (group, values) in samples.enumerated() {
      guard !values.isEmpty else { throw .emptyInput(what: "time group \(group) of layer '\(layer)'") }
      if let index = values.firstIndex(where: { !$0.isFinite }) {
        throw .nonFiniteActivation(layer: layer, group: group, index: index, value: values[index])
      }
    }
    self.layer = layer
    self.bits = bits
    self.mode = mode
    self.divergenceWeight = divergenceWeight
    self.smoothnessWeight = smoothnessWeight
    self.threads = max(1, threads)
    self.engine = engine
    raw = samples
    var sorted = [SortedSamples?](repeating: nil, count: samples.count)
    sorted.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(samples.count, threads: threads) { group in box.value[group] = SortedSamples(samples[group]) }
    }
    groups = sorted.map { $0! }
  }

  /// Min-max parameters of every group (the optimizer's starting point).
  public func minMaxParameters() -> [ContinuousParameters] {
    groups.map {
      let chosen = AffineParameters.minMax(minimum: $0.values.first ?? 0, maximum: $0.values.last ?? 0, bits: bits, mode: mode)
      var continuous = ContinuousParameters(chosen, mode: mode)
      if !(continuous.scale > 0) { continuous.scale = 1 }  // a group of zeros: any scale reproduces it
      return continuous
    }
  }

  /// The loss at `parameters` (one per group).
  public func terms(_ parameters: [ContinuousParameters]) -> ThermodynamicTerms {
    evaluate(parameters, gradient: false).terms
  }

  /// The loss and its gradient (∂L/∂s_g, ∂L/∂z_g; ∂L/∂z is 0 in symmetric mode).
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
      let n = Double(data.count), s = p.scale, z = p.zeroPoint
      // u = q − z.
      let su = sum.q - n * z
      let suu = sum.qq - 2 * z * sum.q + n * z * z
      let sxu = sum.xq - z * data.sum
      let squares = max(data.sumOfSquares, .leastNormalMagnitude)
      let sse = max(0, s * s * suu - 2 * s * sxu + data.sumOfSquares)
      reconstruction += perGroup * sse / squares
      if gradient {
        scaleGradient[group] += perGroup * 2 * (s * suu - sxu) / squares
        zeroGradient[group] += perGroup * -2 * s * (s * su - data.sum) / squares
      }
      // Divergence between 𝒩(μ, σ²) and 𝒩(μ̂, σ̂²).
      let variance = data.variance
      guard variance > 0, divergenceWeight > 0 else { continue }
      let codeVariance = max(0, (n * sum.qq - sum.q * sum.q) / (n * n))
      let floor = 1e-12 * variance
      let quantizedVariance = s * s * codeVariance + floor
      let quantizedMean = s * su / n
      let difference = data.mean - quantizedMean
      let k = Self.divergence(variance: variance, quantizedVariance: quantizedVariance, difference: difference)
      divergence += perGroup * k
      if gradient {
        let dMean = -difference / quantizedVariance
        let dVariance = 0.5 / quantizedVariance - (variance + difference * difference) / (2 * quantizedVariance * quantizedVariance)
        scaleGradient[group] += divergenceWeight * perGroup * (dMean * su / n + dVariance * 2 * s * codeVariance)
        zeroGradient[group] += divergenceWeight * perGroup * dMean * -s
      }
    }
    var smoothness = 0.0
    if count > 1 {
      let perBoundary = 1 / Double(count - 1)
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
  /// every sample of every group (O(Σn)), accumulating the squared error and the first two
  /// moments of x̂ directly. Agrees with `terms(_:)` to rounding (≈ 10⁻⁹ relative on the
  /// reconstruction term); provided for such oracles and for checking.
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
      let data = groups[group], n = Double(data.count)
      reconstruction += perGroup * moments[group].sse / max(data.sumOfSquares, .leastNormalMagnitude)
      guard data.variance > 0 else { continue }
      let quantizedMean = moments[group].sum / n
      let quantizedVariance = max(0, moments[group].squares / n - quantizedMean * quantizedMean) + 1e-12 * data.variance
      let difference = data.mean - quantizedMean
      divergence += perGroup * Self.divergence(variance: data.variance, quantizedVariance: quantizedVariance, difference: difference)
    }
    var smoothness = 0.0
    for boundary in 0..<max(0, count - 1) {
      let s1 = parameters[boundary].scale, s2 = parameters[boundary + 1].scale
      let r = (s2 - s1) / max(s1, s2)
      let dz = mode == .symmetric ? 0 : (parameters[boundary + 1].zeroPoint - parameters[boundary].zeroPoint) / Double(top)
      smoothness += (r * r + dz * dz) / Double(count - 1)
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

  /// Σ(x̂ − x)², Σx̂, Σx̂² of x̂ = s·q + (−b·s) with codes q = clamp(round(x·a + b)): the
  /// engine's `reconstructionSums` kernel.
  func requantize(_ x: UnsafeBufferPointer<Float>, a: Float, b: Float, s: Float, top: Float) -> (sse: Double, sum: Double, squares: Double) {
    guard let base = x.baseAddress, !x.isEmpty else { return (0, 0, 0) }
    let sums = engine.backend(for: .reconstructionSums, .vector(count: x.count))
      .reconstructionSums(count: x.count, base, a: a, b: b, scale: s, top: top)
    return (sums.squaredError, sums.sum, sums.sumOfSquares)
  }
}
