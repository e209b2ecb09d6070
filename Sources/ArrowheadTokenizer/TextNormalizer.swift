/// The BERT normaliser with alignments: which input character each output scalar comes
/// from, as HF `tokenizers` tracks it (offsets are computed from it).
struct TextNormalizer: Sendable {
  /// The options, or nil for "no normaliser" (the text passes unchanged).
  let options: BertNormalizerOptions?
  /// The character data.
  let unicode: BertUnicodeData

  /// Runs the BERT normaliser over `input[range]` into `normalized` / `origin`.
  ///
  /// Steps per character, as HF applies them one pass after another: clean (drop or map to
  /// a space), Chinese characters (surround with spaces), accent stripping (NFD with
  /// canonical reordering of combining marks, then drop non-spacing marks), lower-casing.
  /// Every output scalar remembers the input character it is aligned with; where NFD
  /// reorders marks, alignments stay with positions, not characters, as in HF.
  func normalize(_ range: Range<Int>, _ workspace: inout Workspace) {
    workspace.normalized.removeAll(keepingCapacity: true)
    workspace.origin.removeAll(keepingCapacity: true)
    workspace.normalized.reserveCapacity(range.count + 8)
    workspace.origin.reserveCapacity(range.count + 8)
    guard let options else {
      for i in range {
        workspace.normalized.append(workspace.input[i])
        workspace.origin.append(Int32(i))
      }
      return
    }
    let strip = options.stripsAccents
    let lowercase = options.lowercase
    workspace.lastOrigin = Int32(range.lowerBound)
    for i in range {
      var code = workspace.input[i]
      let origin = Int32(i)
      if code < 0x80 {
        // ASCII: no decomposition, no combining class, no CJK.
        if options.cleanText {
          if code == 0x09 || code == 0x0A || code == 0x0D { code = 0x20 }
          else if code < 0x20 || code == 0x7F { continue }
        }
        if strip {
          if !workspace.pendingScalars.isEmpty { flushMarks(&workspace, lowercase: lowercase) }
          workspace.lastOrigin = origin
        }
        if lowercase && code >= 0x41 && code <= 0x5A { code += 0x20 }
        workspace.normalized.append(code)
        workspace.origin.append(origin)
        continue
      }
      let flags = unicode.flags(code)
      if options.cleanText {
        if flags.contains(.removed) { continue }
        if flags.contains(.cleanSpace) { code = 0x20 }
      }
      if options.handleChineseCharacters && flags.contains(.chinese) {
        afterChinese(0x20, origin, strip: strip, lowercase: lowercase, &workspace)
        afterChinese(code, origin, strip: strip, lowercase: lowercase, &workspace)
        afterChinese(0x20, origin, strip: strip, lowercase: lowercase, &workspace)
      } else {
        afterChinese(code, origin, strip: strip, lowercase: lowercase, &workspace)
      }
    }
    if strip && !workspace.pendingScalars.isEmpty { flushMarks(&workspace, lowercase: lowercase) }
  }

  /// Accent stripping and lower-casing of one character.
  @inline(__always)
  private func afterChinese(_ code: UInt32, _ origin: Int32, strip: Bool, lowercase: Bool, _ workspace: inout Workspace) {
    guard strip else {
      emitLowercased(code, origin, lowercase: lowercase, &workspace)
      return
    }
    let flags = unicode.flags(code)
    if !flags.contains(.decomposes) && !flags.contains(.combining) {
      // A starter without decomposition: it ends the pending run of marks.
      if !workspace.pendingScalars.isEmpty { flushMarks(&workspace, lowercase: lowercase) }
      workspace.lastOrigin = origin
      if !flags.contains(.nonspacingMark) { emitLowercased(code, origin, lowercase: lowercase, &workspace) }
      return
    }
    var first = true
    unicode.forEachDecomposed(code) { part in
      let partClass = unicode.combiningClass(part)
      if partClass == 0 {
        if !workspace.pendingScalars.isEmpty { flushMarks(&workspace, lowercase: lowercase) }
        // A starter is never moved by reordering: it keeps the alignment it would have.
        let aligned = first ? origin : workspace.lastOrigin
        if first { workspace.lastOrigin = origin }
        if !unicode.flags(part).contains(.nonspacingMark) { emitLowercased(part, aligned, lowercase: lowercase, &workspace) }
      } else {
        workspace.pendingScalars.append(part)
        workspace.pendingClasses.append(partClass)
        workspace.pendingFirst.append(first)
        workspace.pendingOrigins.append(origin)
      }
      first = false
    }
  }

  /// Sorts the pending combining marks by class (stable), gives them alignments by
  /// position as HF's NFD transform does, drops non-spacing marks and emits the rest.
  private func flushMarks(_ workspace: inout Workspace, lowercase: Bool) {
    let count = workspace.pendingScalars.count
    var sorted = true
    for i in 1..<max(count, 1) where workspace.pendingClasses[i - 1] > workspace.pendingClasses[i] {
      sorted = false
      break
    }
    var order = Array(0..<count)
    if !sorted {
      // Stable insertion sort (runs of marks are short).
      for i in 1..<count {
        let moving = order[i]
        var j = i
        while j > 0 && workspace.pendingClasses[order[j - 1]] > workspace.pendingClasses[moving] {
          order[j] = order[j - 1]
          j -= 1
        }
        order[j] = moving
      }
    }
    // The k-th "first" scalar in output order consumes the k-th input character; the
    // others take the alignment of the last input character consumed.
    var consumed: [Int32] = []
    for i in 0..<count where workspace.pendingFirst[i] { consumed.append(workspace.pendingOrigins[i]) }
    var next = 0
    var last = workspace.lastOrigin
    for index in order {
      let aligned: Int32
      if workspace.pendingFirst[index] {
        aligned = consumed[next]
        next += 1
        last = aligned
      } else {
        aligned = last
      }
      let part = workspace.pendingScalars[index]
      if !unicode.flags(part).contains(.nonspacingMark) { emitLowercased(part, aligned, lowercase: lowercase, &workspace) }
    }
    workspace.lastOrigin = last
    workspace.pendingScalars.removeAll(keepingCapacity: true)
    workspace.pendingClasses.removeAll(keepingCapacity: true)
    workspace.pendingFirst.removeAll(keepingCapacity: true)
    workspace.pendingOrigins.removeAll(keepingCapacity: true)
  }

  @inline(__always)
  private func emitLowercased(_ code: UInt32, _ origin: Int32, lowercase: Bool, _ workspace: inout Workspace) {
    if lowercase && unicode.flags(code).contains(.hasLowercase) {
      unicode.forEachLowercased(code) { lowered in
        workspace.normalized.append(lowered)
        workspace.origin.append(origin)
      }
    } else {
      workspace.normalized.append(code)
      workspace.origin.append(origin)
    }
  }

}
