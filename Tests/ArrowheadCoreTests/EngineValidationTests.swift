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
