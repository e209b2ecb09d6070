// The direct path's squared L2 and inner products, in memory order over the base.
//
// One query: base rows taken eight at a time (`tileRows`). The direct kernel computed one
// pair per call (`squaredDistance`, `SIMDLevel1.dot`): a whole reduction and a return per
// base row. Past the caches that read a base at 10–22 GB/s where a pass over eight
// consecutive rows, with the eight sums reduced together (`GemvAccumulator.reduceEight`, the
// A·x gemv's in-order pass), reads at 25–30 (AMD Zen 4, 1 thread); in the caches the tiles
// run 2–3× the pairs' speed.
//
// Two to eight queries: one base row at a time against all of them (`queryRows`), each
// vector of the row loaded once. The eight-row tiles took the queries one after another,
// loading a row vector again for each: two loads per multiply–add. Zen 4, AVX-512 variant,
// 1 thread, GFLOP/s, eight-row tiles or packed path → query rows (best of three runs
// alternating the builds; the whole table in Sources/ArrowheadCore/README.md, "Two to
// eight queries"): squared L2 4 × 1 024 × 128 41.7 → 62.4, 4 × 100 000 × 128 34.9 → 49.4,
// 8 × 100 000 × 128 17.0 → 61.2 (packed), 8 × 400 000 × 50 19.0 → 49.3 (packed); inner
// products 2 × 20 000 × 50 24.9 → 35.3, 8 × 30 000 × 384 29.2 → 65.1. Two queries from
// memory at 128 dimensions are ~10 % behind the tiles (2 × 100 000 × 128 27.5 → 25.2).
//
// Cosine of one to three queries: the same passes with each row's ‖x‖² from the same loads
// (`normTileRows` for one query, the fourth slot of `queryRows` for two or three).
import ArrowheadCore

/// A row of `dimension` floats on vectors `V`, as both kernels of this file walk it: its
/// whole vectors, then its last partial vector (`tail` > 0 floats), loaded as the `lanes`
/// floats ending at the row's end with the lanes counted already set to 0 when a whole
/// vector precedes it (in the row and in the query, so that (0 − 0)² and 0·0 add nothing),
/// otherwise lane by lane.
struct DistanceRowShape<V: GemvAccumulator> {
  let dimension: Int, lanes: Int, vectors: Int, tail: Int
  let endAligned: Bool
  let tailMask: SIMDMask<V.MaskStorage>

  @inline(__always)
  init(dimension: Int) {
    self.dimension = dimension
    lanes = SIMDGemm.floatCount(V.self)
    vectors = dimension / lanes
    tail = dimension - vectors * lanes
    endAligned = vectors > 0
    tailMask = V.tailMask(endAligned: endAligned, tail: tail)
  }

  /// The last partial vector of the row at `row`.
  @inline(__always)
  func lastPartialVector(_ row: UnsafePointer<Float>) -> V {
    endAligned
      ? V.keeping(V.load(row + dimension - lanes), where: tailMask)
      : SIMDGemv.loadPartial(row, count: tail, V.self)
  }
}

extension SIMDDistances {
  /// Base rows per tile.
  static let rowsPerTile = 8

  /// out[j] = ‖q − xⱼ‖² (`squared`) or q·xⱼ for the whole tiles of eight rows in `rows`;
  /// returns where the rows left over (< 8) begin. Each value depends on its base row only
  /// (not on `rows`' bounds).
  static func tileRows(
    squared: Bool, dimension: Int, query: UnsafePointer<Float>,
    base: UnsafePointer<Float>, ldb: Int, _ out: UnsafeMutablePointer<Float>, rows: Range<Int>
  ) -> Int {
    // The AVX-512 variant on 256-bit vectors where 512-bit instructions are split (Zen 4),
    // as the gemv does.
    if lanes >= 16 && wideVectorsAreSplit {
      if squared {
        return tiles(SIMD8<Float>.self, squared: true, dimension, query, base, ldb, out, rows)
      }
      return tiles(SIMD8<Float>.self, squared: false, dimension, query, base, ldb, out, rows)
    }
    if squared {
      return tiles(VectorF32.self, squared: true, dimension, query, base, ldb, out, rows)
    }
    return tiles(VectorF32.self, squared: false, dimension, query, base, ldb, out, rows)
  }

