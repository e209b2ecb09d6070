/// The token ids of many texts, back to back in one array: what the streaming
/// `SentenceEncoder.encode` keeps of the texts between tokenizing them and running their
/// batches.
///
/// Ids take 2 bytes each when the vocabulary has at most 65 536 tokens (every BERT
/// WordPiece vocabulary: MiniLM's has 30 522), else 4; one offset (8 bytes) per text. For
/// the 10 000-text corpus (644 105 tokens) that is 1.4 MB, against ~3.3 MB for the texts'
/// strings and ~17 MiB for the tokenizer's whole output (ids, type ids, masks, offsets).
struct TokenStore: Sendable, Equatable {
  /// Ids when they fit in 16 bits (nil otherwise).
  private var narrow: [UInt16]?
  /// Ids when the vocabulary is larger (nil otherwise).
  private var wide: [Int32]?
  /// Start of each text's ids (count + 1 entries; the last is the total).
  private(set) var offsets: [Int]

  /// An empty store for ids below `vocabularySize`, with room reserved for `texts` texts.
  init(vocabularySize: Int, texts: Int = 0) {
    if vocabularySize <= Int(UInt16.max) + 1 {
      narrow = []
    } else {
      wide = []
    }
    offsets = [0]
    offsets.reserveCapacity(texts + 1)
  }

  /// Texts stored.
  var count: Int { offsets.count - 1 }
  /// Ids stored, all texts together.
  var tokenCount: Int { offsets[offsets.count - 1] }
  /// Bytes per id (2 or 4).
  var bytesPerID: Int { narrow == nil ? 4 : 2 }
  /// Bytes of ids held, counting the arrays' spare capacity.
  var idBytes: Int { (narrow?.capacity ?? 0) * 2 + (wide?.capacity ?? 0) * 4 }
  /// The number of ids of each text.
  var lengths: [Int] { (0..<count).map { offsets[$0 + 1] - offsets[$0] } }

  /// Appends one text's ids, each in `0..<vocabularySize` (checked by the caller).
  mutating func append<C: Collection>(_ ids: C) where C.Element: BinaryInteger {
    if narrow != nil {
      narrow?.append(contentsOf: ids.lazy.map { UInt16(truncatingIfNeeded: $0) })
    } else {
      wide?.append(contentsOf: ids.lazy.map { Int32(truncatingIfNeeded: $0) })
    }
    offsets.append(tokenCount + ids.count)
  }

  /// Drops the spare capacity the appends left (up to as much again as the ids).
  mutating func shrinkToFit() {
    if let ids = narrow { narrow = nil; narrow = ids.withUnsafeBufferPointer { Array($0) } }
    if let ids = wide { wide = nil; wide = ids.withUnsafeBufferPointer { Array($0) } }
  }

  /// The ids of text `index`.
  func ids(of index: Int) -> [Int32] {
    let range = offsets[index]..<offsets[index + 1]
    if let narrow { return narrow[range].map { Int32($0) } }
    return Array(wide?[range] ?? [])
  }
}
