import Arrowhead
import ArrowheadQuant
import Foundation
import Testing

@testable import ArrowheadOptimize

@Suite("Thermodynamic loss and optimizer")
struct ThermodynamicTests {
  /// Four time groups of generated activations (3 000 samples each).
  static let groups: [[Float]] = (try? SyntheticActivations.timeGrouped(count: 12_000, timesteps: 40, groups: 4, seed: 11)) ?? []

  /// Min-max parameters moved off their grid (so that every smoothness and zero-point term is
  /// active) by deterministic factors.
  static func point(_ loss: ThermodynamicLoss) -> [ContinuousParameters] {
    loss.minMaxParameters().enumerated().map { index, p in
      ContinuousParameters(scale: p.scale * (0.93 + 0.031 * Double(index)), zeroPoint: p.zeroPoint + 0.37 + 0.11 * Double(index))
    }
  }

  /// Whether no sample changes code between θ with group `group` perturbed by ±h.
  static func smooth(_ loss: ThermodynamicLoss, _ point: [ContinuousParameters], group: Int, scale h: Double, zero hz: Double) -> Bool {
    let p = point[group]
    func sums(_ s: Double, _ z: Double) -> CodeSums { loss.groups[group].codeSums(a: Float(1 / s), b: Float(z), top: loss.top) }
    let centre = sums(p.scale, p.zeroPoint)
    for (s, z) in [(p.scale + h, p.zeroPoint), (p.scale - h, p.zeroPoint), (p.scale, p.zeroPoint + hz), (p.scale, p.zeroPoint - hz)] {
      let other = sums(s, z)
      if other.q != centre.q || other.qq != centre.qq { return false }
    }
    return true
  }

  /// Channel importances for rows of 3 (the groups' 3 000 samples are 1 000 rows).
  static let importance: [Float] = [0.5, 2, 1.25]

  /// The loss with or without channel importances.
  static func loss(bits: Int, mode: QuantizationMode, weighted: Bool, divergence: Double = 0.3, smoothness: Double = 0.2) throws -> ThermodynamicLoss {
    try ThermodynamicLoss(
      groups: groups, bits: bits, mode: mode, divergenceWeight: divergence, smoothnessWeight: smoothness, threads: 1,
      channels: weighted ? 3 : nil, importance: weighted ? importance : nil)
  }

  /// The analytic gradient agrees with central finite differences of the same loss to
  /// 10⁻³ relative at smooth points (no code changes within ±h). With h = 10⁻⁷ relative the
  /// truncation error is O(h²) and the rounding error of the Double loss ~10⁻¹⁶/10⁻⁷; both
  /// far below 10⁻³. With and without channel importances.
  @Test(arguments: [QuantizationMode.zeroPoint, .floatMinimum, .symmetric], [false, true])
  func analyticGradientMatchesFiniteDifferences(mode: QuantizationMode, weighted: Bool) throws {
    let loss = try Self.loss(bits: 4, mode: mode, weighted: weighted)
    var point = Self.point(loss)
    var checked = 0
    for group in 0..<loss.groupCount {
      var h = 1e-7 * point[group].scale
      let hz = 1e-7
      var tries = 0
      while !Self.smooth(loss, point, group: group, scale: h, zero: hz) && tries < 50 {
        point[group].scale *= 1 + 3e-5  // step to a nearby smooth point
        h = 1e-7 * point[group].scale
        tries += 1
      }
      try #require(tries < 50, "no smooth point near group \(group)")
      let analytic = loss.gradient(point)
      var plus = point, minus = point
      plus[group].scale += h
      minus[group].scale -= h
      let scaleDifference = (loss.terms(plus).total - loss.terms(minus).total) / (2 * h)
      #expect(abs(analytic.scale[group] - scaleDifference) <= 1e-3 * abs(scaleDifference), "∂L/∂s[\(group)]: \(analytic.scale[group]) vs \(scaleDifference)")
      if mode != .symmetric {
        plus = point
        minus = point
        plus[group].zeroPoint += hz
        minus[group].zeroPoint -= hz
        let zeroDifference = (loss.terms(plus).total - loss.terms(minus).total) / (2 * hz)
        #expect(abs(analytic.zeroPoint[group] - zeroDifference) <= 1e-3 * abs(zeroDifference), "∂L/∂z[\(group)]: \(analytic.zeroPoint[group]) vs \(zeroDifference)")
      } else {
        #expect(analytic.zeroPoint[group] == 0)
      }
      checked += 1
    }
    #expect(checked == 4)
  }

