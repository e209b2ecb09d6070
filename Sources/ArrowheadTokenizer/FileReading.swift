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
    do {
      return try SafetensorsModel.readWholeFile(path == "-" ? "/dev/stdin" : path)
    } catch {
      throw .unreadableFile(path: path, reason: error.reason)
    }
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
}
