import ArrowheadIO
import Foundation
import Testing

/// Shapes a Swift caller may pass to the vector-file writers: a typed error, never an
/// overflow trap; a failed write leaves the previous file as it was.
@Suite struct IOPublicAPIBadInputTests {
  static func folder() throws -> String {
    let folder = NSTemporaryDirectory() + "arrowhead-io-bad-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
  }

  /// rows × columns past Int.max trapped in both writers' shape check.
  @Test func shapesWhoseElementCountOverflowsAreRefused() throws {
    let folder = try Self.folder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let npy = folder + "/x.npy", fvecs = folder + "/x.fvecs"
    for (rows, columns) in [(Int.max, 2), (1 << 32, 1 << 32)] {
      #expect(throws: VectorFileError.invalidShape(path: npy, reason: "0 elements cannot form \(rows)×\(columns)")) {
        try NPYFile.write([Float](), rows: rows, columns: columns, to: npy)
      }
      #expect(throws: VectorFileError.invalidShape(path: fvecs, reason: "0 elements cannot form \(rows)×\(min(columns, 2)) rows")) {
        try VecsFile.write([Float](), rows: rows, columns: min(columns, 2), to: fvecs)
      }
    }
    // A negative width is refused even with no rows (it wrote an empty file).
    #expect(throws: VectorFileError.invalidShape(path: fvecs, reason: "0 elements cannot form 0×-1 rows")) {
      try VecsFile.write([Float](), rows: 0, columns: -1, to: fvecs)
    }
    #expect(!FileManager.default.fileExists(atPath: npy) && !FileManager.default.fileExists(atPath: fvecs))
    // Empty shapes are valid and read back.
    try NPYFile.write([Float](), rows: 0, columns: 384, to: npy)
    let empty = try NPYFile.readFloat32(npy)
    #expect(empty.rows == 0 && empty.columns == 384)
    try VecsFile.write([Float](), rows: 0, columns: 384, to: fvecs)
    #expect(try VecsFile.readFloat32(fvecs).rows == 0)
  }

  /// A write into a missing folder, or over a directory, fails with `.writeFailed` and
  /// leaves what was there.
  @Test func aFailedWriteLeavesThePreviousFile() throws {
    let folder = try Self.folder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let npy = folder + "/keep.npy", fvecs = folder + "/keep.fvecs"
    try NPYFile.write([Float]([1, 2]), rows: 1, columns: 2, to: npy)
    try VecsFile.write([Float]([3, 4]), rows: 1, columns: 2, to: fvecs)
    for path in [folder + "/missing/x.npy", folder] {
      #expect(throws: VectorFileError.self) { try NPYFile.write([Float]([5, 6]), rows: 1, columns: 2, to: path) }
      #expect(throws: VectorFileError.self) { try VecsFile.write([Float]([5, 6]), rows: 1, columns: 2, to: path) }
    }
    // A shape error is found before anything is written.
    #expect(throws: VectorFileError.self) { try NPYFile.write([Float]([5, 6, 7]), rows: 1, columns: 2, to: npy) }
    #expect(try NPYFile.readFloat32(npy).elements == [1, 2])
    #expect(try VecsFile.readFloat32(fvecs).elements == [3, 4])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["keep.fvecs", "keep.npy"])
  }
}
