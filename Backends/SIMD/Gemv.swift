// gemv of the SIMD backend: y ← α·op(A)·x + β·y. Every element of A is read once, so the
// speed is that of the loads — provided enough multiply–add chains are in flight (2 FMA
// units × 4 cycles of latency: 8 independent accumulators) and nothing else competes.
//
// op(A) = A: eight rows at a time, each a dot product with x accumulated in one vector
//   (x is loaded once for the eight); the eight vectors are reduced together by a tree of
//   pairwise even/odd sums (`rowSums`), not one horizontal sum each. A row's last partial
//   vector is the whole vector ending at the row's end, with x's at the same offset, the
//   lanes counted already masked to 0 in both (no lane-by-lane loads: a 16 × 45 product
//   spent most of its time loading its last row's tails lane by lane); rows shorter than
//   a vector load forward while that stays inside A, lane by lane otherwise.
// op(A) = Aᵀ: a block of up to eight vectors of y lives in registers while all rows of A
//   stream past; narrower blocks interleave 2, 4 or 8 rows into separate accumulators so
//   that eight chains are always in flight. The last partial vector is loaded whole when
//   that stays inside A (its extra lanes are never stored).
// Small products (a 64×64 matrix: 16 KiB) are dominated by these choices; large ones are
// bound by memory bandwidth whatever the kernel.
import ArrowheadCore
import CArrowheadCPU

enum SIMDGemv {
  /// Elements of A below which one thread does the whole product (256 KiB of A: 256²).
  /// AMD Zen 4, 2 threads, `bench gemv`: from 2¹⁸ (1 MiB) down to here the single-thread
  /// product ran 97–108 GB/s (Aᵀ·x 90–113) where two threads ran 143–172 (Aᵀ·x 132–193) at
  /// n = 256…448, and OpenBLAS, which splits from 9 216 elements, 103–156; below 2¹⁶ the
  /// split's gain is within the noise of a few-µs product (n = 184…224: 0.7–1.5×).
  static let parallelThreshold = 1 << 16

