// Products with few rows (2 ≤ m ≤ SIMDGemm.skinnyMaximumRows: up to 128 on AVX-512 when B
// stays in the caches) and more work than the small path takes, e.g. 2 × 384 × 384 or
// 128 × 1536 × 384: the rows of A and B are read in place, as the small path reads them,
// instead of being packed. The blocked path packs all of B (k·n floats) to use it for m
// rows, and its 6-row micro-tile runs at m/6 of its rate below 6 rows: 2 × 384 × 384 ran
// at 20 GFLOP/s where OpenBLAS's small-matrix kernel reached ~100, now 81 (L2-bound: each
// B vector feeds two rows); 4 × 384 × 384 36 → 114 (Zen 4, v4, 1 thread).
//
// Loop nest (C ← α·A·B + β·C, A and B not transposed):
//   p0: depth in blocks of `skinnyDepthBlock` rows of B, or of `skinnyStreamingDepthBlock`
//       when B is too large for the caches (few rows stream at once)
//     j: columns in blocks of `skinnyVectors` vectors, then single vectors, then a tail of
//        fewer than `lanes` columns (copied into a zero-padded block of rows)
//       rows in passes of at most 6 (equal heights: m = 7 is 4 + 3), one register tile of
//       the pass's rows × the block's vectors each, summing over the depth block (the
//       block's B rows stay in L1 for the later passes); written back as α·acc + β·C on the
//       first depth block, C + α·acc on later ones.
// Every element of C is a sum over the depth in order within a block, blocks added in order:
// results do not depend on the thread count (threads split the columns).
import ArrowheadCore
import CArrowheadCPU

extension SIMDGemm {
  /// Rows of one register tile (a pass over the rows); more rows take several passes.
  static let skinnyRows = microRows

  /// Rows up to which `skinny` runs a product whose B stays in the caches, per variant, from
  /// measurements of both paths (Zen 4, 1 thread, GFLOP/s packed → unpacked, n × k =
  /// 384 × 384 / 1536 × 384): AVX-512 m = 8 52 → 114 / 52 → 105, 32 84 → 108 / 84 → 113,
  /// 128 104 → 114 / 104 → 113, 256 104 → 114 / 105 → 105; AVX2 m = 8 52 → 86 / 50 → 68,
  /// 32 77 → 99 / 81 → 86, 64 96 → 93 / 96 → 97, 128 100 → 108 / 101 → 88; the baseline
  /// (SSE, 16 registers, no FMA) m = 4 18 → 20, 8 21 → 19. Packing B then costs more than it
  /// saves: each B vector feeds up to 6 rows × 4 multiply–adds from L1/L2 either way.
  @inline(__always)
  static var skinnyMaximumRows: Int { lanes >= 16 ? 128 : lanes >= 8 ? 32 : skinnyRows }

  /// Rows up to which `skinny` runs a product whose B streams from memory
  /// (`skinnyStreamingBytes`): there every pass over the rows writes C back each
  /// `skinnyStreamingDepthBlock` depth steps, and from about 16 rows (8 on AVX2) the
  /// blocked path's packed panels win (AVX-512 4096 × 4096: m = 8 34 → 62, 16 50 → 58,
  /// 24 70 → 61 GFLOP/s; AVX2 m = 8 30 → 40, 12 51 → 29).
  @inline(__always)
  static var skinnyStreamingMaximumRows: Int { min(lanes >= 16 ? 16 : 8, skinnyMaximumRows) }

  /// Vectors per column block: 4 where 32 vector registers hold the 6 × 4 accumulators, else
  /// 2 (AVX2's and SSE's 16).
  @inline(__always)
  static var skinnyVectors: Int { lanes >= 16 ? 4 : 2 }

  /// B rows ahead of the current depth step whose tile columns a wide tile prefetches. A
  /// model's weights (all-MiniLM-L6-v2: 88 MiB) do not stay in the caches from one text to
  /// the next, and B rows 1.5–6 KiB apart are a new 4 KiB page every row or two, where the
  /// hardware prefetchers stop: the first pass over a column block waited on each row.
  /// `arrowhead embed --batch 1 --threads 1`, 200 texts of ~38 tokens, Zen 4, user time over
  /// four alternating runs: 2.31–2.51 s → 2.15–2.43 s (16 rows ahead), 2.11–2.27 s (8); warm
  /// products (`bench gemm`, 38 × 1536 × 384, 128 × 1536 × 384, 64 × 384 × 1536, 2 and 4 ×
  /// 384 × 384) unchanged within 1 %.
  static let skinnyPrefetchDistance = 16

  /// Depth rows of B per pass over the column blocks when B stays in the caches: the
  /// write-back of C is amortized over this many multiply–adds per accumulator.
  static let skinnyDepthBlock = 256

  /// Depth rows per pass when B streams from memory (`skinnyStreamingBytes`): a column block
  /// then reads 8 rows at a time, few enough concurrent streams for the prefetchers. Zen 4,
  /// v4, 1 thread, GFLOP/s with blocks of 256 / 16 / 8 / 4 rows: 4 × 2048 × 2048 (B 16 MiB)
  /// 42 / 36 / 65 / 46, 6 × 4096 × 4096 23 / 36 / 47 / 28, 2 × 8192 × 2048 7.4 / 18 / 25 / 21;
  /// B in the caches, 4 × 1024 × 1024 (4 MiB) 94 / 81 / 66 / 54, 4 × 384 × 1536 105 / 95 / 83.
  static let skinnyStreamingDepthBlock = 8

