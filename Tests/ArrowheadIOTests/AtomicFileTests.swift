import ArrowheadIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

private func temporaryDirectory() -> String {
  var template = Array("/tmp/arrowhead-io-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return String(cString: path!)
}

private func readAll(_ path: String) -> [UInt8]? {
  guard let file = fopen(path, "rb") else { return nil }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = fread(&buffer, 1, buffer.count, file)
    if count <= 0 { break }
    bytes += buffer[0..<count]
  }
  return bytes
}

struct BodyFailed: Error {}

@Test func atomicWriteReplacesTheFileCompletely() throws {
  let path = temporaryDirectory() + "/data.bin"
  try AtomicFile.write([1, 2, 3], to: path)
  #expect(readAll(path) == [1, 2, 3])
  try AtomicFile.write([9, 8], to: path)
  #expect(readAll(path) == [9, 8])
}

@Test func aFailingWriterLeavesThePreviousFileAndNoTemporaryFile() throws {
  let directory = temporaryDirectory()
  let path = directory + "/data.bin"
  try AtomicFile.write([1, 2, 3], to: path)
  #expect(throws: AtomicFileFailure<BodyFailed>.self) {
    try AtomicFile.write(to: path) { (writer: AtomicFile.Writer) throws(BodyFailed) in
      try? writer.write([UInt8](repeating: 7, count: 1000))
      throw BodyFailed()
    }
  }
  #expect(readAll(path) == [1, 2, 3])
  // Only data.bin remains in the directory.
  let dir = try #require(opendir(directory))
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = directoryEntryName(entry)
    if name != "." && name != ".." { names.append(name) }
  }
  closedir(dir)
  #expect(names == ["data.bin"])
}

@Test func writingIntoAMissingDirectoryIsATypedError() {
  #expect(throws: AtomicWriteError.self) {
    try AtomicFile.write([1], to: "/nonexistent-arrowhead-dir/x.bin")
  }
}

// MARK: - Temporary files, concurrent writers, permissions (issue 15)

private func names(in directory: String) -> [String] {
  guard let dir = opendir(directory) else { return [] }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = directoryEntryName(entry)
    if name != "." && name != ".." { names.append(name) }
  }
  return names.sorted()
}

private func writeRaw(_ bytes: [UInt8], to path: String) {
  let file = fopen(path, "wb")
  _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
  fclose(file)
}

/// The pid of a process that has exited (spawned and reaped), so no process has it until
/// the kernel hands it out again.
private func deadPid() -> Int32 {
  var pid: pid_t = 0
  var arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
  defer { free(arguments[0]) }
  guard posix_spawn(&pid, "/bin/true", nil, nil, &arguments, nil) == 0 else { return 999_999 }
  var status: Int32 = 0
  waitpid(pid, &status, 0)
  return pid
}

@Test func aDeadWritersTemporaryFileIsRemovedByTheNextWrite() throws {
  let directory = temporaryDirectory()
  let stale = "\(directory)/.arrowhead-tmp-\(deadPid())-model.bin-a1B2c3"
  writeRaw([UInt8](repeating: 1, count: 4096), to: stale)
  try AtomicFile.write([7], to: directory + "/other.bin")
  #expect(names(in: directory) == ["other.bin"])
}

@Test func removeStaleTemporaryFilesKeepsLiveWritersFiles() throws {
  let directory = temporaryDirectory()
  let stale = ".arrowhead-tmp-\(deadPid())-a.bin-zzzzzz"
  writeRaw([1], to: directory + "/" + stale)
  var seenInside: [String] = []
  var removedInside: [String] = []
  try AtomicFile.write(to: directory + "/live.bin") { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
    try writer.write([UInt8]([1, 2, 3]))
    removedInside = AtomicFile.removeStaleTemporaryFiles(in: directory)
    seenInside = names(in: directory)
  }
  // The stale file was removed by the write itself, before the body ran; the live
  // writer's own temporary file survived the sweep inside the body.
  #expect(removedInside.isEmpty)
  #expect(seenInside.count == 1 && seenInside[0].hasPrefix(".arrowhead-tmp-\(getpid())-live.bin-"))
  #expect(names(in: directory) == ["live.bin"])
  #expect(readAll(directory + "/live.bin") == [1, 2, 3])
}

