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
  /// One token: its full hash, where its scalars are, its id.
  struct Entry: Equatable {
    var hash: UInt64
    var start: Int32
    var length: Int32
    var id: Int32
  }
  /// The tokens, in the order given.
  private var entries: [Entry] = []
  /// Open-addressing table: the high 32 bits of the entry's hash (a tag that settles most
  /// misses without reading the entry) and its number + 1 in the low 32 bits; 0 = empty.
  private var slots: [UInt64] = []
  private var mask = 0
  /// Entry number per id (−1 where no token has that id), for ids below 4·count + 1024
  /// (every real vocabulary: ids 0 ..< count).
  private var entryOfID: [Int32] = []
  /// Entry number per id for ids too sparse for `entryOfID`: a tokenizer.json may give any
  /// id up to Int32.max, and one such id made a 2³¹-entry table (8 GiB, 26 s to load).
  private var sparseEntryOfID: [Int32: Int32] = [:]
  /// The longest token, in scalars.
  private(set) var longestToken = 0

  /// The number of tokens.
  public var count: Int { entries.count }

  /// Bytes of the id → token tables (approximate for the sparse one).
  var idTableBytes: Int { entryOfID.capacity * MemoryLayout<Int32>.stride + sparseEntryOfID.capacity * 9 }

  /// Bytes of the token scalars and entries held (the arrays' capacity, spare room
  /// included).
  var tokenStorageBytes: Int {
    scalars.capacity * MemoryLayout<UInt32>.stride + entries.capacity * MemoryLayout<Entry>.stride
  }

  /// Builds a vocabulary from (token, id) pairs. A token that appears twice keeps the last
  /// id (as Python's dict and HF `tokenizers` do for `vocab.txt`); ids must be ≥ 0.
  init(_ pairs: [(token: String, id: Int32)]) {
    var entryOfToken: [String: Int] = [:]
    entryOfToken.reserveCapacity(pairs.count)
    // Exact room (growing by appends left up to as much again unused: 0.3 MB for MiniLM).
    entries.reserveCapacity(pairs.count)
    scalars.reserveCapacity(pairs.reduce(0) { $0 + $1.token.unicodeScalars.count })
    for (token, id) in pairs {
      if let existing = entryOfToken[token] {
        entries[existing].id = id
        continue
      }
      entryOfToken[token] = entries.count
      let start = scalars.count
      for scalar in token.unicodeScalars { scalars.append(scalar.value) }
      let length = scalars.count - start
      longestToken = max(longestToken, length)
      var hash = Vocabulary.seed
      for i in start..<scalars.count { hash = Vocabulary.mix(hash, scalars[i]) }
      entries.append(Entry(hash: hash, start: Int32(start), length: Int32(length), id: id))
    }
    var capacity = 16
    while capacity < 2 * entries.count { capacity <<= 1 }
    slots = [UInt64](repeating: 0, count: capacity)
    mask = capacity - 1
    for (number, entry) in entries.enumerated() {
      var slot = Vocabulary.slot(entry.hash, mask)
      while slots[slot] != 0 { slot = (slot + 1) & mask }
      slots[slot] = (entry.hash & 0xFFFF_FFFF_0000_0000) | UInt64(number + 1)
    }
    let largestID = Int(entries.map(\.id).max() ?? -1)
    let denseIDs = Swift.min(largestID + 1, 4 * entries.count + 1024)
    entryOfID = [Int32](repeating: -1, count: denseIDs)
    for (number, entry) in entries.enumerated() {
      if Int(entry.id) < denseIDs {
        entryOfID[Int(entry.id)] = Int32(number)
      } else {
        sparseEntryOfID[entry.id] = Int32(number)
      }
    }
  }

  /// The id of `token`, or nil.
  public func id(for token: String) -> Int32? {
    let key = token.unicodeScalars.map(\.value)
    return key.withUnsafeBufferPointer { buffer in
      var hash = Vocabulary.seed
      for scalar in buffer { hash = Vocabulary.mix(hash, scalar) }
      return withLookup { $0.id(hash: hash, prefix: UnsafeBufferPointer(start: nil, count: 0), body: buffer) }
    }
  }

  /// The token with id `id`, or nil.
  public func token(for id: Int32) -> String? {
    guard id >= 0 else { return nil }
    let number = Int(id) < entryOfID.count ? Int(entryOfID[Int(id)]) : Int(sparseEntryOfID[id] ?? -1)
    guard number >= 0 else { return nil }
    let entry = entries[number]
    var text = ""
    for i in Int(entry.start)..<Int(entry.start + entry.length) {
      if let scalar = Unicode.Scalar(scalars[i]) { text.unicodeScalars.append(scalar) }
    }
    return text
  }

  /// Every (token, id) pair, in the order they were given (first occurrence).
  public var tokens: [(token: String, id: Int32)] {
    entries.compactMap { entry in token(for: entry.id).map { ($0, entry.id) } }
  }

  /// Equal when they hold the same tokens with the same ids.
  public static func == (lhs: Vocabulary, rhs: Vocabulary) -> Bool {
    lhs.scalars == rhs.scalars && lhs.entries == rhs.entries
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

  /// Calls `body` with a view for fast look-ups, valid during the call.
  func withLookup<Result>(_ body: (Lookup) -> Result) -> Result {
    slots.withUnsafeBufferPointer { slots in
      entries.withUnsafeBufferPointer { entries in
        scalars.withUnsafeBufferPointer { scalars in
          body(Lookup(slots: slots, entries: entries, scalars: scalars, mask: mask))
        }
      }
    }
  }

  /// The vocabulary's tables as raw buffers (no reference counting, no bounds checks in
  /// the WordPiece loop).
  struct Lookup {
    let slots: UnsafeBufferPointer<UInt64>
    let entries: UnsafeBufferPointer<Entry>
    let scalars: UnsafeBufferPointer<UInt32>
    let mask: Int

    /// The id of the token whose scalars are `prefix` followed by `body`, given the hash
    /// of that concatenation, or nil.
    @inline(__always)
    func id(hash: UInt64, prefix: UnsafeBufferPointer<UInt32>, body: UnsafeBufferPointer<UInt32>) -> Int32? {
      let total = prefix.count + body.count
      let tag = hash & 0xFFFF_FFFF_0000_0000
      var slot = Vocabulary.slot(hash, mask)
      while true {
        let value = slots[slot]
        if value == 0 { return nil }
        if value & 0xFFFF_FFFF_0000_0000 == tag, case let entry = entries[Int(truncatingIfNeeded: value & 0xFFFF_FFFF) - 1],
           entry.hash == hash && Int(entry.length) == total {
          let start = Int(entry.start)
          var equal = true
          for i in 0..<prefix.count where scalars[start + i] != prefix[i] { equal = false; break }
          if equal {
            let bodyStart = start + prefix.count
            for i in 0..<body.count where scalars[bodyStart + i] != body[i] { equal = false; break }
          }
          if equal { return entry.id }
        }
        slot = (slot + 1) & mask
      }
    }
  }
}
