import ArrowheadCore

/// Reads and writes NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
///
/// Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length
/// (UInt16 little-endian in 1.0, UInt32 in 2.0/3.0), an ASCII (3.0: UTF-8) Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (400000, 50), }` padded with
/// spaces and a newline, then the raw elements.
///
/// Supported element types (`descr`): `<f4` (read in place from a memory mapping: no
/// copy), `<f8` (narrowed to Float32 with round-to-nearest; the returned matrix carries a
/// note saying so, because values beyond ±3.4e38 become ±∞ and precision drops to 24
/// bits), `<i4`, `<i8` (for ground-truth id files; values outside Int32 are an error),
/// `|u1` and `|i1`. Shapes of rank 2 are `rows × columns`; rank 1 `(n,)` reads as one
/// row of n columns. Only C order is read (`fortran_order: True` is a typed error), and
/// big-endian data (`>f4`) is reported as unsupported rather than silently misread.
///
/// ```swift
/// let queries = try NPYFile.readFloat32("queries.npy")   // VectorMatrix<Float>
/// try NPYFile.write(ids, rows: 1000, columns: 10, to: "neighbours.npy")
/// ```
public enum NPYFile {
  /// The parsed header of a .npy file.
  public struct Header: Sendable, Equatable {
    /// The numpy type string, e.g. `<f4`.
    public var descr: String
    /// Whether the data is column-major.
    public var fortranOrder: Bool
    /// The array shape.
    public var shape: [Int]
    /// Byte offset of the first element.
    public var dataOffset: Int

    /// Creates a header description.
    public init(descr: String, fortranOrder: Bool, shape: [Int], dataOffset: Int) {
      self.descr = descr
      self.fortranOrder = fortranOrder
      self.shape = shape
      self.dataOffset = dataOffset
    }

    /// Bytes per element for the supported types (nil otherwise).
    public var elementSize: Int? {
      switch descr {
      case "<f4", "<i4", "=f4", "=i4": 4
      case "<f8", "<i8", "=f8", "=i8": 8
      case "|u1", "|i1", "<u1", "<i1": 1
      default: nil
      }
    }
  }

  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
  static let floatTypes = ["<f4", "<f8", "|u1", "|i1"]
  static let integerTypes = ["<i4", "<i8", "|u1"]

  /// Reads only the header of `path`.
  public static func readHeader(_ path: String) throws(VectorFileError) -> Header {
    let mapping = try FileMapping(path: path)
    return try withExtendedLifetime(mapping) { () throws(VectorFileError) -> Header in
      try parseHeader(mapping.bytes, path: path)
    }
  }

  /// Reads a matrix of Float32. `<f4` is mapped in place; `<f8`, `|u1` and `|i1` are
  /// converted into an owned copy with a note.
  public static func readFloat32(_ path: String) throws(VectorFileError) -> VectorMatrix<Float> {
    let mapping = try FileMapping(path: path)
    // The mapping must outlive every use of `bytes` (Swift may end an object's life at
    // its last use).
    return try withExtendedLifetime(mapping) { () throws(VectorFileError) -> VectorMatrix<Float> in
      try readFloat32(mapping, path: path)
    }
  }

  private static func readFloat32(_ mapping: FileMapping, path: String) throws(VectorFileError) -> VectorMatrix<Float> {
    let header = try parseHeader(mapping.bytes, path: path)
    let (rows, columns, _) = try checkedShape(header, mapping: mapping, path: path, supported: floatTypes)
    let bytes = mapping.bytes
    switch normalized(header.descr) {
    case "<f4":
      if header.dataOffset % MemoryLayout<Float>.alignment == 0 {
        return VectorMatrix(rows: rows, columns: columns, mapping: mapping, offset: header.dataOffset)
      }
      return VectorMatrix(rows: rows, columns: columns, elements: copyElements(bytes, header.dataOffset, rows * columns, Float.self))
    case "<f8":
      let doubles = copyElements(bytes, header.dataOffset, rows * columns, Double.self)
      let overflow = doubles.contains { $0.isFinite && abs($0) > Double(Float.greatestFiniteMagnitude) }
      var note = "converted from float64 to float32 (round to nearest, 24-bit precision)"
      if overflow { note += "; some values exceed the float32 range and became ±infinity" }
      return VectorMatrix(rows: rows, columns: columns, elements: doubles.map { Float($0) }, notes: [note])
    case "|u1":
      let codes = copyElements(bytes, header.dataOffset, rows * columns, UInt8.self)
      return VectorMatrix(rows: rows, columns: columns, elements: codes.map { Float($0) }, notes: ["converted from uint8"])
    default:  // "|i1"
      let codes = copyElements(bytes, header.dataOffset, rows * columns, Int8.self)
      return VectorMatrix(rows: rows, columns: columns, elements: codes.map { Float($0) }, notes: ["converted from int8"])
    }
  }

