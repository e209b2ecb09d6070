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
// loading a row vector again for each: two loads per multiply–add, and a base row's second
// load came from L1 only because the tile was small. Zen 4, AVX-512 variant, 1 thread,
// GFLOP/s, eight-row tiles or packed path → query rows (best of 2–3 runs alternating the
// builds): squared L2 2 × 1 024 × 128 35.7 → 48.5, 2 × 100 000 × 128 26.3 → 29.2, 3 × 3 000 ×
// 384 33.4 → 53.6, 4 × 1 024 × 128 31.9 → 65.1, 7 × 100 000 × 128 31.2 → 43.8, 8 × 1 024 ×
// 128 40.2 → 67.7 (packed), 8 × 100 000 × 128 17.3 → 63.4 (packed), 8 × 400 000 × 50 18.0
// → 41.2 (packed); inner products 2 × 20 000 × 50 24.0 → 35.3, 3 × 400 000 × 50 23.7 →
// 32.2, 6 × 400 000 × 50 32.0 → 37.7 (packed), 8 × 30 000 × 384 28.8 → 56.2.
import ArrowheadCore

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
    let lanes = SIMDGemm.floatCount(V.self)
    let vectors = dimension / lanes
    let tail = dimension - vectors * lanes
    // A row's last partial vector: with a whole vector before it, the `lanes` floats ending
    // at the row's end with the lanes counted already masked to 0 (in the row and in the
    // query, so that (0 − 0)² and 0·0 add nothing); otherwise lane by lane.
    let endAligned = vectors > 0
    let tailMask = V.tailMask(endAligned: endAligned, tail: tail)

    @inline(__always)
    func tailVector(_ row: UnsafePointer<Float>) -> V {
      endAligned
        ? V.keeping(V.load(row + dimension - lanes), where: tailMask)
        : SIMDGemv.loadPartial(row, count: tail, V.self)
    }

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
}

// MARK: - Several queries per row

extension SIMDDistances {
  /// Most queries `queryRows` takes at once.
  static let queryRowsLimit = 8

  /// Query slots of `queryRows`: two queries take two (four chains each), three or four take
  /// four (two chains each), five to eight take eight (one chain each); eight accumulators in
  /// every case, enough to cover the latency of the multiply–adds. (Three queries on four
  /// slots beat the eight-row tiles everywhere measured, and five on eight: 5 × 1 024 × 50
  /// 27.2 → 31.8, 5 × 400 000 × 50 26.6 → 29.0.)
  static func querySlots(_ queryCount: Int) -> Int { queryCount <= 2 ? 2 : (queryCount <= 4 ? 4 : 8) }

  /// Floats per vector of `queryRows` on this CPU (256-bit vectors where the AVX-512 variant's
  /// 512-bit instructions are split, as `tileRows` does).
  static var queryRowLanes: Int {
    lanes >= 16 && wideVectorsAreSplit ? 8 : SIMDGemm.floatCount(VectorF32.self)
  }

  /// Floats of the copy `interleavedQueries` writes for `slots` query slots.
  static func interleavedCount(slots: Int, dimension: Int) -> Int {
    let lanes = queryRowLanes
    return (dimension + lanes - 1) / lanes * lanes * slots
  }

  /// Copies `queryCount` queries for `queryRows` (vectors of `queryRowLanes` floats): vector v
  /// of slot i at (v · slots + i) · lanes, so that one row vector's partners are side by side
  /// at fixed offsets. A query's last partial vector is stored as `queryRows` loads a base
  /// row's (the vector ending at the row's end with the lanes counted already set to 0, or the
  /// first `tail` floats, zeros after them), making it one plain load per base row; slots past
  /// `queryCount` are zero (their sums are computed and not stored).
  static func interleavedQueries(
    queryCount: Int, slots: Int, dimension: Int, queries: UnsafePointer<Float>, ldq: Int,
    into copy: UnsafeMutablePointer<Float>
  ) {
    let lanes = queryRowLanes
    let vectors = dimension / lanes, tail = dimension - vectors * lanes
    copy.initialize(repeating: 0, count: interleavedCount(slots: slots, dimension: dimension))
    for i in 0..<queryCount {
      let q = queries + i * ldq
      for v in 0..<vectors { (copy + (v * slots + i) * lanes).update(from: q + v * lanes, count: lanes) }
      guard tail > 0 else { continue }
      let last = copy + (vectors * slots + i) * lanes
      if vectors > 0 {
        (last + lanes - tail).update(from: q + dimension - tail, count: tail)
      } else {
        last.update(from: q, count: tail)
      }
    }
  }

