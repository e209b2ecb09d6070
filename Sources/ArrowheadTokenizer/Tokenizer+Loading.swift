import ArrowheadIO

extension Tokenizer {
  /// Loads a Hugging Face `tokenizer.json` of the BERT WordPiece kind, with the
  /// truncation and padding it was saved with (as `tokenizers`' `Tokenizer.from_file`).
  ///
  /// Understood: model `WordPiece`; normalizer `BertNormalizer` or null; pre_tokenizer
  /// `BertPreTokenizer` or null; post_processor `TemplateProcessing`, `BertProcessing` or
  /// null; `added_tokens`; `truncation`; `padding`. The decoder is ignored.
  /// Throws `.unsupportedModel` for BPE, Unigram, WordLevel…, `.unsupportedComponent`
  /// for other normalisers, pre-tokenisers and post-processors, `.malformedJSON` and
  /// `.invalidField` for broken files, `.unreadableFile` when it cannot be read.
  public init(tokenizerJSON path: String) throws(TokenizerError) {
    let root = try FileReading.json(at: path)
    try self.init(tokenizerJSON: root, path: path)
  }

  /// Loads a tokenizer from a model folder: `tokenizer.json`, or `vocab.txt` (with
  /// `tokenizer_config.json` when present) if there is no `tokenizer.json`.
  ///
  /// Maximum length (truncation), first found wins:
  /// 1. `maximumLength`, when given;
  /// 2. `sentence_bert_config.json` `max_seq_length` (what sentence-transformers uses);
  /// 3. `tokenizer_config.json` `model_max_length` (ignored when it is transformers'
  ///    "unset" value, above 10⁶), capped by `config.json` `max_position_embeddings`;
  /// 4. `config.json` `max_position_embeddings`;
  /// 5. the `truncation` saved in `tokenizer.json`;
  /// otherwise no truncation. The saved truncation's side is kept.
  ///
  /// Padding pads a batch to its longest text (as sentence-transformers does), with the
  /// pad token of `tokenizer.json`'s padding, or `[PAD]`, or the configuration's
  /// `pad_token`; the fixed length saved in `tokenizer.json` is not used.
  public init(modelDirectory directory: String, maximumLength: Int? = nil) throws(TokenizerError) {
    let folder = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    guard FileReading.isDirectory(folder) else {
      throw .unreadableFile(path: folder, reason: "not a directory")
    }
    let jsonPath = folder + "/tokenizer.json"
    let vocabPath = folder + "/vocab.txt"
    let configPath = folder + "/tokenizer_config.json"
    let config: JSONValue? = FileReading.isFile(configPath) ? try FileReading.json(at: configPath) : nil
    if FileReading.isFile(jsonPath) {
      try self.init(tokenizerJSON: jsonPath)
    } else if FileReading.isFile(vocabPath) {
      try self.init(vocabularyFile: vocabPath, configuration: config, configurationPath: configPath)
    } else {
      throw .missingTokenizerFiles(directory: folder)
    }
    var length = maximumLength
    if length == nil { length = try Tokenizer.modelMaximumLength(folder: folder, tokenizerConfig: config) }
    if length == nil { length = truncation?.maximumLength }
    if let length {
      try setTruncation(Truncation(maximumLength: length, side: truncation?.side ?? Tokenizer.side(config?["truncation_side"]) ?? .right))
    }
    var batchPadding = Padding(length: .longest)
    if let saved = padding {
      batchPadding = saved
      batchPadding.length = .longest
    } else if let padID = vocabulary.id(for: "[PAD]") {
      batchPadding.padID = padID
    } else if let name = Tokenizer.tokenName(config?["pad_token"]), let padID = vocabulary.id(for: name) {
      batchPadding.padID = padID
      batchPadding.padToken = name
    }
    if let side = Tokenizer.side(config?["padding_side"]), padding == nil { batchPadding.side = side }
    try setPadding(batchPadding)
  }