  /// Bytes of B from which it is taken to stream from memory: a quarter of the L3 cache (8 MiB
  /// of Zen 4's 32), at least 4 MiB.
  static let skinnyStreamingBytes = max(CPUInfo.current.caches.l3 / 4, 4 << 20)

  /// Whether B (k × n floats) is taken to stream from memory rather than stay in the caches.
  @inline(__always)
  static func skinnyStreams(_ p: GemmOperands) -> Bool {
    let (bytes, overflow) = p.depth.multipliedReportingOverflow(by: p.columns * MemoryLayout<Float>.size)
    return overflow || bytes > skinnyStreamingBytes
  }

  /// Whether `skinny` takes a product: operands not transposed, 2…`skinnyMaximumRows` rows
  /// (`skinnyStreamingMaximumRows` when B streams from memory).
  @inline(__always)
  static func takesSkinny(_ p: GemmOperands) -> Bool {
    guard p.rows >= 2, !p.transposeA, !p.transposeB else { return false }
    return p.rows <= (skinnyStreams(p) ? skinnyStreamingMaximumRows : skinnyMaximumRows)
  }

  /// C ← α·A·B + β·C for m ≥ 2 rows read in place, on up to `threads` threads (by columns).
  @inline(never)
  static func skinny(_ p: GemmOperands, alpha: Float, beta: Float, threads: Int) {
    let work = p.rows * p.columns * p.depth
    let width = skinnyVectors * lanes
    if threads > 1 && work >= parallelThreshold && p.columns >= 2 * width {
      Parallel.forEachChunk(p.columns, granularity: width, threads: threads) { columns in
        skinnyColumns(p, columns, alpha: alpha, beta: beta)
      }
    } else {
      skinnyColumns(p, 0..<p.columns, alpha: alpha, beta: beta)
    }
  }

  /// `skinny` on the columns `columns` of C.
  static func skinnyColumns(_ p: GemmOperands, _ columns: Range<Int>, alpha: Float, beta: Float) {
    let width = skinnyVectors * lanes
    let wholeBlocks = columns.lowerBound + (columns.count / width) * width
    let wholeVectors = wholeBlocks + ((columns.upperBound - wholeBlocks) / lanes) * lanes
    let tail = columns.upperBound - wholeVectors
    // B rows whose tail vector [wholeVectors, wholeVectors + lanes) ends inside B: all but
    // the last ⌈(lanes − tail)/ldb⌉ (usually one).
    let fullTailRows = tail > 0 ? p.depth - min(p.depth, (lanes - tail + p.ldb - 1) / p.ldb) : p.depth
    let block = skinnyStreams(p) ? skinnyStreamingDepthBlock : skinnyDepthBlock
    withUnsafeTemporaryAllocation(of: Float.self, capacity: tail > 0 ? (p.depth - fullTailRows) * lanes + 1 : 1) { buffer in
      let padded = buffer.baseAddress!
      var p0 = 0
      while p0 < p.depth {
        let depth = min(block, p.depth - p0)
        let first = p0 == 0
        var j = columns.lowerBound
        while j < wholeBlocks {
          skinnyTile(p, depthStart: p0, depth: depth, b: p.b + p0 * p.ldb + j, ldb: p.ldb, column: j, count: width,
                     wide: true, first: first, alpha: alpha, beta: beta)
          j += width
        }
        while j < wholeVectors {
          skinnyTile(p, depthStart: p0, depth: depth, b: p.b + p0 * p.ldb + j, ldb: p.ldb, column: j, count: lanes,
                     wide: false, first: first, alpha: alpha, beta: beta)
          j += lanes
        }
        if tail > 0 {
          // The last columns as one vector per B row, read in place while that vector stays
          // inside B (its lanes past the tail then hold the next row's values, whose products
          // are never written), and from a zero-padded copy for the last row or two, whose
          // vector would run past B's end. (A padded copy of every row cost as much as the
          // arithmetic at 2 × 100 × 77.)
          let inPlace = max(0, min(p0 + depth, fullTailRows) - p0)
          if inPlace > 0 {
            skinnyTile(p, depthStart: p0, depth: inPlace, b: p.b + p0 * p.ldb + wholeVectors, ldb: p.ldb, column: wholeVectors,
                       count: tail, wide: false, first: first, alpha: alpha, beta: beta)
          }
          if inPlace < depth {
            for d in inPlace..<depth {
              let source = p.b + (p0 + d) * p.ldb + wholeVectors, row = padded + (d - inPlace) * lanes
              for u in 0..<lanes { row[u] = u < tail ? source[u] : 0 }
            }
            skinnyTile(p, depthStart: p0 + inPlace, depth: depth - inPlace, b: padded, ldb: lanes, column: wholeVectors,
                       count: tail, wide: false, first: first && inPlace == 0, alpha: alpha, beta: beta)
          }
        }
        p0 += depth
      }
    }
  }

  /// One tile: all m rows × `skinnyVectors` vectors (`wide`) or one vector, of which the
  /// first `count` columns are written, over `depth` rows of B from `b` (`ldb` apart).
  /// Dispatches on m to a loop compiled for that many rows.
  @inline(__always)
  static func skinnyTile(
    _ p: GemmOperands, depthStart: Int, depth: Int, b: UnsafePointer<Float>, ldb: Int, column: Int, count: Int,
    wide: Bool, first: Bool, alpha: Float, beta: Float
  ) {
    if p.rows <= skinnyRows {
      skinnyPass(p, depthStart: depthStart, depth: depth, b: b, ldb: ldb, column: column, count: count, wide: wide, first: first, alpha: alpha, beta: beta)
      return
    }
    // More rows than one tile: passes of equal height (m = 7: 4 + 3), each reading the same
    // B block, which the first pass brought into L1.
    let passes = (p.rows + skinnyRows - 1) / skinnyRows
    let base = p.rows / passes, extra = p.rows % passes
    var i = 0
    for pass in 0..<passes {
      var q = p
      q.rows = base + (pass < extra ? 1 : 0)
      q.a = p.a + i * p.lda
      q.c = p.c + i * p.ldc
      skinnyPass(q, depthStart: depthStart, depth: depth, b: b, ldb: ldb, column: column, count: count, wide: wide, first: first, alpha: alpha, beta: beta)
      i += q.rows
    }
  }

