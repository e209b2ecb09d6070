import Arrowhead
import Foundation
import Testing

/// The checked `Engine` entry points of the transformer family, on the backend each engine
/// forces (the reference and the dispatched SIMD level), against Double.
@Suite struct TransformerEntryPointTests {
  static let engines: [String] = ["reference", "dispatched"]

  static func engine(_ name: String) throws -> Engine {
    name == "reference" ? try Engine(registry: .builtIn, forcing: "reference") : try Engine(registry: .builtIn)
  }

  /// GELU(x + b) with GELU(v) = v·(1 + erf(v/√2))/2: within 3e-7·max(1, |v|) plus an ulp
  /// (the SIMD kernel's rational Φ; the reference is exact up to its rounding).
  @Test(arguments: engines) func addBiasGELUIsTheErfForm(_ name: String) throws {
    let engine = try Self.engine(name)
    let values: [Float] = [-7, -3, -1, -0.5, 0, 0.25, 1, 2.5, 6, 40, -2, 0.75]
    var x = try Matrix(rows: 3, columns: 4, elements: values)
    let bias: [Float] = [0.5, -0.25, 0, 1]
    try engine.addBiasGELU(&x, bias: bias)
    for (index, value) in values.enumerated() {
      let v = Double(value + bias[index % 4])
      let exact = v * 0.5 * (1 + erf(v / 2.0.squareRoot()))
      #expect(abs(Double(x.elements[index]) - exact) <= 3e-7 * max(1, abs(v)) + 1.2e-7 * abs(v), "\(name) v=\(v)")
    }
    #expect(throws: ArrowheadError.self) { try engine.addBiasGELU(&x, bias: [1, 2, 3]) }
  }

  /// Each row of the result has mean β-weighted as given and unit variance before γ: with
  /// γ = 1, β = 0 every row has mean 0 and variance 1 (to 1e-6), and the values are
  /// (v − μ)/σ against Double.
  @Test(arguments: engines) func layerNormNormalisesEachRow(_ name: String) throws {
    let engine = try Self.engine(name)
    let columns = 37
    var generator = SeededGenerator(seed: 99)
    let values = generator.floats(2 * columns, in: -3..<5)
    var x = try Matrix(rows: 2, columns: columns, elements: values)
    try engine.layerNorm(&x, gamma: [Float](repeating: 1, count: columns), beta: [Float](repeating: 0, count: columns), epsilon: 0)
    for row in 0..<2 {
      let v = (0..<columns).map { Double(values[row * columns + $0]) }
      let mean = v.reduce(0, +) / Double(columns)
      let sigma = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)).squareRoot()
      for j in 0..<columns {
        #expect(abs(Double(x[row, j]) - (v[j] - mean) / sigma) <= 2e-6, "\(name) (\(row), \(j))")
      }
    }
    #expect(throws: ArrowheadError.self) { try engine.layerNorm(&x, gamma: [1], beta: [Float](repeating: 0, count: columns)) }
    #expect(throws: ArrowheadError.self) {
      try engine.layerNorm(&x, gamma: [Float](repeating: 1, count: columns), beta: [Float](repeating: 0, count: columns), epsilon: .nan)
    }
  }

  /// softmax(x)ⱼ = e^(xⱼ − max)/Σ against Double: relative error ≤ 2e-6 (the log₂e product's
  /// rounding, ≤ 6e-8·|x − max| ≤ 1.2e-6 here, plus the kernel's ≤ 6e-7), rows sum to 1.
  @Test(arguments: engines) func softmaxRowsIsTheSoftmax(_ name: String) throws {
    let engine = try Self.engine(name)
    let values: [Float] = [1, 2, 3, 4, -1, 0, 10, 0.5, 7, 7, 7, 7]
    var x = try Matrix(rows: 3, columns: 4, elements: values)
    try engine.softmaxRows(&x)
    for row in 0..<3 {
      let v = (0..<4).map { Double(values[row * 4 + $0]) }
      let top = v.max()!
      let total = v.map { exp($0 - top) }.reduce(0, +)
      for j in 0..<4 {
        let exact = exp(v[j] - top) / total
        #expect(abs(Double(x[row, j]) - exact) <= 2e-6 * exact, "\(name) (\(row), \(j))")
      }
    }
    #expect(x[2, 0] == x[2, 3])
  }
}