  /// Builds a BERT tokenizer from a `vocab.txt` (one token per line, id = line number),
  /// configured by a `tokenizer_config.json` value when given: `do_lower_case` (default
  /// true), `strip_accents` (default null), `tokenize_chinese_chars` (default true), and
  /// the `unk_token`, `cls_token`, `sep_token`, `pad_token`, `mask_token` names. This is
  /// what `transformers` builds from a BERT vocabulary: BertNormalizer, BertPreTokenizer,
  /// WordPiece ("##", 100 characters), `[CLS] $A [SEP]`, the special tokens as raw
  /// added tokens.
  public init(vocabularyFile path: String, configuration: JSONValue? = nil,
              configurationPath: String = "tokenizer_config.json") throws(TokenizerError) {
    let content = try FileReading.bytes(of: path)
    // Lines as Python's text mode reads them (universal newlines: \n, \r\n, \r).
    var pairs: [(token: String, id: Int32)] = []
    var lineStart = 0
    var index = 0
    while index < content.count {
      let byte = content[index]
      if byte == 0x0A || byte == 0x0D {
        pairs.append((String(decoding: content[lineStart..<index], as: UTF8.self), Int32(pairs.count)))
        if byte == 0x0D && index + 1 < content.count && content[index + 1] == 0x0A { index += 1 }
        lineStart = index + 1
      }
      index += 1
    }
    if lineStart < content.count {
      pairs.append((String(decoding: content[lineStart...], as: UTF8.self), Int32(pairs.count)))
    }
    guard !pairs.isEmpty else { throw .emptyVocabulary(path: path) }
    let vocabulary = Vocabulary(pairs)
    func flag(_ key: String, _ fallback: Bool?) throws(TokenizerError) -> Bool? {
      guard let value = configuration?[key], value != .null else { return fallback }
      guard let bool = value.bool else {
        throw .invalidField(path: configurationPath, field: key, reason: "must be true, false or null, not \(value.typeName)")
      }
      return bool
    }
    func name(_ key: String, _ fallback: String) -> String { Tokenizer.tokenName(configuration?[key]) ?? fallback }
    let options = BertNormalizerOptions(
      cleanText: true,
      handleChineseCharacters: try flag("tokenize_chinese_chars", true) ?? true,
      stripAccents: try flag("strip_accents", nil),
      lowercase: try flag("do_lower_case", true) ?? true)
    let unknown = name("unk_token", "[UNK]")
    let cls = name("cls_token", "[CLS]")
    let sep = name("sep_token", "[SEP]")
    var added: [AddedToken] = []
    for token in [name("pad_token", "[PAD]"), unknown, cls, sep, name("mask_token", "[MASK]")] {
      if let id = vocabulary.id(for: token), !added.contains(where: { $0.content == token }) {
        added.append(AddedToken(content: token, id: id))
      }
    }
    added.sort { $0.id < $1.id }
    guard let clsID = vocabulary.id(for: cls) else { throw .missingToken(path: path, token: cls, role: "classifier token (cls_token)") }
    guard let sepID = vocabulary.id(for: sep) else { throw .missingToken(path: path, token: sep, role: "separator token (sep_token)") }
    try self.init(
      vocabulary: vocabulary, normalizer: options, preTokenizer: .bert,
      wordPiece: WordPieceOptions(unknownToken: unknown), addedTokens: added,
      template: [.special(name: cls, ids: [clsID], typeID: 0), .sequence(typeID: 0), .special(name: sep, ids: [sepID], typeID: 0)],
      truncation: nil, padding: nil, source: path)
  }

  // MARK: tokenizer.json