  /// `skinnyTile` for one pass of 2…`skinnyRows` rows.
  @inline(__always)
  static func skinnyPass(
    _ p: GemmOperands, depthStart: Int, depth: Int, b: UnsafePointer<Float>, ldb: Int, column: Int, count: Int,
    wide: Bool, first: Bool, alpha: Float, beta: Float
  ) {
    let a = p.a + depthStart, c = p.c + column
    if wide {
      skinnyWide(rows: p.rows, a, p.lda, b, ldb, c, p.ldc, depth, first, alpha, beta)
    } else {
      skinnyNarrow(rows: p.rows, a, p.lda, b, ldb, c, p.ldc, depth, count, first, alpha, beta)
    }
  }

  /// A wide tile of `rows` (2…6) rows: each count a loop of its own (the literal constants
  /// fold the unused accumulators away).
  @inline(never)
  static func skinnyWide(
    rows: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ depth: Int, _ first: Bool, _ alpha: Float, _ beta: Float
  ) {
    switch rows {
    case 2: skinnyWideTile(a, lda, b, ldb, c, ldc, rows: 2, depth, first, alpha, beta)
    case 3: skinnyWideTile(a, lda, b, ldb, c, ldc, rows: 3, depth, first, alpha, beta)
    case 4: skinnyWideTile(a, lda, b, ldb, c, ldc, rows: 4, depth, first, alpha, beta)
    case 5: skinnyWideTile(a, lda, b, ldb, c, ldc, rows: 5, depth, first, alpha, beta)
    default: skinnyWideTile(a, lda, b, ldb, c, ldc, rows: 6, depth, first, alpha, beta)
    }
  }

  /// A one-vector tile of `rows` (2…6) rows; 5 rows compute six, the sixth aliasing row 0.
  @inline(never)
  static func skinnyNarrow(
    rows: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ depth: Int, _ count: Int, _ first: Bool, _ alpha: Float, _ beta: Float
  ) {
    switch rows {
    case 2: skinnyNarrowTile(a, lda, b, ldb, c, ldc, rows: 2, computed: 2, depth, count, first, alpha, beta)
    case 3: skinnyNarrowTile(a, lda, b, ldb, c, ldc, rows: 3, computed: 3, depth, count, first, alpha, beta)
    case 4: skinnyNarrowTile(a, lda, b, ldb, c, ldc, rows: 4, computed: 4, depth, count, first, alpha, beta)
    default: skinnyNarrowTile(a, lda, b, ldb, c, ldc, rows: rows, computed: 6, depth, count, first, alpha, beta)
    }
  }

  /// `rows` (a constant at each call: the unused accumulators fold away) × `skinnyVectors`
  /// vectors: per depth step, the vectors of one B row and one broadcast per row of A.
  @_transparent
  static func skinnyWideTile(
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>,
    _ ldc: Int, rows: Int, _ depth: Int, _ first: Bool, _ alpha: Float, _ beta: Float
  ) {
    let four = skinnyVectors == 4
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
    var c00 = VectorF32(), c01 = VectorF32(), c02 = VectorF32(), c03 = VectorF32()
    var c10 = VectorF32(), c11 = VectorF32(), c12 = VectorF32(), c13 = VectorF32()
    var c20 = VectorF32(), c21 = VectorF32(), c22 = VectorF32(), c23 = VectorF32()
    var c30 = VectorF32(), c31 = VectorF32(), c32 = VectorF32(), c33 = VectorF32()
    var c40 = VectorF32(), c41 = VectorF32(), c42 = VectorF32(), c43 = VectorF32()
    var c50 = VectorF32(), c51 = VectorF32(), c52 = VectorF32(), c53 = VectorF32()
    var pb = b
    let distance = skinnyPrefetchDistance
    let ahead = distance * ldb
    for d in 0..<depth {
      let b0 = loadVector(pb), b1 = loadVector(pb + lanes)
      let b2 = four ? loadVector(pb + 2 * lanes) : b0, b3 = four ? loadVector(pb + 3 * lanes) : b1
      if d + distance < depth {
        // Each 64-byte line of the tile's columns (4 on AVX-512, 1 on AVX2 and SSE).
        var line = 0
        while line < skinnyVectors * lanes {
          arrowhead_prefetch_for_read(pb + ahead + line)
          line += 16
        }
      }
      pb += ldb
      var x = VectorF32(repeating: a0[d])
      c00 = multiplyAdd(x, b0, c00); c01 = multiplyAdd(x, b1, c01)
      if four { c02 = multiplyAdd(x, b2, c02); c03 = multiplyAdd(x, b3, c03) }
      x = VectorF32(repeating: a1[d])
      c10 = multiplyAdd(x, b0, c10); c11 = multiplyAdd(x, b1, c11)
      if four { c12 = multiplyAdd(x, b2, c12); c13 = multiplyAdd(x, b3, c13) }
      if rows > 2 {
        x = VectorF32(repeating: a2[d])
        c20 = multiplyAdd(x, b0, c20); c21 = multiplyAdd(x, b1, c21)
        if four { c22 = multiplyAdd(x, b2, c22); c23 = multiplyAdd(x, b3, c23) }
      }
      if rows > 3 {
        x = VectorF32(repeating: a3[d])
        c30 = multiplyAdd(x, b0, c30); c31 = multiplyAdd(x, b1, c31)
        if four { c32 = multiplyAdd(x, b2, c32); c33 = multiplyAdd(x, b3, c33) }
      }
      if rows > 4 {
        x = VectorF32(repeating: a4[d])
        c40 = multiplyAdd(x, b0, c40); c41 = multiplyAdd(x, b1, c41)
        if four { c42 = multiplyAdd(x, b2, c42); c43 = multiplyAdd(x, b3, c43) }
      }
      if rows > 5 {
        x = VectorF32(repeating: a5[d])
        c50 = multiplyAdd(x, b0, c50); c51 = multiplyAdd(x, b1, c51)
        if four { c52 = multiplyAdd(x, b2, c52); c53 = multiplyAdd(x, b3, c53) }
      }
    }
    @_transparent
    func write(_ s0: VectorF32, _ s1: VectorF32, _ s2: VectorF32, _ s3: VectorF32, _ row: UnsafeMutablePointer<Float>) {
      skinnyStore(s0, row, first, alpha, beta)
      skinnyStore(s1, row + lanes, first, alpha, beta)
      if four {
        skinnyStore(s2, row + 2 * lanes, first, alpha, beta)
        skinnyStore(s3, row + 3 * lanes, first, alpha, beta)
      }
    }
    write(c00, c01, c02, c03, c)
    write(c10, c11, c12, c13, c + ldc)
    if rows > 2 { write(c20, c21, c22, c23, c + 2 * ldc) }
    if rows > 3 { write(c30, c31, c32, c33, c + 3 * ldc) }
    if rows > 4 { write(c40, c41, c42, c43, c + 4 * ldc) }
    if rows > 5 { write(c50, c51, c52, c53, c + 5 * ldc) }
  }

