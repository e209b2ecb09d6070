import ArrowheadCore

/// A BERT-family WordPiece tokenizer that gives the same ids and offsets as Hugging Face
/// `tokenizers`.
///
/// Load it from a model folder (`tokenizer.json`, or `vocab.txt` with
/// `tokenizer_config.json`), then encode texts:
///
/// ```swift
/// let tokenizer = try Tokenizer(modelDirectory: "all-MiniLM-L6-v2")
/// let encoding = tokenizer.encode("Hello, world!")
/// encoding.ids       // [101, 7592, 1010, 2088, 999, 102]
/// encoding.offsets   // [(0, 0), (0, 5), (5, 6), (7, 12), (12, 13), (0, 0)]
/// let batch = tokenizer.encode(["a first text", "a second, longer text"])
/// batch.idMatrix()   // 2 × batch.length, padded with [PAD]
/// ```
///
/// Pipeline: added tokens (`[CLS]`, `[SEP]` … written in the text) are matched first and
/// kept whole; the rest is normalised (`BertNormalizerOptions`), split into words
/// (`PreTokenizer`), and each word into vocabulary pieces by WordPiece; the text's tokens
/// are truncated to `truncation` and wrapped in the template (`[CLS] … [SEP]`); batches
/// are padded by `padding`. The Unicode data is HF's own (see `BertUnicodeData.swift`).
///
/// A `Tokenizer` is an immutable value apart from its truncation and padding settings,
/// and is `Sendable`: share one between threads freely.
public struct Tokenizer: Sendable {
  /// The file or folder it was loaded from (for messages).
  public let source: String
  /// The WordPiece vocabulary.
  public let vocabulary: Vocabulary
  /// The normaliser's options, or nil when the tokenizer does not normalise.
  public let normalizer: BertNormalizerOptions?
  /// The pre-tokeniser.
  public let preTokenizer: PreTokenizer
  /// The WordPiece options.
  public let wordPieceOptions: WordPieceOptions
  /// Tokens matched before WordPiece (specials first found in the text stay whole).
  public let addedTokens: [AddedToken]
  /// The single-text template (`[CLS] $A [SEP]`); empty when the tokenizer adds nothing.
  public let template: [TemplatePiece]
  /// Truncation applied by `encode` (nil: none). Change it with `setTruncation`.
  public private(set) var truncation: Truncation?
  /// Padding applied to batches (nil: none). Change it with `setPadding`.
  public private(set) var padding: Padding?

  let unicode: BertUnicodeData
  let normalizerEngine: TextNormalizer
  let unknownID: Int32
  let prefixScalars: [UInt32]
  let prefixHash: UInt64
  let rawMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher

