// The gemm of the SIMD backend, after BLIS/GotoBLAS: a portable blocking-and-packing
// framework around one register-blocked micro-kernel of 6 rows × 2 vectors.
//
// Loop nest (C += A·B, every operand already through its transpose):
//   jc: columns of C in panels of GemmBlocking.nc
//     pc: depth in blocks of GemmBlocking.kc   → pack B[pc, jc] into slivers of 2·lanes columns
//       ic: rows of C in blocks of GemmBlocking.mc → pack A[ic, pc] into slivers of 6 rows
//         jr, ir: one micro-kernel call per 6 × 2·lanes tile of C
// Packing pads partial slivers with zeros, so the micro-kernel always runs a full tile;
// partial tiles are written back through a small buffer. The write-back applies alpha and
// beta (and, for distance matrices, the epilogue that turns X·Yᵀ into L2 or cosine).
import ArrowheadCore
import CArrowheadCPU
#if canImport(Glibc)
import Glibc

@inline(__always)
func adviseHugePages(_ pointer: UnsafeMutableRawPointer, _ byteCount: Int) {
  _ = madvise(pointer, byteCount, MADV_HUGEPAGE)
}
#else
@inline(__always)
func adviseHugePages(_ pointer: UnsafeMutableRawPointer, _ byteCount: Int) {}
#endif

let lanes = VectorF32.scalarCount
/// Rows of the micro-tile.
let microRows = 6
/// Columns of the micro-tile: two vectors.
let microColumns = 2 * VectorF32.scalarCount

@inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>) -> VectorF32 {
  UnsafeRawPointer(pointer).loadUnaligned(as: VectorF32.self)
}

@inline(__always)
func storeVector(_ vector: VectorF32, _ pointer: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: VectorF32.self)
}

// No struct or payload enum is declared in the per-ISA modules: the value witnesses of such
// a type (`__swift_memcpy88_8` …) are link-once helpers that every module emits with its own
// -march (AVX moves in v3/v4), and the linker would keep one copy for all. Tuples use the
// runtime's witnesses instead. ISAVariantTests checks that no such symbol is shared.

/// What the write-back does with the accumulated tile `acc` (= the product of this depth
/// block) and the previous content of C.
enum GemmEpilogueKind {
  /// C ← α·acc + β·C (β = 0: C not read).
  case linear
  /// C ← max(qn[i] + xn[j] − 2·(acc + C'), 0), C' = 0 on the first depth block; rowValues
  /// and columnValues hold ‖q‖² and ‖x‖².
  case squaredL2
  /// C ← (acc + C')·ri[i]·rj[j]; rowValues and columnValues hold reciprocal norms.
  case cosine
}

/// An epilogue: its kind, α and β (linear), and the per-row / per-column values (others).
typealias GemmEpilogue = (
  kind: GemmEpilogueKind, alpha: Float, beta: Float,
  rowValues: UnsafePointer<Float>?, columnValues: UnsafePointer<Float>?
)

/// C ← α·A·B + β·C.
/// Columns of a packed B panel for depth blocks of `kc`: 1024 where half of a core's L2 holds
/// such a panel (so the micro-kernel reads B from L2, not L3), else 3072. See the variants'
/// `GemmBlocking.nc`.
func gemmPanelColumns(kc: Int) -> Int {
  CPUInfo.current.caches.l2 / 2 >= 1024 * kc * MemoryLayout<Float>.size ? 1024 : 3072
}

@inline(__always)
func linearEpilogue(alpha: Float, beta: Float) -> GemmEpilogue { (.linear, alpha, beta, nil, nil) }

/// The 6 × 2 accumulator vectors of a micro-tile (row r, vector v at index 2r + v).
typealias MicroTile = (
  VectorF32, VectorF32, VectorF32, VectorF32, VectorF32, VectorF32,
  VectorF32, VectorF32, VectorF32, VectorF32, VectorF32, VectorF32
)

/// A gemm problem with operands already described through their transposes.
typealias GemmOperands = (
  rows: Int, columns: Int, depth: Int,
  a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
  b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
  c: UnsafeMutablePointer<Float>, ldc: Int
)

