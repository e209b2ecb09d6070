// Small products (m·n·k ≤ SIMDGemm.smallWork, e.g. every dimension ≤ 64) of the SIMD
// backend: no packing, no heap. The micro-kernel reads A through six row pointers and B
// rows in place; only an operand that is transposed, or a ragged last column block of B,
// is copied into a zero-padded stack buffer. For such sizes the blocked path's packing and
// allocation cost as much as the arithmetic, and so does a BLAS library's call overhead.
import ArrowheadCore
import CArrowheadCPU

/// Whether this CPU executes each 512-bit vector instruction as two 256-bit halves, so that
/// a narrow product gains nothing from 512-bit vectors and pays double for their
/// broadcasts and idle lanes: AMD family 0x19 (Zen 4, the first AMD core with AVX-512;
/// Zen 5, family 0x1A, has full-width units). Read once per process (a lazily initialized
/// global: thread-safe). Only the AVX-512 variant consults it; `probe` does not show it.
let wideVectorsAreSplit = arrowhead_cpu_splits_512bit_vectors() != 0

extension SIMDGemm {
  /// Work (m·n·k) up to which `small` is used: the engine's small size class
  /// (`ShapeClass.smallGemmWork`, every dimension ≤ 64 or equivalent), one constant for both.
  @inline(__always)
  static var smallWork: Int { ShapeClass.smallGemmWork }

  /// C ← α·op(A)·op(B) + β·C for a small problem (m, n, k ≥ 1), single-threaded.
  ///
  /// Inlined into the exported entry point: the choice of kernel is a few compares, and
  /// each kernel is one out-of-line call (a 4×4×4 product's arithmetic takes ~30 cycles,
  /// as much as two more call layers would).
  @inline(__always)
  static func small(_ p: GemmOperands, alpha: Float, beta: Float) {
    if p.rows == 1 || p.columns == 1 {
      asGemv(p, alpha: alpha, beta: beta)
    } else if p.transposeB && !p.transposeA && p.depth >= 32 && (p.rows <= 4 || (p.rows <= 16 && p.depth >= 128)) {
      // A·Bᵀ with few rows against a long enough depth as dot products of rows read in place,
      // where the transposed copy of B (n·k floats) outweighs the product: AVX-512 / AVX2
      // GFLOP/s, copy → dots, 2 × 64 × 64 15 → 31 / 15 → 41, 4 × 16 × 128 32 → 49 / 29 → 58,
      // 16 × 40 × 384 54 → 81 / 68 → 84; Zen 4, v4 / v3: 8 × 128 × 128 41 → 66–70 / 37 → 52,
      // 8 × 32 × 200 54 → 80, 6 × 100 × 128 44–49 → 62–65 / 48 → 61, 16 × 128 × 128 61 → 69–70
      // / 54 → 60, 16 × 64 × 128 70 → 70. The copy wins with more rows or a depth below 128
      // (6 × 40 × 40 42 against 18, 16 × 64 × 64 78 against 34, 8 × 64 × 100 56 against 49).
      skinnyDots(p, 0..<p.columns, alpha: alpha, beta: beta)
    } else if p.transposeA || p.transposeB {
      smallTransposed(p, alpha: alpha, beta: beta)
    } else if p.columns < microColumns {
      narrow(p, alpha: alpha, beta: beta)
    } else if p.rows <= skinnyRows {
      // 2…6 rows: one tile of exactly m rows per column block (a 6- or 8-row tile would
      // compute 3–4 times the products at m = 2: 2 × 100 × 77 ran at 0.4× OpenBLAS).
      skinnyColumns(p, 0..<p.columns, alpha: alpha, beta: beta)
    } else {
      smallTiles(p, alpha: alpha, beta: beta)
    }
  }

  /// `small` with a transposed operand: op(A) and op(B) copied as normal matrices first (a
  /// 4 × 4 register transpose per block: `transposeCopy`), then the kernels of normal
  /// operands. (op(B) used to be padded to a multiple of 32 columns so that every column
  /// block was a full tile: 64 × 8 × 64 ran four times the multiply–adds, 19.5 GFLOP/s
  /// against OpenBLAS's 60, and 17 × 33 × 45 a second tile for one column.)
  @inline(never)
  static func smallTransposed(_ p: GemmOperands, alpha: Float, beta: Float) {
    let m = p.rows, n = p.columns, k = p.depth
    withNormalized(p.a, ld: p.lda, rows: m, columns: k, transposed: p.transposeA, padColumnsTo: 1) { a, lda in
      withNormalized(p.b, ld: p.ldb, rows: k, columns: n, transposed: p.transposeB, padColumnsTo: 1) { b, ldb in
        let normal: GemmOperands = (
          rows: m, columns: n, depth: k, a: a, lda: lda, transposeA: false,
          b: b, ldb: ldb, transposeB: false, c: p.c, ldc: p.ldc)
        if n < microColumns {
          narrow(normal, alpha: alpha, beta: beta)
        } else {
          smallTiles(normal, alpha: alpha, beta: beta)
        }
      }
    }
  }

