import Arrowhead
import ArrowheadConformance
@testable import ArrowheadSIMD
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The quantized-matmul family beyond the per-backend conformance checks: every C path this
/// CPU can run (also those dispatch would not choose, e.g. AVX2 where AVX-VNNI exists), the
/// checked entry points and their errors, threads.
@Suite struct QuantizedMatmulTests {
  /// "simd-x86-64-v3+avx2", …: each SIMD variant on each quantized-matmul path it may run here.
  static let forcedPaths: [String] = compiledSIMDVariants.flatMap { variant in
    QuantizedMatmulPath.allCases.compactMap { path in
      guard variant.isRunnable(), let forced = variant.withQuantizedMatmulPath(path) else { return nil }
      return forced.name
    }
  }

  static func forcedBackend(_ name: String) -> (any Backend)? {
    for variant in compiledSIMDVariants where variant.isRunnable() {
      for path in QuantizedMatmulPath.allCases {
        if let forced = variant.withQuantizedMatmulPath(path), forced.name == name { return forced }
      }
    }
    return nil
  }

  static let checks = BackendConformance.checks.filter { $0.family == .quantizedMatmul }.map(\.name)

  @Test(arguments: forcedPaths, checks)
  func everyRunnablePathConforms(_ name: String, _ check: String) throws {
    let backend = try #require(Self.forcedBackend(name))
    try BackendConformance.run(check, on: backend)
  }

  #if arch(x86_64)
  /// This CPU's best paths are what the variants take (and the forced ones differ by name).
  @Test func variantsTakeTheBestPathTheirLevelAllows() {
    let cpu = CPUInfo.current
    for variant in compiledSIMDVariants where variant.isRunnable() {
      let expected = QuantizedMatmulPath.best(level: variant.level, cpu: cpu)
      #expect(variant.quantizedMatmulPath == expected, "\(variant.name)")
      #expect(variant.withQuantizedMatmulPath(expected)?.name == variant.name)
    }
    if cpu.features.contains(.avx512vnni), let v4 = compiledSIMDVariants.first(where: { $0.level == 4 }) {
      #expect(v4.quantizedMatmulPath == (cpu.features.contains(.amxInt8) ? .amx : .avx512VNNI))
    }
    #expect(compiledSIMDVariants.first { $0.level == 1 }?.withQuantizedMatmulPath(.avx2) == nil, "baseline may not run AVX2 code")
  }
  #endif

  /// The README example: Ŵ = [[−1, −0.5, 0], [3.75, 3.5, 3.25]] (codes · s + m), x = [1, 1, 1].
  @Test func theDocumentedExampleGivesItsValues() throws {
    let layout = try QuantizedMatrixLayout(rows: 2, columns: 3, bits: 4, groupSize: 3, form: .floatMinimum)
    let w = try QuantizedMatrix(layout: layout, codes: [0, 1, 2, 15, 14, 13], scales: [0.5, 0.25], offsets: [-1, 0])
    for mode in QuantizedMatmulMode.allCases {
      let y = try Engine.default.multiply(try Matrix(rows: 1, columns: 3, elements: [1, 1, 1]), w, mode: mode)
      #expect(y.elements == [-1.5, 10.5], "\(mode)")
      let biased = try Engine.default.multiply(try Matrix(rows: 1, columns: 3, elements: [1, 1, 1]), w, bias: [1, -0.5], mode: mode)
      #expect(biased.elements == [-0.5, 10], "\(mode)")
    }
    #expect(w.weight(row: 1, column: 2) == 3.25)
    #expect(layout.description == "2×3 int4 g3 float minimum")
  }

