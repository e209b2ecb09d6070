import ArrowheadCore
import Testing

/// A gemm test problem: shapes, transposes, leading dimensions (possibly padded), α, β.
struct GemmCase: CustomStringConvertible {
  var m: Int, n: Int, k: Int
  var transposeA: Transpose, transposeB: Transpose
  var padding: Int
  var alpha: Float, beta: Float
  var threads: Int

  var description: String {
    "m=\(m) n=\(n) k=\(k) \(transposeA.rawValue)\(transposeB.rawValue) pad=\(padding) α=\(alpha) β=\(beta) threads=\(threads)"
  }

  // Stored shapes: A is m×k (or k×m when transposed), B is k×n (or n×k).
  var aRows: Int { transposeA == .normal ? m : k }
  var aColumns: Int { transposeA == .normal ? k : m }
  var bRows: Int { transposeB == .normal ? k : n }
  var bColumns: Int { transposeB == .normal ? n : k }
  var lda: Int { aColumns + padding }
  var ldb: Int { bColumns + padding }
  var ldc: Int { n + padding }

  func opA(_ a: [Float], _ i: Int, _ p: Int) -> Float { transposeA == .normal ? a[i * lda + p] : a[p * lda + i] }
  func opB(_ b: [Float], _ p: Int, _ j: Int) -> Float { transposeB == .normal ? b[p * ldb + j] : b[j * ldb + p] }
}

/// Shapes around the micro-tile (6 × 8/16/32), the small-path limit (64³), the cache blocks
/// (kc = 256, mc = 96…192) and the parallel threshold, with every transpose and α/β pair.
let gemmCases: [GemmCase] = {
  var cases: [GemmCase] = []
  let shapes: [(Int, Int, Int)] = [
    (0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1), (2, 3, 4), (3, 2, 2), (5, 1, 7), (4, 12, 3), (9, 7, 1),
    (6, 16, 8), (7, 17, 9), (5, 33, 13), (13, 8, 31),
    (64, 64, 64), (65, 63, 64), (97, 130, 70), (200, 150, 300), (37, 300, 270),
    // Narrow kernels: depth pairs (n ≤ lanes/2, m ≥ 16, odd and even k), eight rows of one
    // vector, a ragged column remainder after full tiles, 128-bit rows for n = 4.
    (20, 8, 31), (17, 3, 12), (24, 2, 9), (16, 4, 64), (33, 5, 2), (23, 16, 5), (9, 12, 7), (19, 40, 21),
    (4, 4, 4), (11, 4, 7),
    // Small-product paths: one row or one column (the gemv kernels), 128- and 256-bit rows
    // for n ≤ 4 and n ≤ 8 (padded last rows of B when n < the vector), passes of four rows,
    // 8-row tiles (AVX-512, m a multiple of 8 or a partial last tile), ragged columns as
    // dot products (17 × 33 × 45: one column after two tiles) and as vectors.
    (1, 64, 64), (1, 33, 45), (45, 1, 33), (1, 1, 9), (2, 1, 70), (1, 300, 17),
    (8, 8, 8), (7, 5, 9), (13, 6, 3), (3, 2, 5), (6, 3, 1), (12, 7, 5), (2, 2, 2),
    (32, 32, 32), (20, 35, 9), (16, 64, 3), (17, 33, 45), (9, 34, 40), (23, 48, 50),
    // One or two rows past whole 8-row (AVX-512) or 6-row tiles, run as Bᵀ·aᵢ.
    (18, 40, 7), (10, 33, 5), (13, 16, 6), (9, 64, 11),
    // Few rows above the small path: A·B read in place (`skinny`), A·Bᵀ as dot tiles (≤ 16
    // rows) or through a transposed copy of a small B (odd depths: the copy's edges).
    (80, 80, 80), (48, 100, 101), (70, 61, 71), (19, 90, 200), (3, 300, 333),
    // Small A·Bᵀ with 5–16 rows as dot tiles (depth ≥ 128), a depth tail, a partial tile.
    (8, 30, 130), (13, 17, 161),
    // A·Bᵀ dot tiles in chunks of B (several passes of rows: a chunk's last partial tile and
    // the last partial chunk), and 17–32 rows when B is too large for the transposed copy.
    (9, 70, 300), (24, 130, 257), (32, 150, 230),
  ]
  var index = 0
  for (m, n, k) in shapes {
    for transposeA in Transpose.allCases {
      for transposeB in Transpose.allCases {
        let (alpha, beta): (Float, Float) = [(1, 0), (-0.5, 1), (2, -1.5), (1, 0.25)][index % 4]
        let padding = [0, 3, 1][index % 3]
        let threads = m * n * k > 500_000 ? [1, 2][index % 2] : 1
        cases.append(GemmCase(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                              padding: padding, alpha: alpha, beta: beta, threads: threads))
        index += 1
      }
    }
  }
  return cases
}()