  /// `tileRows` on vectors `V`; `squared` is a constant at each call.
  @inline(__always)
  static func tiles<V: GemvAccumulator>(
    _: V.Type, squared: Bool, _ dimension: Int, _ query: UnsafePointer<Float>,
    _ base: UnsafePointer<Float>, _ ldb: Int, _ out: UnsafeMutablePointer<Float>, _ rows: Range<Int>
  ) -> Int {
    let shape = DistanceRowShape<V>(dimension: dimension)
    let lanes = shape.lanes, vectors = shape.vectors, tail = shape.tail
    let tailVector = shape.lastPartialVector

    @inline(__always)
    func term(_ x: V, _ q: V, _ sum: V) -> V {
      if squared {
        let difference = x - q
        return multiplyAddNarrow(difference, difference, sum)
      }
      return multiplyAddNarrow(x, q, sum)
    }

    /// One row against one query on two chains (even and odd vectors).
    @inline(__always)
    func rowSum(_ row: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ qTail: V) -> V {
      var s = V(), t = V()
      var j = 0, v = 0
      while v + 2 <= vectors {
        s = term(V.load(row + j), V.load(q + j), s)
        t = term(V.load(row + j + lanes), V.load(q + j + lanes), t)
        j += 2 * lanes
        v += 2
      }
      if v < vectors { s = term(V.load(row + j), V.load(q + j), s) }
      if tail > 0 { t = term(tailVector(row), qTail, t) }
      return s + t
    }

    let q = query
    let qTail = tail > 0 ? tailVector(q) : V()
    var j = rows.lowerBound
    while rows.upperBound - j >= rowsPerTile {
      let r0 = base + j * ldb
      let sums = V.reduceEight(
        rowSum(r0, q, qTail), rowSum(r0 + ldb, q, qTail), rowSum(r0 + 2 * ldb, q, qTail),
        rowSum(r0 + 3 * ldb, q, qTail), rowSum(r0 + 4 * ldb, q, qTail), rowSum(r0 + 5 * ldb, q, qTail),
        rowSum(r0 + 6 * ldb, q, qTail), rowSum(r0 + 7 * ldb, q, qTail))
      UnsafeMutableRawPointer(out + j).storeBytes(of: sums, as: SIMD8<Float>.self)
      j += rowsPerTile
    }
    return j
  }

  /// out[j] = q·xⱼ and squaredNorms[j] = ‖xⱼ‖² (for cosine) for the whole tiles of eight
  /// rows in `rows`, each row's two sums from the same loads; returns where the rows left
  /// over (< 8) begin. Its own loop: the inner-product tiles given a second pair of sums
  /// behind a constant flag ran 5–20 % slower without them (Zen 4, 2 threads, 1 × 20 000 ×
  /// 128 inner products 48 → 39 GFLOP/s).
  static func normTileRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, ldb: Int,
    _ out: UnsafeMutablePointer<Float>, squaredNorms: UnsafeMutablePointer<Float>, rows: Range<Int>
  ) -> Int {
    if lanes >= 16 && wideVectorsAreSplit {
      return normTiles(SIMD8<Float>.self, dimension, query, base, ldb, out, squaredNorms, rows)
    }
    return normTiles(VectorF32.self, dimension, query, base, ldb, out, squaredNorms, rows)
  }

  /// `normTileRows` on vectors `V`.
  @inline(__always)
  static func normTiles<V: GemvAccumulator>(
    _: V.Type, _ dimension: Int, _ query: UnsafePointer<Float>, _ base: UnsafePointer<Float>, _ ldb: Int,
    _ out: UnsafeMutablePointer<Float>, _ norms: UnsafeMutablePointer<Float>, _ rows: Range<Int>
  ) -> Int {
    let shape = DistanceRowShape<V>(dimension: dimension)
    let lanes = shape.lanes, vectors = shape.vectors, tail = shape.tail

    /// One row's q·x and x·x, each on two chains (even and odd vectors).
    @inline(__always)
    func rowSums(_ row: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ qTail: V) -> (V, V) {
      var s = V(), t = V(), n = V(), m = V()
      var j = 0, v = 0
      while v + 2 <= vectors {
        let x = V.load(row + j), y = V.load(row + j + lanes)
        s = multiplyAddNarrow(x, V.load(q + j), s); n = multiplyAddNarrow(x, x, n)
        t = multiplyAddNarrow(y, V.load(q + j + lanes), t); m = multiplyAddNarrow(y, y, m)
        j += 2 * lanes
        v += 2
      }
      if v < vectors {
        let x = V.load(row + j)
        s = multiplyAddNarrow(x, V.load(q + j), s); n = multiplyAddNarrow(x, x, n)
      }
      if tail > 0 {
        let x = shape.lastPartialVector(row)
        t = multiplyAddNarrow(x, qTail, t); m = multiplyAddNarrow(x, x, m)
      }
      return (s + t, n + m)
    }

    let q = query
    let qTail = tail > 0 ? shape.lastPartialVector(q) : V()
    var j = rows.lowerBound
    while rows.upperBound - j >= rowsPerTile {
      let r0 = base + j * ldb
      let (s0, n0) = rowSums(r0, q, qTail), (s1, n1) = rowSums(r0 + ldb, q, qTail)
      let (s2, n2) = rowSums(r0 + 2 * ldb, q, qTail), (s3, n3) = rowSums(r0 + 3 * ldb, q, qTail)
      let (s4, n4) = rowSums(r0 + 4 * ldb, q, qTail), (s5, n5) = rowSums(r0 + 5 * ldb, q, qTail)
      let (s6, n6) = rowSums(r0 + 6 * ldb, q, qTail), (s7, n7) = rowSums(r0 + 7 * ldb, q, qTail)
      UnsafeMutableRawPointer(out + j).storeBytes(of: V.reduceEight(s0, s1, s2, s3, s4, s5, s6, s7), as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(norms + j).storeBytes(
        of: V.reduceEight(n0, n1, n2, n3, n4, n5, n6, n7), as: SIMD8<Float>.self)
      j += rowsPerTile
    }
    return j
  }
}