  /// out[i·ldo + j] = ‖qᵢ − xⱼ‖² (`squared`) or qᵢ·xⱼ for the 2–8 queries of `queries`
  /// (`interleavedQueries`, `querySlots(queryCount)` slots) and every base row j in `rows`:
  /// one row after another in memory order, each vector of a row loaded once for all the
  /// queries, the slots' sums reduced together. Each value depends on its query and base row
  /// only. (Software prefetch of the rows 2–8 KiB ahead changed nothing past the caches.)
  static func queryRows(
    squared: Bool, queryCount: Int, dimension: Int, queries: UnsafePointer<Float>,
    base: UnsafePointer<Float>, ldb: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int, rows: Range<Int>
  ) {
    if lanes >= 16 && wideVectorsAreSplit {
      if squared {
        queryRowsOn(SIMD8<Float>.self, squared: true, queryCount, dimension, queries, base, ldb, out, ldo, rows)
      } else {
        queryRowsOn(SIMD8<Float>.self, squared: false, queryCount, dimension, queries, base, ldb, out, ldo, rows)
      }
      return
    }
    if squared {
      queryRowsOn(VectorF32.self, squared: true, queryCount, dimension, queries, base, ldb, out, ldo, rows)
    } else {
      queryRowsOn(VectorF32.self, squared: false, queryCount, dimension, queries, base, ldb, out, ldo, rows)
    }
  }

