#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CArrowheadCPU

/// An error writing a file atomically.
public struct AtomicWriteError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Why the write was refused or failed.
  public enum Kind: String, Sendable, Equatable {
    /// A system call failed (`step` names it, `reason` is the C `errno` text).
    case io
    /// The destination exists and has no write permission bit: it is not replaced.
    case readOnlyDestination
    /// Another live process is writing the same destination right now.
    case concurrentWriter
    /// The destination changed (another writer replaced it, or it was modified) while
    /// this write ran; this write's result was discarded so as not to lose that change.
    case destinationChanged
  }

  /// The file being written.
  public var path: String
  /// What failed ("create temporary file", "write", "fsync", "rename" …).
  public var step: String
  /// The C `errno` text, or what was found.
  public var reason: String
  /// The kind of failure.
  public var kind: Kind

  /// Creates an error.
  public init(path: String, step: String, reason: String, kind: Kind = .io) {
    self.path = path
    self.step = step
    self.reason = reason
    self.kind = kind
  }

  /// What went wrong, without the path: for wrappers that name the file themselves
  /// ("rename failed: No space left on device").
  public var detail: String {
    switch kind {
    case .io: "\(step) failed: \(reason)"
    case .readOnlyDestination, .concurrentWriter, .destinationChanged: reason
    }
  }

  /// "cannot write 'path': detail".
  public var description: String { "cannot write '\(path)': \(detail)" }
}