  init(tokenizerJSON root: JSONValue, path: String) throws(TokenizerError) {
    guard case .object = root else { throw .invalidField(path: path, field: "(root)", reason: "must be an object, not \(root.typeName)") }
    let reader = FieldReader(path: path)

    // model
    guard let model = root["model"], case .object = model else {
      throw .invalidField(path: path, field: "model", reason: "is missing or not an object")
    }
    let modelType = try reader.string(model, "type", in: "model")
    guard modelType == "WordPiece" else { throw .unsupportedModel(path: path, type: modelType) }
    guard let vocabValue = model["vocab"], let members = vocabValue.members else {
      throw .invalidField(path: path, field: "model.vocab", reason: "is missing or not an object")
    }
    var pairs: [(token: String, id: Int32)] = []
    pairs.reserveCapacity(members.count)
    for (token, value) in members {
      guard let id = value.integer, id >= 0, id <= Int(Int32.max) else {
        throw .invalidField(path: path, field: "model.vocab[\"\(token)\"]", reason: "must be a non-negative integer id, not \(value.serialized)")
      }
      pairs.append((token, Int32(id)))
    }
    guard !pairs.isEmpty else { throw .invalidField(path: path, field: "model.vocab", reason: "is empty") }
    let wordPiece = WordPieceOptions(
      unknownToken: try reader.optionalString(model, "unk_token", in: "model") ?? "[UNK]",
      continuingSubwordPrefix: try reader.optionalString(model, "continuing_subword_prefix", in: "model") ?? "##",
      maximumCharactersPerWord: try reader.optionalInteger(model, "max_input_chars_per_word", in: "model") ?? 100)

    // normalizer
    var normalizer: BertNormalizerOptions?
    if let value = root["normalizer"], value != .null {
      let type = try reader.string(value, "type", in: "normalizer")
      guard type == "BertNormalizer" else { throw .unsupportedComponent(path: path, component: "normalizer", type: type) }
      normalizer = BertNormalizerOptions(
        cleanText: try reader.optionalBool(value, "clean_text", in: "normalizer") ?? true,
        handleChineseCharacters: try reader.optionalBool(value, "handle_chinese_chars", in: "normalizer") ?? true,
        stripAccents: try reader.optionalBool(value, "strip_accents", in: "normalizer"),
        lowercase: try reader.optionalBool(value, "lowercase", in: "normalizer") ?? true)
    }

    // pre_tokenizer
    var preTokenizer = PreTokenizer.none
    if let value = root["pre_tokenizer"], value != .null {
      let type = try reader.string(value, "type", in: "pre_tokenizer")
      guard type == "BertPreTokenizer" else { throw .unsupportedComponent(path: path, component: "pre_tokenizer", type: type) }
      preTokenizer = .bert
    }

    // added_tokens
    var added: [AddedToken] = []
    if let value = root["added_tokens"], value != .null {
      guard let list = value.array else { throw .invalidField(path: path, field: "added_tokens", reason: "must be an array") }
      for (index, entry) in list.enumerated() {
        let field = "added_tokens[\(index)]"
        guard let id = entry["id"]?.integer, id >= 0, id <= Int(Int32.max) else {
          throw .invalidField(path: path, field: field + ".id", reason: "must be a non-negative integer")
        }
        added.append(AddedToken(
          content: try reader.string(entry, "content", in: field), id: Int32(id),
          isSpecial: try reader.optionalBool(entry, "special", in: field) ?? false,
          normalized: try reader.optionalBool(entry, "normalized", in: field) ?? true,
          leftStrip: try reader.optionalBool(entry, "lstrip", in: field) ?? false,
          rightStrip: try reader.optionalBool(entry, "rstrip", in: field) ?? false,
          singleWord: try reader.optionalBool(entry, "single_word", in: field) ?? false))
      }
    }

    // post_processor
    var template: [TemplatePiece] = []
    if let value = root["post_processor"], value != .null {
      let type = try reader.string(value, "type", in: "post_processor")
      switch type {
      case "TemplateProcessing":
        template = try Tokenizer.templatePieces(value, reader: reader)
      case "BertProcessing":
        func special(_ key: String) throws(TokenizerError) -> TemplatePiece {
          guard let pair = value[key]?.array, pair.count == 2, let name = pair[0].string, let id = pair[1].integer else {
            throw .invalidField(path: path, field: "post_processor.\(key)", reason: "must be [token, id]")
          }
          return .special(name: name, ids: [Int32(truncatingIfNeeded: id)], typeID: 0)
        }
        template = [try special("cls"), .sequence(typeID: 0), try special("sep")]
      default:
        throw .unsupportedComponent(path: path, component: "post_processor", type: type)
      }
    }

    // truncation and padding
    var truncation: Truncation?
    if let value = root["truncation"], value != .null {
      guard let length = value["max_length"]?.integer, length > 0 else {
        throw .invalidField(path: path, field: "truncation.max_length", reason: "must be a positive integer")
      }
      truncation = Truncation(maximumLength: length, side: Tokenizer.side(value["direction"]) ?? .right)
    }
    var padding: Padding?
    if let value = root["padding"], value != .null {
      var rule = Padding()
      switch value["strategy"] {
      case .string("BatchLongest")?: rule.length = .longest
      case let strategy? where strategy["Fixed"]?.integer != nil: rule.length = .fixed(strategy["Fixed"]?.integer ?? 0)
      default: throw .invalidField(path: path, field: "padding.strategy", reason: "must be \"BatchLongest\" or {\"Fixed\": n}")
      }
      rule.side = Tokenizer.side(value["direction"]) ?? .right
      rule.multiple = value["pad_to_multiple_of"]?.integer
      rule.padID = Int32(truncatingIfNeeded: value["pad_id"]?.integer ?? 0)
      rule.padTypeID = Int32(truncatingIfNeeded: value["pad_type_id"]?.integer ?? 0)
      rule.padToken = value["pad_token"]?.string ?? "[PAD]"
      padding = rule
    }

    try self.init(vocabulary: Vocabulary(pairs), normalizer: normalizer, preTokenizer: preTokenizer, wordPiece: wordPiece,
                  addedTokens: added, template: template, truncation: truncation, padding: padding, source: path)
  }

