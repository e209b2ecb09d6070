import Arrowhead
import Testing

/// The SIMD backends' unpacked paths for products with few rows (`SIMDGemm.skinny`: 2 … 128
/// rows on AVX-512, 32 on AVX2, 6 on the baseline; 16 / 8 when B streams from memory; and
/// `skinnyTransposed`, dot products of rows for A·Bᵀ with up to 16 or 64 rows), at
/// the shapes where its parts meet: one and several passes over the rows (m = 7 is 4 + 3),
/// wide blocks, single vectors and a tail of columns read in place up to B's last row,
/// one and two depth blocks (k = 300 > 256), the streaming depth blocks of a large B, and
/// the rows where the blocked path takes over. B's row padding holds NaN, so a lane past
/// the tail that reached C would show; C's padding must stay as it was.
@Suite("Skinny gemm path")
struct SkinnyGemmTests {
  static let simdBackends = BackendRegistry.builtIn.runnable().filter { $0.name.hasPrefix("simd-") }

  struct Product {
    var a: [Float], b: [Float], c: [Float]
    let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
    /// B stored n × k (x·Wᵀ) instead of k × n.
    let transposedB: Bool

    init(m: Int, n: Int, k: Int, seed: UInt64, cIsNaN: Bool = false, transposedB: Bool = false) {
      self.m = m
      self.n = n
      self.k = k
      self.transposedB = transposedB
      lda = k + 1
      ldb = transposedB ? k + 3 : n + 3
      ldc = n + 2
      var state = seed
      func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 997
      }
      let (bRows, bColumns) = transposedB ? (n, k) : (k, n)
      let rowLength = bColumns + 3
      a = (0..<(m * (k + 1))).map { _ in next() }
      b = (0..<(bRows * rowLength)).map { index in index % rowLength < bColumns ? next() : .nan }
      c = (0..<(m * (n + 2))).map { _ in cIsNaN ? .nan : next() }
    }

