import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
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
  /// On every backend (each has its own vectorised HQQ step).
  @Test(arguments: BackendsUnderTest.names, [2, 4, 8])
  func matchesTheDoubleReference(backend: String, bits: Int) throws {
    let engine = try BackendsUnderTest.engine(backend)
    let hqq = try HalfQuadraticOptimizer(earlyStop: false)
    for seed in 0..<20 {
      let group = gaussianWeights(64, seed: UInt64(seed) + 40)
      let ours = group.withUnsafeBufferPointer { hqq.parameters(for: $0, importance: nil, bits: bits, mode: .floatMinimum, engine: engine) }
      let expected = Self.reference(group, bits: bits, earlyStop: false)
      let step = 1 / expected.inverse
      #expect(abs(Double(ours.scale) - step) <= 1e-6 * step, "\(backend) seed \(seed)")
      #expect(abs(Double(ours.offset) - (-expected.zero / expected.inverse)) <= 1e-3 * step, "\(backend) seed \(seed)")
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

  /// The HQQ step of every runnable backend against the reference (libm `powf` per value):
  /// the SIMD kernels' vectorised xᵖ is within 10⁻⁶ relative (log₂ series truncation
  /// ≈ 4·10⁻⁸, exp₂ ≈ 1.2·10⁻⁷, times |p·log₂ x| ≤ 0.3·30 over these magnitudes), which moves
  /// the shrunk residual by at most 10⁻⁶·|e|ᵖ/β per value; codes are identical. So the mean
  /// |e| agrees to Float32 summation (10⁻⁵ relative) and the update to
  /// 10⁻⁶·a·max|e|ᵖ/β + summation error — 10⁻⁴ absolute is generous by ~10× here.
  @Test(arguments: Engine.default.runnableBackends.map(\.name))
  func theHQQStepMatchesTheReference(backendName: String) throws {
    let backend = try #require(Engine.default.registry.backend(named: backendName))
    for count in [1, 7, 8, 63, 64, 65, 1000, 3001] {
      let x = gaussianWeights(count, seed: UInt64(count))
      let low = x.min() ?? 0, high = x.max() ?? 1
      let inverse = 15 / max(high - low, 1e-3), zero = -low * inverse
      x.withUnsafeBufferPointer { buffer in
        let ours = backend.hqqZeroStep(count: count, buffer.baseAddress!, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
        let oracle = ReferenceKernels.hqqZeroStep(count: count, buffer.baseAddress!, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
        #expect(abs(ours.meanAbsoluteError - oracle.meanAbsoluteError) <= 1e-5 * oracle.meanAbsoluteError + 1e-9, "\(backendName) n=\(count)")
        #expect(abs(ours.update - oracle.update) <= 1e-4, "\(backendName) n=\(count)")
        let scale = 1 / inverse
        let scaled = backend.hqqScaleStep(count: count, buffer.baseAddress!, scale: scale, zero: 8, beta: 10, exponent: -0.3, top: 15)
        let expected = ReferenceKernels.hqqScaleStep(count: count, buffer.baseAddress!, scale: scale, zero: 8, beta: 10, exponent: -0.3, top: 15)
        #expect(abs(scaled.update - expected.update) <= 1e-4 * abs(expected.update), "\(backendName) n=\(count)")
        #expect(
          abs(scaled.meanAbsoluteError - expected.meanAbsoluteError) <= 1e-5 * expected.meanAbsoluteError + 1e-9,
          "\(backendName) n=\(count)")
      }
    }
  }

  /// The SIMD variants (SSE2, AVX2, AVX-512 builds of one source) return the same bits from
  /// both HQQ steps: eight Float32 lanes everywhere, multiply then add (never fused), lane
  /// sums folded in lane order, runs of 1 024 values then Double — so an HQQ-quantized file
  /// does not depend on the CPU it was made on. Counts cross the 1 024-value runs and leave
  /// every tail length. (A fused multiply–add in one sum on the FMA variants only changes
  /// the bits of some of these updates.)
  @Test func theSIMDVariantsGiveTheSameBits() throws {
    let variants = Engine.default.runnableBackends.filter { $0.name.hasPrefix("simd-") }
    try #require(variants.count >= 2, "needs two SIMD variants on this CPU")
    // Forty groups of 64 and 128 (a weight matrix's groups) and lengths across the runs.
    var cases: [(count: Int, seed: UInt64)] = []
    for group in 0..<40 { cases.append((group % 2 == 0 ? 64 : 128, UInt64(group + 300))) }
    for count in [5, 8, 13, 1023, 1024, 1031, 2500] { cases.append((count, UInt64(count + 77))) }
    for (count, seed) in cases {
      let x = gaussianWeights(count, seed: seed)
      let low = x.min() ?? 0, high = x.max() ?? 1
      let inverse = 15 / max(high - low, 1e-3), zero = -low * inverse
      x.withUnsafeBufferPointer { buffer in
        let base = buffer.baseAddress!
        let first = variants[0]
        let zeroStep = first.hqqZeroStep(count: count, base, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
        let scaleStep = first.hqqScaleStep(count: count, base, scale: 1 / inverse, zero: 8, beta: 10, exponent: -0.3, top: 15)
        for variant in variants.dropFirst() {
          let z = variant.hqqZeroStep(count: count, base, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
          let s = variant.hqqScaleStep(count: count, base, scale: 1 / inverse, zero: 8, beta: 10, exponent: -0.3, top: 15)
          #expect(z.update.bitPattern == zeroStep.update.bitPattern, "zero step, \(variant.name) n=\(count)")
          #expect(z.meanAbsoluteError.bitPattern == zeroStep.meanAbsoluteError.bitPattern, "zero step |e|, \(variant.name) n=\(count)")
          #expect(s.update.bitPattern == scaleStep.update.bitPattern, "scale step, \(variant.name) n=\(count)")
          #expect(s.meanAbsoluteError.bitPattern == scaleStep.meanAbsoluteError.bitPattern, "scale step |e|, \(variant.name) n=\(count)")
        }
      }
    }
  }
}
