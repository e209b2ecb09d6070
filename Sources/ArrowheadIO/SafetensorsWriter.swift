// Writing safetensors files tensor by tensor, with memory that does not grow with the model.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a safetensors file whose tensors arrive one at a time.
///
/// A safetensors header (which lists every tensor's offsets) precedes the data, so the
/// data cannot go straight to the destination. Instead each added tensor's bytes go to an
/// anonymous spill file in the destination's directory (`AtomicFile.scratchFile`: unlinked
/// at once, so nothing is left behind even after a crash), and tensors copied unchanged from an input file are
/// only *referenced*. `finish()` then writes the header and streams every tensor's bytes
/// into the destination through `AtomicFile` (temporary file, fsync, rename): readers see
/// the old file or the complete new one, never a half file. Memory stays at one 4 MiB copy
/// buffer plus whatever the caller holds for the tensor being added.
///
/// Layout: the header is padded with spaces so that the data section starts at a multiple
/// of 8, and tensors are laid out by decreasing element size (8-, 4-, 2-, then 1-byte
/// types, each group in the order added) without holes, so every tensor is aligned to its
/// element size.
///
/// ```swift
/// let writer = try SafetensorsWriter(path: "out.safetensors", metadata: ["format": "pt"])
/// try writer.add("w", dtype: .f32, shape: [2, 2], values: [1, 2, 3, 4] as [Float])
/// try writer.finish()
/// ```
public final class SafetensorsWriter {
  /// The destination path.
  public let path: String
  /// The `__metadata__` entries written by `finish()`; may be changed until then.
  public var metadata: [String: String]

  private enum Source {
    case spill(offset: Int, count: Int)
    case file(SafetensorsFile, SafetensorsTensorInfo)
  }

  private struct Pending {
    var name: String
    var dtype: SafetensorsDType
    var shape: [Int]
    var byteCount: Int
    var source: Source
  }

  /// Each added tensor's `SafetensorsChecksum.tensor` value, when the writer was created
  /// with `recordingChecksums` (empty otherwise). Computed as tensors are added, so that a
  /// caller can store them in `metadata` before `finish()`.
  public private(set) var checksums: [String: UInt32] = [:]
  private let recordsChecksums: Bool

  private var pending: [Pending] = []
  private var names = Set<String>()
  private var spillDescriptor: Int32
  private var spillSize = 0
  private var finished = false

  /// The destination when the job began: `finish()` refuses to replace it if another
  /// writer changed it since (see `AtomicFile.Baseline`).
  public let baseline: AtomicFile.Baseline

  /// Prepares to write `path`; creates the spill file (so an unwritable directory fails
  /// here, before any work). With `recordingChecksums`, every added tensor's checksum is
  /// computed (one extra pass over its bytes) into `checksums`. `baseline` is the
  /// destination when the job began (default: now).
  public init(
    path: String, metadata: [String: String] = [:], recordingChecksums: Bool = false, baseline: AtomicFile.Baseline? = nil
  ) throws(SafetensorsError) {
    self.path = path
    self.baseline = baseline ?? AtomicFile.baseline(of: path)
    self.metadata = metadata
    self.recordsChecksums = recordingChecksums
    let directory: String
    let descriptor: Int32
    if let slash = path.lastIndex(of: "/") {
      directory = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
      directory = "."
    }
    do {
      descriptor = try AtomicFile.scratchFile(in: directory, for: path)
    } catch {
      throw SafetensorsError(.io, file: path, reason: "cannot create a temporary file in '\(directory)': \(error.detail)")
    }
    spillDescriptor = descriptor
  }

  deinit {
    if spillDescriptor >= 0 { close(spillDescriptor) }
  }

  /// The number of tensors added so far.
  public var count: Int { pending.count }

