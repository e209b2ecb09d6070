// Queries × base distance matrices of the SIMD backend.
//
// Many queries: the gemm with a fused epilogue, ‖q‖² + ‖x‖² − 2·q·x clamped at 0 (squared
// L2), q·x (inner product) or q·x/(‖q‖‖x‖) (cosine); compute-bound, ~2·m·n·d FLOP.
// Few queries (< `directQueryLimit`, squared L2 < `directSquaredL2QueryLimit`): one pass
// over the base computing each value directly (squared L2, inner products and cosine in
// memory order over the base rows, DistanceRows.swift), since packing the whole base for a handful
// of rows costs more than the product; memory-bound, parallel over base rows.
import ArrowheadCore
import Synchronization

enum SIMDDistances {
  /// Below this many queries the direct kernel beats the gemm path (packing the base).
  static let directQueryLimit = 4
  /// Below this many queries squared L2 takes the direct kernel (DistanceRows.swift: one
  /// query's eight-row tiles, 2–8 queries' `queryRows`) at every size. Zen 4, AVX-512
  /// variant, 1 thread, GFLOP/s, packed path or one gemv per query → the direct kernel:
  /// 4 × 64 × 128 36.3 → 50.4, 8 × 64 × 64 32.7 → 50.0, 8 × 200 × 128 39.3 → 75.2, 8 × 1 024
  /// × 50 33.8 → 45.4, 8 × 3 000 × 384 20.1 → 77.5, 8 × 100 000 × 128 17.3 → 63.4.
  static let directSquaredL2QueryLimit = queryRowsLimit + 1
  /// Most queries the direct kernel takes, in groups of up to `queryRowsLimit` over each pass
  /// of `groupPassBytes` of base rows: squared L2 of 9–16 queries on a base larger than L2,
  /// inner products of 4–16 past the caches. Zen 4, AVX-512 variant, 1 thread, GFLOP/s,
  /// packed → grouped: squared L2 16 × 100 000 × 128 29.4 → 57.8, 12 × 400 000 × 50 21.1 →
  /// 39.6, 16 × 30 000 × 384 28.8 → 67.3; inner products 16 × 100 000 × 128 38.0 → 49.0,
  /// 12 × 400 000 × 50 39.2 → 49.1. Within L2 the packed path stays (16 × 4 096 × 50 51.3
  /// against 43.8, 12 × 1 024 × 50 52.8 against 43.9; 12 × 1 024 × 128 61.2 against 70.0),
  /// and from 32 queries on it is ahead past the caches too at 50 dimensions (flat GloVe
  /// squared L2, 32 queries, 1 255 against 1 041 queries/s).
  static let groupedQueryLimit = 16
  /// Base bytes per pass of the query groups: every group runs over a pass before the next
  /// one, so the pass is read from memory once and from L2 by the other groups. (Flat
  /// MiniLM squared L2, 12 queries, 1 thread: 2 991 queries/s with 128 KiB, 2 483 with 32
  /// KiB, 2 249 with 256 KiB; one pass over the whole base, 1 279.)
  static let groupPassBytes = 128 << 10
  /// L2 bytes of this CPU (at least 256 KiB).
  static let levelTwoBytes = max(CPUInfo.current.caches.l2, 256 << 10)

