import Arrowhead
import ArrowheadQuant
import Testing

@testable import ArrowheadOptimize

@Suite("Clipping search of activation ranges")
struct ClippingSearchTests {
  /// 100 samples at each of 0, 1, 2, 3 and one outlier at 10, 2 bits, zero-point (so the
  /// range keeps 0 and only the upper end moves).
  static let outlierGroup: [Float] = (0..<400).map { Float($0 % 4) } + [10]

  /// With the upper end u near 3 (s = u/3, z = 0) the codes stay 0, 1, 2, 3 for the values
  /// 0…3 and 3 for the outlier, so E(u) = A·(u − 3)² + (10 − u)² with
  /// A = 100·(1 + 4/9 + 1/9) (x = 3, 2, 1 reconstruct as u, 2u/3, u/3). Its minimum:
  /// u* = (3A + 10)/(A + 1) ≈ 3.04471, E* = 7²·A/(A + 1) ≈ 48.68701 — the global one (a scan
  /// of u over [0.5, 10] in steps of 10⁻⁵ finds nothing lower; min-max gives
  /// 100·(1 + (10/3 − 2)² + (10/3 − 3)²) = 288.9, the clip at 3 exactly 49). The zoom ends
  /// with a spacing of 1/8192 of the grid interval around 3 (neighbours 0.3·0.878 and
  /// 0.3/0.878 of the range 10: 0.78), Δu ≤ 10⁻⁴, so E ≤ E* + (A + 1)·Δu² ≈ E* + 1.6·10⁻⁶;
  /// we allow 10⁻⁶ relative (5·10⁻⁵ absolute).
  @Test func findsTheAnalyticOptimumOfAnOutlierGroup() throws {
    let result = try ClippingSearch().search(groups: [Self.outlierGroup], bits: 2, mode: .zeroPoint, threads: 1)[0]
    let a = 100 * (1 + 4.0 / 9 + 1.0 / 9)
    let optimum = (3 * a + 10) / (a + 1)
    let best = 49 * a / (a + 1)
    // Float32 parameters: s = u/3 rounded to Float32 moves E by ~(A + 1)·(3·10⁻⁷)² — negligible.
    #expect(result.error <= best * (1 + 1e-6) && result.error >= best * (1 - 1e-9), "E \(result.error) vs E* \(best)")
    #expect(abs(Double(result.range.upper) - optimum) <= 1e-3 && result.range.lower == 0, "range \(result.range)")
    let minMax = 100 * (1 + (10.0 / 3 - 2) * (10.0 / 3 - 2) + (10.0 / 3 - 3) * (10.0 / 3 - 3))
    // Float32 scale and reconstructions: 10⁻⁶ relative.
    #expect(abs(result.minMaxError - minMax) <= 1e-6 * minMax)
    // The stored parameters are min-max of the chosen range, and the error is theirs.
    #expect(result.parameters == AffineParameters.minMax(minimum: 0, maximum: result.range.upper, bits: 2, mode: .zeroPoint))
    #expect(abs(try kernelSquaredError(Self.outlierGroup, result.parameters, bits: 2, mode: .zeroPoint) - result.error) <= 1e-5 * result.error)
    // A float minimum can do at least as well (its first line search is the same one).
    let floating = try ClippingSearch().search(groups: [Self.outlierGroup], bits: 2, mode: .floatMinimum, threads: 1)[0]
    #expect(floating.error <= best * (1 + 1e-6))
  }

  /// Channel importances decide what is clipped: rows of two channels where only channel 1
  /// counts and holds the values 0…3; channel 0 holds the outlier. The clip at 3 (a
  /// percentile candidate) reproduces channel 1 exactly: error 0, s = 1, m = 0.
  @Test func importancesDecideWhatIsClipped() throws {
    var rows: [Float] = []
    for i in 0..<400 { rows += [i == 7 ? 100 : Float(i % 4), Float(i % 4)] }
    let weighted = try ClippingSearch().search(groups: [rows], bits: 2, mode: .floatMinimum, channels: 2, importance: [0, 1], threads: 1)[0]
    #expect(weighted.error == 0)
    #expect(weighted.parameters == AffineParameters(scale: 1, offset: 0))
    #expect(weighted.range == ActivationRange(lower: 0, upper: 3))
    // Unweighted, the outlier counts and the clip lands above 3 (as in the analytic case).
    let plain = try ClippingSearch().search(groups: [rows], bits: 2, mode: .floatMinimum, threads: 1)[0]
    #expect(plain.range.upper > 3 && plain.error > 0)
  }

  /// The search never ends above min-max on the samples it fits (min-max is its first
  /// candidate and every step keeps the best), in every mode and width, on skewed groups
  /// with outliers; at 4 bits it clips most of them to a clearly lower error.
  @Test(arguments: [QuantizationMode.zeroPoint, .floatMinimum, .symmetric])
  func neverWorseThanMinMax(mode: QuantizationMode) throws {
    let groups = try SyntheticActivations.timeGrouped(count: 40_000, timesteps: 20, groups: 5, seed: 9)
    for bits in [2, 3, 4, 8] {
      let results = try ClippingSearch().search(groups: groups, bits: bits, mode: mode, threads: 2)
      for (group, result) in results.enumerated() {
        #expect(result.error <= result.minMaxError, "bits \(bits) group \(group)")
        #expect(result.parameters.storageProblem(bits: bits, mode: mode) == nil)
        // Exactly min-max's error where nothing better was found; else the kernel agrees.
        let measured = try kernelSquaredError(groups[group], result.parameters, bits: bits, mode: mode)
        #expect(abs(measured - result.error) <= 1e-4 * max(result.error, 1e-12), "bits \(bits) group \(group): \(measured) vs \(result.error)")
      }
      if bits == 4 {
        let ratio = results.map { $0.error / $0.minMaxError }.reduce(0, +) / Double(results.count)
        #expect(ratio < 0.8, "mean error ratio \(ratio) at 4 bits")
      }
    }
  }

  @Test func settingsAreCheckedAndRoundTrip() throws {
    #expect(throws: OptimizationError.self) { try ClippingSearch(gridPoints: 3) }
    #expect(throws: OptimizationError.self) { try ClippingSearch(rounds: 0) }
    #expect(throws: OptimizationError.self) { try OptimizerCatalog.clipping(settings: ["steps": "4"]) }
    let search = try OptimizerCatalog.clipping(settings: ["grid_points": "12", "rounds": "3"])
    #expect(search.gridPoints == 12 && search.rounds == 3)
    #expect(try OptimizerCatalog.clipping(settings: search.settings).settings == search.settings)
    #expect(throws: OptimizationError.self) { try ClippingSearch().search(groups: [[1, .nan]], bits: 4, mode: .zeroPoint) }
    #expect(throws: OptimizationError.self) {
      try ClippingSearch().search(groups: [[1, 2, 3]], bits: 4, mode: .zeroPoint, channels: 2, importance: [1, 1])
    }
  }
}