  /// Splitting panels over threads changes nothing: each output is computed by one thread
  /// with the same code, so 1 and 2 threads agree bit for bit.
  @Test func twoThreadsGiveTheSameBitsAsOne() throws {
    var generator = SeededGenerator(seed: 99)
    let layout = try QuantizedMatrixLayout(rows: 200, columns: 384, bits: 4, groupSize: 64, form: .floatMinimum)
    let w = try QuantizedMatrix(
      layout: layout, codes: (0..<(200 * 384)).map { _ in UInt8.random(in: 0...15, using: &generator) },
      scales: generator.floats(200 * 6, in: 0.01..<0.02), offsets: generator.floats(200 * 6))
    for rows in [1, 5, 64] {
      let x = try Matrix(rows: rows, columns: 384, elements: generator.floats(rows * 384))
      for mode in QuantizedMatmulMode.allCases {
        let one = try Engine.default.withThreads(1).multiply(x, w, mode: mode)
        let two = try Engine.default.withThreads(2).multiply(x, w, mode: mode)
        #expect(one == two, "\(mode) rows \(rows)")
      }
    }
  }

  /// y = x·Ŵᵀ + bias (m × `ldy`, padding columns left NaN) computed by `backend`'s kernel of
  /// `mode` directly, on `threads` threads.
  static func product(
    _ backend: any Backend, _ mode: QuantizedMatmulMode, rows m: Int, _ x: [Float], depth k: Int, _ w: QuantizedMatrix,
    bias: [Float], ldy: Int, threads: Int
  ) -> [Float] {
    var y = [Float](repeating: .nan, count: m * ldy)
    x.withUnsafeBufferPointer { xb in
      bias.withUnsafeBufferPointer { bb in
        y.withUnsafeMutableBufferPointer { yb in
          w.withOperand { operand in
            let (xp, bp, yp) = (xb.baseAddress!, bb.baseAddress!, yb.baseAddress!)
            switch mode {
            case .weightOnly:
              backend.quantizedMatmulWeightOnly(rows: m, xp, ldx: k, operand, bias: bp, yp, ldy: ldy, threads: threads)
            case .int8:
              backend.quantizedMatmulInt8(rows: m, xp, ldx: k, operand, bias: bp, yp, ldy: ldy, threads: threads)
            case .int16:
              backend.quantizedMatmulInt16(rows: m, xp, ldx: k, operand, bias: bp, yp, ldy: ldy, threads: threads)
            }
          }
        }
      }
    }
    return y
  }

