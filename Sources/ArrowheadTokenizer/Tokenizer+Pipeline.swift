// The encoding pipeline of one text, on Unicode scalars (no per-character strings):
// added tokens in the raw text → BERT normaliser with alignments → added tokens in the
// normalised text → pre-tokeniser → WordPiece. It reproduces HF `tokenizers` step by step,
// including which original character each normalised one is aligned with (offsets).

extension Tokenizer {
  /// Tokenizes the scalars in `workspace.input` into `workspace.ids` / `.offsets`
  /// (the text's tokens, before truncation and the template).
  func tokenizeInput(_ workspace: inout Workspace) {
    workspace.ids.removeAll(keepingCapacity: true)
    workspace.offsets.removeAll(keepingCapacity: true)
    let matches = Tokenizer.matches(of: rawMatcher, in: workspace.input, data: unicode)
    Tokenizer.split(workspace.input.count, at: matches, plain: { tokenizeSegment($0, &workspace) }, added: { match in
      workspace.ids.append(match.id)
      workspace.offsets.append(TokenOffset(start: Int32(match.range.lowerBound), end: Int32(match.range.upperBound)))
    })
  }

  /// Normalises `input[range]` and tokenizes it (no raw added token inside).
  private func tokenizeSegment(_ range: Range<Int>, _ workspace: inout Workspace) {
    normalizerEngine.normalize(range, &workspace)
    let matches = Tokenizer.matches(of: normalizedMatcher, in: workspace.normalized, data: unicode)
    Tokenizer.split(workspace.normalized.count, at: matches, plain: { splitWords($0, &workspace) }, added: { match in
      workspace.ids.append(match.id)
      workspace.offsets.append(offset(match.range, workspace.origin))
    })
  }

  /// The added tokens `matcher` finds in `buffer` (none without allocating when it is empty).
  private static func matches(of matcher: AddedTokenMatcher, in buffer: [UInt32], data: BertUnicodeData) -> [AddedTokenMatcher.Match] {
    guard !matcher.isEmpty, !buffer.isEmpty else { return [] }
    var found: [AddedTokenMatcher.Match] = []
    buffer.withUnsafeBufferPointer { scalars in
      matcher.forEachMatch(in: scalars, range: 0..<scalars.count, data: data) { found.append($0) }
    }
    return found
  }

  /// Calls `plain` for each stretch of `0..<count` between `matches` and `added` for each
  /// match, in order.
  @inline(__always)
  private static func split(_ count: Int, at matches: [AddedTokenMatcher.Match], plain: (Range<Int>) -> Void,
                            added: (AddedTokenMatcher.Match) -> Void) {
    var position = 0
    for match in matches {
      if position < match.range.lowerBound { plain(position..<match.range.lowerBound) }
      added(match)
      position = match.range.upperBound
    }
    if position < count { plain(position..<count) }
  }

  /// The original span of normalised scalars `range`: HF takes the first one's start and
  /// the last one's end.
  @inline(__always)
  private func offset(_ range: Range<Int>, _ origin: [Int32]) -> TokenOffset {
    TokenOffset(start: origin[range.lowerBound], end: origin[range.upperBound - 1] + 1)
  }

  // MARK: Pre-tokeniser

  /// Splits `normalized[range]` into words (whitespace dropped, punctuation isolated) and
  /// runs WordPiece on each.
  private func splitWords(_ range: Range<Int>, _ workspace: inout Workspace) {
    let longest = vocabulary.longestToken
    if workspace.hashes.count < longest { workspace.hashes = [UInt64](repeating: 0, count: longest) }
    vocabulary.withLookup { lookup in
      prefixScalars.withUnsafeBufferPointer { prefix in
        workspace.normalized.withUnsafeBufferPointer { normalized in
          workspace.origin.withUnsafeBufferPointer { origin in
            workspace.hashes.withUnsafeMutableBufferPointer { hashes in
              let context = WordPieceContext(lookup: lookup, prefix: prefix, normalized: normalized, origin: origin,
                                             hashes: hashes, longest: longest)
              forEachWord(range, in: normalized) { word in
                wordPiece(word, context, &workspace.ids, &workspace.offsets)
              }
            }
          }
        }
      }
    }
  }

