import ArrowheadIO

#if canImport(Glibc)
import Glibc
#endif

/// A fresh temporary directory for one test.
func safetensorsTemporaryDirectory() -> String {
  var template = Array("/tmp/arrowhead-safetensors-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return path.map { String(cString: $0) } ?? "/tmp"
}

/// Writes `bytes` to `path` (plain write: these are test fixtures, often deliberately broken).
func writeFixture(_ bytes: [UInt8], to path: String) {
  guard let handle = fopen(path, "wb") else { return }
  _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, handle) }
  fclose(handle)
}

/// Reads a whole file.
func readFixture(_ path: String) -> [UInt8] {
  (try? SafetensorsModel.readWholeFile(path)) ?? []
}

/// A safetensors file assembled by hand: 8-byte length, `header` verbatim, then `data`.
func handMadeSafetensors(header: String, data: [UInt8]) -> [UInt8] {
  let headerBytes = Array(header.utf8)
  return withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) } + headerBytes + data
}

/// The little-endian bytes of Float32 values.
func floatBytes(_ values: [Float]) -> [UInt8] {
  values.withUnsafeBytes { Array($0) }
}

/// Lists the names in a directory (excluding . and ..).
func directoryListing(_ path: String) -> [String] {
  guard let directory = opendir(path) else { return [] }
  defer { closedir(directory) }
  var names: [String] = []
  while let entry = readdir(directory) {
    let name = directoryEntryName(entry)
    if name != "." && name != ".." { names.append(name) }
  }
  return names.sorted()
}