/// Writes a file so that readers see either the previous content or the complete new one.
///
/// The data goes to a temporary file in the destination's directory (same file system),
/// is flushed with `fsync`, and is renamed over the destination; the directory is synced
/// too. If the writer throws, the destination is untouched and the temporary file removed.
///
/// ## Temporary files and crashes
/// The temporary file is named `.arrowhead-tmp-<pid>-<name>-XXXXXX` (`<name>` is the
/// destination's file name, shortened with a hash when long) and is held under an
/// exclusive `flock` for as long as its writer lives. A process killed mid-write leaves it
/// behind, unlocked (the kernel drops a dead process's locks). Every later atomic write
/// into the same directory removes such files: a file is removed only when its lock can be
/// taken *and* the process named in it no longer exists, so a live writer's file is never
/// touched (a reused pid only delays the clean-up until that process ends).
/// `removeStaleTemporaryFiles(in:)` does the same on demand.
///
/// ## Concurrent writers
/// Creating the temporary file and the final check-and-rename run under an exclusive
/// `flock` on the directory, so they are atomic with respect to other Arrowhead writers:
/// - a second writer of the same destination that starts while the first is running is
///   refused at once (`.concurrentWriter`, naming the other process);
/// - just before the rename, the destination's identity (device, inode, size, times) is
///   compared with the one seen at the start; if anything replaced or modified it in
///   between, the rename is not done and the write fails with `.destinationChanged`
///   (the other content stays; nothing is silently lost). A long job passes a `Baseline`
///   taken when it started (`baseline(of:)`), so that a concurrent job that finished
///   first is noticed too: of two overlapping writers, one wins and the other is told.
///
/// ## Permissions
/// A new file gets `permissions` (default rw-r--r--); a replaced file keeps its own
/// permission bits. An existing destination without any write bit (e.g. 0444) is not
/// replaced: the write fails with `.readOnlyDestination` (even for root), as `cp` does.
/// A destination that is a symbolic link is resolved: the file it points to is replaced
/// and the link stays.
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
      let descriptor = descriptor
      try writeAll(bytes) { buffer, count, _ in systemWrite(descriptor, buffer, count) }
      offset += bytes.count
    }

    /// Writes raw bytes at `position` (bytes from the start of the file) without moving
    /// the append `offset`: for formats whose parts arrive out of order (rows of a
    /// matrix computed in another order). The file grows as needed; a gap left unwritten
    /// reads as zeros, so the caller checks that it filled what it declared.
    public func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws(AtomicWriteError) {
      guard position >= 0 else {
        throw AtomicWriteError(path: path, step: "write", reason: "negative position \(position)")
      }
      let descriptor = descriptor
      try writeAll(bytes) { buffer, count, done in systemPositionedWrite(descriptor, buffer, count, position + done) }
    }

    /// Writes all of `bytes` through `system(buffer, count, bytesDoneSoFar)` (write or
    /// pwrite), in pieces of at most 1 GiB, retrying on EINTR.
    private func writeAll(
      _ bytes: UnsafeRawBufferPointer, _ system: (UnsafeRawPointer, Int, Int) -> Int
    ) throws(AtomicWriteError) {
      guard let base = bytes.baseAddress else { return }
      var done = 0
      while done < bytes.count {
        let written = system(base + done, min(bytes.count - done, 1 << 30), done)
        if written < 0 {
          if errno == EINTR { continue }
          throw AtomicWriteError(path: path, step: "write", reason: String(cString: strerror(errno)))
        }
        done += written
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

  /// What a destination was when a job started (see `write(to:permissions:since:_:)`).
  public struct Baseline: Sendable, Equatable {
    /// The destination's identity then (nil: it did not exist).
    public let identity: FileIdentity?
  }

  /// The destination `path` as it is now: pass it to `write(to:since:…)` at the end of a
  /// long job, so that the write is refused if anything replaced the destination meanwhile.
  public static func baseline(of path: String) -> Baseline {
    Baseline(identity: FileIdentity(path: resolvedDestination(path), followLinks: false))
  }

  /// Writes `path` atomically with `body`; see `AtomicFile`.
  /// - Parameters:
  ///   - permissions: mode of a new file (default rw-r--r--); a replaced file keeps its own.
  ///   - baseline: the destination when the job started; nil: when this call starts.
  public static func write<E: Error>(
    to path: String, permissions: mode_t = 0o644, since baseline: Baseline? = nil, _ body: (Writer) throws(E) -> Void
  ) throws(AtomicFileFailure<E>) {
    let destination = resolvedDestination(path)
    let directory: DirectoryLock
    do {
      directory = try DirectoryLock(of: destination, path: path)
    } catch {
      throw .write(error)
    }
    defer { directory.close() }

    // Under the directory lock: check the destination, clean up, create our file.
    let temporary: TemporaryFile
    let before: FileIdentity?
    do throws(AtomicWriteError) {
      try directory.lock()
      defer { directory.unlock() }
      let current = FileIdentity(path: destination, followLinks: false)
      if let baseline, baseline.identity != current {
        throw AtomicWriteError(
          path: path, step: "check destination",
          reason: "it was \(current == nil ? "removed" : "written by another writer") since this job started; this result was discarded and the other kept",
          kind: .destinationChanged)
      }
      before = current
      try checkReplaceable(current, path: path)
      let name = fileName(of: destination)
      let others = TemporaryFile.sweep(directory: directory.path, liveWriterOf: name)
      if let other = others.first {
        throw AtomicWriteError(
          path: path, step: "check destination",
          reason: "another process (pid \(other)) is writing it right now; wait for it or choose another output",
          kind: .concurrentWriter)
      }
      temporary = try TemporaryFile.create(in: directory.path, for: name, path: path)
    } catch {
      throw .write(error)
    }
    var committed = false
    defer {
      if !committed { temporary.discard() }
    }
    let writer = Writer(descriptor: temporary.descriptor, path: path)
    do {
      try body(writer)
    } catch {
      throw .body(error)
    }
    let mode = before.map { mode_t($0.permissions) } ?? permissions
    guard fchmod(temporary.descriptor, mode) == 0 else {
      throw .write(AtomicWriteError(path: path, step: "chmod", reason: String(cString: strerror(errno))))
    }
    guard fsync(temporary.descriptor) == 0 else {
      throw .write(AtomicWriteError(path: path, step: "fsync", reason: String(cString: strerror(errno))))
    }
    do throws(AtomicWriteError) {
      try directory.lock()
      defer { directory.unlock() }
      let now = FileIdentity(path: destination, followLinks: false)
      if now != before {
        let what = now == nil ? "was removed" : (before == nil ? "was created by another writer" : "was replaced or modified by another writer")
        throw AtomicWriteError(
          path: path, step: "rename",
          reason: "it \(what) while this write ran; this result was discarded and the other kept",
          kind: .destinationChanged)
      }
      guard rename(temporary.path, destination) == 0 else {
        throw AtomicWriteError(path: path, step: "rename", reason: String(cString: strerror(errno)))
      }
      committed = true
    } catch {
      throw .write(error)
    }
    // Closing releases the temporary file's lock; it has its final name by now.
    temporary.closeDescriptor()
    // Make the rename durable; failure here leaves a complete file, so it is not fatal.
    _ = fsync(directory.descriptor)
  }

  /// Checks that `path` can be written now, before a long job whose result goes there:
  /// its directory exists and takes a new file (a temporary file is created there and
  /// removed at once), and the destination, if it exists, is neither a directory nor
  /// read-only. The write itself checks again; this spares the work of a job whose result
  /// could not be saved (an index build of minutes, say). Throws the error the write
  /// would throw.
  public static func checkWritable(_ path: String) throws(AtomicWriteError) {
    let destination = resolvedDestination(path)
    let directory = try DirectoryLock(of: destination, path: path)
    defer { directory.close() }
    try directory.lock()
    defer { directory.unlock() }
    try checkReplaceable(FileIdentity(path: destination, followLinks: false), path: path)
    try TemporaryFile.create(in: directory.path, for: fileName(of: destination), path: path).discard()
  }

  /// Throws unless a destination that is `current` (nil: absent) may be replaced: not a
  /// directory, not read-only.
  private static func checkReplaceable(_ current: FileIdentity?, path: String) throws(AtomicWriteError) {
    guard let current else { return }
    if current.isDirectory {
      throw AtomicWriteError(path: path, step: "check destination", reason: "it is a directory", kind: .io)
    }
    if current.permissions & 0o222 == 0 {
      throw AtomicWriteError(
        path: path, step: "check destination",
        reason: "it is read-only (mode \(octal(current.permissions))); make it writable or remove it first",
        kind: .readOnlyDestination)
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

  /// Makes SIGINT, SIGTERM and SIGHUP remove the temporary files of the writes in progress
  /// before the process ends as the signal would end it (same exit status), so that an
  /// interrupted job (Ctrl-C during a model quantization, say) leaves neither a half-written
  /// file nor its temporary behind; the destination keeps its previous content.
  ///
  /// For applications: a library should not take signals from its host, so nothing installs
  /// these handlers unless asked (the `arrowhead` CLI asks at start-up). Only signals that
  /// still have their default action are taken (a background job's ignored SIGINT stays
  /// ignored), and they are unblocked in the calling thread, since a mask inherited from the
  /// parent would keep them from landing (call it at start-up, before other threads exist);
  /// calling it again does nothing. Without it, a killed writer's temporary file
  /// stays until the next atomic write into the same directory removes it. Returns how many
  /// signals it took.
  @discardableResult
  public static func removeTemporaryFilesOnTermination() -> Int {
    Int(arrowhead_cleanup_install_signal_handlers())
  }

  /// Removes the temporary files that dead writers left in `directory` (see `AtomicFile`);
  /// returns their names. Files of live writers are never touched.
  @discardableResult
  public static func removeStaleTemporaryFiles(in directory: String) -> [String] {
    guard let lock = try? DirectoryLock(directory: directory) else { return [] }
    defer { lock.close() }
    guard (try? lock.lock()) != nil else { return [] }
    defer { lock.unlock() }
    var removed: [String] = []
    _ = TemporaryFile.sweep(directory: directory, liveWriterOf: nil, removed: &removed)
    return removed
  }

  /// Creates an anonymous scratch file in `directory` (for spilling data that is later
  /// copied into an atomic write): created under the same naming and locking as the
  /// temporary files, then unlinked at once, so nothing is left even after a crash.
  /// Returns its descriptor (the caller closes it).
  public static func scratchFile(in directory: String, for path: String) throws(AtomicWriteError) -> Int32 {
    let lock = try DirectoryLock(directory: directory, path: path)
    defer { lock.close() }
    try lock.lock()
    defer { lock.unlock() }
    let file = try TemporaryFile.create(in: directory, for: "spill", path: path)
    unlink(file.path)
    arrowhead_cleanup_unregister(file.cleanupSlot)
    return file.descriptor
  }

  static func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let parent = String(path[..<slash])
    return parent.isEmpty ? "/" : parent
  }

  static func fileName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
  }

  /// `path`, or the file a symbolic link at `path` points to (links are followed up to 16
  /// times; a dangling link resolves to its target path).
  static func resolvedDestination(_ path: String) -> String {
    var current = path
    for _ in 0..<16 {
      var info = stat()
      guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
      var buffer = [CChar](repeating: 0, count: 4097)
      let length = readlink(current, &buffer, buffer.count - 1)
      guard length > 0 else { return current }
      let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      current = target.hasPrefix("/") ? target : parentDirectory(of: current) + "/" + target
    }
    return current
  }
}

/// Why an atomic write failed: the file system, or the body's own error.
public enum AtomicFileFailure<BodyError: Error>: Error {
  /// Creating, syncing or renaming the file failed.
  case write(AtomicWriteError)
  /// The body threw; nothing was written to the destination.
  case body(BodyError)
}

/// An open directory whose `flock` serialises the critical steps of atomic writes.
struct DirectoryLock {
  let path: String
  let descriptor: Int32

  init(of destination: String, path: String) throws(AtomicWriteError) {
    try self.init(directory: AtomicFile.parentDirectory(of: destination), path: path)
  }

  init(directory: String, path: String? = nil) throws(AtomicWriteError) {
    self.path = directory
    descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw AtomicWriteError(
        path: path ?? directory, step: "open directory '\(directory)'", reason: String(cString: strerror(errno)))
    }
  }

  func lock() throws(AtomicWriteError) {
    while flock(descriptor, LOCK_EX) != 0 {
      if errno == EINTR { continue }
      throw AtomicWriteError(path: path, step: "lock directory '\(path)'", reason: String(cString: strerror(errno)))
    }
  }

  func unlock() { _ = flock(descriptor, LOCK_UN) }

  func close() { _ = systemClose(descriptor) }
}

