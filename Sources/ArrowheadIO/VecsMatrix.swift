/// A dense row-major matrix read from a vector file: `rows × columns` elements, either
/// owned (an array) or viewed in place inside a memory-mapped file.
///
/// Readers return a mapped matrix when the file's bytes already are the matrix (a
/// float32 C-order .npy), and an owned one when they had to copy or convert (.fvecs rows
/// carry a 4-byte prefix; float64 is narrowed). Either way the elements are read through
/// `withUnsafeBufferPointer`, so callers never care which.
///
/// ```swift
/// let base = try NPYFile.readFloat32("glove-base.npy")   // mapped, no copy
/// base.withUnsafeBufferPointer { rows in index.add(rows) }
/// ```
public struct VectorMatrix<Element: BitwiseCopyable & Sendable>: @unchecked Sendable {
  /// Number of rows (vectors).
  public let rows: Int
  /// Number of columns (the dimension).
  public let columns: Int
  /// Notes about conversions done while reading (e.g. "converted from float64 …"), for
  /// the user to see; empty when the data was read as stored.
  public let notes: [String]

  private enum Storage {
    case owned([Element])
    case mapped(FileMapping, offset: Int)
  }

  private let storage: Storage

  /// A matrix owning `elements` (count must be `rows · columns`; checked by the caller).
  init(rows: Int, columns: Int, elements: [Element], notes: [String] = []) {
    self.rows = rows
    self.columns = columns
    self.notes = notes
    self.storage = .owned(elements)
  }

  /// A matrix viewing `rows · columns` elements at `offset` bytes into `mapping`
  /// (alignment and bounds checked by the caller).
  init(rows: Int, columns: Int, mapping: FileMapping, offset: Int, notes: [String] = []) {
    self.rows = rows
    self.columns = columns
    self.notes = notes
    self.storage = .mapped(mapping, offset: offset)
  }

  /// Creates an owned matrix; throws nothing, but returns nil when `elements.count` is
  /// not `rows · columns` or a dimension is negative.
  public init?(rows: Int, columns: Int, elements: [Element]) {
    guard rows >= 0, columns >= 0, elements.count == rows * columns else { return nil }
    self.init(rows: rows, columns: columns, elements: elements, notes: [])
  }

  /// Whether the elements live in a memory-mapped file (no copy was made).
  public var isMapped: Bool {
    if case .mapped = storage { return true }
    return false
  }

  /// `rows · columns`.
  public var count: Int { rows * columns }

  /// Calls `body` with the elements, row by row. The pointer is valid only inside `body`.
  public func withUnsafeBufferPointer<R, E: Error>(
    _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
  ) throws(E) -> R {
    switch storage {
    case .owned(let elements):
      let result: Result<R, E> = elements.withUnsafeBufferPointer { buffer in
        Result { () throws(E) -> R in try body(buffer) }
      }
      return try result.get()
    case .mapped(let mapping, let offset):
      let start = mapping.base.map { ($0 + offset).assumingMemoryBound(to: Element.self) }
      let buffer = UnsafeBufferPointer(start: count == 0 ? nil : start, count: count)
      return try withExtendedLifetime(mapping) { () throws(E) -> R in try body(buffer) }
    }
  }

  /// A copy of all elements, row by row.
  public var elements: [Element] {
    withUnsafeBufferPointer { Array($0) }
  }

  /// A copy of row `index` (0-based); nil when out of range.
  public func row(_ index: Int) -> [Element]? {
    guard index >= 0, index < rows else { return nil }
    return withUnsafeBufferPointer { Array($0[index * columns..<(index + 1) * columns]) }
  }

  /// The first `count` rows (all rows when `count ≥ rows`), as an owned copy.
  public func prefix(rows count: Int) -> VectorMatrix<Element> {
    let kept = max(0, min(count, rows))
    let copied = withUnsafeBufferPointer { Array($0[0..<kept * columns]) }
    return VectorMatrix(rows: kept, columns: columns, elements: copied, notes: notes)
  }
}
