import ArrowheadCore
import Testing

/// One quantized-matmul test problem: x is m × k (leading dimension k + padding), Ŵ is
/// n × k with groups of `groupSize` (the last group of a row shorter when it does not divide
/// k), y is m × n (leading dimension n + padding).
struct QuantizedMatmulCase: CustomStringConvertible {
  var m: Int, n: Int, k: Int, groupSize: Int, bits: Int, form: AffineForm
  var padding: Int, bias: Bool, threads: Int

  var description: String {
    "m=\(m) n=\(n) k=\(k) G=\(groupSize) int\(bits) \(form) pad=\(padding) bias=\(bias) threads=\(threads)"
  }
}

/// Odd shapes around the panel (16 rows), the column block (8), group tails (G ∤ k), every
/// container (2/3/4-bit codes in nibbles, 8-bit in bytes), per-channel groups, gemv (m = 1)
/// and tile (m > 1) paths, and two products big enough to run on two threads.
let quantizedMatmulCases: [QuantizedMatmulCase] = {
  let shapes: [(m: Int, n: Int, k: Int, g: Int, bits: Int)] = [
    (1, 1, 1, 1, 4), (1, 17, 37, 16, 4), (1, 33, 100, 32, 8), (1, 16, 64, 64, 2), (1, 70, 130, 64, 3),
    (1, 5, 8, 8, 8), (2, 15, 9, 8, 8), (3, 16, 63, 48, 4), (5, 33, 65, 64, 8), (7, 17, 200, 100, 4),
    (13, 40, 130, 130, 8), (6, 50, 64, 8, 4), (4, 31, 24, 24, 2), (9, 18, 72, 40, 8),
    (64, 130, 200, 64, 4), (64, 130, 200, 200, 8), (1, 520, 2100, 64, 4),
    // 5–7-bit codes in 8-bit containers: the AVX2 path multiplies them without its 8-bit sign step.
    (1, 21, 70, 32, 7), (5, 33, 96, 32, 7), (3, 18, 40, 40, 5), (8, 40, 128, 64, 6),
  ]
  return shapes.enumerated().map { index, shape in
    QuantizedMatmulCase(
      m: shape.m, n: shape.n, k: shape.k, groupSize: shape.g, bits: shape.bits,
      form: index % 2 == 0 ? .floatMinimum : .zeroPoint, padding: [0, 3, 1][index % 3], bias: index % 3 != 1,
      threads: shape.m * shape.n * shape.k >= 1 << 20 ? 2 : 1)
  }
}()

/// A random quantized matrix for `problem`: codes uniform in 0…2ᵇ − 1, scales in
/// [0.001, 0.05), float minima in [−1, 0), integral zero-points (2ᵇ⁻¹ every third group: the
/// symmetric case).
func randomQuantizedMatrix(_ problem: QuantizedMatmulCase, generator: inout SeededGenerator) throws -> QuantizedMatrix {
  let layout = try QuantizedMatrixLayout(rows: problem.n, columns: problem.k, bits: problem.bits, groupSize: problem.groupSize, form: problem.form)
  let maxCode = (1 << problem.bits) - 1
  let codes = (0..<(problem.n * problem.k)).map { _ in UInt8.random(in: 0...UInt8(maxCode), using: &generator) }
  let groups = problem.n * layout.groupsPerRow
  let scales = generator.floats(groups, in: 0.001..<0.05)
  let offsets: [Float] = (0..<groups).map { index in
    if problem.form == .floatMinimum { return Float.random(in: -1..<0, using: &generator) }
    return index % 3 == 0 ? Float(1 << (problem.bits - 1)) : Float(Int.random(in: 0...maxCode, using: &generator))
  }
  return try QuantizedMatrix(layout: layout, codes: codes, scales: scales, offsets: offsets)
}

