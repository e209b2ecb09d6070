import Arrowhead
import ArrowheadCore
import Foundation
@testable import ArrowheadEncoder
import Testing

/// The transformer kernel family the encoder runs (`TransformerKernels`: GELU's Φ, softmax's
/// 2^x, LayerNorm) on every backend this CPU runs — the SIMD variants' approximations and the
/// reference's Double evaluation alike — against the exact functions in Double, with bounds
/// derived from each approximation's error (see Backends/SIMD/Transformer.swift).
@Suite("Encoder kernels")
struct EncoderKernelsTests {
  /// Every backend that runs here (the reference, each SIMD level the CPU has, OpenBLAS,
  /// which takes the family's reference defaults).
  static let backends = BackendRegistry.builtIn.runnable()

  /// GELU(v) = v·Φ(v) = v·(1 + erf(v/√2))/2 in Double.
  static func exactGELU(_ v: Float) -> Double {
    let x = Double(v)
    return x * 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot()))
  }

  /// GELU of each value through `backend.addBiasGELU` (one row, zero bias).
  static func gelu(_ values: [Float], on backend: any Backend) -> [Float] {
    var x = values
    let zeros = [Float](repeating: 0, count: values.count)
    x.withUnsafeMutableBufferPointer { buffer in
      backend.addBiasGELU(rows: 1, columns: buffer.count, buffer.baseAddress!, ld: buffer.count, bias: zeros)
    }
    return x
  }

  /// 2^x of each value (x ≤ 0) through `exponentiateRows`: one row per value, so the
  /// row's maximum is the value itself; a second column at 0 sets the maximum to 0.
  static func exp2(_ values: [Float], on backend: any Backend) -> [Float] {
    var x = values.flatMap { value -> [Float] in [value, 0] }
    var sums = [Float](repeating: 0, count: values.count)
    x.withUnsafeMutableBufferPointer { buffer in
      sums.withUnsafeMutableBufferPointer {
        backend.exponentiateRows(rows: values.count, columns: 2, buffer.baseAddress!, ld: 2, inverseSums: $0.baseAddress!)
      }
    }
    return stride(from: 0, to: x.count, by: 2).map { x[$0] }
  }

  /// The rational Φ errs by ≤ 9.4e-9 in exact arithmetic; evaluated in Float, Φ near 1 is
  /// rounded to ~2 ulp (2.4e-7, the measured worst case of the same operations in numpy's
  /// float32), and v·Φ adds half an ulp of the result: |error| ≤ 3e-7·max(1, |v|) bounds
  /// both with a margin. The old A&S erf (error 1.5e-7 in erf, 7.5e-8 in Φ) would pass it
  /// too; a wrong constant (a coefficient off in its third digit, a clamp at 4 instead of
  /// 5.6, the tanh form of GELU at ~1e-3) would not.
  @Test(arguments: backends.map(\.name)) func geluMatchesTheErfFormula(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    let values = (0...(24 * 1024)).map { Float(-12) + Float($0) / 1024 }
    let results = Self.gelu(values, on: backend)
    var worst = 0.0
    for (v, result) in zip(values, results) {
      worst = max(worst, abs(Double(result) - Self.exactGELU(v)) / max(1, Double(abs(v))))
    }
    #expect(worst <= 3e-7, "worst relative error \(worst) on \(name)")
    // Far below zero the result is 0 (the SIMD clamp; the exact value, −v·Φ(v), is below
    // 1e-8 from −6 on); far above it, v itself.
    let edges = Self.gelu([-6, -1e6, 1e6, 0], on: backend)
    #expect(abs(edges[0]) <= 1e-8 && edges[1] == 0 && edges[2] == 1e6 && edges[3] == 0, "\(edges) on \(name)")
  }

  /// `addBiasGELU` over rows whose width is not a multiple of the 16 lanes, `ld` past the
  /// width: every element, vector body and scalar tail alike, is gelu(fl(x + b)) as the same
  /// backend computes it one value at a time (the same Float operations, so exactly equal),
  /// and nothing between a row's end and the next row is written.
  @Test(arguments: backends.map(\.name)) func addBiasGELUCoversTheTail(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    let rows = 3, columns = 37, ld = 40
    var x = (0..<(rows * ld)).map { $0 % ld < columns ? Float($0 % 23) * 0.37 - 4 : .nan }
    let bias = (0..<columns).map { Float($0) * 0.05 - 0.9 }
    let sums = (0..<(rows * columns)).map { x[($0 / columns) * ld + $0 % columns] + bias[$0 % columns] }
    let expected = Self.gelu(sums, on: backend)
    x.withUnsafeMutableBufferPointer { buffer in
      bias.withUnsafeBufferPointer { backend.addBiasGELU(rows: rows, columns: columns, buffer.baseAddress!, ld: ld, bias: $0.baseAddress!) }
    }
    #expect((0..<(rows * columns)).allSatisfy { x[($0 / columns) * ld + $0 % columns] == expected[$0] }, "\(name)")
    #expect((0..<rows).allSatisfy { row in (columns..<ld).allSatisfy { x[row * ld + $0].isNaN } }, "\(name)")
  }

  /// 2^x for x ≤ 0: f = x − round(x) is exact and 2ⁿ is built exactly, so the error is the
  /// degree-5 polynomial's on |f| ≤ 1/2: 9.1e-8 in exact arithmetic, ≤ 1.9e-7 evaluated in
  /// Float (measured); 2.5e-7 relative bounds it. Below −126 the value is 2^−126.
  @Test(arguments: backends.map(\.name)) func exp2MatchesPow(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    let values = Array(stride(from: Float(-126), through: 0, by: 1.0 / 512 + 1.0 / 65536))
    let results = Self.exp2(values, on: backend)
    var worst = 0.0
    for (x, value) in zip(values, results) {
      let exact = Foundation.pow(2.0, Double(x))
      worst = max(worst, abs(Double(value) - exact) / exact)
    }
    #expect(worst <= 2.5e-7, "worst relative error \(worst) on \(name)")
    let edges = Self.exp2([0, -1000], on: backend)
    // 2^0 is exact; 2^−1000 is 0 in Float, or 2^−126 where the kernel clamps (SIMD).
    #expect(edges[0] == 1 && (edges[1] == 0 || edges[1] == Float.leastNormalMagnitude), "\(edges) on \(name)")
  }

  /// exponentiateRows then scaleRows is softmax of the scores s = x·ln2 (scores in base 2):
  /// each weight against Double. Errors: 2^x 1.9e-7; the rounding of x − max, half an ulp
  /// of a difference < 16 (9.5e-7·ln2 = 6.6e-7 relative); the sum of ≤ 53 terms in 16
  /// partial sums and the inverse (≤ 5 roundings, 6e-7); the final product (6e-8):
  /// ≤ 1.6e-6 relative, so 2e-6.
  @Test(arguments: backends.map(\.name)) func exponentiatedRowsScaledAreSoftmax(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    let rows = 4, columns = 53, ld = 60
    var x = [Float](repeating: .nan, count: rows * ld)
    for row in 0..<rows {
      for column in 0..<columns { x[row * ld + column] = Float((row * 31 + column * 17) % 97) / 97 * 15 - 7.5 }
    }
    let input = x
    var sums = [Float](repeating: 0, count: rows)
    x.withUnsafeMutableBufferPointer { buffer in
      sums.withUnsafeMutableBufferPointer { sumsBuffer in
        backend.exponentiateRows(rows: rows, columns: columns, buffer.baseAddress!, ld: ld, inverseSums: sumsBuffer.baseAddress!)
        backend.scaleRows(rows: rows, columns: columns, buffer.baseAddress!, ld: ld, scales: sumsBuffer.baseAddress!)
      }
    }
    var worst = 0.0
    for row in 0..<rows {
      let line = (0..<columns).map { Double(input[row * ld + $0]) }
      let top = line.max()!
      let weights = line.map { Foundation.pow(2.0, $0 - top) }
      let total = weights.reduce(0, +)
      for column in 0..<columns {
        let exact = weights[column] / total
        worst = max(worst, abs(Double(x[row * ld + column]) - exact) / exact)
      }
      // Past the row's width (inside ld) nothing is written.
      #expect(x[row * ld + columns].isNaN)
    }
    #expect(worst <= 2e-6, "worst relative error \(worst) on \(name)")
  }

  /// Scores 200 and 3 000 below the row's maximum get a weight of at most 2^−126 (the SIMD
  /// clamp) or their true, smaller value — not NaN or a negative value — and the largest
  /// weight stays 1.
  @Test(arguments: backends.map(\.name)) func farBelowTheMaximumIsNearlyZero(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    var x: [Float] = [0, -200, -3000]
    var sums: [Float] = [0]
    x.withUnsafeMutableBufferPointer { buffer in
      sums.withUnsafeMutableBufferPointer { backend.exponentiateRows(rows: 1, columns: 3, buffer.baseAddress!, ld: 3, inverseSums: $0.baseAddress!) }
    }
    #expect(x[0] == 1 && (0...Float.leastNormalMagnitude).contains(x[1]) && (0...Float.leastNormalMagnitude).contains(x[2]), "\(x) on \(name)")
    #expect(abs(sums[0] - 1) <= 1e-7)
  }

  /// residual ← LayerNorm(x + b + residual)·γ + β against Double, on rows of 391 (a
  /// 7-column tail) with an offset of 3 so that the mean matters. Errors: the row's sum in
  /// 16 Float partial sums of ≤ 25 terms (≤ 28ε·Σ|v|, ε = 6e-8) moves μ, hence every output,
  /// by ≤ 28ε·mean|v|/σ ≈ 7e-6 here (mean|v| ≈ 3.5σ); the variance's like error moves
  /// y by ≤ 14ε·|y|, and the last four roundings by 4ε·|y| (|y| ≤ 6): 1.5e-5 bounds them.
  /// The mean taken on the fly (`add` returns the row's sum) must give the two-pass result.
  @Test(arguments: backends.map(\.name)) func addBiasResidualLayerNormMatchesDouble(backend name: String) throws {
    let backend = try #require(Self.backends.first { $0.name == name })
    let rows = 3, columns = 391, ld = 400
    var generator = SeededGenerator(seed: 7)
    func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
    let x = (0..<(rows * ld)).map { _ in Float(uniform() * 2 - 1) + 3 }
    let bias = (0..<columns).map { _ in Float(uniform() - 0.5) }
    var residual = (0..<(rows * columns)).map { _ in Float(uniform() * 2 - 1) }
    let gamma = (0..<columns).map { _ in Float(uniform() + 0.5) }
    let beta = (0..<columns).map { _ in Float(uniform() - 0.5) }
    let epsilon: Float = 1e-12
    var expected = [Double](repeating: 0, count: rows * columns)
    for row in 0..<rows {
      let v = (0..<columns).map { Double(x[row * ld + $0]) + Double(bias[$0]) + Double(residual[row * columns + $0]) }
      let mean = v.reduce(0, +) / Double(columns)
      let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)
      for j in 0..<columns {
        expected[row * columns + j] = (v[j] - mean) / (variance + Double(epsilon)).squareRoot() * Double(gamma[j]) + Double(beta[j])
      }
    }
    x.withUnsafeBufferPointer { xs in
      residual.withUnsafeMutableBufferPointer { out in
        backend.addBiasResidualLayerNorm(
          rows: rows, columns: columns, xs.baseAddress!, ld: ld, bias: bias, residual: out.baseAddress!, gamma: gamma, beta: beta,
          epsilon: epsilon)
      }
    }
    let worst = zip(residual, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
    #expect(worst <= 1.5e-5, "worst absolute error \(worst) on \(name)")
  }
}
