/// Finds added tokens in a scalar buffer the way HF `tokenizers` does: leftmost-longest,
/// non-overlapping, scanning on from the end of each match, with the tokens'
/// `singleWord`, `leftStrip` and `rightStrip` rules.
struct AddedTokenMatcher: Sendable {
  /// A token to find.
  struct Pattern: Sendable {
    var scalars: [UInt32]
    var id: Int32
    var leftStrip: Bool
    var rightStrip: Bool
    var singleWord: Bool
  }

  /// Longest first within each first scalar.
  private var patterns: [Pattern] = []
  /// Bit i set when some pattern starts with ASCII scalar i.
  private var asciiFirst: (UInt64, UInt64) = (0, 0)
  /// Pattern indices by first scalar (longest first).
  private var byFirst: [UInt32: [Int]] = [:]

  /// Whether there is nothing to find.
  var isEmpty: Bool { patterns.isEmpty }

  init(_ patterns: [Pattern]) {
    self.patterns = patterns.filter { !$0.scalars.isEmpty }
    for (index, pattern) in self.patterns.enumerated() {
      let first = pattern.scalars[0]
      byFirst[first, default: []].append(index)
      if first < 64 { asciiFirst.0 |= 1 << first } else if first < 128 { asciiFirst.1 |= 1 << (first - 64) }
    }
    for key in byFirst.keys {
      byFirst[key]?.sort { self.patterns[$0].scalars.count > self.patterns[$1].scalars.count }
    }
  }

  /// A found token: its id and the range it covers (strips included).
  struct Match {
    var id: Int32
    var range: Range<Int>
  }

  /// Calls `body` for each match in `buffer[range]`, left to right.
  func forEachMatch(in buffer: UnsafeBufferPointer<UInt32>, range: Range<Int>, data: BertUnicodeData,
                    _ body: (Match) -> Void) {
    guard !patterns.isEmpty else { return }
    var position = range.lowerBound
    var consumedUpTo = range.lowerBound
    while position < range.upperBound {
      let scalar = buffer[position]
      let candidate: Bool
      if scalar < 64 { candidate = asciiFirst.0 & (1 << scalar) != 0 }
      else if scalar < 128 { candidate = asciiFirst.1 & (1 << (scalar - 64)) != 0 }
      else { candidate = byFirst[scalar] != nil }
      guard candidate, let indices = byFirst[scalar] else { position += 1; continue }
      var matched: Pattern?
      for index in indices {
        let pattern = patterns[index]
        let end = position + pattern.scalars.count
        guard end <= range.upperBound else { continue }
        var equal = true
        for k in 1..<pattern.scalars.count where buffer[position + k] != pattern.scalars[k] { equal = false; break }
        if equal { matched = pattern; break }
      }
      guard let pattern = matched else { position += 1; continue }
      var start = position
      var stop = position + pattern.scalars.count
      position = stop  // the scan goes on after the match, used or not
      if pattern.singleWord {
        let wordBefore = start > range.lowerBound && isWordCharacter(buffer[start - 1])
        let wordAfter = stop < range.upperBound && isWordCharacter(buffer[stop])
        if wordBefore || wordAfter { continue }
      }
      if pattern.leftStrip {
        while start > consumedUpTo && data.flags(buffer[start - 1]).contains(.whitespace) { start -= 1 }
      }
      if pattern.rightStrip {
        while stop < range.upperBound && data.flags(buffer[stop]).contains(.whitespace) { stop += 1 }
      }
      body(Match(id: pattern.id, range: start..<stop))
      consumedUpTo = stop
    }
  }

  /// A regex `\w` character (what `tokenizers` tests for `single_word`): alphabetic,
  /// a mark, a decimal digit, connector punctuation ("_") or a join control (ZWJ, ZWNJ).
  /// Uses Swift's Unicode tables, which may differ from the `regex` crate's on characters
  /// assigned recently.
  private func isWordCharacter(_ code: UInt32) -> Bool {
    guard let scalar = Unicode.Scalar(code) else { return false }
    if scalar.properties.isAlphabetic || code == 0x200C || code == 0x200D { return true }
    switch scalar.properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
  }
}