  /// Splits the output over threads: rows of A (op = A) or columns of A (op = Aᵀ), so each
  /// worker writes its own part of y and reads its own part of A.
  static func run(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    let outputs = transpose == .normal ? rows : columns
    if outputs == 0 { return }
    if rows == 0 || columns == 0 {
      // An empty sum: y ← β·y (β = 0 writes zeros: y is not read).
      for i in 0..<outputs { y[i] = beta == 0 ? 0 : beta * y[i] }
      return
    }
    nonEmpty(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }

  /// `run` for rows, columns ≥ 1.
  @inline(__always)
  static func nonEmpty(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    if rows * columns < parallelThreshold || threads <= 1 {
      if transpose == .normal {
        normal(rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, incy: 1)
      } else {
        transposed(rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y)
      }
      return
    }
    parallel(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }

  @inline(never)
  static func parallel(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    let output = UncheckedSendableBox(y)
    if transpose == .normal {
      Parallel.forEachChunk(rows, granularity: 64, threads: threads) { range in
        normal(rows: range.count, columns: columns, alpha: alpha, a + range.lowerBound * lda, lda: lda, x,
               beta: beta, output.value + range.lowerBound, incy: 1)
      }
    } else {
      Parallel.forEachChunk(columns, granularity: 64, threads: threads) { range in
        transposed(rows: rows, columns: range.count, alpha: alpha, a + range.lowerBound, lda: lda, x,
                   beta: beta, output.value + range.lowerBound)
      }
    }
  }

  /// `count` (≤ lanes) floats from `pointer`, the other lanes 0; reads nothing past them.
  @inline(__always)
  static func loadPartial(_ pointer: UnsafePointer<Float>, count: Int) -> VectorF32 {
    SIMDGemm.loadPadded(pointer, count)
  }

  /// `count` (≤ V's lanes) floats from `pointer` into a vector `V`, the other lanes 0.
  @inline(__always)
  static func loadPartial<V: GemvAccumulator>(_ pointer: UnsafePointer<Float>, count: Int, _: V.Type) -> V {
    var vector = V()
    var i = 0
    while i < count { vector[i] = pointer[i]; i += 1 }
    return vector
  }

  /// y[i·incy] ← α·(A·x)[i] + β·y[i·incy] for i < rows (rows, columns ≥ 1). β = 0: y is not
  /// read. `incy` lets the small gemm write one column of C.
  ///
  /// On a CPU that splits 512-bit instructions in two (`wideVectorsAreSplit`: Zen 4) the
  /// AVX-512 variant runs this kernel on 256-bit vectors: with 512-bit ones it ran 0.63–0.95×
  /// the AVX2 variant at n = 32…1 024 (AMD Zen 4, `bench gemv --threads 1`), from the
  /// 16-lane reductions and from rows whose 64-byte loads straddle cache lines.
  @inline(never)
  static func normal(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    if lanes >= 16 && wideVectorsAreSplit {
      normalRows(rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, incy: incy, SIMD8<Float>.self)
    } else {
      normalRows(rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, incy: incy, VectorF32.self)
    }
  }

  /// Row length (bytes of lda) up to which `normalPasses` reads the rows of a pass one after
  /// another when the matrix is past the caches. Eight rows read side by side are eight
  /// interleaved runs of a few hundred bytes per pass, which the hardware prefetchers do not
  /// follow from memory. Zen 4, `bench gemm --shape 1,N,K --transposed-b --threads 1`,
  /// GFLOP/s side by side → one after another: 100 000 × 128 (51 MB) 5.3 → 14, 29 522 × 384
  /// 6.8 → 16, 1 000 000 × 50 9.4 → 14, 40 000 × 128 (20 MB) 6 → 17.5, 12 000 × 384 9 → 21.
  static let normalSequentialRowBytes = 2048
  /// Bytes of A above which it does (half of L3, at least 8 MiB).
  static let normalSequentialMatrixBytes = max(CPUInfo.current.caches.l3 / 2, 8 << 20)

  /// `normalPasses` for vectors `V`, compiled once for rows that are whole vectors and once
  /// for rows with a partial last vector: the tail's code and state, present in the passes
  /// of the first kind, made them spill (n = 64 on AVX2: 84–98 GB/s with it, 109–110
  /// without).
  @inline(__always)
  static func normalRows<V: GemvAccumulator>(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>, incy: Int, _: V.Type
  ) {
    if columns % SIMDGemm.floatCount(V.self) == 0 {
      normalPasses(
        rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, incy: incy, V.self, partial: false)
    } else {
      normalPasses(
        rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, incy: incy, V.self, partial: true)
    }
  }

  /// `normal` on vectors `V`; `partial` (a constant at each call) says whether rows end in
  /// a partial vector (`columns` not a multiple of V's lanes).
  @inline(__always)
  static func normalPasses<V: GemvAccumulator>(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>, incy: Int, _: V.Type, partial: Bool
  ) {
    let lanes = SIMDGemm.floatCount(V.self)
    @inline(__always)
    func load(_ pointer: UnsafePointer<Float>) -> V { V.load(pointer) }

    let vectors = columns / lanes
    let tail = partial ? columns - vectors * lanes : 0
    let tailStart = vectors * lanes
    // A row's last partial vector (`tail` > 0 columns) is a product of one more vector of
    // the row and one of x, its lanes outside the tail masked to 0 in both (so that ±∞ or
    // NaN among them cannot leak in). With a whole vector before it (columns ≥ lanes), both
    // are loaded ending at the row's end (from columns − lanes: in bounds for every row,
    // and the masked lanes are elements counted already). Otherwise both start at the tail,
    // loaded whole while that stays inside A (the lanes past the row read the next row) and
    // lane by lane for the last rows; x (exactly `columns` floats) always lane by lane.
    let endAligned = vectors > 0
    let tailOffset = endAligned ? columns - lanes : tailStart
    let tailMask = V.tailMask(endAligned: endAligned, tail: tail)
    var xTail = V()
    if partial {
      if endAligned {
        xTail = V.keeping(load(x + tailOffset), where: tailMask)
      } else {
        xTail = loadPartial(x, count: tail, V.self)
      }
    }
    // One past A's last element: a row's whole tail load must end at or before it.
    let aEnd = a + (rows - 1) * lda + columns

    /// The tail of the row at `row`, masked.
    @inline(__always)
    func tailVector(_ row: UnsafePointer<Float>) -> V {
      if endAligned || row + tailOffset + lanes <= aEnd {
        return V.keeping(load(row + tailOffset), where: tailMask)
      }
      return loadPartial(row + tailStart, count: tail, V.self)
    }

    @inline(__always)
    func store(_ sum: Float, _ i: Int) {
      let destination = y + i * incy
      destination.pointee = beta == 0 ? alpha * sum : alpha * sum + beta * destination.pointee
    }

    /// The first `valid` of eight row sums stored from row `i` on: one vector store when all
    /// eight are valid and y is contiguous.
    @inline(__always)
    func storeEight(_ sums: SIMD8<Float>, _ i: Int, valid: Int) {
      if valid == 8 && incy == 1 {
        let raw = UnsafeMutableRawPointer(y + i)
        var value = sums * SIMD8(repeating: alpha)
        if beta != 0 { value = value + SIMD8(repeating: beta) * raw.loadUnaligned(as: SIMD8<Float>.self) }
        raw.storeBytes(of: value, as: SIMD8<Float>.self)
      } else {
        for r in 0..<valid { store(sums[r], i + r) }
      }
    }

    var i = 0
    // A matrix past the caches with short rows: the eight rows of a pass read one after
    // another, in memory order (`normalSequentialRowBytes`).
    if lda * MemoryLayout<Float>.size <= normalSequentialRowBytes
      && rows * lda * MemoryLayout<Float>.size > normalSequentialMatrixBytes {
      /// Σ row·x on two chains (even and odd vectors).
      @inline(__always)
      func rowSum(_ r: UnsafePointer<Float>) -> V {
        var s = V(), t = V()
        var j = 0, v = 0
        while v + 2 <= vectors {
          s = multiplyAddNarrow(load(r + j), load(x + j), s)
          t = multiplyAddNarrow(load(r + j + lanes), load(x + j + lanes), t)
          j += 2 * lanes
          v += 2
        }
        if v < vectors { s = multiplyAddNarrow(load(r + j), load(x + j), s) }
        if partial { t = multiplyAddNarrow(tailVector(r), xTail, t) }
        return s + t
      }
      while rows - i >= 8 {
        let r0 = a + i * lda
        let sums = V.reduceEight(
          rowSum(r0), rowSum(r0 + lda), rowSum(r0 + 2 * lda), rowSum(r0 + 3 * lda),
          rowSum(r0 + 4 * lda), rowSum(r0 + 5 * lda), rowSum(r0 + 6 * lda), rowSum(r0 + 7 * lda))
        storeEight(sums, i, valid: 8)
        i += 8
      }
    }
    // Eight rows per pass; the last pass of 5–7 rows aliases the missing rows to the first
    // (computed, never stored), and 1–4 remaining rows take a four-row pass.
    while rows - i > 4 {
      let valid = min(8, rows - i)
      let r0 = a + i * lda
      @inline(__always)
      func row(_ r: Int) -> UnsafePointer<Float> { r < valid ? r0 + r * lda : r0 }
      let r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
      var s0 = V(), s1 = V(), s2 = V(), s3 = V()
      var s4 = V(), s5 = V(), s6 = V(), s7 = V()
      var j = 0
      for _ in 0..<vectors {
        let xv = load(x + j)
        s0 = multiplyAddNarrow(load(r0 + j), xv, s0)
        s1 = multiplyAddNarrow(load(r1 + j), xv, s1)
        s2 = multiplyAddNarrow(load(r2 + j), xv, s2)
        s3 = multiplyAddNarrow(load(r3 + j), xv, s3)
        s4 = multiplyAddNarrow(load(r4 + j), xv, s4)
        s5 = multiplyAddNarrow(load(r5 + j), xv, s5)
        s6 = multiplyAddNarrow(load(r6 + j), xv, s6)
        s7 = multiplyAddNarrow(load(r7 + j), xv, s7)
        j += lanes
      }
      if partial {
        s0 = multiplyAddNarrow(tailVector(r0), xTail, s0)
        s1 = multiplyAddNarrow(tailVector(r1), xTail, s1)
        s2 = multiplyAddNarrow(tailVector(r2), xTail, s2)
        s3 = multiplyAddNarrow(tailVector(r3), xTail, s3)
        s4 = multiplyAddNarrow(tailVector(r4), xTail, s4)
        s5 = multiplyAddNarrow(tailVector(r5), xTail, s5)
        s6 = multiplyAddNarrow(tailVector(r6), xTail, s6)
        s7 = multiplyAddNarrow(tailVector(r7), xTail, s7)
      }
      let sums = V.reduceEight(s0, s1, s2, s3, s4, s5, s6, s7)
      storeEight(sums, i, valid: valid)
      i += 8
    }
    while i < rows {
      let valid = min(4, rows - i)
      let r0 = a + i * lda
      let r1 = valid > 1 ? r0 + lda : r0, r2 = valid > 2 ? r0 + 2 * lda : r0, r3 = valid > 3 ? r0 + 3 * lda : r0
      // Two accumulators per row (even and odd vectors): eight chains.
      var s0 = V(), s1 = V(), s2 = V(), s3 = V()
      var t0 = V(), t1 = V(), t2 = V(), t3 = V()
      var j = 0
      var v = 0
      while v + 2 <= vectors {
        let xv = load(x + j), xw = load(x + j + lanes)
        s0 = multiplyAddNarrow(load(r0 + j), xv, s0); t0 = multiplyAddNarrow(load(r0 + j + lanes), xw, t0)
        s1 = multiplyAddNarrow(load(r1 + j), xv, s1); t1 = multiplyAddNarrow(load(r1 + j + lanes), xw, t1)
        s2 = multiplyAddNarrow(load(r2 + j), xv, s2); t2 = multiplyAddNarrow(load(r2 + j + lanes), xw, t2)
        s3 = multiplyAddNarrow(load(r3 + j), xv, s3); t3 = multiplyAddNarrow(load(r3 + j + lanes), xw, t3)
        j += 2 * lanes
        v += 2
      }
      if v < vectors {
        let xv = load(x + j)
        s0 = multiplyAddNarrow(load(r0 + j), xv, s0)
        s1 = multiplyAddNarrow(load(r1 + j), xv, s1)
        s2 = multiplyAddNarrow(load(r2 + j), xv, s2)
        s3 = multiplyAddNarrow(load(r3 + j), xv, s3)
      }
      if partial {
        t0 = multiplyAddNarrow(tailVector(r0), xTail, t0)
        t1 = multiplyAddNarrow(tailVector(r1), xTail, t1)
        t2 = multiplyAddNarrow(tailVector(r2), xTail, t2)
        t3 = multiplyAddNarrow(tailVector(r3), xTail, t3)
      }
      let sums = V.reduceFour(s0 + t0, s1 + t1, s2 + t2, s3 + t3)
      for r in 0..<valid { store(sums[r], i + r) }
      i += 4
    }
  }

  /// y ← α·Aᵀ·x + β·y, y having `columns` elements (rows, columns ≥ 1). β = 0: y is not read.
  @inline(never)
  static func transposed(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    var j = 0
    if rows * columns >= streamingElements {
      // The columns the eight-vector blocks would take, row-streamed instead (same bits).
      j = columns - columns % (8 * lanes)
      if j > 0 { transposedStreaming(rows: rows, columns: j, alpha: alpha, a, lda: lda, x, beta: beta, y) }
    }
    while columns - j >= 8 * lanes {
      transposedBlock8(rows: rows, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j)
      j += 8 * lanes
    }
    if columns - j >= 4 * lanes {
      if lanes == 16 && wideVectorsAreSplit {
        transposedEightHalves(rows: rows, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j)
      } else {
        transposedBlock4(rows: rows, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j)
      }
      j += 4 * lanes
    }
    if columns - j >= 2 * lanes {
      if lanes == 16 && wideVectorsAreSplit {
        transposedFourHalves(rows: rows, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j)
      } else {
        transposedBlock2(rows: rows, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j)
      }
      j += 2 * lanes
    }
    if columns - j >= lanes {
      transposedBlock1(rows: rows, count: lanes, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j, safeRows: rows)
      j += lanes
    }
    let tail = columns - j
    if tail > 0 {
      // Rows whose whole-vector load from column j stays inside A.
      let end = (rows - 1) * lda + columns
      let safeRows = max(0, min(rows, (end - j - lanes) / lda + 1))
      transposedBlock1(
        rows: rows, count: tail, alpha: alpha, a + j, lda: lda, x, beta: beta, y + j,
        safeRows: end - j >= lanes ? safeRows : 0)
    }
  }

  /// Elements of A from which Aᵀ·x streams rows (`transposedStreaming`) instead of walking
  /// column blocks down all rows: 2 MiB, an L2 on the Xeon 6/207 (1 MiB on Zen 4).
  static let streamingElements = 1 << 19

  /// Columns per panel of `transposedStreaming` (32 KiB of sums). Each row of a panel is one
  /// contiguous run of A: from memory, longer runs read faster (AMD Zen 4, 1 thread, 4 096²:
  /// 23 GB/s with four rows into panels of 2 048, 30 with six rows into 8 192; OpenBLAS 31).
  static let streamingPanel = 8192

  /// Aᵀ·x for `columns` (a multiple of 8·lanes) columns with A read row by row: per panel
  /// of up to `streamingPanel` columns, six rows at a time are multiplied into the panel's
  /// sums (L1 or L2), then α·sum (+ β·y) is stored. A block of eight vectors walking down all rows reads
  /// 8·lanes floats per row, one short run per 4 KiB page when rows are long, which the
  /// prefetchers do not follow: from L3 it read 15–24 GB/s where the row-major gemv and
  /// OpenBLAS's Aᵀ·x read 24–26 (Xeon 6/207, n = 1 000…4 096). Every sum is the same chain
  /// of fused multiply–adds over the rows in order, from 0, as in `transposedBlock8`: the
  /// same bits.
  static func transposedStreaming(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    let capacity = min(columns, streamingPanel)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: capacity + 16) { buffer in
      let raw = UInt(bitPattern: buffer.baseAddress.unsafelyUnwrapped)
      let sums = buffer.baseAddress.unsafelyUnwrapped + Int((64 - raw % 64) % 64) / 4
      var first = 0
      while first < columns {
        let width = min(streamingPanel, columns - first)
        sums.update(repeating: 0, count: width)
        var i = 0
        while i + 6 <= rows {
          let x0 = VectorF32(repeating: x[i]), x1 = VectorF32(repeating: x[i + 1])
          let x2 = VectorF32(repeating: x[i + 2]), x3 = VectorF32(repeating: x[i + 3])
          let x4 = VectorF32(repeating: x[i + 4]), x5 = VectorF32(repeating: x[i + 5])
          let r0 = a + i * lda + first, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
          var j = 0
          while j < width {
            var s = loadVector(sums + j)
            s = multiplyAdd(loadVector(r0 + j), x0, s)
            s = multiplyAdd(loadVector(r1 + j), x1, s)
            s = multiplyAdd(loadVector(r2 + j), x2, s)
            s = multiplyAdd(loadVector(r3 + j), x3, s)
            s = multiplyAdd(loadVector(r4 + j), x4, s)
            s = multiplyAdd(loadVector(r5 + j), x5, s)
            storeVector(s, sums + j)
            j += lanes
          }
          i += 6
        }
        while i < rows {
          let xi = VectorF32(repeating: x[i])
          let r = a + i * lda + first
          var j = 0
          while j < width {
            storeVector(multiplyAdd(loadVector(r + j), xi, loadVector(sums + j)), sums + j)
            j += lanes
          }
          i += 1
        }
        var j = 0
        while j < width {
          storeOutput(loadVector(sums + j), y + first + j, count: lanes, alpha: alpha, beta: beta)
          j += lanes
        }
        first += width
      }
    }
  }

  /// Stores α·sum (+ β·y) into `count` (≤ lanes) elements of y.
  @inline(__always)
  static func storeOutput(_ sum: VectorF32, _ y: UnsafeMutablePointer<Float>, count: Int, alpha: Float, beta: Float) {
    SIMDGemm.storeNarrow(sum, y, count: count, alpha: alpha, beta: beta)
  }

  /// Eight vectors of y (8·lanes columns), one row per step.
  static func transposedBlock8(
    rows: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var s4 = VectorF32(), s5 = VectorF32(), s6 = VectorF32(), s7 = VectorF32()
    var row = a
    for i in 0..<rows {
      let xi = VectorF32(repeating: x[i])
      s0 = multiplyAdd(loadVector(row), xi, s0)
      s1 = multiplyAdd(loadVector(row + lanes), xi, s1)
      s2 = multiplyAdd(loadVector(row + 2 * lanes), xi, s2)
      s3 = multiplyAdd(loadVector(row + 3 * lanes), xi, s3)
      s4 = multiplyAdd(loadVector(row + 4 * lanes), xi, s4)
      s5 = multiplyAdd(loadVector(row + 5 * lanes), xi, s5)
      s6 = multiplyAdd(loadVector(row + 6 * lanes), xi, s6)
      s7 = multiplyAdd(loadVector(row + 7 * lanes), xi, s7)
      row += lda
    }
    storeOutput(s0, y, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s1, y + lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s2, y + 2 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s3, y + 3 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s4, y + 4 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s5, y + 5 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s6, y + 6 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s7, y + 7 * lanes, count: lanes, alpha: alpha, beta: beta)
  }

  /// 64 columns of y as eight 256-bit vectors, one row per step: where 512-bit instructions
  /// run as two halves (Zen 4, `wideVectorsAreSplit`), in place of `transposedBlock4`'s four
  /// 512-bit vectors, whose loads straddle cache lines whenever a row does not start on one.
  @inline(never)
  static func transposedEightHalves(
    rows: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    typealias H = SIMD8<Float>
    var s0 = H(), s1 = H(), s2 = H(), s3 = H(), s4 = H(), s5 = H(), s6 = H(), s7 = H()
    var row = a
    for i in 0..<rows {
      let xi = H(repeating: x[i])
      s0 = multiplyAddNarrow(loadFloats(row, H.self), xi, s0)
      s1 = multiplyAddNarrow(loadFloats(row + 8, H.self), xi, s1)
      s2 = multiplyAddNarrow(loadFloats(row + 16, H.self), xi, s2)
      s3 = multiplyAddNarrow(loadFloats(row + 24, H.self), xi, s3)
      s4 = multiplyAddNarrow(loadFloats(row + 32, H.self), xi, s4)
      s5 = multiplyAddNarrow(loadFloats(row + 40, H.self), xi, s5)
      s6 = multiplyAddNarrow(loadFloats(row + 48, H.self), xi, s6)
      s7 = multiplyAddNarrow(loadFloats(row + 56, H.self), xi, s7)
      row += lda
    }
    storeHalf(s0, y, alpha: alpha, beta: beta); storeHalf(s1, y + 8, alpha: alpha, beta: beta)
    storeHalf(s2, y + 16, alpha: alpha, beta: beta); storeHalf(s3, y + 24, alpha: alpha, beta: beta)
    storeHalf(s4, y + 32, alpha: alpha, beta: beta); storeHalf(s5, y + 40, alpha: alpha, beta: beta)
    storeHalf(s6, y + 48, alpha: alpha, beta: beta); storeHalf(s7, y + 56, alpha: alpha, beta: beta)
  }

  /// 32 columns of y as four 256-bit vectors, two rows per step (even and odd rows apart):
  /// `transposedBlock2`'s place where 512-bit instructions are split (see
  /// `transposedEightHalves`).
  @inline(never)
  static func transposedFourHalves(
    rows: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    typealias H = SIMD8<Float>
    var s0 = H(), s1 = H(), s2 = H(), s3 = H(), t0 = H(), t1 = H(), t2 = H(), t3 = H()
    var row = a
    var i = 0
    while i + 2 <= rows {
      let xi = H(repeating: x[i]), xk = H(repeating: x[i + 1])
      let next = row + lda
      s0 = multiplyAddNarrow(loadFloats(row, H.self), xi, s0); t0 = multiplyAddNarrow(loadFloats(next, H.self), xk, t0)
      s1 = multiplyAddNarrow(loadFloats(row + 8, H.self), xi, s1); t1 = multiplyAddNarrow(loadFloats(next + 8, H.self), xk, t1)
      s2 = multiplyAddNarrow(loadFloats(row + 16, H.self), xi, s2); t2 = multiplyAddNarrow(loadFloats(next + 16, H.self), xk, t2)
      s3 = multiplyAddNarrow(loadFloats(row + 24, H.self), xi, s3); t3 = multiplyAddNarrow(loadFloats(next + 24, H.self), xk, t3)
      row += 2 * lda
      i += 2
    }
    if i < rows {
      let xi = H(repeating: x[i])
      s0 = multiplyAddNarrow(loadFloats(row, H.self), xi, s0)
      s1 = multiplyAddNarrow(loadFloats(row + 8, H.self), xi, s1)
      s2 = multiplyAddNarrow(loadFloats(row + 16, H.self), xi, s2)
      s3 = multiplyAddNarrow(loadFloats(row + 24, H.self), xi, s3)
    }
    storeHalf(s0 + t0, y, alpha: alpha, beta: beta); storeHalf(s1 + t1, y + 8, alpha: alpha, beta: beta)
    storeHalf(s2 + t2, y + 16, alpha: alpha, beta: beta); storeHalf(s3 + t3, y + 24, alpha: alpha, beta: beta)
  }

  /// Stores α·sum (+ β·y) into 8 elements of y (β = 0: y is not read).
  @inline(__always)
  static func storeHalf(_ sum: SIMD8<Float>, _ y: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
    let scaled = sum * SIMD8(repeating: alpha)
    storeFloats(beta == 0 ? scaled : multiplyAddNarrow(SIMD8(repeating: beta), loadFloats(UnsafePointer(y), SIMD8<Float>.self), scaled), y)
  }

  /// Four vectors of y, two rows per step (even rows and odd rows accumulate apart).
  static func transposedBlock4(
    rows: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var t0 = VectorF32(), t1 = VectorF32(), t2 = VectorF32(), t3 = VectorF32()
    var row = a
    var i = 0
    while i + 2 <= rows {
      let xi = VectorF32(repeating: x[i]), xk = VectorF32(repeating: x[i + 1])
      let next = row + lda
      s0 = multiplyAdd(loadVector(row), xi, s0); t0 = multiplyAdd(loadVector(next), xk, t0)
      s1 = multiplyAdd(loadVector(row + lanes), xi, s1); t1 = multiplyAdd(loadVector(next + lanes), xk, t1)
      s2 = multiplyAdd(loadVector(row + 2 * lanes), xi, s2); t2 = multiplyAdd(loadVector(next + 2 * lanes), xk, t2)
      s3 = multiplyAdd(loadVector(row + 3 * lanes), xi, s3); t3 = multiplyAdd(loadVector(next + 3 * lanes), xk, t3)
      row += 2 * lda
      i += 2
    }
    if i < rows {
      let xi = VectorF32(repeating: x[i])
      s0 = multiplyAdd(loadVector(row), xi, s0)
      s1 = multiplyAdd(loadVector(row + lanes), xi, s1)
      s2 = multiplyAdd(loadVector(row + 2 * lanes), xi, s2)
      s3 = multiplyAdd(loadVector(row + 3 * lanes), xi, s3)
    }
    storeOutput(s0 + t0, y, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s1 + t1, y + lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s2 + t2, y + 2 * lanes, count: lanes, alpha: alpha, beta: beta)
    storeOutput(s3 + t3, y + 3 * lanes, count: lanes, alpha: alpha, beta: beta)
  }

  /// Two vectors of y, four rows per step.
  static func transposedBlock2(
    rows: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    var s0 = VectorF32(), s1 = VectorF32(), t0 = VectorF32(), t1 = VectorF32()
    var u0 = VectorF32(), u1 = VectorF32(), v0 = VectorF32(), v1 = VectorF32()
    var row = a
    var i = 0
    while i + 4 <= rows {
      let x0 = VectorF32(repeating: x[i]), x1 = VectorF32(repeating: x[i + 1])
      let x2 = VectorF32(repeating: x[i + 2]), x3 = VectorF32(repeating: x[i + 3])
      let row1 = row + lda, row2 = row + 2 * lda, row3 = row + 3 * lda
      s0 = multiplyAdd(loadVector(row), x0, s0); s1 = multiplyAdd(loadVector(row + lanes), x0, s1)
      t0 = multiplyAdd(loadVector(row1), x1, t0); t1 = multiplyAdd(loadVector(row1 + lanes), x1, t1)
      u0 = multiplyAdd(loadVector(row2), x2, u0); u1 = multiplyAdd(loadVector(row2 + lanes), x2, u1)
      v0 = multiplyAdd(loadVector(row3), x3, v0); v1 = multiplyAdd(loadVector(row3 + lanes), x3, v1)
      row += 4 * lda
      i += 4
    }
    while i < rows {
      let xi = VectorF32(repeating: x[i])
      s0 = multiplyAdd(loadVector(row), xi, s0)
      s1 = multiplyAdd(loadVector(row + lanes), xi, s1)
      row += lda
      i += 1
    }
    storeOutput((s0 + t0) + (u0 + v0), y, count: lanes, alpha: alpha, beta: beta)
    storeOutput((s1 + t1) + (u1 + v1), y + lanes, count: lanes, alpha: alpha, beta: beta)
  }

  /// One vector of y (`count` ≤ lanes valid columns), eight rows per step. Rows from
  /// `safeRows` on are loaded lane by lane (a whole load would leave A); the lanes past
  /// `count` hold whatever follows in A and are never stored.
  static func transposedBlock1(
    rows: Int, count: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, safeRows: Int
  ) {
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var s4 = VectorF32(), s5 = VectorF32(), s6 = VectorF32(), s7 = VectorF32()
    var i = 0
    while i + 8 <= safeRows {
      let row = a + i * lda
      s0 = multiplyAdd(loadVector(row), VectorF32(repeating: x[i]), s0)
      s1 = multiplyAdd(loadVector(row + lda), VectorF32(repeating: x[i + 1]), s1)
      s2 = multiplyAdd(loadVector(row + 2 * lda), VectorF32(repeating: x[i + 2]), s2)
      s3 = multiplyAdd(loadVector(row + 3 * lda), VectorF32(repeating: x[i + 3]), s3)
      s4 = multiplyAdd(loadVector(row + 4 * lda), VectorF32(repeating: x[i + 4]), s4)
      s5 = multiplyAdd(loadVector(row + 5 * lda), VectorF32(repeating: x[i + 5]), s5)
      s6 = multiplyAdd(loadVector(row + 6 * lda), VectorF32(repeating: x[i + 6]), s6)
      s7 = multiplyAdd(loadVector(row + 7 * lda), VectorF32(repeating: x[i + 7]), s7)
      i += 8
    }
    while i < safeRows {
      s0 = multiplyAdd(loadVector(a + i * lda), VectorF32(repeating: x[i]), s0)
      i += 1
    }
    while i < rows {
      s1 = multiplyAdd(loadPartial(a + i * lda, count: count), VectorF32(repeating: x[i]), s1)
      i += 1
    }
    storeOutput(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), y, count: count, alpha: alpha, beta: beta)
  }
}