  /// Reads a matrix of integers (e.g. ground-truth neighbour ids) as Int32. `<i8` values
  /// outside Int32 throw `.invalidShape` naming the first one.
  public static func readInt32(_ path: String) throws(VectorFileError) -> VectorMatrix<Int32> {
    let mapping = try FileMapping(path: path)
    return try withExtendedLifetime(mapping) { () throws(VectorFileError) -> VectorMatrix<Int32> in
      try readInt32(mapping, path: path)
    }
  }

  private static func readInt32(_ mapping: FileMapping, path: String) throws(VectorFileError) -> VectorMatrix<Int32> {
    let header = try parseHeader(mapping.bytes, path: path)
    let (rows, columns, _) = try checkedShape(header, mapping: mapping, path: path, supported: integerTypes)
    let bytes = mapping.bytes
    switch normalized(header.descr) {
    case "<i4":
      return VectorMatrix(rows: rows, columns: columns, elements: copyElements(bytes, header.dataOffset, rows * columns, Int32.self))
    case "<i8":
      let wide = copyElements(bytes, header.dataOffset, rows * columns, Int64.self)
      var narrow = [Int32](repeating: 0, count: wide.count)
      for (index, value) in wide.enumerated() {
        guard let fitted = Int32(exactly: value) else {
          throw .invalidShape(path: path, reason: "element \(index) = \(value) does not fit in Int32")
        }
        narrow[index] = fitted
      }
      return VectorMatrix(rows: rows, columns: columns, elements: narrow)
    default:  // "|u1"
      let codes = copyElements(bytes, header.dataOffset, rows * columns, UInt8.self)
      return VectorMatrix(rows: rows, columns: columns, elements: codes.map { Int32($0) })
    }
  }

  /// Writes a `rows × columns` Float32 matrix as a version 1.0 `<f4` .npy file, atomically.
  public static func write(_ elements: [Float], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try write(elements, descr: "<f4", rows: rows, columns: columns, to: path)
  }

  /// Writes a `rows × columns` Int32 matrix as a version 1.0 `<i4` .npy file, atomically.
  public static func write(_ elements: [Int32], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try write(elements, descr: "<i4", rows: rows, columns: columns, to: path)
  }

  /// Writes a `rows × columns` Int64 matrix as a version 1.0 `<i8` .npy file, atomically.
  public static func write(_ elements: [Int64], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try write(elements, descr: "<i8", rows: rows, columns: columns, to: path)
  }