enum SIMDGemm {
  /// Work (m·n·k) below which a second thread costs more than it saves.
  static let parallelThreshold = 96 * 96 * 96
  /// Work from which the threads share one packed B panel (`blockedSharingB`).
  static let sharedPanelThreshold = 256 * 256 * 256
  /// Whether two workers share one packed B panel (from `sharedPanelThreshold`) or each
  /// multiplies an independent stripe of C with its own packed operands. Measured at two
  /// threads: sharing gained 2–3 % at n = 512/1024 on AMD Zen 5 (AVX2 variant), where the
  /// cores meet in one L3; on the Intel Xeon 6/207 (a mesh, each core's L2 private) it lost
  /// 1–38 %: each core reads the half of the panel that the other packed from that core's
  /// L2 (v4, 2 threads, best of 5, shared → independent: 128×384×384 0.155 → 0.096 ms,
  /// 128×1536×384 0.582 → 0.417, 256³ 0.106 → 0.082, 2048³ 43.3 → 41.2). More workers keep
  /// sharing: duplicated packing grows with their number, and no such machine was measured.
  /// On AMD Zen 4 (family 0x19, 2 vCPUs) sharing lost 12–20 % at the MiniLM shapes and 5 %
  /// at 256³, and tied from 1024³ up (v4, 2 threads, `bench qgemm` SGEMM rows, x·Wᵀ, best of
  /// 5, shared → independent: 128×384×384 0.224–0.234 → 0.187–0.201 ms, 128×384×1536
  /// 0.90–0.91 → 0.79–0.80, 512×384×1536 3.49–3.54 → 2.94–3.00, 512×1536×384 2.84–3.52 →
  /// 2.77–2.85, 512×384×384 0.72–0.73 → 0.70–0.72; `bench gemm` 256³ 0.170 → 0.161, 512³
  /// 1.26 → 1.24, 1024³ 9.96–10.05 → 10.02–10.26, 2048³ 80.2–81.2 → 81.0–81.5; the
  /// 1000 × 100 000 × 128 distance matrix 125.1–125.8 → 127.5–128.0): there the panel is
  /// shared only from `zen4SharedPanelWork`. `ARROWHEAD_GEMM_SHARED_PANEL=on|off` overrides
  /// the CPU's default for every size.
  static let sharedPanelPolicy: SharedPanelPolicy = {
    switch getenv("ARROWHEAD_GEMM_SHARED_PANEL").map({ String(cString: $0) }) {
    case "on": return .always
    case "off": return .never
    default:
      let cpu = CPUInfo.current
      if cpu.vendor == "GenuineIntel" { return .never }
      return cpu.vendor == "AuthenticAMD" && cpu.family == 0x19 ? .fromWork(zen4SharedPanelWork) : .always
    }
  }()

  /// Work from which two workers share a packed B panel on AMD family 0x19 (see
  /// `sharedPanelPolicy`).
  static let zen4SharedPanelWork = 1024 * 1024 * 1024

  /// When two workers share one packed B panel.
  enum SharedPanelPolicy {
    case always, never
    /// From this much work (m·n·k) on.
    case fromWork(Int)

    /// Whether two workers share the panel of a product of `work`.
    func shares(work: Int) -> Bool {
      switch self {
      case .always: true
      case .never: false
      case .fromWork(let threshold): work >= threshold
      }
    }
  }