// MARK: - Reductions of several accumulators at once

/// (a₀+a₁, a₂+a₃, …, b₀+b₁, b₂+b₃, …): adjacent lanes of `a` then of `b` summed — one
/// step of the tree that reduces several accumulators together (two permutes and one add
/// for two vectors, where two separate horizontal sums cost ~8 instructions each).
@inline(__always)
func pairSums(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
  SIMD8(lowHalf: a.evenHalf, highHalf: b.evenHalf) + SIMD8(lowHalf: a.oddHalf, highHalf: b.oddHalf)
}

@inline(__always)
func pairSums(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
  SIMD4(lowHalf: a.evenHalf, highHalf: b.evenHalf) + SIMD4(lowHalf: a.oddHalf, highHalf: b.oddHalf)
}

// The horizontal sums of 8 (or 4) accumulators as one vector, lane r = Σ lanes of sᵣ. One
// overload per vector width; each ISA module resolves the one its `VectorF32` needs.

// 16-lane accumulators are first folded to 8 lanes (low half + high half: one extract and
// one add each); the tree of 16-lane even/odd permutes compiled to dozens of 128-bit
// shuffles, which made the reductions cost more than a 64-column row's multiply–adds
// (gemv 64 × 64 on AVX-512 ran at 0.75× the AVX2 kernel).

