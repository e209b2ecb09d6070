// Reading safetensors files: memory-mapped, validated up front, one tensor at a time.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable, Hashable {
  /// The tensor's name.
  public var name: String
  /// Its element type.
  public var dtype: SafetensorsDType
  /// Its shape ([] for a scalar).
  public var shape: [Int]
  /// Its byte range relative to the start of the data section (`data_offsets`).
  public var dataOffsets: Range<Int>
  /// The absolute offset of its first byte in the file (8 + header length + start).
  public var fileOffset: Int

  /// Creates an entry.
  public init(name: String, dtype: SafetensorsDType, shape: [Int], dataOffsets: Range<Int>, fileOffset: Int) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.dataOffsets = dataOffsets
    self.fileOffset = fileOffset
  }

  /// The number of elements (the product of the shape; 1 for a scalar).
  public var elementCount: Int { shape.reduce(1, *) }
  /// The number of bytes of data.
  public var byteCount: Int { dataOffsets.count }
}

/// A safetensors file opened for reading.
///
/// The file is memory-mapped read-only and its header is parsed and **validated completely
/// on open**: header length, JSON syntax, every entry's dtype, shape and offsets, byte
/// counts and overlaps. Afterwards tensor data is only read when asked for, so a model of
/// any size costs address space, not memory; `evictPages(of:)` gives a processed tensor's
/// pages back so that resident memory stays near the largest tensor.
///
/// Format (https://github.com/huggingface/safetensors): an unsigned little-endian 64-bit
/// header length N, N bytes of UTF-8 JSON (`{"name": {"dtype": "F32", "shape": [2, 3],
/// "data_offsets": [begin, end]}, …, "__metadata__": {"key": "value"}}`, possibly padded with
/// spaces), then the data section; offsets are relative to the data section.
///
/// Instances are immutable and may be shared between threads (the mapping is read-only).
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// for tensor in file.tensors where tensor.dtype.isConvertibleToFloat {
///   let weights = try file.floats(tensor.name)
///   …
///   file.evictPages(of: tensor)
/// }
/// ```
public final class SafetensorsFile: @unchecked Sendable {
  /// The largest header accepted (the reference implementation's limit).
  public static let maximumHeaderLength = 100 << 20

  /// The path the file was opened from.
  public let path: String
  /// The file's size in bytes.
  public let fileSize: Int
  /// The header length N.
  public let headerLength: Int
  /// The `__metadata__` entries (string to string), empty when absent.
  public let metadata: [String: String]
  /// The tensors, in data-offset order.
  public let tensors: [SafetensorsTensorInfo]

  private let base: UnsafeRawPointer
  private let mappedLength: Int
  private let indexByName: [String: Int]

  /// Opens, maps and validates `path`. Throws `SafetensorsError` naming the file, and where
  /// it applies the tensor and byte offset, for any defect.
  public init(path: String) throws(SafetensorsError) {
    self.path = path
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else {
      throw SafetensorsError(.io, file: path, reason: "cannot open: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      throw SafetensorsError(.io, file: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      throw SafetensorsError(.io, file: path, reason: "not a regular file")
    }
    let size = Int(status.st_size)
    fileSize = size
    guard size >= 8 else {
      throw SafetensorsError(.headerLength, file: path, offset: 0, reason: "file is \(size) bytes, too short for the 8-byte header length")
    }
    guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapping != MAP_FAILED else {
      throw SafetensorsError(.io, file: path, reason: "cannot map: \(String(cString: strerror(errno)))")
    }
    let raw = UnsafeRawPointer(mapping)
    base = raw
    mappedLength = size
    // From here on, a throw must unmap: parse into locals and assign at the end.
    do {
      let parsed = try Self.parseHeader(raw, fileSize: size, path: path)
      headerLength = parsed.headerLength
      metadata = parsed.metadata
      tensors = parsed.tensors
      var index: [String: Int] = [:]
      for (position, tensor) in parsed.tensors.enumerated() { index[tensor.name] = position }
      indexByName = index
    } catch {
      munmap(mapping, size)
      throw error
    }
  }

  deinit {
    munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
  }

  /// The entry named `name`, or nil.
  public func info(_ name: String) -> SafetensorsTensorInfo? {
    indexByName[name].map { tensors[$0] }
  }

  /// The entry named `name`; throws `.missingTensor` if there is none.
  public func requireInfo(_ name: String) throws(SafetensorsError) -> SafetensorsTensorInfo {
    guard let info = info(name) else {
      throw SafetensorsError(.missingTensor, file: path, tensor: name, reason: "no such tensor in the file")
    }
    return info
  }

  /// The raw little-endian bytes of `tensor`, valid while this file object is alive.
  public func bytes(of tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: base + tensor.fileOffset, count: tensor.byteCount)
  }