  /// One vector of columns (the first `count` written) for `rows` rows, of which `computed`
  /// (a constant at each call) are multiplied, rows past `rows` aliasing row 0 (computed,
  /// never written): the blocks left of the wide ones, and the tail.
  @_transparent
  static func skinnyNarrowTile(
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>,
    _ ldc: Int, rows: Int, computed: Int, _ depth: Int, _ count: Int, _ first: Bool, _ alpha: Float, _ beta: Float
  ) {
    let a0 = a, a1 = a + lda, a2 = rows > 2 ? a + 2 * lda : a, a3 = rows > 3 ? a + 3 * lda : a
    let a4 = rows > 4 ? a + 4 * lda : a, a5 = rows > 5 ? a + 5 * lda : a
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32(), s4 = VectorF32(), s5 = VectorF32()
    var pb = b
    for d in 0..<depth {
      let v = loadVector(pb)
      pb += ldb
      s0 = multiplyAdd(VectorF32(repeating: a0[d]), v, s0)
      s1 = multiplyAdd(VectorF32(repeating: a1[d]), v, s1)
      if computed > 2 { s2 = multiplyAdd(VectorF32(repeating: a2[d]), v, s2) }
      if computed > 3 { s3 = multiplyAdd(VectorF32(repeating: a3[d]), v, s3) }
      if computed > 4 {
        s4 = multiplyAdd(VectorF32(repeating: a4[d]), v, s4)
        s5 = multiplyAdd(VectorF32(repeating: a5[d]), v, s5)
      }
    }
    @inline(__always)
    func write(_ sum: VectorF32, _ row: UnsafeMutablePointer<Float>) {
      if count == lanes {
        skinnyStore(sum, row, first, alpha, beta)
        return
      }
      for u in 0..<count {
        let value = alpha * sum[u]
        row[u] = first ? (beta == 0 ? value : value + beta * row[u]) : row[u] + value
      }
    }
    write(s0, c)
    write(s1, c + ldc)
    if rows > 2 { write(s2, c + 2 * ldc) }
    if rows > 3 { write(s3, c + 3 * ldc) }
    if rows > 4 { write(s4, c + 4 * ldc) }
    if rows > 5 { write(s5, c + 5 * ldc) }
  }

  /// Writes one vector of a tile: α·sum + β·C on the first depth block (β = 0: C not read),
  /// C + α·sum on later ones.
  @_transparent
  static func skinnyStore(_ sum: VectorF32, _ destination: UnsafeMutablePointer<Float>, _ first: Bool, _ alpha: Float, _ beta: Float) {
    let scaled = sum * VectorF32(repeating: alpha)
    if first {
      storeVector(beta == 0 ? scaled : multiplyAdd(VectorF32(repeating: beta), loadVector(destination), scaled), destination)
    } else {
      storeVector(loadVector(destination) + scaled, destination)
    }
  }
}

// MARK: - A·Bᵀ with few rows