@inline(__always)
func rowSums(
  _ s0: SIMD16<Float>, _ s1: SIMD16<Float>, _ s2: SIMD16<Float>, _ s3: SIMD16<Float>,
  _ s4: SIMD16<Float>, _ s5: SIMD16<Float>, _ s6: SIMD16<Float>, _ s7: SIMD16<Float>
) -> SIMD8<Float> {
  rowSums(
    s0.lowHalf + s0.highHalf, s1.lowHalf + s1.highHalf, s2.lowHalf + s2.highHalf, s3.lowHalf + s3.highHalf,
    s4.lowHalf + s4.highHalf, s5.lowHalf + s5.highHalf, s6.lowHalf + s6.highHalf, s7.lowHalf + s7.highHalf)
}

@inline(__always)
func rowSums(
  _ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>, _ s3: SIMD8<Float>,
  _ s4: SIMD8<Float>, _ s5: SIMD8<Float>, _ s6: SIMD8<Float>, _ s7: SIMD8<Float>
) -> SIMD8<Float> {
  arrowhead_sum_lanes_of_eight(s0, s1, s2, s3, s4, s5, s6, s7)
}

@inline(__always)
func rowSums(
  _ s0: SIMD4<Float>, _ s1: SIMD4<Float>, _ s2: SIMD4<Float>, _ s3: SIMD4<Float>,
  _ s4: SIMD4<Float>, _ s5: SIMD4<Float>, _ s6: SIMD4<Float>, _ s7: SIMD4<Float>
) -> SIMD8<Float> {
  SIMD8(
    lowHalf: pairSums(pairSums(s0, s1), pairSums(s2, s3)), highHalf: pairSums(pairSums(s4, s5), pairSums(s6, s7)))
}