  /// C ← epilogue(op(A)·op(B)) on up to `threads` threads.
  @inline(never)
  static func run(_ problem: GemmOperands, epilogue: GemmEpilogue, threads: Int) {
    let m = problem.rows, n = problem.columns, k = problem.depth
    if m == 0 || n == 0 { return }
    if k == 0 {
      // Nothing to multiply: apply the epilogue to a zero product.
      applyToZeroProduct(problem, epilogue: epilogue)
      return
    }
    let work = m * n * k
    if work <= smallWork, epilogue.kind == .linear {
      small(problem, alpha: epilogue.alpha, beta: epilogue.beta)
      return
    }
    if epilogue.kind == .linear && takesSkinny(problem) {
      skinny(problem, alpha: epilogue.alpha, beta: epilogue.beta, threads: threads)
      return
    }
    if epilogue.kind == .linear && takesSkinnyTransposed(problem) {
      skinnyTransposed(problem, alpha: epilogue.alpha, beta: epilogue.beta, threads: threads)
      return
    }
    if epilogue.kind == .linear && takesSkinnyAfterTransposing(problem, threads: threads) {
      skinnyAfterTransposing(problem, alpha: epilogue.alpha, beta: epilogue.beta)
      return
    }
    let workers = work < parallelThreshold ? 1 : max(1, threads)
    if workers == 1 {
      blocked(problem, rowRange: 0..<m, columnRange: 0..<n, epilogue: epilogue)
      return
    }
    // Split C into independent stripes: by rows when there are enough micro-rows, else by
    // columns. Each worker packs its own operands (no synchronisation inside).
    let rowTiles = (m + microRows - 1) / microRows
    let columnTiles = (n + microColumns - 1) / microColumns
    if workers == 2 && !sharedPanelPolicy.shares(work: work) && columnTiles >= 2 {
      // Independent stripes, split where the duplicated packing is smaller: by rows each
      // worker packs all of B (n·k), by columns all of A (m·k). Xeon 6/207, best of 5 ms,
      // rows / columns: 128×1536×384 0.540 / 0.417, 512×384×1536 1.445 / 1.551, 256³
      // 0.082 / 0.087 (equal sizes within 5 % either way).
      if m >= n {
        Parallel.forEachChunk(m, granularity: microRows, threads: workers) { rows in
          blocked(problem, rowRange: rows, columnRange: 0..<n, epilogue: epilogue)
        }
      } else {
        Parallel.forEachChunk(n, granularity: microColumns, threads: workers) { columns in
          blocked(problem, rowRange: 0..<m, columnRange: columns, epilogue: epilogue)
        }
      }
      return
    }
    if rowTiles >= columnTiles || rowTiles >= 4 * workers {
      if work >= sharedPanelThreshold {
        blockedSharingB(problem, epilogue: epilogue, workers: workers)
      } else {
        // Small enough that a second fork–join per block costs more than the duplicated
        // packing of B (n = 128: ~20 µs per call).
        Parallel.forEachChunk(m, granularity: microRows, threads: workers) { rows in
          blocked(problem, rowRange: rows, columnRange: 0..<n, epilogue: epilogue)
        }
      }
    } else {
      Parallel.forEachChunk(n, granularity: microColumns, threads: workers) { columns in
        blocked(problem, rowRange: 0..<m, columnRange: columns, epilogue: epilogue)
      }
    }
  }

  static func applyToZeroProduct(_ p: GemmOperands, epilogue: GemmEpilogue) {
    for i in 0..<p.rows {
      for j in 0..<p.columns {
        let c = p.c + i * p.ldc + j
        switch epilogue.kind {
        case .linear: c.pointee = epilogue.beta == 0 ? 0 : epilogue.beta * c.pointee
        case .squaredL2:
          c.pointee = max(epilogue.rowValues.unsafelyUnwrapped[i] + epilogue.columnValues.unsafelyUnwrapped[j], 0)
        case .cosine: c.pointee = 0
        }
      }
    }
  }

  /// The single-threaded blocked algorithm on one stripe of C.
  static func blocked(_ p: GemmOperands, rowRange: Range<Int>, columnRange: Range<Int>, epilogue: GemmEpilogue) {
    let kc = min(GemmBlocking.kc, p.depth)
    let mc = min(GemmBlocking.mc, roundUp(rowRange.count, microRows))
    let nc = min(GemmBlocking.nc, roundUp(columnRange.count, microColumns))
    // Cache-line aligned: a vector load that straddles two lines costs two.
    let rawA = UnsafeMutableRawPointer.allocate(byteCount: mc * kc * 4, alignment: 64)
    let rawB = allocatePanel(byteCount: nc * kc * 4)
    defer {
      rawA.deallocate()
      rawB.deallocate()
    }
    let packedA = rawA.bindMemory(to: Float.self, capacity: mc * kc)
    let packedB = rawB.bindMemory(to: Float.self, capacity: nc * kc)
    var jc = columnRange.lowerBound
    while jc < columnRange.upperBound {
      let ncCurrent = min(nc, columnRange.upperBound - jc)
      var pc = 0
      while pc < p.depth {
        let kcCurrent = min(kc, p.depth - pc)
        let first = pc == 0
        let last = pc + kcCurrent == p.depth
        packB(p, depthStart: pc, depth: kcCurrent, columnStart: jc, columns: ncCurrent, into: packedB)
        var ic = rowRange.lowerBound
        while ic < rowRange.upperBound {
          let mcCurrent = min(mc, rowRange.upperBound - ic)
          packA(p, rowStart: ic, rows: mcCurrent, depthStart: pc, depth: kcCurrent, into: packedA)
          macroKernel(
            p, rowStart: ic, rows: mcCurrent, columnStart: jc, columns: ncCurrent, depth: kcCurrent,
            packedA: packedA, packedB: packedB, epilogue: epilogue, firstBlock: first, lastBlock: last)
          ic += mcCurrent
        }
        pc += kcCurrent
      }
      jc += ncCurrent
    }
  }