  /// n ≥ 2·lanes, operands read in place: full tiles of 2·lanes columns, then the ragged
  /// columns as dot products or by a narrow kernel.
  @inline(never)
  static func smallTiles(_ p: GemmOperands, alpha: Float, beta: Float) {
    let n = p.columns, k = p.depth
    // One or two rows past whole register tiles are vector–matrix products (`leftoverRows`).
    let tiledRows = p.rows - leftoverRows(p.rows)
    let fullColumns = n - n % microColumns
    var j = 0
    while j < fullColumns {
      rowsOfTiles(p.a, lda: p.lda, p.b + j, ldb: p.ldb, p.c + j, ldc: p.ldc, rows: tiledRows, depth: k,
                  tileColumns: microColumns, alpha: alpha, beta: beta)
      j += microColumns
    }
    let rest = n - fullColumns
    if rest > 0 {
      let block: GemmOperands = (
        rows: tiledRows, columns: rest, depth: k, a: p.a, lda: p.lda, transposeA: false,
        b: p.b + j, ldb: p.ldb, transposeB: false, c: p.c + j, ldc: p.ldc)
      if columnDotsAreCheaper(columns: rest, depth: k) {
        columnDots(block, alpha: alpha, beta: beta)
      } else {
        // The narrow kernels compute only the ragged block's columns, where a padded full
        // tile would do up to twice the work.
        narrow(block, alpha: alpha, beta: beta)
      }
    }
    if tiledRows < p.rows { rowsAsGemv(p, from: tiledRows, alpha: alpha, beta: beta) }
  }

  /// How many of `rows` (n ≥ 2·lanes) `smallTiles` computes as vector–matrix products rather
  /// than in a register tile: the one or two rows past whole tiles of 8 (AVX-512) or 6 rows.
  /// A tile costs about the same whatever its number of valid rows (17 × 32 × 45 on AVX-512:
  /// three 6-row tiles took as long as 8-row tiles would for 24 rows), while a row as
  /// Bᵀ·aᵢ (`SIMDGemv.transposed`, 8 independent accumulators over the depth) costs a
  /// fraction of one: 17 rows run as 8 + 8 + 1.
  @inline(__always)
  static func leftoverRows(_ rows: Int) -> Int {
    let height = lanes >= 16 ? 8 : microRows
    let leftover = rows % height
    return rows > height && leftover <= 2 ? leftover : 0
  }

  /// Rows `from ..< m` of C (n ≥ 1) as cᵢ ← α·Bᵀ·aᵢ + β·cᵢ, one gemv on B (k × n) per row.
  @inline(never)
  static func rowsAsGemv(_ p: GemmOperands, from first: Int, alpha: Float, beta: Float) {
    for i in first..<p.rows {
      SIMDGemv.transposed(
        rows: p.depth, columns: p.columns, alpha: alpha, p.b, lda: p.ldb, p.a + i * p.lda, beta: beta, p.c + i * p.ldc)
    }
  }

  /// Whether `columns` ragged columns (< 2·lanes) are cheaper as dot products along the
  /// depth (`columnDots`: per row and column ⌈k/lanes⌉ multiply–adds and a share of a
  /// reduction) than as one padded vector per row and depth step (`narrow`: k broadcasts
  /// and multiply–adds per row). 17 × 33 × 45 on AVX-512 has one such column: as a
  /// vector it cost as much as half the product.
  @inline(__always)
  static func columnDotsAreCheaper(columns: Int, depth: Int) -> Bool {
    columns < lanes && columns * ((depth + lanes - 1) / lanes + 3) < depth
  }

  /// Each column j of C as A·B[:, j]: the column is gathered into a contiguous vector and
  /// multiplied by the gemv kernel, which writes C's column with stride ldc.
  @inline(never)
  static func columnDots(_ p: GemmOperands, alpha: Float, beta: Float) {
    let k = p.depth
    withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { buffer in
      let column = buffer.baseAddress!
      for j in 0..<p.columns {
        for depth in 0..<k { column[depth] = p.b[depth * p.ldb + j] }
        SIMDGemv.normal(
          rows: p.rows, columns: k, alpha: alpha, p.a, lda: p.lda, column, beta: beta, p.c + j, incy: p.ldc)
      }
    }
  }

  /// A product with one row or one column (m = 1 or n = 1; k ≥ 1) as a gemv: packing or
  /// tiling would waste all but one row (column) of every tile.
  @inline(never)
  static func asGemv(_ p: GemmOperands, alpha: Float, beta: Float) {
    let k = p.depth
    if p.rows == 1 {
      // c[0, j] = α Σₚ op(A)[0, p]·op(B)[p, j] + β·c[0, j]: y = α·op(B)ᵀ·x, x = row 0 of op(A).
      withGathered(p.a, count: k, stride: p.transposeA ? p.lda : 1) { x in
        if !p.transposeB {  // op(B) = B, k × n: Bᵀ·x
          SIMDGemv.transposed(rows: k, columns: p.columns, alpha: alpha, p.b, lda: p.ldb, x, beta: beta, p.c)
        } else {  // B stored n × k: B·x
          SIMDGemv.normal(rows: p.columns, columns: k, alpha: alpha, p.b, lda: p.ldb, x, beta: beta, p.c, incy: 1)
        }
      }
      return
    }
    // n == 1: c[i, 0] = α Σₚ op(A)[i, p]·op(B)[p, 0] + β·c[i, 0]: y = α·op(A)·x, x = column 0 of op(B).
    withGathered(p.b, count: k, stride: p.transposeB ? 1 : p.ldb) { x in
      if !p.transposeA {
        SIMDGemv.normal(rows: p.rows, columns: k, alpha: alpha, p.a, lda: p.lda, x, beta: beta, p.c, incy: p.ldc)
        return
      }
      // A stored k × m: y = Aᵀ·x, written contiguously, then spread over C's column.
      if p.ldc == 1 {
        SIMDGemv.transposed(rows: k, columns: p.rows, alpha: alpha, p.a, lda: p.lda, x, beta: beta, p.c)
        return
      }
      withUnsafeTemporaryAllocation(of: Float.self, capacity: p.rows) { buffer in
        let y = buffer.baseAddress!
        if beta != 0 { for i in 0..<p.rows { y[i] = p.c[i * p.ldc] } }
        SIMDGemv.transposed(rows: k, columns: p.rows, alpha: alpha, p.a, lda: p.lda, x, beta: beta, y)
        for i in 0..<p.rows { p.c[i * p.ldc] = y[i] }
      }
    }
  }

