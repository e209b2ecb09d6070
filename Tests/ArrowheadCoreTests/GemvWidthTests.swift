import Arrowhead
@testable import ArrowheadSIMDx86v4
import Testing

/// The AVX-512 variant runs its A·x kernel on 512- or 256-bit vectors, picked by CPU
/// (`wideVectorsAreSplit`: 256-bit on Zen 4), so the conformance suite, which goes through
/// the dispatcher, reaches only one of them on any machine. These tests call both widths
/// directly, on rows of whole vectors and rows that end in a partial vector (the two
/// compilations of `normalPasses`), including rows shorter than a vector at the end of A
/// (loaded lane by lane) and a strided y (`incy`, the small gemm's column writes).
@Suite("AVX-512 A·x kernel, both vector widths")
struct GemvWidthTests {
  static let avx512Runnable = BackendRegistry.builtIn.runnable().contains { $0.name == "simd-x86-64-v4" }

  /// rows × columns: whole vectors of 8 and 16, partial last vectors, fewer columns than a
  /// vector, 1–4 leftover rows, 5–7 rows of an eight-row pass.
  static let shapes: [(rows: Int, columns: Int)] = [
    (1, 1), (3, 5), (7, 8), (8, 16), (9, 17), (13, 45), (16, 64), (5, 100), (33, 7), (6, 15), (21, 33), (64, 256),
  ]

  struct Problem {
    let rows: Int, columns: Int, lda: Int, incy: Int
    var a: [Float], x: [Float], y: [Float]

    init(rows: Int, columns: Int, incy: Int, seed: UInt64) {
      self.rows = rows
      self.columns = columns
      self.incy = incy
      // A ends exactly at its last row's last element, so a whole-vector load past a short
      // row would leave the array (the kernel must load such rows lane by lane).
      lda = columns + 3
      var state = seed
      func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 997
      }
      a = (0..<((rows - 1) * lda + columns)).map { _ in next() }
      x = (0..<columns).map { _ in next() }
      y = (0..<((rows - 1) * incy + 1)).map { _ in next() }
    }

    /// y ← α·A·x + β·y by the kernel on vectors `V`, on a copy of y.
    func run<V: GemvAccumulator>(_: V.Type, alpha: Float, beta: Float) -> [Float] {
      var out = y
      a.withUnsafeBufferPointer { a in
        x.withUnsafeBufferPointer { x in
          out.withUnsafeMutableBufferPointer { y in
            SIMDGemv.normalRows(
              rows: rows, columns: columns, alpha: alpha, a.baseAddress!, lda: lda, x.baseAddress!, beta: beta,
              y.baseAddress!, incy: incy, V.self)
          }
        }
      }
      return out
    }

    /// Checks `got` against the product in Double within the bound of a sum of
    /// columns + 2 rounded terms (γ·(|α|·Σ|a||x| + |β·y|)), and that the elements of y
    /// between the strided outputs were not written.
    func check(_ got: [Float], alpha: Float, beta: Float, _ label: String) {
      let u = Double(Float.ulpOfOne) / 2
      for index in got.indices where index % incy != 0 {
        #expect(got[index].bitPattern == y[index].bitPattern, "\(label): y[\(index)] between outputs was written")
      }
      for i in 0..<rows {
        var exact = 0.0, magnitude = 0.0
        for j in 0..<columns {
          let term = Double(a[i * lda + j]) * Double(x[j])
          exact += term
          magnitude += abs(term)
        }
        let old = Double(y[i * incy])
        let expected = Double(alpha) * exact + Double(beta) * old
        let gamma = Double(columns + 2) * u / (1 - Double(columns + 2) * u)
        let bound = gamma * (abs(Double(alpha)) * magnitude + abs(Double(beta) * old)) + u * abs(expected)
        #expect(abs(Double(got[i * incy]) - expected) <= bound, "\(label): y[\(i)] of \(rows)×\(columns)")
      }
    }
  }

  @Test(.enabled(if: avx512Runnable, "needs a CPU that runs the AVX-512 variant"), arguments: shapes)
  func bothWidthsAgreeWithTheProduct(shape: (rows: Int, columns: Int)) {
    for incy in [1, 3] {
      let problem = Problem(
        rows: shape.rows, columns: shape.columns, incy: incy, seed: UInt64(shape.rows * 131 + shape.columns * 7 + incy))
      for (alpha, beta): (Float, Float) in [(1, 0), (-0.5, 1.25)] {
        let label = "\(shape.rows)×\(shape.columns) incy \(incy) α \(alpha) β \(beta)"
        problem.check(problem.run(SIMD16<Float>.self, alpha: alpha, beta: beta), alpha: alpha, beta: beta, "512-bit \(label)")
        problem.check(problem.run(SIMD8<Float>.self, alpha: alpha, beta: beta), alpha: alpha, beta: beta, "256-bit \(label)")
      }
    }
  }

  /// A NaN or ±∞ in a lane outside a row's partial last vector never reaches the result:
  /// the masked lanes are zeroed in A's vector and in x's (0·∞ would be NaN).
  @Test(.enabled(if: avx512Runnable, "needs a CPU that runs the AVX-512 variant"))
  func lanesOutsideTheTailAreMaskedAtBothWidths() {
    // 3 rows of 5 columns (fewer than a vector), with non-finite values in the padding
    // between rows: a row's whole-vector load reads them (and the next row) while it stays
    // inside A.
    var problem = Problem(rows: 3, columns: 5, incy: 1, seed: 11)
    for row in 0..<2 {
      for pad in 0..<3 { problem.a[row * problem.lda + problem.columns + pad] = pad == 1 ? .nan : .infinity }
    }
    for width in [16, 8] {
      let got = width == 16
        ? problem.run(SIMD16<Float>.self, alpha: 1, beta: 0) : problem.run(SIMD8<Float>.self, alpha: 1, beta: 0)
      #expect(got.allSatisfy { $0.isFinite }, "\(width * 32)-bit: a non-finite padding value leaked: \(got)")
      problem.check(got, alpha: 1, beta: 0, "\(width * 32)-bit, non-finite padding")
    }
  }
}
