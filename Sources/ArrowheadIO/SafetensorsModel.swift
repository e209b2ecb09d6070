// A model stored as one safetensors file or as shards listed by model.safetensors.index.json.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A model's tensors across one or several safetensors files.
///
/// `SafetensorsModel(path:)` accepts
/// - a `.safetensors` file;
/// - a sharded model's index (`model.safetensors.index.json`: `{"metadata": {…},
///   "weight_map": {"tensor name": "model-00001-of-00002.safetensors", …}}`), whose shards
///   are resolved relative to the index's directory;
/// - a directory holding `model.safetensors.index.json` or `model.safetensors`.
///
/// Every shard is mapped and validated on open (see `SafetensorsFile`); tensors are listed
/// shard by shard (shards in name order), each in data order. The index must agree with the
/// shards: a tensor it names must be in the shard it names, and no name may occur in two
/// shards.
public struct SafetensorsModel: Sendable {
  /// A tensor and the file that holds it.
  public struct Entry: Sendable {
    /// The tensor's header entry.
    public var info: SafetensorsTensorInfo
    /// The file holding it.
    public var file: SafetensorsFile
    /// The tensor's name.
    public var name: String { info.name }
  }

  /// The path given to `init(path:)`.
  public let path: String
  /// The opened files (one, or the shards in name order).
  public let files: [SafetensorsFile]
  /// Every tensor, shard by shard, each in data order.
  public let entries: [Entry]
  /// The metadata of the single file, or of the first shard merged with the index's
  /// `metadata` (string values only).
  public let metadata: [String: String]
  private let indexByName: [String: Int]

  /// Opens a single file, a sharded model's index, or a directory holding either.
  public init(path: String) throws(SafetensorsError) {
    self.path = path
    var resolved = path
    if Self.isDirectory(path) {
      let index = path + "/model.safetensors.index.json"
      let single = path + "/model.safetensors"
      if Self.exists(index) {
        resolved = index
      } else if Self.exists(single) {
        resolved = single
      } else {
        throw SafetensorsError(.io, file: path, reason: "directory holds neither model.safetensors.index.json nor model.safetensors")
      }
    }
    var files: [SafetensorsFile] = []
    var metadata: [String: String] = [:]
    var expectedShard: [String: String] = [:]
    if resolved.hasSuffix(".json") {
      let (shards, weightMap, indexMetadata) = try Self.readIndex(resolved)
      let directory = resolved.contains("/") ? String(resolved[..<resolved.lastIndex(of: "/")!]) : "."
      for shard in shards { files.append(try SafetensorsFile(path: directory + "/" + shard)) }
      for (name, shard) in weightMap { expectedShard[name] = directory + "/" + shard }
      metadata = files.first?.metadata ?? [:]
      metadata.merge(indexMetadata) { _, index in index }
    } else {
      let file = try SafetensorsFile(path: resolved)
      files = [file]
      metadata = file.metadata
    }
    var entries: [Entry] = []
    var indexByName: [String: Int] = [:]
    for file in files {
      for info in file.tensors {
        if let previous = indexByName[info.name] {
          throw SafetensorsError(
            .duplicateTensor, file: file.path, tensor: info.name, offset: info.fileOffset,
            reason: "also present in '\(entries[previous].file.path)'")
        }
        indexByName[info.name] = entries.count
        entries.append(Entry(info: info, file: file))
      }
    }
    for (name, shardPath) in expectedShard.sorted(by: { $0.key < $1.key }) {
      guard let position = indexByName[name] else {
        throw SafetensorsError(.missingTensor, file: shardPath, tensor: name, reason: "the index maps it to this shard, which does not hold it")
      }
      let holder = entries[position].file.path
      guard holder == shardPath else {
        throw SafetensorsError(.invalidIndex, file: resolved, tensor: name, reason: "the index maps it to '\(shardPath)' but it is in '\(holder)'")
      }
    }
    self.files = files
    self.entries = entries
    self.metadata = metadata
    self.indexByName = indexByName
  }

  /// The entry named `name`, or nil.
  public func entry(_ name: String) -> Entry? { indexByName[name].map { entries[$0] } }

  /// The total size of every tensor's data in bytes.
  public var dataByteCount: Int { entries.reduce(0) { $0 + $1.info.byteCount } }

  static func readIndex(_ path: String) throws(SafetensorsError) -> (shards: [String], weightMap: [String: String], metadata: [String: String]) {
    let bytes = try readWholeFile(path)
    let json: JSONValue
    do {
      json = try JSONValue.parse(bytes)
    } catch {
      throw SafetensorsError(.malformedJSON, file: path, offset: error.offset, reason: "malformed index JSON: \(error.reason)")
    }
    guard let map = json["weight_map"]?.members else {
      throw SafetensorsError(.invalidIndex, file: path, reason: "no \"weight_map\" object")
    }
    var weightMap: [String: String] = [:]
    for (name, value) in map {
      guard let shard = value.string, !shard.isEmpty, !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
        throw SafetensorsError(.invalidIndex, file: path, tensor: name, reason: "weight_map value must be a relative shard file name")
      }
      weightMap[name] = shard
    }
    var metadata: [String: String] = [:]
    for (key, value) in json["metadata"]?.members ?? [] {
      if let text = value.string { metadata[key] = text } else if let number = value.integer { metadata[key] = String(number) }
    }
    return (Array(Set(weightMap.values)).sorted(), weightMap, metadata)
  }

  /// Reads a small file entirely (index and calibration files).
  public static func readWholeFile(_ path: String) throws(SafetensorsError) -> [UInt8] {
    guard let handle = fopen(path, "rb") else {
      throw SafetensorsError(.io, file: path, reason: "cannot open: \(String(cString: strerror(errno)))")
    }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = fread(&chunk, 1, chunk.count, handle)
      if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
      if count < chunk.count {
        if ferror(handle) != 0 {
          throw SafetensorsError(.io, file: path, reason: "read failed: \(String(cString: strerror(errno)))")
        }
        break
      }
    }
    return bytes
  }

  static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  static func exists(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0
  }
}
