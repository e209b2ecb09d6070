import Arrowhead
import Testing

/// Bad input to the checked API: typed errors naming the argument and sizes, never a crash.
@Suite struct EngineValidationTests {
  let engine = Engine.default

  @Test func gemmRejectsMismatchedShapesShortBuffersAndSmallLeadingDimensions() {
    let a = [Float](repeating: 1, count: 6), b = [Float](repeating: 1, count: 6)
    var c = [Float](repeating: 0, count: 4)
    a.withUnsafeBufferPointer { ab in
      b.withUnsafeBufferPointer { bb in
        c.withUnsafeMutableBufferPointer { cb in
          // A 2×3 · B 2×3: inner dimensions differ.
          #expect(throws: ArrowheadError.shapeMismatch(argument: "b", expected: "3 rows in op(b) (columns of op(a) 2×3)", actual: "2×3")) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: 3), b: bb, MatrixLayout(rows: 2, columns: 3), c: cb, MatrixLayout(rows: 2, columns: 2))
          }
          // Leading dimension smaller than the row.
          #expect(throws: ArrowheadError.leadingDimensionTooSmall(argument: "a", leadingDimension: 2, rowLength: 3)) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: 3, leadingDimension: 2), b: bb, MatrixLayout(rows: 3, columns: 2),
                            c: cb, MatrixLayout(rows: 2, columns: 2))
          }
          // A 3×3 needs 9 elements, the buffer holds 6.
          #expect(throws: ArrowheadError.bufferTooShort(argument: "a", required: 9, actual: 6)) {
            try engine.gemm(a: ab, MatrixLayout(rows: 3, columns: 3), b: bb, MatrixLayout(rows: 3, columns: 2), c: cb, MatrixLayout(rows: 3, columns: 2))
          }
          #expect(throws: ArrowheadError.negativeDimension(argument: "a.rows", value: -1)) {
            try engine.gemm(a: ab, MatrixLayout(rows: -1, columns: 3), b: bb, MatrixLayout(rows: 3, columns: 2), c: cb, MatrixLayout(rows: 2, columns: 2))
          }
          // C of the wrong shape.
          #expect(throws: ArrowheadError.shapeMismatch(argument: "c", expected: "2×2", actual: "1×4")) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: 3), b: bb, MatrixLayout(rows: 3, columns: 2), c: cb, MatrixLayout(rows: 1, columns: 4))
          }
        }
      }
    }
  }

  /// Sizes whose element count overflows `Int` are a short buffer, not a trap: 2 rows of
  /// 2⁶² + 1 columns need (2 − 1)·ld + columns > `Int.max` elements (the product alone fits).
  @Test func layoutsWhoseElementCountOverflowsAreAShortBuffer() {
    let huge = (1 << 62) + 1
    #expect(MatrixLayout(rows: 2, columns: huge).requiredCount == .max)
    #expect(MatrixLayout(rows: 3, columns: 1, leadingDimension: Int.max / 2 + 1).requiredCount == .max)
    #expect(MatrixLayout(rows: 2, columns: 3, leadingDimension: 5).requiredCount == 8)
    let a = [Float](repeating: 1, count: 4), b = [Float](repeating: 1, count: 4)
    var c = [Float](repeating: 0, count: 4)
    a.withUnsafeBufferPointer { ab in
      b.withUnsafeBufferPointer { bb in
        c.withUnsafeMutableBufferPointer { cb in
          #expect(throws: ArrowheadError.bufferTooShort(argument: "b", required: huge, actual: 4)) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: 1), b: bb, MatrixLayout(rows: 1, columns: huge),
                            c: cb, MatrixLayout(rows: 2, columns: huge))
          }
          #expect(throws: ArrowheadError.bufferTooShort(argument: "c", required: .max, actual: 4)) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: 1), b: bb, MatrixLayout(rows: 1, columns: 2),
                            c: cb, MatrixLayout(rows: 2, columns: 2, leadingDimension: Int.max - 1))
          }
          #expect(throws: ArrowheadError.bufferTooShort(argument: "a", required: .max, actual: 4)) {
            try engine.gemm(a: ab, MatrixLayout(rows: 2, columns: huge), b: bb, MatrixLayout(rows: huge, columns: 1),
                            c: cb, MatrixLayout(rows: 2, columns: 1))
          }
        }
      }
    }
  }

  @Test func emptyProductsAreFineAndLeaveCAlone() throws {
    let a = try Matrix(rows: 0, columns: 3), b = try Matrix(rows: 3, columns: 4)
    #expect(try engine.multiply(a, b).rows == 0)
    // k = 0: C = β·C.
    var c = try Matrix(rows: 2, columns: 2, repeating: 3)
    try engine.gemm(try Matrix(rows: 2, columns: 0), try Matrix(rows: 0, columns: 2), beta: 2, into: &c)
    #expect(c.elements == [6, 6, 6, 6])
  }

  @Test func distancesRejectADimensionMismatch() throws {
    let q = try Matrix(rows: 2, columns: 3), x = try Matrix(rows: 5, columns: 4)
    #expect(throws: ArrowheadError.shapeMismatch(argument: "base", expected: "dimension 3 (as queries)", actual: "dimension 4")) {
      _ = try engine.distances(.squaredL2, queries: q, base: x)
    }
  }

  @Test func dotRejectsDifferentLengths() {
    #expect(throws: ArrowheadError.shapeMismatch(argument: "y", expected: "3 elements (as x)", actual: "2 elements")) {
      _ = try engine.dot([1, 2, 3], [1, 2])
    }
  }

  @Test func choleskyRejectsNaNNonSquareAndIndefiniteInput() throws {
    var a = try Matrix(rows: 2, columns: 2, elements: [4, 1, 1, 3])
    let l = try engine.choleskyFactor(a)
    #expect(abs(l[0, 0] - 2) < 1e-6 && l[0, 1] == 0)
    a[1, 0] = .nan
    #expect(throws: ArrowheadError.nonFiniteValue(argument: "a", index: 2)) { _ = try engine.choleskyFactor(a) }
    #expect(throws: ArrowheadError.self) { _ = try engine.choleskyFactor(try Matrix(rows: 2, columns: 3)) }
    let indefinite = try Matrix(rows: 2, columns: 2, elements: [1, 2, 2, 1])
    #expect(throws: ArrowheadError.notPositiveDefinite(argument: "a", order: 2, pivot: 1)) { _ = try engine.choleskyFactor(indefinite) }
  }

  @Test func matrixInitialiserChecksItsElementCount() {
    #expect(throws: ArrowheadError.shapeMismatch(argument: "elements", expected: "6 elements (2×3)", actual: "5 elements")) {
      _ = try Matrix(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5])
    }
  }

  @Test func errorMessagesNameTheArgumentAndSizes() {
    let message = ArrowheadError.bufferTooShort(argument: "a", required: 1200, actual: 1000).description
    #expect(message.contains("'a'") && message.contains("1200") && message.contains("1000"))
  }
}

