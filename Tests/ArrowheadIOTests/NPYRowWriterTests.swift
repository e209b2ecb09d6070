import ArrowheadIO
import Foundation
import Testing

/// `NPYFile.writeFloat32(rows:columns:to:_:)`: rows handed over in any order give the same
/// bytes as a whole-matrix write, and every failure leaves the destination as it was.
@Suite("NPY files written row by row")
struct NPYRowWriterTests {
  static func directory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("arrowhead-npy-rows-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
  }

  static func bytes(_ path: String) -> [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

  static func leftovers(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".arrowhead-tmp-") }
  }

  struct Stop: Error, Equatable {}

  /// A 7 × 5 matrix written as single rows and blocks in a scrambled order is byte for
  /// byte the file `NPYFile.write` makes (header with the shape, then rows in order), and
  /// so is an empty 0 × 5 one.
  @Test func rowsInAnyOrderGiveTheBytesOfAWholeWrite() throws {
    let dir = try Self.directory()
    let values = (0..<35).map { Float($0) * 0.37 - 5 }
    try NPYFile.write(values, rows: 7, columns: 5, to: dir + "/whole.npy")
    try NPYFile.writeFloat32(rows: 7, columns: 5, to: dir + "/rows.npy") { (file: NPYFile.RowWriter) throws(VectorFileError) in
      for block in [5..<7, 0..<1, 3..<4, 1..<3, 4..<5] {
        try file.write(values[block.lowerBound * 5..<block.upperBound * 5], rows: block)
      }
      #expect(file.rowsWritten == 7)
    }
    #expect(Self.bytes(dir + "/rows.npy") == Self.bytes(dir + "/whole.npy"))
    #expect(try NPYFile.readFloat32(dir + "/rows.npy").elements == values)

    try NPYFile.write([Float](), rows: 0, columns: 5, to: dir + "/empty-whole.npy")
    try NPYFile.writeFloat32(rows: 0, columns: 5, to: dir + "/empty.npy") { (_: NPYFile.RowWriter) throws(VectorFileError) in }
    #expect(Self.bytes(dir + "/empty.npy") == Self.bytes(dir + "/empty-whole.npy"))
    #expect(Self.leftovers(in: dir).isEmpty)
  }

  /// A body that throws, a row left out, a row written twice, a block of the wrong size or
  /// outside the file: each is reported, and the previous file stays, with no temporary
  /// file left behind.
  @Test func failuresKeepThePreviousFile() throws {
    let dir = try Self.directory()
    let path = dir + "/out.npy"
    try NPYFile.write([9, 9] as [Float], rows: 1, columns: 2, to: path)
    let previous = Self.bytes(path)

    do throws(NPYFile.RowWriteFailure<Stop>) {
      try NPYFile.writeFloat32(rows: 3, columns: 2, to: path) { (file: NPYFile.RowWriter) throws(Stop) in
        try? file.write([1, 2], rows: 0..<1)
        throw Stop()
      }
      Issue.record("expected the body's error")
    } catch {
      guard case .body(let stop) = error else { Issue.record("expected the body's error, got \(error)"); return }
      #expect(stop == Stop())
    }
    #expect(Self.bytes(path) == previous && Self.leftovers(in: dir).isEmpty)

    func failure(_ body: (NPYFile.RowWriter) throws(VectorFileError) -> Void) -> VectorFileError? {
      do {
        try NPYFile.writeFloat32(rows: 3, columns: 2, to: path, body)
        return nil
      } catch {
        switch error {
        case .file(let failure): return failure
        case .body(let failure): return failure
        }
      }
    }
    #expect(failure { file throws(VectorFileError) in try file.write([1, 2, 5, 6], rows: 0..<2) }
      == .writeFailed(path: path, reason: "1 of 3 rows were not written (rows 2)"))
    #expect(failure { file throws(VectorFileError) in
      try file.write([1, 2], rows: 1..<2)
      try file.write([1, 2, 3, 4], rows: 0..<2)
    } == .writeFailed(path: path, reason: "row 1 was written twice"))
    #expect(failure { file throws(VectorFileError) in try file.write([1, 2, 3], rows: 0..<2) }
      == .invalidShape(path: path, reason: "3 values for rows 0..<2 of 2 columns"))
    #expect(failure { file throws(VectorFileError) in try file.write([1, 2, 3, 4], rows: 2..<4) }
      == .invalidShape(path: path, reason: "rows 2..<4 outside the file's 3 rows"))
    #expect(Self.bytes(path) == previous && Self.leftovers(in: dir).isEmpty)
  }

  /// `AtomicFile.Writer.write(_:at:)` places bytes anywhere without moving the append
  /// offset; a gap reads as zeros.
  @Test func positionedWritesLandAtTheirOffset() throws {
    let dir = try Self.directory()
    try AtomicFile.write(to: dir + "/f.bin") { (file: AtomicFile.Writer) throws in
      try file.write([1, 2, 3] as [UInt8])
      try ([7, 8] as [UInt8]).withUnsafeBytes { try file.write($0, at: 6) }
      #expect(file.offset == 3)
    }
    #expect(Self.bytes(dir + "/f.bin") == [1, 2, 3, 0, 0, 0, 7, 8])
  }
}
