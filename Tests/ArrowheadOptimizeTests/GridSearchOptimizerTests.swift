import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing

@testable import ArrowheadOptimize

@Suite("Grid search + least squares")
struct GridSearchOptimizerTests {
  static let modes = QuantizationMode.allCases
  static let widths = [2, 3, 4, 8]

  /// Every group's squared error (measured with the quantizer's kernels) is at most
  /// min-max's: the (0, 0) start is min-max followed by a least-squares fit, and refinements
  /// only accept decreasing errors. The slack 10⁻⁶ relative + 10⁻¹² covers the Float32
  /// rounding of the final parameters (a few ulps of s and m move x̂ by ≤ 10⁻⁶·|x|).
  /// On every backend (the sweep and least-squares sums run on its kernels).
  @Test(arguments: BackendsUnderTest.names, modes)
  func neverWorseThanMinMax(backend: String, mode: QuantizationMode) throws {
    let engine = try BackendsUnderTest.engine(backend)
    for bits in Self.widths { try Self.neverWorseThanMinMax(engine: engine, mode: mode, bits: bits) }
  }

  static func neverWorseThanMinMax(engine: Engine, mode: QuantizationMode, bits: Int) throws {
    let grid = try GridSearchOptimizer()
    var improved = 0
    for seed in 0..<40 {
      let group = gaussianWeights(64, seed: UInt64(seed) + 100)
      let chosen = group.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: bits, mode: mode, engine: engine) }
      #expect(chosen.storageProblem(bits: bits, mode: mode) == nil, "\(chosen) not storable")
      let minMax = AffineParameters.minMax(minimum: group.min()!, maximum: group.max()!, bits: bits, mode: mode)
      let ours = try kernelSquaredError(group, chosen, bits: bits, mode: mode)
      let baseline = try kernelSquaredError(group, minMax, bits: bits, mode: mode)
      #expect(ours <= baseline * (1 + 1e-6) + 1e-12, "\(engine.forcedBackend ?? "") \(bits) bits seed \(seed): grid \(ours) > min-max \(baseline)")
      if mode == .symmetric {
        // Symmetric groups are also never worse than the signed maximum (ggml Q4_0's rule, one
        // more start, searched on the side of the larger extreme): half of these seeds have a
        // positive larger extreme, so the chosen scale is negative there.
        let signed = AffineParameters.signedMaximum(minimum: group.min()!, maximum: group.max()!, bits: bits)
        let signedError = try kernelSquaredError(group, signed, bits: bits, mode: mode)
        #expect(ours <= signedError * (1 + 1e-6) + 1e-12, "\(engine.forcedBackend ?? "") \(bits) bits seed \(seed): grid \(ours) > signed-max \(signedError)")
        if group.max()! > -group.min()! { #expect(chosen.scale < 0, "seed \(seed): \(chosen)") }
      }
      if ours < baseline * 0.99 { improved += 1 }
    }
    // On Gaussian groups with outliers, the search improves most groups by more than 1 %.
    #expect(improved >= 20, "\(engine.forcedBackend ?? "") \(bits) bits: only \(improved) of 40 groups improved by > 1 %")
  }

  /// Values exactly on a uniform 16-level grid are reproduced exactly (the least-squares fit
  /// of their codes is the grid itself), in float-minimum mode.
  @Test func aGroupOnAUniformGridIsReproducedExactly() throws {
    let group: [Float] = (0..<64).map { Float($0 % 16) * 0.125 - 0.75 }
    let chosen = try group.withUnsafeBufferPointer { try GridSearchOptimizer().parameters(for: $0, importance: nil, bits: 4, mode: .floatMinimum) }
    #expect(try kernelSquaredError(group, chosen, bits: 4, mode: .floatMinimum) == 0)
  }

  /// A weight with importance 0 does not count: an outlier far from a 16-level grid is
  /// ignored (the rest is reproduced exactly), while without importances it must be fitted.
  @Test func zeroImportanceIgnoresAnOutlier() throws {
    var group: [Float] = (0..<64).map { Float($0 % 16) * 0.125 - 0.75 }
    group[37] = 9.0
    var importance = [Float](repeating: 1, count: 64)
    importance[37] = 0
    let grid = try GridSearchOptimizer()
    let weighted = group.withUnsafeBufferPointer { values in
      importance.withUnsafeBufferPointer { grid.parameters(for: values, importance: $0, bits: 4, mode: .floatMinimum) }
    }
    var others = group
    others.remove(at: 37)
    #expect(try kernelSquaredError(others, weighted, bits: 4, mode: .floatMinimum) < 1e-12)
    let plain = group.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: 4, mode: .floatMinimum) }
    #expect(try kernelSquaredError(others, plain, bits: 4, mode: .floatMinimum) > 1e-3)
  }

  /// Importance-weighted error is what the weighted search minimises: on random groups with
  /// random importances it is at most the unweighted search's weighted error in most groups
  /// (both are heuristics, so "most", with the margin a 2 % tie band leaves).
  @Test func weightedSearchWinsOnItsOwnObjective() throws {
    let grid = try GridSearchOptimizer()
    var wins = 0
    for seed in 0..<30 {
      let group = gaussianWeights(64, seed: UInt64(seed) + 500)
      var generator = TestGenerator(seed: UInt64(seed))
      let importance = (0..<64).map { _ in Float.random(in: 0...1, using: &generator) * Float.random(in: 0...1, using: &generator) * 10 }
      func weightedError(_ p: AffineParameters) -> Double {
        let s = Double(p.scale), m = Double(p.offset)
        return zip(group, importance).reduce(0) { total, pair in
          let q = min(max(((Double(pair.0) - m) / s).rounded(.toNearestOrEven), 0), 15)
          let d = Double(pair.0) - (q * s + m)
          return total + Double(pair.1) * d * d
        }
      }
      let weighted = group.withUnsafeBufferPointer { values in
        importance.withUnsafeBufferPointer { grid.parameters(for: values, importance: $0, bits: 4, mode: .floatMinimum) }
      }
      let plain = group.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: 4, mode: .floatMinimum) }
      if weightedError(weighted) <= weightedError(plain) * 1.02 { wins += 1 }
    }
    #expect(wins >= 27, "weighted search won on its own objective in \(wins) of 30 groups")
  }

  /// Storable parameters in every mode, constant and tiny groups fall back to min-max.
  @Test(arguments: modes)
  func edgeCases(mode: QuantizationMode) throws {
    let grid = try GridSearchOptimizer()
    for group in [[Float](repeating: 0.25, count: 64), [0, 0, 0, 0], [1.5], [-3, 3], [Float](repeating: 0, count: 9)] {
      let chosen = group.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: 4, mode: mode) }
      #expect(chosen.storageProblem(bits: 4, mode: mode) == nil)
      #expect(chosen.scale.isFinite && !chosen.offset.isNaN)
    }
    let constant = [Float](repeating: 0.25, count: 64)
    let chosen = constant.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: 4, mode: mode) }
    #expect(chosen == AffineParameters.minMax(minimum: 0.25, maximum: 0.25, bits: 4, mode: mode))
  }

  /// The quantizer's batch path (parallel blocks, ragged groups) gives the single-group
  /// answer for every group.
  @Test func batchesAgreeWithSingleGroups() throws {
    let values = gaussianWeights(48 * 200, seed: 9)
    let grid = try GridSearchOptimizer()
    let scheme = try QuantizationScheme(bits: 3, granularity: .perGroup(64), mode: .zeroPoint)
    let q = try Quantizer(scheme: scheme, optimizer: grid).quantize(values, shape: [48, 200])
    for group in 0..<q.scales.count {
      let row = group / 4, columns = q.layout.columns(ofGroup: group)
      let slice = Array(values[(row * 200 + columns.lowerBound)..<(row * 200 + columns.upperBound)])
      let single = slice.withUnsafeBufferPointer { grid.parameters(for: $0, importance: nil, bits: 3, mode: .zeroPoint) }
      #expect(q.parameters(ofGroup: group) == single, "group \(group)")
    }
  }

  @Test func settingsOutOfRangeAreTypedErrors() {
    #expect(throws: OptimizationError.invalidSetting(name: "steps", value: "0", expected: "an integer in 1…32")) { try GridSearchOptimizer(steps: 0) }
    #expect(throws: OptimizationError.invalidSetting(name: "keep", value: "17", expected: "an integer in 1…16")) {
      try GridSearchOptimizer(steps: 4, keep: 17)
    }
    #expect(throws: OptimizationError.self) { try GridSearchOptimizer.ClipInterval(low: 0.2, high: 0.1) }
    #expect(throws: OptimizationError.self) { try GridSearchOptimizer.ClipInterval(low: .nan, high: 0.1) }
    #expect(throws: OptimizationError.self) { try GridSearchOptimizer(refinements: -1) }
  }

  /// A report's settings recreate the optimizer (`OptimizerCatalog`), and unknown names,
  /// keys and unparsable values are typed errors.
  @Test func catalogRoundTrips() throws {
    let grid = try GridSearchOptimizer(steps: 6, keep: 4, refinements: 2, localRounds: 0, clip: try .init(low: -0.01, high: 0.2))
    let rebuilt = try OptimizerCatalog.make(name: grid.name, settings: grid.settings)
    #expect(rebuilt.name == "grid" && rebuilt.settings == grid.settings)
    let hqq = try HalfQuadraticOptimizer(norm: 0.5, beta: 20, kappa: 1.05, iterations: 10, earlyStop: false)
    #expect(try OptimizerCatalog.make(name: hqq.name, settings: hqq.settings).settings == hqq.settings)
    #expect(try OptimizerCatalog.make(name: "minmax").name == "minmax")
    #expect(try OptimizerCatalog.make(name: "signed-max").name == "signed-max")
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.make(name: "signed-max", settings: ["steps": "4"]) }
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.make(name: "adam") }
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.make(name: "grid", settings: ["stepz": "4"]) }
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.make(name: "hqq", settings: ["beta": "ten"]) }
    let thermo = try OptimizerCatalog.thermodynamic(settings: ["lambda1": "0.5", "iterations": "50"])
    #expect(thermo.divergenceWeight == 0.5 && thermo.maximumIterations == 50)
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.thermodynamic(settings: ["lambda2": "-1"]) }
    let gptq = try OptimizerCatalog.gptq(settings: ["damping": "0.1", "block_size": "64"], groupOptimizer: MinMaxOptimizer())
    #expect(gptq.damping == 0.1 && gptq.blockSize == 64)
  }

  /// The eight-lane sweep of every runnable backend computes exactly the code sums of a
  /// scalar loop (codes are small integers, so Σq and Σq² are exact; Σxq agrees to Float32
  /// accumulation).
  @Test(arguments: Engine.default.runnableBackends.map(\.name))
  func theSweepMatchesAScalarLoop(backendName: String) throws {
    let backend = try #require(Engine.default.registry.backend(named: backendName))
    let x = gaussianWeights(77, seed: 3)  // odd length: no tail assumptions
    var lanes = CandidateLanes()
    for lane in 0..<8 {
      let s = Float(0.01 + 0.003 * Double(lane)), m = Float(-0.1 + 0.01 * Double(lane))
      lanes.a[lane] = 1 / s
      lanes.b[lane] = -m / s
      lanes.s[lane] = s
      lanes.m[lane] = m
    }
    let sums = x.withUnsafeBufferPointer {
      backend.candidateSweep(count: 77, $0.baseAddress!, weights: nil, weightedValues: nil, lanes: lanes, top: 15, measureError: true)
    }
    for lane in 0..<8 {
      var q = 0.0, qq = 0.0, xq = 0.0, e = 0.0
      for value in x {
        let code = min(max((value * lanes.a[lane] + lanes.b[lane]).rounded(.toNearestOrEven), 0), 15)
        q += Double(code)
        qq += Double(code * code)
        xq += Double(value) * Double(code)
        let r = Double(value) - Double(code * lanes.s[lane] + lanes.m[lane])
        e += r * r
      }
      #expect(sums.q[lane] == q && sums.qq[lane] == qq, "\(backendName) lane \(lane)")
      #expect(abs(sums.xq[lane] - xq) <= 1e-5 * max(1, abs(xq)))
      #expect(abs(sums.error[lane] - e) <= 1e-5 * e + 1e-12)
    }
  }
}