/// Runs a quantized-matmul kernel of `backend` on `problem` and returns y (with its padding).
func runQuantizedMatmul(
  _ backend: any Backend, _ mode: QuantizedMatmulMode, _ problem: QuantizedMatmulCase, _ weights: QuantizedMatrix,
  x: [Float], bias: [Float], fill: Float = 7
) -> [Float] {
  let ldx = problem.k + problem.padding, ldy = problem.n + problem.padding
  var y = [Float](repeating: fill, count: max(1, problem.m * ldy))
  x.withUnsafeBufferPointer { xb in
    bias.withUnsafeBufferPointer { bb in
      y.withUnsafeMutableBufferPointer { yb in
        weights.withOperand { operand in
          let biasBase = problem.bias ? bb.baseAddress : nil
          switch mode {
          case .weightOnly:
            backend.quantizedMatmulWeightOnly(
              rows: problem.m, xb.baseAddress!, ldx: ldx, operand, bias: biasBase, yb.baseAddress!, ldy: ldy, threads: problem.threads)
          case .int8:
            backend.quantizedMatmulInt8(
              rows: problem.m, xb.baseAddress!, ldx: ldx, operand, bias: biasBase, yb.baseAddress!, ldy: ldy, threads: problem.threads)
          case .int16:
            backend.quantizedMatmulInt16(
              rows: problem.m, xb.baseAddress!, ldx: ldx, operand, bias: biasBase, yb.baseAddress!, ldy: ldy, threads: problem.threads)
          }
        }
      }
    }
  }
  return y
}

extension BackendConformance {
  /// Weight-only products against dequantize-then-multiply (the reference: each ŵ as the
  /// quantizer's `dequantize` computes it, products summed in Double).
  ///
  /// Bound: a kernel may sum per group (s·Σq·x + m·Σx, or s·(Σq·x − z·Σx)) or dequantize
  /// first; either way every term it rounds is bounded by |s|·q + |m| (float minimum) or
  /// |s|·(q + |z|) (zero-point) times |x|, and each output passes through at most k + groups
  /// + 4 roundings (the group sums, the rescale, the sum over groups, the bias), so
  /// |ŷ − y| ≤ γ_{k+groups+4}·(Σⱼ magⱼ·|xⱼ| + |b|), plus u·|y| for the reference's own rounding.
  /// Nothing outside y's m × n block (the padding) may be written.
  public static func weightOnlyQuantizedMatmulAgreesWithDequantizeThenMultiply(_ kernel: any Backend) throws {
    try checkQuantizedMatmul(kernel, mode: .weightOnly)
  }

  /// Int8-activation products against the reference, which quantizes x by the
  /// `ActivationQuantization` rule and multiplies Ŵ by x̂ = t·a in Double: the same bound as
  /// weight-only with |x| replaced by |t·a| (+ 2 roundings for the scale t), so a kernel must
  /// use exactly the rule's codes. And against Ŵ·x itself: each |xⱼ − t·aⱼ| ≤ t/2 (round to
  /// nearest) + 127·t·3u (r = 127/max, x·r and t = max/127 each rounded once), so
  /// |ŷ − Ŵx| ≤ Σⱼ |ŵⱼ|·t_g·(½ + 381u) + the float bound.
  public static func int8QuantizedMatmulIsTheProductWithTheRoundedActivations(_ kernel: any Backend) throws {
    try checkQuantizedMatmul(kernel, mode: .int8)
  }

  /// Two-digit (int16) activations against the reference, which multiplies Ŵ by
  /// x̂ = t·a + (t/254)·b (`ActivationQuantization.quantizeGroupTwoDigits`) in Double. Float
  /// bound: as int8 with |x| replaced by |t·a| + |(t/254)·b| (what a kernel sums, whether it
  /// combines the digits per group or runs two int8 products and adds them) and 6 more
  /// roundings per output (the digit combination, the sum Σa + Σb/254, the final addition).
  /// Against Ŵ·x: with v = x·r, |v − a − b/254| ≤ 1/508 + u/2 ((v − a) is exact, ·254 rounds
  /// once, b is the nearest integer), x differs from t·v by 381u·t as for int8, and t/254 is
  /// rounded once (u·t/2 on |b| ≤ 127), so |xⱼ − x̂ⱼ| ≤ t·(1/508 + 382u) and
  /// |ŷ − Ŵx| ≤ Σⱼ |ŵⱼ|·t_g·(1/508 + 382u) + the float bound: 254 times tighter than int8.
  public static func int16QuantizedMatmulIsTheProductWithTwoDigitActivations(_ kernel: any Backend) throws {
    try checkQuantizedMatmul(kernel, mode: .int16)
  }

