// The quantized-matmul family of the SIMD backend: a Swift driver (activation preparation,
// panel split over threads, scratch tiles) around the C kernels of CArrowheadQMatmul, one per
// instruction set. Compiled for the baseline ISA: the C kernels carry their own `target`
// attributes and run only on a CPU that has the features (`QuantizedMatmulPath.isRunnable`).
//
// Why C: Swift has no spelling for `vpdpbusd`, `vpmaddubsw`, `vpermps` or `vpshufb`, and the
// integer dot products are the point of the family. The per-ISA Swift modules would add only
// a second dispatch. Each variant maps to the best path its ISA level allows on this CPU:
//
// | variant  | int8 path (CPU has …)                                | weight-only path |
// |----------|------------------------------------------------------|------------------|
// | v4       | AMX-INT8 (AMX), else AVX-512 VNNI (AVX512VNNI), else as v3 | AVX-512     |
// | v3       | AVX-VNNI (AVX-VNNI), else AVX2 vpmaddubsw             | AVX2             |
// | baseline | portable C                                           | portable C       |
import ArrowheadCore
import CArrowheadQMatmul

/// Which C kernels a SIMD variant runs the quantized matmul with.
public enum QuantizedMatmulPath: String, Sendable, CaseIterable, CustomStringConvertible {
  /// Plain C loops (SSE2 / NEON by auto-vectorisation).
  case portable
  /// AVX2 + FMA: `vpmaddubsw` + `vpmaddwd` for int8, `vcvtdq2ps` + `vfmadd` weight-only.
  case avx2
  /// AVX-VNNI: `vpdpbusd` on YMM for int8; weight-only as AVX2.
  case avxVNNI = "avx-vnni"
  /// AVX-512 VNNI: `vpdpbusd` on ZMM for int8; AVX-512 weight-only (`vpermps` code tables).
  case avx512VNNI = "avx512-vnni"
  /// AMX-INT8: `tdpbsud` tiles for int8 products of 16 rows or more (bit-identical to the
  /// AVX-512 VNNI path, which it runs for fewer rows); otherwise as `avx512VNNI`.
  case amx = "amx-int8"

  public var description: String { rawValue }

  /// The CPU features this path's kernels execute.
  public var requiredFeatures: Set<CPUFeature> {
    switch self {
    case .portable: []
    case .avx2: [.avx2, .fma]
    case .avxVNNI: [.avx2, .fma, .avxvnni]
    case .avx512VNNI: [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512vnni]
    case .amx: [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512vnni, .amxInt8]
    }
  }

  /// Whether `cpu` can run it (and this binary holds it: the x86 paths exist on x86-64 only).
  public func isRunnable(on cpu: CPUInfo = .current) -> Bool {
    #if arch(x86_64)
    return cpu.supports(requiredFeatures)
    #else
    return self == .portable
    #endif
  }

  /// The ISA levels (1 baseline, 3 x86-64-v3, 4 x86-64-v4) whose variant may use this path.
  public func allowed(atLevel level: Int) -> Bool {
    switch self {
    case .portable: true
    case .avx2, .avxVNNI: level >= 3
    case .avx512VNNI, .amx: level >= 4
    }
  }

  /// The fastest path a variant of `level` runs on `cpu`.
  public static func best(level: Int, cpu: CPUInfo = .current) -> QuantizedMatmulPath {
    for path in [QuantizedMatmulPath.amx, .avx512VNNI, .avxVNNI, .avx2] where path.allowed(atLevel: level) && path.isRunnable(on: cpu) {
      return path
    }
    return .portable
  }

  /// What runs, in words (for `arrowhead probe` and the dispatch reasons).
  public var summary: String {
    switch self {
    case .portable: "portable C kernels (auto-vectorised loops over 16-row panels)"
    case .avx2: "AVX2 C kernels: vpmaddubsw int8 dots, vcvtdq2ps + FMA weight-only"
    case .avxVNNI: "AVX-VNNI C kernels: vpdpbusd (YMM) int8 dots; AVX2 weight-only"
    case .avx512VNNI: "AVX-512 C kernels: vpdpbusd (ZMM) int8 dots, vpermps/vpshufb + FMA weight-only"
    case .amx: "AMX + AVX-512 C kernels: tdpbsud tiles for int8 products of ≥ 16 rows, vpdpbusd (ZMM) below; AVX-512 weight-only"
    }
  }
}

extension SIMDBackend {
  /// 7 on the AVX2 path (8-bit codes go through a sign step before `vpmaddubsw`), else 8.
  public var int8FullRateCodeBits: Int { quantizedMatmulPath == .avx2 ? 7 : 8 }

