/// The options of the BERT normaliser (`"normalizer": {"type": "BertNormalizer", …}`).
///
/// Steps, in this order, each on every character: `cleanText` removes control, format and
/// private-use characters, U+0000 and U+FFFD, and turns whitespace into spaces;
/// `handleChineseCharacters` puts spaces around CJK ideographs (so each becomes a word);
/// accent stripping decomposes (NFD) and removes non-spacing marks; `lowercase`
/// lower-cases (full mappings: "İ" becomes "i̇").
public struct BertNormalizerOptions: Sendable, Equatable {
  /// Remove control characters and map whitespace to spaces.
  public var cleanText: Bool
  /// Surround CJK ideographs with spaces.
  public var handleChineseCharacters: Bool
  /// Strip accents; nil means "when `lowercase` is on" (HF's `strip_accents: null`).
  public var stripAccents: Bool?
  /// Lower-case.
  public var lowercase: Bool

  /// Creates options; the defaults are those of HF `tokenizers` and of uncased BERT.
  public init(cleanText: Bool = true, handleChineseCharacters: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
    self.cleanText = cleanText
    self.handleChineseCharacters = handleChineseCharacters
    self.stripAccents = stripAccents
    self.lowercase = lowercase
  }

  /// Whether accents are stripped once `stripAccents: nil` is resolved.
  public var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// How normalised text is split into words before WordPiece.
public enum PreTokenizer: Sendable, Equatable {
  /// BERT's: split on whitespace (dropped) and make every punctuation character a word
  /// of its own (ASCII punctuation, which includes `$+<=>^`|~`, and Unicode P*).
  case bert
  /// No pre-tokeniser: each text (or each part between added tokens) is one word.
  case none
}

/// The WordPiece model's options.
public struct WordPieceOptions: Sendable, Equatable {
  /// The token of words that cannot be split into vocabulary pieces.
  public var unknownToken: String
  /// Marks a piece that continues a word ("##").
  public var continuingSubwordPrefix: String
  /// Words with more characters (after normalisation) become the unknown token whole.
  public var maximumCharactersPerWord: Int

  /// Creates options (BERT's defaults).
  public init(unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##", maximumCharactersPerWord: Int = 100) {
    self.unknownToken = unknownToken
    self.continuingSubwordPrefix = continuingSubwordPrefix
    self.maximumCharactersPerWord = maximumCharactersPerWord
  }
}

/// A token matched in the text before WordPiece (HF's "added tokens": `[CLS]`, `[SEP]`,
/// `[MASK]` … and any token added after training).
///
/// An added token found in the input becomes its own id whatever WordPiece would have
/// done with it: "a [SEP] b" encodes `[SEP]` as one token. Tokens with `normalized: false`
/// are matched in the raw text, case-sensitively; the others in the normalised text.
public struct AddedToken: Sendable, Equatable {
  /// The text matched.
  public var content: String
  /// Its id.
  public var id: Int32
  /// Whether it is a special token (`[CLS]`, `[PAD]` …).
  public var isSpecial: Bool
  /// Matched in the normalised text (true) or in the raw text (false).
  public var normalized: Bool
  /// Also takes the whitespace before it.
  public var leftStrip: Bool
  /// Also takes the whitespace after it.
  public var rightStrip: Bool
  /// Matched only as a whole word (no letter, digit, mark or "_" right before or after it).
  public var singleWord: Bool

  /// Creates an added token.
  public init(content: String, id: Int32, isSpecial: Bool = true, normalized: Bool = false,
              leftStrip: Bool = false, rightStrip: Bool = false, singleWord: Bool = false) {
    self.content = content
    self.id = id
    self.isSpecial = isSpecial
    self.normalized = normalized
    self.leftStrip = leftStrip
    self.rightStrip = rightStrip
    self.singleWord = singleWord
  }
}

/// One element of a single-sequence template (`[CLS] $A [SEP]`).
public enum TemplatePiece: Sendable, Equatable {
  /// A special token: its name and the ids it stands for, with a type id.
  case special(name: String, ids: [Int32], typeID: Int32)
  /// The text's tokens, with a type id.
  case sequence(typeID: Int32)
}

/// Where truncation removes tokens, and where padding adds them.
public enum SequenceSide: String, Sendable, Equatable {
  /// At the end (HF "Right"): truncation keeps the first tokens.
  case right
  /// At the start (HF "Left"): truncation keeps the last tokens.
  case left
}

/// Truncation to a maximum number of tokens (special tokens included).
public struct Truncation: Sendable, Equatable {
  /// The most tokens of an encoding, special tokens included.
  public var maximumLength: Int
  /// Which end loses tokens.
  public var side: SequenceSide

  /// Creates a truncation rule.
  public init(maximumLength: Int, side: SequenceSide = .right) {
    self.maximumLength = maximumLength
    self.side = side
  }
}

/// Padding of a batch to a common length.
public struct Padding: Sendable, Equatable {
  /// The length a batch is padded to.
  public enum Length: Sendable, Equatable {
    /// The longest encoding of the batch.
    case longest
    /// A fixed length (longer encodings are not cut: that is truncation's job).
    case fixed(Int)
  }

  /// The target length.
  public var length: Length
  /// Which end receives the padding.
  public var side: SequenceSide
  /// Rounds the target length up to a multiple of this (nil: no rounding).
  public var multiple: Int?
  /// The id of padding tokens.
  public var padID: Int32
  /// The type id of padding tokens.
  public var padTypeID: Int32
  /// The padding token's text.
  public var padToken: String

  /// Creates a padding rule (BERT's defaults: `[PAD]` = 0 on the right, to the longest).
  public init(length: Length = .longest, side: SequenceSide = .right, multiple: Int? = nil,
              padID: Int32 = 0, padTypeID: Int32 = 0, padToken: String = "[PAD]") {
    self.length = length
    self.side = side
    self.multiple = multiple
    self.padID = padID
    self.padTypeID = padTypeID
    self.padToken = padToken
  }
}
