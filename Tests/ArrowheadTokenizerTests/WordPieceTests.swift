@testable import ArrowheadTokenizer
import Testing

/// Pre-tokeniser and WordPiece on the tiny fixture, expectations computed by hand (and
/// identical to HF `tokenizers` on the same file).
@Suite("pre-tokeniser and WordPiece")
struct WordPieceTests {
  @Test func preTokenizerSplitsOnWhitespaceAndIsolatesPunctuation() throws {
    let tiny = try Fixtures.tiny()
    #expect(tiny.words("Hello, world!") == ["hello", ",", "world", "!"])
    #expect(tiny.words("a+b=c $5 ^_^ `x` |y| ~z") == ["a", "+", "b", "=", "c", "$", "5", "^", "_", "^", "`", "x", "`", "|", "y", "|", "~", "z"])
    #expect(tiny.words("¿qué? «no» a—b") == ["¿", "que", "?", "«", "no", "»", "a", "—", "b"])
    #expect(tiny.words("  tab\tand\u{3000}ideographic  ") == ["tab", "and", "ideographic"])
    // U+2E43 (Unicode 11) is punctuation in Python 3.11, not in HF's older tables: one word.
    #expect(tiny.words("a\u{2E43}b") == ["a\u{2E43}b"])
    #expect(tiny.words("東京") == ["東", "京"])
  }

  @Test func greedyLongestMatchFirst() throws {
    let tiny = try Fixtures.tiny()
    func pieces(_ text: String) -> [String] { tiny.tokens(tiny.encode(text, addSpecialTokens: false)) }
    #expect(pieces("unaffable") == ["un", "##aff", "##able"])
    #expect(pieces("runs running") == ["run", "##s", "run", "##n", "##ing"])
    #expect(pieces("Hello, World!") == ["hello", ",", "world", "!"])
    #expect(pieces("Café") == ["cafe"])
    // A word with a position no piece matches becomes [UNK] whole, spanning the word.
    let unknown = tiny.encode("unknownword", addSpecialTokens: false)
    #expect(unknown.ids == [1])
    #expect(unknown.offsets == [TokenOffset(start: 0, end: 11)])
  }

  @Test func wordsLongerThanTheMaximumAreUnknown() throws {
    let tiny = try Fixtures.tiny()  // max_input_chars_per_word = 12
    let twelve = tiny.encode(String(repeating: "a", count: 12), addSpecialTokens: false)
    #expect(twelve.ids == [10] + [Int32](repeating: 26, count: 11))  // a ##a ×11
    let thirteen = tiny.encode(String(repeating: "a", count: 13), addSpecialTokens: false)
    #expect(thirteen.ids == [1])
    #expect(thirteen.offsets == [TokenOffset(start: 0, end: 13)])
    // The length counts normalised characters: 12 "é" strip to 12 "e" (kept), while
    // 13 decomposed "e" + U+0301 (26 scalars) normalise to 13 "e" (unknown).
    #expect(tiny.encode(String(repeating: "é", count: 12), addSpecialTokens: false).ids.count == 12)
    #expect(tiny.encode(String(repeating: "e\u{301}", count: 13), addSpecialTokens: false).ids == [1])
  }

  @Test func addedTokensInTheTextStayWhole() throws {
    let tiny = try Fixtures.tiny()
    let encoding = tiny.encode("a [SEP] b")
    #expect(encoding.ids == [2, 10, 3, 11, 3])
    #expect(encoding.offsets.map(\.start) == [0, 0, 2, 8, 0])
    #expect(encoding.offsets.map(\.end) == [0, 1, 7, 9, 0])
    // Raw matching is case-sensitive: "[sep]" is punctuation and a word.
    #expect(tiny.encode("[sep]", addSpecialTokens: false).ids == [40, 1, 41])
    #expect(tiny.encode("x[SEP]x", addSpecialTokens: false).ids == [31, 3, 31])
  }

  @Test func vocabularyLookups() throws {
    let vocabulary = try Fixtures.tiny().vocabulary
    #expect(vocabulary.count == 48)
    #expect(vocabulary.id(for: "##able") == 17)
    #expect(vocabulary.id(for: "able") == nil)
    #expect(vocabulary.token(for: 22) == "東")
    #expect(vocabulary.token(for: 48) == nil)
    #expect(vocabulary.token(for: -1) == nil)
  }
}
