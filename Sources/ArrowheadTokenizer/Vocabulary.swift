/// A WordPiece vocabulary: token strings and their ids, with a hash table over Unicode
/// scalars so that the tokenizer looks up pieces of a word without building strings.
///
/// Tokens are stored back to back as scalars; an open-addressing table (linear probing,
/// load ≤ 0.5) maps the FNV-1a hash of a token's scalars to its entry. A lookup of a
/// continuation piece hashes the prefix ("##") and the piece as one sequence, so
/// "##ing" is found from the word's scalars without a copy.
public struct Vocabulary: Sendable, Equatable {
  /// Scalars of every token, back to back.
  private var scalars: [UInt32] = []
  /// Per entry: start in `scalars`, length, id, full hash.
  private var starts: [Int32] = []
  private var lengths: [Int32] = []
  private var ids: [Int32] = []
  private var hashes: [UInt64] = []
  /// Open-addressing table of entry numbers (−1: empty).
  private var slots: [Int32] = []
  private var mask = 0
  /// Entry number per id (−1 where no token has that id).
  private var entryOfID: [Int32] = []
  /// The longest token, in scalars.
  private(set) var longestToken = 0

  /// The number of tokens.
  public var count: Int { ids.count }

  /// Builds a vocabulary from (token, id) pairs. A token that appears twice keeps the last
  /// id (as Python's dict and HF `tokenizers` do for `vocab.txt`); ids must be ≥ 0.
  init(_ pairs: [(token: String, id: Int32)]) {
    var entryOfToken: [String: Int] = [:]
    entryOfToken.reserveCapacity(pairs.count)
    for (token, id) in pairs {
      if let existing = entryOfToken[token] {
        ids[existing] = id
        continue
      }
      entryOfToken[token] = ids.count
      let start = scalars.count
      for scalar in token.unicodeScalars { scalars.append(scalar.value) }
      let length = scalars.count - start
      starts.append(Int32(start))
      lengths.append(Int32(length))
      ids.append(id)
      longestToken = max(longestToken, length)
      var hash = Vocabulary.seed
      for i in start..<scalars.count { hash = Vocabulary.mix(hash, scalars[i]) }
      hashes.append(hash)
    }
    var capacity = 16
    while capacity < 2 * ids.count { capacity <<= 1 }
    slots = [Int32](repeating: -1, count: capacity)
    mask = capacity - 1
    for entry in 0..<ids.count {
      var slot = Vocabulary.slot(hashes[entry], mask)
      while slots[slot] >= 0 { slot = (slot + 1) & mask }
      slots[slot] = Int32(entry)
    }
    let largestID = Int(ids.max() ?? -1)
    entryOfID = [Int32](repeating: -1, count: largestID + 1)
    for entry in 0..<ids.count { entryOfID[Int(ids[entry])] = Int32(entry) }
  }

  /// The id of `token`, or nil.
  public func id(for token: String) -> Int32? {
    let key = token.unicodeScalars.map(\.value)
    return key.withUnsafeBufferPointer { buffer in
      var hash = Vocabulary.seed
      for scalar in buffer { hash = Vocabulary.mix(hash, scalar) }
      return lookup(hash: hash, prefix: UnsafeBufferPointer(start: nil, count: 0), body: buffer)
    }
  }

  /// The token with id `id`, or nil.
  public func token(for id: Int32) -> String? {
    guard id >= 0, Int(id) < entryOfID.count else { return nil }
    let entry = Int(entryOfID[Int(id)])
    guard entry >= 0 else { return nil }
    var text = ""
    for i in Int(starts[entry])..<Int(starts[entry] + lengths[entry]) {
      if let scalar = Unicode.Scalar(scalars[i]) { text.unicodeScalars.append(scalar) }
    }
    return text
  }

  /// Every (token, id) pair, in the order they were given (first occurrence).
  public var tokens: [(token: String, id: Int32)] {
    (0..<ids.count).compactMap { entry in token(for: ids[entry]).map { ($0, ids[entry]) } }
  }

  /// Equal when they hold the same tokens with the same ids.
  public static func == (lhs: Vocabulary, rhs: Vocabulary) -> Bool {
    lhs.scalars == rhs.scalars && lhs.starts == rhs.starts && lhs.ids == rhs.ids
  }

  // MARK: Hashing (internal: the WordPiece loop hashes incrementally)

  static let seed: UInt64 = 0xcbf2_9ce4_8422_2325

  @inline(__always)
  static func mix(_ hash: UInt64, _ scalar: UInt32) -> UInt64 {
    (hash ^ UInt64(scalar)) &* 0x0000_0100_0000_01b3
  }

  @inline(__always)
  static func slot(_ hash: UInt64, _ mask: Int) -> Int {
    var h = hash ^ (hash >> 29)
    h = h &* 0xbf58_476d_1ce4_e5b9
    return Int(truncatingIfNeeded: h >> 32) & mask
  }

  /// The id of the token whose scalars are `prefix` followed by `body`, given the hash of
  /// that concatenation, or nil.
  @inline(__always)
  func lookup(hash: UInt64, prefix: UnsafeBufferPointer<UInt32>, body: UnsafeBufferPointer<UInt32>) -> Int32? {
    let total = prefix.count + body.count
    var slot = Vocabulary.slot(hash, mask)
    return slots.withUnsafeBufferPointer { slots in
      scalars.withUnsafeBufferPointer { stored in
        while true {
          let entry = Int(slots[slot])
          if entry < 0 { return nil }
          if hashes[entry] == hash && Int(lengths[entry]) == total {
            let start = Int(starts[entry])
            var equal = true
            for i in 0..<prefix.count where stored[start + i] != prefix[i] { equal = false; break }
            if equal {
              let bodyStart = start + prefix.count
              for i in 0..<body.count where stored[bodyStart + i] != body[i] { equal = false; break }
            }
            if equal { return ids[entry] }
          }
          slot = (slot + 1) & mask
        }
      }
    }
  }
}
