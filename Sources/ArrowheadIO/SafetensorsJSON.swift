// A small, strict JSON reader and writer for safetensors headers, index files and JSON
// Lines calibration files. It keeps object keys in file order, keeps integers exact (no
// round trip through Double) and reports the byte offset of the first error.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed JSON value.
///
/// Objects keep their keys in document order (a safetensors header is written and read in
/// data order); numbers without a fraction or exponent that fit in `Int` stay exact
/// integers (`.integer`), every other number is a `Double`.
///
/// ```swift
/// let value = try JSONValue.parse(Array(#"{"shape": [2, 3]}"#.utf8))
/// value["shape"]?.array?.compactMap(\.integer)   // [2, 3]
/// ```
public enum JSONValue: Sendable, Equatable {
  /// `null`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// An integer literal that fits in `Int` (no fraction, no exponent).
  case integer(Int)
  /// Any other number.
  case number(Double)
  /// A string (escapes decoded).
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object, keys in document order (duplicates are rejected by the parser).
  case object([(key: String, value: JSONValue)])

  /// Structural equality; objects compare keys and values in order.
  public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
    switch (lhs, rhs) {
    case (.null, .null): return true
    case let (.bool(a), .bool(b)): return a == b
    case let (.integer(a), .integer(b)): return a == b
    case let (.number(a), .number(b)): return a == b
    case let (.string(a), .string(b)): return a == b
    case let (.array(a), .array(b)): return a == b
    case let (.object(a), .object(b)):
      return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    default: return false
    }
  }

  /// The member named `key` of an object (first match), or nil.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }

  /// The string, if this is a string.
  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  /// The exact integer, if this is an integer literal.
  public var integer: Int? { if case .integer(let i) = self { return i } else { return nil } }
  /// The number as a Double, for `.integer` and `.number`.
  public var double: Double? {
    switch self {
    case .integer(let i): return Double(i)
    case .number(let d): return d
    default: return nil
    }
  }
  /// The elements, if this is an array.
  public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  /// The members in document order, if this is an object.
  public var members: [(key: String, value: JSONValue)]? {
    if case .object(let m) = self { return m } else { return nil }
  }
  /// The Boolean, if this is `true` or `false`.
  public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }

  /// A short name of the value's type, for error messages ("string", "object" …).
  public var typeName: String {
    switch self {
    case .null: "null"
    case .bool: "boolean"
    case .integer: "integer"
    case .number: "number"
    case .string: "string"
    case .array: "array"
    case .object: "object"
    }
  }
}

/// A JSON syntax error at a byte offset of the parsed text.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The 0-based byte offset of the problem within the parsed bytes.
  public var offset: Int
  /// What was wrong.
  public var reason: String
  /// Creates an error.
  public init(offset: Int, reason: String) {
    self.offset = offset
    self.reason = reason
  }
  /// "JSON error at byte N: reason".
  public var description: String { "JSON error at byte \(offset): \(reason)" }
}

extension JSONValue {
  /// The deepest nesting the parser accepts (protects the stack from hostile input).
  public static let maximumDepth = 128

  /// Parses one JSON document; only whitespace may follow it.
  ///
  /// Strict RFC 8259: no comments, no trailing commas, no NaN/Infinity, no duplicate keys.
  /// Complexity O(n) in the byte count.
  public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
    try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) in try parse(buffer) }
  }

  /// Parses one JSON document held in `bytes` (see `parse(_:)`).
  public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.position < bytes.count {
      throw JSONSyntaxError(offset: parser.position, reason: "unexpected '\(parser.printable(parser.position))' after the document")
    }
    return value
  }

  /// The compact JSON text of this value (keys in stored order, no spaces).
  ///
  /// Doubles are written with the shortest representation that reads back exactly;
  /// non-finite doubles (not representable in JSON) are written as `null`.
  public var serialized: String {
    var output = ""
    write(to: &output)
    return output
  }

  private func write(to output: inout String) {
    switch self {
    case .null: output += "null"
    case .bool(let b): output += b ? "true" : "false"
    case .integer(let i): output += String(i)
    case .number(let d): output += d.isFinite ? "\(d)" : "null"
    case .string(let s): JSONValue.writeString(s, to: &output)
    case .array(let elements):
      output += "["
      for (index, element) in elements.enumerated() {
        if index > 0 { output += "," }
        element.write(to: &output)
      }
      output += "]"
    case .object(let members):
      output += "{"
      for (index, member) in members.enumerated() {
        if index > 0 { output += "," }
        JSONValue.writeString(member.key, to: &output)
        output += ":"
        member.value.write(to: &output)
      }
      output += "}"
    }
  }

  private static func writeString(_ s: String, to output: inout String) {
    output += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": output += "\\\""
      case "\\": output += "\\\\"
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          output.unicodeScalars.append(scalar)
        }
      }
    }
    output += "\""
  }
}

/// Recursive-descent parser over a byte buffer.
struct JSONParser {
  let bytes: UnsafeBufferPointer<UInt8>
  var position = 0

  init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

  func printable(_ index: Int) -> String {
    guard index < bytes.count else { return "end of input" }
    let byte = bytes[index]
    return byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
  }

  mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x0A, 0x0D, 0x09: position += 1
      default: return
      }
    }
  }

  func error(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
    JSONSyntaxError(offset: offset ?? position, reason: reason)
  }

  mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth < JSONValue.maximumDepth else { throw error("nesting deeper than \(JSONValue.maximumDepth)") }
    guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try expectLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw error("unexpected '\(printable(position))', expected a value")
    }
  }

  mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
    let start = position
    let count = literal.utf8CodeUnitCount
    guard position + count <= bytes.count else { throw error("invalid literal", at: start) }
    let base = literal.utf8Start
    for i in 0..<count where bytes[position + i] != base[i] {
      throw error("invalid literal", at: start)
    }
    position += count
  }

  mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    position += 1  // {
    var members: [(key: String, value: JSONValue)] = []
    var keys = Set<String>()
    skipWhitespace()
    if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
        throw error("expected a string key, found '\(printable(position))'")
      }
      let keyOffset = position
      let key = try parseString()
      guard keys.insert(key).inserted else { throw error("duplicate key \"\(key)\"", at: keyOffset) }
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
        throw error("expected ':' after key \"\(key)\", found '\(printable(position))'")
      }
      position += 1
      skipWhitespace()
      let value = try parseValue(depth: depth + 1)
      members.append((key, value))
      skipWhitespace()
      guard position < bytes.count else { throw error("unexpected end of input in an object") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      if bytes[position] == UInt8(ascii: "}") {
        position += 1
        return .object(members)
      }
      throw error("expected ',' or '}' in an object, found '\(printable(position))'")
    }
  }

  mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    position += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard position < bytes.count else { throw error("unexpected end of input in an array") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      if bytes[position] == UInt8(ascii: "]") {
        position += 1
        return .array(elements)
      }
      throw error("expected ',' or ']' in an array, found '\(printable(position))'")
    }
  }

  mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt32
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
      default: throw error("invalid hex digit in \\u escape")
      }
      value = value * 16 + digit
      position += 1
    }
    return value
  }

  mutating func parseString() throws(JSONSyntaxError) -> String {
    let start = position
    position += 1  // opening quote
    // Fast path: no escapes.
    var scan = position
    while scan < bytes.count {
      let byte = bytes[scan]
      if byte == UInt8(ascii: "\"") {
        let slice = UnsafeBufferPointer(rebasing: bytes[position..<scan])
        guard let text = String(validating: slice, as: UTF8.self) else {
          throw error("string is not valid UTF-8", at: start)
        }
        position = scan + 1
        return text
      }
      if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
      scan += 1
    }
    var utf8: [UInt8] = Array(bytes[position..<scan])
    position = scan
    while true {
      guard position < bytes.count else { throw error("unterminated string", at: start) }
      let byte = bytes[position]
      if byte == UInt8(ascii: "\"") {
        position += 1
        guard let text = String(validating: utf8, as: UTF8.self) else {
          throw error("string is not valid UTF-8", at: start)
        }
        return text
      }
      if byte < 0x20 { throw error("control character in a string") }
      if byte != UInt8(ascii: "\\") {
        utf8.append(byte)
        position += 1
        continue
      }
      position += 1
      guard position < bytes.count else { throw error("unterminated escape", at: start) }
      let escape = bytes[position]
      position += 1
      switch escape {
      case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
      case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
      case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
      case UInt8(ascii: "b"): utf8.append(0x08)
      case UInt8(ascii: "f"): utf8.append(0x0C)
      case UInt8(ascii: "n"): utf8.append(0x0A)
      case UInt8(ascii: "r"): utf8.append(0x0D)
      case UInt8(ascii: "t"): utf8.append(0x09)
      case UInt8(ascii: "u"):
        var code = try parseHex4()
        if (0xD800..<0xDC00).contains(code) {
          guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
          else { throw error("unpaired high surrogate in \\u escape") }
          position += 2
          let low = try parseHex4()
          guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in \\u escape") }
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
          throw error("unpaired low surrogate in \\u escape")
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point in \\u escape") }
        utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
      default:
        throw error("invalid escape '\\\(printable(position - 1))'")
      }
    }
  }

  mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
    let start = position
    var isInteger = true
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    guard position < bytes.count, isDigit(bytes[position]) else { throw error("invalid number", at: start) }
    if bytes[position] == UInt8(ascii: "0") {
      position += 1
      if position < bytes.count && isDigit(bytes[position]) { throw error("leading zero in a number", at: start) }
    } else {
      while position < bytes.count && isDigit(bytes[position]) { position += 1 }
    }
    if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
      isInteger = false
      position += 1
      guard position < bytes.count, isDigit(bytes[position]) else { throw error("invalid fraction", at: start) }
      while position < bytes.count && isDigit(bytes[position]) { position += 1 }
    }
    if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
      isInteger = false
      position += 1
      if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
        position += 1
      }
      guard position < bytes.count, isDigit(bytes[position]) else { throw error("invalid exponent", at: start) }
      while position < bytes.count && isDigit(bytes[position]) { position += 1 }
    }
    let length = position - start
    if isInteger && length <= 18 {
      var value = 0
      var index = start
      let negative = bytes[index] == UInt8(ascii: "-")
      if negative { index += 1 }
      while index < position {
        value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
        index += 1
      }
      return .integer(negative ? -value : value)
    }
    // strtod on a NUL-terminated copy (numbers are short).
    var buffer = [CChar](repeating: 0, count: length + 1)
    for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[start + i]) }
    let value = buffer.withUnsafeBufferPointer { strtod($0.baseAddress!, nil) }
    if isInteger, let exact = Int(exactly: value), value.magnitude < 9.2e18 {
      return .integer(exact)
    }
    return .number(value)
  }

  @inline(__always)
  func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