  /// Adds a tensor from raw little-endian bytes (copied to the spill file at once).
  ///
  /// Throws `.duplicateTensor` for a name already added, `.invalidEntry` for an empty name
  /// or `__metadata__`, and `.byteCountMismatch` if `bytes` does not hold exactly
  /// product(shape) · dtype.size bytes.
  public func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) throws(SafetensorsError) {
    try check(name, dtype: dtype, shape: shape, byteCount: bytes.count)
    if recordsChecksums { checksums[name] = SafetensorsChecksum.tensor(name: name, dtype: dtype, shape: shape, bytes: bytes) }
    var remaining = bytes.count
    var cursor = bytes.baseAddress
    while remaining > 0, let current = cursor {
      let written = write(spillDescriptor, current, min(remaining, 1 << 30))
      if written < 0 {
        if errno == EINTR { continue }
        throw SafetensorsError(.io, file: path, tensor: name, reason: "cannot write the temporary file: \(String(cString: strerror(errno)))")
      }
      remaining -= written
      cursor = current + written
    }
    pending.append(Pending(name: name, dtype: dtype, shape: shape, byteCount: bytes.count, source: .spill(offset: spillSize, count: bytes.count)))
    names.insert(name)
    spillSize += bytes.count
  }

  /// Adds a tensor from an array of trivial values (`[Float]`, `[UInt8]`, `[Int32]` …).
  public func add<T: BitwiseCopyable>(_ name: String, dtype: SafetensorsDType, shape: [Int], values: [T]) throws(SafetensorsError) {
    let result: Result<Void, SafetensorsError> = values.withUnsafeBytes { raw in
      Result { () throws(SafetensorsError) in try add(name, dtype: dtype, shape: shape, bytes: raw) }
    }
    try result.get()
  }

  /// Adds Float32 values stored as `dtype` (`F32`, `F16`, `BF16` or `F64`; rounding to
  /// nearest even for the narrower types).
  public func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>, as dtype: SafetensorsDType) throws(SafetensorsError) {
    if dtype == .f32 {
      try add(name, dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(floats))
      return
    }
    guard let encoded = HalfConversion.encode(floats, as: dtype) else {
      throw SafetensorsError(.unsupportedDType, file: path, tensor: name, reason: "cannot store Float32 values as \(dtype.rawValue) (supported: F32, F16, BF16, F64)")
    }
    try add(name, dtype: dtype, shape: shape, values: encoded)
  }

  /// Adds `tensor` of `file` unchanged (optionally renamed), without reading it now: its
  /// bytes are copied from the mapping during `finish()`, so `file` is kept alive until then.
  public func addCopy(of tensor: SafetensorsTensorInfo, from file: SafetensorsFile, as name: String? = nil) throws(SafetensorsError) {
    let outputName = name ?? tensor.name
    try check(outputName, dtype: tensor.dtype, shape: tensor.shape, byteCount: tensor.byteCount)
    if recordsChecksums {
      checksums[outputName] = SafetensorsChecksum.tensor(name: outputName, dtype: tensor.dtype, shape: tensor.shape, bytes: file.bytes(of: tensor))
    }
    pending.append(Pending(name: outputName, dtype: tensor.dtype, shape: tensor.shape, byteCount: tensor.byteCount, source: .file(file, tensor)))
    names.insert(outputName)
  }

  private func check(_ name: String, dtype: SafetensorsDType, shape: [Int], byteCount: Int) throws(SafetensorsError) {
    guard !finished else {
      throw SafetensorsError(.io, file: path, tensor: name, reason: "the writer has already finished")
    }
    guard !name.isEmpty, name != "__metadata__" else {
      throw SafetensorsError(.invalidEntry, file: path, tensor: name, reason: "invalid tensor name")
    }
    guard !names.contains(name) else {
      throw SafetensorsError(.duplicateTensor, file: path, tensor: name, reason: "a tensor of this name was already added")
    }
    guard shape.allSatisfy({ $0 >= 0 }) else {
      throw SafetensorsError(.invalidEntry, file: path, tensor: name, reason: "shape \(shape) has a negative dimension")
    }
    let (elements, overflow) = shape.reduce((1, false)) { partial, dimension in
      let (product, overflowed) = partial.0.multipliedReportingOverflow(by: dimension)
      return (product, partial.1 || overflowed)
    }
    guard !overflow, elements * dtype.size == byteCount else {
      throw SafetensorsError(
        .byteCountMismatch, file: path, tensor: name,
        reason: "\(byteCount) bytes given but \(dtype.rawValue) \(shape) needs \(overflow ? "more than Int.max" : String(elements * dtype.size))")
    }
  }

  /// The header JSON for the pending tensors in their final order, padded with spaces so
  /// that 8 + its length is a multiple of 8.
  private func header(order: [Int]) -> [UInt8] {
    var members: [(key: String, value: JSONValue)] = []
    if !metadata.isEmpty {
      members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
    }
    var offset = 0
    for index in order {
      let tensor = pending[index]
      members.append((tensor.name, .object([
        ("dtype", .string(tensor.dtype.rawValue)),
        ("shape", .array(tensor.shape.map { .integer($0) })),
        ("data_offsets", .array([.integer(offset), .integer(offset + tensor.byteCount)])),
      ])))
      offset += tensor.byteCount
    }
    var bytes = Array(JSONValue.object(members).serialized.utf8)
    while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
    return bytes
  }

  /// Bytes written between two early-writeback requests.
  static let writebackStride = 8 << 20

  /// Asks the kernel to start writing back what was written so far, every
  /// `writebackStride` bytes, so that the device works while later tensors are still being
  /// copied and the final fsync of `AtomicFile` has less left to wait for. On Linux,
  /// `posix_fadvise(POSIX_FADV_DONTNEED)` on dirty pages starts asynchronous writeback
  /// (and drops the pages once clean: nothing reads them back). Durability is unchanged:
  /// the fsync still happens. Linux only; elsewhere the fsync does all the work.
  private func startWriteback(_ writer: AtomicFile.Writer, _ flushedUpTo: inout Int) {
    #if os(Linux)
    guard writer.offset - flushedUpTo >= Self.writebackStride else { return }
    _ = posix_fadvise(writer.descriptor, off_t(flushedUpTo), off_t(writer.offset - flushedUpTo), POSIX_FADV_DONTNEED)
    flushedUpTo = writer.offset
    #endif
  }

  /// Writes the file atomically: header, then every tensor's bytes. The writer cannot be
  /// used afterwards.
  public func finish() throws(SafetensorsError) {
    guard !finished else { throw SafetensorsError(.io, file: path, reason: "the writer has already finished") }
    finished = true
    // Stable order by decreasing element size keeps every tensor aligned.
    let order = pending.indices.sorted { a, b in
      let (sizeA, sizeB) = (pending[a].dtype.size, pending[b].dtype.size)
      return sizeA != sizeB ? sizeA > sizeB : a < b
    }
    let headerBytes = header(order: order)
    let spill = spillDescriptor
    let destination = path
    let entries = pending
    do {
      try AtomicFile.write(to: path, since: baseline) { (writer: AtomicFile.Writer) throws(SafetensorsError) in
        var flushedUpTo = 0
        func put(_ bytes: UnsafeRawBufferPointer, tensor: String?) throws(SafetensorsError) {
          do {
            try writer.write(bytes)
          } catch {
            throw SafetensorsError(.io, file: destination, tensor: tensor, reason: "cannot write: \(error.detail)")
          }
          startWriteback(writer, &flushedUpTo)
        }
        let prefix = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) } + headerBytes
        let written: Result<Void, SafetensorsError> = prefix.withUnsafeBytes { raw in
          Result { () throws(SafetensorsError) in try put(raw, tensor: nil) }
        }
        try written.get()
        let bufferSize = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
        defer { buffer.deallocate() }
        for index in order {
          let tensor = entries[index]
          switch tensor.source {
          case .file(let file, let info):
            // 4 MiB at a time: one huge write from a mapping runs at a third of the speed
            // of chunked writes here (page faults inside the write's copy).
            let source = file.bytes(of: info)
            var done = 0
            while done < source.count {
              let chunk = min(bufferSize, source.count - done)
              try put(UnsafeRawBufferPointer(rebasing: source[done..<(done + chunk)]), tensor: tensor.name)
              done += chunk
            }
            file.evictPages(of: info)
          case .spill(let offset, let count):
            var done = 0
            while done < count {
              let chunk = min(bufferSize, count - done)
              let got = pread(spill, buffer.baseAddress!, chunk, off_t(offset + done))
              if got < 0 && errno == EINTR { continue }
              guard got > 0 else {
                throw SafetensorsError(.io, file: destination, tensor: tensor.name, reason: "cannot read back the temporary file: \(String(cString: strerror(errno)))")
              }
              try put(UnsafeRawBufferPointer(rebasing: buffer[0..<got]), tensor: tensor.name)
              done += got
            }
          }
        }
      }
    } catch {
      switch error {
      case .write(let failure): throw SafetensorsError(.io, file: path, reason: "cannot write: \(failure.detail)")
      case .body(let failure): throw failure
      }
    }
    close(spillDescriptor)
    spillDescriptor = -1
  }
}