@inline(__always)
func rowSums(_ s0: SIMD16<Float>, _ s1: SIMD16<Float>, _ s2: SIMD16<Float>, _ s3: SIMD16<Float>) -> SIMD4<Float> {
  rowSums(s0.lowHalf + s0.highHalf, s1.lowHalf + s1.highHalf, s2.lowHalf + s2.highHalf, s3.lowHalf + s3.highHalf)
}

@inline(__always)
func rowSums(_ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>, _ s3: SIMD8<Float>) -> SIMD4<Float> {
  arrowhead_sum_lanes_of_four(s0, s1, s2, s3)
}

@inline(__always)
func rowSums(_ s0: SIMD4<Float>, _ s1: SIMD4<Float>, _ s2: SIMD4<Float>, _ s3: SIMD4<Float>) -> SIMD4<Float> {
  pairSums(pairSums(s0, s1), pairSums(s2, s3))
}

// MARK: - Accumulator vectors of the row-major kernel

/// A vector the row-major gemv (`SIMDGemv.normalPasses`) accumulates in — 16, 8 or 4
/// floats — with the reductions of eight or four accumulators at once that suit its width
/// (the `rowSums` overloads) and its tail masks. A protocol, so that the generic kernel
/// reaches the concrete types' code once specialized: in generic code an overloaded call
/// resolves to the generic candidate, never to the concrete type's.
protocol GemvAccumulator: SIMD where Scalar == Float {
  /// The vector at `pointer` (any alignment). Not the stdlib's generic `loadUnaligned`,
  /// which an unspecialized caller would make every ISA module emit as one shared weak
  /// function (`ISAVariantTests`).
  static func load(_ pointer: UnsafePointer<Float>) -> Self
  /// Lane r = the sum of the lanes of sᵣ.
  static func reduceEight(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self, _ s4: Self, _ s5: Self, _ s6: Self, _ s7: Self)
    -> SIMD8<Float>
  /// Lane r = the sum of the lanes of sᵣ.
  static func reduceFour(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self) -> SIMD4<Float>
  /// The lanes of a row's last partial vector (`tail` > 0 columns): the last `tail` lanes
  /// when the vector ends at the row's end (`endAligned`), else the first `tail`.
  static func tailMask(endAligned: Bool, tail: Int) -> SIMDMask<MaskStorage>
  /// `v` with the lanes outside `mask` set to 0.
  static func keeping(_ v: Self, where mask: SIMDMask<MaskStorage>) -> Self
}