// C ← α·A·Bᵀ + β·C with B stored n × k (a linear layer's x·Wᵀ) and few rows of A: every
// element of C is a dot product of two rows read in place, so nothing is packed. A tile is
// `skinnyDotRows` rows of A × 4 rows of B, 16 (AVX-512) or 8 vector accumulators along the
// depth, reduced at the end; the depth's last k mod lanes terms four at a time on 4-float
// loads (zero-extended), the last k mod 4 one by one (a whole vector load there would read
// the next row into the sum). Loop nest: chunks of 64 KiB of B
// outside (B is read from memory once, the passes after the first find the chunk in L2),
// passes over the rows of A inside (A, m × k, stays in L2). Threads split the rows of B.
extension SIMDGemm {
  /// Rows of A per tile of the dot-product kernel: 4 where 32 registers hold 4 × 4
  /// accumulators and 8 operands, else 2.
  @inline(__always)
  static var skinnyDotRows: Int { lanes >= 16 ? 4 : 2 }

  /// Bytes of B walked by every pass of rows before the next rows of B (several passes):
  /// the passes after the first read them from L2.
  /// Zen 4, v4, 1 thread, GFLOP/s with tiles of four rows of B outside → 64 KiB (best of
  /// three alternating runs): 8 × 128 × 128 69 → 78, 6 × 100 × 128 63 → 74, 16 × 128 × 128
  /// 70 → 77, 12 × 256 × 256 87 → 93, 8 × 384 × 384 94 → 98, 16 × 384 × 384 94 → 98;
  /// 8 × 4096 × 4096 (B from memory) unchanged; 128 KiB and 256 KiB no better.
  static let skinnyDotChunkBytes = 64 << 10

  /// Rows up to which `skinnyTransposed` runs a product of depth `depth` with a transposed
  /// B: 16, or 64 on AVX-512 from a depth of 768, where the reductions (one per element of
  /// C) weigh less against the depth loop. Zen 4, 1 thread, GFLOP/s blocked → dots:
  /// AVX-512 n × k = 384 × 384: m = 4 34 → 81, 16 69 → 82, 24 85 → 71; 384 × 1536: m = 2
  /// 9.5 → 63, 24 65 → 96, 64 84 → 98; 4096 × 4096: m = 4 7.6 → 25, 24 41 → 78; AVX2
  /// 384 × 384: 16 68 → 82, 24 85 → 60; 384 × 1536: 24 82 → 80.
  @inline(__always)
  static func skinnyTransposedMaximumRows(depth: Int) -> Int { lanes >= 16 && depth >= 768 ? 64 : 16 }

  /// Rows up to which `skinnyTransposed` also runs a product whose B is too large for
  /// `skinnyAfterTransposing` (above `skinnyTransposingBytes`): where its passes read B from
  /// L2 in chunks (`skinnyDotChunkBytes`), 17–32 rows beat the blocked path's packing. Zen 4,
  /// 1 thread, GFLOP/s blocked → dots (best of three alternating runs): AVX-512 24 × 384 × 384
  /// 85 → 99, 32 × 384 × 384 82 → 98, 20 × 256 × 256 71 → 93, 24 × 1 536 × 384 81 → 93,
  /// 32 × 384 × 512 66 → 100; AVX2 20 × 256 × 256 72 → 79, 32 × 384 × 512 78 → 86,
  /// 24 × 384 × 384 84 → 83. From 48 rows the blocked path is as fast (AVX-512 48 × 384 × 384
  /// 97 / 99) or faster (AVX2 48 × 384 × 384 92 / 59); with a small B the transposed copy
  /// wins (32 × 160 × 160 92 / 84, 32 × 200 × 100 89 / 56).
  static let skinnyTransposedLargeOperandRows = 32

  /// Whether `skinnyTransposed` takes a product: A not transposed, B transposed, 2 … the
  /// limit rows (up to `skinnyTransposedLargeOperandRows` when B is above
  /// `skinnyTransposingBytes`), A small enough to stay in L2 while B streams past it (half of
  /// L2, at least 256 KiB).
  @inline(__always)
  static func takesSkinnyTransposed(_ p: GemmOperands) -> Bool {
    guard p.rows >= 2, !p.transposeA, p.transposeB,
      p.rows * p.depth * MemoryLayout<Float>.size <= skinnyTransposedOperandBytes
    else { return false }
    if p.rows <= skinnyTransposedMaximumRows(depth: p.depth) { return true }
    guard p.rows <= skinnyTransposedLargeOperandRows else { return false }
    let (bytes, overflow) = p.depth.multipliedReportingOverflow(by: p.columns * MemoryLayout<Float>.size)
    return overflow || bytes > skinnyTransposingBytes
  }

  /// Bytes of A up to which `skinnyTransposed` runs: half of L2, at least 256 KiB.
  static let skinnyTransposedOperandBytes = max(CPUInfo.current.caches.l2 / 2, 256 << 10)

  /// C ← α·A·Bᵀ + β·C (B stored n × k) on up to `threads` threads (by rows of B).
  @inline(never)
  static func skinnyTransposed(_ p: GemmOperands, alpha: Float, beta: Float, threads: Int) {
    let work = p.rows * p.columns * p.depth
    if threads > 1 && work >= parallelThreshold && p.columns >= 16 {
      Parallel.forEachChunk(p.columns, granularity: 4, threads: threads) { columns in
        skinnyDots(p, columns, alpha: alpha, beta: beta)
      }
    } else {
      skinnyDots(p, 0..<p.columns, alpha: alpha, beta: beta)
    }
  }