  static func run(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    if queryCount == 0 || baseCount == 0 { return }
    // Where one gemv per query beat the packed path and the direct kernel (measured on
    // AMD Zen 4, see `fewQueries`): inner products; cosine for fewer than four queries; and
    // every metric from 128 dimensions up, where packing the base costs the most.
    // Inner products of one query on one thread take the gemv at every size: side by side
    // in the caches, in memory order past them (`SIMDGemv.normalSequentialMatrixBytes`),
    // where the direct kernel's one dot per pair ran at 11–29 GFLOP/s against 14–38 (Zen 4,
    // 1 × 200 000 × 50 10.9 → 14.8, 1 × 20 000 × 128 20.8 → 25.5, 1 × 3 000 × 384 29.6 → 38.3).
    let gemvPerQuery =
      dimension > 0 && queryCount <= gemvQueryLimit && queryCount * baseCount * dimension <= SIMDGemm.smallWork
      && (metric == .innerProduct || dimension >= 128 || (metric == .cosine && queryCount < directQueryLimit))
      || (dimension > 0 && queryCount == 1 && metric == .innerProduct && threads == 1)
    let baseBytes = baseCount * ldb * MemoryLayout<Float>.size
    // Inner products of 4–16 queries on a base past the caches also take the direct kernel
    // (`queryRows`), which reads it once in memory order where the packed path read it at
    // 8–16 GB/s (Zen 4, 1 thread, GFLOP/s packed → query rows: 4 × 200 000 × 64 35.6 → 42.3,
    // 8 × 200 000 × 64 43.2 → 46.3, 6 × 400 000 × 50 32.0 → 37.7, 8 × 30 000 × 384 28.8 →
    // 56.2; 9–16 queries: `groupedQueryLimit`). In the caches the packed path stays ahead
    // (8 × 10 000 × 128 78.7 against 55.2, 5 × 5 000 × 384 70.5 against 37.0; 4 × 10 000 ×
    // 128 even).
    let rowsInMemoryOrder = metric == .innerProduct && queryCount <= groupedQueryLimit
      && baseBytes > SIMDGemv.normalSequentialMatrixBytes
    // Squared L2 of one to eight queries stays on the direct kernel, which sums (q − x)²
    // instead of expanding it: no cancellation for close pairs; 9–16 queries when the base
    // is larger than L2.
    let squaredL2Direct = queryCount < directSquaredL2QueryLimit
      || (queryCount <= groupedQueryLimit && baseBytes > levelTwoBytes)
    if metric == .squaredL2 ? squaredL2Direct
      : (queryCount < directQueryLimit || rowsInMemoryOrder) && !gemvPerQuery {
      direct(metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
             queries: queries, ldq: ldq, base: base, ldb: ldb, out, ldo: ldo, threads: threads)
      return
    }
    let problem: GemmOperands = (
      rows: queryCount, columns: baseCount, depth: dimension,
      a: queries, lda: ldq, transposeA: false, b: base, ldb: ldb, transposeB: true, c: out, ldc: ldo)
    if gemvPerQuery {
      fewQueries(metric, problem, queryNorms: queryNorms, baseNorms: baseNorms)
      return
    }
    switch metric {
    case .innerProduct:
      if queryCount * baseCount * dimension <= SIMDGemm.smallWork {
        // The packed path, as for the other metrics: `SIMDGemm.run` would send a small
        // product to the unpacked small-product kernel, which copies Xᵀ first (16 × 64 × 64
        // inner products at 32 GFLOP/s against 50 for squared L2 on the packed path, Zen 4).
        SIMDGemm.blocked(problem, rowRange: 0..<queryCount, columnRange: 0..<baseCount, epilogue: linearEpilogue(alpha: 1, beta: 0))
      } else {
        SIMDGemm.run(problem, epilogue: linearEpilogue(alpha: 1, beta: 0), threads: threads)
      }
    case .squaredL2:
      withNorms(queryNorms, queryCount, queries, ldq, dimension, squared: true, threads: threads) { qn in
        withNorms(baseNorms, baseCount, base, ldb, dimension, squared: true, threads: threads) { bn in
          SIMDGemm.run(problem, epilogue: (.squaredL2, 1, 0, qn, bn), threads: threads)
        }
      }
    case .cosine:
      withInverseNorms(queryNorms, queryCount, queries, ldq, dimension, threads: threads) { qi in
        withInverseNorms(baseNorms, baseCount, base, ldb, dimension, threads: threads) { bi in
          SIMDGemm.run(problem, epilogue: (.cosine, 1, 0, qi, bi), threads: threads)
          CosineRepair.repair(
            queryCount: queryCount, baseCount: baseCount, dimension: dimension, queries: queries, ldq: ldq,
            base: base, ldb: ldb, queryInverseNorm: { qi[$0] }, baseInverseNorm: { bi[$0] }, out, ldo: ldo)
        }
      }
    }
  }

