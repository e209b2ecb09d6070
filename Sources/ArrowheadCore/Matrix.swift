/// The shape of a row-major matrix in a buffer: element (i, j) is at `i·leadingDimension + j`.
public struct MatrixLayout: Sendable, Hashable, Codable, CustomStringConvertible {
  /// Number of rows.
  public var rows: Int
  /// Number of columns (elements used per row).
  public var columns: Int
  /// Distance in elements between the starts of consecutive rows (≥ `columns`).
  public var leadingDimension: Int

  /// Creates a layout; `leadingDimension` defaults to `columns` (a dense matrix).
  public init(rows: Int, columns: Int, leadingDimension: Int? = nil) {
    self.rows = rows
    self.columns = columns
    self.leadingDimension = leadingDimension ?? columns
  }

  /// Elements a buffer must hold: (rows − 1)·ld + columns, or 0 for an empty matrix;
  /// `Int.max` where that overflows (no buffer holds it, so `validate` reports the buffer
  /// as too short instead of trapping on a caller's absurd sizes).
  public var requiredCount: Int {
    if rows == 0 || columns == 0 { return 0 }
    let (offset, productOverflow) = (rows - 1).multipliedReportingOverflow(by: leadingDimension)
    let (count, sumOverflow) = offset.addingReportingOverflow(columns)
    return productOverflow || sumOverflow ? .max : count
  }

  /// The shape after an optional transpose: (rows, columns) of op(M).
  public func shape(_ transpose: Transpose) -> (rows: Int, columns: Int) {
    transpose == .normal ? (rows, columns) : (columns, rows)
  }

  public var description: String {
    leadingDimension == columns ? "\(rows)×\(columns)" : "\(rows)×\(columns) (ld \(leadingDimension))"
  }

  /// Checks dimensions ≥ 0, ld ≥ columns and a buffer of `count` elements; names `argument`.
  @inline(__always)
  public func validate(_ argument: String, bufferCount count: Int) throws(ArrowheadError) {
    // The common case in a few compares, inlined into the caller (tiny gemms spent ~10 %
    // of their time in three out-of-line calls); the error is built out of line.
    if rows >= 0, columns >= 0, leadingDimension >= columns, count >= requiredCount { return }
    try reportInvalid(argument, bufferCount: count)
  }

  @inline(never)
  private func reportInvalid(_ argument: String, bufferCount count: Int) throws(ArrowheadError) {
    if rows < 0 { throw .negativeDimension(argument: "\(argument).rows", value: rows) }
    if columns < 0 { throw .negativeDimension(argument: "\(argument).columns", value: columns) }
    if leadingDimension < columns {
      throw .leadingDimensionTooSmall(argument: argument, leadingDimension: leadingDimension, rowLength: columns)
    }
    if count < requiredCount { throw .bufferTooShort(argument: argument, required: requiredCount, actual: count) }
  }
}

/// A dense row-major matrix of Float32 that owns its elements.
///
/// ```swift
/// let a = try Matrix(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5, 6])
/// a[1, 2]  // 6
/// ```
public struct Matrix: Sendable, Equatable, Hashable {
  /// Number of rows.
  public let rows: Int
  /// Number of columns.
  public let columns: Int
  /// The elements, row by row (`rows · columns` of them).
  public var elements: [Float]

  /// A `rows × columns` matrix with every element equal to `value`.
  public init(rows: Int, columns: Int, repeating value: Float = 0) throws(ArrowheadError) {
    if rows < 0 { throw .negativeDimension(argument: "rows", value: rows) }
    if columns < 0 { throw .negativeDimension(argument: "columns", value: columns) }
    let count = try Self.elementCount(rows: rows, columns: columns)
    self.rows = rows
    self.columns = columns
    self.elements = [Float](repeating: value, count: count)
  }

  /// A `rows × columns` matrix holding `elements` row by row.
  public init(rows: Int, columns: Int, elements: [Float]) throws(ArrowheadError) {
    if rows < 0 { throw .negativeDimension(argument: "rows", value: rows) }
    if columns < 0 { throw .negativeDimension(argument: "columns", value: columns) }
    let count = try Self.elementCount(rows: rows, columns: columns)
    guard elements.count == count else {
      throw .shapeMismatch(argument: "elements", expected: "\(count) elements (\(rows)×\(columns))", actual: "\(elements.count) elements")
    }
    self.rows = rows
    self.columns = columns
    self.elements = elements
  }

  /// rows · columns (both ≥ 0), or `.invalidParameter` where the product overflows `Int`
  /// (no array holds that many elements).
  static func elementCount(rows: Int, columns: Int) throws(ArrowheadError) -> Int {
    let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
    if overflow {
      throw .invalidParameter(name: "rows × columns", value: "\(rows) × \(columns)", expected: "a product that fits in Int")
    }
    return count
  }

  /// The layout of this matrix (dense, ld = columns).
  public var layout: MatrixLayout { MatrixLayout(rows: rows, columns: columns) }

  /// Element (row, column). Traps on an out-of-range row or column, like `Array`'s
  /// subscript (an index is the caller's program, not its data: check sizes from files
  /// or users against `rows` and `columns` first).
  public subscript(row: Int, column: Int) -> Float {
    get {
      Self.checkIndex(row, column, rows, columns)
      return elements[row * columns + column]
    }
    set {
      Self.checkIndex(row, column, rows, columns)
      elements[row * columns + column] = newValue
    }
  }

  /// Without it, (0, columns) would read (1, 0): the flat index alone is in range.
  @inline(__always)
  private static func checkIndex(_ row: Int, _ column: Int, _ rows: Int, _ columns: Int) {
    precondition(UInt(bitPattern: row) < UInt(rows) && UInt(bitPattern: column) < UInt(columns),
                 "Matrix index (\(row), \(column)) out of range for \(rows) × \(columns)")
  }

  /// The transpose.
  public var transposed: Matrix {
    var result = [Float](repeating: 0, count: elements.count)
    for i in 0..<rows {
      for j in 0..<columns { result[j * rows + i] = elements[i * columns + j] }
    }
    // Shape and count agree by construction.
    return Matrix(uncheckedRows: columns, columns: rows, elements: result)
  }

  /// Builds a matrix whose shape is known to match its elements.
  init(uncheckedRows rows: Int, columns: Int, elements: [Float]) {
    self.rows = rows
    self.columns = columns
    self.elements = elements
  }
}
