import ArrowheadIO

/// The texts a vector index was built from, kept next to the index so that a search can
/// print texts instead of ids.
///
/// Stored as JSON Lines in `<index>.texts.jsonl` (see `path(forIndex:)`), written
/// atomically:
///
/// ```text
/// {"format":"arrowhead-text-catalog","version":1,"count":2,"dimension":384,"model":"all-MiniLM-L6-v2","source":"texts.txt","weights":"f32"}
/// {"id":0,"line":1,"text":"The cat sat on the mat."}
/// {"id":1,"line":3,"text":"Dogs bark."}
/// ```
///
/// The first line describes the catalog: the number of texts, the embedding width, the
/// model folder and weight format that embedded them, and the text file they came from.
/// Then one line per vector id, in id order: the 1-based line of the source file and the
/// text itself.
public struct TextCatalog: Sendable, Equatable {
  /// One indexed text.
  public struct Entry: Sendable, Equatable, Hashable {
    /// The 1-based line of the source file.
    public var line: Int
    /// The text.
    public var text: String

    /// Creates an entry.
    public init(line: Int, text: String) {
      self.line = line
      self.text = text
    }
  }

  /// The format name on the first line.
  public static let formatName = "arrowhead-text-catalog"
  /// The format version this code writes and reads.
  public static let version = 1

  /// The texts by vector id.
  public var entries: [Entry]
  /// Width of the embeddings.
  public var dimension: Int
  /// The model folder that embedded the texts.
  public var model: String
  /// How its weights were held ("f32").
  public var weights: String
  /// The text file the entries came from.
  public var source: String

  /// Creates a catalog.
  public init(entries: [Entry], dimension: Int, model: String, weights: String, source: String) {
    self.entries = entries
    self.dimension = dimension
    self.model = model
    self.weights = weights
    self.source = source
  }

  /// The catalog file of the index at `indexPath`: `indexPath + ".texts.jsonl"`.
  public static func path(forIndex indexPath: String) -> String { indexPath + ".texts.jsonl" }

  /// Writes the catalog to `path` atomically (temporary file, fsync, rename).
  public func write(to path: String) throws(EncoderError) {
    let header: JSONValue = .object([
      ("format", .string(Self.formatName)), ("version", .integer(Self.version)), ("count", .integer(entries.count)),
      ("dimension", .integer(dimension)), ("model", .string(model)), ("source", .string(source)),
      ("weights", .string(weights)),
    ])
    var text = header.serialized + "\n"
    for (id, entry) in entries.enumerated() {
      text += JSONValue.object([("id", .integer(id)), ("line", .integer(entry.line)), ("text", .string(entry.text))]).serialized
      text += "\n"
    }
    do {
      try AtomicFile.write(Array(text.utf8), to: path)
    } catch {
      throw .invalidFile(path: path, reason: error.description)
    }
  }

  /// Reads a catalog. Throws `.missingFile` when absent and `.invalidInput` naming the
  /// line for anything that does not follow the format.
  public init(contentsOf path: String) throws(EncoderError) {
    guard ModelFolder.isFile(path) else {
      throw .missingFile(path: path, what: "the texts of the index (written by `arrowhead index build --text`)")
    }
    let bytes: [UInt8]
    do {
      bytes = try SafetensorsModel.readWholeFile(path)
    } catch {
      throw .invalidFile(path: path, reason: error.reason)
    }
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    func parse(_ number: Int) throws(EncoderError) -> JSONValue {
      do throws(JSONSyntaxError) {
        let value = try JSONValue.parse(Array(lines[number - 1]))
        guard value.members != nil else { throw JSONSyntaxError(offset: 0, reason: "expected an object") }
        return value
      } catch {
        throw .invalidInput(file: path, line: number, reason: error.description)
      }
    }
    guard !lines.isEmpty else { throw .invalidInput(file: path, line: 0, reason: "the file is empty") }
    let header = try parse(1)
    guard header["format"]?.string == Self.formatName, header["version"]?.integer == Self.version else {
      throw .invalidInput(
        file: path, line: 1, reason: "not an \(Self.formatName) version \(Self.version) header: \(header.serialized.prefix(120))")
    }
    guard let count = header["count"]?.integer, count >= 0, let dimension = header["dimension"]?.integer, dimension > 0 else {
      throw .invalidInput(file: path, line: 1, reason: "the header needs a count ≥ 0 and a dimension ≥ 1")
    }
    guard lines.count == count + 1 else {
      throw .invalidInput(file: path, line: 0, reason: "the header announces \(count) texts but the file holds \(lines.count - 1)")
    }
    var entries: [Entry] = []
    entries.reserveCapacity(count)
    for id in 0..<count {
      let value = try parse(id + 2)
      guard value["id"]?.integer == id, let line = value["line"]?.integer, let text = value["text"]?.string else {
        throw .invalidInput(file: path, line: id + 2, reason: "expected {\"id\": \(id), \"line\": n, \"text\": \"…\"}")
      }
      entries.append(Entry(line: line, text: text))
    }
    self.init(
      entries: entries, dimension: dimension, model: header["model"]?.string ?? "", weights: header["weights"]?.string ?? "",
      source: header["source"]?.string ?? "")
  }
}
