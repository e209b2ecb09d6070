import ArrowheadIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

private func scratchPath(_ name: String) -> String {
  var template = Array("/tmp/arrowhead-vecs-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return String(cString: path!) + "/" + name
}

/// One TEXMEX row: Int32 dimension, then the elements.
private func row<T>(_ values: [T]) -> [UInt8] {
  withUnsafeBytes(of: Int32(values.count).littleEndian) { Array($0) } + values.withUnsafeBytes { Array($0) }
}

@Suite("TEXMEX vector files")
struct VecsFileTests {
  @Test func fvecsRoundTrip() throws {
    let path = scratchPath("base.fvecs")
    let values: [Float] = [1, 2, 3, -4, 5.5, 6]
    try VecsFile.write(values, rows: 2, columns: 3, to: path)
    let matrix = try VectorFile.readFloat32(path)
    #expect(matrix.rows == 2 && matrix.columns == 3 && matrix.elements == values)
  }

  @Test func ivecsAndBvecs() throws {
    let truth = scratchPath("gt.ivecs")
    try VecsFile.write([5, 4, 3, 2] as [Int32], rows: 2, columns: 2, to: truth)
    #expect(try VectorFile.readInt32(truth).elements == [5, 4, 3, 2])
    let codes = scratchPath("b.bvecs")
    try AtomicFile.write(row([UInt8(0), 255]) + row([UInt8(7), 8]), to: codes)
    let matrix = try VecsFile.readFloat32(codes)
    #expect(matrix.elements == [0, 255, 7, 8] && matrix.notes == ["converted from uint8 (.bvecs)"])
  }

  @Test func badRowsAreNamed() throws {
    let mixed = scratchPath("mixed.fvecs")
    try AtomicFile.write(row([Float(1), 2]) + row([Float(3), 4]) + row([Float(5), 6, 7]), to: mixed)
    #expect(throws: VectorFileError.inconsistentDimension(path: mixed, row: 2, expected: 2, actual: 3)) {
      try VecsFile.readFloat32(mixed)
    }
    let cut = scratchPath("cut.fvecs")
    try AtomicFile.write(row([Float(1), 2]) + Array(row([Float(3), 4]).prefix(9)), to: cut)
    #expect(throws: VectorFileError.truncated(path: cut, offset: 12, needed: 12, available: 9)) {
      try VecsFile.readFloat32(cut)
    }
    let zero = scratchPath("zero.fvecs")
    try AtomicFile.write(row([Float]()), to: zero)
    #expect(throws: VectorFileError.invalidShape(path: zero, reason: "row 0 declares dimension 0; expected 1 … 16777216")) {
      try VecsFile.readFloat32(zero)
    }
    let empty = scratchPath("empty.fvecs")
    try AtomicFile.write([], to: empty)
    #expect(try VecsFile.readFloat32(empty).rows == 0)
    #expect(throws: VectorFileError.unknownFormat(path: "x.csv", supported: [".npy", ".fvecs", ".bvecs"])) {
      try VectorFile.readFloat32("x.csv")
    }
  }
}
