import ArrowheadCore
import Testing

extension BackendConformance {
  /// Row widths: every tail of a 16-lane body, MiniLM's 384 and 1 536, and odd sizes.
  static let transformerWidths = [1, 3, 15, 16, 17, 33, 100, 384, 391, 1536]

  /// addBias and scaleRows are one rounding per element in every implementation: bit for
  /// bit the reference. addBiasGELU: the family's GELU is the erf form; a kernel may
  /// approximate Φ, within |error| ≤ 3e-7·max(1, |v|) (the SIMD kernel's rational Φ errs by
  /// ≤ 2.4e-7·max(1, |v|) in Float, see Backends/SIMD/Transformer.swift), plus the
  /// reference's own rounding (u·|GELU(v)| ≤ u·|v|). Nothing past a row's width (inside
  /// `ld`) is written.
  public static func transformerElementwiseKernelsAgreeWithTheReference(_ kernel: any Backend) throws {
    let name = kernel.name
    var generator = SeededGenerator(seed: 2_024)
    for columns in transformerWidths {
      let rows = 3, ld = columns + 5
      var x = generator.floats(rows * ld, in: -8..<8)
      for row in 0..<rows { for j in columns..<ld { x[row * ld + j] = .nan } }
      let bias = generator.floats(columns), scales = generator.floats(rows, in: 0.01..<3)
      for operation in ["addBias", "addBiasGELU", "scaleRows"] {
        func run(_ backend: any Backend) -> [Float] {
          withBuffers([x, bias, scales]) { p in
            switch operation {
            case "addBias": backend.addBias(rows: rows, columns: columns, p[0], ld: ld, bias: p[1])
            case "addBiasGELU": backend.addBiasGELU(rows: rows, columns: columns, p[0], ld: ld, bias: p[1])
            default: backend.scaleRows(rows: rows, columns: columns, p[0], ld: ld, scales: p[2])
            }
          }[0]
        }
        let got = run(kernel), expected = run(reference)
        for row in 0..<rows {
          for j in 0..<columns {
            let at = row * ld + j
            if operation == "addBiasGELU" {
              let v = Double(x[at] + bias[j])
              let bound = 3e-7 * max(1, abs(v)) + unitRoundoff * abs(v)
              #expect(abs(Double(got[at]) - Double(expected[at])) <= bound, "\(operation) width \(columns) (\(row), \(j)) on \(name)")
            } else {
              #expect(got[at] == expected[at], "\(operation) width \(columns) (\(row), \(j)) on \(name): \(got[at]) vs \(expected[at])")
            }
          }
          #expect((columns..<ld).allSatisfy { got[row * ld + $0].isNaN }, "\(operation) wrote past the row (width \(columns)) on \(name)")
        }
      }
    }
  }

  /// exponentiateRows against the reference (2^(x − max) in Double). Per weight: the
  /// kernel rounds d = x − max (half an ulp of d, which moves 2^d by ln2·ulp(d)/2 relatively),
  /// may approximate 2^d within 2.5e-7 relatively (the SIMD degree-5 fit: ≤ 1.9e-7), and the
  /// reference rounds once (u); a weight the reference puts below 2^−126 may come out as any
  /// value in [0, 2^−126] (the SIMD kernel clamps there). The inverse sum adds the sum's
  /// rounding, ≤ γ(n/16 + 4) for 16 partial sums folded, and the reciprocal's (u).
  public static func exponentiatedRowsAgreeWithTheReference(_ kernel: any Backend) throws {
    let name = kernel.name
    var generator = SeededGenerator(seed: 2_025)
    for columns in transformerWidths {
      let rows = 4, ld = columns + 3
      var x = generator.floats(rows * ld, in: -40..<20)
      if columns > 2 { x[ld + 1] = x[ld] - 300 }  // one weight far below the row's maximum
      let sums = [Float](repeating: -1, count: rows)
      func run(_ backend: any Backend) -> [[Float]] {
        withBuffers([x, sums]) { p in backend.exponentiateRows(rows: rows, columns: columns, p[0], ld: ld, inverseSums: p[1]) }
      }
      let got = run(kernel), expected = run(reference)
      for row in 0..<rows {
        let maximum = (0..<columns).map { x[row * ld + $0] }.max()!
        var worst = 0.0
        for j in 0..<columns {
          let at = row * ld + j
          let d = x[at] - maximum
          let want = Double(expected[0][at]), value = Double(got[0][at])
          if want < Double(Float.leastNormalMagnitude) {
            #expect((0...Double(Float.leastNormalMagnitude)).contains(value), "exponentiateRows width \(columns) (\(row), \(j)) on \(name): \(value)")
            continue
          }
          let relative = 0.5 * Double(d.ulp) * 0.693_147_2 * 1.01 + 2.5e-7 + unitRoundoff
          worst = max(worst, relative)
          #expect(abs(value - want) <= relative * want, "exponentiateRows width \(columns) (\(row), \(j)) on \(name): \(value) vs \(want)")
        }
        let sumBound = worst + gamma(columns / 16 + 4) + unitRoundoff
        let want = Double(expected[1][row])
        #expect(abs(Double(got[1][row]) - want) <= sumBound * want, "inverse sum width \(columns) row \(row) on \(name): \(got[1][row]) vs \(want)")
      }
    }
  }