  /// Up to this many queries over a small base (≤ `SIMDGemm.smallWork` multiply–adds in all),
  /// one gemv per query (`fewQueries`). From 16 queries on, the blocked path with its packed
  /// base is faster again (AMD Zen 4, AVX-512 variant: 16 × 64 × 64 inner products 59.9 against
  /// 30.9 GFLOP/s).
  static let gemvQueryLimit = 8

  /// A few queries against a small base: X·q for each query by the gemv kernel (eight base
  /// rows reduced together, the base read in place), then the metric's epilogue over the
  /// m × n results with the formulas of the blocked path's fused epilogue (`SIMDGemm.writeRow`). The
  /// small-product kernel copied Xᵀ for a product of a few thousand multiply–adds, and the
  /// direct kernel reduced every pair on its own: on AMD Zen 4, 4 × 64 × 64 inner products
  /// ran at 9.3 / 9.5 GFLOP/s (AVX2 / AVX-512 variant; 50 / 32 this way) and 4 × 64 × 384
  /// squared L2 at 27.5 / 27.2 on the packed path (42 / 37). Squared L2 and cosine of 4–8
  /// queries at 64 dimensions stay on the packed path, where the AVX-512 variant's gemv
  /// (split into 256-bit halves on Zen 4) was slower: 8 × 64 × 64 squared L2 23.9 against 32.7.
  static func fewQueries(
    _ metric: Metric, _ problem: GemmOperands, queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?
  ) {
    let m = problem.rows, n = problem.columns, d = problem.depth
    for i in 0..<m {
      SIMDGemv.normal(
        rows: n, columns: d, alpha: 1, problem.b, lda: problem.ldb, problem.a + i * problem.lda, beta: 0,
        problem.c + i * problem.ldc, incy: 1)
    }
    switch metric {
    case .innerProduct:
      return
    case .squaredL2:
      withNorms(queryNorms, m, problem.a, problem.lda, d, squared: true, threads: 1) { qn in
        withNorms(baseNorms, n, problem.b, problem.ldb, d, squared: true, threads: 1) { bn in
          for i in 0..<m {
            let row = problem.c + i * problem.ldc
            for j in 0..<n {
              let value = (qn[i] + bn[j]) + -2 * row[j]
              row[j] = value < 0 ? 0 : value
            }
          }
        }
      }
    case .cosine:
      withInverseNorms(queryNorms, m, problem.a, problem.lda, d, threads: 1) { qi in
        withInverseNorms(baseNorms, n, problem.b, problem.ldb, d, threads: 1) { bi in
          for i in 0..<m {
            let row = problem.c + i * problem.ldc
            for j in 0..<n { row[j] = row[j] * qi[i] * bi[j] }
          }
          CosineRepair.repair(
            queryCount: m, baseCount: n, dimension: d, queries: problem.a, ldq: problem.lda, base: problem.b,
            ldb: problem.ldb, queryInverseNorm: { qi[$0] }, baseInverseNorm: { bi[$0] }, problem.c, ldo: problem.ldc)
        }
      }
    }
  }

  /// Calls `body` with ‖row‖² for every row: the given norms, or freshly computed ones.
  static func withNorms(
    _ given: UnsafePointer<Float>?, _ count: Int, _ rows: UnsafePointer<Float>, _ ld: Int, _ dimension: Int,
    squared: Bool, threads: Int, _ body: (UnsafePointer<Float>) -> Void
  ) {
    if let given { body(given); return }
    let norms = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { norms.deallocate() }
    let box = UncheckedSendableBox(norms)
    Parallel.forEachChunk(count, granularity: 1024, threads: count >= 8192 ? threads : 1) { range in
      for i in range { box.value[i] = SIMDLevel1.sumOfSquares(dimension, rows + i * ld) }
    }
    body(norms)
  }

