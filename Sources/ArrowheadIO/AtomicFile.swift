#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error writing a file atomically.
public struct AtomicWriteError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file being written.
  public var path: String
  /// What failed ("create temporary file", "write", "fsync", "rename").
  public var step: String
  /// The C `errno` text.
  public var reason: String

  public var description: String { "cannot write '\(path)': \(step) failed: \(reason)" }
}

/// Writes a file so that readers see either the previous content or the complete new one.
///
/// The data goes to a temporary file in the same directory (same file system), is flushed
/// with `fsync`, and then renamed over the destination; the directory is synced too. If
/// the writer throws or the process dies, the destination is untouched and the temporary
/// file is removed (on a throw) or left with a `.tmp-` name (on a crash).
///
/// ```swift
/// try AtomicFile.write(to: "index.ahnsw") { file in
///   try file.write(header)
///   try file.write(vectors)
/// }
/// ```
public enum AtomicFile {
  /// A file open for writing inside `AtomicFile.write(to:_:)`.
  public final class Writer {
    let descriptor: Int32
    let path: String
    /// Bytes written so far.
    public private(set) var offset: Int = 0

    init(descriptor: Int32, path: String) {
      self.descriptor = descriptor
      self.path = path
    }

    /// Appends raw bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(AtomicWriteError) {
      guard var base = bytes.baseAddress else { return }
      var remaining = bytes.count
      while remaining > 0 {
        let written = Glibc_write(descriptor, base, min(remaining, 1 << 30))
        if written < 0 {
          if errno == EINTR { continue }
          throw AtomicWriteError(path: path, step: "write", reason: String(cString: strerror(errno)))
        }
        remaining -= written
        base += written
        offset += written
      }
    }

    /// Appends the bytes of an array of trivial values (e.g. `[Float]`, `[UInt8]`).
    public func write<T: BitwiseCopyable>(_ values: [T]) throws(AtomicWriteError) {
      let result: Result<Void, AtomicWriteError> = values.withUnsafeBytes { raw in
        Result { () throws(AtomicWriteError) in try write(raw) }
      }
      try result.get()
    }

    /// Appends the UTF-8 bytes of a string.
    public func write(_ text: String) throws(AtomicWriteError) {
      try write(Array(text.utf8))
    }
  }

  /// Writes `path` atomically with `body`; see `AtomicFile`.
  /// - Parameter permissions: mode of the new file (default rw-r--r--).
  public static func write<E: Error>(
    to path: String, permissions: mode_t = 0o644, _ body: (Writer) throws(E) -> Void
  ) throws(AtomicFileFailure<E>) {
    let directory = parentDirectory(of: path)
    let name = path.split(separator: "/").last.map(String.init) ?? path
    var template = Array("\(directory)/.tmp-\(name)-XXXXXX".utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard descriptor >= 0 else {
      throw .write(AtomicWriteError(path: path, step: "create temporary file in '\(directory)'", reason: String(cString: strerror(errno))))
    }
    let temporaryPath = String(cString: template.map { UInt8(bitPattern: $0) }.map { CChar(bitPattern: $0) })
    var succeeded = false
    defer {
      if !succeeded {
        close(descriptor)
        unlink(temporaryPath)
      }
    }
    let writer = Writer(descriptor: descriptor, path: path)
    do {
      try body(writer)
    } catch {
      throw .body(error)
    }
    guard fchmod(descriptor, permissions) == 0 else {
      throw .write(AtomicWriteError(path: path, step: "chmod", reason: String(cString: strerror(errno))))
    }
    guard fsync(descriptor) == 0 else {
      throw .write(AtomicWriteError(path: path, step: "fsync", reason: String(cString: strerror(errno))))
    }
    guard close(descriptor) == 0 else {
      unlink(temporaryPath)
      succeeded = true  // already closed
      throw .write(AtomicWriteError(path: path, step: "close", reason: String(cString: strerror(errno))))
    }
    guard rename(temporaryPath, path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(temporaryPath)
      succeeded = true
      throw .write(AtomicWriteError(path: path, step: "rename", reason: reason))
    }
    succeeded = true
    // Make the rename durable; failure here leaves a complete file, so it is not fatal.
    let directoryDescriptor = open(directory, O_RDONLY)
    if directoryDescriptor >= 0 {
      _ = fsync(directoryDescriptor)
      close(directoryDescriptor)
    }
  }

  /// Writes `bytes` to `path` atomically.
  public static func write(_ bytes: [UInt8], to path: String) throws(AtomicWriteError) {
    do {
      try write(to: path) { (writer: Writer) throws(AtomicWriteError) in try writer.write(bytes) }
    } catch {
      switch error {
      case .write(let failure): throw failure
      case .body(let failure): throw failure
      }
    }
  }

  static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let parent = String(path[..<slash])
    return parent.isEmpty ? "/" : parent
  }
}

/// Why an atomic write failed: the file system, or the body's own error.
public enum AtomicFileFailure<BodyError: Error>: Error {
  /// Creating, syncing or renaming the file failed.
  case write(AtomicWriteError)
  /// The body threw; nothing was written to the destination.
  case body(BodyError)
}

@inline(__always)
private func Glibc_write(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Darwin)
  return Darwin.write(descriptor, buffer, count)
  #else
  return Glibc.write(descriptor, buffer, count)
  #endif
}