  /// `skinnyTransposed` for the columns `columns` of C (rows of B).
  ///
  /// With one pass of rows (m ≤ `skinnyDotRows`) the kernel walks all the columns itself,
  /// so that consecutive tiles overlap in the core (a call per tile of four columns kept
  /// 2 × 64 × 64 at 39 GFLOP/s on Zen 4); with several passes, chunks of
  /// `skinnyDotChunkBytes` of B stay outside and every pass walks a whole chunk, so that B
  /// is read from memory once and tiles still follow each other within a call (a call per
  /// tile of four rows of B ran 8 × 128 × 128 at 69 GFLOP/s, 78 in chunks).
  static func skinnyDots(_ p: GemmOperands, _ columns: Range<Int>, alpha: Float, beta: Float) {
    let height = skinnyDotRows
    let rowBytes = max(1, p.depth) * MemoryLayout<Float>.size
    let chunk = p.rows <= height ? columns.count : max(4, skinnyDotChunkBytes / rowBytes / 4 * 4)
    var j = columns.lowerBound
    while j < columns.upperBound {
      let count = min(chunk, columns.upperBound - j)
      var i = 0
      while i < p.rows {
        let rows = min(height, p.rows - i)
        let a = p.a + i * p.lda, b = p.b + j * p.ldb, c = p.c + i * p.ldc + j
        let computed = height == 4 && rows > 2 ? 4 : rows == 2 ? 2 : 1
        skinnyDots(computed: computed, a, p.lda, b, p.ldb, c, p.ldc, rows, count, p.depth, alpha, beta)
        i += rows
      }
      j += count
    }
  }

  /// `computed` (1, 2 or 4) rows of A × `count` rows of B, in tiles of four rows of B: each
  /// count a loop of its own, on the variant's vectors, or on 256-bit ones where 512-bit
  /// instructions run as two halves (Zen 4: `wideVectorsAreSplit`), as the AVX2 variant does
  /// (2 × 64 × 64 ran at 28 GFLOP/s on 512-bit tiles, 41 on 256-bit ones).
  @inline(never)
  static func skinnyDots(
    computed: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ count: Int, _ depth: Int, _ alpha: Float, _ beta: Float
  ) {
    let half = lanes > 8 && wideVectorsAreSplit
    switch (computed, half) {
    case (4, true): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 4, rows, count, depth, alpha, beta, SIMD8<Float>.self)
    case (4, false): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 4, rows, count, depth, alpha, beta, VectorF32.self)
    case (2, true): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 2, rows, count, depth, alpha, beta, SIMD8<Float>.self)
    case (2, false): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 2, rows, count, depth, alpha, beta, VectorF32.self)
    case (_, true): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 1, rows, count, depth, alpha, beta, SIMD8<Float>.self)
    case (_, false): skinnyDotTiles(a, lda, b, ldb, c, ldc, computed: 1, rows, count, depth, alpha, beta, VectorF32.self)
    }
  }

  /// `skinnyDotTile` over `count` rows of B, four at a time.
  @_transparent
  static func skinnyDotTiles<V: SIMD>(
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>,
    _ ldc: Int, computed: Int, _ rows: Int, _ count: Int, _ depth: Int, _ alpha: Float, _ beta: Float, _: V.Type
  ) where V.Scalar == Float {
    var j = 0
    while j < count {
      let tile = min(4, count - j)
      skinnyDotTile(a, lda, b + j * ldb, ldb, c + j, ldc, computed: computed, rows, tile, depth, alpha, beta, V.self)
      j += 4
    }
  }

  /// `computed` (a constant at each call: 1, 2 or 4) rows of A, of which the first `rows`
  /// are written (the others alias row 0), × 4 rows of B, of which the first `count` are
  /// written (the others alias row 0 of the tile), on vectors `V`.
  @_transparent
  static func skinnyDotTile<V: SIMD>(
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>,
    _ ldc: Int, computed: Int, _ rows: Int, _ count: Int, _ depth: Int, _ alpha: Float, _ beta: Float, _: V.Type
  ) where V.Scalar == Float {
    let width = floatCount(V.self)
    let a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2 * lda : a, a3 = rows > 3 ? a + 3 * lda : a
    let b0 = b, b1 = count > 1 ? b + ldb : b, b2 = count > 2 ? b + 2 * ldb : b, b3 = count > 3 ? b + 3 * ldb : b
    var s00 = V(), s01 = V(), s02 = V(), s03 = V()
    var s10 = V(), s11 = V(), s12 = V(), s13 = V()
    var s20 = V(), s21 = V(), s22 = V(), s23 = V()
    var s30 = V(), s31 = V(), s32 = V(), s33 = V()
    var p = 0
    while p + width <= depth {
      let y0 = loadFloats(b0 + p, V.self), y1 = loadFloats(b1 + p, V.self)
      let y2 = loadFloats(b2 + p, V.self), y3 = loadFloats(b3 + p, V.self)
      var x = loadFloats(a0 + p, V.self)
      s00 = multiplyAddNarrow(x, y0, s00); s01 = multiplyAddNarrow(x, y1, s01)
      s02 = multiplyAddNarrow(x, y2, s02); s03 = multiplyAddNarrow(x, y3, s03)
      if computed > 1 {
        x = loadFloats(a1 + p, V.self)
        s10 = multiplyAddNarrow(x, y0, s10); s11 = multiplyAddNarrow(x, y1, s11)
        s12 = multiplyAddNarrow(x, y2, s12); s13 = multiplyAddNarrow(x, y3, s13)
      }
      if computed > 2 {
        x = loadFloats(a2 + p, V.self)
        s20 = multiplyAddNarrow(x, y0, s20); s21 = multiplyAddNarrow(x, y1, s21)
        s22 = multiplyAddNarrow(x, y2, s22); s23 = multiplyAddNarrow(x, y3, s23)
        x = loadFloats(a3 + p, V.self)
        s30 = multiplyAddNarrow(x, y0, s30); s31 = multiplyAddNarrow(x, y1, s31)
        s32 = multiplyAddNarrow(x, y2, s32); s33 = multiplyAddNarrow(x, y3, s33)
      }
      p += width
    }
    // Four more terms at a time on 4-float vectors, zero-extended to `V` (the upper lanes add
    // 0·0): 2 × 100 × 77 spent a fifth of its time on its last five terms one by one. The
    // body repeats the loop's above on purpose: one nested function for both, mutating the
    // sixteen sums it captured, ran the tiles 6–8 times slower (2 × 100 × 77 53 → 6 GFLOP/s).
    while width > 4 && p + 4 <= depth {
      let y0 = widened(b0 + p, V.self), y1 = widened(b1 + p, V.self)
      let y2 = widened(b2 + p, V.self), y3 = widened(b3 + p, V.self)
      var x = widened(a0 + p, V.self)
      s00 = multiplyAddNarrow(x, y0, s00); s01 = multiplyAddNarrow(x, y1, s01)
      s02 = multiplyAddNarrow(x, y2, s02); s03 = multiplyAddNarrow(x, y3, s03)
      if computed > 1 {
        x = widened(a1 + p, V.self)
        s10 = multiplyAddNarrow(x, y0, s10); s11 = multiplyAddNarrow(x, y1, s11)
        s12 = multiplyAddNarrow(x, y2, s12); s13 = multiplyAddNarrow(x, y3, s13)
      }
      if computed > 2 {
        x = widened(a2 + p, V.self)
        s20 = multiplyAddNarrow(x, y0, s20); s21 = multiplyAddNarrow(x, y1, s21)
        s22 = multiplyAddNarrow(x, y2, s22); s23 = multiplyAddNarrow(x, y3, s23)
        x = widened(a3 + p, V.self)
        s30 = multiplyAddNarrow(x, y0, s30); s31 = multiplyAddNarrow(x, y1, s31)
        s32 = multiplyAddNarrow(x, y2, s32); s33 = multiplyAddNarrow(x, y3, s33)
      }
      p += 4
    }
    let tail = p
    @inline(__always)
    func finish(_ s0: V, _ s1: V, _ s2: V, _ s3: V, _ x: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>) {
      // The four sums reduced together (`reduceFour`), then the depth's last terms.
      var t = reduceFour(s0, s1, s2, s3)
      if tail < depth {
        var t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3]
        for q in tail..<depth {
          t0 = multiplyAdd(x[q], b0[q], t0); t1 = multiplyAdd(x[q], b1[q], t1)
          t2 = multiplyAdd(x[q], b2[q], t2); t3 = multiplyAdd(x[q], b3[q], t3)
        }
        t = SIMD4(t0, t1, t2, t3)
      }
      let scaled = t * SIMD4(repeating: alpha)
      if count == 4 {
        let raw = UnsafeMutableRawPointer(row)
        let value = beta == 0 ? scaled : scaled + SIMD4(repeating: beta) * raw.loadUnaligned(as: SIMD4<Float>.self)
        raw.storeBytes(of: value, as: SIMD4<Float>.self)
        return
      }
      for j in 0..<count { row[j] = beta == 0 ? scaled[j] : scaled[j] + beta * row[j] }
    }
    finish(s00, s01, s02, s03, a0, c)
    if rows > 1 { finish(s10, s11, s12, s13, a1, c + ldc) }
    if rows > 2 { finish(s20, s21, s22, s23, a2, c + 2 * ldc) }
    if rows > 3 { finish(s30, s31, s32, s33, a3, c + 3 * ldc) }
  }
}