@Test func anUnlockedTemporaryFileOfALiveOtherProcessIsKeptAndDoesNotBlock() throws {
  // pid 1 exists; an unlocked file naming it is a dead writer's whose pid was reused:
  // left alone (never removed while that pid lives), and it is not a concurrent writer.
  let directory = temporaryDirectory()
  let name = ".arrowhead-tmp-1-data.bin-qwerty"
  writeRaw([1], to: directory + "/" + name)
  try AtomicFile.write([5], to: directory + "/data.bin")
  #expect(names(in: directory) == [name, "data.bin"].sorted())
  #expect(readAll(directory + "/data.bin") == [5])
}

@Test func aSecondWriterOfTheSamePathIsRefusedWhileTheFirstRuns() throws {
  let directory = temporaryDirectory()
  let path = directory + "/shared.bin"
  var inner: AtomicWriteError?
  try AtomicFile.write(to: path) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
    try writer.write([UInt8(1)])
    do throws(AtomicWriteError) {
      try AtomicFile.write([2], to: path)
    } catch {
      inner = error
    }
  }
  #expect(inner?.kind == .concurrentWriter)
  #expect(inner?.description.contains("another process (pid \(getpid())) is writing it") == true)
  #expect(readAll(path) == [1])
  #expect(names(in: directory) == ["shared.bin"])
}

@Test func aDestinationReplacedDuringTheWriteIsNotOverwritten() throws {
  let directory = temporaryDirectory()
  let path = directory + "/result.bin"
  try AtomicFile.write([1], to: path)
  do {
    try AtomicFile.write(to: path) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
      try writer.write([UInt8(2)])
      // Another program replaces the file meanwhile.
      writeRaw([3, 3], to: directory + "/elsewhere")
      rename(directory + "/elsewhere", path)
    }
    Issue.record("the write overwrote a file replaced meanwhile")
  } catch {
    guard case .write(let failure) = error else { Issue.record("\(error)"); return }
    #expect(failure.kind == .destinationChanged)
  }
  #expect(readAll(path) == [3, 3])
  #expect(names(in: directory) == ["result.bin"])
}

@Test func aReadOnlyDestinationIsRefusedAndAWritableOneKeepsItsMode() throws {
  let directory = temporaryDirectory()
  let path = directory + "/frozen.bin"
  try AtomicFile.write([1], to: path)
  chmod(path, 0o444)
  #expect(throws: AtomicWriteError.self) { try AtomicFile.write([2], to: path) }
  do {
    try AtomicFile.write([2], to: path)
  } catch {
    #expect(error.kind == .readOnlyDestination)
    #expect(error.description == "cannot write '\(path)': it is read-only (mode 0444); make it writable or remove it first")
  }
  #expect(readAll(path) == [1])
  let private_ = directory + "/private.bin"
  try AtomicFile.write([1], to: private_)
  chmod(private_, 0o600)
  try AtomicFile.write([2], to: private_)
  var info = stat()
  stat(private_, &info)
  #expect(info.st_mode & 0o7777 == 0o600)
  #expect(readAll(private_) == [2])
}

