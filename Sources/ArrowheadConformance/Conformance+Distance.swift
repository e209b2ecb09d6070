import ArrowheadCore
import Testing

extension BackendConformance {
  /// (queries, base, dimension): the direct path (< 4 queries), one gemv per query (≤ 8
  /// queries on a small base: inner products, and every metric at 5 × 20 × 160), the packed path of a small product (12 × 40 × 30), the gemm
  /// path, ragged tiles, several depth blocks (d > 256) and the parallel split.
  static let shapes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 50, 7), (3, 100, 50), (4, 17, 3), (7, 33, 16), (5, 20, 160), (12, 40, 30), (20, 300, 128),
    (64, 129, 300), (150, 200, 64),
    // One query against more than 2¹⁸ base elements (inner products on the SIMD backend: the
    // gemv on one thread, the direct kernel split over two), a partial last vector and whole
    // vectors.
    (1, 3000, 100), (1, 700, 384),
    // Several queries against each base row at once (the direct path's squared L2 and inner
    // products of 2–8 queries on the SIMD backend): two queries (four chains each) with a
    // partial last vector over more than 2¹⁸ elements, three on four query slots with an odd
    // number of whole vectors, six on eight slots, eight with fewer dimensions than a vector.
    (2, 41, 24), (2, 2000, 131), (3, 1500, 61), (6, 700, 100), (8, 40, 5),
    // Cosine of one to three queries with each row's norm from the same pass (one query's
    // norm tiles, the fourth slot of two or three queries' rows) on rows shorter than a
    // vector or a vector and a bit, past the small-product size.
    (1, 40000, 7), (2, 20000, 7), (3, 12000, 9),
  ]

  /// distances for every metric on every `shapes` entry (padded leading dimensions, query 1 a copy
  /// of base row 0; two threads, and one too for a single query) against the reference:
  /// squared L2 within γ_{d+3}·(‖q‖² + ‖x‖² + 2Σ|qx|) + u·value and never negative, inner product
  /// γ_{d+1}·Σ|qx| + u·|value|, cosine γ_{d+6}·(Σ|qx|/(‖q‖·‖x‖) + 1) + u; out's padding untouched.
  public static func distanceMatricesAgreeWithReferenceWithinTheErrorBound(_ kernel: any Backend) throws {
    let name = kernel.name
    for metric in Metric.allCases {
      for (index, (q, b, d)) in Self.shapes.enumerated() {
        var generator = SeededGenerator(seed: UInt64(index) &+ 900)
        let ldq = d + 1, ldb = d + 3, ldo = b + 2
        var queries = generator.floats(q * ldq)
        let base = generator.floats(b * ldb)
        if q > 1 { for p in 0..<d { queries[ldq + p] = base[p] } }  // an exact match: L2 = 0
        let out = [Float](repeating: -7, count: q * ldo)
        func run(_ backend: any Backend, threads: Int) -> [Float] {
          withBuffers([queries, base, out]) { p in
            backend.distances(metric, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: ldq,
                              base: p[1], ldb: ldb, queryNorms: nil, baseNorms: nil, p[2], ldo: ldo, threads: threads)
          }[2]
        }
        let expected = run(reference, threads: 2)
        // One query also on one thread (the SIMD backend's gemv at every size for inner products).
        for threads in q == 1 ? [2, 1] : [2] {
          let got = run(kernel, threads: threads)
          for i in 0..<q {
            for j in 0..<b {
              var qq = 0.0, xx = 0.0, absoluteDot = 0.0
              for p in 0..<d {
                let qv = Double(queries[i * ldq + p]), xv = Double(base[j * ldb + p])
                qq += qv * qv
                xx += xv * xv
                absoluteDot += abs(qv * xv)
              }
              let value = Double(expected[i * ldo + j])
              let bound: Double
              switch metric {
              // ‖q‖² + ‖x‖² − 2q·x: each term within γ_d of its magnitude, three more roundings.
              case .squaredL2: bound = gamma(d + 3) * (qq + xx + 2 * absoluteDot) + unitRoundoff * value
              case .innerProduct: bound = gamma(d + 1) * absoluteDot + unitRoundoff * abs(value)
              // Dot within γ_d; each norm and reciprocal and the two products add a few u.
              case .cosine: bound = gamma(d + 6) * (absoluteDot / (qq * xx).squareRoot() + 1) + unitRoundoff
              }
              let error = abs(Double(got[i * ldo + j]) - value)
              #expect(error <= bound, "\(metric) q=\(q) b=\(b) d=\(d) (\(i),\(j)) on \(name), \(threads) threads: \(got[i * ldo + j]) vs \(value)")
              if metric == .squaredL2 { #expect(got[i * ldo + j] >= 0, "squared L2 must be clamped at 0") }
            }
            for j in b..<ldo { #expect(got[i * ldo + j] == -7, "padding of out was written") }
          }
        }
      }
    }
  }

  /// distances given the norms (squared norms for squared L2, norms for cosine, summed in Float)
  /// agree within 1e-4 absolute with the reference computing its own (9 queries × 40 rows, d = 24).
  public static func givenNormsGiveTheSameResultAsComputedOnes(_ kernel: any Backend) throws {
    let name = kernel.name
    let q = 9, b = 40, d = 24
    var generator = SeededGenerator(seed: 4)
    let queries = generator.floats(q * d), base = generator.floats(b * d)
    for metric in [Metric.squaredL2, .cosine] {
      let squared = metric == .squaredL2
      let queryNorms = (0..<q).map { i in
        let s = queries[(i * d)..<(i * d + d)].reduce(Float(0)) { $0 + $1 * $1 }
        return squared ? s : s.squareRoot()
      }
      let baseNorms = (0..<b).map { j in
        let s = base[(j * d)..<(j * d + d)].reduce(Float(0)) { $0 + $1 * $1 }
        return squared ? s : s.squareRoot()
      }
      let out = [Float](repeating: 0, count: q * b)
      let withGiven = withBuffers([queries, base, queryNorms, baseNorms, out]) { p in
        kernel.distances(metric, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1], ldb: d,
                         queryNorms: p[2], baseNorms: p[3], p[4], ldo: b, threads: 1)
      }[4]
      let computed = withBuffers([queries, base, out]) { p in
        reference.distances(metric, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1], ldb: d,
                            queryNorms: nil, baseNorms: nil, p[2], ldo: b, threads: 1)
      }[2]
      for index in 0..<(q * b) {
        #expect(abs(withGiven[index] - computed[index]) <= 1e-4, "\(metric) with given norms on \(name) at \(index)")
      }
    }
  }

  /// A zero query has cosine exactly 0 with every base row, and a NaN in the last query makes all
  /// its squared L2 distances NaN, with 1 query (direct path) and 5 queries (gemm path).
  public static func aZeroVectorHasCosineZeroAndANaNQueryGivesNaN(_ kernel: any Backend) throws {
    let name = kernel.name
    for q in [1, 5] {  // direct path and gemm path
      let d = 8, b = 6
      var queries = [Float](repeating: 0.5, count: q * d)
      for p in 0..<d { queries[p] = 0 }  // query 0 is the zero vector
      var base = [Float](repeating: 0.25, count: b * d)
      base[3] = -1
      let out = [Float](repeating: 0, count: q * b)
      let cosine = withBuffers([queries, base, out]) { p in
        kernel.distances(.cosine, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1], ldb: d,
                         queryNorms: nil, baseNorms: nil, p[2], ldo: b, threads: 1)
      }[2]
      for j in 0..<b { #expect(cosine[j] == 0, "cosine with a zero query (q=\(q)) on \(name)") }
      queries[q * d - 1] = .nan
      let l2 = withBuffers([queries, base, out]) { p in
        kernel.distances(.squaredL2, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1], ldb: d,
                         queryNorms: nil, baseNorms: nil, p[2], ldo: b, threads: 1)
      }[2]
      for j in 0..<b { #expect(l2[(q - 1) * b + j].isNaN, "NaN query row (q=\(q)) on \(name)") }
    }
  }

  /// Cosine does not depend on scale: rows scaled by 2⁹⁰ (their Float32 sum of squares
  /// overflows), 2⁻⁹⁰ (underflows) and 2⁻¹⁴⁰ (subnormal elements) keep their cosines, on
  /// every path (direct, one gemv per query, packed, gemm) and on both sides, the
  /// overflowing pair included (q·x itself overflows Float32). Such rows had cosine 0 with
  /// everything on the SIMD and OpenBLAS backends (`CosineRepair`). A zero row still has 0.
  public static func cosineHoldsForRowsWhoseFloat32NormOverflowsOrUnderflows(_ kernel: any Backend) throws {
    let name = kernel.name
    for (index, (q, b, d)) in Self.shapes.enumerated() where b >= 3 {
      var generator = SeededGenerator(seed: UInt64(index) &+ 1_300)
      var queries = generator.floats(q * d)
      var base = generator.floats(b * d)
      let unscaled = withBuffers([queries, base, [Float](repeating: 0, count: q * b)]) { p in
        reference.distances(.cosine, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1],
                            ldb: d, queryNorms: nil, baseNorms: nil, p[2], ldo: b, threads: 1)
      }[2]
      func scale(_ values: inout [Float], row: Int, by factor: Float) {
        for p in 0..<d { values[row * d + p] *= factor }
      }
      scale(&queries, row: 0, by: 0x1p90)
      if q > 1 { scale(&queries, row: q - 1, by: 0x1p-90) }
      scale(&base, row: 0, by: 0x1p90)
      scale(&base, row: 1, by: 0x1p-90)
      scale(&base, row: 2, by: 0x1p-140)
      let zeroRow = b - 1 > 2 ? b - 1 : nil
      if let zeroRow { for p in 0..<d { base[zeroRow * d + p] = 0 } }
      let got = withBuffers([queries, base, [Float](repeating: -7, count: q * b)]) { p in
        kernel.distances(.cosine, queryCount: q, baseCount: b, dimension: d, queries: p[0], ldq: d, base: p[1],
                         ldb: d, queryNorms: nil, baseNorms: nil, p[2], ldo: b, threads: 2)
      }[2]
      for i in 0..<q {
        for j in 0..<b {
          let value = got[i * b + j]
          if j == zeroRow {
            #expect(value == 0, "cosine with a zero row, q=\(q) b=\(b) d=\(d) (\(i),\(j)) on \(name)")
            continue
          }
          // The subnormal row lost low bits when scaled (2⁻¹⁴⁰ leaves ~9 of 24): its
          // cosines are compared loosely; the others within the main check's bound.
          let bound = j == 2 ? 0.02 : gamma(d + 6) * 2 + unitRoundoff
          #expect(abs(Double(value) - Double(unscaled[i * b + j])) <= bound,
                  "q=\(q) b=\(b) d=\(d) (\(i),\(j)) on \(name): \(value) vs \(unscaled[i * b + j]) unscaled")
        }
      }
    }
  }
}
