/// Where a token came from in the original text: a half-open range of Unicode scalar
/// indices (Python `str` indices, as HF `tokenizers`' Python API reports them).
///
/// Special and padding tokens have `0..<0`. A token made from part of a character
/// ("i̇" from "İ") points at the whole character; a word longer than the maximum, which
/// becomes the unknown token, points at the whole word.
public struct TokenOffset: Sendable, Equatable, Hashable, CustomStringConvertible {
  /// First scalar index.
  public var start: Int32
  /// One past the last scalar index.
  public var end: Int32

  /// Creates an offset.
  public init(start: Int32, end: Int32) {
    self.start = start
    self.end = end
  }

  /// "(start, end)", as Python prints a tuple.
  public var description: String { "(\(start), \(end))" }
}

/// The tokens of one text.
///
/// All arrays have one element per token. Ids are `Int32` because that is what models
/// take (and half the memory of `Int`).
public struct Encoding: Sendable, Equatable {
  /// Token ids.
  public var ids: [Int32]
  /// Token type (segment) ids: 0 for a single text.
  public var typeIDs: [Int32]
  /// 1 for real tokens, 0 for padding.
  public var attentionMask: [Int32]
  /// 1 for special tokens (template and padding), 0 for the text's tokens.
  public var specialTokensMask: [Int32]
  /// Where each token came from (see `TokenOffset`).
  public var offsets: [TokenOffset]
  /// How many of the text's tokens truncation removed (0: none).
  public var truncatedTokens: Int

  /// Creates an encoding from its arrays (they must have the same count).
  public init(ids: [Int32], typeIDs: [Int32], attentionMask: [Int32], specialTokensMask: [Int32],
              offsets: [TokenOffset], truncatedTokens: Int = 0) {
    self.ids = ids
    self.typeIDs = typeIDs
    self.attentionMask = attentionMask
    self.specialTokensMask = specialTokensMask
    self.offsets = offsets
    self.truncatedTokens = truncatedTokens
  }

  /// An encoding without tokens.
  public static let empty = Encoding(ids: [], typeIDs: [], attentionMask: [], specialTokensMask: [], offsets: [])

  /// The number of tokens (padding included).
  public var count: Int { ids.count }

  /// Whether truncation removed tokens.
  public var wasTruncated: Bool { truncatedTokens > 0 }
}

/// The encodings of a batch of texts, padded to a common length when the tokenizer pads.
public struct TokenBatch: Sendable, Equatable {
  /// One encoding per text, in input order.
  public var encodings: [Encoding]
  /// The number of texts that truncation shortened.
  public var truncatedCount: Int {
    encodings.reduce(0) { $0 + ($1.wasTruncated ? 1 : 0) }
  }
  /// The longest encoding's token count (every encoding's, once padded).
  public var length: Int { encodings.reduce(0) { max($0, $1.count) } }

  /// Creates a batch.
  public init(encodings: [Encoding]) {
    self.encodings = encodings
  }

  /// The ids as a row-major `count × length` matrix, rows padded with `padID` when they
  /// are shorter than `length` (which they are not once padded).
  public func idMatrix(padID: Int32 = 0) -> [Int32] { matrix(\.ids, fill: padID) }

  /// The attention masks as a row-major `count × length` matrix (0 beyond a row's end).
  public func attentionMatrix() -> [Int32] { matrix(\.attentionMask, fill: 0) }

  /// The type ids as a row-major `count × length` matrix (`fill` beyond a row's end).
  public func typeIDMatrix(fill: Int32 = 0) -> [Int32] { matrix(\.typeIDs, fill: fill) }

  private func matrix(_ field: KeyPath<Encoding, [Int32]>, fill: Int32) -> [Int32] {
    let columns = length
    var out = [Int32](repeating: fill, count: encodings.count * columns)
    for (row, encoding) in encodings.enumerated() {
      let values = encoding[keyPath: field]
      for (column, value) in values.enumerated() { out[row * columns + column] = value }
    }
    return out
  }
}