  public func quantizedMatmulWeightOnly(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    SIMDQuantizedMatmul.run(
      .weightOnly, path: quantizedMatmulPath, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy, threads: threads)
  }

  public func quantizedMatmulInt8(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    SIMDQuantizedMatmul.run(
      .int8, path: quantizedMatmulPath, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy, threads: threads)
  }

  public func quantizedMatmulInt16(
    rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int
  ) {
    SIMDQuantizedMatmul.run(
      .int16, path: quantizedMatmulPath, rows: rows, x, ldx: ldx, weights, bias: bias, y, ldy: ldy, threads: threads)
  }
}

/// The driver of the C kernels.
///
/// Threads. With at least `rowSplitMinimumRows` rows of x per thread, each thread takes a
/// contiguous block of rows and does everything for it in one pool job: it prepares its
/// rows' activations and multiplies them by every panel, writing whole rows of y. Nothing
/// crosses cores but the (read-only) weights, and there is no barrier between preparing
/// and multiplying. Below that (M = 1 and small batches), threads split the output panels:
/// the activations are prepared first (split by rows), then each thread multiplies every
/// row by its panels. Measured on the 2-core Xeon (thread CPU time of each thread's share
/// in calls where both ran together, C harness with the same pool): at 64×384×384 W8A8 the
/// panel split's busiest thread needed 0.029 ms against a 0.022 ms share run alone (its
/// half of the activations arrived from the other core's cache), the row split's 0.022 ms.
enum SIMDQuantizedMatmul {
  /// Multiply–adds from which a product is split over threads.
  static let parallelThreshold = 1 << 20
  /// Weights (N·K) from which a weight-only product of at most `groupedSumRows` rows is
  /// split over threads even below `parallelThreshold`: there, expanding each code to
  /// Float32 costs more than the multiply–adds, so the time follows N·K, not M·N·K. On the
  /// Xeon 6/207 (2 threads, best of 7, four interleaved rounds) 1×1536×384 INT8 took
  /// 0.015–0.016 ms split against 0.022 ms on one thread; 2×384×384 (147 456 weights)
  /// ran slower split (0.009–0.013 against 0.008 ms), hence the floor.
  static let fewRowWeightOnlyThreshold = 1 << 19

  /// Whether an m×n×k product in `mode` is worth splitting over threads.
  static func worthSplitting(_ mode: QuantizedMatmulMode, rows m: Int, outputs n: Int, depth k: Int) -> Bool {
    if m * n * k >= parallelThreshold { return true }
    return mode == .weightOnly && m <= groupedSumRows && n * k >= fewRowWeightOnlyThreshold
  }

  /// Rows of x per thread from which threads split rows instead of output panels (enough
  /// row tiles for each block of weights loaded into L1 to be reused several times).
  static let rowSplitMinimumRows = 24

  /// How a product is split over `workers` threads.
  enum Split: Equatable {
    /// Contiguous blocks of rows of x, one pool job (prepare and multiply per block).
    case rows
    /// Output panels, after the activations are prepared (two pool jobs).
    case panels
  }

  /// The split `run` uses for `rows` rows of x on `workers` threads.
  static func split(rows m: Int, workers: Int) -> Split {
    workers > 1 && m >= rowSplitMinimumRows * workers ? .rows : .panels
  }

