// The direct path's squared L2 and inner products (one to three queries) on base rows taken
// eight at a time, in memory order.
//
// The direct kernel computed one pair per call (`squaredDistance`, `SIMDLevel1.dot`): a
// whole reduction and a return per base row. Past the caches that read a base at 10–22 GB/s
// where a pass over eight consecutive rows, with the eight sums reduced together
// (`GemvAccumulator.reduceEight`, the A·x gemv's in-order pass), reads at 25–30 (AMD Zen 4,
// 1 thread); in the caches the tiles run 2–3× the pairs' speed.
import ArrowheadCore

extension SIMDDistances {
  /// Base rows per tile.
  static let rowsPerTile = 8

  /// out[i·ldo + j] = ‖qᵢ − xⱼ‖² (`squared`) or qᵢ·xⱼ for every query i < `queryCount` and the
  /// whole tiles of eight rows in `rows`; returns where the rows left over (< 8) begin.
  /// Each value depends on its query and base row only (not on `rows`' bounds).
  static func tileRows(
    squared: Bool, queryCount: Int, dimension: Int, queries: UnsafePointer<Float>, ldq: Int,
    base: UnsafePointer<Float>, ldb: Int, _ out: UnsafeMutablePointer<Float>, ldo: Int, rows: Range<Int>
  ) -> Int {
    // The AVX-512 variant on 256-bit vectors where 512-bit instructions are split (Zen 4),
    // as the gemv does.
    if lanes >= 16 && wideVectorsAreSplit {
      if squared {
        return tiles(SIMD8<Float>.self, squared: true, queryCount, dimension, queries, ldq, base, ldb, out, ldo, rows)
      }
      return tiles(SIMD8<Float>.self, squared: false, queryCount, dimension, queries, ldq, base, ldb, out, ldo, rows)
    }
    if squared {
      return tiles(VectorF32.self, squared: true, queryCount, dimension, queries, ldq, base, ldb, out, ldo, rows)
    }
    return tiles(VectorF32.self, squared: false, queryCount, dimension, queries, ldq, base, ldb, out, ldo, rows)
  }

  /// `tileRows` on vectors `V`; `squared` is a constant at each call.
  @inline(__always)
  static func tiles<V: GemvAccumulator>(
    _: V.Type, squared: Bool, _ queryCount: Int, _ dimension: Int, _ queries: UnsafePointer<Float>, _ ldq: Int,
    _ base: UnsafePointer<Float>, _ ldb: Int, _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Range<Int>
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

    var j = rows.lowerBound
    while rows.upperBound - j >= rowsPerTile {
      let r0 = base + j * ldb
      for i in 0..<queryCount {
        let q = queries + i * ldq
        let qTail = tail > 0 ? tailVector(q) : V()
        let sums = V.reduceEight(
          rowSum(r0, q, qTail), rowSum(r0 + ldb, q, qTail), rowSum(r0 + 2 * ldb, q, qTail),
          rowSum(r0 + 3 * ldb, q, qTail), rowSum(r0 + 4 * ldb, q, qTail), rowSum(r0 + 5 * ldb, q, qTail),
          rowSum(r0 + 6 * ldb, q, qTail), rowSum(r0 + 7 * ldb, q, qTail))
        UnsafeMutableRawPointer(out + i * ldo + j).storeBytes(of: sums, as: SIMD8<Float>.self)
      }
      j += rowsPerTile
    }
    return j
  }
}