  /// Assembles a tokenizer from its parts.
  ///
  /// Throws `.missingToken` when the unknown token is not in the vocabulary, and
  /// `.invalidLength` when the truncation cannot hold the template's special tokens.
  public init(vocabulary: Vocabulary, normalizer: BertNormalizerOptions?, preTokenizer: PreTokenizer,
              wordPiece: WordPieceOptions, addedTokens: [AddedToken], template: [TemplatePiece],
              truncation: Truncation?, padding: Padding?, source: String = "<memory>") throws(TokenizerError) {
    guard let unknown = vocabulary.id(for: wordPiece.unknownToken) else {
      throw .missingToken(path: source, token: wordPiece.unknownToken, role: "unknown token (unk_token)")
    }
    self.source = source
    self.vocabulary = vocabulary
    self.normalizer = normalizer
    self.preTokenizer = preTokenizer
    self.wordPieceOptions = wordPiece
    self.addedTokens = addedTokens
    self.template = template
    self.padding = nil
    self.truncation = nil
    unicode = BertUnicodeData.shared
    normalizerEngine = TextNormalizer(options: normalizer, unicode: unicode)
    unknownID = unknown
    prefixScalars = wordPiece.continuingSubwordPrefix.unicodeScalars.map(\.value)
    var hash = Vocabulary.seed
    for scalar in prefixScalars { hash = Vocabulary.mix(hash, scalar) }
    prefixHash = hash
    rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized }.map {
      .init(scalars: $0.content.unicodeScalars.map(\.value), id: $0.id,
            leftStrip: $0.leftStrip, rightStrip: $0.rightStrip, singleWord: $0.singleWord)
    })
    // Normalised added tokens are matched in normalised text: normalise their content.
    var normalizedPatterns: [AddedTokenMatcher.Pattern] = []
    if addedTokens.contains(where: \.normalized) {
      var workspace = Workspace()
      for token in addedTokens where token.normalized {
        workspace.load(token.content)
        normalizerEngine.normalize(0..<workspace.input.count, &workspace)
        normalizedPatterns.append(.init(scalars: workspace.normalized, id: token.id, leftStrip: token.leftStrip,
                                        rightStrip: token.rightStrip, singleWord: token.singleWord))
      }
    }
    normalizedMatcher = AddedTokenMatcher(normalizedPatterns)
    try setTruncation(truncation)
    try setPadding(padding)
  }

  /// The number of ids the template adds around a text (2 for `[CLS] … [SEP]`).
  public var specialTokenCount: Int {
    template.reduce(0) { count, piece in
      if case .special(_, let ids, _) = piece { return count + ids.count }
      return count
    }
  }

  /// The maximum number of tokens of an encoding (nil: unlimited).
  public var maximumLength: Int? { truncation?.maximumLength }

  /// Sets (or removes, with nil) truncation. Throws `.invalidLength` when the maximum
  /// cannot hold the template's special tokens plus one token of text.
  public mutating func setTruncation(_ truncation: Truncation?) throws(TokenizerError) {
    if let truncation, truncation.maximumLength <= specialTokenCount {
      throw .invalidLength(truncation.maximumLength,
                           reason: "the maximum length must exceed the \(specialTokenCount) special tokens of the template")
    }
    self.truncation = truncation
  }

  /// The largest fixed padding length and padding multiple `setPadding` accepts: 2²⁰
  /// tokens, far beyond any model's positions. Padding every text of a batch to more would
  /// only exhaust memory (or overflow when rounding up to the multiple).
  public static let maximumPaddingLength = 1 << 20

  /// Sets (or removes, with nil) batch padding. Throws `.invalidLength` for a fixed length
  /// or a multiple that is not in 1 … `maximumPaddingLength`.
  public mutating func setPadding(_ padding: Padding?) throws(TokenizerError) {
    if let padding {
      if case .fixed(let length) = padding.length, length <= 0 || length > Self.maximumPaddingLength {
        throw .invalidLength(length, reason: "a fixed padding length must be in 1…\(Self.maximumPaddingLength)")
      }
      if let multiple = padding.multiple, multiple <= 0 || multiple > Self.maximumPaddingLength {
        throw .invalidLength(multiple, reason: "pad_to_multiple_of must be in 1…\(Self.maximumPaddingLength)")
      }
    }
    self.padding = padding
  }

  // MARK: Encoding

  /// Encodes one text: tokens, truncated to `truncation`, inside the template when
  /// `addSpecialTokens` is true. Not padded (padding is for batches).
  ///
  /// Any text is accepted: an empty text (or one the normaliser empties) gives the
  /// template's special tokens alone. Complexity: linear in the text's length (each word
  /// costs at most `longest token × word length` table probes).
  public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
    var workspace = Workspace()
    return encode(text, addSpecialTokens: addSpecialTokens, workspace: &workspace)
  }

  /// Encodes texts, on up to `threads` threads (clamped to `1 ... Parallel.maximumThreads`),
  /// padded by `padding` when it is set.
  ///
  /// Order is kept; the result's `truncatedCount` tells how many texts lost tokens.
  public func encode(_ texts: [String], addSpecialTokens: Bool = true, threads: Int = 1) -> TokenBatch {
    var encodings = [Encoding](repeating: .empty, count: texts.count)
    let threads = Parallel.clampedThreads(threads)
    // Many more chunks than threads, claimed dynamically: texts differ a lot in length.
    let chunks = threads > 1 ? min(texts.count, threads * 16) : 1
    encodings.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(chunks, threads: threads) { chunk in
        var workspace = Workspace()
        for index in (chunk * texts.count / chunks)..<((chunk + 1) * texts.count / chunks) {
          box.value[index] = encode(texts[index], addSpecialTokens: addSpecialTokens, workspace: &workspace)
        }
      }
    }
    if let padding { pad(&encodings, padding) }
    return TokenBatch(encodings: encodings)
  }

  func encode(_ text: String, addSpecialTokens: Bool, workspace: inout Workspace) -> Encoding {
    workspace.load(text)
    tokenizeInput(&workspace)
    return assemble(workspace.ids, workspace.offsets, addSpecialTokens: addSpecialTokens)
  }

  /// Truncates the text's tokens and wraps them in the template.
  func assemble(_ ids: [Int32], _ offsets: [TokenOffset], addSpecialTokens: Bool) -> Encoding {
    let specials = addSpecialTokens ? specialTokenCount : 0
    var kept = 0..<ids.count
    if let truncation, ids.count + specials > truncation.maximumLength {
      let budget = max(0, truncation.maximumLength - specials)
      kept = truncation.side == .right ? 0..<budget : (ids.count - budget)..<ids.count
    }
    let total = kept.count + specials
    var outIDs = [Int32](); outIDs.reserveCapacity(total)
    var outTypes = [Int32](); outTypes.reserveCapacity(total)
    var outSpecial = [Int32](); outSpecial.reserveCapacity(total)
    var outOffsets = [TokenOffset](); outOffsets.reserveCapacity(total)
    func appendText(typeID: Int32) {
      outIDs += ids[kept]
      outOffsets += offsets[kept]
      outTypes += repeatElement(typeID, count: kept.count)
      outSpecial += repeatElement(0, count: kept.count)
    }
    if addSpecialTokens && !template.isEmpty {
      for piece in template {
        switch piece {
        case let .special(_, pieceIDs, typeID):
          outIDs += pieceIDs
          outTypes += repeatElement(typeID, count: pieceIDs.count)
          outSpecial += repeatElement(1, count: pieceIDs.count)
          outOffsets += repeatElement(TokenOffset(start: 0, end: 0), count: pieceIDs.count)
        case let .sequence(typeID):
          appendText(typeID: typeID)
        }
      }
    } else {
      appendText(typeID: 0)
    }
    return Encoding(ids: outIDs, typeIDs: outTypes, attentionMask: [Int32](repeating: 1, count: outIDs.count),
                    specialTokensMask: outSpecial, offsets: outOffsets, truncatedTokens: ids.count - kept.count)
  }

  /// Pads every encoding to the batch's target length.
  func pad(_ encodings: inout [Encoding], _ padding: Padding) {
    var target: Int
    switch padding.length {
    case .longest: target = encodings.reduce(0) { max($0, $1.count) }
    case .fixed(let length): target = length
    }
    if let multiple = padding.multiple, target % multiple != 0 { target += multiple - target % multiple }
    for index in encodings.indices where encodings[index].count < target {
      let missing = target - encodings[index].count
      var encoding = encodings[index]
      func extend(_ array: inout [Int32], _ value: Int32) {
        if padding.side == .right { array += repeatElement(value, count: missing) }
        else { array.insert(contentsOf: repeatElement(value, count: missing), at: 0) }
      }
      extend(&encoding.ids, padding.padID)
      extend(&encoding.typeIDs, padding.padTypeID)
      extend(&encoding.attentionMask, 0)
      extend(&encoding.specialTokensMask, 1)
      let zero = repeatElement(TokenOffset(start: 0, end: 0), count: missing)
      if padding.side == .right { encoding.offsets += zero } else { encoding.offsets.insert(contentsOf: zero, at: 0) }
      encodings[index] = encoding
    }
  }
}