  /// The blocked algorithm split by rows over `workers` threads around one shared packed
  /// B panel: for each (column panel, depth block) the workers first pack disjoint slivers
  /// of B, then each multiplies its own stripe of rows against the whole panel. (Each
  /// worker packing its own copy of B cost the AVX2 variant 10–15 % at two threads: twice
  /// the packing, and two panels competing for L3.) Two fork–joins per block; the pool's
  /// workers are already awake for the second.
  static func blockedSharingB(_ p: GemmOperands, epilogue: GemmEpilogue, workers: Int) {
    let kc = min(GemmBlocking.kc, p.depth)
    let nc = min(GemmBlocking.nc, roundUp(p.columns, microColumns))
    let rawB = allocatePanel(byteCount: nc * kc * 4)
    defer { rawB.deallocate() }
    let packedB = rawB.bindMemory(to: Float.self, capacity: nc * kc)
    var jc = 0
    while jc < p.columns {
      let ncCurrent = min(nc, p.columns - jc)
      var pc = 0
      while pc < p.depth {
        let kcCurrent = min(kc, p.depth - pc)
        let first = pc == 0
        let last = pc + kcCurrent == p.depth
        // Sliver s of the panel starts at s·NR·kcCurrent: a chunk of columns starting at a
        // multiple of NR lands at columns.lowerBound·kcCurrent.
        Parallel.forEachChunk(ncCurrent, granularity: microColumns, threads: workers) { columns in
          packB(p, depthStart: pc, depth: kcCurrent, columnStart: jc + columns.lowerBound, columns: columns.count,
                into: packedB + columns.lowerBound * kcCurrent)
        }
        Parallel.forEachChunk(p.rows, granularity: microRows, threads: workers) { rows in
          let mc = min(GemmBlocking.mc, roundUp(rows.count, microRows))
          let rawA = UnsafeMutableRawPointer.allocate(byteCount: mc * kcCurrent * 4, alignment: 64)
          defer { rawA.deallocate() }
          let packedA = rawA.bindMemory(to: Float.self, capacity: mc * kcCurrent)
          var ic = rows.lowerBound
          while ic < rows.upperBound {
            let mcCurrent = min(mc, rows.upperBound - ic)
            packA(p, rowStart: ic, rows: mcCurrent, depthStart: pc, depth: kcCurrent, into: packedA)
            macroKernel(
              p, rowStart: ic, rows: mcCurrent, columnStart: jc, columns: ncCurrent, depth: kcCurrent,
              packedA: packedA, packedB: packedB, epilogue: epilogue, firstBlock: first, lastBlock: last)
            ic += mcCurrent
          }
        }
        pc += kcCurrent
      }
      jc += ncCurrent
    }
  }