/// `checkWritable` answers before a long job as the write would at its end, and leaves
/// nothing behind: a new or writable destination passes; a missing directory, a directory
/// and a read-only file are the write's own errors; the existing file is untouched.
@Test func checkWritableAnswersAsTheWriteWouldAndLeavesNothing() throws {
  let directory = temporaryDirectory()
  try AtomicFile.checkWritable(directory + "/new.bin")
  try AtomicFile.write([1, 2], to: directory + "/old.bin")
  try AtomicFile.checkWritable(directory + "/old.bin")
  #expect(readAll(directory + "/old.bin") == [1, 2])
  #expect(names(in: directory) == ["old.bin"], "no probe file left")
  #expect(throws: AtomicWriteError.self) { try AtomicFile.checkWritable("/nonexistent-arrowhead-dir/x.bin") }
  do {
    try AtomicFile.checkWritable(directory)
    Issue.record("a directory passed")
  } catch {
    #expect(error.description.hasSuffix("check destination failed: it is a directory"), "\(error)")
  }
  chmod(directory + "/old.bin", 0o444)
  do {
    try AtomicFile.checkWritable(directory + "/old.bin")
    Issue.record("a read-only file passed")
  } catch {
    #expect(error.kind == .readOnlyDestination)
  }
}

@Test func aSymbolicLinkDestinationKeepsTheLinkAndReplacesItsTarget() throws {
  let directory = temporaryDirectory()
  try AtomicFile.write([1], to: directory + "/target.bin")
  symlink("target.bin", directory + "/link.bin")
  try AtomicFile.write([9], to: directory + "/link.bin")
  var info = stat()
  lstat(directory + "/link.bin", &info)
  #expect(info.st_mode & S_IFMT == S_IFLNK)
  #expect(readAll(directory + "/target.bin") == [9])
}

@Test func writeErrorsNameThePathOnce() throws {
  do {
    try AtomicFile.write([1], to: "/nonexistent-arrowhead-dir/x.bin")
  } catch {
    #expect(error.description == "cannot write '/nonexistent-arrowhead-dir/x.bin': open directory '/nonexistent-arrowhead-dir' failed: No such file or directory")
  }
  do {
    try NPYFile.write([Float(1)], rows: 1, columns: 1, to: "/nonexistent-arrowhead-dir/x.npy")
  } catch {
    let text = error.description
    #expect(occurrences(of: "cannot write", in: text) == 1, "\(text)")
  }
  do {
    let writer = try SafetensorsWriter(path: "/nonexistent-arrowhead-dir/x.safetensors")
    try writer.finish()
  } catch {
    #expect(!error.description.contains("::"), "\(error.description)")
    #expect(occurrences(of: "x.safetensors", in: error.description) == 1, "\(error.description)")
  }
}

private func occurrences(of needle: String, in text: String) -> Int {
  var count = 0
  var rest = Substring(text)
  while let range = rest.firstRange(of: needle) {
    count += 1
    rest = rest[range.upperBound...]
  }
  return count
}

@Test func longDestinationNamesGetAShortenedTemporaryName() throws {
  let directory = temporaryDirectory()
  let name = String(repeating: "n", count: 240) + ".bin"
  try AtomicFile.write([4], to: directory + "/" + name)
  #expect(names(in: directory) == [name])
}

@Test func ofTwoOverlappingJobsTheOneThatFinishesSecondIsTold() throws {
  let directory = temporaryDirectory()
  let path = directory + "/model.safetensors"
  // Job A starts (its writer records the destination), job B starts and finishes first.
  let a = try SafetensorsWriter(path: path)
  try a.add("w", dtype: .f32, shape: [1], values: [Float(1)])
  let b = try SafetensorsWriter(path: path)
  try b.add("w", dtype: .f32, shape: [1], values: [Float(2)])
  try b.finish()
  let written = readAll(path)
  do {
    try a.finish()
    Issue.record("the second job overwrote the first one's result silently")
  } catch {
    #expect(error.description.contains("since this job started"), "\(error)")
  }
  #expect(readAll(path) == written)
  #expect(names(in: directory) == ["model.safetensors"])
  // A baseline of a missing file is kept too: a file created meanwhile is not replaced.
  let fresh = directory + "/fresh.bin"
  let baseline = AtomicFile.baseline(of: fresh)
  try AtomicFile.write([1], to: fresh)
  #expect(throws: AtomicFileFailure<AtomicWriteError>.self) {
    try AtomicFile.write(to: fresh, since: baseline) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in try writer.write([UInt8(2)]) }
  }
  #expect(readAll(fresh) == [1])
}