/// The sums of the lanes of four vectors (16, 8 or 4 floats), as one 4-lane vector: 16 and 8
/// floats through `arrowhead_sum_lanes_of_four` (16 folded to 8 first, low half + high
/// half), 4 floats added pairwise across registers (a transpose-and-add).
///
/// The C helper (arrowhead_reduce.h) compiles to in-lane unpacks and one extract; the same
/// tree in Swift (`lowHalf`, `evenHalf`, `oddHalf`) compiled to cross-lane permutes and
/// `vinsertps` chains, about 35 instructions for four 8-float sums (2 × 64 × 64 A·Bᵀ on
/// Zen 4: 47 → 69 GFLOP/s).
@_transparent
func reduceFour<V: SIMD>(_ a: V, _ b: V, _ c: V, _ d: V) -> SIMD4<Float> where V.Scalar == Float {
  switch MemoryLayout<V>.size / 4 {
  case 16:
    let a16 = unsafeBitCast(a, to: SIMD16<Float>.self), b16 = unsafeBitCast(b, to: SIMD16<Float>.self)
    let c16 = unsafeBitCast(c, to: SIMD16<Float>.self), d16 = unsafeBitCast(d, to: SIMD16<Float>.self)
    return arrowhead_sum_lanes_of_four(
      a16.lowHalf + a16.highHalf, b16.lowHalf + b16.highHalf, c16.lowHalf + c16.highHalf, d16.lowHalf + d16.highHalf)
  case 8:
    return arrowhead_sum_lanes_of_four(
      unsafeBitCast(a, to: SIMD8<Float>.self), unsafeBitCast(b, to: SIMD8<Float>.self),
      unsafeBitCast(c, to: SIMD8<Float>.self), unsafeBitCast(d, to: SIMD8<Float>.self))
  default:
    let ab = SIMD8(lowHalf: unsafeBitCast(a, to: SIMD4<Float>.self), highHalf: unsafeBitCast(b, to: SIMD4<Float>.self))
    let cd = SIMD8(lowHalf: unsafeBitCast(c, to: SIMD4<Float>.self), highHalf: unsafeBitCast(d, to: SIMD4<Float>.self))
    let pairs = SIMD8(lowHalf: ab.evenHalf + ab.oddHalf, highHalf: cd.evenHalf + cd.oddHalf)
    return pairs.evenHalf + pairs.oddHalf
  }
}