  /// A cache-line aligned buffer; one of 2 MiB or more is aligned to 2 MiB and marked for
  /// transparent huge pages, which saves TLB misses when the micro-kernel walks a large
  /// packed panel.
  static func allocatePanel(byteCount: Int) -> UnsafeMutableRawPointer {
    let hugePage = 2 << 20
    guard byteCount >= hugePage else { return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64) }
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: hugePage)
    adviseHugePages(pointer, byteCount)
    return pointer
  }

  @inline(__always)
  static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

  /// Packs op(A)[rowStart ..< rowStart+rows, depthStart ..< +depth] as slivers of 6 rows:
  /// sliver s, depth index p, row r at packed[s·6·depth + p·6 + r]; rows past the end are 0.
  static func packA(
    _ p: GemmOperands, rowStart: Int, rows: Int, depthStart: Int, depth: Int,
    into packed: UnsafeMutablePointer<Float>
  ) {
    var destination = packed
    var sliver = 0
    while sliver < rows {
      let valid = min(microRows, rows - sliver)
      if !p.transposeA {
        // Row i of A is contiguous along the depth.
        let base = p.a + (rowStart + sliver) * p.lda + depthStart
        if valid == microRows {
          let r0 = base, r1 = base + p.lda, r2 = base + 2 * p.lda
          let r3 = base + 3 * p.lda, r4 = base + 4 * p.lda, r5 = base + 5 * p.lda
          // The next sliver's six rows are fetched 16 depth steps ahead: each row here is a
          // run of only kc floats, too short for the hardware prefetcher to catch. Zen 4,
          // 4096 × 64 × 512 (where packing A is most of the overhead), 1 thread: packing
          // 21 % → 13 % of the time on v4 (16 → 15 % on v3).
          let prefetchNext = sliver + 2 * microRows <= rows
          var k = 0
          while k < depth {
            if prefetchNext {
              let next = r0 + microRows * p.lda + k
              for r in 0..<microRows { arrowhead_prefetch_for_read(next + r * p.lda) }
            }
            let end = min(k + 16, depth)
            while k < end {
              destination[0] = r0[k]; destination[1] = r1[k]; destination[2] = r2[k]
              destination[3] = r3[k]; destination[4] = r4[k]; destination[5] = r5[k]
              destination += microRows
              k += 1
            }
          }
        } else {
          for k in 0..<depth {
            for r in 0..<microRows { destination[r] = r < valid ? base[r * p.lda + k] : 0 }
            destination += microRows
          }
        }
      } else {
        // op(A)[i][k] = A[k][i]: for a fixed k the 6 rows are contiguous in A.
        let base = p.a + depthStart * p.lda + rowStart + sliver
        for k in 0..<depth {
          let source = base + k * p.lda
          for r in 0..<microRows { destination[r] = r < valid ? source[r] : 0 }
          destination += microRows
        }
      }
      sliver += microRows
    }
  }

  /// Packs op(B)[depthStart ..< +depth, columnStart ..< +columns] as slivers of 2·lanes
  /// columns: sliver s, depth p, column c at packed[s·NR·depth + p·NR + c]; padding is 0.
  static func packB(
    _ p: GemmOperands, depthStart: Int, depth: Int, columnStart: Int, columns: Int,
    into packed: UnsafeMutablePointer<Float>
  ) {
    if !p.transposeB {
      // Eight rows of B at a time across all full slivers: eight sequential read streams
      // that the hardware prefetcher follows, and eight consecutive rows (½–1 KiB) written
      // per sliver. Sliver by sliver, each row of a sliver sat on another 4 KiB page of a
      // large B and the loads stalled; one row at a time, the stores went to slivers a
      // multiple of 4 KiB apart, into one cache set. Zen 4, 64 × 4096 × 512, 1 thread:
      // packing fell from 24 % (v4) / 32 % (v3) of the time to 14 %, 65–75 → 75–83 GFLOP/s
      // on v4; 8 rows beat 4 and 16.
      let fullSlivers = columns / microColumns
      let sliverStride = microColumns * depth
      let base = p.b + depthStart * p.ldb + columnStart
      var k = 0
      while k < depth {
        let rows = min(8, depth - k)
        var source = base + k * p.ldb
        var destination = packed + k * microColumns
        for _ in 0..<fullSlivers {
          for r in 0..<rows {
            let row = source + r * p.ldb, slot = destination + r * microColumns
            storeVector(loadVector(row), slot)
            storeVector(loadVector(row + lanes), slot + lanes)
          }
          source += microColumns
          destination += sliverStride
        }
        k += rows
      }
      let valid = columns - fullSlivers * microColumns
      if valid > 0 {
        let ragged = base + fullSlivers * microColumns
        var destination = packed + fullSlivers * sliverStride
        for k in 0..<depth {
          let source = ragged + k * p.ldb
          for c in 0..<microColumns { destination[c] = c < valid ? source[c] : 0 }
          destination += microColumns
        }
      }
      return
    }
    // op(B)[k][j] = B[j][k]: column j of op(B) is row j of B, contiguous along k.
    var destination = packed
    var sliver = 0
    while sliver < columns {
      let valid = min(microColumns, columns - sliver)
      packTransposedSliver(p.b + (columnStart + sliver) * p.ldb + depthStart, p.ldb, valid: valid, depth: depth, destination)
      destination += microColumns * depth
      sliver += microColumns
    }
  }

  /// One sliver of a transposed B: destination[k·NR + c] = source[c·ld + k] for c < valid
  /// (0 for valid ≤ c < NR) and k < depth. Four rows of B are read four values at a time
  /// and transposed in registers, so every store is a contiguous 4-float write. (The
  /// column-by-column loop it replaces compiled to AVX-512 scatters: `perf` put a fifth of
  /// a 384-d flat search, which multiplies queries by the transposed base, in them.)
  @inline(__always)
  static func packTransposedSliver(
    _ source: UnsafePointer<Float>, _ ld: Int, valid: Int, depth: Int, _ destination: UnsafeMutablePointer<Float>
  ) {
    let fullColumns = valid & ~3
    var k = 0
    while k + 4 <= depth {
      var c = 0
      while c < fullColumns {
        let row = source + c * ld + k
        let r0 = load4(row), r1 = load4(row + ld), r2 = load4(row + 2 * ld), r3 = load4(row + 3 * ld)
        let out = destination + k * microColumns + c
        store4(SIMD4(r0[0], r1[0], r2[0], r3[0]), out)
        store4(SIMD4(r0[1], r1[1], r2[1], r3[1]), out + microColumns)
        store4(SIMD4(r0[2], r1[2], r2[2], r3[2]), out + 2 * microColumns)
        store4(SIMD4(r0[3], r1[3], r2[3], r3[3]), out + 3 * microColumns)
        c += 4
      }
      if fullColumns < microColumns {
        for step in k..<k + 4 {
          for column in fullColumns..<microColumns {
            destination[step * microColumns + column] = column < valid ? source[column * ld + step] : 0
          }
        }
      }
      k += 4
    }
    while k < depth {
      for column in 0..<microColumns { destination[k * microColumns + column] = column < valid ? source[column * ld + k] : 0 }
      k += 1
    }
  }

  @inline(__always)
  static func load4(_ pointer: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Float>.self)
  }

  @inline(__always)
  static func store4(_ vector: SIMD4<Float>, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: vector, as: SIMD4<Float>.self)
  }

  static func macroKernel(
    _ p: GemmOperands, rowStart: Int, rows: Int, columnStart: Int, columns: Int, depth: Int,
    packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
    epilogue: GemmEpilogue, firstBlock: Bool, lastBlock: Bool
  ) {
    // Where the B panel lives in L2 (1024-column panels, `gemmPanelColumns`) and is wide, each
    // 6-row A sliver stays in L1 while the B slivers stream from L2 (rows outside, columns
    // inside); otherwise each 32-column B sliver stays in L1 while the A slivers stream. Xeon
    // 6/207, v4, three interleaved rounds, GFLOP/s: n = 1024 / 2048 at 1 thread 209–214 →
    // 218–221, 256 × 1536 × 384 195–198 → 198–206; narrower panels lost (128 × 384 × 384 at
    // 2 threads, 192 columns per thread: 375–381 → 352–355), so they keep the B sliver.
    if GemmBlocking.nc <= 1024 && columns >= 512 {
      var ir = 0
      while ir < rows {
        let tileRows = min(microRows, rows - ir)
        var jr = 0
        while jr < columns {
          let tileColumns = min(microColumns, columns - jr)
          let c = p.c + (rowStart + ir) * p.ldc + columnStart + jr
          microKernel(
            depth: depth, packedA + ir * depth, packedB + jr * depth, c, ldc: p.ldc,
            tileRows: tileRows, tileColumns: tileColumns,
            row: rowStart + ir, column: columnStart + jr,
            epilogue: epilogue, firstBlock: firstBlock, lastBlock: lastBlock)
          jr += microColumns
        }
        ir += microRows
      }
      return
    }
    var jr = 0
    while jr < columns {
      let tileColumns = min(microColumns, columns - jr)
      let bSliver = packedB + jr * depth
      var ir = 0
      while ir < rows {
        let tileRows = min(microRows, rows - ir)
        let c = p.c + (rowStart + ir) * p.ldc + columnStart + jr
        microKernel(
          depth: depth, packedA + ir * depth, bSliver, c, ldc: p.ldc,
          tileRows: tileRows, tileColumns: tileColumns,
          row: rowStart + ir, column: columnStart + jr,
          epilogue: epilogue, firstBlock: firstBlock, lastBlock: lastBlock)
        ir += microRows
      }
      jr += microColumns
    }
  }

  /// The register-blocked core: a 6 × 2·lanes tile of A·B held in 12 vector registers,
  /// one broadcast of A and two loads of B per depth step.
  @inline(never)
  static func microKernel(
    depth: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, tileRows: Int, tileColumns: Int,
    row: Int, column: Int, epilogue: GemmEpilogue, firstBlock: Bool, lastBlock: Bool
  ) {
    // Fetch the C tile while the product is computed: a large C is not in cache, and six
    // misses at the write-back would cost ~15 % of the kernel.
    for r in 0..<tileRows {
      arrowhead_prefetch_for_write(c + r * ldc)
      arrowhead_prefetch_for_write(c + r * ldc + microColumns - 1)
    }
    var acc: MicroTile = (
      VectorF32(), VectorF32(), VectorF32(), VectorF32(), VectorF32(), VectorF32(),
      VectorF32(), VectorF32(), VectorF32(), VectorF32(), VectorF32(), VectorF32())
    var pa = a, pb = b
    // Unrolled by the ISA's factor (a constant, so the inner loop disappears).
    let unroll = GemmBlocking.unroll
    var remaining = depth
    while remaining >= unroll {
      for u in 0..<unroll { microStep(&acc, pa + u * microRows, pb + u * microColumns) }
      pa += unroll * microRows
      pb += unroll * microColumns
      remaining -= unroll
    }
    while remaining > 0 {
      microStep(&acc, pa, pb)
      pa += microRows
      pb += microColumns
      remaining -= 1
    }
    let (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51) = acc
    let full = tileRows == microRows && tileColumns == microColumns
    if full {
      writeRow(c00, c01, c, row: row, column: column, epilogue, firstBlock, lastBlock)
      writeRow(c10, c11, c + ldc, row: row + 1, column: column, epilogue, firstBlock, lastBlock)
      writeRow(c20, c21, c + 2 * ldc, row: row + 2, column: column, epilogue, firstBlock, lastBlock)
      writeRow(c30, c31, c + 3 * ldc, row: row + 3, column: column, epilogue, firstBlock, lastBlock)
      writeRow(c40, c41, c + 4 * ldc, row: row + 4, column: column, epilogue, firstBlock, lastBlock)
      writeRow(c50, c51, c + 5 * ldc, row: row + 5, column: column, epilogue, firstBlock, lastBlock)
      return
    }
    writePartialTile(
      (c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51), c, ldc: ldc,
      tileRows: tileRows, tileColumns: tileColumns, row: row, column: column, epilogue: epilogue,
      firstBlock: firstBlock, lastBlock: lastBlock)
  }

  /// One depth step of the micro-tile: acc[2r + v] += a[r]·b[v·lanes ..< (v+1)·lanes].
  ///
  /// A function with an `inout` tuple rather than a nested function in `microKernel`: a
  /// nested function captures the accumulators, and with 64-byte ZMM values (x86-64-v4)
  /// the optimiser kept captured ones in boxes behind dynamic exclusivity checks (24
  /// `swift_beginAccess` calls per step: 24 GFLOP/s instead of 230).
  @inline(__always)
  static func microStep(_ acc: inout MicroTile, _ pa: UnsafePointer<Float>, _ pb: UnsafePointer<Float>) {
    let b0 = loadVector(pb), b1 = loadVector(pb + lanes)
    var broadcast = VectorF32(repeating: pa[0])
    acc.0 = multiplyAdd(broadcast, b0, acc.0); acc.1 = multiplyAdd(broadcast, b1, acc.1)
    broadcast = VectorF32(repeating: pa[1])
    acc.2 = multiplyAdd(broadcast, b0, acc.2); acc.3 = multiplyAdd(broadcast, b1, acc.3)
    broadcast = VectorF32(repeating: pa[2])
    acc.4 = multiplyAdd(broadcast, b0, acc.4); acc.5 = multiplyAdd(broadcast, b1, acc.5)
    broadcast = VectorF32(repeating: pa[3])
    acc.6 = multiplyAdd(broadcast, b0, acc.6); acc.7 = multiplyAdd(broadcast, b1, acc.7)
    broadcast = VectorF32(repeating: pa[4])
    acc.8 = multiplyAdd(broadcast, b0, acc.8); acc.9 = multiplyAdd(broadcast, b1, acc.9)
    broadcast = VectorF32(repeating: pa[5])
    acc.10 = multiplyAdd(broadcast, b0, acc.10); acc.11 = multiplyAdd(broadcast, b1, acc.11)
  }

  /// Writes the valid `tileRows × tileColumns` part of a tile through a row buffer.
  @inline(never)
  static func writePartialTile(
    _ r0: (VectorF32, VectorF32), _ r1: (VectorF32, VectorF32), _ r2: (VectorF32, VectorF32),
    _ r3: (VectorF32, VectorF32), _ r4: (VectorF32, VectorF32), _ r5: (VectorF32, VectorF32),
    _ c: UnsafeMutablePointer<Float>, ldc: Int, tileRows: Int, tileColumns: Int, row: Int, column: Int,
    epilogue: GemmEpilogue, firstBlock: Bool, lastBlock: Bool
  ) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: microColumns) { scratch in
      let buffer = scratch.baseAddress!
      for r in 0..<tileRows {
        let (v0, v1): (VectorF32, VectorF32)
        switch r {
        case 0: (v0, v1) = r0
        case 1: (v0, v1) = r1
        case 2: (v0, v1) = r2
        case 3: (v0, v1) = r3
        case 4: (v0, v1) = r4
        default: (v0, v1) = r5
        }
        let destination = c + r * ldc
        for j in 0..<microColumns { buffer[j] = j < tileColumns ? destination[j] : 0 }
        writeRow(v0, v1, buffer, row: row + r, column: column, epilogue, firstBlock, lastBlock,
                 validColumns: tileColumns)
        for j in 0..<tileColumns { destination[j] = buffer[j] }
      }
    }
  }

  /// Writes one accumulated row (two vectors) through the epilogue.
  @inline(__always)
  static func writeRow(
    _ v0: VectorF32, _ v1: VectorF32, _ c: UnsafeMutablePointer<Float>, row: Int, column: Int,
    _ epilogue: GemmEpilogue, _ firstBlock: Bool, _ lastBlock: Bool, validColumns: Int = microColumns
  ) {
    var s0 = v0, s1 = v1
    switch epilogue.kind {
    case .linear:
      let alpha = epilogue.alpha, beta = epilogue.beta
      let effectiveBeta: Float = firstBlock ? beta : 1
      // C = α·Σ_blocks(A_b·B_b) + β·C: α scales every block, β only the first.
      let alphaVector = VectorF32(repeating: alpha)
      s0 = s0 * alphaVector
      s1 = s1 * alphaVector
      if effectiveBeta != 0 {
        let betaVector = VectorF32(repeating: effectiveBeta)
        s0 = s0 + betaVector * loadVector(c)
        s1 = s1 + betaVector * loadVector(c + lanes)
      }
    case .squaredL2:
      let rowNorms = epilogue.rowValues.unsafelyUnwrapped, columnNorms = epilogue.columnValues.unsafelyUnwrapped
      if !firstBlock {
        s0 = s0 + loadVector(c)
        s1 = s1 + loadVector(c + lanes)
      }
      if lastBlock {
        let qn = VectorF32(repeating: rowNorms[row])
        let minusTwo = VectorF32(repeating: -2)
        // Norms are read through a padded copy when the tile is partial (see below).
        let xn0 = loadPadded(columnNorms + column, validColumns)
        let xn1 = loadPadded(columnNorms + column + lanes, validColumns - lanes)
        s0 = (qn + xn0) + minusTwo * s0
        s1 = (qn + xn1) + minusTwo * s1
        s0.replace(with: VectorF32(), where: s0 .< VectorF32())
        s1.replace(with: VectorF32(), where: s1 .< VectorF32())
      }
    case .cosine:
      let rowInverse = epilogue.rowValues.unsafelyUnwrapped, columnInverse = epilogue.columnValues.unsafelyUnwrapped
      if !firstBlock {
        s0 = s0 + loadVector(c)
        s1 = s1 + loadVector(c + lanes)
      }
      if lastBlock {
        let qi = VectorF32(repeating: rowInverse[row])
        s0 = s0 * qi * loadPadded(columnInverse + column, validColumns)
        s1 = s1 * qi * loadPadded(columnInverse + column + lanes, validColumns - lanes)
      }
    }
    storeVector(s0, c)
    storeVector(s1, c + lanes)
  }

  /// Loads `valid` (≤ lanes; may be ≤ 0) floats and zeros the rest, never reading past them.
  @inline(__always)
  static func loadPadded(_ pointer: UnsafePointer<Float>, _ valid: Int) -> VectorF32 {
    if valid >= lanes { return loadVector(pointer) }
    var vector = VectorF32()
    var i = 0
    while i < valid { vector[i] = pointer[i]; i += 1 }
    return vector
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose, rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
  ) {
    let problem: GemmOperands = (
      rows: rows, columns: columns, depth: depth,
      a: a, lda: lda, transposeA: transposeA == .transposed,
      b: b, ldb: ldb, transposeB: transposeB == .transposed, c: c, ldc: ldc)
    // Small products go straight to their kernels: every call layer costs a few
    // nanoseconds, as much as a 4×4×4 product's arithmetic.
    if rows > 0 && columns > 0 && depth > 0 && rows * columns * depth <= SIMDGemm.smallWork {
      SIMDGemm.small(problem, alpha: alpha, beta: beta)
      return
    }
    SIMDGemm.run(problem, epilogue: linearEpilogue(alpha: alpha, beta: beta), threads: threads)
  }

  public static var smallGemm: GemmFunction {
    { transposeA, transposeB, rows, columns, depth, alpha, a, lda, b, ldb, beta, c, ldc, _ in
      let problem: GemmOperands = (
        rows: rows, columns: columns, depth: depth,
        a: a, lda: lda, transposeA: transposeA == .transposed,
        b: b, ldb: ldb, transposeB: transposeB == .transposed, c: c, ldc: ldc)
      SIMDGemm.small(problem, alpha: alpha, beta: beta)
    }
  }
}
