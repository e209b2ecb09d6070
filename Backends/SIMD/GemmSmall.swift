// Small products (m·n·k ≤ SIMDGemm.smallWork, e.g. every dimension ≤ 64) of the SIMD
// backend: no packing, no heap. The micro-kernel reads A through six row pointers and B
// rows in place; only an operand that is transposed, or a ragged last column block of B,
// is copied into a zero-padded stack buffer. For such sizes the blocked path's packing and
// allocation cost as much as the arithmetic, and so does a BLAS library's call overhead.
import ArrowheadCore

extension SIMDGemm {
  /// Work (m·n·k) up to which `small` is used: every dimension ≤ 64, or equivalent.
  static let smallWork = 64 * 64 * 64

  /// C ← α·op(A)·op(B) + β·C for a small problem, single-threaded.
  static func small(_ p: GemmOperands, alpha: Float, beta: Float) {
    let m = p.rows, n = p.columns, k = p.depth
    if n < microColumns && !p.transposeA && !p.transposeB {
      narrow(p, alpha: alpha, beta: beta)
      return
    }
    // op(A) as a normal matrix (copy only if transposed).
    withNormalized(p.a, ld: p.lda, rows: m, columns: k, transposed: p.transposeA, padColumnsTo: 1) { a, lda in
      // op(B) as a normal matrix whose row length is a multiple of the tile width when it
      // had to be copied anyway; otherwise B itself.
      withNormalized(p.b, ld: p.ldb, rows: k, columns: n, transposed: p.transposeB, padColumnsTo: microColumns) { b, ldb in
        let paddedB = p.transposeB
        var j = 0
        while j < n {
          let tileColumns = min(microColumns, n - j)
          if tileColumns == microColumns || paddedB {
            rowsOfTiles(a, lda: lda, b + j, ldb: ldb, p.c + j, ldc: p.ldc, rows: m, depth: k,
                        tileColumns: tileColumns, alpha: alpha, beta: beta)
          } else {
            // Ragged last block of an in-place B: copy it into a zero-padded k × NR buffer.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: k * microColumns) { edge in
              let e = edge.baseAddress!
              for row in 0..<k {
                for column in 0..<microColumns {
                  e[row * microColumns + column] = column < tileColumns ? b[row * ldb + j + column] : 0
                }
              }
              rowsOfTiles(a, lda: lda, e, ldb: microColumns, p.c + j, ldc: p.ldc, rows: m, depth: k,
                          tileColumns: tileColumns, alpha: alpha, beta: beta)
            }
          }
          j += microColumns
        }
      }
    }
  }

  /// Fewer columns than one tile (n < 2·lanes): each row of C is one or two vector
  /// registers accumulating a[i][p]·B[p, 0..<n]. Four rows are computed together, so that
  /// each B load feeds four independent multiply–add chains (one chain alone is bound by
  /// the FMA latency: 64 × 8 × 64 ran at 9 GFLOP/s on AVX2). Every element still sums over
  /// the depth in order, so results do not depend on the grouping. B rows are loaded as
  /// whole vectors while such a load stays inside B (the lanes past n then read the
  /// following rows, whose products are discarded); the last rows are loaded lane by lane.
  static func narrow(_ p: GemmOperands, alpha: Float, beta: Float) {
    let n = p.columns, k = p.depth
    let twoVectors = n > lanes
    let span = twoVectors ? 2 * lanes : lanes
    let end = (k - 1) * p.ldb + n  // one past B's last element, relative to B
    @inline(__always)
    func store(_ sum0: VectorF32, _ sum1: VectorF32, row: Int) {
      let cRow = p.c + row * p.ldc
      for j in 0..<min(n, lanes) {
        cRow[j] = beta == 0 ? alpha * sum0[j] : alpha * sum0[j] + beta * cRow[j]
      }
      if twoVectors {
        for j in lanes..<n {
          cRow[j] = beta == 0 ? alpha * sum1[j - lanes] : alpha * sum1[j - lanes] + beta * cRow[j]
        }
      }
    }
    var i = 0
    while i < p.rows {
      let rowsHere = min(4, p.rows - i)
      // Rows past `rowsHere` alias the first one; their sums are discarded.
      let a0 = p.a + i * p.lda
      let a1 = rowsHere > 1 ? a0 + p.lda : a0
      let a2 = rowsHere > 2 ? a0 + 2 * p.lda : a0
      let a3 = rowsHere > 3 ? a0 + 3 * p.lda : a0
      var s00 = VectorF32(), s10 = VectorF32(), s20 = VectorF32(), s30 = VectorF32()
      var s01 = VectorF32(), s11 = VectorF32(), s21 = VectorF32(), s31 = VectorF32()
      for depth in 0..<k {
        let bRow = p.b + depth * p.ldb
        let inBounds = depth * p.ldb + span <= end
        let b0 = inBounds ? loadVector(bRow) : loadPadded(bRow, n)
        let x0 = VectorF32(repeating: a0[depth]), x1 = VectorF32(repeating: a1[depth])
        let x2 = VectorF32(repeating: a2[depth]), x3 = VectorF32(repeating: a3[depth])
        s00 = multiplyAdd(x0, b0, s00)
        s10 = multiplyAdd(x1, b0, s10)
        s20 = multiplyAdd(x2, b0, s20)
        s30 = multiplyAdd(x3, b0, s30)
        if twoVectors {
          let b1 = inBounds ? loadVector(bRow + lanes) : loadPadded(bRow + lanes, n - lanes)
          s01 = multiplyAdd(x0, b1, s01)
          s11 = multiplyAdd(x1, b1, s11)
          s21 = multiplyAdd(x2, b1, s21)
          s31 = multiplyAdd(x3, b1, s31)
        }
      }
      store(s00, s01, row: i)
      if rowsHere > 1 { store(s10, s11, row: i + 1) }
      if rowsHere > 2 { store(s20, s21, row: i + 2) }
      if rowsHere > 3 { store(s30, s31, row: i + 3) }
      i += 4
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
      for i in 0..<rows {
        for j in 0..<paddedColumns { copy[i * paddedColumns + j] = j < columns ? m[j * ld + i] : 0 }
      }
      body(copy, paddedColumns)
    }
  }

  /// One column block of C (≤ NR columns, B rows readable for a full NR) over all rows.
  @inline(__always)
  static func rowsOfTiles(
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, depth: Int, tileColumns: Int,
    alpha: Float, beta: Float
  ) {
    var i = 0
    while i < rows {
      let tileRows = min(microRows, rows - i)
      directKernel(depth: depth, a + i * lda, lda: lda, validRows: tileRows, b, ldb: ldb, c + i * ldc, ldc: ldc,
                   tileRows: tileRows, tileColumns: tileColumns, alpha: alpha, beta: beta)
      i += microRows
    }
  }

  /// The 6 × 2·lanes register tile reading A rows and B rows in place. Rows of A past
  /// `validRows` alias row 0 (their results are discarded), so nothing out of bounds is read.
  @inline(never)
  static func directKernel(
    depth: Int, _ a: UnsafePointer<Float>, lda: Int, validRows: Int,
    _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int,
    tileRows: Int, tileColumns: Int, alpha: Float, beta: Float
  ) {
    let a0 = a, a1 = validRows > 1 ? a + lda : a, a2 = validRows > 2 ? a + 2 * lda : a
    let a3 = validRows > 3 ? a + 3 * lda : a, a4 = validRows > 4 ? a + 4 * lda : a
    let a5 = validRows > 5 ? a + 5 * lda : a
    var c00 = VectorF32(), c01 = VectorF32(), c10 = VectorF32(), c11 = VectorF32()
    var c20 = VectorF32(), c21 = VectorF32(), c30 = VectorF32(), c31 = VectorF32()
    var c40 = VectorF32(), c41 = VectorF32(), c50 = VectorF32(), c51 = VectorF32()
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
      pb += ldb
    }
    let epilogue = linearEpilogue(alpha: alpha, beta: beta)
    if tileRows == microRows && tileColumns == microColumns {
      writeRow(c00, c01, c, row: 0, column: 0, epilogue, true, true)
      writeRow(c10, c11, c + ldc, row: 1, column: 0, epilogue, true, true)
      writeRow(c20, c21, c + 2 * ldc, row: 2, column: 0, epilogue, true, true)
      writeRow(c30, c31, c + 3 * ldc, row: 3, column: 0, epilogue, true, true)
      writeRow(c40, c41, c + 4 * ldc, row: 4, column: 0, epilogue, true, true)
      writeRow(c50, c51, c + 5 * ldc, row: 5, column: 0, epilogue, true, true)
      return
    }
    writePartialTile(
      (c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51), c, ldc: ldc,
      tileRows: tileRows, tileColumns: tileColumns, row: 0, column: 0, epilogue: epilogue,
      firstBlock: true, lastBlock: true)
  }
}