/// A locked temporary file `.arrowhead-tmp-<pid>-<key>-XXXXXX`.
struct TemporaryFile {
  static let prefix = ".arrowhead-tmp-"
  /// Names longer than this are shortened to a prefix and a hash in the temporary name.
  static let longestKey = 120

  let path: String
  let descriptor: Int32
  /// Its slot in the table of files a terminating signal removes (−1: not registered).
  let cleanupSlot: Int32

  /// The key of a destination name in temporary names: the name itself, or (when longer
  /// than `longestKey` bytes) its first 96 bytes, `~` and a 64-bit FNV-1a hash.
  static func key(for name: String) -> String {
    let bytes = Array(name.utf8)
    guard bytes.count > longestKey else { return name }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    let digits = String(hash, radix: 16)
    return String(decoding: bytes.prefix(96), as: UTF8.self) + "~" + String(repeating: "0", count: 16 - digits.count) + digits
  }

  /// (pid, key) of a temporary file name, or nil when `name` is not one.
  static func parse(_ name: String) -> (pid: Int32, key: String)? {
    guard name.hasPrefix(prefix) else { return nil }
    let rest = name.dropFirst(prefix.count)
    guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { return nil }
    let tail = rest[rest.index(after: dash)...]
    guard tail.count > 7, tail.dropLast(6).last == "-" else { return nil }
    return (pid, String(tail.dropLast(7)))
  }

