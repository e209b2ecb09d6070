import ArrowheadCore
import ArrowheadIO

#if canImport(Glibc)
import Glibc
#endif

/// A per-process scratch directory in RAM (`/dev/shm` when it exists) where each input is
/// written under the file name its parser expects, plus the fixed files some targets need.
final class FuzzScratch: @unchecked Sendable {
  static let shared = FuzzScratch()
  static let indexName = "model.safetensors.index.json"

  let directory: String
  /// The reference engine: its scalar kernels make the harness independent of the CPU.
  let engine: Engine

  private init() {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    directory = "\(base)/arrowhead-fuzz-\(getpid())"
    engine = (try? Engine.default.forcing("reference")) ?? Engine.default
  }

  /// Creates the directory and the two valid shards the index target resolves names to.
  func prepare() {
    mkdir(directory, 0o700)
    atexit { rmdirContents(FuzzScratch.shared.directory) }
    for (shard, names) in [("model-00001-of-00002.safetensors", ["a", "b"]), ("model-00002-of-00002.safetensors", ["c"])] {
      let writer = try? SafetensorsWriter(path: directory + "/" + shard)
      for name in names { try? writer?.add(name, dtype: .f32, shape: [2, 2], values: [1, 2, 3, 4] as [Float]) }
      try? writer?.finish()
    }
  }

  /// Writes `bytes` to `name` (prefixed with the calling thread's id, so that the replay
  /// tests, which run targets on several threads at once, never share a file) in the
  /// directory, replacing it, and returns the path. The suffix the parsers look at stays.
  func write(_ bytes: UnsafeRawBufferPointer, as name: String) -> String {
    let path = directory + "/t\(UInt(bitPattern: Int(bitPattern: pthread_self())))-" + name
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if descriptor >= 0 {
      var offset = 0
      while offset < bytes.count, let base = bytes.baseAddress {
        let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
        if written <= 0 { break }
        offset += written
      }
      close(descriptor)
    }
    return path
  }
}

/// Removes the scratch directory at exit.
private func rmdirContents(_ directory: String) {
  guard let stream = opendir(directory) else { return }
  while let entry = readdir(stream) {
    // Read in place: the record is only d_reclen bytes long (see directoryEntryName in ArrowheadIO).
    let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
    let name = String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    if name != "." && name != ".." { unlink(directory + "/" + name) }
  }
  closedir(stream)
  rmdir(directory)
}

/// Recomputes the checksums of an index file (see `IndexFile`): each section's CRC-32 in
/// the section table, then the header's. Leaves the bytes alone where the layout does not
/// even hold a header.
enum IndexChecksums {
  /// Bytes of the fixed header fields before the section table.
  static let fixedFields = 96

  static func repair(_ bytes: inout [UInt8]) {
    guard bytes.count >= 16 else { return }
    let headerLength = Int(load32(bytes, 12))
    let headerEnd = 16 + headerLength
    guard headerLength >= fixedFields, headerEnd + 4 <= bytes.count else { return }
    let sectionCount = Int(load32(bytes, 16 + fixedFields - 8))
    var entry = 16 + fixedFields
    for _ in 0..<min(sectionCount, 16) where entry + 32 <= headerEnd {
      let offset = load64(bytes, entry + 8), length = load64(bytes, entry + 16)
      if offset <= UInt64(bytes.count), length <= UInt64(bytes.count) - offset {
        let crc = bytes[Int(offset)..<Int(offset + length)].withUnsafeBytes { CRC32.checksum($0) }
        store32(&bytes, entry + 24, crc)
      }
      entry += 32
    }
    let crc = bytes[0..<headerEnd].withUnsafeBytes { CRC32.checksum($0) }
    store32(&bytes, headerEnd, crc)
  }

  static func load32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
  }

  static func load64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
  }

  static func store32(_ bytes: inout [UInt8], _ at: Int, _ value: UInt32) {
    for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
  }
}
