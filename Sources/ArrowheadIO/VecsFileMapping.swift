#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped into memory (`mmap`), unmapped when the last reference goes away.
///
/// Two modes:
/// - `.readOnly`: pages are shared with the page cache and cannot be written; reading a
///   400 MB vector file costs no copy and no resident memory until rows are touched.
/// - `.copyOnWrite`: a private writable mapping (`MAP_PRIVATE`); writes go to private
///   copies of the touched pages and never reach the file. Indexes loaded this way can be
///   mutated in place without copying the untouched parts.
///
/// An empty file maps to an empty buffer (no `mmap` call: POSIX rejects length 0).
/// The mapping stays valid if the file is later replaced by an atomic rename (the old
/// inode lives on until unmapped); truncating the file in place while it is mapped makes
/// later reads fault, which is why Arrowhead only ever replaces files atomically.
public final class FileMapping: @unchecked Sendable {
  /// How the pages may be used.
  public enum Mode: Sendable {
    /// Shared, read-only pages.
    case readOnly
    /// Private pages that may be written (changes are never written back).
    case copyOnWrite
  }

  /// The mapped path.
  public let path: String
  /// The mapping's first byte (nil for an empty file).
  public let base: UnsafeMutableRawPointer?
  /// The file's size in bytes.
  public let count: Int
  /// The mode it was mapped with.
  public let mode: Mode

  /// Maps `path`. Throws `.cannotOpen` naming the failing step.
  public init(path: String, mode: Mode = .readOnly) throws(VectorFileError) {
    self.path = path
    self.mode = mode
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw .cannotOpen(path: path, reason: "fstat: " + String(cString: strerror(errno)))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw .cannotOpen(path: path, reason: "not a regular file")
    }
    count = Int(info.st_size)
    if count == 0 {
      base = nil
      return
    }
    let protection = mode == .readOnly ? PROT_READ : PROT_READ | PROT_WRITE
    let flags = mode == .readOnly ? MAP_SHARED : MAP_PRIVATE
    let address = mmap(nil, count, protection, flags, descriptor, 0)
    guard let address, address != MAP_FAILED else {
      throw .cannotOpen(path: path, reason: "mmap: " + String(cString: strerror(errno)))
    }
    base = address
  }

  deinit {
    if let base { munmap(base, count) }
  }

  /// The mapped bytes.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// Advises the kernel that the pages will be read sequentially (`MADV_SEQUENTIAL`) or
  /// soon (`MADV_WILLNEED`); a hint only, errors are ignored.
  public func adviseSequential() {
    if let base { _ = madvise(base, count, MADV_SEQUENTIAL) }
  }
}
