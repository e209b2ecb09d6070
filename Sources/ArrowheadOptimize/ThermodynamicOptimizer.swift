import ArrowheadCore
import ArrowheadQuant
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `ThermodynamicOptimizer` returns for one layer.
public struct ThermodynamicResult: Sendable {
  /// The layer.
  public var layer: String
  /// The chosen parameters per time group, storable under the mode (zero-points integral).
  public var parameters: [AffineParameters]
  /// The loss at the starting point (`ThermodynamicOptimizer.start`, or the point given).
  public var initial: ThermodynamicTerms
  /// The loss at the groups' min-max parameters (reconstruction term 1 there by definition).
  public var minMax: ThermodynamicTerms
  /// The loss at `parameters` (as stored, i.e. after Float32 rounding and integral zero-points).
  public var final: ThermodynamicTerms
  /// Adam iterations done (both phases).
  public var iterations: Int
  /// Whether the loss stopped improving (by less than the tolerance over `patience`
  /// iterations) before the iteration limit.
  public var converged: Bool
  /// The total loss at every iteration, in order (the first entry is the start).
  public var lossHistory: [Double]
  /// Smoothness of the starting and of the chosen parameters (`SmoothnessValidator`).
  public var initialSmoothness: SmoothnessReport, smoothness: SmoothnessReport
  /// Wall-clock seconds, sorting included.
  public var seconds: Double
  /// Of `seconds`, the time spent preparing the loss (sorting each group, prefix sums).
  public var preparationSeconds: Double
}

/// Optimizes per-time-group activation parameters for the thermodynamic loss
/// (`ThermodynamicLoss`: output error relative to min-max's, plus bounded divergence and
/// smoothness terms) with Adam on analytic gradients.
///
/// Start: by default each group's MSE-optimal clipped range (`ClippingSearch`, which is
/// never worse than min-max on the output error), or min-max (`start: .minMax`, the
/// previous behaviour).
///
/// Variables: log s_g (so that s stays positive and steps are relative) and z_g (in codes;
/// fixed at 2ᵇ⁻¹ in symmetric mode, kept in 0…2ᵇ − 1 in zero-point mode). Adam
/// (β₁ = 0.9, β₂ = 0.999) with step η/√(1 + t/50) for log s and (2ᵇ − 1)/2 times that, in
/// codes, for z — a relative scale step η moves the range ends by about η·(2ᵇ − 1)/2 codes,
/// so both kinds of step move the range by similar amounts. The best point
/// seen is kept; iteration stops when the best loss improved by less than
/// `tolerance`·|loss| over the last `patience` iterations (converged) or at
/// `maximumIterations`. In zero-point mode a second phase rounds z and optimizes the
/// scales alone (at most a quarter of the iterations), keeping the best integral point —
/// the start is one, so the result never loses to its start on the loss.
///
/// One iteration costs one evaluation with gradient: O(G·2ᵇ·log n) after an O(n) radix
/// sort, where central finite differences need 4G + 1 evaluations that each re-quantize all
/// n samples (`arrowhead optimize thermo` measures both side by side).
///
/// Defaults: λ₁ = 0.1, λ₂ = 0.01 (both regularisers lie in [0, 1] and the output term is 1
/// at min-max, so together they can never buy more than 11 % of output error — a 30 % scale
/// jump costs 0.045·λ₂ = 4.5·10⁻⁴), η = 0.01, 300 iterations, tolerance 10⁻⁶, patience 20,
/// start `.clip`.
///
/// ```swift
/// let thermo = try ThermodynamicOptimizer()
/// let result = try thermo.optimize(groups: samplesPerTimeGroup, bits: 8, mode: .zeroPoint)
/// print(result.initial.total, "→", result.final.total, result.converged, result.smoothness.score)
/// ```
public struct ThermodynamicOptimizer: Sendable {
  /// λ₁, the weight of the divergence term (≥ 0).
  public let divergenceWeight: Double
  /// λ₂, the weight of the smoothness penalty (≥ 0).
  public let smoothnessWeight: Double
  /// Adam's base step η for log s (0 < η ≤ 1).
  public let learningRate: Double
  /// The iteration limit of the continuous phase, 1…100 000.
  public let maximumIterations: Int
  /// The relative improvement under which the loss counts as converged (≥ 0).
  public let tolerance: Double
  /// Iterations over which the improvement is measured, 1…10 000.
  public let patience: Int
  /// Where the optimization starts.
  public let start: Start

