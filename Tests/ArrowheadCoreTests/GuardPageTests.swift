import Arrowhead
import Testing

#if canImport(Glibc)
import Glibc

/// The small-product and gemv kernels load a row's last partial vector whole when that
/// stays inside the operand (and read the next rows' elements into lanes they discard).
/// Here every operand ends exactly where an unreadable page begins, with leading dimensions
/// equal to the row lengths: a kernel that read one float too far would crash the test. The
/// results must also agree with the reference (the gemm bound γ_{k+3}, see the conformance
/// suite), on every runnable backend, through the engine's checked entry points.
@Suite struct GuardPageTests {
  /// `count` floats whose last one is the last readable float before a `PROT_NONE` page.
  final class GuardedBuffer {
    private let mapping: UnsafeMutableRawPointer
    private let length: Int
    let floats: UnsafeMutableBufferPointer<Float>

    init(_ values: [Float]) throws {
      let page = Int(sysconf(Int32(_SC_PAGESIZE)))
      let dataPages = max(1, (values.count * 4 + page - 1) / page)
      length = (dataPages + 1) * page
      let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      mapping = try #require(pointer == MAP_FAILED ? nil : pointer, "mmap failed")
      #expect(mprotect(mapping + dataPages * page, page, PROT_NONE) == 0)
      let start = (mapping + dataPages * page - values.count * 4).bindMemory(to: Float.self, capacity: values.count)
      floats = UnsafeMutableBufferPointer(start: start, count: values.count)
      _ = floats.initialize(from: values)
    }

    deinit { munmap(mapping, length) }
  }

  /// |got − expected| ≤ γ_{k+3}·scale, the bound of the conformance suite (with the
  /// reference's own rounding u·|expected| on top).
  static func agree(_ got: Float, _ expected: Float, depth: Int, scale: Double) -> Bool {
    let u = 0x1p-24
    let gamma = Double(depth + 3) * u / (1 - Double(depth + 3) * u)
    return abs(Double(got) - Double(expected)) <= gamma * scale + u * abs(Double(expected))
  }

  @Test(arguments: Engine.default.runnableBackends.map(\.name))
  func gemmReadsNothingPastItsOperands(_ name: String) throws {
    let engine = try Engine.default.forcing(name).withThreads(1)
    var generator = SeededGenerator(seed: 404)
    let shapes = [
      (4, 4, 4), (3, 3, 3), (5, 7, 9), (8, 8, 8), (7, 5, 9), (17, 33, 45), (1, 33, 45), (45, 1, 33), (20, 35, 9),
      (9, 34, 40), (6, 3, 1), (13, 15, 2), (2, 17, 31), (32, 32, 32), (11, 1, 1), (18, 40, 7), (13, 16, 6),
      // The unpacked few-row path (`SIMDGemm.skinny`), whose last columns are read in place
      // up to B's last row or two: small and above the small size class.
      (2, 100, 77), (5, 100, 600), (7, 129, 300), (64, 17, 300),
    ]
    for (m, n, k) in shapes {
      for transposeA in Transpose.allCases {
        for transposeB in Transpose.allCases {
          let layoutA = transposeA == .normal ? MatrixLayout(rows: m, columns: k) : MatrixLayout(rows: k, columns: m)
          let layoutB = transposeB == .normal ? MatrixLayout(rows: k, columns: n) : MatrixLayout(rows: n, columns: k)
          let layoutC = MatrixLayout(rows: m, columns: n)
          let a = try GuardedBuffer(generator.floats(m * k)), b = try GuardedBuffer(generator.floats(k * n))
          let initialC = generator.floats(m * n)
          let c = try GuardedBuffer(initialC)
          try engine.gemm(
            transposeA: transposeA, transposeB: transposeB, alpha: 1.5, a: UnsafeBufferPointer(a.floats), layoutA,
            b: UnsafeBufferPointer(b.floats), layoutB, beta: -0.5, c: c.floats, layoutC)
          var expected = initialC
          ReferenceBackend().gemm(
            transposeA, transposeB, rows: m, columns: n, depth: k, alpha: 1.5, a.floats.baseAddress!,
            lda: layoutA.leadingDimension, b.floats.baseAddress!, ldb: layoutB.leadingDimension, beta: -0.5,
            &expected, ldc: n, threads: 1)
          for i in 0..<m {
            for j in 0..<n {
              var magnitude = 0.0
              for p in 0..<k {
                let x = transposeA == .normal ? a.floats[i * k + p] : a.floats[p * m + i]
                let y = transposeB == .normal ? b.floats[p * n + j] : b.floats[j * k + p]
                magnitude += abs(Double(x) * Double(y))
              }
              let scale = 1.5 * magnitude + 0.5 * abs(Double(initialC[i * n + j]))
              #expect(
                Self.agree(c.floats[i * n + j], expected[i * n + j], depth: k, scale: scale),
                "\(m)×\(n)×\(k) \(transposeA.rawValue)\(transposeB.rawValue) (\(i), \(j)) on \(name)")
            }
          }
        }
      }
    }
  }

  @Test(arguments: Engine.default.runnableBackends.map(\.name))
  func gemvReadsNothingPastItsOperands(_ name: String) throws {
    let engine = try Engine.default.forcing(name).withThreads(1)
    var generator = SeededGenerator(seed: 405)
    for (rows, columns) in [(1, 1), (3, 7), (9, 300), (31, 17), (12, 3), (2, 45), (64, 65), (130, 8), (5, 20)] {
      for transpose in Transpose.allCases {
        let (outputs, inputs) = transpose == .normal ? (rows, columns) : (columns, rows)
        let a = try GuardedBuffer(generator.floats(rows * columns)), x = try GuardedBuffer(generator.floats(inputs))
        let initialY = generator.floats(outputs)
        let y = try GuardedBuffer(initialY)
        try engine.gemv(
          transpose: transpose, alpha: -2, a: UnsafeBufferPointer(a.floats), MatrixLayout(rows: rows, columns: columns),
          x: UnsafeBufferPointer(x.floats), beta: 0.25, y: y.floats)
        var expected = initialY
        ReferenceBackend().gemv(
          transpose, rows: rows, columns: columns, alpha: -2, a.floats.baseAddress!, lda: columns,
          x.floats.baseAddress!, beta: 0.25, &expected, threads: 1)
        for i in 0..<outputs {
          var magnitude = 0.0
          for j in 0..<inputs {
            let element = transpose == .normal ? a.floats[i * columns + j] : a.floats[j * columns + i]
            magnitude += abs(Double(element) * Double(x.floats[j]))
          }
          let scale = 2 * magnitude + 0.25 * abs(Double(initialY[i]))
          #expect(
            Self.agree(y.floats[i], expected[i], depth: inputs, scale: scale),
            "gemv \(transpose.rawValue) \(rows)×\(columns) i=\(i) on \(name)")
        }
      }
    }
  }
}
#endif
