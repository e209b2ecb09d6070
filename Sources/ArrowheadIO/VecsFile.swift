import ArrowheadCore

/// Reads and writes the TEXMEX vector formats of the ANN benchmarks (SIFT1M, GIST1M …).
///
/// Every row is a little-endian Int32 dimension d followed by d elements: Float32
/// (`.fvecs`), Int32 (`.ivecs`, ground-truth ids) or UInt8 (`.bvecs`). All rows must
/// declare the same d (a row that does not is a typed error naming it), and the file
/// must end exactly after the last row. Because every row carries its prefix the
/// elements are not contiguous, so the reader copies them into an owned matrix (one
/// pass over the memory-mapped file).
///
/// ```swift
/// let base = try VecsFile.readFloat32("sift_base.fvecs")   // 1 000 000 × 128
/// let truth = try VecsFile.readInt32("sift_groundtruth.ivecs")
/// ```
public enum VecsFile {
  /// The three formats, by their extension.
  public enum Format: String, Sendable, CaseIterable {
    /// Float32 elements.
    case fvecs
    /// Int32 elements.
    case ivecs
    /// UInt8 elements.
    case bvecs

    /// Bytes per element.
    public var elementSize: Int { self == .bvecs ? 1 : 4 }

    /// The format named by `path`'s extension, if any.
    public init?(path: String) {
      guard let dot = path.lastIndex(of: ".") else { return nil }
      self.init(rawValue: String(path[path.index(after: dot)...]).lowercased())
    }
  }

  /// Reads an `.fvecs` (as stored) or `.bvecs` (converted to Float32) file.
  public static func readFloat32(_ path: String) throws(VectorFileError) -> VectorMatrix<Float> {
    let format = Format(path: path) ?? .fvecs
    switch format {
    case .fvecs:
      return try read(path, elementSize: 4) { source, destination, count in
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
      }
    case .bvecs:
      let matrix: VectorMatrix<Float> = try read(path, elementSize: 1) { source, destination, count in
        let bytes = source.assumingMemoryBound(to: UInt8.self)
        for i in 0..<count { destination[i] = Float(bytes[i]) }
      }
      return VectorMatrix(rows: matrix.rows, columns: matrix.columns, elements: matrix.elements, notes: ["converted from uint8 (.bvecs)"])
    case .ivecs:
      throw .unsupportedElementType(path: path, found: "int32 (.ivecs)", supported: ["float32 (.fvecs)", "uint8 (.bvecs)"])
    }
  }

  /// Reads an `.ivecs` file (e.g. ground-truth neighbour ids).
  public static func readInt32(_ path: String) throws(VectorFileError) -> VectorMatrix<Int32> {
    try read(path, elementSize: 4) { source, destination, count in
      UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
    }
  }

  /// Writes `rows × columns` Float32 values as `.fvecs`, atomically.
  public static func write(_ elements: [Float], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try writeRows(elements, rows: rows, columns: columns, to: path)
  }

  /// Writes `rows × columns` Int32 values as `.ivecs`, atomically.
  public static func write(_ elements: [Int32], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try writeRows(elements, rows: rows, columns: columns, to: path)
  }

  /// Writes `rows × columns` UInt8 values as `.bvecs`, atomically.
  public static func write(_ elements: [UInt8], rows: Int, columns: Int, to path: String) throws(VectorFileError) {
    try writeRows(elements, rows: rows, columns: columns, to: path)
  }

  // MARK: Implementation

  private static func writeRows<T: BitwiseCopyable>(
    _ elements: [T], rows: Int, columns: Int, to path: String
  ) throws(VectorFileError) {
    // The product is checked for overflow: rows × columns past Int.max trapped.
    let (product, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard rows >= 0, columns >= 0, columns > 0 || rows == 0, columns <= Int(Int32.max), !overflow, elements.count == product else {
      throw .invalidShape(path: path, reason: "\(elements.count) elements cannot form \(rows)×\(columns) rows")
    }
    let prefix = withUnsafeBytes(of: Int32(columns).littleEndian) { Array($0) }
    do {
      try AtomicFile.write(to: path) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
        for row in 0..<rows {
          try writer.write(prefix)
          try writer.write(Array(elements[row * columns..<(row + 1) * columns]))
        }
      }
    } catch {
      switch error {
      case .write(let failure): throw .writeFailed(path: path, reason: failure.detail)
      case .body(let failure): throw .writeFailed(path: path, reason: failure.detail)
      }
    }
  }