    /// C ← α·A·B + β·C on a copy of C through `backend.gemm` with `threads`.
    func run(_ backend: any Backend, alpha: Float, beta: Float, threads: Int) -> [Float] {
      var out = c
      a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
          out.withUnsafeMutableBufferPointer { c in
            backend.gemm(
              .normal, transposedB ? .transposed : .normal, rows: m, columns: n, depth: k, alpha: alpha, a.baseAddress!, lda: lda, b.baseAddress!, ldb: ldb,
              beta: beta, c.baseAddress!, ldc: ldc, threads: threads)
          }
        }
      }
      return out
    }

    /// Checks `got` against the product in Double: within γ_{k + ⌈k/8⌉ + 4}·(|α|·Σ|a||b| +
    /// |β·c|) (a sum over the depth in blocks of at least 8, the blocks then added, α and β
    /// applied), and C's padding unchanged.
    func check(_ got: [Float], alpha: Float, beta: Float, _ context: String) {
      let u = Double(Float.ulpOfOne) / 2
      let terms = Double(k + (k + 7) / 8 + 4)
      let gamma = terms * u / (1 - terms * u)
      var failures = 0
      for i in 0..<m {
        for j in 0..<ldc {
          let index = i * ldc + j
          if j >= n {
            if got[index].bitPattern != c[index].bitPattern { failures += 1 }
            continue
          }
          var exact = 0.0, magnitude = 0.0
          for p in 0..<k {
            let term = Double(a[i * lda + p]) * Double(transposedB ? b[j * ldb + p] : b[p * ldb + j])
            exact += term
            magnitude += abs(term)
          }
          let old = beta == 0 ? 0 : Double(c[index])
          let expected = Double(alpha) * exact + Double(beta) * old
          let bound = gamma * (abs(Double(alpha)) * magnitude + abs(Double(beta) * old)) + u * abs(expected)
          if !(abs(Double(got[index]) - expected) <= bound) { failures += 1 }
        }
      }
      #expect(failures == 0, "\(context): \(failures) wrong elements")
    }
  }

  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (2, 100, 77), (3, 64, 9), (4, 1, 300), (5, 15, 300), (6, 33, 1), (2, 385, 300), (7, 129, 40), (13, 100, 257),
    (64, 17, 300), (128, 70, 64), (129, 64, 64), (33, 385, 300), (6, 40, 2049),
  ]

  @Test(arguments: [(Float(1), Float(0)), (Float(-0.5), Float(1.25)), (Float(2), Float(0))])
  func productsMatchTheExactProductOnEverySIMDBackend(_ alpha: Float, _ beta: Float) {
    for (index, shape) in Self.shapes.enumerated() {
      // β = 0 with C all NaN: C must not be read.
      let product = Product(m: shape.m, n: shape.n, k: shape.k, seed: UInt64(index + 1), cIsNaN: beta == 0 && alpha == 2)
      for backend in Self.simdBackends {
        let one = product.run(backend, alpha: alpha, beta: beta, threads: 1)
        product.check(one, alpha: alpha, beta: beta, "\(backend.name) \(shape) α \(alpha) β \(beta)")
        let two = product.run(backend, alpha: alpha, beta: beta, threads: 2)
        #expect(two.map(\.bitPattern) == one.map(\.bitPattern), "\(backend.name) \(shape): 2 threads differ from 1")
      }
    }
  }

  /// A·Bᵀ (B stored n × k, rows padded with NaN) through the dot-product path (small and
  /// above the small size class, k below one vector, with a tail, a multiple of the vector,
  /// A rows in passes of 4 (or 2), B rows in tiles of 4 with a ragged last tile) and through
  /// the small class's transposed copy of B.
  @Test func transposedProductsMatchTheExactProduct() {
    let shapes: [(m: Int, n: Int, k: Int)] = [
      (2, 64, 64), (3, 48, 17), (4, 4, 4), (16, 16, 16), (5, 7, 3), (2, 385, 384), (7, 129, 300), (16, 99, 1537),
      (64, 30, 800), (17, 40, 384), (3, 1500, 1024),
      // The small class's transposed copy of B (4 × 4 register blocks and their edges).
      (6, 40, 40), (13, 5, 30), (64, 8, 64), (17, 33, 45), (9, 6, 7),
    ]
    for (index, shape) in shapes.enumerated() {
      let product = Product(m: shape.m, n: shape.n, k: shape.k, seed: UInt64(200 + index), transposedB: true)
      for backend in Self.simdBackends {
        for (alpha, beta) in [(Float(1), Float(0)), (Float(-0.5), Float(1.25))] {
          let one = product.run(backend, alpha: alpha, beta: beta, threads: 1)
          product.check(one, alpha: alpha, beta: beta, "\(backend.name) A·Bᵀ \(shape) α \(alpha) β \(beta)")
          let two = product.run(backend, alpha: alpha, beta: beta, threads: 2)
          #expect(two.map(\.bitPattern) == one.map(\.bitPattern), "\(backend.name) A·Bᵀ \(shape): 2 threads differ from 1")
        }
      }
    }
  }

  /// A B of 1100 × 2100 floats (9 MiB, beyond a quarter of a 32 MiB L3: the streaming depth
  /// blocks where the L3 is that size or smaller) at the rows around the streaming limit.
  @Test func aLargeBStreamsInDepthBlocks() {
    for (index, m) in [3, 16, 17].enumerated() {
      let product = Product(m: m, n: 1100, k: 2100, seed: UInt64(100 + index))
      for backend in Self.simdBackends {
        let one = product.run(backend, alpha: 1, beta: 0.5, threads: 1)
        product.check(one, alpha: 1, beta: 0.5, "\(backend.name) m \(m)")
        let two = product.run(backend, alpha: 1, beta: 0.5, threads: 2)
        #expect(two.map(\.bitPattern) == one.map(\.bitPattern), "\(backend.name) m \(m): 2 threads differ from 1")
      }
    }
  }
}
