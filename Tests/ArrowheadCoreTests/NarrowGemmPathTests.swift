import Arrowhead
@testable import ArrowheadSIMDx86v4
import Testing

/// The AVX-512 variant has two kernels for products of n ≤ 8 columns and picks one by CPU
/// (`wideVectorsAreSplit`: 256-bit kernels on Zen 4, 512-bit depth pairs elsewhere), so the
/// conformance suite, which goes through the dispatcher, only reaches one of them on any
/// machine. These tests call both directly.
@Suite("AVX-512 narrow gemm kernels, both widths")
struct NarrowGemmPathTests {
  static let avx512Runnable = BackendRegistry.builtIn.runnable().contains { $0.name == "simd-x86-64-v4" }

  /// m ≥ 16 (the pair kernels' condition), odd and even depth, n = 1…8, padded leading
  /// dimensions.
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (16, 1, 2), (16, 2, 9), (17, 3, 12), (24, 4, 64), (33, 4, 7), (20, 5, 31), (64, 6, 64), (19, 7, 3), (64, 8, 64),
    (23, 8, 1),
  ]

  struct Product {
    var a: [Float], b: [Float], c: [Float]
    let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int

    init(m: Int, n: Int, k: Int, seed: UInt64) {
      self.m = m
      self.n = n
      self.k = k
      lda = k + 1
      ldb = n + 3
      ldc = n + 2
      var state = seed
      func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 997
      }
      a = (0..<(m * lda)).map { _ in next() }
      b = (0..<(k * ldb)).map { _ in next() }
      c = (0..<(m * ldc)).map { _ in next() }
    }

    /// Runs `kernel` on a copy of C: C ← α·A·B + β·C.
    func run(alpha: Float, beta: Float, _ kernel: (GemmOperands, Float, Float) -> Void) -> [Float] {
      var out = c
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          out.withUnsafeMutableBufferPointer { c in
            let operands: GemmOperands = (
              rows: m, columns: n, depth: k, a: a.baseAddress!, lda: lda, transposeA: false,
              b: b.baseAddress!, ldb: ldb, transposeB: false, c: c.baseAddress!, ldc: ldc)
            kernel(operands, alpha, beta)
          }
        }
      }
      return out
    }

    /// Checks `got` against the product in Double within the bound of a sum of k + 2
    /// rounded terms (γ_{k+2}·(|α|·Σ|a||b| + |β·c|)), and that padding was not written.
    func check(_ got: [Float], alpha: Float, beta: Float) {
      let u = Double(Float.ulpOfOne) / 2
      for i in 0..<m {
        for j in 0..<ldc {
          let index = i * ldc + j
          if j >= n {
            #expect(got[index].bitPattern == c[index].bitPattern, "padding of C at row \(i), column \(j)")
            continue
          }
          var exact = 0.0, magnitude = 0.0
          for p in 0..<k {
            let term = Double(a[i * lda + p]) * Double(b[p * ldb + j])
            exact += term
            magnitude += abs(term)
          }
          let expected = Double(alpha) * exact + Double(beta) * Double(c[index])
          let gamma = Double(k + 2) * u / (1 - Double(k + 2) * u)
          let bound = gamma * (abs(Double(alpha)) * magnitude + abs(Double(beta) * Double(c[index]))) + u * abs(expected)
          #expect(abs(Double(got[index]) - expected) <= bound, "C[\(i), \(j)] of \(m)×\(n)×\(k)")
        }
      }
    }
  }

  @Test(.enabled(if: avx512Runnable, "needs a CPU that runs the AVX-512 variant"), arguments: shapes)
  func bothWidthsAgreeWithTheProduct(shape: (m: Int, n: Int, k: Int)) {
    let product = Product(m: shape.m, n: shape.n, k: shape.k, seed: UInt64(shape.m * 131 + shape.n * 17 + shape.k))
    for (alpha, beta): (Float, Float) in [(1, 0), (-0.5, 1.25)] {
      let eight = product.run(alpha: alpha, beta: beta) { SIMDGemm.narrowEight($0, alpha: $1, beta: $2) }
      product.check(eight, alpha: alpha, beta: beta)
      if 2 * shape.n <= 16 {
        let wide = product.run(alpha: alpha, beta: beta) { SIMDGemm.narrowPairs($0, alpha: $1, beta: $2) }
        product.check(wide, alpha: alpha, beta: beta)
      }
      if shape.n <= 4 {
        let wide = product.run(alpha: alpha, beta: beta) { SIMDGemm.narrowPairs($0, alpha: $1, beta: $2) }
        let half = product.run(alpha: alpha, beta: beta) { SIMDGemm.narrowPairsHalfWidth($0, alpha: $1, beta: $2) }
        product.check(half, alpha: alpha, beta: beta)
        // The same multiply–adds per lane in the same order: the same bits.
        #expect(wide.map(\.bitPattern) == half.map(\.bitPattern), "512- and 256-bit pairs differ at \(shape)")
      }
    }
  }
}