  /// Parses rows of `elementSize`-byte elements; `convert(source, destination, count)`
  /// turns one row's bytes into `count` output elements.
  private static func read<T: BitwiseCopyable & Sendable>(
    _ path: String, elementSize: Int,
    _ convert: (UnsafeRawPointer, UnsafeMutablePointer<T>, Int) -> Void
  ) throws(VectorFileError) -> VectorMatrix<T> {
    let mapping = try FileMapping(path: path)
    mapping.adviseSequential()
    return try withExtendedLifetime(mapping) { () throws(VectorFileError) -> VectorMatrix<T> in
      try parseRows(mapping.bytes, path: path, elementSize: elementSize, convert)
    }
  }

  private static func parseRows<T: BitwiseCopyable & Sendable>(
    _ bytes: UnsafeRawBufferPointer, path: String, elementSize: Int,
    _ convert: (UnsafeRawPointer, UnsafeMutablePointer<T>, Int) -> Void
  ) throws(VectorFileError) -> VectorMatrix<T> {
    if bytes.isEmpty { return VectorMatrix(rows: 0, columns: 0, elements: []) }
    guard bytes.count >= 4 else { throw .truncated(path: path, offset: 0, needed: 4, available: bytes.count) }
    let dimension = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)))
    guard dimension > 0, dimension <= 1 << 24 else {
      throw .invalidShape(path: path, reason: "row 0 declares dimension \(dimension); expected 1 … \(1 << 24)")
    }
    let rowBytes = 4 + dimension * elementSize
    guard bytes.count % rowBytes == 0 else {
      let rows = bytes.count / rowBytes
      // Say precisely what is wrong: a different dimension on some row, or a cut-off end.
      for row in 0..<rows {
        let declared = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: row * rowBytes, as: Int32.self)))
        if declared != dimension { throw .inconsistentDimension(path: path, row: row, expected: dimension, actual: declared) }
      }
      let offset = rows * rowBytes
      let declared = bytes.count - offset >= 4
        ? Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))) : dimension
      if declared != dimension { throw .inconsistentDimension(path: path, row: rows, expected: dimension, actual: declared) }
      throw .truncated(path: path, offset: offset, needed: rowBytes, available: bytes.count - offset)
    }
    let rows = bytes.count / rowBytes
    var failure: VectorFileError?
    let elements = [T](uninitializedCount: rows * dimension) { buffer, initialized in
      guard let destination = buffer.baseAddress, let source = bytes.baseAddress else { initialized = 0; return }
      for row in 0..<rows {
        let declared = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: row * rowBytes, as: Int32.self)))
        if declared != dimension {
          failure = .inconsistentDimension(path: path, row: row, expected: dimension, actual: declared)
          break
        }
        convert(source + row * rowBytes + 4, destination + row * dimension, dimension)
      }
      // T is a trivial type: a partially written buffer is still safe to hand back.
      initialized = rows * dimension
    }
    if let failure { throw failure }
    return VectorMatrix(rows: rows, columns: dimension, elements: elements)
  }
}

/// Reads a Float32 matrix from any supported vector file, chosen by extension: `.npy`
/// (see `NPYFile`), `.fvecs` or `.bvecs` (see `VecsFile`).
public enum VectorFile {
  /// The supported extensions for float matrices.
  public static let floatExtensions = ["npy", "fvecs", "bvecs"]
  /// The supported extensions for id matrices (ground truth).
  public static let integerExtensions = ["npy", "ivecs"]

  /// Reads a Float32 matrix from `path` (.npy / .fvecs / .bvecs).
  public static func readFloat32(_ path: String) throws(VectorFileError) -> VectorMatrix<Float> {
    switch fileExtension(path) {
    case "npy": return try NPYFile.readFloat32(path)
    case "fvecs", "bvecs": return try VecsFile.readFloat32(path)
    default: throw .unknownFormat(path: path, supported: floatExtensions.map { "." + $0 })
    }
  }

  /// Reads an Int32 matrix (e.g. ground-truth ids) from `path` (.npy / .ivecs).
  public static func readInt32(_ path: String) throws(VectorFileError) -> VectorMatrix<Int32> {
    switch fileExtension(path) {
    case "npy": return try NPYFile.readInt32(path)
    case "ivecs": return try VecsFile.readInt32(path)
    default: throw .unknownFormat(path: path, supported: integerExtensions.map { "." + $0 })
    }
  }

  static func fileExtension(_ path: String) -> String {
    guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "" }
    return String(path[path.index(after: dot)...]).lowercased()
  }
}