  static func run(
    _ mode: QuantizedMatmulMode, path: QuantizedMatmulPath, rows m: Int, _ x: UnsafePointer<Float>, ldx: Int,
    _ operand: QuantizedMatrixOperand, bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int,
    threads: Int
  ) {
    let layout = operand.layout
    guard m > 0, layout.rows > 0 else { return }
    if layout.groupsPerRow == 0 {
      // K = 0: y = bias (the tile kernels accumulate per depth block, and there is none).
      for i in 0..<m {
        for n in 0..<layout.rows { y[i * ldy + n] = bias?[n] ?? 0 }
      }
      return
    }
    // Read by every thread's kernel calls: one copy that no closure captures as a variable.
    let weights = UnsafeMutablePointer<arrowhead_qmm_weights>.allocate(capacity: 1)
    weights.initialize(to: arrowhead_qmm_weights(
      codes: operand.codes, scales: operand.scales, offsets: operand.offsets, rows: Int64(layout.rows),
      groups: Int64(layout.groupsPerRow), group_columns: Int64(layout.paddedGroupSize),
      panel_bytes: Int64(layout.panelByteCount), container_bits: Int32(layout.containerBits),
      zero_point: layout.form == .zeroPoint ? 1 : 0, code_bits: Int32(layout.bits)))
    defer { weights.deallocate() }
    let stride = layout.paddedColumns, groups = layout.groupsPerRow
    // Activations in the padded column space, plus per-group sums (and int8 scales; int16:
    // two digits, each with its codes, scales and sums).
    let valueBytes = m * stride * (mode == .weightOnly ? 4 : mode == .int8 ? 1 : 2)
    let prepared = UnsafeMutableRawPointer.allocate(byteCount: max(64, valueBytes + 16 * m * groups + 64), alignment: 64)
    defer { prepared.deallocate() }
    let sums = (prepared + (valueBytes + 63) / 64 * 64).bindMemory(to: Float.self, capacity: 4 * m * groups)
    let scales = sums + m * groups
    let workers = worthSplitting(mode, rows: m, outputs: layout.rows, depth: layout.columns) ? max(1, threads) : 1
    let scratchBytes = max(64, arrowhead_qmm_scratch_bytes(weights))
    let (k, groupSize, groupColumns) = (Int64(layout.columns), Int64(layout.groupSize), Int64(layout.paddedGroupSize))

    // Prepares rows [first, first + count) of x into their place in `prepared`.
    let prepare: (Int, Int) -> Void
    // Multiplies rows `rows` of the prepared activations by panels `panels` into y.
    let multiply: (Range<Int>, Range<Int>, UnsafeMutableRawPointer) -> Void
    switch mode {
    case .weightOnly:
      let values = prepared.bindMemory(to: Float.self, capacity: m * stride)
      prepare = { first, count in
        arrowhead_qmm_prepare_float(
          x + first * ldx, Int64(ldx), Int64(count), k, groupSize, Int64(groups), groupColumns, values + first * stride,
          sums + first * groups)
      }
      let kernel = weightOnlyKernel(path)
      multiply = { rows, panels, scratch in
        var activations = arrowhead_qmm_float_rows(
          values: values + rows.lowerBound * stride, sums: sums + rows.lowerBound * groups, rows: Int64(rows.count),
          stride: Int64(stride))
        var output = arrowhead_qmm_output(y: y + rows.lowerBound * ldy, ldy: Int64(ldy), bias: bias)
        kernel(weights, &activations, &output, Int64(panels.lowerBound), Int64(panels.upperBound), scratch)
      }
    case .int8:
      let codes = prepared.bindMemory(to: Int8.self, capacity: m * stride)
      let quantize = prepareInt8(path)
      prepare = { first, count in
        quantize(
          x + first * ldx, Int64(ldx), Int64(count), k, groupSize, Int64(groups), groupColumns, codes + first * stride,
          scales + first * groups, sums + first * groups)
      }
      let kernel = int8Kernel(path)
      multiply = { rows, panels, scratch in
        let g = rows.lowerBound * groups
        var activations = arrowhead_qmm_int8_rows(
          codes: codes + rows.lowerBound * stride, scales: scales + g, sums: sums + g, rows: Int64(rows.count),
          stride: Int64(stride))
        var output = arrowhead_qmm_output(y: y + rows.lowerBound * ldy, ldy: Int64(ldy), bias: bias)
        kernel(weights, &activations, &output, Int64(panels.lowerBound), Int64(panels.upperBound), scratch)
      }
    case .int16:
      let high = prepared.bindMemory(to: Int8.self, capacity: 2 * m * stride), low = high + m * stride
      let lowScales = scales + m * groups, lowSums = lowScales + m * groups
      let quantize = prepareInt16(path)
      prepare = { first, count in
        let g = first * groups
        quantize(
          x + first * ldx, Int64(ldx), Int64(count), k, groupSize, Int64(groups), groupColumns, high + first * stride,
          low + first * stride, scales + g, lowScales + g, sums + g, lowSums + g)
      }
      // A fused kernel for every product (AVX-512 VNNI), or for up to `fusedInt16Rows` rows
      // of 4-bit codes (AVX2).
      let fused = int16Kernel(path) ?? (m <= fusedInt16Rows && layout.containerBits == 4 ? int16GemvKernel(path) : nil)
      let kernel = int8Kernel(path)
      let n = layout.rows
      // Without a fused kernel: two int8 products, the high digits into y (with the bias),
      // the low ones into a buffer that is then added over the same rows and panels.
      let lowY = fused == nil ? UnsafeMutablePointer<Float>.allocate(capacity: m * n) : nil
      multiply = { rows, panels, scratch in
        let g = rows.lowerBound * groups
        var highRows = arrowhead_qmm_int8_rows(
          codes: high + rows.lowerBound * stride, scales: scales + g, sums: sums + g, rows: Int64(rows.count),
          stride: Int64(stride))
        var lowRows = arrowhead_qmm_int8_rows(
          codes: low + rows.lowerBound * stride, scales: lowScales + g, sums: lowSums + g, rows: Int64(rows.count),
          stride: Int64(stride))
        var output = arrowhead_qmm_output(y: y + rows.lowerBound * ldy, ldy: Int64(ldy), bias: bias)
        let (begin, end) = (Int64(panels.lowerBound), Int64(panels.upperBound))
        if let fused {
          fused(weights, &highRows, &lowRows, &output, begin, end, scratch)
          return
        }
        guard let lowY else { return }
        var lowOutput = arrowhead_qmm_output(y: lowY + rows.lowerBound * n, ldy: Int64(n), bias: nil)
        kernel(weights, &highRows, &output, begin, end, scratch)
        kernel(weights, &lowRows, &lowOutput, begin, end, scratch)
        let first = panels.lowerBound * QuantizedMatrixLayout.panelRows
        let last = min(n, panels.upperBound * QuantizedMatrixLayout.panelRows)
        for i in rows {
          let target = y + i * ldy, source = lowY + i * n
          for column in first..<last { target[column] += source[column] }
        }
      }
      defer { lowY?.deallocate() }
      execute(rows: m, panels: layout.panelCount, workers: workers, scratchBytes: scratchBytes, prepare, multiply)
      return
    }
    execute(rows: m, panels: layout.panelCount, workers: workers, scratchBytes: scratchBytes, prepare, multiply)
    if mode == .weightOnly && m <= groupedSumRows {
      for i in 0..<m {
        recomputeIfOverflowed(x + i * ldx, ldx: ldx, operand, bias: bias, y + i * ldy, ldy: ldy)
      }
    }
  }

