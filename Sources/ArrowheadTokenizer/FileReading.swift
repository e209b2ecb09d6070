#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArrowheadIO

/// Small Foundation-free file helpers of the tokenizer module.
enum FileReading {
  /// The whole content of `path` ("-" reads standard input to its end).
  static func bytes(of path: String) throws(TokenizerError) -> [UInt8] {
    let descriptor: Int32 = path == "-" ? 0 : open(path, O_RDONLY)
    guard descriptor >= 0 else { throw .unreadableFile(path: path, reason: errorText()) }
    defer { if descriptor != 0 { close(descriptor) } }
    var status = stat()
    if fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
      throw .unreadableFile(path: path, reason: "is a directory")
    }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if got < 0 {
        if errno == EINTR { continue }
        throw .unreadableFile(path: path, reason: errorText())
      }
      if got == 0 { break }
      result += chunk[0..<got]
    }
    return result
  }

  /// Whether `path` names an existing regular file.
  static func isFile(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
  }

  /// Whether `path` names an existing directory.
  static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  /// Parses the JSON file at `path`; syntax errors carry the line and column.
  static func json(at path: String) throws(TokenizerError) -> JSONValue {
    let content = try bytes(of: path)
    do {
      return try JSONValue.parse(content)
    } catch {
      let (line, column) = lineAndColumn(of: error.offset, in: content)
      throw .malformedJSON(path: path, line: line, column: column, offset: error.offset, reason: error.reason)
    }
  }

  /// 1-based line and column (in bytes) of a byte offset.
  static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
    var line = 1
    var lineStart = 0
    for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A {
      line += 1
      lineStart = index + 1
    }
    return (line, offset - lineStart + 1)
  }

  private static func errorText() -> String {
    String(cString: strerror(errno))
  }
}