// MARK: - Several queries per row

extension SIMDDistances {
  /// Most queries `queryRows` takes at once.
  static let queryRowsLimit = 8

  /// Groups of at most `queryRowsLimit` queries that `queryRows` takes for `queryCount`
  /// (≥ 2) queries.
  static func queryGroupCount(_ queryCount: Int) -> Int { (queryCount + queryRowsLimit - 1) / queryRowsLimit }

  /// The first query and the number of queries of group `group`: eight each, the rest in
  /// the last, except that a last group of one (which `queryRows` does not take) borrows a
  /// query from the group before it (… 8, 7, 2).
  static func queryGroup(_ group: Int, of queryCount: Int) -> (first: Int, count: Int) {
    let groups = queryGroupCount(queryCount)
    let last = queryCount - queryRowsLimit * (groups - 1)
    if last == 1 && group >= groups - 2 {
      return group == groups - 1 ? (queryCount - 2, 2) : (group * queryRowsLimit, queryRowsLimit - 1)
    }
    return (group * queryRowsLimit, group == groups - 1 ? last : queryRowsLimit)
  }

  /// Query slots of `queryRows`: two queries take two (four chains each), three or four take
  /// four (two chains each), five to eight take eight (one chain each); eight accumulators in
  /// every case, enough to cover the latency of the multiply–adds. (Three queries on four
  /// slots beat the eight-row tiles everywhere measured, and five on eight: 5 × 1 024 × 50
  /// 27.2 → 31.8, 5 × 400 000 × 50 26.6 → 29.0.)
  static func querySlots(_ queryCount: Int) -> Int { queryCount <= 2 ? 2 : (queryCount <= 4 ? 4 : 8) }

  /// Floats per query in the padded copy `paddedQueries` writes: the whole vectors of the
  /// widest vector type, then the last partial one.
  static func paddedDimension(_ dimension: Int) -> Int {
    let lanes = SIMDGemm.floatCount(VectorF32.self)
    return (dimension + lanes - 1) / lanes * lanes
  }

  /// Copies `queryCount` queries into `slots` rows of `paddedDimension(dimension)` floats for
  /// `queryRows` on vectors of `queryRowLanes` floats: each query's whole vectors, then its
  /// last partial vector as `queryRows` loads a base row's (the vector ending at the row's
  /// end with the lanes counted already set to 0, or the first `tail` floats), zeros after
  /// it; slots past `queryCount` are zero (their sums are computed and not stored). A query's
  /// tail is then one aligned load per base row instead of a masked one.
  static func paddedQueries(
    queryCount: Int, slots: Int, dimension: Int, queries: UnsafePointer<Float>, ldq: Int,
    into padded: UnsafeMutablePointer<Float>
  ) {
    let stride = paddedDimension(dimension)
    let lanes = queryRowLanes
    let vectors = dimension / lanes, tail = dimension - vectors * lanes
    padded.initialize(repeating: 0, count: slots * stride)
    for i in 0..<queryCount {
      let q = queries + i * ldq, row = padded + i * stride
      row.update(from: q, count: vectors * lanes)
      guard tail > 0 else { continue }
      if vectors > 0 {
        for lane in (lanes - tail)..<lanes { row[vectors * lanes + lane] = q[dimension - lanes + lane] }
      } else {
        row.update(from: q, count: tail)
      }
    }
  }