// The requirements are implemented on each concrete type: in generic code the SIMD
// comparisons and `replace` resolve to the stdlib's lane-by-lane generic versions (the tail
// mask, built through the stack, cost a 32 × 32 product a third of its time) where the
// concrete types have vector ones (`vcmpps`, `vblendvps`).

extension SIMD16: GemvAccumulator where Scalar == Float {
  @inline(__always)
  static func load(_ pointer: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Float>.self)
  }
  @inline(__always)
  static func tailMask(endAligned: Bool, tail: Int) -> SIMDMask<SIMD16<Int32>> {
    var indices = SIMD16<Float>()
    for lane in 0..<16 { indices[lane] = Float(lane) }
    return endAligned ? indices .>= SIMD16<Float>(repeating: Float(16 - tail)) : indices .< SIMD16<Float>(repeating: Float(tail))
  }
  @inline(__always)
  static func keeping(_ v: SIMD16<Float>, where mask: SIMDMask<SIMD16<Int32>>) -> SIMD16<Float> {
    var kept = v
    kept.replace(with: SIMD16<Float>(), where: .!mask)
    return kept
  }
  @inline(__always)
  static func reduceEight(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self, _ s4: Self, _ s5: Self, _ s6: Self, _ s7: Self)
    -> SIMD8<Float> { rowSums(s0, s1, s2, s3, s4, s5, s6, s7) }
  @inline(__always)
  static func reduceFour(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self) -> SIMD4<Float> { rowSums(s0, s1, s2, s3) }
}