  /// The SIMD driver's two ways of splitting a product over threads (rows of x from 24 rows
  /// per thread, output panels below) give the same bits as one thread on every C path this
  /// CPU runs: each output is computed by the same code whichever thread computes it, and a
  /// thread's rows are quantized by the same per-row rule. Odd panel tails (N = 53: 3 full
  /// panels + 5 rows; N = 200: 12 + 8), a group tail (K = 392 = 6·64 + 8), 8- and 4-bit
  /// containers, a bias and a padded y (ldy = N + 3: a wrong row offset shows). M = 47 and
  /// 48 sit on either side of the row split for 2 threads, M = 72 at 3.
  @Test(arguments: forcedPaths)
  func rowAndPanelSplitsGiveTheBitsOfOneThread(_ name: String) throws {
    #expect(SIMDQuantizedMatmul.split(rows: 64, workers: 2) == .rows)
    #expect(SIMDQuantizedMatmul.split(rows: 47, workers: 2) == .panels)
    #expect(SIMDQuantizedMatmul.split(rows: 48, workers: 2) == .rows)
    #expect(SIMDQuantizedMatmul.split(rows: 512, workers: 1) == .panels)
    let backend = try #require(Self.forcedBackend(name))
    var generator = SeededGenerator(seed: 1212)
    let k = 392
    for (n, bits) in [(53, 8), (200, 4)] {
      let groups = (k + 63) / 64
      let layout = try QuantizedMatrixLayout(rows: n, columns: k, bits: bits, groupSize: 64, form: .floatMinimum)
      let w = try QuantizedMatrix(
        layout: layout, codes: (0..<(n * k)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) },
        scales: generator.floats(n * groups, in: 0.01..<0.02), offsets: generator.floats(n * groups))
      let bias = generator.floats(n)
      for m in [47, 48, 64, 72] {
        let x = generator.floats(m * k)
        let ldy = n + 3
        for mode in QuantizedMatmulMode.allCases {
          func product(threads: Int) -> [Float] {
            Self.product(backend, mode, rows: m, x, depth: k, w, bias: bias, ldy: ldy, threads: threads)
          }
          let one = product(threads: 1)
          // Every output written (the padding columns stay NaN), and finite.
          for i in 0..<m {
            let written = one[(i * ldy)..<(i * ldy + n)].allSatisfy { $0.isFinite }
            let padding = one[(i * ldy + n)..<(i * ldy + ldy)].allSatisfy { $0.isNaN }
            #expect(written && padding, "\(name) \(mode) m \(m) n \(n) row \(i)")
          }
          for threads in [2, 3] {
            let other = product(threads: threads)
            let same = zip(one, other).allSatisfy { $0.bitPattern == $1.bitPattern }
            #expect(same, "\(name) \(mode) m \(m) n \(n) int\(bits): \(threads) threads differ from 1")
          }
        }
      }
    }
  }

  /// Few-row weight-only products are split over threads from N·K ≥ 2¹⁹ weights (their
  /// time follows the code expansion, N·K), other products from M·N·K ≥ 2²⁰; split, every
  /// path gives the bits of one thread. N = 1037 (64 full panels and 13 rows: the gemv
  /// kernels' chunks of 4 panels end in a partial one), K = 520 (8 groups of 64 and a tail of
  /// 8): 539 240 weights.
  @Test(arguments: forcedPaths)
  func fewRowWeightOnlyProductsSplitWithTheBitsOfOneThread(_ name: String) throws {
    #expect(SIMDQuantizedMatmul.worthSplitting(.weightOnly, rows: 1, outputs: 1037, depth: 520))
    #expect(!SIMDQuantizedMatmul.worthSplitting(.weightOnly, rows: 4, outputs: 384, depth: 384), "147 456 weights")
    #expect(!SIMDQuantizedMatmul.worthSplitting(.int8, rows: 1, outputs: 1037, depth: 520), "int8: M·N·K < 2²⁰")
    #expect(SIMDQuantizedMatmul.worthSplitting(.int8, rows: 2, outputs: 1037, depth: 520))
    #expect(!SIMDQuantizedMatmul.worthSplitting(.weightOnly, rows: 17, outputs: 240, depth: 240), "17 rows: M·N·K only")
    let backend = try #require(Self.forcedBackend(name))
    var generator = SeededGenerator(seed: 1313)
    let (n, k) = (1037, 520)
    let groups = (k + 63) / 64
    for bits in [8, 4] {
      let layout = try QuantizedMatrixLayout(rows: n, columns: k, bits: bits, groupSize: 64, form: .zeroPoint)
      let w = try QuantizedMatrix(
        layout: layout, codes: (0..<(n * k)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) },
        scales: generator.floats(n * groups, in: 0.01..<0.02),
        offsets: (0..<(n * groups)).map { _ in Float(Int.random(in: 0...((1 << bits) - 1), using: &generator)) })
      let bias = generator.floats(n)
      for m in [1, 3] {
        let x = generator.floats(m * k)
        func product(threads: Int) -> [Float] {
          Self.product(backend, .weightOnly, rows: m, x, depth: k, w, bias: bias, ldy: n, threads: threads)
        }
        let one = product(threads: 1)
        #expect(one.allSatisfy { $0.isFinite }, "\(name) m \(m) int\(bits): every output written")
        for threads in [2, 3] {
          let other = product(threads: threads)
          #expect(zip(one, other).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(name) m \(m) int\(bits): \(threads) threads differ from 1")
        }
      }
    }
  }

  #if arch(x86_64)
  /// The AMX path gives the bits of the AVX-512 VNNI path: the same exact int32 group sums
  /// (from tiles instead of `vpdpbusd`), rescaled by the same operations in the same depth
  /// blocks. Shapes cover both kernels' hand-over: 16 rows (one tile), 47 (two tiles + 15 rows
  /// left to VNNI), groups of 64 with a tail group (K = 392), per-channel scales (one group of
  /// 384), groups of 24 and 32 (one narrower tile step), 128 (two steps), 200 (not tiled),
  /// 4-bit panels (unpacked per chunk), 6-bit codes, both forms, 1 and 2 threads.
  @Test(.enabled(if: QuantizedMatmulPath.amx.isRunnable()))
  func amxGivesTheBitsOfTheAVX512VNNIPath() throws {
    let v4 = try #require(compiledSIMDVariants.first { $0.level == 4 })
    let amx = try #require(v4.withQuantizedMatmulPath(.amx))
    let vnni = try #require(v4.withQuantizedMatmulPath(.avx512VNNI))
    var generator = SeededGenerator(seed: 2026)
    let cases: [(m: Int, n: Int, k: Int, group: Int, bits: Int, form: AffineForm)] = [
      (16, 384, 384, 64, 8, .floatMinimum), (47, 53, 392, 64, 8, .zeroPoint), (64, 200, 384, 384, 8, .floatMinimum),
      (128, 256, 240, 24, 8, .zeroPoint), (48, 96, 512, 32, 6, .floatMinimum), (33, 70, 1000, 128, 4, .zeroPoint),
      (80, 64, 600, 200, 8, .floatMinimum), (64, 160, 384, 64, 4, .floatMinimum),
    ]
    for c in cases {
      let groups = (c.k + c.group - 1) / c.group
      let layout = try QuantizedMatrixLayout(rows: c.n, columns: c.k, bits: c.bits, groupSize: c.group, form: c.form)
      let w = try QuantizedMatrix(
        layout: layout, codes: (0..<(c.n * c.k)).map { _ in UInt8.random(in: 0...UInt8((1 << c.bits) - 1), using: &generator) },
        scales: generator.floats(c.n * groups, in: 0.01..<0.02),
        offsets: c.form == .zeroPoint
          ? (0..<(c.n * groups)).map { _ in Float(Int.random(in: 0..<(1 << c.bits), using: &generator)) }
          : generator.floats(c.n * groups))
      let x = generator.floats(c.m * c.k), bias = generator.floats(c.n)
      func product(_ backend: any Backend, threads: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: c.m * c.n)
        x.withUnsafeBufferPointer { xb in
          bias.withUnsafeBufferPointer { bb in
            y.withUnsafeMutableBufferPointer { yb in
              w.withOperand { operand in
                backend.quantizedMatmulInt8(
                  rows: c.m, xb.baseAddress!, ldx: c.k, operand, bias: bb.baseAddress!, yb.baseAddress!, ldy: c.n,
                  threads: threads)
              }
            }
          }
        }
        return y
      }
      let expected = product(vnni, threads: 1)
      let finite = expected.allSatisfy { $0.isFinite }
      #expect(finite, "\(c)")
      for threads in [1, 2] {
        let got = product(amx, threads: threads)
        let differing = zip(expected, got).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(c), \(threads) threads: \(differing) outputs differ from the AVX-512 VNNI path")
      }
    }
  }
  #endif

  #if canImport(Glibc)
  /// The packed codes of a `QuantizedMatrixOperand` are exactly `layout.codeByteCount` bytes
  /// (a caller may pack them itself). The batch-1 4-bit AVX-512 kernel loads each 64-byte line
  /// again at +1, +2 and +3 bytes; here the codes end where an unreadable page begins, so a
  /// kernel reading past them crashes the test. Results must be the bits of the same kernel
  /// on the same codes in ordinary memory. Every C path this CPU runs, every mode, M = 1 and 3,
  /// 1–5 panels (the last panel of a 4-panel block and a lone one), 4- and 8-bit containers.
  @Test(arguments: forcedPaths)
  func kernelsReadNoCodePastTheOperand(_ name: String) throws {
    let backend = try #require(Self.forcedBackend(name))
    var generator = SeededGenerator(seed: 4242)
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    for (n, k, groupSize, bits) in [(16, 64, 64, 4), (64, 72, 24, 4), (80, 130, 64, 3), (33, 40, 40, 8), (20, 16, 8, 4)] {
      let layout = try QuantizedMatrixLayout(rows: n, columns: k, bits: bits, groupSize: groupSize, form: .floatMinimum)
      let w = try QuantizedMatrix(
        layout: layout, codes: (0..<(n * k)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) },
        scales: generator.floats(n * layout.groupsPerRow, in: 0.01..<0.02), offsets: generator.floats(n * layout.groupsPerRow))
      let count = layout.codeByteCount
      let dataPages = (count + page - 1) / page
      let length = (dataPages + 1) * page
      let mapping = try #require(
        { let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); return p == MAP_FAILED ? nil : p }(),
        "mmap failed")
      defer { munmap(mapping, length) }
      #expect(mprotect(mapping + dataPages * page, page, PROT_NONE) == 0)
      let guarded = (mapping + dataPages * page - count).bindMemory(to: UInt8.self, capacity: count)
      w.withOperand { operand in guarded.update(from: operand.codes, count: count) }
      for m in [1, 3] {
        let x = generator.floats(m * k)
        for mode in QuantizedMatmulMode.allCases {
          func product(_ operand: QuantizedMatrixOperand) -> [Float] {
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
              y.withUnsafeMutableBufferPointer { yb in
                let (xp, yp) = (xb.baseAddress!, yb.baseAddress!)
                switch mode {
                case .weightOnly: backend.quantizedMatmulWeightOnly(rows: m, xp, ldx: k, operand, bias: nil, yp, ldy: n, threads: 1)
                case .int8: backend.quantizedMatmulInt8(rows: m, xp, ldx: k, operand, bias: nil, yp, ldy: n, threads: 1)
                case .int16: backend.quantizedMatmulInt16(rows: m, xp, ldx: k, operand, bias: nil, yp, ldy: n, threads: 1)
                }
              }
            }
            return y
          }
          let ordinary = w.withOperand { product($0) }
          let atTheEdge = w.withOperand { operand in
            var edge = operand
            edge.codes = UnsafePointer(guarded)
            return product(edge)
          }
          let same = zip(ordinary, atTheEdge).allSatisfy { $0.bitPattern == $1.bitPattern }
          #expect(same && ordinary.allSatisfy(\.isFinite), "\(name) \(mode) m \(m) \(layout)")
        }
      }
    }
  }
  #endif

  @Test func badShapesAndParametersAreTypedErrorsNamingWhatIsWrong() throws {
    let layout = try QuantizedMatrixLayout(rows: 3, columns: 4, bits: 4, groupSize: 2, form: .floatMinimum)
    let codes = [UInt8](repeating: 1, count: 12), scales = [Float](repeating: 0.5, count: 6), offsets = [Float](repeating: 0, count: 6)
    let w = try QuantizedMatrix(layout: layout, codes: codes, scales: scales, offsets: offsets, name: "q_proj")
    let engine = Engine.default
    // x with 5 columns against a 3×4 matrix.
    #expect(throws: ArrowheadError.shapeMismatch(argument: "x", expected: "4 columns (the inputs of the 3×4 int4 g2 float minimum weights)", actual: "2×5")) {
      _ = try engine.multiply(try Matrix(rows: 2, columns: 5), w)
    }
    #expect(throws: ArrowheadError.shapeMismatch(argument: "bias", expected: "3 values (one per row of the weights)", actual: "2 values")) {
      _ = try engine.multiply(try Matrix(rows: 2, columns: 4), w, bias: [1, 2])
    }
    let x = [Float](repeating: 1, count: 8)
    var y = [Float](repeating: 0, count: 6)
    x.withUnsafeBufferPointer { xb in
      y.withUnsafeMutableBufferPointer { yb in
        #expect(throws: ArrowheadError.shapeMismatch(argument: "y", expected: "2×3 (rows of x × rows of the weights)", actual: "3×2")) {
          try engine.quantizedMatmul(xb, MatrixLayout(rows: 2, columns: 4), weights: w, into: yb, MatrixLayout(rows: 3, columns: 2))
        }
        #expect(throws: ArrowheadError.bufferTooShort(argument: "x", required: 12, actual: 8)) {
          try engine.quantizedMatmul(xb, MatrixLayout(rows: 3, columns: 4), weights: w, into: yb, MatrixLayout(rows: 3, columns: 3))
        }
        #expect(throws: ArrowheadError.leadingDimensionTooSmall(argument: "y", leadingDimension: 2, rowLength: 3)) {
          try engine.quantizedMatmul(xb, MatrixLayout(rows: 2, columns: 4), weights: w, into: yb, MatrixLayout(rows: 2, columns: 3, leadingDimension: 2))
        }
      }
    }
    // Making the matrix: counts, code range, non-finite parameters.
    #expect(throws: ArrowheadError.shapeMismatch(argument: "q_proj codes", expected: "12 codes (3×4)", actual: "11")) {
      _ = try QuantizedMatrix(layout: layout, codes: Array(codes.dropLast()), scales: scales, offsets: offsets, name: "q_proj")
    }
    #expect(throws: ArrowheadError.shapeMismatch(
      argument: "q_proj parameters", expected: "6 scales and offsets (3 rows × 2 groups of 2)", actual: "5 scales, 6 offsets")) {
      _ = try QuantizedMatrix(layout: layout, codes: codes, scales: Array(scales.dropLast()), offsets: offsets, name: "q_proj")
    }
    var bad = codes
    bad[6] = 16
    #expect(throws: ArrowheadError.invalidParameter(name: "q_proj code at row 1, column 2", value: "16", expected: "0…15 (4-bit codes)")) {
      _ = try QuantizedMatrix(layout: layout, codes: bad, scales: scales, offsets: offsets, name: "q_proj")
    }
    var nanScales = scales
    nanScales[3] = .nan
    #expect(throws: ArrowheadError.invalidParameter(name: "q_proj scale of row 1, group 1", value: "nan", expected: "a finite value")) {
      _ = try QuantizedMatrix(layout: layout, codes: codes, scales: nanScales, offsets: offsets, name: "q_proj")
    }
    var infiniteOffsets = offsets
    infiniteOffsets[5] = -.infinity
    #expect(throws: ArrowheadError.invalidParameter(name: "q_proj offset of row 2, group 1", value: "-inf", expected: "a finite value")) {
      _ = try QuantizedMatrix(layout: layout, codes: codes, scales: scales, offsets: infiniteOffsets, name: "q_proj")
    }
    #expect(throws: ArrowheadError.invalidParameter(name: "bits", value: "9", expected: "1…8")) {
      _ = try QuantizedMatrixLayout(rows: 1, columns: 1, bits: 9, groupSize: 1, form: .zeroPoint)
    }
    #expect(throws: ArrowheadError.invalidParameter(name: "groupSize", value: "0", expected: "≥ 1")) {
      _ = try QuantizedMatrixLayout(rows: 1, columns: 1, bits: 4, groupSize: 0, form: .zeroPoint)
    }
    #expect(throws: ArrowheadError.negativeDimension(argument: "columns", value: -2)) {
      _ = try QuantizedMatrixLayout(rows: 1, columns: -2, bits: 4, groupSize: 8, form: .zeroPoint)
    }
  }

  /// Empty products: no rows of x, or no columns (y = bias).
  @Test func emptyProductsGiveTheBias() throws {
    let layout = try QuantizedMatrixLayout(rows: 3, columns: 0, bits: 8, groupSize: 64, form: .floatMinimum)
    let w = try QuantizedMatrix(layout: layout, codes: [], scales: [], offsets: [])
    for mode in QuantizedMatmulMode.allCases {
      #expect(try Engine.default.multiply(try Matrix(rows: 2, columns: 0), w, bias: [1, 2, 3], mode: mode).elements == [1, 2, 3, 1, 2, 3])
      #expect(try Engine.default.multiply(try Matrix(rows: 0, columns: 0), w, mode: mode).elements.isEmpty)
    }
  }

  /// The two int8 digits are the `quantizeGroupTwoDigits` rule's on every path: through the
  /// identity (64 × 64, 8-bit, groups of 16; zero-point form, z = 0, s = 1) each output is
  /// t·a + (t/254)·b up to a few roundings of the kernel (|y − x̂| ≤ 8u·(|t·a| + |t·b/254|)),
  /// while one digit b off by 1 moves it by t/254 (≥ 2¹⁵·u·t), far outside that bound. And
  /// x̂ is within t·(1/508 + 382u) of x (the rule's bound, 254 times tighter than int8's t/2).
  @Test(arguments: forcedPaths)
  func int16DigitsFollowTheRuleOnEveryPath(_ name: String) throws {
    let backend = try #require(Self.forcedBackend(name))
    var generator = SeededGenerator(seed: 1703)
    let layout = try QuantizedMatrixLayout(rows: 64, columns: 64, bits: 8, groupSize: 16, form: .zeroPoint)
    let identity = try QuantizedMatrix(
      layout: layout, codes: (0..<4096).map { UInt8($0 / 64 == $0 % 64 ? 1 : 0) },
      scales: [Float](repeating: 1, count: 256), offsets: [Float](repeating: 0, count: 256))
    for rows in [1, 5] {
      var x = generator.floats(rows * 64, in: -3..<3)
      for i in stride(from: 0, to: x.count, by: 7) { x[i] *= 40 }  // outliers: coarse t in their groups
      var got = [Float](repeating: 7, count: rows * 64)
      x.withUnsafeBufferPointer { xb in
        got.withUnsafeMutableBufferPointer { yb in
          identity.withOperand { operand in
            backend.quantizedMatmulInt16(rows: rows, xb.baseAddress!, ldx: 64, operand, bias: nil, yb.baseAddress!, ldy: 64, threads: 1)
          }
        }
      }
      var high = [Int8](repeating: 0, count: 16), low = high
      for i in 0..<rows {
        for g in 0..<4 {
          let start = i * 64 + 16 * g
          let digits = x.withUnsafeBufferPointer { xb in
            high.withUnsafeMutableBufferPointer { hb in
              low.withUnsafeMutableBufferPointer { lb in
                ActivationQuantization.quantizeGroupTwoDigits(xb.baseAddress! + start, length: 16, high: hb.baseAddress!, low: lb.baseAddress!)
              }
            }
          }
          let t = Double(digits.scale), u = Double(Float.ulpOfOne) / 2
          for j in 0..<16 {
            let a = t * Double(high[j]), b = Double(digits.lowScale) * Double(low[j])
            #expect(abs(Double(got[start + j]) - (a + b)) <= 8 * u * (abs(a) + abs(b)), "\(name) rows \(rows) y[\(start + j)]")
            #expect(abs(Double(x[start + j]) - (a + b)) <= t * (1.0 / 508 + 382 * u), "rule bound at \(start + j)")
          }
        }
      }
    }
  }

  /// Packing puts every code where the layout table says (checked through `code(row:column:)`
  /// against the source for odd sizes and both containers), and the group size is clamped to
  /// the row.
  @Test func packingIsLosslessForEveryContainerAndTail() throws {
    var generator = SeededGenerator(seed: 5)
    for (rows, columns, group, bits) in [(17, 37, 16, 4), (33, 100, 48, 8), (1, 9, 64, 2), (40, 130, 100, 3)] {
      let layout = try QuantizedMatrixLayout(rows: rows, columns: columns, bits: bits, groupSize: group, form: .zeroPoint)
      #expect(layout.groupSize == min(group, columns))
      let codes = (0..<(rows * columns)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) }
      let groups = rows * layout.groupsPerRow
      let w = try QuantizedMatrix(
        layout: layout, codes: codes, scales: [Float](repeating: 1, count: groups), offsets: [Float](repeating: 0, count: groups))
      #expect(w.codes.count == layout.codeByteCount && w.scales.count == layout.parameterCount)
      for row in 0..<rows {
        for column in 0..<columns { #expect(w.code(row: row, column: column) == codes[row * columns + column]) }
      }
      // The packed codes start on a 64-byte boundary (each 16-row line is one cache line),
      // copies share them, and equality compares the bytes.
      w.codes.withUnsafeBufferPointer { #expect(Int(bitPattern: $0.baseAddress) % 64 == 0) }
      let copy = w
      #expect(copy == w && Array(copy.codes) == Array(w.codes))
      let same = try QuantizedMatrix(
        layout: layout, codes: codes, scales: [Float](repeating: 1, count: groups), offsets: [Float](repeating: 0, count: groups))
      #expect(same == w)
      var changed = codes
      changed[0] = changed[0] == 0 ? 1 : 0
      let other = try QuantizedMatrix(
        layout: layout, codes: changed, scales: [Float](repeating: 1, count: groups), offsets: [Float](repeating: 0, count: groups))
      #expect(other.codes != w.codes)
    }
  }
}