extension BackendConformance {
  /// gemm on every `gemmCases` shape (both transposes of A and B, padding 0, 1 or 3, four (α, β)
  /// pairs, two threads on some large ones) against the reference: each element within
  /// (γ_{k+3} + u)·(|α|·Σₚ|aᵢₚ·bₚⱼ| + |β|·|cᵢⱼ|); the padding between rows of C is left untouched.
  public static func gemmAgreesWithReferenceWithinTheErrorBound(_ kernel: any Backend) throws {
    let name = kernel.name
    for (index, problem) in gemmCases.enumerated() {
      var generator = SeededGenerator(seed: UInt64(index) &+ 1000)
      let a = generator.floats(max(0, problem.aRows * problem.lda))
      let b = generator.floats(max(0, problem.bRows * problem.ldb))
      let c = generator.floats(max(0, problem.m * problem.ldc))
      func run(_ backend: any Backend) -> [Float] {
        withBuffers([a, b, c]) { p in
          backend.gemm(problem.transposeA, problem.transposeB, rows: problem.m, columns: problem.n, depth: problem.k,
                       alpha: problem.alpha, p[0], lda: problem.lda, p[1], ldb: problem.ldb,
                       beta: problem.beta, p[2], ldc: problem.ldc, threads: problem.threads)
        }[2]
      }
      let got = run(kernel), expected = run(reference)
      var worst = 0.0
      for i in 0..<problem.m {
        for j in 0..<problem.n {
          var magnitude = 0.0
          for p in 0..<problem.k { magnitude += abs(Double(problem.opA(a, i, p)) * Double(problem.opB(b, p, j))) }
          let scale = abs(Double(problem.alpha)) * magnitude + abs(Double(problem.beta)) * abs(Double(c[i * problem.ldc + j]))
          // k products and k−1 sums, α, β·c and the final add: γ_{k+3}; the reference adds u.
          let bound = (gamma(problem.k + 3) + unitRoundoff) * scale
          let error = abs(Double(got[i * problem.ldc + j]) - Double(expected[i * problem.ldc + j]))
          worst = max(worst, bound > 0 ? error / bound : error)
        }
      }
      #expect(worst <= 1, "gemm \(problem) on \(name): error reaches \(worst)× the bound")
      // Padding between rows of C must be untouched.
      if problem.padding > 0 {
        for i in 0..<problem.m {
          for j in problem.n..<problem.ldc {
            #expect(got[i * problem.ldc + j] == c[i * problem.ldc + j], "gemm \(problem) wrote into C's padding")
          }
        }
      }
    }
  }

  /// One NaN in row 2 of A makes row 2 of C ← A·B NaN and every other element finite, with
  /// β = 0 and C filled with NaN (so C must not be read); shapes 5×7×3, 40×40×40 and 130×90×260,
  /// two threads.
  public static func gemmPropagatesNaNFromAAndIgnoresCWhenBetaIsZero(_ kernel: any Backend) throws {
    for (m, n, k) in [(5, 7, 3), (40, 40, 40), (130, 90, 260)] {
      var generator = SeededGenerator(seed: 77)
      var a = generator.floats(m * k, in: 0.5..<1)
      let b = generator.floats(k * n, in: 0.5..<1)
      a[2 * k + 1] = .nan  // row 2 of A
      let c = [Float](repeating: .nan, count: m * n)  // β = 0: never read
      expectRowTwoNaN(kernel, m, n, k, a, b, c, alpha: 1, beta: 0, "m=\(m)") { value, _ in value.isFinite }
    }
  }

  /// gemv and gemm with α = 0 still compute the product (IEEE: 0·NaN = NaN): A finite but
  /// for one NaN at (2, 1), x and B finite, β = 1 and 0.5 — NaN in the outputs whose product
  /// meets it, β·y (β·C) exactly in the others, on every backend. (OpenBLAS 0.3.21's `sgemv`
  /// returns early for α = 0; its backend computes α = 0 itself.)
  public static func zeroAlphaMatrixProductsStillPropagateNaN(_ kernel: any Backend) throws {
    let name = kernel.name
    for (rows, columns) in [(5, 4), (40, 33), (300, 260)] {
      var generator = SeededGenerator(seed: UInt64(rows) &+ 43)
      var a = generator.floats(rows * columns)
      a[2 * columns + 1] = .nan
      for transpose in Transpose.allCases {
        let outputs = transpose == .normal ? rows : columns, inputs = transpose == .normal ? columns : rows
        let x = generator.floats(inputs), y = generator.floats(outputs)
        let poisoned = transpose == .normal ? 2 : 1
        for beta: Float in [1, 0.5] {
          let got = withBuffers([a, x, y]) { p in
            kernel.gemv(transpose, rows: rows, columns: columns, alpha: 0, p[0], lda: columns, p[1], beta: beta, p[2], threads: 2)
          }[2]
          for i in 0..<outputs {
            if i == poisoned {
              #expect(got[i].isNaN, "gemv \(transpose) α=0 β=\(beta) \(rows)×\(columns) output \(i) on \(name): \(got[i])")
            } else {
              // 0·(finite sum) + β·y: exactly β·y.
              #expect(got[i] == beta * y[i], "gemv \(transpose) α=0 β=\(beta) \(rows)×\(columns) output \(i) on \(name)")
            }
          }
        }
      }
      let depth = columns, n = 7
      let b = generator.floats(depth * n), c = generator.floats(rows * n)
      expectRowTwoNaN(kernel, rows, n, depth, a, b, c, alpha: 0, beta: 1, "α=0 \(rows)×\(n)×\(depth)") { value, index in
        value == c[index]
      }
    }
  }