  /// Rows of x up to which the weight-only kernels sum s·Σq·x + m·Σx per group rather than
  /// dequantizing: 16 on every path (the AVX-512 one stops at 12 with 8-bit codes,
  /// `zmm_few_rows`).
  static let groupedSumRows = 16

  /// Σq·x (up to 255·G·|x|; the AVX-512 4-bit kernels' 16·q·x) can overflow where every ŵ·x
  /// and their sum are finite — activations beyond ~10³⁵. When a row of y holds ±∞ or NaN but
  /// its row of x is finite, it is computed again by the reference (dequantize, then multiply
  /// in Double), so the result is the product's, not an artefact of the grouping. A scan of
  /// the row's N outputs per call.
  static func recomputeIfOverflowed(
    _ x: UnsafePointer<Float>, ldx: Int, _ operand: QuantizedMatrixOperand, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let n = operand.layout.rows, k = operand.layout.columns
    var finite = true
    for j in 0..<n { finite = finite && y[j].isFinite }
    guard !finite, (0..<k).allSatisfy({ x[$0].isFinite }) else { return }
    ReferenceKernels.quantizedMatmul(.weightOnly, rows: 1, x, ldx: ldx, operand, bias: bias, y, ldy: ldy)
  }

  /// Runs `prepare` and `multiply` over the whole product on `workers` threads (see `Split`).
  private static func execute(
    rows m: Int, panels: Int, workers: Int, scratchBytes: Int, _ prepare: (Int, Int) -> Void,
    _ multiply: (Range<Int>, Range<Int>, UnsafeMutableRawPointer) -> Void
  ) {
    switch split(rows: m, workers: workers) {
    case .rows:
      Parallel.forEachChunk(m, threads: workers) { rows in
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        defer { scratch.deallocate() }
        prepare(rows.lowerBound, rows.count)
        multiply(rows, 0..<panels, scratch)
      }
    case .panels:
      // The activation preparation is O(m·k): split by rows, or it would be the serial part.
      Parallel.forEachChunk(m, threads: workers) { rows in prepare(rows.lowerBound, rows.count) }
      // Panels per chunk: the gemv kernels take 4 panels at a time, the tile kernels 2.
      Parallel.forEachChunk(panels, granularity: m == 1 ? 4 : 2, threads: workers) { range in
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        defer { scratch.deallocate() }
        multiply(0..<m, range, scratch)
      }
    }
  }

  typealias WeightOnlyKernel = @convention(c) (
    UnsafePointer<arrowhead_qmm_weights>?, UnsafePointer<arrowhead_qmm_float_rows>?, UnsafePointer<arrowhead_qmm_output>?,
    Int64, Int64, UnsafeMutableRawPointer?
  ) -> Void
  typealias Int8Kernel = @convention(c) (
    UnsafePointer<arrowhead_qmm_weights>?, UnsafePointer<arrowhead_qmm_int8_rows>?, UnsafePointer<arrowhead_qmm_output>?,
    Int64, Int64, UnsafeMutableRawPointer?
  ) -> Void

