#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path names on disk: device, inode, size, modification and change times, mode.
///
/// Two paths with the same `device` and `inode` are the same file (whatever links or
/// `..` lead to it). Comparing a whole identity taken before and after some work tells
/// whether the file was replaced or rewritten in between (`AtomicFile` does this before
/// it renames over a destination).
public struct FileIdentity: Sendable, Hashable {
  /// The device holding the file.
  public var device: UInt64
  /// The inode number on that device.
  public var inode: UInt64
  /// The size in bytes.
  public var size: Int64
  /// Last modification, nanoseconds since the epoch.
  public var modified: Int64
  /// Last status change, nanoseconds since the epoch.
  public var changed: Int64
  /// The mode bits (type and permissions).
  public var mode: UInt32

  /// The identity of what `path` names (symbolic links followed with `followLinks`), or
  /// nil when nothing is there (or it cannot be inspected).
  public init?(path: String, followLinks: Bool = true) {
    var info = stat()
    let status = followLinks ? stat(path, &info) : lstat(path, &info)
    guard status == 0 else { return nil }
    self.init(info)
  }

  init(_ info: stat) {
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
    size = Int64(info.st_size)
    #if canImport(Darwin)
    modified = Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
    changed = Int64(info.st_ctimespec.tv_sec) * 1_000_000_000 + Int64(info.st_ctimespec.tv_nsec)
    #else
    modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    #endif
    mode = UInt32(info.st_mode)
  }

  /// Whether this is a regular file.
  public var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
  /// Whether this is a directory.
  public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
  /// The permission bits (`0o7777`).
  public var permissions: UInt32 { mode & 0o7777 }

  /// Whether `self` and `other` are the same file (same device and inode).
  public func isSameFile(as other: FileIdentity) -> Bool {
    device == other.device && inode == other.inode
  }

  /// Whether `first` and `second` name the same existing file. False when either is missing.
  public static func sameFile(_ first: String, _ second: String) -> Bool {
    guard let a = FileIdentity(path: first), let b = FileIdentity(path: second) else { return false }
    return a.isSameFile(as: b)
  }
}

/// An output path that names one of the inputs of the same run.
///
/// Writing there would replace the input that is still being read (and lose it for
/// good); commands refuse before doing any work.
public struct OutputOverwritesInputError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The output path as given.
  public var output: String
  /// The input it names.
  public var input: String

  /// Creates the error.
  public init(output: String, input: String) {
    self.output = output
    self.input = input
  }

  /// "the output 'a' is the input 'b' …".
  public var description: String {
    output == input
      ? "the output '\(output)' is also an input; write the result to another path"
      : "the output '\(output)' is the input '\(input)' (the same file); write the result to another path"
  }

  /// Throws when `output` names the same existing file as one of `inputs`.
  public static func check(output: String, inputs: [String]) throws(OutputOverwritesInputError) {
    guard let target = FileIdentity(path: output) else { return }
    for input in inputs {
      if let source = FileIdentity(path: input), source.isSameFile(as: target) {
        throw OutputOverwritesInputError(output: output, input: input)
      }
    }
  }
}