  /// Calls `body` with the tensor's values as Float32.
  ///
  /// An `F32` tensor whose data is 4-byte aligned in the file is passed **without copying**
  /// (the buffer points into the mapping and is only valid inside `body`); other F32,
  /// `F16`, `BF16` and `F64` tensors are converted into a temporary buffer. Other dtypes
  /// throw `.unsupportedDType`.
  public func withFloats<R, E: Error>(
    _ tensor: SafetensorsTensorInfo, _ body: (UnsafeBufferPointer<Float>) throws(E) -> R
  ) throws(SafetensorsFloatAccessError<E>) -> R {
    guard tensor.dtype.isConvertibleToFloat else {
      throw .file(SafetensorsError(
        .unsupportedDType, file: path, tensor: tensor.name, offset: tensor.fileOffset,
        reason: "dtype \(tensor.dtype.rawValue) cannot be read as Float32 (supported: F32, F16, BF16, F64)"))
    }
    let start = base + tensor.fileOffset
    let count = tensor.elementCount
    if tensor.dtype == .f32 && Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
      let buffer = UnsafeBufferPointer(start: start.assumingMemoryBound(to: Float.self), count: count)
      do { return try body(buffer) } catch { throw .body(error) }
    }
    let converted = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
    defer { converted.deallocate() }
    _ = HalfConversion.convertToFloat(tensor.dtype, count: count, from: start, to: converted.baseAddress!)
    do {
      return try body(UnsafeBufferPointer(rebasing: converted[0..<count]))
    } catch {
      throw .body(error)
    }
  }

  /// The tensor's values as a new Float32 array (see `withFloats(_:_:)` for the dtypes).
  public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
    let tensor = try requireInfo(name)
    do {
      return try withFloats(tensor) { (buffer: UnsafeBufferPointer<Float>) throws(Never) in Array(buffer) }
    } catch {
      if case .file(let failure) = error { throw failure }
      return []  // unreachable: the body cannot throw
    }
  }

  /// Tells the kernel that `tensor`'s pages will not be needed soon, so that they stop
  /// counting as resident memory (they are read again from the page cache if touched).
  /// Call it after processing a tensor when streaming a large model.
  public func evictPages(of tensor: SafetensorsTensorInfo) {
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = tensor.fileOffset / pageSize * pageSize
    let end = min(mappedLength, (tensor.fileOffset + tensor.byteCount + pageSize - 1) / pageSize * pageSize)
    guard end > start else { return }
    _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
  }

  // MARK: - Header parsing

  struct ParsedHeader {
    var headerLength: Int
    var metadata: [String: String]
    var tensors: [SafetensorsTensorInfo]
  }

  static func parseHeader(_ raw: UnsafeRawPointer, fileSize: Int, path: String) throws(SafetensorsError) -> ParsedHeader {
    let declared = raw.loadUnaligned(as: UInt64.self).littleEndian
    guard declared > 0 else {
      throw SafetensorsError(.headerLength, file: path, offset: 0, reason: "header length is 0")
    }
    guard declared <= UInt64(maximumHeaderLength) else {
      throw SafetensorsError(
        .headerLength, file: path, offset: 0,
        reason: "header length \(declared) exceeds the \(maximumHeaderLength)-byte limit (corrupted or not a safetensors file)")
    }
    let headerLength = Int(declared)
    guard 8 + headerLength <= fileSize else {
      throw SafetensorsError(
        .headerLength, file: path, offset: 0,
        reason: "header length \(headerLength) runs past the end of the \(fileSize)-byte file (truncated?)")
    }
    let headerBytes = UnsafeBufferPointer(start: (raw + 8).assumingMemoryBound(to: UInt8.self), count: headerLength)
    let json: JSONValue
    do {
      json = try JSONValue.parse(headerBytes)
    } catch {
      throw SafetensorsError(.malformedJSON, file: path, offset: 8 + error.offset, reason: "malformed header JSON: \(error.reason)")
    }
    guard let members = json.members else {
      throw SafetensorsError(.malformedJSON, file: path, offset: 8, reason: "header is a JSON \(json.typeName), expected an object")
    }
    let dataStart = 8 + headerLength
    let dataSize = fileSize - dataStart
    var metadata: [String: String] = [:]
    var tensors: [SafetensorsTensorInfo] = []
    tensors.reserveCapacity(members.count)
    for (name, entry) in members {
      if name == "__metadata__" {
        guard let pairs = entry.members else {
          throw SafetensorsError(.invalidEntry, file: path, offset: 8, reason: "__metadata__ is a \(entry.typeName), expected an object of strings")
        }
        for (key, value) in pairs {
          guard let text = value.string else {
            throw SafetensorsError(.invalidEntry, file: path, offset: 8, reason: "__metadata__ value for '\(key)' is a \(value.typeName), expected a string")
          }
          metadata[key] = text
        }
        continue
      }
      tensors.append(try parseEntry(name: name, entry, dataStart: dataStart, dataSize: dataSize, path: path))
    }
    tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
    var previous: SafetensorsTensorInfo?
    for tensor in tensors where !tensor.dataOffsets.isEmpty {
      if let last = previous, last.dataOffsets.upperBound > tensor.dataOffsets.lowerBound {
        throw SafetensorsError(
          .overlappingTensors, file: path, tensor: tensor.name, offset: tensor.fileOffset,
          reason: "data_offsets [\(tensor.dataOffsets.lowerBound), \(tensor.dataOffsets.upperBound)] overlap tensor '\(last.name)' [\(last.dataOffsets.lowerBound), \(last.dataOffsets.upperBound)]")
      }
      previous = tensor
    }
    return ParsedHeader(headerLength: headerLength, metadata: metadata, tensors: tensors)
  }

  static func parseEntry(
    name: String, _ entry: JSONValue, dataStart: Int, dataSize: Int, path: String
  ) throws(SafetensorsError) -> SafetensorsTensorInfo {
    func invalid(_ reason: String) -> SafetensorsError {
      SafetensorsError(.invalidEntry, file: path, tensor: name, offset: 8, reason: reason)
    }
    guard entry.members != nil else { throw invalid("entry is a \(entry.typeName), expected an object") }
    guard let dtypeText = entry["dtype"]?.string else { throw invalid("missing or non-string \"dtype\"") }
    guard let dtype = SafetensorsDType(rawValue: dtypeText) else {
      throw SafetensorsError(
        .unsupportedDType, file: path, tensor: name, offset: 8,
        reason: "unknown dtype \"\(dtypeText)\" (known: \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard let shapeValues = entry["shape"]?.array else { throw invalid("missing or non-array \"shape\"") }
    var shape: [Int] = []
    var elements = 1
    for value in shapeValues {
      guard let dimension = value.integer, dimension >= 0 else {
        throw invalid("shape \(JSONValue.array(shapeValues).serialized) holds a value that is not a non-negative integer")
      }
      let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
      guard !overflow else { throw invalid("shape \(JSONValue.array(shapeValues).serialized) overflows") }
      elements = product
      shape.append(dimension)
    }
    guard let offsets = entry["data_offsets"]?.array, offsets.count == 2,
      let begin = offsets[0].integer, let end = offsets[1].integer
    else { throw invalid("\"data_offsets\" must be an array of two integers") }
    guard begin >= 0, begin <= end, end <= dataSize else {
      throw SafetensorsError(
        .offsetOutOfRange, file: path, tensor: name, offset: dataStart + max(0, min(begin, dataSize)),
        reason: "data_offsets [\(begin), \(end)] lie outside the data section of \(dataSize) bytes")
    }
    let (needed, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
    guard !overflow, needed == end - begin else {
      throw SafetensorsError(
        .byteCountMismatch, file: path, tensor: name, offset: dataStart + begin,
        reason: "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtype.rawValue) \(shape) needs \(overflow ? "more than Int.max" : String(needed))")
    }
    return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end, fileOffset: dataStart + begin)
  }
}

/// Why `SafetensorsFile.withFloats` failed: the file, or the body's own error.
public enum SafetensorsFloatAccessError<BodyError: Error>: Error {
  /// The tensor could not be read as Float32.
  case file(SafetensorsError)
  /// The body threw.
  case body(BodyError)
}