  /// `queryRows` on vectors `V`; `squared` is a constant at each call.
  @inline(__always)
  static func queryRowsOn<V: GemvAccumulator>(
    _: V.Type, squared: Bool, _ queryCount: Int, _ dimension: Int, _ queries: UnsafePointer<Float>,
    _ base: UnsafePointer<Float>, _ ldb: Int, _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Range<Int>
  ) {
    let lanes = SIMDGemm.floatCount(V.self)
    let vectors = dimension / lanes
    let tail = dimension - vectors * lanes
    let endAligned = vectors > 0
    let tailMask = V.tailMask(endAligned: endAligned, tail: tail)

    @inline(__always)
    func rowTail(_ row: UnsafePointer<Float>) -> V {
      endAligned
        ? V.keeping(V.load(row + dimension - lanes), where: tailMask)
        : SIMDGemv.loadPartial(row, count: tail, V.self)
    }

    /// The sum plus the term of row vector x and slot `slot`'s vector at q.
    @inline(__always)
    func term(_ x: V, _ q: UnsafePointer<Float>, _ slot: Int, _ sum: V) -> V {
      let y = V.load(q + slot * lanes)
      if squared {
        let difference = x - y
        return multiplyAddNarrow(difference, difference, sum)
      }
      return multiplyAddNarrow(x, y, sum)
    }

    if queryCount == 2 {
      // Two queries on four chains each; a pair of slots is 2 · lanes floats per vector.
      let step = 2 * lanes
      for j in rows {
        let row = base + j * ldb
        var a0 = V(), a1 = V(), b0 = V(), b1 = V(), c0 = V(), c1 = V(), d0 = V(), d1 = V()
        var k = 0, v = 0, q = queries
        while v + 4 <= vectors {
          let x = V.load(row + k), y = V.load(row + k + lanes)
          let z = V.load(row + k + 2 * lanes), w = V.load(row + k + 3 * lanes)
          a0 = term(x, q, 0, a0); a1 = term(x, q, 1, a1)
          b0 = term(y, q + step, 0, b0); b1 = term(y, q + step, 1, b1)
          c0 = term(z, q + 2 * step, 0, c0); c1 = term(z, q + 2 * step, 1, c1)
          d0 = term(w, q + 3 * step, 0, d0); d1 = term(w, q + 3 * step, 1, d1)
          k += 4 * lanes
          q += 4 * step
          v += 4
        }
        while v < vectors {
          let x = V.load(row + k)
          a0 = term(x, q, 0, a0); a1 = term(x, q, 1, a1)
          k += lanes
          q += step
          v += 1
        }
        if tail > 0 {
          let x = rowTail(row)
          b0 = term(x, q, 0, b0); b1 = term(x, q, 1, b1)
        }
        let sums = V.reduceFour((a0 + b0) + (c0 + d0), (a1 + b1) + (c1 + d1), V(), V())
        out[j] = sums[0]
        out[ldo + j] = sums[1]
      }
      return
    }
    if queryCount <= 4 {
      // Three or four queries on two chains each (even and odd vectors of the row).
      let step = 4 * lanes
      for j in rows {
        let row = base + j * ldb
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V()
        var k = 0, v = 0, q = queries
        while v + 2 <= vectors {
          let x = V.load(row + k), y = V.load(row + k + lanes)
          a0 = term(x, q, 0, a0); b0 = term(y, q + step, 0, b0)
          a1 = term(x, q, 1, a1); b1 = term(y, q + step, 1, b1)
          a2 = term(x, q, 2, a2); b2 = term(y, q + step, 2, b2)
          a3 = term(x, q, 3, a3); b3 = term(y, q + step, 3, b3)
          k += 2 * lanes
          q += 2 * step
          v += 2
        }
        if v < vectors {
          let x = V.load(row + k)
          a0 = term(x, q, 0, a0); a1 = term(x, q, 1, a1); a2 = term(x, q, 2, a2); a3 = term(x, q, 3, a3)
          q += step
        }
        if tail > 0 {
          let x = rowTail(row)
          b0 = term(x, q, 0, b0); b1 = term(x, q, 1, b1); b2 = term(x, q, 2, b2); b3 = term(x, q, 3, b3)
        }
        let sums = V.reduceFour(a0 + b0, a1 + b1, a2 + b2, a3 + b3)
        let o = out + j
        o[0] = sums[0]
        o[ldo] = sums[1]
        o[2 * ldo] = sums[2]
        if queryCount > 3 { o[3 * ldo] = sums[3] }
      }
      return
    }
    // Five to eight queries on one chain each.
    let step = 8 * lanes
    for j in rows {
      let row = base + j * ldb
      var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
      var k = 0, q = queries
      for _ in 0..<vectors {
        let x = V.load(row + k)
        a0 = term(x, q, 0, a0); a1 = term(x, q, 1, a1); a2 = term(x, q, 2, a2); a3 = term(x, q, 3, a3)
        a4 = term(x, q, 4, a4); a5 = term(x, q, 5, a5); a6 = term(x, q, 6, a6); a7 = term(x, q, 7, a7)
        k += lanes
        q += step
      }
      if tail > 0 {
        let x = rowTail(row)
        a0 = term(x, q, 0, a0); a1 = term(x, q, 1, a1); a2 = term(x, q, 2, a2); a3 = term(x, q, 3, a3)
        a4 = term(x, q, 4, a4); a5 = term(x, q, 5, a5); a6 = term(x, q, 6, a6); a7 = term(x, q, 7, a7)
      }
      let sums = V.reduceEight(a0, a1, a2, a3, a4, a5, a6, a7)
      let o = out + j
      o[0] = sums[0]
      o[ldo] = sums[1]
      o[2 * ldo] = sums[2]
      o[3 * ldo] = sums[3]
      o[4 * ldo] = sums[4]
      if queryCount > 5 { o[5 * ldo] = sums[5] }
      if queryCount > 6 { o[6 * ldo] = sums[6] }
      if queryCount > 7 { o[7 * ldo] = sums[7] }
    }
  }
}