  /// Calls `body` with 1/‖row‖ for every row (0 for a zero row). Given norms are ‖row‖.
  static func withInverseNorms(
    _ given: UnsafePointer<Float>?, _ count: Int, _ rows: UnsafePointer<Float>, _ ld: Int, _ dimension: Int,
    threads: Int, _ body: (UnsafePointer<Float>) -> Void
  ) {
    let inverse = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { inverse.deallocate() }
    let box = UncheckedSendableBox(inverse)
    Parallel.forEachChunk(count, granularity: 1024, threads: count >= 8192 ? threads : 1) { range in
      for i in range {
        var norm: Float
        if let given { norm = given[i] } else { norm = SIMDLevel1.sumOfSquares(dimension, rows + i * ld).squareRoot() }
        box.value[i] = norm > 0 ? 1 / norm : (norm.isNaN ? .nan : 0)
      }
    }
    body(inverse)
  }

  /// Every value computed on its own pass over the base (DistanceRows.swift): squared L2
  /// and inner products of one query on tiles of eight rows (`tileRows`), of two to eight
  /// queries on each row against all of them (`queryRows`), cosine of one to three queries
  /// with each row's norm from the same pass (`cosineRows`); one query's rows left over one
  /// pair at a time. Squared L2 sums (q − x)², exact for a query equal to a
  /// base row.
  static func direct(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    let workers = baseCount * dimension * queryCount >= 1 << 18 ? threads : 1
    let output = UncheckedSendableBox(out)
    if metric != .cosine && queryCount >= 2 {
      // Groups of up to eight queries (`queryGroup`), each with its padded copy, all of them
      // over each pass of base rows (`groupPassBytes`) before the next: a pass is read from
      // memory once.
      let groups = queryGroupCount(queryCount)
      let stride = queryRowsLimit * paddedDimension(dimension)
      let copy = UnsafeMutablePointer<Float>.allocate(capacity: groups * stride)
      defer { copy.deallocate() }
      for g in 0..<groups {
        let (first, count) = queryGroup(g, of: queryCount)
        paddedQueries(queryCount: count, slots: querySlots(count), dimension: dimension, queries: queries + first * ldq,
                      ldq: ldq, into: copy + g * stride)
      }
      let padded = UncheckedSendableBox(copy)
      let rowsPerPass = groups == 1 ? baseCount : max(8, groupPassBytes / max(1, ldb * MemoryLayout<Float>.size))
      Parallel.forEachChunk(baseCount, granularity: 256, threads: workers) { range in
        var start = range.lowerBound
        while start < range.upperBound {
          let rows = start..<min(range.upperBound, start + rowsPerPass)
          for g in 0..<groups {
            let (first, count) = queryGroup(g, of: queryCount)
            queryRows(squared: metric == .squaredL2, queryCount: count, dimension: dimension,
                      padded: padded.value + g * stride, base: base, ldb: ldb, output.value + first * ldo, ldo: ldo,
                      rows: rows)
          }
          start = rows.upperBound
        }
      }
      return
    }
    if metric == .cosine {
      cosineRows(queryCount: queryCount, baseCount: baseCount, dimension: dimension, queries: queries, ldq: ldq,
                 base: base, ldb: ldb, out, ldo: ldo, workers: workers)
      return
    }
    // One query: squared L2 and inner products on tiles of eight rows, the rows left over one
    // pair at a time; chunks start at multiples of 256, so every row takes the same path on
    // any thread count.
    Parallel.forEachChunk(baseCount, granularity: 256, threads: workers) { range in
      let rest = tileRows(
        squared: metric == .squaredL2, dimension: dimension, query: queries, base: base, ldb: ldb, output.value,
        rows: range)
      for j in rest..<range.upperBound {
        let x = base + j * ldb
        output.value[j] = metric == .squaredL2 ? squaredDistance(dimension, queries, x) : SIMDLevel1.dot(dimension, queries, x)
      }
    }
  }

