import ArrowheadTokenizer
import Testing

/// The `[CLS] … [SEP]` template, truncation and batch padding on the tiny fixture.
@Suite("template, truncation, padding")
struct TemplateTruncationPaddingTests {
  @Test func templateWrapsTheText() throws {
    let tiny = try Fixtures.tiny()
    #expect(tiny.specialTokenCount == 2)
    let encoding = tiny.encode("Hello, World!")
    #expect(encoding.ids == [2, 13, 6, 14, 5, 3])
    #expect(encoding.typeIDs == [0, 0, 0, 0, 0, 0])
    #expect(encoding.attentionMask == [1, 1, 1, 1, 1, 1])
    #expect(encoding.specialTokensMask == [1, 0, 0, 0, 0, 1])
    #expect(encoding.offsets.map(\.description) == ["(0, 0)", "(0, 5)", "(5, 6)", "(7, 12)", "(12, 13)", "(0, 0)"])
    #expect(tiny.encode("Hello", addSpecialTokens: false).ids == [13])
    // Empty and emptied texts give the special tokens alone.
    #expect(tiny.encode("").ids == [2, 3])
    #expect(tiny.encode(" \u{0}\u{200B} ").ids == [2, 3])
  }

  @Test func truncationKeepsTheSpecialTokens() throws {
    var tiny = try Fixtures.tiny()
    try tiny.setTruncation(Truncation(maximumLength: 4))
    let right = tiny.encode("hello world hello")
    #expect(right.ids == [2, 13, 14, 3])
    #expect(right.truncatedTokens == 1)
    #expect(right.wasTruncated)
    #expect(tiny.encode("hello world").truncatedTokens == 0)
    try tiny.setTruncation(Truncation(maximumLength: 4, side: .left))
    #expect(tiny.encode("hello world hello").ids == [2, 14, 13, 3])
    // Without special tokens the whole budget is text.
    try tiny.setTruncation(Truncation(maximumLength: 3))
    #expect(tiny.encode("hello world hello world", addSpecialTokens: false).ids == [13, 14, 13])
    // A maximum that cannot hold [CLS] [SEP] and one token is refused.
    #expect(throws: TokenizerError.invalidLength(2, reason: "the maximum length must exceed the 2 special tokens of the template")) {
      try tiny.setTruncation(Truncation(maximumLength: 2))
    }
  }

  @Test func batchesArePaddedWithMasks() throws {
    var tiny = try Fixtures.tiny()
    try tiny.setPadding(Padding(length: .longest))
    let batch = tiny.encode(["hello", "hello world", ""])
    #expect(batch.length == 4)
    #expect(batch.idMatrix() == [2, 13, 3, 0, 2, 13, 14, 3, 2, 3, 0, 0])
    #expect(batch.attentionMatrix() == [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0])
    #expect(batch.encodings[0].specialTokensMask == [1, 0, 1, 1])
    #expect(batch.encodings[0].offsets.last == TokenOffset(start: 0, end: 0))
    try tiny.setPadding(Padding(length: .fixed(6), multiple: 4, padID: 0))
    #expect(tiny.encode(["hello"]).encodings[0].count == 8)
    try tiny.setPadding(Padding(length: .longest, side: .left, padID: 4, padTypeID: 1))
    let left = tiny.encode(["hello", "hello world"]).encodings[0]
    #expect(left.ids == [4, 2, 13, 3])
    #expect(left.typeIDs == [1, 0, 0, 0])
    #expect(left.attentionMask == [0, 1, 1, 1])
    #expect(throws: TokenizerError.self) { try tiny.setPadding(Padding(length: .fixed(0))) }
    #expect(throws: TokenizerError.self) { try tiny.setPadding(Padding(multiple: 0)) }
  }

  @Test func batchesOnSeveralThreadsMatchOneThread() throws {
    var tiny = try Fixtures.tiny()
    try tiny.setTruncation(Truncation(maximumLength: 6))
    let texts = (0..<500).map { i in String(repeating: "hello world ", count: i % 7) + (i % 3 == 0 ? "unaffable" : "東京") }
    let one = tiny.encode(texts, threads: 1)
    let two = tiny.encode(texts, threads: 2)
    #expect(one == two)
    // More threads than the pool has run as its maximum (`Int.max` overflowed `threads · 16`).
    #expect(tiny.encode(texts, threads: Int.max) == one)
    #expect(one.encodings.map(\.ids) == texts.map { tiny.encode($0).ids })
    #expect(one.truncatedCount == texts.filter { tiny.encode($0).wasTruncated }.count)
    #expect(one.truncatedCount > 0)
  }
}