  /// Calls `body` with the range of each word of `normalized[range]` for the
  /// pre-tokeniser: whitespace ends a word and is dropped, a punctuation character is a
  /// word of its own.
  @inline(__always)
  func forEachWord(_ range: Range<Int>, in normalized: UnsafeBufferPointer<UInt32>, _ body: (Range<Int>) -> Void) {
    guard preTokenizer == .bert else {
      if !range.isEmpty { body(range) }
      return
    }
    var wordStart = -1
    var i = range.lowerBound
    while i < range.upperBound {
      let code = normalized[i]
      let isSpace: Bool
      let isPunctuation: Bool
      if code < 0x80 {
        let bits = Tokenizer.asciiClasses[Int(code)]
        isSpace = bits & 1 != 0
        isPunctuation = bits & 2 != 0
      } else {
        let flags = unicode.flags(code)
        isSpace = flags.contains(.whitespace)
        isPunctuation = flags.contains(.punctuation)
      }
      if isSpace || isPunctuation {
        if wordStart >= 0 {
          body(wordStart..<i)
          wordStart = -1
        }
        if isPunctuation { body(i..<(i + 1)) }
      } else if wordStart < 0 {
        wordStart = i
      }
      i += 1
    }
    if wordStart >= 0 { body(wordStart..<range.upperBound) }
  }

  /// Bit 0: whitespace, bit 1: punctuation, for ASCII (the same as the generated tables).
  static let asciiClasses: [UInt8] = (0..<128).map { code -> UInt8 in
    switch code {
    case 0x09...0x0D, 0x20: return 1
    case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return 2
    default: return 0
    }
  }

  // MARK: WordPiece

  /// What the WordPiece loop reads, as raw buffers valid during one segment.
  struct WordPieceContext {
    let lookup: Vocabulary.Lookup
    let prefix: UnsafeBufferPointer<UInt32>
    let normalized: UnsafeBufferPointer<UInt32>
    let origin: UnsafeBufferPointer<Int32>
    let hashes: UnsafeMutableBufferPointer<UInt64>
    let longest: Int
  }

  /// Greedy longest-match-first WordPiece of the word `normalized[range]`: from each
  /// position, the longest vocabulary piece (with the continuing prefix after the first);
  /// the whole word becomes the unknown token when it is longer than the maximum or some
  /// position has no piece. Candidates longer than the vocabulary's longest token are
  /// skipped (they cannot match), and the candidates' hashes are computed in one pass.
  @inline(__always)
  private func wordPiece(_ range: Range<Int>, _ context: WordPieceContext, _ ids: inout [Int32], _ offsets: inout [TokenOffset]) {
    let origin = context.origin
    let wordOffset = TokenOffset(start: origin[range.lowerBound], end: origin[range.upperBound - 1] + 1)
    if range.count > wordPieceOptions.maximumCharactersPerWord {
      ids.append(unknownID)
      offsets.append(wordOffset)
      return
    }
    let firstToken = ids.count
    let normalized = context.normalized
    let empty = UnsafeBufferPointer<UInt32>(start: nil, count: 0)
    var start = range.lowerBound
    while start < range.upperBound {
      let continuing = start > range.lowerBound
      let budget = context.longest - (continuing ? context.prefix.count : 0)
      let maximumEnd = min(range.upperBound, start + budget)
      var hash = continuing ? prefixHash : Vocabulary.seed
      var k = start
      while k < maximumEnd {
        hash = Vocabulary.mix(hash, normalized[k])
        context.hashes[k - start] = hash
        k += 1
      }
      var end = maximumEnd
      var found: Int32 = -1
      while end > start {
        let body = UnsafeBufferPointer(rebasing: normalized[start..<end])
        if let id = context.lookup.id(hash: context.hashes[end - start - 1], prefix: continuing ? context.prefix : empty, body: body) {
          found = id
          break
        }
        end -= 1
      }
      if found < 0 {
        // No piece from this position: the whole word is unknown.
        ids.removeSubrange(firstToken...)
        offsets.removeSubrange(firstToken...)
        ids.append(unknownID)
        offsets.append(wordOffset)
        return
      }
      ids.append(found)
      offsets.append(TokenOffset(start: origin[start], end: origin[end - 1] + 1))
      start = end
    }
  }
}