  /// The starting point of the optimization.
  public enum Start: String, Sendable, CaseIterable {
    /// Each group's min-max parameters.
    case minMax = "minmax"
    /// Each group's MSE-optimal clipped range (`ClippingSearch` with its defaults).
    case clip
  }

  /// Creates the optimizer; throws `.invalidSetting` naming a value out of range.
  public init(
    divergenceWeight: Double = 0.1, smoothnessWeight: Double = 0.01, learningRate: Double = 0.01, maximumIterations: Int = 300,
    tolerance: Double = 1e-6, patience: Int = 20, start: Start = .clip
  ) throws(OptimizationError) {
    try OptimizationError.require("lambda1 (divergence weight)", divergenceWeight, in: 0...1e12, "a finite value ≥ 0")
    try OptimizationError.require("lambda2 (smoothness weight)", smoothnessWeight, in: 0...1e12, "a finite value ≥ 0")
    guard learningRate.isFinite, learningRate > 0, learningRate <= 1 else {
      throw .invalidSetting(name: "learning rate", value: "\(learningRate)", expected: "a value in (0, 1]")
    }
    try OptimizationError.require("iterations", maximumIterations, in: 1...100_000)
    try OptimizationError.require("tolerance", tolerance, in: 0...1, "a value in [0, 1]")
    try OptimizationError.require("patience", patience, in: 1...10_000)
    self.divergenceWeight = divergenceWeight
    self.smoothnessWeight = smoothnessWeight
    self.learningRate = learningRate
    self.maximumIterations = maximumIterations
    self.tolerance = tolerance
    self.patience = patience
    self.start = start
  }

  /// "thermo".
  public var name: String { "thermo" }

  /// λ₁, λ₂, η, iterations, tolerance, patience, start.
  public var settings: [String: String] {
    [
      "lambda1": "\(divergenceWeight)", "lambda2": "\(smoothnessWeight)", "learning_rate": "\(learningRate)",
      "iterations": "\(maximumIterations)", "tolerance": "\(tolerance)", "patience": "\(patience)", "start": start.rawValue,
    ]
  }

  /// Optimizes the parameters of `groups` (one array of calibration samples per time
  /// group, in time order) for `bits`-bit activations in `mode`; with `importance`, the
  /// samples are rows of `channels` values weighted by their channel's importance (the
  /// output-error objective). Throws what `ThermodynamicLoss.init` throws (empty groups,
  /// NaN/±∞ samples, importances that do not fit, unsupported bits).
  public func optimize(
    groups: [[Float]], bits: Int = 8, mode: QuantizationMode = .zeroPoint, layer: String = "activations",
    threads: Int = Engine.default.effectiveThreads, channels: Int? = nil, importance: [Float]? = nil
  ) throws(OptimizationError) -> ThermodynamicResult {
    let started = Self.now()
    let loss = try ThermodynamicLoss(
      groups: groups, bits: bits, mode: mode, divergenceWeight: divergenceWeight, smoothnessWeight: smoothnessWeight,
      layer: layer, threads: threads, channels: channels, importance: importance)
    let prepared = Self.now()
    var origin: [ContinuousParameters]?
    if start == .clip {
      let clipped = try ClippingSearch().search(loss.groups, bits: bits, mode: mode, threads: threads)
      origin = clipped.map { ContinuousParameters($0.parameters, mode: mode) }
    }
    var result = try optimize(loss, from: origin)
    result.seconds = Self.now() - started
    result.preparationSeconds = prepared - started
    return result
  }

