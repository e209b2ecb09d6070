// Small file helpers for model folders: existence checks and JSON files read into typed
// errors that name the file.
import ArrowheadIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum ModelFolder {
  /// `folder/name`, without doubling a trailing slash.
  static func join(_ folder: String, _ name: String) -> String {
    if name.isEmpty { return folder }
    if folder.isEmpty { return name }
    return folder.hasSuffix("/") ? folder + name : folder + "/" + name
  }

  /// Whether `path` is a regular file.
  static func isFile(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
  }

  /// Whether `path` is a directory.
  static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  /// Reads and parses a JSON file; `what` says in an error what the file is for.
  static func readJSON(_ path: String, what: String) throws(EncoderError) -> JSONValue {
    guard isFile(path) else { throw .missingFile(path: path, what: what) }
    let bytes: [UInt8]
    do {
      bytes = try SafetensorsModel.readWholeFile(path)
    } catch {
      throw .invalidFile(path: path, reason: error.reason)
    }
    do {
      return try JSONValue.parse(bytes)
    } catch {
      throw .invalidFile(path: path, reason: error.description)
    }
  }
}

/// Typed accessors for configuration objects, with errors naming file and field.
struct ConfigurationReader {
  let json: JSONValue
  let file: String

  init(_ json: JSONValue, file: String) throws(EncoderError) {
    guard json.members != nil else {
      throw .invalidFile(path: file, reason: "expected a JSON object at the top level, found \(json.typeName)")
    }
    self.json = json
    self.file = file
  }

  func has(_ field: String) -> Bool {
    if let value = json[field], value != .null { return true }
    return false
  }

  /// A positive integer; `fallback` when the field is absent (nil: required).
  func positiveInteger(_ field: String, default fallback: Int? = nil) throws(EncoderError) -> Int {
    guard let value = json[field], value != .null else {
      if let fallback { return fallback }
      throw .invalidField(file: file, field: field, reason: "is missing (a positive integer is required)")
    }
    guard let integer = value.integer, integer >= 1 else {
      throw .invalidField(file: file, field: field, reason: "must be a positive integer, found \(Self.render(value))")
    }
    return integer
  }

  /// A positive finite number; `fallback` when the field is absent.
  func positiveNumber(_ field: String, default fallback: Double) throws(EncoderError) -> Double {
    guard let value = json[field], value != .null else { return fallback }
    guard let number = value.double, number.isFinite, number > 0 else {
      throw .invalidField(file: file, field: field, reason: "must be a positive number, found \(Self.render(value))")
    }
    return number
  }

  /// A string; `fallback` when absent (nil: the field is optional and absent → nil).
  func string(_ field: String, default fallback: String? = nil) throws(EncoderError) -> String? {
    guard let value = json[field], value != .null else { return fallback }
    guard let text = value.string else {
      throw .invalidField(file: file, field: field, reason: "must be a string, found \(Self.render(value))")
    }
    return text
  }

  /// A Boolean; `fallback` when absent.
  func bool(_ field: String, default fallback: Bool) throws(EncoderError) -> Bool {
    guard let value = json[field], value != .null else { return fallback }
    guard let flag = value.bool else {
      throw .invalidField(file: file, field: field, reason: "must be true or false, found \(Self.render(value))")
    }
    return flag
  }

  static func render(_ value: JSONValue) -> String {
    switch value {
    case .null: "null"
    case .bool(let b): b ? "true" : "false"
    case .integer(let i): String(i)
    case .number(let d): String(d)
    case .string(let s): "\"\(s)\""
    case .array: "an array"
    case .object: "an object"
    }
  }
}