  /// Base rows per block of `cosineRows`: their ‖x‖² are kept on the stack.
  static let cosineBlockRows = 256

  /// Cosine of 1–3 queries (fewer than `directQueryLimit`) against every base row, on the
  /// eight-row tiles (one query) or `queryRows` with the self slot (two or three): each row's
  /// q·x and ‖x‖² from one pass over it, then q·x / (‖q‖‖x‖) (0 where a norm is 0, NaN where
  /// one is NaN). Rows whose norm left `CosineRepair`'s range are computed again by the
  /// repair, as on the packed path.
  static func cosineRows(
    queryCount: Int, baseCount: Int, dimension: Int, queries: UnsafePointer<Float>, ldq: Int,
    base: UnsafePointer<Float>, ldb: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int, workers: Int
  ) {
    // Two or three queries: a padded copy on four slots, the fourth for the row itself.
    let slots = queryCount == 1 ? 0 : 4
    let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(1, slots * paddedDimension(dimension)))
    defer { copy.deallocate() }
    if slots > 0 {
      paddedQueries(queryCount: queryCount, slots: slots, dimension: dimension, queries: queries, ldq: ldq, into: copy)
    }
    let padded = UncheckedSendableBox(copy)
    var queryNorms: (Float, Float, Float) = (0, 0, 0)
    for i in 0..<queryCount {
      let norm = SIMDLevel1.sumOfSquares(dimension, queries + i * ldq).squareRoot()
      switch i {
      case 0: queryNorms.0 = norm
      case 1: queryNorms.1 = norm
      default: queryNorms.2 = norm
      }
    }
    let norms = queryNorms
    @inline(__always)
    func queryNorm(_ i: Int) -> Float { i == 0 ? norms.0 : (i == 1 ? norms.1 : norms.2) }
    let ordinaryQueries = (0..<queryCount).allSatisfy { i in queryNorm(i) >= 0x1p-60 && queryNorm(i) <= 0x1p60 }
    let output = UncheckedSendableBox(out)
    // Whether a base row's norm left `CosineRepair`'s range: noted per chunk, and only then
    // are the norms computed again for the repair. (A check per pair cost 13–25 % of a 1 ×
    // 100 000 × 128 cosine on Zen 4, keeping every norm 8–10 %.)
    let outOfRange = Atomic<Bool>(false)
    Parallel.forEachChunk(baseCount, granularity: 256, threads: workers) { range in
      var sawOutOfRange = false
      withUnsafeTemporaryAllocation(of: Float.self, capacity: cosineBlockRows) { block in
        guard let squaredNorms = block.baseAddress else { return }
        // One buffer: the rows' squared norms, replaced by their norms once a block is done.
        let norms = squaredNorms
        var start = range.lowerBound
        /// q·x / (‖q‖‖x‖) for `rows` of the current block, one row at a time.
        func divide(_ rows: Range<Int>) {
          for j in rows {
            let xNorm = norms[j - start]
            if CosineRepair.isOutOfRange(xNorm) { sawOutOfRange = true }
            for i in 0..<queryCount {
              let denominator = queryNorm(i) * xNorm
              let o = output.value + i * ldo + j
              o.pointee = denominator > 0 ? o.pointee / denominator : (denominator.isNaN ? .nan : 0)
            }
          }
        }
        while start < range.upperBound {
          let rows = start..<min(range.upperBound, start + cosineBlockRows)
          if queryCount == 1 {
            // Eight-row tiles (a block starts at a multiple of 8 rows); rows left over at the
            // end of the chunk one pair at a time.
            let rest = normTileRows(dimension: dimension, query: queries, base: base, ldb: ldb, output.value,
                                    squaredNorms: squaredNorms - start, rows: rows)
            for j in rest..<rows.upperBound {
              let x = base + j * ldb
              output.value[j] = SIMDLevel1.dot(dimension, queries, x)
              squaredNorms[j - start] = SIMDLevel1.sumOfSquares(dimension, x)
            }
          } else {
            queryRows(squared: false, queryCount: queryCount, dimension: dimension, padded: padded.value, base: base,
                      ldb: ldb, output.value, ldo: ldo, rows: rows, squaredNorms: squaredNorms - start)
          }
          // The rows' norms in place, in a plain loop (vectorised: `SIMD8.squareRoot()` is a
          // square root per lane here).
          for k in 0..<rows.count {
            let square = squaredNorms[k]
            norms[k] = (square < 0 ? 0 : square).squareRoot()
          }
          // Eight rows at a time where every norm is ordinary (the queries' and the rows'
          // within 2⁻⁶⁰ … 2⁶⁰, so no row is out of range and every product is positive and
          // finite): the scalar loop's operations lane by lane, the same values. (One query
          // from memory spent a quarter of its time in the scalar loop; SIMD compares and
          // selects compile to lane-by-lane loops here, so the test is scalar.) Other groups:
          // the scalar loop.
          var j = start
          while j + 8 <= rows.upperBound {
            let rowNorms = norms + (j - start)
            var ordinary = ordinaryQueries
            for lane in 0..<8 where !(rowNorms[lane] >= 0x1p-60 && rowNorms[lane] <= 0x1p60) { ordinary = false }
            if ordinary {
              let xNorm = UnsafeRawPointer(rowNorms).loadUnaligned(as: SIMD8<Float>.self)
              for i in 0..<queryCount {
                let o = UnsafeMutableRawPointer(output.value + i * ldo + j)
                let value = o.loadUnaligned(as: SIMD8<Float>.self) / (SIMD8(repeating: queryNorm(i)) * xNorm)
                o.storeBytes(of: value, as: SIMD8<Float>.self)
              }
            } else {
              divide(j..<j + 8)
            }
            j += 8
          }
          divide(j..<rows.upperBound)
          start = rows.upperBound
        }
      }
      if sawOutOfRange { outOfRange.store(true, ordering: .relaxed) }
    }
    CosineRepair.repair(
      queryCount: queryCount, baseCount: baseCount, dimension: dimension, queries: queries, ldq: ldq,
      base: base, ldb: ldb, queryInverseNorm: queryNorm,
      baseInverseNorm: { SIMDLevel1.sumOfSquares(dimension, base + $0 * ldb).squareRoot() },
      checkBase: outOfRange.load(ordering: .relaxed), out, ldo: ldo)
  }

  /// (q·x, q·y) in one pass: each step loads q once for both rows. Four accumulators per row,
  /// filled and folded as `SIMDLevel1.dot` fills and folds its four: each result is
  /// bit-identical to `dot` of that row. This loop and `squaredDistancePair`'s are written
  /// out twice on purpose: one generic body over a per-term protocol ran HNSW searches 2.6×
  /// slower on the AVX-512 variant (2 100–2 500 q/s against 6 000–6 700, MiniLM, ef 64).
  @inline(__always)
  static func dotPair(
    _ count: Int, _ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>
  ) -> (Float, Float) {
    var x0 = VectorF32(), x1 = VectorF32(), x2 = VectorF32(), x3 = VectorF32()
    var y0 = VectorF32(), y1 = VectorF32(), y2 = VectorF32(), y3 = VectorF32()
    var i = 0
    let step = 4 * lanes
    while i + step <= count {
      let q0 = loadVector(q + i), q1 = loadVector(q + i + lanes)
      let q2 = loadVector(q + i + 2 * lanes), q3 = loadVector(q + i + 3 * lanes)
      x0 = multiplyAdd(q0, loadVector(x + i), x0)
      y0 = multiplyAdd(q0, loadVector(y + i), y0)
      x1 = multiplyAdd(q1, loadVector(x + i + lanes), x1)
      y1 = multiplyAdd(q1, loadVector(y + i + lanes), y1)
      x2 = multiplyAdd(q2, loadVector(x + i + 2 * lanes), x2)
      y2 = multiplyAdd(q2, loadVector(y + i + 2 * lanes), y2)
      x3 = multiplyAdd(q3, loadVector(x + i + 3 * lanes), x3)
      y3 = multiplyAdd(q3, loadVector(y + i + 3 * lanes), y3)
      i += step
    }
    while i + lanes <= count {
      let q0 = loadVector(q + i)
      x0 = multiplyAdd(q0, loadVector(x + i), x0)
      y0 = multiplyAdd(q0, loadVector(y + i), y0)
      i += lanes
    }
    return (horizontalSum((x0 + x1) + (x2 + x3)) + tailDot(count - i, q + i, x + i),
            horizontalSum((y0 + y1) + (y2 + y3)) + tailDot(count - i, q + i, y + i))
  }

  /// Σ (q[i] − x[i])², four vector accumulators (the FMA latency of 4 cycles needs four
  /// independent chains to keep both FMA ports busy).
  static func squaredDistance(_ count: Int, _ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>) -> Float {
    #if ARROWHEAD_SIMD_X86_64_V4
    // Long vectors off a cache line: the same operations on aligned loads (Variant.swift).
    if runsRealigned(count, q, x) { return realignedSquaredDistance(count, q, x) }
    #endif
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var i = 0
    var t0 = VectorF32(), t1 = VectorF32(), t2 = VectorF32(), t3 = VectorF32()
    while i + 8 * lanes <= count {
      let d0 = loadVector(q + i) - loadVector(x + i)
      let d1 = loadVector(q + i + lanes) - loadVector(x + i + lanes)
      let d2 = loadVector(q + i + 2 * lanes) - loadVector(x + i + 2 * lanes)
      let d3 = loadVector(q + i + 3 * lanes) - loadVector(x + i + 3 * lanes)
      let e0 = loadVector(q + i + 4 * lanes) - loadVector(x + i + 4 * lanes)
      let e1 = loadVector(q + i + 5 * lanes) - loadVector(x + i + 5 * lanes)
      let e2 = loadVector(q + i + 6 * lanes) - loadVector(x + i + 6 * lanes)
      let e3 = loadVector(q + i + 7 * lanes) - loadVector(x + i + 7 * lanes)
      s0 = multiplyAdd(d0, d0, s0)
      s1 = multiplyAdd(d1, d1, s1)
      s2 = multiplyAdd(d2, d2, s2)
      s3 = multiplyAdd(d3, d3, s3)
      t0 = multiplyAdd(e0, e0, t0)
      t1 = multiplyAdd(e1, e1, t1)
      t2 = multiplyAdd(e2, e2, t2)
      t3 = multiplyAdd(e3, e3, t3)
      i += 8 * lanes
    }
    s0 = s0 + t0
    s1 = s1 + t1
    s2 = s2 + t2
    s3 = s3 + t3
    while i + 4 * lanes <= count {
      let d0 = loadVector(q + i) - loadVector(x + i)
      let d1 = loadVector(q + i + lanes) - loadVector(x + i + lanes)
      let d2 = loadVector(q + i + 2 * lanes) - loadVector(x + i + 2 * lanes)
      let d3 = loadVector(q + i + 3 * lanes) - loadVector(x + i + 3 * lanes)
      s0 = multiplyAdd(d0, d0, s0)
      s1 = multiplyAdd(d1, d1, s1)
      s2 = multiplyAdd(d2, d2, s2)
      s3 = multiplyAdd(d3, d3, s3)
      i += 4 * lanes
    }
    while i + lanes <= count {
      let d = loadVector(q + i) - loadVector(x + i)
      s0 = multiplyAdd(d, d, s0)
      i += lanes
    }
    var total = horizontalSum((s0 + s1) + (s2 + s3))
    while i < count {
      let d = q[i] - x[i]
      total = multiplyAdd(d, d, total)
      i += 1
    }
    return total
  }

  /// (Σ (q − x)², Σ (q − y)²) in one pass, as `dotPair`: q loaded once per step for both
  /// rows, four accumulators per row (not `squaredDistance`'s eight: the last bits can
  /// differ from it). The scalar tails run one row after the other: interleaved, the
  /// compiler packed them into two-lane shuffles that reached into the vector loop and made
  /// the kernel 2.5× slower.
  @inline(__always)
  static func squaredDistancePair(
    _ count: Int, _ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>
  ) -> (Float, Float) {
    var x0 = VectorF32(), x1 = VectorF32(), x2 = VectorF32(), x3 = VectorF32()
    var y0 = VectorF32(), y1 = VectorF32(), y2 = VectorF32(), y3 = VectorF32()
    var i = 0
    let step = 4 * lanes
    while i + step <= count {
      let q0 = loadVector(q + i), q1 = loadVector(q + i + lanes)
      let q2 = loadVector(q + i + 2 * lanes), q3 = loadVector(q + i + 3 * lanes)
      let a0 = q0 - loadVector(x + i), b0 = q0 - loadVector(y + i)
      let a1 = q1 - loadVector(x + i + lanes), b1 = q1 - loadVector(y + i + lanes)
      let a2 = q2 - loadVector(x + i + 2 * lanes), b2 = q2 - loadVector(y + i + 2 * lanes)
      let a3 = q3 - loadVector(x + i + 3 * lanes), b3 = q3 - loadVector(y + i + 3 * lanes)
      x0 = multiplyAdd(a0, a0, x0)
      y0 = multiplyAdd(b0, b0, y0)
      x1 = multiplyAdd(a1, a1, x1)
      y1 = multiplyAdd(b1, b1, y1)
      x2 = multiplyAdd(a2, a2, x2)
      y2 = multiplyAdd(b2, b2, y2)
      x3 = multiplyAdd(a3, a3, x3)
      y3 = multiplyAdd(b3, b3, y3)
      i += step
    }
    while i + lanes <= count {
      let q0 = loadVector(q + i)
      let a0 = q0 - loadVector(x + i), b0 = q0 - loadVector(y + i)
      x0 = multiplyAdd(a0, a0, x0)
      y0 = multiplyAdd(b0, b0, y0)
      i += lanes
    }
    return (horizontalSum((x0 + x1) + (x2 + x3)) + tailSquaredDistance(count - i, q + i, x + i),
            horizontalSum((y0 + y1) + (y2 + y3)) + tailSquaredDistance(count - i, q + i, y + i))
  }

  /// Σ (q[i] − x[i])² over the last `count` (< lanes) elements, one row at a time.
  @inline(__always)
  static func tailSquaredDistance(_ count: Int, _ q: UnsafePointer<Float>, _ x: UnsafePointer<Float>) -> Float {
    var total: Float = 0
    var i = 0
    while i < count {
      let d = q[i] - x[i]
      total = multiplyAdd(d, d, total)
      i += 1
    }
    return total
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    SIMDDistances.squaredDistance(count, x, y)
  }

  public static var squaredDistanceFunction: PairReductionFunction {
    { count, x, y in SIMDDistances.squaredDistance(count, x, y) }
  }

  public static func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    SIMDDistances.run(
      metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
      queries: queries, ldq: ldq, base: base, ldb: ldb, queryNorms: queryNorms, baseNorms: baseNorms,
      out, ldo: ldo, threads: threads)
  }
}