  /// Activations as large as 3·10³⁶ (column 5 of every group, signs alternating; the rest
  /// in [−2, 2)): every product and sum the reference forms stays finite, so the kernels'
  /// must too — e.g. a 4-bit kernel that sums a high nibble's column as 16·q·x (which
  /// overflows from |x| > 2¹²⁸/240) must not return ±∞ there. The bounds of the three modes
  /// above apply.
  public static func hugeFiniteActivationsGiveFiniteProducts(_ kernel: any Backend) throws {
    for mode in QuantizedMatmulMode.allCases {
      try checkQuantizedMatmul(kernel, mode: mode, huge: 3e36)
    }
  }

  static func checkQuantizedMatmul(_ kernel: any Backend, mode: QuantizedMatmulMode, huge: Float? = nil) throws {
    for (index, problem) in quantizedMatmulCases.enumerated() {
      var generator = SeededGenerator(seed: UInt64(index) &+ 1700)
      let weights = try randomQuantizedMatrix(problem, generator: &generator)
      let ldx = problem.k + problem.padding, ldy = problem.n + problem.padding
      var x = generator.floats(problem.m * ldx, in: -2..<2)
      if let huge {
        for i in 0..<problem.m {
          for start in stride(from: 0, to: problem.k, by: problem.groupSize) where start + 5 < min(problem.k, start + problem.groupSize) {
            x[i * ldx + start + 5] = (start / problem.groupSize + i) % 2 == 0 ? huge : -huge
          }
        }
      }
      let bias = generator.floats(problem.n)
      let got = runQuantizedMatmul(kernel, mode, problem, weights, x: x, bias: bias)
      let expected = runQuantizedMatmul(reference, mode, problem, weights, x: x, bias: bias)
      let layout = weights.layout
      // The activations the product is with (int16: the magnitudes |t·a| + |(t/254)·b| the
      // kernel sums), and each group's scale t.
      var activations = x.map(Double.init), scales = [Double](repeating: 0, count: problem.m * layout.groupsPerRow)
      if mode == .int16 {
        var high = [Int8](repeating: 0, count: max(1, problem.k)), low = high
        for i in 0..<problem.m {
          for g in 0..<layout.groupsPerRow {
            let start = g * layout.groupSize, length = layout.groupLength(g)
            let digits = x.withUnsafeBufferPointer { xb in
              high.withUnsafeMutableBufferPointer { hb in
                low.withUnsafeMutableBufferPointer { lb in
                  ActivationQuantization.quantizeGroupTwoDigits(
                    xb.baseAddress! + i * ldx + start, length: length, high: hb.baseAddress! + start, low: lb.baseAddress! + start)
                }
              }
            }
            scales[i * layout.groupsPerRow + g] = Double(digits.scale)
            for j in start..<start + length {
              activations[i * ldx + j] = abs(Double(digits.scale) * Double(high[j])) + abs(Double(digits.lowScale) * Double(low[j]))
            }
          }
        }
      }
      if mode == .int8 {
        var codes = [Int8](repeating: 0, count: max(1, problem.k))
        for i in 0..<problem.m {
          for g in 0..<layout.groupsPerRow {
            let start = g * layout.groupSize, length = layout.groupLength(g)
            let t = x.withUnsafeBufferPointer { xb in
              codes.withUnsafeMutableBufferPointer { cb in
                ActivationQuantization.quantizeGroup(xb.baseAddress! + i * ldx + start, length: length, into: cb.baseAddress! + start).scale
              }
            }
            scales[i * layout.groupsPerRow + g] = Double(t)
            for j in start..<start + length { activations[i * ldx + j] = Double(t) * Double(codes[j]) }
          }
        }
      }
      let roundings = gamma(problem.k + layout.groupsPerRow + [QuantizedMatmulMode.weightOnly: 4, .int8: 6, .int16: 12][mode, default: 12])
      for n in 0..<problem.n {
        // magⱼ and |ŵⱼ| of row n.
        var magnitudes = [Double](repeating: 0, count: problem.k), weightsRow = [Double](repeating: 0, count: problem.k)
        for j in 0..<problem.k {
          let group = j / layout.groupSize, at = layout.parameterIndex(row: n, group: group)
          let q = Double(weights.code(row: n, column: j)), s = abs(Double(weights.scales[at])), o = abs(Double(weights.offsets[at]))
          magnitudes[j] = layout.form == .floatMinimum ? s * q + o : s * (q + o)
          weightsRow[j] = abs(Double(weights.weight(row: n, column: j)))
        }
        for i in 0..<problem.m {
          var scale = problem.bias ? abs(Double(bias[n])) : 0, rounding = 0.0, exact = 0.0
          for j in 0..<problem.k {
            scale += magnitudes[j] * abs(activations[i * ldx + j])
            if mode != .weightOnly {
              let t = scales[i * layout.groupsPerRow + j / layout.groupSize]
              rounding += weightsRow[j] * t * (mode == .int8 ? 0.5 + 381 * unitRoundoff : 1.0 / 508 + 382 * unitRoundoff)
            }
            exact += Double(weights.weight(row: n, column: j)) * Double(x[i * ldx + j])
          }
          if problem.bias { exact += Double(bias[n]) }
          let g = Double(got[i * ldy + n]), e = Double(expected[i * ldy + n])
          let bound = roundings * scale + unitRoundoff * abs(e)
          #expect(abs(g - e) <= bound, "\(mode) \(problem) y[\(i), \(n)] = \(g), reference \(e), bound \(bound) on \(kernel.name)")
          if mode != .weightOnly {
            #expect(abs(g - exact) <= rounding + bound + roundings * scale, "\(mode) vs Ŵx \(problem) y[\(i), \(n)] on \(kernel.name)")
          }
        }
      }
      // The padding of y is never written.
      for i in 0..<problem.m {
        for j in problem.n..<ldy where i * ldy + j < got.count {
          #expect(got[i * ldy + j] == 7, "\(mode) \(problem) wrote y[\(i), \(j)] past the row on \(kernel.name)")
        }
      }
    }
  }