  /// Floats per vector of `queryRows` on this CPU (256-bit vectors where the AVX-512 variant's
  /// 512-bit instructions are split, as `tileRows` does).
  static var queryRowLanes: Int {
    lanes >= 16 && wideVectorsAreSplit ? 8 : SIMDGemm.floatCount(VectorF32.self)
  }

  /// out[i·ldo + j] = ‖qᵢ − xⱼ‖² (`squared`) or qᵢ·xⱼ for the 2–8 queries of `padded`
  /// (`paddedQueries`, `querySlots(queryCount)` slots) and every base row j in `rows`: one row
  /// after another in memory order, each vector of a row loaded once for all the queries,
  /// the query slots' sums reduced together. Each value depends on its query and base row
  /// only. Tried and not kept: software prefetch of the rows 2–8 KiB ahead (no change past
  /// the caches); the queries interleaved vector by vector (slot i's vector v at (v · slots
  /// + i) · lanes, one pointer at fixed offsets), even in the caches and slower past them
  /// (Zen 4, 8 × 30 000 × 384 inner products 58.0 → 33.0 GFLOP/s, 4 × 100 000 × 128 squared
  /// L2 46.9 → 38.5).
  ///
  /// With `squaredNorms` (inner products of two or three queries, for cosine; `padded` has
  /// four slots): the fourth query slot takes the row against itself and writes ‖xⱼ‖² to
  /// `squaredNorms[j]`, from the same loads.
  static func queryRows(
    squared: Bool, queryCount: Int, dimension: Int, padded: UnsafePointer<Float>,
    base: UnsafePointer<Float>, ldb: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int, rows: Range<Int>,
    squaredNorms: UnsafeMutablePointer<Float>? = nil
  ) {
    let norms = squaredNorms ?? out
    if lanes >= 16 && wideVectorsAreSplit {
      if squaredNorms != nil {
        queryRowsOn(SIMD8<Float>.self, squared: false, selfSlot: true, queryCount, dimension, padded, base, ldb, out, ldo,
                    norms, rows)
      } else if squared {
        queryRowsOn(SIMD8<Float>.self, squared: true, selfSlot: false, queryCount, dimension, padded, base, ldb, out, ldo,
                    norms, rows)
      } else {
        queryRowsOn(SIMD8<Float>.self, squared: false, selfSlot: false, queryCount, dimension, padded, base, ldb, out,
                    ldo, norms, rows)
      }
      return
    }
    if squaredNorms != nil {
      queryRowsOn(VectorF32.self, squared: false, selfSlot: true, queryCount, dimension, padded, base, ldb, out, ldo,
                  norms, rows)
    } else if squared {
      queryRowsOn(VectorF32.self, squared: true, selfSlot: false, queryCount, dimension, padded, base, ldb, out, ldo,
                  norms, rows)
    } else {
      queryRowsOn(VectorF32.self, squared: false, selfSlot: false, queryCount, dimension, padded, base, ldb, out, ldo,
                  norms, rows)
    }
  }