  /// The single-sequence template of a `TemplateProcessing` post-processor.
  private static func templatePieces(_ value: JSONValue, reader: FieldReader) throws(TokenizerError) -> [TemplatePiece] {
    guard let single = value["single"]?.array else {
      throw .invalidField(path: reader.path, field: "post_processor.single", reason: "is missing or not an array")
    }
    let specials = value["special_tokens"]
    var pieces: [TemplatePiece] = []
    for (index, entry) in single.enumerated() {
      let field = "post_processor.single[\(index)]"
      if let special = entry["SpecialToken"] {
        let name = try reader.string(special, "id", in: field + ".SpecialToken")
        let typeID = Int32(truncatingIfNeeded: special["type_id"]?.integer ?? 0)
        guard let ids = specials?[name]?["ids"]?.array?.compactMap(\.integer) else {
          throw .invalidField(path: reader.path, field: "post_processor.special_tokens", reason: "has no ids for \"\(name)\"")
        }
        pieces.append(.special(name: name, ids: ids.map { Int32(truncatingIfNeeded: $0) }, typeID: typeID))
      } else if let sequence = entry["Sequence"] {
        pieces.append(.sequence(typeID: Int32(truncatingIfNeeded: sequence["type_id"]?.integer ?? 0)))
      } else {
        throw .invalidField(path: reader.path, field: field, reason: "must be {\"SpecialToken\": …} or {\"Sequence\": …}")
      }
    }
    return pieces
  }

  // MARK: Model folder

  /// The maximum length from a model folder's configuration files (see
  /// `init(modelDirectory:maximumLength:)`), or nil.
  static func modelMaximumLength(folder: String, tokenizerConfig: JSONValue?) throws(TokenizerError) -> Int? {
    let sentencePath = folder + "/sentence_bert_config.json"
    if FileReading.isFile(sentencePath), let length = try FileReading.json(at: sentencePath)["max_seq_length"]?.integer, length > 0 {
      return length
    }
    let configPath = folder + "/config.json"
    var positions: Int?
    if FileReading.isFile(configPath), let value = try FileReading.json(at: configPath)["max_position_embeddings"]?.integer, value > 0 {
      positions = value
    }
    if let length = tokenizerConfig?["model_max_length"]?.integer, length > 0, length <= 1_000_000 {
      return min(length, positions ?? length)
    }
    return positions
  }

  static func side(_ value: JSONValue?) -> SequenceSide? {
    switch value?.string?.lowercased() {
    case "right"?: return .right
    case "left"?: return .left
    default: return nil
    }
  }

  /// A token name written as a string or as an AddedToken object (`{"content": …}`).
  static func tokenName(_ value: JSONValue?) -> String? {
    value?.string ?? value?["content"]?.string
  }
}

/// Reads typed fields and names the field in errors.
struct FieldReader {
  let path: String

  func string(_ object: JSONValue, _ key: String, in context: String) throws(TokenizerError) -> String {
    guard let value = object[key] else { throw .invalidField(path: path, field: "\(context).\(key)", reason: "is missing") }
    guard let text = value.string else {
      throw .invalidField(path: path, field: "\(context).\(key)", reason: "must be a string, not \(value.typeName)")
    }
    return text
  }

  func optionalString(_ object: JSONValue, _ key: String, in context: String) throws(TokenizerError) -> String? {
    guard let value = object[key], value != .null else { return nil }
    return try string(object, key, in: context)
  }

  func optionalBool(_ object: JSONValue, _ key: String, in context: String) throws(TokenizerError) -> Bool? {
    guard let value = object[key], value != .null else { return nil }
    guard let bool = value.bool else {
      throw .invalidField(path: path, field: "\(context).\(key)", reason: "must be true, false or null, not \(value.typeName)")
    }
    return bool
  }

  func optionalInteger(_ object: JSONValue, _ key: String, in context: String) throws(TokenizerError) -> Int? {
    guard let value = object[key], value != .null else { return nil }
    guard let integer = value.integer, integer > 0 else {
      throw .invalidField(path: path, field: "\(context).\(key)", reason: "must be a positive integer, not \(value.serialized)")
    }
    return integer
  }
}