  /// Optimizes the parameters of a layer's calibration samples grouped as `grouping` says
  /// (every timestep of a group must have raw samples; min/max summaries are not enough).
  public func optimize(
    layer: String, calibration: CalibrationSet, grouping: TimeGrouping, bits: Int = 8, mode: QuantizationMode = .zeroPoint,
    threads: Int = Engine.default.effectiveThreads
  ) throws(OptimizationError) -> ThermodynamicResult {
    guard let perTimestep = calibration.statistics[layer] else { throw .emptyInput(what: "calibration of layer '\(layer)'") }
    var groups: [[Float]] = []
    for group in 0..<grouping.groups {
      let span = grouping.timesteps(ofGroup: group)
      var samples: [Float] = []
      for timestep in span {
        guard let record = perTimestep[timestep] else { continue }
        if record.samples.isEmpty {
          throw .emptyInput(
            what: "samples of layer '\(layer)' at timestep \(timestep) (time group \(group)): the thermodynamic optimizer needs raw samples, not min/max summaries")
        }
        samples += record.samples
      }
      if samples.isEmpty {
        throw .emptyInput(what: "time group \(group) (timesteps \(span.lowerBound)..<\(span.upperBound)) of layer '\(layer)'")
      }
      groups.append(samples)
    }
    return try optimize(groups: groups, bits: bits, mode: mode, layer: layer, threads: threads)
  }

