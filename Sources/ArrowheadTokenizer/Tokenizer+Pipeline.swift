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
    let count = workspace.input.count
    guard count > 0 else { return }
    if rawMatcher.isEmpty {
      tokenizeSegment(0..<count, &workspace)
      return
    }
    var matches: [AddedTokenMatcher.Match] = []
    workspace.input.withUnsafeBufferPointer { input in
      rawMatcher.forEachMatch(in: input, range: 0..<count, data: unicode) { matches.append($0) }
    }
    var position = 0
    for match in matches {
      if position < match.range.lowerBound { tokenizeSegment(position..<match.range.lowerBound, &workspace) }
      workspace.ids.append(match.id)
      workspace.offsets.append(TokenOffset(start: Int32(match.range.lowerBound), end: Int32(match.range.upperBound)))
      position = match.range.upperBound
    }
    if position < count { tokenizeSegment(position..<count, &workspace) }
  }

  /// Normalises `input[range]` and tokenizes it (no raw added token inside).
  private func tokenizeSegment(_ range: Range<Int>, _ workspace: inout Workspace) {
    normalizerEngine.normalize(range, &workspace)
    let count = workspace.normalized.count
    guard count > 0 else { return }
    if normalizedMatcher.isEmpty {
      splitWords(0..<count, &workspace)
      return
    }
    var matches: [AddedTokenMatcher.Match] = []
    workspace.normalized.withUnsafeBufferPointer { normalized in
      normalizedMatcher.forEachMatch(in: normalized, range: 0..<count, data: unicode) { matches.append($0) }
    }
    var position = 0
    for match in matches {
      if position < match.range.lowerBound { splitWords(position..<match.range.lowerBound, &workspace) }
      workspace.ids.append(match.id)
      workspace.offsets.append(offset(match.range, workspace.origin))
      position = match.range.upperBound
    }
    if position < count { splitWords(position..<count, &workspace) }
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
    guard preTokenizer == .bert else {
      wordPiece(range, &workspace)
      return
    }
    let normalized = workspace.normalized
    forEachWord(range, in: normalized) { wordPiece($0, &workspace) }
  }

  /// Calls `body` with the range of each word of `normalized[range]` for the
  /// pre-tokeniser: whitespace ends a word and is dropped, a punctuation character is a
  /// word of its own.
  @inline(__always)
  func forEachWord(_ range: Range<Int>, in normalized: [UInt32], _ body: (Range<Int>) -> Void) {
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

  /// Greedy longest-match-first WordPiece of the word `normalized[range]`: from each
  /// position, the longest vocabulary piece (with the continuing prefix after the first);
  /// the whole word becomes the unknown token when it is longer than the maximum or some
  /// position has no piece. Candidates longer than the vocabulary's longest token are
  /// skipped (they cannot match), and the candidates' hashes are computed in one pass.
  private func wordPiece(_ range: Range<Int>, _ workspace: inout Workspace) {
    let wordOffset = offset(range, workspace.origin)
    if range.count > wordPieceOptions.maximumCharactersPerWord {
      workspace.ids.append(unknownID)
      workspace.offsets.append(wordOffset)
      return
    }
    let firstToken = workspace.ids.count
    var start = range.lowerBound
    let longest = vocabulary.longestToken
    let failed: Bool = workspace.normalized.withUnsafeBufferPointer { normalized in
      prefixScalars.withUnsafeBufferPointer { prefix in
        let empty = UnsafeBufferPointer<UInt32>(start: nil, count: 0)
        while start < range.upperBound {
          let continuing = start > range.lowerBound
          let budget = longest - (continuing ? prefix.count : 0)
          guard budget > 0 else { return true }
          let maximumEnd = min(range.upperBound, start + budget)
          var hash = continuing ? prefixHash : Vocabulary.seed
          workspace.hashes.removeAll(keepingCapacity: true)
          for k in start..<maximumEnd {
            hash = Vocabulary.mix(hash, normalized[k])
            workspace.hashes.append(hash)
          }
          var end = maximumEnd
          var found: Int32?
          while end > start {
            let body = UnsafeBufferPointer(rebasing: normalized[start..<end])
            if let id = vocabulary.lookup(hash: workspace.hashes[end - start - 1], prefix: continuing ? prefix : empty, body: body) {
              found = id
              break
            }
            end -= 1
          }
          guard let id = found else { return true }
          workspace.ids.append(id)
          workspace.offsets.append(TokenOffset(start: workspace.origin[start], end: workspace.origin[end - 1] + 1))
          start = end
        }
        return false
      }
    }
    if failed {
      workspace.ids.removeSubrange(firstToken...)
      workspace.offsets.removeSubrange(firstToken...)
      workspace.ids.append(unknownID)
      workspace.offsets.append(wordOffset)
    }
  }
}
