import ArrowheadIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

private func scratchDirectory() -> String {
  var template = Array("/tmp/arrowhead-npy-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return String(cString: path!)
}

/// The bytes numpy 2.x writes for `np.save(path, array)`: magic, version 1.0, a
/// little-endian UInt16 header length, the dict padded with spaces to a 64-byte boundary
/// and a newline, then the data.
private func numpyFile(descr: String, shape: String, fortran: Bool = false, data: [UInt8], major: UInt8 = 1) -> [UInt8] {
  var dict = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
  let prefix = major == 1 ? 10 : 12
  let total = (prefix + dict.utf8.count + 1 + 63) / 64 * 64
  dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
  let length = dict.utf8.count
  var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
  bytes += major == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)] : [UInt8(length & 0xFF), UInt8(length >> 8), 0, 0]
  return bytes + Array(dict.utf8) + data
}

private func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

private func write(_ content: [UInt8], _ name: String) throws -> String {
  let path = scratchDirectory() + "/" + name
  try AtomicFile.write(content, to: path)
  return path
}

@Suite("NPY files")
struct NPYFileTests {
  @Test func readsAFloat32MatrixInPlace() throws {
    let values: [Float] = [1, 2, 3, 4, 5, -6.5]
    let path = try write(numpyFile(descr: "<f4", shape: "(2, 3)", data: bytes(values)), "a.npy")
    let matrix = try NPYFile.readFloat32(path)
    #expect(matrix.rows == 2 && matrix.columns == 3)
    #expect(matrix.elements == values)
    #expect(matrix.isMapped, "a C-order <f4 file is read without a copy")
    #expect(matrix.notes.isEmpty)
    #expect(matrix.row(1) == [4, 5, -6.5])
  }

  @Test func readsVersion2HeadersAndOneDimensionalShapes() throws {
    let values: [Float] = [0.25, 0.5, 0.75]
    let path = try write(numpyFile(descr: "<f4", shape: "(3,)", data: bytes(values), major: 2), "v2.npy")
    let matrix = try NPYFile.readFloat32(path)
    #expect(matrix.rows == 1 && matrix.columns == 3 && matrix.elements == values)
  }

  @Test func convertsFloat64WithANote() throws {
    let values: [Double] = [1.5, -2.25, 1e300, 0.1]
    let path = try write(numpyFile(descr: "<f8", shape: "(2, 2)", data: bytes(values)), "d.npy")
    let matrix = try NPYFile.readFloat32(path)
    #expect(matrix.elements == [1.5, -2.25, .infinity, Float(0.1)])
    #expect(matrix.notes.count == 1)
    #expect(matrix.notes[0].contains("float64") && matrix.notes[0].contains("infinity"))
  }