  /// Optimizes a prepared loss from `origin` (min-max when nil; a scale that is not a
  /// positive finite number starts at 1).
  ///
  /// - Throws: `.shapeMismatch` naming the layer unless `origin` holds one pair per time
  ///   group (a shorter one used to trap), and `.invalidSetting` naming the group for a
  ///   zero-point that is not finite in Float32 (NaN used to trap).
  public func optimize(_ loss: ThermodynamicLoss, from origin: [ContinuousParameters]? = nil) throws(OptimizationError) -> ThermodynamicResult {
    let started = Self.now()
    let count = loss.groupCount, mode = loss.mode, top = Double(loss.top)
    if let origin {
      guard origin.count == count else {
        throw .shapeMismatch(
          tensor: "starting point of layer '\(loss.layer)'", expected: "\(count) parameter pairs (one per time group)", actual: "\(origin.count) pairs")
      }
      if let group = origin.firstIndex(where: { !Float($0.zeroPoint).isFinite }) {
        throw .invalidSetting(
          name: "starting zero-point of time group \(group) of layer '\(loss.layer)'", value: "\(origin[group].zeroPoint)", expected: "a finite value")
      }
    }
    let minMaxPoint = loss.minMaxParameters()
    let initialPoint = origin.map { $0.map { ContinuousParameters(scale: $0.scale > 0 && $0.scale.isFinite ? $0.scale : 1, zeroPoint: $0.zeroPoint) } }
      ?? minMaxPoint
    let initialTerms = loss.terms(initialPoint)
    var history: [Double] = []
    var runningBest: [Double] = []
    var iterations = 0
    var converged = false

    // Phase 1: (log s, z) continuous.
    var point = initialPoint
    var best = (terms: initialTerms, point: initialPoint)
    var adam = AdamState(count: count)
    for step in 1...maximumIterations {
      let evaluation = loss.gradient(point)
      iterations += 1
      history.append(evaluation.terms.total)
      if evaluation.terms.total < best.terms.total { best = (evaluation.terms, point) }
      runningBest.append(best.terms.total)
      if step > patience {
        let then = runningBest[runningBest.count - 1 - patience], now = best.terms.total
        if then - now <= tolerance * abs(now) {
          converged = true
          break
        }
      }
      let rate = learningRate / (1 + Double(step) / 50).squareRoot()
      for group in 0..<count {
        let logScaleGradient = evaluation.scale[group] * point[group].scale
        let logScale = log(point[group].scale) - rate * adam.step(logScaleGradient, group, zero: false, t: step)
        point[group].scale = exp(logScale)
        if mode != .symmetric {
          var zero = point[group].zeroPoint - rate * top / 2 * adam.step(evaluation.zeroPoint[group], group, zero: true, t: step)
          if mode == .zeroPoint { zero = min(max(zero, 0), top) }
          point[group].zeroPoint = zero
        }
      }
    }

    // Phase 2 (zero-point): integral z, scales alone; the integral start is a candidate.
    if mode == .zeroPoint {
      var integral = best.point.map { ContinuousParameters(scale: $0.scale, zeroPoint: min(max($0.zeroPoint.rounded(.toNearestOrEven), 0), top)) }
      var bestIntegral = (terms: loss.terms(integral), point: integral)
      let startTerms = loss.terms(initialPoint.map { ContinuousParameters(scale: $0.scale, zeroPoint: $0.zeroPoint.rounded(.toNearestOrEven)) })
      if startTerms.total < bestIntegral.terms.total { bestIntegral = (startTerms, initialPoint) }
      var adam = AdamState(count: count)
      for step in 1...max(1, maximumIterations / 4) {
        let evaluation = loss.gradient(integral)
        iterations += 1
        history.append(evaluation.terms.total)
        if evaluation.terms.total < bestIntegral.terms.total { bestIntegral = (evaluation.terms, integral) }
        let rate = learningRate / (1 + Double(step) / 50).squareRoot()
        for group in 0..<count {
          let gradient = evaluation.scale[group] * integral[group].scale
          integral[group].scale = exp(log(integral[group].scale) - rate * adam.step(gradient, group, zero: false, t: step))
        }
      }
      best = bestIntegral
    }

    let parameters = best.point.map { $0.affine(bits: loss.bits, mode: mode) }
    let stored = parameters.map { ContinuousParameters($0, mode: mode) }
    let finalTerms = loss.terms(stored)
    let initialParameters = initialPoint.map { $0.affine(bits: loss.bits, mode: mode) }
    let initialSmoothness: SmoothnessReport, smoothness: SmoothnessReport
    do {
      initialSmoothness = try SmoothnessValidator.validate(initialParameters, bits: loss.bits, mode: mode)
      smoothness = try SmoothnessValidator.validate(parameters, bits: loss.bits, mode: mode)
    } catch {
      throw .quantization(error)
    }
    return ThermodynamicResult(
      layer: loss.layer, parameters: parameters, initial: initialTerms, minMax: loss.terms(minMaxPoint), final: finalTerms,
      iterations: iterations, converged: converged,
      lossHistory: history,
      initialSmoothness: initialSmoothness,
      smoothness: smoothness, seconds: Self.now() - started,
      preparationSeconds: 0)
  }

  static func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
  }
}

/// Adam's moment estimates for the log-scales and zero-points of G groups.
struct AdamState {
  var first: [Double], second: [Double]
  let count: Int
  static let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-30

  init(count: Int) {
    self.count = count
    first = [Double](repeating: 0, count: 2 * count)
    second = [Double](repeating: 0, count: 2 * count)
  }

  /// The bias-corrected step direction m̂/(√v̂ + ε) for `gradient` of variable `index`.
  mutating func step(_ gradient: Double, _ index: Int, zero: Bool, t: Int) -> Double {
    let slot = zero ? count + index : index
    first[slot] = Self.beta1 * first[slot] + (1 - Self.beta1) * gradient
    second[slot] = Self.beta2 * second[slot] + (1 - Self.beta2) * gradient * gradient
    let firstHat = first[slot] / (1 - pow(Self.beta1, Double(t)))
    let secondHat = second[slot] / (1 - pow(Self.beta2, Double(t)))
    return firstHat / (secondHat.squareRoot() + Self.epsilon)
  }
}
