/// Why a tokenizer could not be loaded or configured, or a text file could not be read.
///
/// Every case names the file involved; `description` is a one-line message for users.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A file could not be opened or read (missing, a directory, no permission…).
  case unreadableFile(path: String, reason: String)
  /// A model folder has neither `tokenizer.json` nor `vocab.txt`.
  case missingTokenizerFiles(directory: String)
  /// A JSON file is not valid JSON: where (line, column, byte offset) and why.
  case malformedJSON(path: String, line: Int, column: Int, offset: Int, reason: String)
  /// A JSON file is valid JSON but a field is missing or has the wrong type or value.
  case invalidField(path: String, field: String, reason: String)
  /// The tokenizer model in `tokenizer.json` is not WordPiece (e.g. "BPE", "Unigram").
  case unsupportedModel(path: String, type: String)
  /// A normaliser, pre-tokeniser or post-processor of a kind this module does not
  /// implement (e.g. `component` "normalizer", `type` "Sequence").
  case unsupportedComponent(path: String, component: String, type: String)
  /// A token the configuration needs (unknown token, a template's special token) is not
  /// in the vocabulary.
  case missingToken(path: String, token: String, role: String)
  /// A `vocab.txt` holds no tokens.
  case emptyVocabulary(path: String)
  /// A line of a text input file is not what its format needs (JSON Lines: an object
  /// with a string "text").
  case invalidInput(path: String, line: Int, reason: String)
  /// A text input file holds no texts.
  case emptyInput(path: String)
  /// A maximum length or padding length that cannot hold the special tokens, or is not
  /// positive.
  case invalidLength(Int, reason: String)

  /// A one-line message naming the file and what is wrong.
  public var description: String {
    switch self {
    case let .unreadableFile(path, reason):
      return "cannot read '\(path)': \(reason)"
    case let .missingTokenizerFiles(directory):
      return "'\(directory)' has neither tokenizer.json nor vocab.txt"
    case let .malformedJSON(path, line, column, offset, reason):
      return "'\(path)' is not valid JSON: line \(line), column \(column) (byte \(offset)): \(reason)"
    case let .invalidField(path, field, reason):
      return "'\(path)': field '\(field)' \(reason)"
    case let .unsupportedModel(path, type):
      return "'\(path)': tokenizer model '\(type)' is not supported (only WordPiece, the BERT family)"
    case let .unsupportedComponent(path, component, type):
      return "'\(path)': \(component) of type '\(type)' is not supported"
    case let .missingToken(path, token, role):
      return "'\(path)': the \(role) '\(token)' is not in the vocabulary"
    case let .emptyVocabulary(path):
      return "'\(path)' holds no tokens"
    case let .invalidInput(path, line, reason):
      return "'\(path)' line \(line): \(reason)"
    case let .emptyInput(path):
      return "'\(path)' holds no texts"
    case let .invalidLength(length, reason):
      return "invalid length \(length): \(reason)"
    }
  }
}