  @Test func readsIntegerGroundTruth() throws {
    let wide: [Int64] = [3, 1, 2, 0]
    let path = try write(numpyFile(descr: "<i8", shape: "(2, 2)", data: bytes(wide)), "gt.npy")
    #expect(try NPYFile.readInt32(path).elements == [3, 1, 2, 0])
    let huge: [Int64] = [1 << 40]
    let bad = try write(numpyFile(descr: "<i8", shape: "(1, 1)", data: bytes(huge)), "big.npy")
    #expect(throws: VectorFileError.invalidShape(path: bad, reason: "element 0 = 1099511627776 does not fit in Int32")) {
      try NPYFile.readInt32(bad)
    }
  }

  @Test func writesFilesNumpyCanRead() throws {
    let directory = scratchDirectory()
    let path = directory + "/out.npy"
    try NPYFile.write([1, 2, 3, 4, 5, 6] as [Float], rows: 3, columns: 2, to: path)
    let header = try NPYFile.readHeader(path)
    #expect(header == NPYFile.Header(descr: "<f4", fortranOrder: false, shape: [3, 2], dataOffset: 128))
    #expect(try NPYFile.readFloat32(path).elements == [1, 2, 3, 4, 5, 6])
    try NPYFile.write([7, -8] as [Int32], rows: 1, columns: 2, to: path)
    #expect(try NPYFile.readInt32(path).elements == [7, -8])
    #expect(throws: VectorFileError.invalidShape(path: path, reason: "3 elements cannot form 2×2")) {
      try NPYFile.write([1, 2, 3] as [Float], rows: 2, columns: 2, to: path)
    }
  }

  @Test func badFilesAreTypedErrors() throws {
    let f4: [Float] = [1, 2, 3, 4]
    let fortran = try write(numpyFile(descr: "<f4", shape: "(2, 2)", fortran: true, data: bytes(f4)), "f.npy")
    #expect(throws: VectorFileError.fortranOrder(path: fortran)) { try NPYFile.readFloat32(fortran) }

    let half = try write(numpyFile(descr: "<f2", shape: "(2,)", data: [0, 0, 0, 0]), "h.npy")
    #expect(throws: VectorFileError.unsupportedElementType(path: half, found: "<f2", supported: ["<f4", "<f8", "|u1", "|i1"])) {
      try NPYFile.readFloat32(half)
    }

    let short = try write(numpyFile(descr: "<f4", shape: "(2, 3)", data: bytes(f4)), "s.npy")
    #expect(throws: VectorFileError.truncated(path: short, offset: 128, needed: 24, available: 16)) {
      try NPYFile.readFloat32(short)
    }

    let cube = try write(numpyFile(descr: "<f4", shape: "(1, 2, 2)", data: bytes(f4)), "c.npy")
    #expect(throws: VectorFileError.self) { try NPYFile.readFloat32(cube) }

    let notNumpy = try write(Array("hello, this is not numpy".utf8), "x.npy")
    #expect(throws: VectorFileError.badHeader(path: notNumpy, reason: "missing the \\x93NUMPY magic (not a .npy file)")) {
      try NPYFile.readFloat32(notNumpy)
    }

    let missing = scratchDirectory() + "/none.npy"
    #expect(throws: VectorFileError.cannotOpen(path: missing, reason: "No such file or directory")) {
      try NPYFile.readFloat32(missing)
    }
  }

  /// A header built from `dict` (padded like numpy's) over four float32 values.
  private func header(_ dict: String) throws -> String {
    var text = dict
    let total = (10 + text.utf8.count + 1 + 63) / 64 * 64
    text += String(repeating: " ", count: total - 10 - text.utf8.count - 1) + "\n"
    let length = text.utf8.count
    let content: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
      + Array(text.utf8) + bytes([1, 2, 3, 4] as [Float])
    return try write(content, "h.npy")
  }

  @Test func aHeaderDictWithoutItsClosingBraceIsRefused() throws {
    let path = try header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ")
    do throws(VectorFileError) {
      _ = try NPYFile.readFloat32(path)
      Issue.record("a header without its closing brace was accepted")
    } catch {
      guard case .badHeader(_, let reason) = error else { Issue.record("\(error)"); return }
      #expect(reason.hasPrefix("missing '}' closing the header dict"), "\(reason)")
    }
  }

  @Test func headerDictsAreParsedStrictly() throws {
    // What numpy writes (single or double quotes, trailing comma or not) is read.
    for dict in [
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 2)}",
      "{'shape': (2L, 2L), 'fortran_order': False, 'descr': '<f4'}",
    ] {
      let matrix = try NPYFile.readFloat32(try header(dict))
      #expect(matrix.rows == 2 && matrix.columns == 2 && matrix.elements == [1, 2, 3, 4], "\(dict)")
    }
    // Anything else is a malformed header naming the problem.
    let bad: [(String, String)] = [
      ("'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}", "expected '{' opening the header dict"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), } junk", "unexpected bytes after the header dict"),
      ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}", "key 'descr' appears twice"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", "unknown key 'extra'"),
      ("{'descr': '<f4', 'fortran_order': False}", "no 'shape' entry"),
      ("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2)}", "'fortran_order' must be True or False"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2)}", "expected a non-negative dimension"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}", "expected ',' or ')' in the shape tuple"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2)}", "expected a non-negative dimension (at most 18 digits)"),
      ("{'descr: '<f4', 'fortran_order': False, 'shape': (2, 2)}", "expected ':' after"),
    ]
    for (dict, expected) in bad {
      let path = try header(dict)
      do throws(VectorFileError) {
        _ = try NPYFile.readFloat32(path)
        Issue.record("accepted \(dict)")
      } catch {
        guard case .badHeader(_, let reason) = error else { Issue.record("\(dict): \(error)"); continue }
        #expect(reason.hasPrefix(expected), "\(dict): \(reason)")
      }
    }
  }
}
