// Character classes and mappings of the BERT normaliser and pre-tokeniser, built once from
// the tables in BertUnicodeData.swift (probed from HF `tokenizers`, see that file).

/// The Unicode data the BERT normaliser and pre-tokeniser use, with O(1) lookups.
///
/// Every code point has a 16-bit set of `Flag`s, found through a two-stage table (the high
/// bits of the code point pick a 256-entry block, identical blocks are stored once: about
/// 40 KiB in all). Decompositions and lower-case mappings of the few code points that
/// have them live in small dictionaries keyed by code point.
struct BertUnicodeData: Sendable {
  /// One bit per character class.
  struct Flag: OptionSet, Sendable {
    let rawValue: UInt16
    /// `clean_text` removes the character (control, format, private use, U+0000, U+FFFD).
    static let removed = Flag(rawValue: 1 << 0)
    /// `clean_text` replaces the character by a space.
    static let cleanSpace = Flag(rawValue: 1 << 1)
    /// The pre-tokeniser splits on the character and drops it.
    static let whitespace = Flag(rawValue: 1 << 2)
    /// The pre-tokeniser makes the character a word of its own.
    static let punctuation = Flag(rawValue: 1 << 3)
    /// `handle_chinese_chars` surrounds the character with spaces.
    static let chinese = Flag(rawValue: 1 << 4)
    /// Accent stripping removes the character (after NFD).
    static let nonspacingMark = Flag(rawValue: 1 << 5)
    /// The character has a canonical decomposition (Hangul syllables included).
    static let decomposes = Flag(rawValue: 1 << 6)
    /// Lower-casing changes the character.
    static let hasLowercase = Flag(rawValue: 1 << 7)
    /// The canonical combining class is not 0 (NFD may reorder the character).
    static let combining = Flag(rawValue: 1 << 8)
  }

  /// The shared instance (immutable; built on first use).
  static let shared = BertUnicodeData()

  /// Stage 1: block number for each 256-code-point block (0x110000 / 256 = 4352 blocks).
  private let blockIndex: [UInt16]
  /// Stage 2: the distinct blocks, 256 flag sets each.
  private let blocks: [UInt16]
  /// Scalars of every decomposition and lower-case mapping, back to back.
  private let mappedScalars: [UInt32]
  /// Code point → (offset, count) into `mappedScalars`: full canonical decompositions.
  private let decompositionRanges: [UInt32: (Int32, Int32)]
  /// Code point → (offset, count) into `mappedScalars`: lower-case mappings.
  private let lowercaseRanges: [UInt32: (Int32, Int32)]
  /// Canonical combining classes other than 0.
  private let combiningClassOf: [UInt32: UInt8]

  private init() {
    var flags = [UInt16](repeating: 0, count: 0x110000)
    func mark(_ text: String, _ flag: Flag) {
      BertUnicodeData.forEachRange(text) { range, _ in
        for code in range { flags[Int(code)] |= flag.rawValue }
      }
    }
    mark(Self.removed, .removed)
    mark(Self.spaces, .cleanSpace)
    mark(Self.whitespace, .whitespace)
    mark(Self.punctuation, .punctuation)
    mark(Self.chinese, .chinese)
    mark(Self.nonspacingMarks, .nonspacingMark)
    for code in Self.hangulFirst...Self.hangulLast { flags[Int(code)] |= Flag.decomposes.rawValue }

    var scalars: [UInt32] = []
    var decompositions: [UInt32: (Int32, Int32)] = [:]
    var lowercase: [UInt32: (Int32, Int32)] = [:]
    BertUnicodeData.forEachMapping(Self.decompositions) { code, mapped in
      decompositions[code] = (Int32(scalars.count), Int32(mapped.count))
      scalars += mapped
      flags[Int(code)] |= Flag.decomposes.rawValue
    }
    BertUnicodeData.forEachMapping(Self.lowercase) { code, mapped in
      lowercase[code] = (Int32(scalars.count), Int32(mapped.count))
      scalars += mapped
      flags[Int(code)] |= Flag.hasLowercase.rawValue
    }
    var classes: [UInt32: UInt8] = [:]
    BertUnicodeData.forEachRange(Self.combiningClasses) { range, value in
      for code in range {
        classes[code] = UInt8(truncatingIfNeeded: value)
        flags[Int(code)] |= Flag.combining.rawValue
      }
    }

    // Two-stage compression: identical 256-entry blocks are stored once.
    var index = [UInt16](repeating: 0, count: 0x110000 >> 8)
    var distinct: [UInt16] = []
    var seen: [[UInt16]: UInt16] = [:]
    for block in 0..<index.count {
      let slice = Array(flags[(block << 8)..<((block + 1) << 8)])
      if let existing = seen[slice] {
        index[block] = existing
      } else {
        let number = UInt16(distinct.count >> 8)
        seen[slice] = number
        distinct += slice
        index[block] = number
      }
    }
    blockIndex = index
    blocks = distinct
    mappedScalars = scalars
    decompositionRanges = decompositions
    lowercaseRanges = lowercase
    combiningClassOf = classes
  }

