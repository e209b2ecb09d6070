import Arrowhead
import ArrowheadQuant
import Foundation
import Testing

@testable import ArrowheadOptimize

@Suite("HQQ half-quadratic solver")
struct HalfQuadraticOptimizerTests {
  /// A plain Double transcription of HQQ's `optimize_weights_proximal_legacy` for one group
  /// (exact pow, no vectorisation): the oracle for the SIMD port.
  static func reference(_ x: [Float], bits: Int, p: Double = 0.7, beta: Double = 10, kappa: Double = 1.01, iterations: Int = 20, earlyStop: Bool) -> (inverse: Double, zero: Double) {
    let top = Double((1 << bits) - 1)
    let low = Double(x.min()!), high = Double(x.max()!)
    let inverse = min(top / (high - low), 2e4)
    var zero = -low * inverse, beta = beta, best = Double.infinity
    for _ in 0..<iterations {
      var absolute = 0.0, update = 0.0
      for value in x.map(Double.init) {
        let q = min(max((value * inverse + zero).rounded(.toNearestOrEven), 0), top)
        let e = value - (q - zero) / inverse
        absolute += abs(e)
        let shrunk = abs(e) == 0 ? 0 : max(abs(e) - pow(abs(e), p - 1) / beta, 0)
        update += q - (value - (e < 0 ? -shrunk : shrunk)) * inverse
      }
      zero = update / Double(x.count)
      beta *= kappa
      let error = absolute / Double(x.count)
      if earlyStop {
        if error < best { best = error } else { break }
      }
    }
    return (inverse, zero)
  }

  /// Without early stopping (so that a near-tie cannot end the two runs at different
  /// iterations), the vectorised port reproduces the Double reference: the minimum
  /// m = −z/a agrees within 10⁻³ of a quantization step. Budget: |p − 1|·|log₂|e||·10⁻⁷ ≈
  /// 3·10⁻⁶ relative error of |e|^(p−1) per weight in `FastMath.pow`, Float32 sums over 64
  /// weights, 20 iterations — all far below 10⁻³ step.
  @Test(arguments: [2, 4, 8])
  func matchesTheDoubleReference(bits: Int) throws {
    let hqq = try HalfQuadraticOptimizer(earlyStop: false)
    for seed in 0..<20 {
      let group = gaussianWeights(64, seed: UInt64(seed) + 40)
      let ours = group.withUnsafeBufferPointer { hqq.parameters(for: $0, importance: nil, bits: bits, mode: .floatMinimum) }
      let expected = Self.reference(group, bits: bits, earlyStop: false)
      let step = 1 / expected.inverse
      #expect(abs(Double(ours.scale) - step) <= 1e-6 * step)
      #expect(abs(Double(ours.offset) - (-expected.zero / expected.inverse)) <= 1e-3 * step, "seed \(seed)")
    }
  }

  /// With HQQ's early stop the result is still the reference's on most groups (a near-tie
  /// of the mean error may stop one run an iteration earlier).
  @Test func earlyStopMatchesTheReferenceOnMostGroups() throws {
    let hqq = try HalfQuadraticOptimizer()
    var agree = 0
    for seed in 0..<40 {
      let group = gaussianWeights(64, seed: UInt64(seed) + 900)
      let ours = group.withUnsafeBufferPointer { hqq.parameters(for: $0, importance: nil, bits: 4, mode: .floatMinimum) }
      let expected = Self.reference(group, bits: 4, earlyStop: true)
      if abs(Double(ours.offset) - (-expected.zero / expected.inverse)) <= 1e-3 / expected.inverse { agree += 1 }
    }
    #expect(agree >= 36, "\(agree) of 40 groups agree")
  }

  /// Every mode returns storable, finite parameters, also for constant and zero groups.
  @Test(arguments: QuantizationMode.allCases)
  func storableInEveryMode(mode: QuantizationMode) throws {
    let hqq = try HalfQuadraticOptimizer()
    for group in [gaussianWeights(64, seed: 5), [Float](repeating: 0, count: 64), [Float](repeating: -2, count: 64), [1, 2], gaussianWeights(13, seed: 6)] {
      for bits in [2, 3, 4, 8] {
        let chosen = group.withUnsafeBufferPointer { hqq.parameters(for: $0, importance: nil, bits: bits, mode: mode) }
        #expect(chosen.storageProblem(bits: bits, mode: mode) == nil, "\(chosen)")
      }
    }
  }

  @Test func settingsOutOfRangeAreTypedErrors() {
    #expect(throws: OptimizationError.invalidSetting(name: "beta", value: "0.0", expected: "a finite value > 0")) { try HalfQuadraticOptimizer(beta: 0) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(beta: -10) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(beta: .nan) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(beta: .infinity) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(norm: 0) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(norm: 1.5) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(kappa: 0.99) }
    #expect(throws: OptimizationError.self) { try HalfQuadraticOptimizer(iterations: 0) }
  }

  /// `FastMath`: log₂ within 4·10⁻⁷ absolute, 2ʸ and xᵖ within 10⁻⁶ relative (the bounds
  /// derived in its documentation, with Float32 rounding of the result), over 12 decades.
  @Test func fastMathIsAccurate() {
    var generator = TestGenerator(seed: 77)
    for _ in 0..<2000 {
      let x = Float(pow(10, Double.random(in: -9...3, using: &generator)))
      let v = SIMD8<Float>(repeating: x)
      #expect(abs(Double(FastMath.log2(v)[3]) - Foundation.log2(Double(x))) <= 4e-7 * max(1, abs(Foundation.log2(Double(x)))))
      let y = Float.random(in: -30...30, using: &generator)
      let expected = Foundation.exp2(Double(y))
      #expect(abs(Double(FastMath.exp2(SIMD8(repeating: y))[5]) - expected) <= 1e-6 * expected)
      let power = pow(Double(x), -0.3)
      #expect(abs(Double(FastMath.pow(v, -0.3)[0]) - power) <= 1e-6 * power)
    }
  }
}
