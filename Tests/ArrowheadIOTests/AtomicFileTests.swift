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
    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
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
