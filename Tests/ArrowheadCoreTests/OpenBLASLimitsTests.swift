#if canImport(ArrowheadOpenBLAS)
import Arrowhead
@testable import ArrowheadOpenBLAS
import Testing

/// Debian's OpenBLAS takes 32-bit integers: a vector longer than `Int32.max` elements goes to
/// BLAS in pieces and a matrix with a larger dimension to the reference kernels, instead of
/// trapping in the `blasint` conversion. (Such operands take 8 GiB or more, so the pieces are
/// checked here with a small limit.)
@Suite struct OpenBLASLimitsTests {
  @Test func piecesCoverTheRangeInOrderWithinTheLimit() {
    var pieces: [[Int]] = []
    OpenBLASBackend.forEachPiece(10, limit: 3) { pieces.append([$0, $1]) }
    #expect(pieces == [[0, 3], [3, 3], [6, 3], [9, 1]])
    pieces = []
    OpenBLASBackend.forEachPiece(0, limit: 3) { pieces.append([$0, $1]) }
    #expect(pieces.isEmpty)
    #expect(OpenBLASBackend.fitsBLAS(Int(Int32.max), 1))
    #expect(!OpenBLASBackend.fitsBLAS(1, Int(Int32.max) + 1))
  }

  @Test(.enabled(if: OpenBLASThreadCountTests.runnable))
  func levelOneKernelsInPiecesAgreeWithOneCall() {
    var generator = SeededGenerator(seed: 31)
    let n = 1000
    let x = generator.floats(n), y = generator.floats(n)
    // axpy is element-wise: in pieces of 7 the same bits as in one call.
    var whole = y, pieces = y
    x.withUnsafeBufferPointer { xb in
      whole.withUnsafeMutableBufferPointer {
        OpenBLASBackend.axpy(count: n, alpha: -1.5, xb.baseAddress!, $0.baseAddress!, limit: n)
      }
      pieces.withUnsafeMutableBufferPointer {
        OpenBLASBackend.axpy(count: n, alpha: -1.5, xb.baseAddress!, $0.baseAddress!, limit: 7)
      }
    }
    #expect(whole == pieces)
    // dot: partial sums added in Float; within γₙ·Σ|xᵢyᵢ| of the exact sum.
    let inPieces = x.withUnsafeBufferPointer { xb in
      y.withUnsafeBufferPointer { yb in OpenBLASBackend.dot(count: n, xb.baseAddress!, yb.baseAddress!, limit: 7) }
    }
    let exact = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    let magnitude = zip(x, y).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
    let u = Double(Float.ulpOfOne) / 2
    #expect(abs(Double(inPieces) - exact) <= Double(n) * u / (1 - Double(n) * u) * magnitude)
  }
}
#endif