  /// addBiasResidualLayerNorm and addLayerNorm against the reference (moments in Double).
  /// The row v = fl(fl(x + b) + r) is the same in both. Error of a Float kernel: its sum of
  /// n values (16 partial sums folded: ≤ γ(n/16 + 4)·Σ|v|) moves μ, hence every output, by
  /// that/n·|γ|/σ; the variance's like error moves y by ≤ γ(n/16 + 6)·|y|; the last roundings
  /// (difference, two products, sum) add 4u·(|y| + |β|). Bounded with a factor 2 margin.
  public static func layerNormsAgreeWithTheReference(_ kernel: any Backend) throws {
    let name = kernel.name
    var generator = SeededGenerator(seed: 2_026)
    for columns in transformerWidths where columns > 1 {
      let rows = 3, ld = columns + 7
      let x = generator.floats(rows * ld).map { $0 + 3 }, bias = generator.floats(columns, in: -0.5..<0.5)
      let residual = generator.floats(rows * columns), scales = generator.floats(columns, in: 0.5..<1.5)
      let beta = generator.floats(columns, in: -0.5..<0.5)
      let epsilon: Float = 1e-12
      func run(_ backend: any Backend) -> (residual: [Float], embedded: [Float]) {
        let withResidual = withBuffers([x, bias, residual, scales, beta]) { p in
          backend.addBiasResidualLayerNorm(
            rows: rows, columns: columns, p[0], ld: ld, bias: p[1], residual: p[2], gamma: p[3], beta: p[4], epsilon: epsilon)
        }[2]
        // addLayerNorm on row 0: a = x, b = bias, c = residual (the same v).
        let embedded = withBuffers([x, bias, residual, scales, beta, [Float](repeating: .nan, count: columns + 1)]) { p in
          backend.addLayerNorm(columns: columns, p[0], p[1], p[2], gamma: p[3], beta: p[4], epsilon: epsilon, p[5])
        }[5]
        return (withResidual, embedded)
      }
      let got = run(kernel), expected = run(reference)
      for row in 0..<rows {
        let v = (0..<columns).map { Double((x[row * ld + $0] + bias[$0]) + residual[row * columns + $0]) }
        let mean = v.reduce(0, +) / Double(columns)
        let sigma = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)).squareRoot()
        let meanMagnitude = v.map(abs).reduce(0, +) / Double(columns)
        for j in 0..<columns {
          let want = Double(expected.residual[row * columns + j])
          let y = abs(want - Double(beta[j])) / Double(scales[j])
          let bound = 2 * (gamma(columns / 16 + 4) * meanMagnitude / sigma * Double(scales[j])
            + gamma(columns / 16 + 6) * y * Double(scales[j]) + 4 * unitRoundoff * (abs(want) + abs(Double(beta[j]))))
          #expect(abs(Double(got.residual[row * columns + j]) - want) <= bound,
                  "addBiasResidualLayerNorm width \(columns) (\(row), \(j)) on \(name): \(got.residual[row * columns + j]) vs \(want)")
          if row == 0 {
            #expect(abs(Double(got.embedded[j]) - Double(expected.embedded[j])) <= bound,
                    "addLayerNorm width \(columns) column \(j) on \(name): \(got.embedded[j]) vs \(expected.embedded[j])")
          }
        }
      }
      #expect(got.embedded[columns].isNaN, "addLayerNorm wrote past its row on \(name)")
    }
  }
}