  /// The header bytes of a version 1.0 file: magic, version, length, dict padded so that
  /// the data starts at a multiple of 64 bytes.
  static func headerBytes(descr: String, shape: [Int]) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = magic.count + 2 + 2 + dict.utf8.count + 1
    let padded = (unpadded + 63) / 64 * 64
    dict += String(repeating: " ", count: padded - unpadded) + "\n"
    var bytes = magic + [1, 0]
    let length = UInt16(dict.utf8.count)
    bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
    bytes += Array(dict.utf8)
    return bytes
  }

  private static func write<T: BitwiseCopyable>(
    _ elements: [T], descr: String, rows: Int, columns: Int, to path: String
  ) throws(VectorFileError) {
    // The product is checked for overflow: rows × columns past Int.max trapped.
    let (product, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard rows >= 0, columns >= 0, !overflow, elements.count == product else {
      throw .invalidShape(path: path, reason: "\(elements.count) elements cannot form \(rows)×\(columns)")
    }
    let header = headerBytes(descr: descr, shape: [rows, columns])
    do {
      try AtomicFile.write(to: path) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
        try writer.write(header)
        try writer.write(elements)
      }
    } catch {
      switch error {
      case .write(let failure): throw .writeFailed(path: path, reason: failure.detail)
      case .body(let failure): throw .writeFailed(path: path, reason: failure.detail)
      }
    }
  }

  // MARK: Writing row by row

  /// The rows of a Float32 `.npy` file being written by
  /// `NPYFile.writeFloat32(rows:columns:to:_:)`, in any order, each exactly once.
  ///
  /// Rows go straight to the temporary file at their place (after the header, whose shape
  /// was written first), so a caller computing rows in another order than the file's
  /// (batches sorted by length) never holds the whole matrix.
  public final class RowWriter {
    /// Rows the file declares.
    public let rows: Int
    /// Columns of every row.
    public let columns: Int
    /// Rows written so far.
    public private(set) var rowsWritten = 0
    let file: AtomicFile.Writer
    let path: String
    let dataOffset: Int
    var written: [Bool]

    init(file: AtomicFile.Writer, path: String, rows: Int, columns: Int, dataOffset: Int) {
      self.file = file
      self.path = path
      self.rows = rows
      self.columns = columns
      self.dataOffset = dataOffset
      written = [Bool](repeating: false, count: rows)
    }

    /// Writes rows `rows` (row-major, `rows.count × columns` values) at their place.
    ///
    /// Throws `.invalidShape` when the values are not `rows.count × columns` or the range
    /// leaves `0..<self.rows`, `.writeFailed` for a row already written or a failed write.
    public func write(_ values: UnsafeBufferPointer<Float>, rows range: Range<Int>) throws(VectorFileError) {
      guard range.lowerBound >= 0, range.upperBound <= rows else {
        throw .invalidShape(path: path, reason: "rows \(range.lowerBound)..<\(range.upperBound) outside the file's \(rows) rows")
      }
      guard values.count == range.count * columns else {
        throw .invalidShape(path: path, reason: "\(values.count) values for rows \(range.lowerBound)..<\(range.upperBound) of \(columns) columns")
      }
      if let twice = range.first(where: { written[$0] }) {
        throw .writeFailed(path: path, reason: "row \(twice) was written twice")
      }
      do {
        try file.write(UnsafeRawBufferPointer(values), at: dataOffset + range.lowerBound * columns * MemoryLayout<Float>.stride)
      } catch {
        throw .writeFailed(path: path, reason: error.detail)
      }
      for row in range { written[row] = true }
      rowsWritten += range.count
    }

    /// Writes rows `rows` from an array (see `write(_:rows:)`).
    public func write(_ values: [Float], rows range: Range<Int>) throws(VectorFileError) {
      try write(values[...], rows: range)
    }

    /// Writes rows `rows` from part of an array, e.g. one row of a larger matrix (see
    /// `write(_:rows:)`).
    public func write(_ values: ArraySlice<Float>, rows range: Range<Int>) throws(VectorFileError) {
      let result: Result<Void, VectorFileError> = values.withUnsafeBufferPointer { buffer in
        Result { () throws(VectorFileError) in try write(buffer, rows: range) }
      }
      try result.get()
    }

    /// `.writeFailed` naming the first rows not written (nil when all were).
    func missingRows() -> VectorFileError? {
      guard rowsWritten < rows else { return nil }
      let missing = written.indices.lazy.filter { !self.written[$0] }.prefix(10).map(String.init)
      return .writeFailed(
        path: path,
        reason: "\(rows - rowsWritten) of \(rows) rows were not written (rows \(missing.joined(separator: ", "))\(rows - rowsWritten > 10 ? ", …" : ""))")
    }
  }

  /// Why `writeFloat32(rows:columns:to:_:)` failed: the file, or the body's own error.
  public enum RowWriteFailure<BodyError: Error>: Error {
    /// Creating, writing or renaming the file failed, or the body left rows unwritten.
    case file(VectorFileError)
    /// The body threw; nothing was written to the destination.
    case body(BodyError)
  }

  /// Writes a `rows × columns` Float32 `.npy` file (version 1.0, `<f4`, the same bytes as
  /// `write(_:rows:columns:to:)`) whose rows `body` hands over in any order, atomically:
  /// the header with the declared shape first, each row at its place as it comes, then —
  /// once `body` returns and every row was written — the rename over `path`.
  ///
  /// If `body` throws, or leaves a row unwritten (`.file(.writeFailed)` naming the rows),
  /// the destination is untouched (a previous file stays) and the temporary file removed.
  ///
  /// ```swift
  /// try NPYFile.writeFloat32(rows: 2, columns: 3, to: "out.npy") { (file: NPYFile.RowWriter) throws(VectorFileError) in
  ///   try file.write([4, 5, 6], rows: 1..<2)
  ///   try file.write([1, 2, 3], rows: 0..<1)
  /// }
  /// ```
  public static func writeFloat32<E: Error>(
    rows: Int, columns: Int, to path: String, _ body: (RowWriter) throws(E) -> Void
  ) throws(RowWriteFailure<E>) {
    guard rows >= 0, columns >= 0, !rows.multipliedReportingOverflow(by: columns).overflow else {
      throw .file(.invalidShape(path: path, reason: "\(rows)×\(columns) is not a matrix shape"))
    }
    let header = headerBytes(descr: "<f4", shape: [rows, columns])
    do throws(AtomicFileFailure<RowWriteFailure<E>>) {
      try AtomicFile.write(to: path) { (file: AtomicFile.Writer) throws(RowWriteFailure<E>) in
        do throws(AtomicWriteError) {
          try file.write(header)
        } catch {
          throw .file(.writeFailed(path: path, reason: error.detail))
        }
        let writer = RowWriter(file: file, path: path, rows: rows, columns: columns, dataOffset: header.count)
        do throws(E) {
          try body(writer)
        } catch {
          throw .body(error)
        }
        if let missing = writer.missingRows() { throw .file(missing) }
      }
    } catch {
      switch error {
      case .write(let failure): throw .file(.writeFailed(path: path, reason: failure.detail))
      case .body(let failure): throw failure
      }
    }
  }

  // MARK: Parsing

  static func normalized(_ descr: String) -> String {
    switch descr {
    case "=f4": "<f4"
    case "=f8": "<f8"
    case "=i4": "<i4"
    case "=i8": "<i8"
    case "<u1": "|u1"
    case "<i1": "|i1"
    default: descr
    }
  }

  static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(VectorFileError) -> Header {
    guard bytes.count >= 10 else {
      throw .truncated(path: path, offset: 0, needed: 10, available: bytes.count)
    }
    guard Array(bytes[0..<6]) == magic else {
      throw .badHeader(path: path, reason: "missing the \\x93NUMPY magic (not a .npy file)")
    }
    let major = bytes[6]
    let headerLength: Int
    let dictStart: Int
    switch major {
    case 1:
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      dictStart = 10
    case 2, 3:
      guard bytes.count >= 12 else { throw .truncated(path: path, offset: 8, needed: 4, available: bytes.count - 8) }
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
      dictStart = 12
    default:
      throw .badHeader(path: path, reason: "format version \(major).\(bytes[7]) is not 1.x, 2.x or 3.x")
    }
    guard dictStart + headerLength <= bytes.count else {
      throw .truncated(path: path, offset: dictStart, needed: headerLength, available: bytes.count - dictStart)
    }
    let text = String(decoding: bytes[dictStart..<dictStart + headerLength], as: UTF8.self)
    let dictionary: HeaderDictionary
    do {
      dictionary = try HeaderDictionary.parse(Array(bytes[dictStart..<dictStart + headerLength]))
    } catch {
      throw .badHeader(path: path, reason: "\(error.reason) in \(text.trimmed)")
    }
    return Header(
      descr: dictionary.descr, fortranOrder: dictionary.fortranOrder, shape: dictionary.shape,
      dataOffset: dictStart + headerLength)
  }

  private static func checkedShape(
    _ header: Header, mapping: FileMapping, path: String, supported: [String]
  ) throws(VectorFileError) -> (rows: Int, columns: Int, elementSize: Int) {
    let descr = normalized(header.descr)
    guard supported.contains(descr), let size = header.elementSize else {
      throw .unsupportedElementType(path: path, found: header.descr, supported: supported)
    }
    let rows: Int, columns: Int
    switch header.shape.count {
    case 1: (rows, columns) = (1, header.shape[0])
    case 2: (rows, columns) = (header.shape[0], header.shape[1])
    default:
      throw .invalidShape(path: path, reason: "rank \(header.shape.count) shape \(header.shape); expected (rows, columns) or (n,)")
    }
    guard rows >= 0, columns >= 0 else {
      throw .invalidShape(path: path, reason: "negative dimension in \(header.shape)")
    }
    if header.fortranOrder && rows > 1 && columns > 1 { throw .fortranOrder(path: path) }
    let (elements, overflow1) = rows.multipliedReportingOverflow(by: columns)
    let (byteCount, overflow2) = elements.multipliedReportingOverflow(by: size)
    guard !overflow1, !overflow2 else {
      throw .invalidShape(path: path, reason: "shape \(header.shape) overflows the address space")
    }
    let available = mapping.count - header.dataOffset
    guard byteCount <= available else {
      throw .truncated(path: path, offset: header.dataOffset, needed: byteCount, available: available)
    }
    return (rows, columns, size)
  }

  private static func copyElements<T: BitwiseCopyable>(
    _ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int, _ type: T.Type
  ) -> [T] {
    [T](uninitializedCount: count) { buffer, initialized in
      if count > 0 {
        UnsafeMutableRawBufferPointer(buffer).copyMemory(
          from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count * MemoryLayout<T>.stride]))
      }
      initialized = count
    }
  }
}