  /// Creates and locks a new temporary file for destination `name` in `directory`. The
  /// caller holds the directory lock, so no sweeper can see the file before it is locked.
  static func create(in directory: String, for name: String, path: String) throws(AtomicWriteError) -> TemporaryFile {
    var template = Array("\(directory)/\(prefix)\(getpid())-\(key(for: name))-XXXXXX".utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard descriptor >= 0 else {
      throw AtomicWriteError(
        path: path, step: "create temporary file in '\(directory)'", reason: String(cString: strerror(errno)))
    }
    let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(temporaryPath)
      _ = systemClose(descriptor)
      throw AtomicWriteError(path: path, step: "lock temporary file", reason: reason)
    }
    return TemporaryFile(path: temporaryPath, descriptor: descriptor, cleanupSlot: arrowhead_cleanup_register(temporaryPath))
  }

  /// Removes the file and closes it (a failed or abandoned write).
  func discard() {
    unlink(path)
    arrowhead_cleanup_unregister(cleanupSlot)
    _ = systemClose(descriptor)
  }

  /// Closes the file once it has been renamed to its destination.
  func closeDescriptor() {
    arrowhead_cleanup_unregister(cleanupSlot)
    _ = systemClose(descriptor)
  }

  /// Walks `directory` (whose lock the caller holds): removes every temporary file whose
  /// writer is dead, and returns the pids of live writers of destination `name` (nil: of
  /// none).
  static func sweep(directory: String, liveWriterOf name: String?) -> [Int32] {
    var removed: [String] = []
    return sweep(directory: directory, liveWriterOf: name, removed: &removed)
  }