/// Four floats at `pointer` in the low lanes of a vector `V` of 16, 8 or 4 floats, the other
/// lanes 0 (a 128-bit load, which clears the upper lanes of its register).
@_transparent
func widened<V: SIMD>(_ pointer: UnsafePointer<Float>, _: V.Type) -> V where V.Scalar == Float {
  let four = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
  switch MemoryLayout<V>.size / 4 {
  case 16: return unsafeBitCast(SIMD16(lowHalf: SIMD8(lowHalf: four, highHalf: .zero), highHalf: .zero), to: V.self)
  case 8: return unsafeBitCast(SIMD8(lowHalf: four, highHalf: .zero), to: V.self)
  default: return unsafeBitCast(four, to: V.self)
  }
}

/// `count` floats at `pointer` as a vector `V` of 16, 8 or 4 floats, through a load of the
/// concrete type (a generic `loadUnaligned(as: V.self)` left in the unspecialized body is a
/// weak stdlib symbol every ISA module would define: see ISAVariantTests).
@_transparent
func loadFloats<V: SIMD>(_ pointer: UnsafePointer<Float>, _: V.Type) -> V where V.Scalar == Float {
  let raw = UnsafeRawPointer(pointer)
  switch MemoryLayout<V>.size / 4 {
  case 16: return unsafeBitCast(raw.loadUnaligned(as: SIMD16<Float>.self), to: V.self)
  case 8: return unsafeBitCast(raw.loadUnaligned(as: SIMD8<Float>.self), to: V.self)
  default: return unsafeBitCast(raw.loadUnaligned(as: SIMD4<Float>.self), to: V.self)
  }
}

/// Stores a vector `V` of 16, 8 or 4 floats at `pointer` through a store of the concrete type
/// (see `loadFloats`).
@_transparent
func storeFloats<V: SIMD>(_ vector: V, _ pointer: UnsafeMutablePointer<Float>) where V.Scalar == Float {
  let raw = UnsafeMutableRawPointer(pointer)
  switch MemoryLayout<V>.size / 4 {
  case 16: raw.storeBytes(of: unsafeBitCast(vector, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
  case 8: raw.storeBytes(of: unsafeBitCast(vector, to: SIMD8<Float>.self), as: SIMD8<Float>.self)
  default: raw.storeBytes(of: unsafeBitCast(vector, to: SIMD4<Float>.self), as: SIMD4<Float>.self)
  }
}

// A·Bᵀ with more rows than the dot tiles take and a small B, on one thread: B is copied
// transposed (`transposeCopy`: 4 × 4 register transposes), then `skinny` reads the copy in
// place. The blocked path packs B transposed into slivers as well, then packs A and runs its
// 6-row micro-tile, whose partial tiles weigh at these sizes. Zen 4, v4, 1 thread, GFLOP/s
// blocked → copy + skinny (OpenBLAS in the same run): 80³ 70 → 101 (84), 100³ 71 → 92 (87),
// 48 × 100 × 100 67 → 88 (81), 40 × 200 × 100 70 → 91 (80), 128 × 64 × 256 96 → 106 (94),
// 64 × 160 × 160 (B 100 KiB) 85 → 100 (87); from about 128 KiB of B the copy costs what it
// saves (120 × 180 × 180: 96 / 91–102, 128 × 384 × 384 99 → 97, 64 × 256 × 256 95 → 84,
// 128 × 1024 × 1024 77 → 62). Two threads split the blocked path's rows, where this one
// would run on one (100³ at 2 threads: 123 blocked, 92 here).
extension SIMDGemm {
  /// Bytes of B (n·k floats) up to which `skinnyAfterTransposing` copies it.
  static let skinnyTransposingBytes = 128 << 10

  /// Whether `skinnyAfterTransposing` takes a product: A not transposed, B transposed, the
  /// rows `skinny` takes, B no larger than `skinnyTransposingBytes`, and one thread (by
  /// `threads` or because the work is below `parallelThreshold`).
  @inline(__always)
  static func takesSkinnyAfterTransposing(_ p: GemmOperands, threads: Int) -> Bool {
    guard p.rows >= 2, p.rows <= skinnyMaximumRows, !p.transposeA, p.transposeB else { return false }
    guard threads <= 1 || p.rows * p.columns * p.depth < parallelThreshold else { return false }
    let (bytes, overflow) = p.depth.multipliedReportingOverflow(by: p.columns * MemoryLayout<Float>.size)
    return !overflow && bytes <= skinnyTransposingBytes
  }

  /// C ← α·A·Bᵀ + β·C through a transposed copy of B (k × n) and `skinny`, on one thread.
  @inline(never)
  static func skinnyAfterTransposing(_ p: GemmOperands, alpha: Float, beta: Float) {
    let k = p.depth, n = p.columns
    let copy = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
    defer { copy.deallocate() }
    transposeCopy(p.b, ld: p.ldb, rows: k, columns: n, into: copy, ldCopy: n)
    let normal: GemmOperands = (
      rows: p.rows, columns: n, depth: k, a: p.a, lda: p.lda, transposeA: false,
      b: UnsafePointer(copy), ldb: n, transposeB: false, c: p.c, ldc: p.ldc)
    skinny(normal, alpha: alpha, beta: beta, threads: 1)
  }
}