  /// The sorted-sample evaluation equals re-quantizing every sample (the finite-difference
  /// path): reconstruction within 10⁻⁵ relative (Float32 lanes in the re-quantizing pass,
  /// Double prefix sums in the sorted one); divergence within 10⁻⁵ relative plus 10⁻⁹
  /// absolute (at 8 bits the KL term is ~10⁻¹¹ and the re-quantizing pass's Float32 second
  /// moments perturb σ̂² by ~10⁻⁷ relative — 10⁻⁹ is still 10⁻⁵ of the loss there);
  /// smoothness to Double rounding.
  @Test(arguments: [4, 8], [false, true])
  func sortedEvaluationEqualsRequantizing(bits: Int, weighted: Bool) throws {
    let loss = try Self.loss(bits: bits, mode: .zeroPoint, weighted: weighted, divergence: 0.1, smoothness: 0.01)
    for point in [loss.minMaxParameters(), Self.point(loss)] {
      let fast = loss.terms(point), slow = loss.requantizedTerms(point)
      #expect(abs(fast.reconstruction - slow.reconstruction) <= 1e-5 * slow.reconstruction)
      #expect(abs(fast.divergence - slow.divergence) <= 1e-5 * slow.divergence + 1e-9)
      #expect(abs(fast.smoothness - slow.smoothness) <= 1e-14 * slow.smoothness)
    }
  }

  /// Code sums from sorted samples equal a pass over every sample: Σq, Σq² exactly,
  /// Σxq to Double rounding — including ties (x·a + b on .5: half to even), fully clamped
  /// groups, and values at the extremes.
  @Test func sortedCodeSumsAreExact() {
    var samples: [Float] = [0.5, 1.5, 2.5, 3.5, -0.5, 15.5, 14.5, 16, -3, 7.25, 7.5, 0, -0]
    var generator = TestGenerator(seed: 5)
    for _ in 0..<5000 { samples.append(generator.gaussian() * 4 + 7) }
    let sorted = SortedSamples(samples)
    for (a, b): (Float, Float) in [(1, 0), (1, 0.5), (0.37, 3.2), (2.5, -7), (1, -100), (1, 100), (0.01, 7.5), (13, -90)] {
      for top in [3, 15, 255] {
        var q = 0.0, qq = 0.0, xq = 0.0
        for x in samples {
          let code = min(max((x * a + b).rounded(.toNearestOrEven), 0), Float(top))
          q += Double(code)
          qq += Double(code) * Double(code)
          xq += Double(x) * Double(code)
        }
        let fast = sorted.codeSums(a: a, b: b, top: top)
        #expect(fast.q == q && fast.qq == qq, "a \(a) b \(b) top \(top)")
        #expect(abs(fast.xq - xq) <= 1e-9 * max(1, abs(xq)))
      }
    }
  }

  /// Weighted sums (sample i weighs importance[i mod C]) equal a pass over every sample:
  /// Σwq, Σwq² with dyadic weights exactly (sums of multiples of 1/4 below 2⁵³), Σwxq to
  /// Double rounding; the channel payload survives the radix sort (ties included).
  @Test func weightedSortedCodeSumsAreExact() {
    var samples: [Float] = [0.5, 1.5, 2.5, 3.5, -0.5, 15.5, 14.5, 16, -3, 7.25, 7.5, 0, -0, 7.5, 7.5, 0.5]
    var generator = TestGenerator(seed: 6)
    for _ in 0..<4992 { samples.append(generator.gaussian() * 4 + 7) }
    let importance: [Float] = [0.25, 3, 1.5, 0, 2]  // rows of 5
    let sorted = SortedSamples(samples, channels: 5, importance: importance)
    let total = (0..<samples.count).reduce(0.0) { $0 + Double(importance[$1 % 5]) }
    #expect(sorted.totalWeight == total)
    #expect(abs(sorted.sum - zip(samples.indices, samples).reduce(0.0) { $0 + Double(importance[$1.0 % 5]) * Double($1.1) }) <= 1e-9 * total * 20)
    for (a, b): (Float, Float) in [(1, 0), (0.37, 3.2), (2.5, -7), (1, 100), (13, -90)] {
      for top in [3, 15, 255] {
        var q = 0.0, qq = 0.0, xq = 0.0
        for (i, x) in samples.enumerated() {
          let w = Double(importance[i % 5])
          let code = Double(min(max((x * a + b).rounded(.toNearestOrEven), 0), Float(top)))
          q += w * code
          qq += w * code * code
          xq += w * Double(x) * code
        }
        let fast = sorted.codeSums(a: a, b: b, top: top)
        #expect(fast.q == q && fast.qq == qq, "a \(a) b \(b) top \(top)")
        #expect(abs(fast.xq - xq) <= 1e-9 * max(1, abs(xq)))
      }
    }
  }