  /// `queryRows` on vectors `V`; `squared` and `selfSlot` (slot 3 of four takes the row
  /// against itself, into `norms`) are constants at each call.
  @inline(__always)
  static func queryRowsOn<V: GemvAccumulator>(
    _: V.Type, squared: Bool, selfSlot: Bool, _ queryCount: Int, _ dimension: Int, _ padded: UnsafePointer<Float>,
    _ base: UnsafePointer<Float>, _ ldb: Int, _ out: UnsafeMutablePointer<Float>, _ ldo: Int,
    _ norms: UnsafeMutablePointer<Float>, _ rows: Range<Int>
  ) {
    let shape = DistanceRowShape<V>(dimension: dimension)
    let lanes = shape.lanes, vectors = shape.vectors, tail = shape.tail
    let stride = paddedDimension(dimension)
    let rowTail = shape.lastPartialVector

    @inline(__always)
    func term(_ x: V, _ q: UnsafePointer<Float>, _ sum: V) -> V {
      if squared {
        let difference = x - V.load(q)
        return multiplyAddNarrow(difference, difference, sum)
      }
      return multiplyAddNarrow(x, V.load(q), sum)
    }

    /// `term` of slot 3: x·x where it is the self slot.
    @inline(__always)
    func lastTerm(_ x: V, _ q: UnsafePointer<Float>, _ sum: V) -> V {
      selfSlot ? multiplyAddNarrow(x, x, sum) : term(x, q, sum)
    }

    let q0 = padded, q1 = padded + stride, q2 = padded + 2 * stride, q3 = padded + 3 * stride
    if queryCount == 2 && !selfSlot {
      // Two queries on four chains each.
      for j in rows {
        let row = base + j * ldb
        var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V(), d0 = V(), d1 = V()
        var k = 0, v = 0
        while v + 4 <= vectors {
          let x = V.load(row + k), y = V.load(row + k + lanes)
          let z = V.load(row + k + 2 * lanes), w = V.load(row + k + 3 * lanes)
          a0 = term(x, q0 + k, a0); a1 = term(x, q1 + k, a1)
          b0 = term(y, q0 + k + lanes, b0); b1 = term(y, q1 + k + lanes, b1)
          c0 = term(z, q0 + k + 2 * lanes, c0); c1 = term(z, q1 + k + 2 * lanes, c1)
          d0 = term(w, q0 + k + 3 * lanes, d0); d1 = term(w, q1 + k + 3 * lanes, d1)
          k += 4 * lanes
          v += 4
        }
        while v < vectors {
          let x = V.load(row + k)
          a0 = term(x, q0 + k, a0); a1 = term(x, q1 + k, a1)
          k += lanes
          v += 1
        }
        if tail > 0 {
          let x = rowTail(row)
          b0 = term(x, q0 + k, b0); b1 = term(x, q1 + k, b1)
        }
        let sums = V.reduceFour((a0 + b0) + (c0 + d0), (a1 + b1) + (c1 + d1), V(), V())
        out[j] = sums[0]
        out[ldo + j] = sums[1]
      }
      return
    }
    if queryCount <= 4 {
      // Four queries on two chains each (even and odd vectors of the row).
      for j in rows {
        let row = base + j * ldb
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V()
        var k = 0, v = 0
        while v + 2 <= vectors {
          let x = V.load(row + k), y = V.load(row + k + lanes)
          a0 = term(x, q0 + k, a0); b0 = term(y, q0 + k + lanes, b0)
          a1 = term(x, q1 + k, a1); b1 = term(y, q1 + k + lanes, b1)
          a2 = term(x, q2 + k, a2); b2 = term(y, q2 + k + lanes, b2)
          a3 = lastTerm(x, q3 + k, a3); b3 = lastTerm(y, q3 + k + lanes, b3)
          k += 2 * lanes
          v += 2
        }
        if v < vectors {
          let x = V.load(row + k)
          a0 = term(x, q0 + k, a0); a1 = term(x, q1 + k, a1); a2 = term(x, q2 + k, a2); a3 = lastTerm(x, q3 + k, a3)
          k += lanes
        }
        if tail > 0 {
          let x = rowTail(row)
          b0 = term(x, q0 + k, b0); b1 = term(x, q1 + k, b1); b2 = term(x, q2 + k, b2); b3 = lastTerm(x, q3 + k, b3)
        }
        let sums = V.reduceFour(a0 + b0, a1 + b1, a2 + b2, a3 + b3)
        let o = out + j
        o[0] = sums[0]
        o[ldo] = sums[1]
        if queryCount > 2 { o[2 * ldo] = sums[2] }
        if selfSlot { norms[j] = sums[3] } else if queryCount > 3 { o[3 * ldo] = sums[3] }
      }
      return
    }
    let q4 = padded + 4 * stride, q5 = padded + 5 * stride, q6 = padded + 6 * stride, q7 = padded + 7 * stride
    for j in rows {
      let row = base + j * ldb
      var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
      var k = 0
      for _ in 0..<vectors {
        let x = V.load(row + k)
        a0 = term(x, q0 + k, a0); a1 = term(x, q1 + k, a1); a2 = term(x, q2 + k, a2); a3 = term(x, q3 + k, a3)
        a4 = term(x, q4 + k, a4); a5 = term(x, q5 + k, a5); a6 = term(x, q6 + k, a6); a7 = term(x, q7 + k, a7)
        k += lanes
      }
      if tail > 0 {
        let x = rowTail(row)
        a0 = term(x, q0 + k, a0); a1 = term(x, q1 + k, a1); a2 = term(x, q2 + k, a2); a3 = term(x, q3 + k, a3)
        a4 = term(x, q4 + k, a4); a5 = term(x, q5 + k, a5); a6 = term(x, q6 + k, a6); a7 = term(x, q7 + k, a7)
      }
      let sums = V.reduceEight(a0, a1, a2, a3, a4, a5, a6, a7)
      let o = out + j
      for i in 0..<queryCount { o[i * ldo] = sums[i] }
    }
  }
}