  /// Hand-computed products that every backend must return exactly: Ŵ = the identity (codes 1
  /// on the diagonal, s = 1, m = 0; zero-point form: z = 0), so y = x (weight-only) and
  /// y = t·a (int8) with t = 15.875/127 = 0.125 and x·r = x·8 exactly. The ties 0.5, 1.5,
  /// 2.5, −0.5, −1.5 round half to even (0, 2, 2, 0, −2); bias 1 is added exactly.
  public static func quantizedMatmulRoundsActivationTiesToEvenAndIsExactOnExactInputs(_ kernel: any Backend) throws {
    let x: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, 3, -127].map { $0 / 8 }
    let rounded: [Float] = [127, 0, 2, 2, 0, -2, 3, -127].map { $0 / 8 }
    for form in AffineForm.allCases {
      for bits in [4, 8] {
        let layout = try QuantizedMatrixLayout(rows: 8, columns: 8, bits: bits, groupSize: 8, form: form)
        let codes = (0..<64).map { UInt8($0 / 8 == $0 % 8 ? 1 : 0) }
        let weights = try QuantizedMatrix(
          layout: layout, codes: codes, scales: [Float](repeating: 1, count: 8), offsets: [Float](repeating: 0, count: 8))
        let problem = QuantizedMatmulCase(m: 1, n: 8, k: 8, groupSize: 8, bits: bits, form: form, padding: 0, bias: true, threads: 1)
        let ones = [Float](repeating: 1, count: 8)
        let plain = runQuantizedMatmul(kernel, .weightOnly, problem, weights, x: x, bias: ones)
        #expect(plain == x.map { $0 + 1 }, "weight-only identity int\(bits) \(form) on \(kernel.name): \(plain)")
        let quantized = runQuantizedMatmul(kernel, .int8, problem, weights, x: x, bias: ones)
        #expect(quantized == rounded.map { $0 + 1 }, "int8 identity int\(bits) \(form) on \(kernel.name): \(quantized)")
        // Two rows (the tile path) give the same.
        let twice = QuantizedMatmulCase(m: 2, n: 8, k: 8, groupSize: 8, bits: bits, form: form, padding: 0, bias: false, threads: 1)
        #expect(runQuantizedMatmul(kernel, .int8, twice, weights, x: x + x, bias: ones) == rounded + rounded, "int8 tile path on \(kernel.name)")
        #expect(runQuantizedMatmul(kernel, .weightOnly, twice, weights, x: x + x, bias: ones) == x + x, "weight-only tile path on \(kernel.name)")
      }
    }
    // Random x through the identity (64 × 64, groups of 16): every output is t·a rounded
    // once, so any code that differs from the rule's shows. 5 and 9 rows: 20 and 36
    // (row, group) pairs, more than one batch of the AVX-512 quantizer (16 pairs); 9 rows
    // include an all-zero group and a tiny one.
    var generator = SeededGenerator(seed: 1702)
    for rows in [1, 5, 9] {
      let layout = try QuantizedMatrixLayout(rows: 64, columns: 64, bits: 8, groupSize: 16, form: .zeroPoint)
      let identity = try QuantizedMatrix(
        layout: layout, codes: (0..<4096).map { UInt8($0 / 64 == $0 % 64 ? 1 : 0) },
        scales: [Float](repeating: 1, count: 256), offsets: [Float](repeating: 0, count: 256))
      let problem = QuantizedMatmulCase(m: rows, n: 64, k: 64, groupSize: 16, bits: 8, form: .zeroPoint, padding: 0, bias: false, threads: 1)
      var x = generator.floats(rows * 64, in: -3..<3)
      for i in stride(from: 0, to: x.count, by: 5) { x[i] = (x[i] * 64).rounded() / 128 }  // some exact halves
      if rows == 9 {
        for u in 0..<16 { x[2 * 64 + 16 + u] = 0; x[7 * 64 + 48 + u] = 1e-35 }
      }
      var expected = [Float](repeating: 0, count: rows * 64)
      var codes = [Int8](repeating: 0, count: 16)
      for i in 0..<rows {
        for g in 0..<4 {
          let t = x.withUnsafeBufferPointer { xb in
            codes.withUnsafeMutableBufferPointer { ActivationQuantization.quantizeGroup(xb.baseAddress! + i * 64 + 16 * g, length: 16, into: $0.baseAddress!).scale }
          }
          for u in 0..<16 { expected[i * 64 + 16 * g + u] = t * Float(codes[u]) }
        }
      }
      let got = runQuantizedMatmul(kernel, .int8, problem, identity, x: x, bias: [])
      #expect(got == expected, "int8 codes differ from the ActivationQuantization rule (rows \(rows)) on \(kernel.name)")
    }
  }

  /// The largest codes times the largest activations: every code 2ᵇ − 1 (s = 1, m = 0, so
  /// ŵ = q) and x = ±1 per row (row i negative when i is odd), so each group quantizes to
  /// a = ±127 with t = 1/127 rounded once, and every integer sum a kernel forms is as large as
  /// the format allows (Σ q·a = 64·255·127 per 8-bit group of 64). Kernels that keep partial
  /// sums in narrow integers (the AVX2 int8 kernels' 16-bit pairs: ≤ 2·15·127 per 4-bit pair,
  /// 8 quads of them summed before widening) must not wrap or saturate: weight-only and int8
  /// results are ±k·q exactly before the scale t, so y must be Σ_g t·(±G_g·q·127) within
  /// (groups + 3)·u relative, and weight-only exactly ±k·q. Shapes: 1 and 5 rows (gemv and
  /// tile paths, a 3-row block and a 2-row one), 19 rows of Ŵ (a panel tail), k = 256 in
  /// groups of 64 and 256, k = 200 in groups of 64 (a tail group of 8).
  public static func largestCodesAndActivationsGiveExactSums(_ kernel: any Backend) throws {
    for bits in [2, 3, 4, 7, 8] {
      let q = Float((1 << bits) - 1)
      for (k, groupSize) in [(256, 64), (256, 256), (200, 64)] {
        for m in [1, 5] {
          let n = 19
          let layout = try QuantizedMatrixLayout(rows: n, columns: k, bits: bits, groupSize: groupSize, form: .floatMinimum)
          let groups = n * layout.groupsPerRow
          let weights = try QuantizedMatrix(
            layout: layout, codes: [UInt8](repeating: UInt8(q), count: n * k),
            scales: [Float](repeating: 1, count: groups), offsets: [Float](repeating: 0, count: groups))
          let problem = QuantizedMatmulCase(m: m, n: n, k: k, groupSize: groupSize, bits: bits, form: .floatMinimum, padding: 0, bias: false, threads: 1)
          let x = (0..<(m * k)).map { ($0 / k) % 2 == 0 ? Float(1) : -1 }
          let t = Double(Float(1) / 127)
          for mode in QuantizedMatmulMode.allCases {
            let got = runQuantizedMatmul(kernel, mode, problem, weights, x: x, bias: [])
            for i in 0..<m {
              let sign: Double = i % 2 == 0 ? 1 : -1
              var expected = 0.0
              for start in stride(from: 0, to: k, by: groupSize) {
                let length = Double(min(groupSize, k - start))
                expected += mode == .weightOnly ? sign * length * Double(q) : t * sign * length * Double(q) * 127
              }
              let tolerance = mode == .weightOnly ? 0 : Double(layout.groupsPerRow + 3) * 0x1p-24 * abs(expected)
              for j in 0..<n {
                #expect(
                  abs(Double(got[i * n + j]) - expected) <= tolerance,
                  "\(mode) int\(bits) k=\(k) G=\(groupSize) m=\(m): y[\(i)][\(j)] = \(got[i * n + j]), expected \(expected) on \(kernel.name)")
              }
            }
          }
        }
      }
    }
  }

  /// NaN or ±∞ in a row of x makes that row's outputs non-finite (NaN with int8 and int16:
  /// the group's scale is NaN), never a trap or a hang, and leaves the other rows exact to the bound.
  public static func nonFiniteActivationsPropagateToTheirRowOnly(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1701)
    for rows in [1, 3, 7] {
      for bad in [Float.nan, .infinity, -.infinity] {
        let problem = QuantizedMatmulCase(m: rows, n: 20, k: 70, groupSize: 32, bits: 4, form: .floatMinimum, padding: 0, bias: true, threads: 1)
        let weights = try randomQuantizedMatrix(problem, generator: &generator)
        var x = generator.floats(rows * 70)
        let badRow = rows / 2
        x[badRow * 70 + 40] = bad
        let bias = generator.floats(20)
        for mode in QuantizedMatmulMode.allCases {
          let got = runQuantizedMatmul(kernel, mode, problem, weights, x: x, bias: bias)
          let expected = runQuantizedMatmul(reference, mode, problem, weights, x: x, bias: bias)
          for i in 0..<rows {
            for n in 0..<20 {
              let value = got[i * 20 + n]
              if i == badRow {
                #expect(!value.isFinite, "\(mode) row \(i) holding \(bad): y[\(n)] = \(value) on \(kernel.name)")
                if mode != .weightOnly { #expect(value.isNaN, "\(mode) row holding \(bad) must give NaN on \(kernel.name)") }
              } else {
                #expect(abs(value - expected[i * 20 + n]) <= 1e-4 * (1 + abs(expected[i * 20 + n])), "\(mode) clean row \(i) on \(kernel.name)")
              }
            }
          }
        }
      }
    }
  }
}