extension Tokenizer {
  /// The text after the normaliser (what WordPiece sees, before the words are split):
  /// `normalized("Héllo\tWORLD")` is "hello world" for uncased BERT.
  public func normalized(_ text: String) -> String {
    var workspace = Workspace()
    workspace.load(text)
    normalizerEngine.normalize(0..<workspace.input.count, &workspace)
    return Tokenizer.string(workspace.normalized)
  }

  /// The token strings of an encoding's ids (`[CLS]`, "hello", "##s" …); ids the
  /// vocabulary and the added tokens do not know read "<id>".
  public func tokens(_ encoding: Encoding) -> [String] {
    encoding.ids.map { id in
      vocabulary.token(for: id) ?? addedTokens.first { $0.id == id }?.content ?? "<\(id)>"
    }
  }

  /// The words the pre-tokeniser makes of normalised text (for tests and debugging).
  func words(_ text: String) -> [String] {
    var workspace = Workspace()
    workspace.load(text)
    normalizerEngine.normalize(0..<workspace.input.count, &workspace)
    let normalized = workspace.normalized
    var words: [String] = []
    normalized.withUnsafeBufferPointer { buffer in
      forEachWord(0..<buffer.count, in: buffer) { range in words.append(Tokenizer.string(Array(normalized[range]))) }
    }
    return words
  }

  static func string(_ scalars: [UInt32]) -> String {
    var text = ""
    text.unicodeScalars.reserveCapacity(scalars.count)
    for code in scalars { if let scalar = Unicode.Scalar(code) { text.unicodeScalars.append(scalar) } }
    return text
  }
}