/// Products with one row or one column run on the gemv kernel (see `Engine.gemm`): every
/// transpose, leading dimensions wider than the rows, β ≠ 0, on every runnable backend, within
/// the gemm bound γ_{k+3}·(|α|·|A|·|B| + |β|·|C|) of the reference.
@Suite struct GemmAsGemvTests {
  @Test(arguments: Engine.default.runnableBackends.map(\.name))
  func oneRowAndOneColumnProductsMatchTheReference(_ name: String) throws {
    let engine = try Engine.default.forcing(name)
    var generator = SeededGenerator(seed: 77)
    for (m, n, k) in [(1, 1, 1), (1, 64, 64), (1, 33, 17), (1, 256, 300), (40, 1, 37), (256, 1, 256), (1, 1, 500)] {
      for transposeA in Transpose.allCases {
        for transposeB in Transpose.allCases {
          let (aRows, aColumns) = transposeA == .normal ? (m, k) : (k, m)
          let (bRows, bColumns) = transposeB == .normal ? (k, n) : (n, k)
          let layoutA = MatrixLayout(rows: aRows, columns: aColumns, leadingDimension: aColumns + 3)
          let layoutB = MatrixLayout(rows: bRows, columns: bColumns, leadingDimension: bColumns + 2)
          let layoutC = MatrixLayout(rows: m, columns: n, leadingDimension: n + 5)
          let a = generator.floats(layoutA.requiredCount), b = generator.floats(layoutB.requiredCount)
          let c = generator.floats(layoutC.requiredCount)
          var got = c
          try a.withUnsafeBufferPointer { (ab) throws(ArrowheadError) in
            try b.withUnsafeBufferPointer { (bb) throws(ArrowheadError) in
              try got.withUnsafeMutableBufferPointer { (cb) throws(ArrowheadError) in
                try engine.gemm(
                  transposeA: transposeA, transposeB: transposeB, alpha: 0.5, a: ab, layoutA, b: bb, layoutB,
                  beta: 2, c: cb, layoutC)
              }
            }
          }
          for i in 0..<m {
            for j in 0..<n {
              var exact = 0.0, magnitude = 0.0
              for p in 0..<k {
                let x = Double(transposeA == .normal ? a[i * layoutA.leadingDimension + p] : a[p * layoutA.leadingDimension + i])
                let y = Double(transposeB == .normal ? b[p * layoutB.leadingDimension + j] : b[j * layoutB.leadingDimension + p])
                exact += x * y
                magnitude += abs(x * y)
              }
              let old = Double(c[i * layoutC.leadingDimension + j])
              let expected = 0.5 * exact + 2 * old
              let bound = 2 * Double(k + 3) * 0x1p-24 * (0.5 * magnitude + 2 * abs(old))
              let value = Double(got[i * layoutC.leadingDimension + j])
              #expect(abs(value - expected) <= bound, "\(m)×\(n)×\(k) \(transposeA)\(transposeB) (\(i),\(j)) on \(name)")
            }
            // Padding between rows of C is never written.
            for j in n..<min(layoutC.leadingDimension, layoutC.requiredCount - i * layoutC.leadingDimension) {
              #expect(got[i * layoutC.leadingDimension + j] == c[i * layoutC.leadingDimension + j])
            }
          }
        }
      }
    }
  }
}