/// The Python dict literal of a .npy header, parsed strictly as numpy writes it:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` — exactly these three
/// keys once each (single or double quotes), a trailing comma allowed, the closing brace
/// required, then only spaces and newlines (padding).
struct HeaderDictionary {
  var descr = ""
  var fortranOrder = false
  var shape: [Int] = []

  struct Failure: Error { var reason: String }

  static func parse(_ bytes: [UInt8]) throws(Failure) -> HeaderDictionary {
    var parser = Parser(bytes: bytes)
    return try parser.dictionary()
  }

  private struct Parser {
    let bytes: [UInt8]
    var position = 0

    mutating func skipSpace() {
      while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
      skipSpace()
      guard position < bytes.count, bytes[position] == byte else {
        throw Failure(reason: position < bytes.count ? "expected \(what) at byte \(position)" : "missing \(what) (the dict ends early)")
      }
      position += 1
    }

    mutating func peek() -> UInt8? {
      skipSpace()
      return position < bytes.count ? bytes[position] : nil
    }

    mutating func string() throws(Failure) -> String {
      skipSpace()
      guard position < bytes.count, bytes[position] == 0x27 || bytes[position] == 0x22 else {
        throw Failure(reason: "expected a quoted string at byte \(position)")
      }
      let quote = bytes[position]
      let start = position + 1
      guard let end = bytes[start...].firstIndex(of: quote) else { throw Failure(reason: "unterminated string at byte \(position)") }
      position = end + 1
      return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    mutating func word() -> String {
      skipSpace()
      let start = position
      while position < bytes.count, (0x41...0x5A).contains(bytes[position]) || (0x61...0x7A).contains(bytes[position]) { position += 1 }
      return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func tuple() throws(Failure) -> [Int] {
      try expect(0x28, "'(' of the shape tuple")
      var values: [Int] = []
      while true {
        guard let next = peek() else { throw Failure(reason: "missing ')' of the shape tuple") }
        if next == 0x29 {
          position += 1
          return values
        }
        let start = position
        while position < bytes.count, (0x30...0x39).contains(bytes[position]) { position += 1 }
        guard position > start, position - start <= 18, let value = Int(String(decoding: bytes[start..<position], as: UTF8.self)) else {
          throw Failure(reason: "expected a non-negative dimension (at most 18 digits) at byte \(start)")
        }
        if position < bytes.count, bytes[position] == 0x4C { position += 1 }  // Python 2 long suffix
        values.append(value)
        guard values.count <= 32 else { throw Failure(reason: "the shape has more than 32 dimensions") }
        guard let separator = peek() else { throw Failure(reason: "missing ')' of the shape tuple") }
        if separator == 0x2C {
          position += 1
        } else if separator != 0x29 {
          throw Failure(reason: "expected ',' or ')' in the shape tuple at byte \(position)")
        }
      }
    }

    mutating func dictionary() throws(Failure) -> HeaderDictionary {
      var result = HeaderDictionary()
      var seen = Set<String>()
      try expect(0x7B, "'{' opening the header dict")
      while true {
        guard let next = peek() else { throw Failure(reason: "missing '}' closing the header dict") }
        if next == 0x7D {
          position += 1
          break
        }
        let key = try string()
        guard seen.insert(key).inserted else { throw Failure(reason: "key '\(key)' appears twice") }
        try expect(0x3A, "':' after '\(key)'")
        switch key {
        case "descr": result.descr = try string()
        case "fortran_order":
          switch word() {
          case "True": result.fortranOrder = true
          case "False": result.fortranOrder = false
          default: throw Failure(reason: "'fortran_order' must be True or False")
          }
        case "shape": result.shape = try tuple()
        default: throw Failure(reason: "unknown key '\(key)' (a .npy header holds descr, fortran_order and shape)")
        }
        guard let separator = peek() else { throw Failure(reason: "missing '}' closing the header dict") }
        if separator == 0x2C {
          position += 1
        } else if separator != 0x7D {
          throw Failure(reason: "expected ',' or '}' at byte \(position)")
        }
      }
      skipSpace()
      guard position == bytes.count else { throw Failure(reason: "unexpected bytes after the header dict at byte \(position)") }
      for key in ["descr", "fortran_order", "shape"] where !seen.contains(key) {
        throw Failure(reason: "no '\(key)' entry")
      }
      return result
    }
  }
}

extension String {
  fileprivate var trimmed: String {
    String(self.filter { $0 != "\n" }.prefix(120))
  }
}