extension SIMD8: GemvAccumulator where Scalar == Float {
  @inline(__always)
  static func load(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
  }
  @inline(__always)
  static func tailMask(endAligned: Bool, tail: Int) -> SIMDMask<SIMD8<Int32>> {
    var indices = SIMD8<Float>()
    for lane in 0..<8 { indices[lane] = Float(lane) }
    return endAligned ? indices .>= SIMD8<Float>(repeating: Float(8 - tail)) : indices .< SIMD8<Float>(repeating: Float(tail))
  }
  @inline(__always)
  static func keeping(_ v: SIMD8<Float>, where mask: SIMDMask<SIMD8<Int32>>) -> SIMD8<Float> {
    var kept = v
    kept.replace(with: SIMD8<Float>(), where: .!mask)
    return kept
  }
  @inline(__always)
  static func reduceEight(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self, _ s4: Self, _ s5: Self, _ s6: Self, _ s7: Self)
    -> SIMD8<Float> { rowSums(s0, s1, s2, s3, s4, s5, s6, s7) }
  @inline(__always)
  static func reduceFour(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self) -> SIMD4<Float> { rowSums(s0, s1, s2, s3) }
}

extension SIMD4: GemvAccumulator where Scalar == Float {
  @inline(__always)
  static func load(_ pointer: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
  }
  @inline(__always)
  static func tailMask(endAligned: Bool, tail: Int) -> SIMDMask<SIMD4<Int32>> {
    var indices = SIMD4<Float>()
    for lane in 0..<4 { indices[lane] = Float(lane) }
    return endAligned ? indices .>= SIMD4<Float>(repeating: Float(4 - tail)) : indices .< SIMD4<Float>(repeating: Float(tail))
  }
  @inline(__always)
  static func keeping(_ v: SIMD4<Float>, where mask: SIMDMask<SIMD4<Int32>>) -> SIMD4<Float> {
    var kept = v
    kept.replace(with: SIMD4<Float>(), where: .!mask)
    return kept
  }
  @inline(__always)
  static func reduceEight(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self, _ s4: Self, _ s5: Self, _ s6: Self, _ s7: Self)
    -> SIMD8<Float> { rowSums(s0, s1, s2, s3, s4, s5, s6, s7) }
  @inline(__always)
  static func reduceFour(_ s0: Self, _ s1: Self, _ s2: Self, _ s3: Self) -> SIMD4<Float> { rowSums(s0, s1, s2, s3) }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int
  ) {
    SIMDGemv.run(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }

  public static var gemvFunction: GemvFunction {
    { transpose, rows, columns, alpha, a, lda, x, beta, y, threads in
      SIMDGemv.nonEmpty(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
    }
  }
}