  /// Runs C ← α·A·B + β·C (row-major, no transposes, two threads) and expects NaN in row 2
  /// of the result and `otherwise(value, index)` everywhere else.
  static func expectRowTwoNaN(
    _ kernel: any Backend, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float], _ c: [Float],
    alpha: Float, beta: Float, _ label: String, otherwise: (Float, Int) -> Bool
  ) {
    let out = withBuffers([a, b, c]) { p in
      kernel.gemm(.normal, .normal, rows: m, columns: n, depth: k, alpha: alpha, p[0], lda: k, p[1], ldb: n,
                  beta: beta, p[2], ldc: n, threads: 2)
    }[2]
    for i in 0..<m {
      for j in 0..<n {
        let value = out[i * n + j]
        if i == 2 {
          #expect(value.isNaN, "gemm \(label) (\(i),\(j)) should be NaN on \(kernel.name)")
        } else {
          #expect(otherwise(value, i * n + j), "gemm \(label) (\(i),\(j)) on \(kernel.name): \(value)")
        }
      }
    }
  }

  /// gemv (both transposes, (α, β) = (1, 0) and (−2, 0.5), two threads) on shapes around the SIMD
  /// kernels' row and column blocks, lda padded by 2 on every other shape, against the reference:
  /// each output within (γ_{n+3} + u)·(|α|·Σⱼ|aᵢⱼ·xⱼ| + |β|·|yᵢ|), n the inner dimension.
  public static func gemvAgreesWithReferenceWithinTheErrorBound(_ kernel: any Backend) throws {
    let name = kernel.name
    // Shapes around the row blocks (8 and 4 rows) and column blocks (8, 4, 2, 1 vectors and
    // a partial one) of the SIMD kernels; every other shape has lda = columns, so a kernel
    // loading a row's last partial vector whole must stop before the end of A.
    let shapes = [
      (0, 4), (4, 0), (1, 1), (3, 7), (8, 8), (17, 33), (64, 65), (200, 131), (700, 513),
      (9, 300), (5, 20), (33, 129), (256, 256), (1, 1000), (130, 8), (31, 17), (12, 3), (2, 45), (64, 64),
    ]
    for (index, (rows, columns)) in shapes.enumerated() {
      for transpose in Transpose.allCases {
        for (alpha, beta) in [(Float(1), Float(0)), (-2, 0.5)] {
          var generator = SeededGenerator(seed: UInt64(index) &+ 300)
          let lda = index % 2 == 0 ? columns + 2 : columns
          let a = generator.floats(rows * lda)
          let outputs = transpose == .normal ? rows : columns, inputs = transpose == .normal ? columns : rows
          let x = generator.floats(inputs), y = generator.floats(outputs)
          func run(_ backend: any Backend) -> [Float] {
            withBuffers([a, x, y]) { p in
              backend.gemv(transpose, rows: rows, columns: columns, alpha: alpha, p[0], lda: lda, p[1], beta: beta, p[2], threads: 2)
            }[2]
          }
          let got = run(kernel), expected = run(reference)
          for i in 0..<outputs {
            var magnitude = 0.0
            for j in 0..<inputs {
              let element = transpose == .normal ? a[i * lda + j] : a[j * lda + i]
              magnitude += abs(Double(element) * Double(x[j]))
            }
            let bound = (gamma(inputs + 3) + unitRoundoff)
              * (abs(Double(alpha)) * magnitude + abs(Double(beta)) * abs(Double(y[i])))
            #expect(abs(Double(got[i]) - Double(expected[i])) <= bound,
                    "gemv \(transpose) \(rows)×\(columns) α=\(alpha) β=\(beta) i=\(i) on \(name)")
          }
        }
      }
    }
  }
}