  @Test func radixSortSortsLikeTheStandardLibrary() {
    var generator = TestGenerator(seed: 8)
    var values: [Float] = [0.0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1, -1]
    for _ in 0..<10_000 { values.append(generator.gaussian() * Float(pow(10, Double.random(in: -8...8, using: &generator)))) }
    var output = [Float](repeating: .nan, count: values.count)
    let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: values.count)
    defer { scratch.deallocate() }
    values.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { RadixSort.sort(input.baseAddress!, count: values.count, into: $0.baseAddress!, scratch: scratch) }
    }
    #expect(output == values.sorted())
    #expect(output[output.firstIndex(of: 0)!].sign == .minus)  // −0 before +0
  }

  /// The loss is relative to min-max: its output term is exactly 1 there, both
  /// regularisers lie in [0, 1], so the optimizer's output term can never exceed
  /// 1 + λ₁ + λ₂ — and on generated time-grouped activations (2 % outliers) at 4 bits the
  /// clipping start and Adam bring it well below 1, never above the start.
  @Test(arguments: [QuantizationMode.zeroPoint, .floatMinimum])
  func outputErrorEndsBelowMinMax(mode: QuantizationMode) throws {
    let data = try SyntheticActivations.timeGrouped(count: 200_000, timesteps: 100, groups: 10, seed: 3)
    let optimizer = try ThermodynamicOptimizer()
    let result = try optimizer.optimize(groups: data, bits: 4, mode: mode)
    #expect(abs(result.minMax.reconstruction - 1) <= 1e-12)
    #expect(result.minMax.divergence >= 0 && result.minMax.divergence < 1 && result.minMax.smoothness >= 0 && result.minMax.smoothness <= 1)
    #expect(result.final.total <= result.initial.total * (1 + 1e-9))  // never above its start (Float32 storage: 10⁻⁹)
    #expect(result.initial.reconstruction <= 1)  // the clipping start is never worse than min-max
    #expect(result.final.reconstruction <= 1 + optimizer.divergenceWeight + optimizer.smoothnessWeight)
    #expect(result.final.reconstruction < 0.8, "relative output error \(result.final.reconstruction)")
    #expect(result.parameters.count == 10)
    for p in result.parameters { #expect(p.storageProblem(bits: 4, mode: mode) == nil) }
    #expect(result.lossHistory.count == result.iterations)
    #expect(result.lossHistory.allSatisfy { $0.isFinite })
    // The reported min-max loss is that of the min-max parameters.
    let minMax = try ThermodynamicLoss(groups: data, bits: 4, mode: mode, divergenceWeight: 0.1, smoothnessWeight: 0.01)
    #expect(abs(minMax.terms(minMax.minMaxParameters()).total - result.minMax.total) <= 1e-12 * result.minMax.total)
    // Each group's relative error is what the reconstruction term averages.
    let stored = result.parameters.map { ContinuousParameters($0, mode: mode) }
    let perGroup = minMax.relativeOutputErrors(stored)
    #expect(abs(perGroup.reduce(0, +) / 10 - result.final.reconstruction) <= 1e-12)
  }

  /// Whatever λ₂, the optimum pays for smoothness with at most λ₂ times what it gains:
  /// L(final) ≤ L(min-max start) gives R ≤ 1 + λ₁·(K₀ − K) + λ₂·(P₀ − P) — so a weight that
  /// dominates (λ₂ = 5) buys a smoother chain, and the default λ₂ = 0.01 can cost at most 1 %.
  @Test func theRegularisersCostAtMostWhatTheyGain() throws {
    let data = try SyntheticActivations.timeGrouped(count: 40_000, timesteps: 20, groups: 4, seed: 5)
    for weight in [5.0, 0.01] {
      let result = try ThermodynamicOptimizer(divergenceWeight: 0, smoothnessWeight: weight, start: .minMax)
        .optimize(groups: data, bits: 8, mode: .floatMinimum)
      // Float32 storage of the parameters moves the loss by ~10⁻⁷ relative: allow 10⁻⁶.
      #expect(result.final.reconstruction <= 1 + weight * (result.minMax.smoothness - result.final.smoothness) + 1e-6)
      if weight == 5 { #expect(result.final.smoothness < result.minMax.smoothness, "\(result.final) vs \(result.minMax)") }
    }
  }

  /// A one-iteration limit cannot converge, and the result says so.
  @Test func anIterationLimitIsReported() throws {
    let result = try ThermodynamicOptimizer(maximumIterations: 1).optimize(groups: Self.groups, bits: 8, mode: .floatMinimum)
    #expect(!result.converged && result.iterations == 1 && result.lossHistory.count == 1)
  }

  @Test func badInputsAreTypedErrors() throws {
    var groups = Self.groups
    groups[2][17] = .nan
    do {
      _ = try ThermodynamicOptimizer().optimize(groups: groups, layer: "l")
      Issue.record("NaN accepted")
    } catch {
      guard case .nonFiniteActivation("l", 2, 17, let value) = error else { Issue.record("\(error)"); return }
      #expect(value.isNaN)
    }
    groups[2][17] = .infinity
    #expect(throws: OptimizationError.nonFiniteActivation(layer: "l", group: 2, index: 17, value: .infinity)) {
      try ThermodynamicOptimizer().optimize(groups: groups, layer: "l")
    }
    #expect(throws: OptimizationError.emptyInput(what: "time group 1 of layer 'l'")) {
      try ThermodynamicOptimizer().optimize(groups: [[1, 2], [], [3]], layer: "l")
    }
    #expect(throws: OptimizationError.self) { try ThermodynamicOptimizer().optimize(groups: [], layer: "l") }
    #expect(throws: OptimizationError.self) { try ThermodynamicOptimizer(divergenceWeight: -1) }
    #expect(throws: OptimizationError.self) { try ThermodynamicOptimizer(smoothnessWeight: .nan) }
    #expect(throws: OptimizationError.self) { try ThermodynamicOptimizer(learningRate: 0) }
    #expect(throws: OptimizationError.self) { try ThermodynamicOptimizer(maximumIterations: 0) }
    #expect(throws: OptimizationError.quantization(.unsupportedBits(5, supported: [2, 3, 4, 8]))) {
      try ThermodynamicOptimizer().optimize(groups: Self.groups, bits: 5)
    }
    #expect(throws: OptimizationError.self) {
      try ThermodynamicLoss(groups: Self.groups, bits: 8, mode: .zeroPoint, divergenceWeight: 0.1, smoothnessWeight: -0.5)
    }
  }

  /// From a calibration set: raw samples work, min/max summaries are refused by name.
  @Test func calibrationSetsNeedRawSamples() throws {
    var calibration = CalibrationSet()
    for timestep in 0..<8 { try calibration.add(layer: "down.0", timestep: timestep, samples: Self.groups[timestep / 2].prefix(500).map { $0 }) }
    let grouping = try TimeGrouping(timesteps: 8, groups: 4)
    let result = try ThermodynamicOptimizer().optimize(layer: "down.0", calibration: calibration, grouping: grouping)
    #expect(result.parameters.count == 4 && result.final.total <= result.initial.total)
    calibration.add(layer: "up.0", timestep: 0, TimestepStatistics(minimum: -1, maximum: 2, count: 10))
    do {
      _ = try ThermodynamicOptimizer().optimize(layer: "up.0", calibration: calibration, grouping: try TimeGrouping(timesteps: 1, groups: 1))
      Issue.record("summaries accepted")
    } catch {
      guard case .emptyInput(let what)? = error as? OptimizationError else { Issue.record("\(error)"); return }
      #expect(what.contains("raw samples") && what.contains("up.0") && what.contains("timestep 0"))
    }
  }
}