  /// The flags of a code point (0 for values past U+10FFFF).
  @inline(__always)
  func flags(_ code: UInt32) -> Flag {
    guard code < 0x110000 else { return [] }
    let block = Int(blockIndex[Int(code >> 8)])
    return Flag(rawValue: blocks[(block << 8) | Int(code & 0xFF)])
  }

  /// The canonical combining class (0 for starters).
  @inline(__always)
  func combiningClass(_ code: UInt32) -> UInt8 {
    flags(code).contains(.combining) ? (combiningClassOf[code] ?? 0) : 0
  }

  /// Calls `body` with each scalar of the full canonical decomposition of `code`
  /// (Hangul syllables algorithmically); `code` itself when it does not decompose.
  @inline(__always)
  func forEachDecomposed(_ code: UInt32, _ body: (UInt32) -> Void) {
    if code >= Self.hangulFirst && code <= Self.hangulLast {
      let index = code - Self.hangulFirst
      body(0x1100 + index / 588)
      body(0x1161 + (index % 588) / 28)
      let trail = index % 28
      if trail != 0 { body(0x11A7 + trail) }
      return
    }
    guard let (offset, count) = decompositionRanges[code] else { body(code); return }
    for i in Int(offset)..<Int(offset + count) { body(mappedScalars[i]) }
  }

  /// Calls `body` with each scalar of the lower-case mapping of `code` (`code` itself when
  /// lower-casing does not change it).
  @inline(__always)
  func forEachLowercased(_ code: UInt32, _ body: (UInt32) -> Void) {
    guard let (offset, count) = lowercaseRanges[code] else { body(code); return }
    for i in Int(offset)..<Int(offset + count) { body(mappedScalars[i]) }
  }

  static let hangulFirst: UInt32 = 0xAC00
  static let hangulLast: UInt32 = 0xD7A3

  // MARK: Parsing the generated tables

  /// Calls `body(range, value)` for each "a", "a-b", "a:v" or "a-b:v" word (hex).
  private static func forEachRange(_ text: String, _ body: (ClosedRange<UInt32>, UInt32) -> Void) {
    for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
      let parts = word.split(separator: ":")
      let bounds = parts[0].split(separator: "-")
      let low = UInt32(bounds[0], radix: 16) ?? 0
      let high = bounds.count > 1 ? (UInt32(bounds[1], radix: 16) ?? low) : low
      let value = parts.count > 1 ? (UInt32(parts[1], radix: 16) ?? 0) : 0
      body(low...high, value)
    }
  }

  /// Calls `body(code, scalars)` for each "c:x,y,…" word (hex).
  private static func forEachMapping(_ text: String, _ body: (UInt32, [UInt32]) -> Void) {
    for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
      let parts = word.split(separator: ":")
      guard parts.count == 2, let code = UInt32(parts[0], radix: 16) else { continue }
      body(code, parts[1].split(separator: ",").compactMap { UInt32($0, radix: 16) })
    }
  }
}