  static func sweep(directory: String, liveWriterOf name: String?, removed: inout [String]) -> [Int32] {
    guard let stream = opendir(directory) else { return [] }
    defer { closedir(stream) }
    let wanted = name.map(key(for:))
    var live: [Int32] = []
    while let entry = readdir(stream) {
      let entryName = directoryEntryName(entry)
      guard let parsed = parse(entryName) else { continue }
      switch state(of: directory + "/" + entryName, pid: parsed.pid) {
      case .locked:
        if parsed.key == wanted { live.append(parsed.pid) }
      case .removed:
        removed.append(entryName)
      case .kept, .gone:
        break
      }
    }
    return live
  }

  /// What `state(of:pid:)` found.
  enum State {
    /// Locked: a live writer's file.
    case locked
    /// Unlocked, but the process named in it exists (another process reusing a dead
    /// writer's pid): left alone, not counted as a writer.
    case kept
    /// A dead writer's file, now removed.
    case removed
    /// Vanished (or replaced) meanwhile.
    case gone
  }

  /// Whether the temporary file at `path` (named for `pid`) belongs to a live writer;
  /// removes it when its writer is dead.
  ///
  /// Every writer locks its file before the directory lock (held by the caller) is
  /// released, and keeps it locked until the file is renamed or removed; the kernel
  /// releases the lock when the writer dies. So an unlocked file is a dead writer's —
  /// removed when the pid in its name is ours (our files are always locked) or names no
  /// process; kept when another process now has that pid, which only postpones the
  /// clean-up until it ends.
  static func state(of path: String, pid: Int32) -> State {
    let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else { return .gone }
    defer { _ = systemClose(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return .kept }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return .locked }
    if pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM) { return .kept }
    // Remove the name only if it still names the file we locked.
    var current = stat()
    guard lstat(path, &current) == 0, current.st_ino == info.st_ino, current.st_dev == info.st_dev else { return .gone }
    return unlink(path) == 0 ? .removed : .gone
  }
}

private func octal(_ value: UInt32) -> String {
  let digits = String(value, radix: 8)
  return "0" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
}

@inline(__always)
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Darwin)
  return Darwin.write(descriptor, buffer, count)
  #else
  return Glibc.write(descriptor, buffer, count)
  #endif
}

@inline(__always)
private func systemPositionedWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ position: Int) -> Int {
  #if canImport(Darwin)
  return Darwin.pwrite(descriptor, buffer, count, off_t(position))
  #else
  return Glibc.pwrite(descriptor, buffer, count, off_t(position))
  #endif
}

@inline(__always)
private func systemClose(_ descriptor: Int32) -> Int32 {
  #if canImport(Darwin)
  return Darwin.close(descriptor)
  #else
  return Glibc.close(descriptor)
  #endif
}

/// The name in a `readdir` record, read in place: glibc allocates only the record's length
/// (`d_reclen`), so copying the whole 256-byte `d_name` array reads past the allocation
/// (AddressSanitizer reported it).
package func directoryEntryName(_ entry: UnsafePointer<dirent>) -> String {
  let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
  return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
}