  static func weightOnlyKernel(_ path: QuantizedMatmulPath) -> WeightOnlyKernel {
    #if arch(x86_64)
    switch path {
    case .portable: return arrowhead_qmm_weight_only_portable
    case .avx2, .avxVNNI: return arrowhead_qmm_weight_only_avx2
    case .avx512VNNI, .amx: return arrowhead_qmm_weight_only_avx512
    }
    #else
    return arrowhead_qmm_weight_only_portable
    #endif
  }

  typealias Int8Preparation = @convention(c) (
    UnsafePointer<Float>?, Int64, Int64, Int64, Int64, Int64, Int64, UnsafeMutablePointer<Int8>?,
    UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?
  ) -> Void

  /// The activation quantizer of a path (all give the same codes; the ISA ones are faster).
  static func prepareInt8(_ path: QuantizedMatmulPath) -> Int8Preparation {
    #if arch(x86_64)
    switch path {
    case .portable: return arrowhead_qmm_prepare_int8
    case .avx2, .avxVNNI: return arrowhead_qmm_prepare_int8_avx2
    case .avx512VNNI, .amx: return arrowhead_qmm_prepare_int8_avx512
    }
    #else
    return arrowhead_qmm_prepare_int8
    #endif
  }

  typealias Int16Kernel = @convention(c) (
    UnsafePointer<arrowhead_qmm_weights>?, UnsafePointer<arrowhead_qmm_int8_rows>?, UnsafePointer<arrowhead_qmm_int8_rows>?,
    UnsafePointer<arrowhead_qmm_output>?, Int64, Int64, UnsafeMutableRawPointer?
  ) -> Void

  /// The fused two-digit kernel of a path, where it has one (else two int8 products run).
  static func int16Kernel(_ path: QuantizedMatmulPath) -> Int16Kernel? {
    #if arch(x86_64)
    return path == .avx512VNNI || path == .amx ? arrowhead_qmm_int16_avx512vnni : nil
    #else
    return nil
    #endif
  }

  /// Rows of x up to which the AVX2 path runs `int16GemvKernel` (each row streams the codes)
  /// instead of two int8 products: on Zen 4 through the x86-64-v3 variant, 1536 × 384, 1
  /// thread, the fused kernel row by row against the two products: 0.014 against 0.018 ms at
  /// one row, 2 rows 0.027 against 0.037, 3 rows 0.041 against 0.049, 4 rows 0.054 against
  /// 0.064; the two products took 0.112 ms at 8 rows, where eight fused rows would take about
  /// 0.11 (Quant README, "W4A16 at batch 1 on AVX2").
  static let fusedInt16Rows = 4

  /// The fused two-digit kernel of the AVX2 path for a few rows of 4-bit codes (the AVX-512
  /// one takes every product: `int16Kernel`).
  static func int16GemvKernel(_ path: QuantizedMatmulPath) -> Int16Kernel? {
    #if arch(x86_64)
    // AVX2 only: the AVX-VNNI path keeps its two int8 products (no machine here could run it).
    return path == .avx2 ? arrowhead_qmm_int16_gemv_avx2 : nil
    #else
    return nil
    #endif
  }

  typealias Int16Preparation = @convention(c) (
    UnsafePointer<Float>?, Int64, Int64, Int64, Int64, Int64, Int64, UnsafeMutablePointer<Int8>?,
    UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
    UnsafeMutablePointer<Float>?
  ) -> Void

  /// The two-digit activation quantizer of a path (the same digits on every path).
  static func prepareInt16(_ path: QuantizedMatmulPath) -> Int16Preparation {
    #if arch(x86_64)
    return path == .avx512VNNI || path == .amx ? arrowhead_qmm_prepare_int16_avx512 : arrowhead_qmm_prepare_int16
    #else
    return arrowhead_qmm_prepare_int16
    #endif
  }

  static func int8Kernel(_ path: QuantizedMatmulPath) -> Int8Kernel {
    #if arch(x86_64)
    switch path {
    case .portable: return arrowhead_qmm_int8_portable
    case .avx2: return arrowhead_qmm_int8_avx2
    case .avxVNNI: return arrowhead_qmm_int8_avxvnni
    case .avx512VNNI: return arrowhead_qmm_int8_avx512vnni
    case .amx: return arrowhead_qmm_int8_amx
    }
    #else
    return arrowhead_qmm_int8_portable
    #endif
  }
}