  /// Calls `body` with `count` floats read `stride` apart from `base`: `base` itself when
  /// the stride is 1, otherwise a copy on the stack.
  @inline(__always)
  static func withGathered(_ base: UnsafePointer<Float>, count: Int, stride: Int, _ body: (UnsafePointer<Float>) -> Void) {
    if stride == 1 {
      body(base)
      return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { buffer in
      let copy = buffer.baseAddress!
      for i in 0..<count { copy[i] = base[i * stride] }
      body(UnsafePointer(copy))
    }
  }

  /// Fewer columns than one tile (n < 2·lanes): each row of C is one or two vector
  /// registers accumulating a[i][p]·B[p, 0..<n]. Several rows are computed together so
  /// that each B load feeds eight independent multiply–add chains (2 FMA units × 4 cycles
  /// of latency; one chain alone ran 64 × 8 × 64 at 9 GFLOP/s on AVX2, four chains left
  /// n = 16 at half speed on AVX-512): eight rows of one vector, or four rows of two.
  /// Every element still sums over the depth in order, so results do not depend on the
  /// grouping. B rows are loaded as whole vectors while such a load stays inside B (the
  /// lanes past n then read the following rows, whose products are discarded); the last
  /// rows are loaded lane by lane.
  @inline(__always)
  static func narrow(_ p: GemmOperands, alpha: Float, beta: Float) {
    let pairs = p.rows >= 16 && p.depth >= 2 && p.depth <= 4096
    if p.columns > lanes {
      narrowTwoVectors(p, alpha: alpha, beta: beta)
    } else if lanes > 8 && p.columns <= 8 && wideVectorsAreSplit {
      // A CPU that runs each 512-bit instruction as two 256-bit halves (Zen 4): the
      // 256-bit kernels, as on AVX2 (64 × 4 × 64 ran at half, 64 × 8 × 64 at 0.83× the AVX2
      // variant's speed with 512-bit pairs, whose broadcasts and half-empty lanes cost
      // double there).
      if p.columns <= 4 && pairs {
        narrowPairsHalfWidth(p, alpha: alpha, beta: beta)
      } else if p.columns <= 4 {
        narrowFour(p, alpha: alpha, beta: beta)
      } else {
        narrowEight(p, alpha: alpha, beta: beta)
      }
    } else if 2 * p.columns <= lanes && pairs {
      narrowPairs(p, alpha: alpha, beta: beta)
    } else if p.columns <= 4 && lanes > 4 {
      narrowFour(p, alpha: alpha, beta: beta)
    } else if p.columns <= 8 && lanes > 8 {
      narrowEight(p, alpha: alpha, beta: beta)
    } else {
      narrowOneVector(p, alpha: alpha, beta: beta)
    }
  }

  /// Pointers to rows i ..< i + 8 of A; rows past `count` alias row i (the narrow kernels
  /// compute them anyway and discard their sums, so nothing out of bounds is read).
  @inline(__always)
  static func eightRows(_ p: GemmOperands, from i: Int, count: Int) -> (
    UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
    UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>
  ) {
    let a0 = p.a + i * p.lda
    @inline(__always)
    func row(_ r: Int) -> UnsafePointer<Float> { count > r ? a0 + r * p.lda : a0 }
    return (a0, row(1), row(2), row(3), row(4), row(5), row(6), row(7))
  }

  /// n ≤ lanes/2 (n ≤ 8 on AVX-512): two depth steps per multiply–add, so that every lane
  /// works (one vector per row left half of them idle: 64 × 8 × 64 ran at 1.2× OpenBLAS).
  /// B is repacked once so that lane 2j of pair q holds B[2q][j] and lane 2j+1 holds
  /// B[2q+1][j]; a row's two elements a[i][2q], a[i][2q+1] are broadcast together as one
  /// 8-byte lane; at the end adjacent lanes are added. Each element of C is thus its
  /// even-depth partial sum plus its odd-depth one (the same error bound as the
  /// sequential sum), for every row alike.
  @inline(never)
  static func narrowPairs(_ p: GemmOperands, alpha: Float, beta: Float) {
    pairProducts(p, alpha: alpha, beta: beta, VectorF32.self, VectorU64.self)
  }

  /// `narrowPairs` on 256-bit vectors (n ≤ 4), for a CPU that splits 512-bit instructions
  /// (`wideVectorsAreSplit`): the AVX2 variant's kernel, compiled here.
  @inline(never)
  static func narrowPairsHalfWidth(_ p: GemmOperands, alpha: Float, beta: Float) {
    pairProducts(p, alpha: alpha, beta: beta, SIMD8<Float>.self, SIMD4<UInt64>.self)
  }

  /// Two depth rows of n = width/2 columns in one vector of `width` floats, lanes
  /// alternating: two half-vector loads interleaved by the even/odd lane setters. The
  /// width is a constant once specialized, so only one branch remains.
  @_transparent
  static func interleavedRows<V: SIMD>(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _: V.Type) -> V
  where V.Scalar == Float {
    let first = UnsafeRawPointer(r0), second = UnsafeRawPointer(r1)
    switch floatCount(V.self) {
    case 16:
      var v = SIMD16<Float>()
      v.evenHalf = first.loadUnaligned(as: SIMD8<Float>.self)
      v.oddHalf = second.loadUnaligned(as: SIMD8<Float>.self)
      return unsafeBitCast(v, to: V.self)
    case 8:
      var v = SIMD8<Float>()
      v.evenHalf = first.loadUnaligned(as: SIMD4<Float>.self)
      v.oddHalf = second.loadUnaligned(as: SIMD4<Float>.self)
      return unsafeBitCast(v, to: V.self)
    default:  // 4 (the baseline variant)
      var v = SIMD4<Float>()
      v.evenHalf = first.loadUnaligned(as: SIMD2<Float>.self)
      v.oddHalf = second.loadUnaligned(as: SIMD2<Float>.self)
      return unsafeBitCast(v, to: V.self)
    }
  }

  /// Stores α·(sum[2j] + sum[2j+1]) (+ β·C) for j < count (≤ width/2).
  @_transparent
  static func storePairSums<V: SIMD>(
    _ sum: V, _ destination: UnsafeMutablePointer<Float>, count: Int, alpha: Float, beta: Float
  ) where V.Scalar == Float {
    switch floatCount(V.self) {
    case 16:
      let v = unsafeBitCast(sum, to: SIMD16<Float>.self)
      storeRow(v.evenHalf + v.oddHalf, destination, count: count, alpha: alpha, beta: beta)
    case 8:
      let v = unsafeBitCast(sum, to: SIMD8<Float>.self)
      storeRow(v.evenHalf + v.oddHalf, destination, count: count, alpha: alpha, beta: beta)
    default:
      let v = unsafeBitCast(sum, to: SIMD4<Float>.self)
      storeRow(v.evenHalf + v.oddHalf, destination, count: count, alpha: alpha, beta: beta)
    }
  }

  /// The body of the pair kernels on vectors `V` of floats (`W`: the same register as
  /// 8-byte lanes). Transparent, so that each caller gets its own specialized copy.
  @_transparent
  static func pairProducts<V: SIMD, W: SIMD>(
    _ p: GemmOperands, alpha: Float, beta: Float, _: V.Type, _: W.Type
  ) where V.Scalar == Float, W.Scalar == UInt64 {
    let n = p.columns, k = p.depth
    let width = floatCount(V.self)
    let pairs = k / 2
    let odd = k % 2 == 1
    @_transparent
    func pairBroadcast(_ x: UnsafePointer<Float>) -> V {
      unsafeBitCast(W(repeating: UnsafeRawPointer(x).loadUnaligned(as: UInt64.self)), to: V.self)
    }
    @_transparent
    func singleBroadcast(_ x: Float) -> V { unsafeBitCast(W(repeating: UInt64(x.bitPattern)), to: V.self) }
    withUnsafeTemporaryAllocation(of: V.self, capacity: pairs + 1) { buffer in
      let packed = buffer.baseAddress!
      let packedFloats = UnsafeMutableRawPointer(packed).assumingMemoryBound(to: Float.self)
      if 2 * n < width { packed.initialize(repeating: V(), count: pairs + 1) }
      if 2 * n == width {
        for q in 0..<pairs {
          let r0 = p.b + 2 * q * p.ldb
          packed[q] = interleavedRows(r0, r0 + p.ldb, V.self)
        }
      } else {
        for q in 0..<pairs {
          let r0 = p.b + 2 * q * p.ldb, r1 = r0 + p.ldb
          let destination = packedFloats + q * width
          for j in 0..<n {
            destination[2 * j] = r0[j]
            destination[2 * j + 1] = r1[j]
          }
        }
      }
      if odd {
        let r0 = p.b + (k - 1) * p.ldb
        let destination = packedFloats + pairs * width
        for j in 0..<n {
          destination[2 * j] = r0[j]
          destination[2 * j + 1] = 0
        }
      }
      var i = 0
      while i < p.rows {
        let rowsHere = min(8, p.rows - i)
        let (a0, a1, a2, a3, a4, a5, a6, a7) = eightRows(p, from: i, count: rowsHere)
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        var s4 = V(), s5 = V(), s6 = V(), s7 = V()
        for q in 0..<pairs {
          let b = packed[q]
          let d = 2 * q
          s0 = multiplyAddNarrow(pairBroadcast(a0 + d), b, s0)
          s1 = multiplyAddNarrow(pairBroadcast(a1 + d), b, s1)
          s2 = multiplyAddNarrow(pairBroadcast(a2 + d), b, s2)
          s3 = multiplyAddNarrow(pairBroadcast(a3 + d), b, s3)
          s4 = multiplyAddNarrow(pairBroadcast(a4 + d), b, s4)
          s5 = multiplyAddNarrow(pairBroadcast(a5 + d), b, s5)
          s6 = multiplyAddNarrow(pairBroadcast(a6 + d), b, s6)
          s7 = multiplyAddNarrow(pairBroadcast(a7 + d), b, s7)
        }
        if odd {
          // The last depth step alone: (a, 0) pairs against (B[k−1][j], 0).
          let b = packed[pairs]
          let d = k - 1
          s0 = multiplyAddNarrow(singleBroadcast(a0[d]), b, s0)
          s1 = multiplyAddNarrow(singleBroadcast(a1[d]), b, s1)
          s2 = multiplyAddNarrow(singleBroadcast(a2[d]), b, s2)
          s3 = multiplyAddNarrow(singleBroadcast(a3[d]), b, s3)
          s4 = multiplyAddNarrow(singleBroadcast(a4[d]), b, s4)
          s5 = multiplyAddNarrow(singleBroadcast(a5[d]), b, s5)
          s6 = multiplyAddNarrow(singleBroadcast(a6[d]), b, s6)
          s7 = multiplyAddNarrow(singleBroadcast(a7[d]), b, s7)
        }
        let c = p.c + i * p.ldc
        storePairSums(s0, c, count: n, alpha: alpha, beta: beta)
        if rowsHere > 1 { storePairSums(s1, c + p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 2 { storePairSums(s2, c + 2 * p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 3 { storePairSums(s3, c + 3 * p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 4 { storePairSums(s4, c + 4 * p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 5 { storePairSums(s5, c + 5 * p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 6 { storePairSums(s6, c + 6 * p.ldc, count: n, alpha: alpha, beta: beta) }
        if rowsHere > 7 { storePairSums(s7, c + 7 * p.ldc, count: n, alpha: alpha, beta: beta) }
        i += 8
      }
    }
  }

  /// n ≤ 4 with fewer than 16 rows (4 × 4 × 4 …): 128-bit vectors, which need (almost) no
  /// padded copy of B's last rows — on AVX2/AVX-512 the wide vector's padding cost more
  /// than the arithmetic.
  @inline(never)
  static func narrowFour(_ p: GemmOperands, alpha: Float, beta: Float) {
    narrowRows(p, alpha: alpha, beta: beta, SIMD4<Float>.self)
  }

  /// 4 < n ≤ 8 on AVX-512 (8 × 8 × 8 …): 256-bit vectors, as wide as the rows (a 512-bit
  /// vector needed a padded copy of B's last row and wrote C lane by lane: 8 × 8 × 8 ran
  /// slower than OpenBLAS).
  @inline(never)
  static func narrowEight(_ p: GemmOperands, alpha: Float, beta: Float) {
    narrowRows(p, alpha: alpha, beta: beta, SIMD8<Float>.self)
  }

  /// Floats in a vector of type `V`: its size, a constant once specialized. (`V.scalarCount`
  /// is a stdlib generic that the ISA modules would each emit as the same weak symbol.)
  @_transparent
  static func floatCount<V: SIMD>(_: V.Type) -> Int where V.Scalar == Float { MemoryLayout<V>.size / 4 }

  /// Up to eight rows per pass, one vector `V` (≥ n columns) each: a[i][p]·B[p, 0..<n]
  /// accumulated over the depth. B rows are loaded as whole vectors while such a load stays
  /// inside B (the lanes past n then read the following rows, whose products are
  /// discarded); the last rows come from a zero-padded copy (`withPaddedTail`).
  @inline(__always)
  static func narrowRows<V: SIMD>(_ p: GemmOperands, alpha: Float, beta: Float, _: V.Type) where V.Scalar == Float {
    withPaddedTail(p, span: floatCount(V.self)) { full, tail in
      // Eight rows per pass (the last of 5–7 rows aliases the missing ones), then a pass of
      // four for 1–4 remaining rows: 4 × 4 × 4 does half the multiply–adds of an 8-row pass.
      var i = 0
      while p.rows - i > 4 {
        narrowPass(p, from: i, rows: min(8, p.rows - i), eight: true, full: full, tail: tail, alpha: alpha, beta: beta, V.self)
        i += 8
      }
      if i < p.rows {
        narrowPass(p, from: i, rows: p.rows - i, eight: false, full: full, tail: tail, alpha: alpha, beta: beta, V.self)
      }
    }
  }

  /// Rows i ..< i + rowsHere (≤ 8; ≤ 4 unless `eight`) of `narrowRows`: B's depth rows from
  /// `full` on are read from `tail` (rows of `floatCount(V.self)` floats). Transparent, i.e.
  /// inlined before specialization (`@inline(__always)` left the specialized generic an
  /// out-of-line call whose `eight` was tested in every depth step: 4 × 4 × 4 paid 30 %).
  @_transparent
  static func narrowPass<V: SIMD>(
    _ p: GemmOperands, from i: Int, rows rowsHere: Int, eight: Bool, full: Int, tail: UnsafePointer<Float>,
    alpha: Float, beta: Float, _: V.Type
  ) where V.Scalar == Float {
    let (a0, a1, a2, a3, a4, a5, a6, a7) = eightRows(p, from: i, count: rowsHere)
    var s0 = V(), s1 = V(), s2 = V(), s3 = V(), s4 = V(), s5 = V(), s6 = V(), s7 = V()
    var bRow = p.b, stride = p.ldb
    for depth in 0..<p.depth {
      if depth == full { bRow = tail; stride = floatCount(V.self) }
      let b = UnsafeRawPointer(bRow).loadUnaligned(as: V.self)
      bRow += stride
      s0 = multiplyAddNarrow(V(repeating: a0[depth]), b, s0)
      s1 = multiplyAddNarrow(V(repeating: a1[depth]), b, s1)
      s2 = multiplyAddNarrow(V(repeating: a2[depth]), b, s2)
      s3 = multiplyAddNarrow(V(repeating: a3[depth]), b, s3)
      if eight {
        s4 = multiplyAddNarrow(V(repeating: a4[depth]), b, s4)
        s5 = multiplyAddNarrow(V(repeating: a5[depth]), b, s5)
        s6 = multiplyAddNarrow(V(repeating: a6[depth]), b, s6)
        s7 = multiplyAddNarrow(V(repeating: a7[depth]), b, s7)
      }
    }
    let c = p.c + i * p.ldc, n = p.columns
    storeRow(s0, c, count: n, alpha: alpha, beta: beta)
    if rowsHere > 1 { storeRow(s1, c + p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 2 { storeRow(s2, c + 2 * p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 3 { storeRow(s3, c + 3 * p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 4 { storeRow(s4, c + 4 * p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 5 { storeRow(s5, c + 5 * p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 6 { storeRow(s6, c + 6 * p.ldc, count: n, alpha: alpha, beta: beta) }
    if rowsHere > 7 { storeRow(s7, c + 7 * p.ldc, count: n, alpha: alpha, beta: beta) }
  }

  /// Stores the first `count` (≤ `floatCount(V.self)`) lanes of α·sum (+ β·C) at `destination`.
  @_transparent
  static func storeRow<V: SIMD>(
    _ sum: V, _ destination: UnsafeMutablePointer<Float>, count: Int, alpha: Float, beta: Float
  ) where V.Scalar == Float {
    if count == floatCount(V.self) {
      let raw = UnsafeMutableRawPointer(destination)
      var value = sum * V(repeating: alpha)
      if beta != 0 { value = value + V(repeating: beta) * raw.loadUnaligned(as: V.self) }
      raw.storeBytes(of: value, as: V.self)
    } else if beta == 0 {
      for j in 0..<count { destination[j] = alpha * sum[j] }
    } else {
      for j in 0..<count { destination[j] = alpha * sum[j] + beta * destination[j] }
    }
  }

  /// Stores `count` (≤ lanes) leading lanes of α·sum (+ β·C) into `destination`.
  @inline(__always)
  static func storeNarrow(_ sum: VectorF32, _ destination: UnsafeMutablePointer<Float>, count: Int, alpha: Float, beta: Float) {
    if count == lanes {
      var value = sum * VectorF32(repeating: alpha)
      if beta != 0 { value = value + VectorF32(repeating: beta) * loadVector(destination) }
      storeVector(value, destination)
      return
    }
    var j = 0
    if count >= lanes / 2 {
      // The low half as one vector (n = 8 on AVX-512: one store instead of eight).
      let raw = UnsafeMutableRawPointer(destination)
      var value = sum.lowHalf * .init(repeating: alpha)
      if beta != 0 { value = value + .init(repeating: beta) * raw.loadUnaligned(as: type(of: value)) }
      raw.storeBytes(of: value, as: type(of: value))
      j = lanes / 2
    }
    if beta == 0 {
      while j < count { destination[j] = alpha * sum[j]; j += 1 }
    } else {
      while j < count { destination[j] = alpha * sum[j] + beta * destination[j]; j += 1 }
    }
  }

  /// Calls `body(full, tail)`: B's first `full` depth rows can be loaded `span` floats at a
  /// time without reading past B's last element; `tail` holds the remaining rows copied
  /// into zero-padded rows of `span` floats (at most a few; once per call rather than lane
  /// by lane in every pass over the rows).
  @inline(__always)
  static func withPaddedTail(_ p: GemmOperands, span: Int, _ body: (Int, UnsafePointer<Float>) -> Void) {
    let k = p.depth, n = p.columns
    // Row r's load ends at r·ldb + span ≤ (k − 1)·ldb + n unless r is among the last
    // ⌈(span − n)/ldb⌉ rows (usually one: no division then).
    let overhang = span - n
    if overhang <= 0 {
      body(k, p.b)
      return
    }
    let tailRows = min(k, overhang <= p.ldb ? 1 : (overhang + p.ldb - 1) / p.ldb)
    let full = k - tailRows
    withUnsafeTemporaryAllocation(of: Float.self, capacity: tailRows * span) { buffer in
      let tail = buffer.baseAddress!
      tail.initialize(repeating: 0, count: tailRows * span)
      for r in 0..<tailRows { (tail + r * span).update(from: p.b + (full + r) * p.ldb, count: n) }
      body(full, UnsafePointer(tail))
    }
  }

  /// n ≤ lanes: eight rows per pass, one vector each.
  @inline(never)
  static func narrowOneVector(_ p: GemmOperands, alpha: Float, beta: Float) {
    narrowRows(p, alpha: alpha, beta: beta, VectorF32.self)
  }

  /// lanes < n < 2·lanes: four rows per pass, two vectors each (8 chains; 8 rows would
  /// need more than AVX2's 16 registers).
  @inline(never)
  static func narrowTwoVectors(_ p: GemmOperands, alpha: Float, beta: Float) {
    let n = p.columns, k = p.depth
    withPaddedTail(p, span: 2 * lanes) { full, tail in
      var i = 0
      while i < p.rows {
        let rowsHere = min(4, p.rows - i)
        let a0 = p.a + i * p.lda
        let a1 = rowsHere > 1 ? a0 + p.lda : a0
        let a2 = rowsHere > 2 ? a0 + 2 * p.lda : a0
        let a3 = rowsHere > 3 ? a0 + 3 * p.lda : a0
        var s00 = VectorF32(), s10 = VectorF32(), s20 = VectorF32(), s30 = VectorF32()
        var s01 = VectorF32(), s11 = VectorF32(), s21 = VectorF32(), s31 = VectorF32()
        var bRow = p.b, stride = p.ldb
        for depth in 0..<k {
          if depth == full { bRow = tail; stride = 2 * lanes }
          let b0 = loadVector(bRow), b1 = loadVector(bRow + lanes)
          bRow += stride
          let x0 = VectorF32(repeating: a0[depth]), x1 = VectorF32(repeating: a1[depth])
          let x2 = VectorF32(repeating: a2[depth]), x3 = VectorF32(repeating: a3[depth])
          s00 = multiplyAdd(x0, b0, s00); s01 = multiplyAdd(x0, b1, s01)
          s10 = multiplyAdd(x1, b0, s10); s11 = multiplyAdd(x1, b1, s11)
          s20 = multiplyAdd(x2, b0, s20); s21 = multiplyAdd(x2, b1, s21)
          s30 = multiplyAdd(x3, b0, s30); s31 = multiplyAdd(x3, b1, s31)
        }
        let c = p.c + i * p.ldc
        let rest = n - lanes
        storeNarrow(s00, c, count: lanes, alpha: alpha, beta: beta)
        storeNarrow(s01, c + lanes, count: rest, alpha: alpha, beta: beta)
        if rowsHere > 1 {
          storeNarrow(s10, c + p.ldc, count: lanes, alpha: alpha, beta: beta)
          storeNarrow(s11, c + p.ldc + lanes, count: rest, alpha: alpha, beta: beta)
        }
        if rowsHere > 2 {
          storeNarrow(s20, c + 2 * p.ldc, count: lanes, alpha: alpha, beta: beta)
          storeNarrow(s21, c + 2 * p.ldc + lanes, count: rest, alpha: alpha, beta: beta)
        }
        if rowsHere > 3 {
          storeNarrow(s30, c + 3 * p.ldc, count: lanes, alpha: alpha, beta: beta)
          storeNarrow(s31, c + 3 * p.ldc + lanes, count: rest, alpha: alpha, beta: beta)
        }
        i += 4
      }
    }
  }

  /// Calls `body` with a row-major view of op(M) (`rows × columns`): M itself when it is not
  /// transposed, else a transposed copy on the stack whose leading dimension is a multiple of
  /// `padColumnsTo` (padding zeroed).
  @inline(__always)
  static func withNormalized(
    _ m: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, transposed: Bool, padColumnsTo: Int,
    _ body: (UnsafePointer<Float>, Int) -> Void
  ) {
    guard transposed else {
      body(m, ld)
      return
    }
    let paddedColumns = roundUp(columns, padColumnsTo)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, rows * paddedColumns)) { buffer in
      let copy = buffer.baseAddress!
      transposeCopy(m, ld: ld, rows: rows, columns: columns, into: copy, ldCopy: paddedColumns)
      body(copy, paddedColumns)
    }
  }

  /// copy[i·ldCopy + j] = m[j·ld + i] for i < rows, j < columns, and 0 for columns ≤ j <
  /// ldCopy: 4 × 4 blocks transposed in registers (four 4-float loads, eight shuffles, four
  /// stores), the edges element by element. Element by element throughout, the copy of a
  /// 16 × 16 B took five times as long as the 16 × 16 × 16 product that followed.
  @inline(never)
  static func transposeCopy(
    _ m: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, into copy: UnsafeMutablePointer<Float>, ldCopy: Int
  ) {
    let rows4 = rows & ~3, columns4 = columns & ~3
    var j = 0
    while j < columns4 {
      let s0 = m + j * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld
      var i = 0
      while i < rows4 {
        let r0 = UnsafeRawPointer(s0 + i).loadUnaligned(as: SIMD4<Float>.self)
        let r1 = UnsafeRawPointer(s1 + i).loadUnaligned(as: SIMD4<Float>.self)
        let r2 = UnsafeRawPointer(s2 + i).loadUnaligned(as: SIMD4<Float>.self)
        let r3 = UnsafeRawPointer(s3 + i).loadUnaligned(as: SIMD4<Float>.self)
        let p01 = SIMD8(lowHalf: r0, highHalf: r1), p23 = SIMD8(lowHalf: r2, highHalf: r3)
        let e = SIMD8(lowHalf: p01.evenHalf, highHalf: p23.evenHalf)  // r0[0] r0[2] r1[0] r1[2] r2[0] r2[2] r3[0] r3[2]
        let o = SIMD8(lowHalf: p01.oddHalf, highHalf: p23.oddHalf)
        let d = copy + i * ldCopy + j
        UnsafeMutableRawPointer(d).storeBytes(of: e.evenHalf, as: SIMD4<Float>.self)  // column i
        UnsafeMutableRawPointer(d + ldCopy).storeBytes(of: o.evenHalf, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(d + 2 * ldCopy).storeBytes(of: e.oddHalf, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(d + 3 * ldCopy).storeBytes(of: o.oddHalf, as: SIMD4<Float>.self)
        i += 4
      }
      while i < rows {
        let d = copy + i * ldCopy + j
        d[0] = s0[i]; d[1] = s1[i]; d[2] = s2[i]; d[3] = s3[i]
        i += 1
      }
      j += 4
    }
    for i in 0..<rows {
      let d = copy + i * ldCopy
      for jj in columns4..<columns { d[jj] = m[jj * ld + i] }
      for jj in columns..<ldCopy { d[jj] = 0 }
    }
  }

  /// One column block of C (≤ NR columns, B rows readable for a full NR) over all rows, in
  /// tiles of 6 rows — or of 8 on AVX-512 (32 registers) when that computes fewer rows in
  /// all: 32 rows are four tiles of 8 where tiles of 6 compute 36, while 12 rows are two
  /// tiles of 6 where tiles of 8 compute 16 (17 rows reach here as 16: `leftoverRows`).
  @inline(__always)
  static func rowsOfTiles(
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, depth: Int, tileColumns: Int,
    alpha: Float, beta: Float
  ) {
    var i = 0
    if lanes >= 16 && roundUp(rows, 8) <= roundUp(rows, microRows) {
      while i < rows {
        let tileRows = min(8, rows - i)
        directKernel8(depth: depth, a + i * lda, lda: lda, b, ldb: ldb, c + i * ldc, ldc: ldc,
                      tileRows: tileRows, tileColumns: tileColumns, alpha: alpha, beta: beta)
        i += 8
      }
      return
    }
    while i < rows {
      let tileRows = min(microRows, rows - i)
      directKernel(depth: depth, a + i * lda, lda: lda, b, ldb: ldb, c + i * ldc, ldc: ldc,
                   tileRows: tileRows, tileColumns: tileColumns, alpha: alpha, beta: beta)
      i += microRows
    }
  }

  /// The 6 × 2·lanes register tile reading A rows and B rows in place.
  @inline(never)
  static func directKernel(
    depth: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, tileRows: Int, tileColumns: Int, alpha: Float, beta: Float
  ) {
    directTile(depth: depth, a, lda: lda, b, ldb: ldb, c, ldc: ldc, tileRows: tileRows, tileColumns: tileColumns,
               alpha: alpha, beta: beta, eight: false)
  }

  /// The 8 × 2·lanes register tile (16 accumulators: AVX-512 only).
  @inline(never)
  static func directKernel8(
    depth: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, tileRows: Int, tileColumns: Int, alpha: Float, beta: Float
  ) {
    directTile(depth: depth, a, lda: lda, b, ldb: ldb, c, ldc: ldc, tileRows: tileRows, tileColumns: tileColumns,
               alpha: alpha, beta: beta, eight: true)
  }

  /// A 6 (or 8, `eight`) × 2·lanes register tile reading A rows and B rows in place. Rows of
  /// A past `tileRows` alias row 0 (their results are discarded), so nothing out of bounds
  /// is read. Transparent so that each caller gets its own loop for its constant `eight`.
  @_transparent
  static func directTile(
    depth: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, tileRows: Int, tileColumns: Int, alpha: Float, beta: Float, eight: Bool
  ) {
    let a0 = a, a1 = tileRows > 1 ? a + lda : a, a2 = tileRows > 2 ? a + 2 * lda : a
    let a3 = tileRows > 3 ? a + 3 * lda : a, a4 = tileRows > 4 ? a + 4 * lda : a
    let a5 = tileRows > 5 ? a + 5 * lda : a, a6 = tileRows > 6 ? a + 6 * lda : a, a7 = tileRows > 7 ? a + 7 * lda : a
    var c00 = VectorF32(), c01 = VectorF32(), c10 = VectorF32(), c11 = VectorF32()
    var c20 = VectorF32(), c21 = VectorF32(), c30 = VectorF32(), c31 = VectorF32()
    var c40 = VectorF32(), c41 = VectorF32(), c50 = VectorF32(), c51 = VectorF32()
    var c60 = VectorF32(), c61 = VectorF32(), c70 = VectorF32(), c71 = VectorF32()
    var pb = b
    for p in 0..<depth {
      let b0 = loadVector(pb), b1 = loadVector(pb + lanes)
      var broadcast = VectorF32(repeating: a0[p])
      c00 = multiplyAdd(broadcast, b0, c00); c01 = multiplyAdd(broadcast, b1, c01)
      broadcast = VectorF32(repeating: a1[p])
      c10 = multiplyAdd(broadcast, b0, c10); c11 = multiplyAdd(broadcast, b1, c11)
      broadcast = VectorF32(repeating: a2[p])
      c20 = multiplyAdd(broadcast, b0, c20); c21 = multiplyAdd(broadcast, b1, c21)
      broadcast = VectorF32(repeating: a3[p])
      c30 = multiplyAdd(broadcast, b0, c30); c31 = multiplyAdd(broadcast, b1, c31)
      broadcast = VectorF32(repeating: a4[p])
      c40 = multiplyAdd(broadcast, b0, c40); c41 = multiplyAdd(broadcast, b1, c41)
      broadcast = VectorF32(repeating: a5[p])
      c50 = multiplyAdd(broadcast, b0, c50); c51 = multiplyAdd(broadcast, b1, c51)
      if eight {
        broadcast = VectorF32(repeating: a6[p])
        c60 = multiplyAdd(broadcast, b0, c60); c61 = multiplyAdd(broadcast, b1, c61)
        broadcast = VectorF32(repeating: a7[p])
        c70 = multiplyAdd(broadcast, b0, c70); c71 = multiplyAdd(broadcast, b1, c71)
      }
      pb += ldb
    }
    let epilogue = linearEpilogue(alpha: alpha, beta: beta)
    let rowsInTile = eight ? 8 : microRows
    if tileRows == rowsInTile && tileColumns == microColumns {
      writeRow(c00, c01, c, row: 0, column: 0, epilogue, true, true)
      writeRow(c10, c11, c + ldc, row: 1, column: 0, epilogue, true, true)
      writeRow(c20, c21, c + 2 * ldc, row: 2, column: 0, epilogue, true, true)
      writeRow(c30, c31, c + 3 * ldc, row: 3, column: 0, epilogue, true, true)
      writeRow(c40, c41, c + 4 * ldc, row: 4, column: 0, epilogue, true, true)
      writeRow(c50, c51, c + 5 * ldc, row: 5, column: 0, epilogue, true, true)
      if eight {
        writeRow(c60, c61, c + 6 * ldc, row: 6, column: 0, epilogue, true, true)
        writeRow(c70, c71, c + 7 * ldc, row: 7, column: 0, epilogue, true, true)
      }
      return
    }
    writePartialTile(
      (c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51), c, ldc: ldc,
      tileRows: min(tileRows, microRows), tileColumns: tileColumns, row: 0, column: 0, epilogue: epilogue,
      firstBlock: true, lastBlock: true)
    if eight && tileRows > microRows {
      writePartialTile(
        (c60, c61), (c70, c71), (c70, c71), (c70, c71), (c70, c71), (c70, c71), c + microRows * ldc, ldc: ldc,
        tileRows: tileRows - microRows, tileColumns: tileColumns, row: microRows, column: 0, epilogue: epilogue,
        firstBlock: true, lastBlock: true)
    }
  }
}
