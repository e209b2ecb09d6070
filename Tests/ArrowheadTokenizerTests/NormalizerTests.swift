@testable import ArrowheadTokenizer
import Testing

/// The BERT normaliser, step by step, on hand-computed cases (the tiny fixture's
/// vocabulary does not matter here: only the normaliser runs).
@Suite("BERT normaliser")
struct NormalizerTests {
  /// The scalars of a string. Strings are compared scalar by scalar: Swift's `==` on
  /// String is canonical equivalence, which would call "한" equal to its three jamo.
  func scalars(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

  /// A tokenizer with the tiny vocabulary and the given normaliser options.
  func tokenizer(_ options: BertNormalizerOptions?) throws -> Tokenizer {
    let tiny = try Fixtures.tiny()
    return try Tokenizer(vocabulary: tiny.vocabulary, normalizer: options, preTokenizer: .bert,
                         wordPiece: tiny.wordPieceOptions, addedTokens: [], template: [], truncation: nil, padding: nil)
  }

  @Test func cleanTextRemovesControlAndFormatCharactersAndMapsWhitespace() throws {
    let clean = try tokenizer(BertNormalizerOptions(cleanText: true, handleChineseCharacters: false, stripAccents: false, lowercase: false))
    // NUL, BEL, ESC, DEL, C1 controls, zero-width space, soft hyphen, BOM, U+FFFD,
    // private use: removed. Tab, LF, CR, NBSP, U+3000, U+2028: a space. VT, FF and NEL are
    // control characters first (removed), not whitespace.
    #expect(scalars(clean.normalized("a\u{0}b\u{7}c\u{1B}d\u{7F}e\u{80}\u{9F}f")) == scalars("abcdef"))
    #expect(scalars(clean.normalized("zero\u{200B}width soft\u{AD}hyphen\u{FEFF}bom\u{FFFD}x\u{E000}y")) == scalars("zerowidth softhyphenbomxy"))
    #expect(scalars(clean.normalized("t\ta\nb\rc\u{A0}d\u{3000}e\u{2028}f")) == scalars("t a b c d e f"))
    #expect(scalars(clean.normalized("v\u{0B}f\u{0C}n\u{85}x")) == scalars("vfnx"))
    // Unassigned code points and emoji stay.
    #expect(scalars(clean.normalized("\u{378}🥰")) == scalars("\u{378}🥰"))
    let raw = try tokenizer(BertNormalizerOptions(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: false))
    #expect(scalars(raw.normalized("a\u{0}b\tc")) == scalars("a\u{0}b\tc"))
  }

  @Test func chineseCharactersAreSurroundedBySpaces() throws {
    let on = try tokenizer(BertNormalizerOptions(cleanText: false, handleChineseCharacters: true, stripAccents: false, lowercase: false))
    #expect(scalars(on.normalized("東京タワー")) == scalars(" 東  京 タワー"))  // katakana is not a CJK ideograph
    #expect(scalars(on.normalized("a𠀀b")) == scalars("a 𠀀 b"))  // extension B
    let off = try tokenizer(BertNormalizerOptions(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: false))
    #expect(scalars(off.normalized("東京")) == scalars("東京"))
  }

  @Test func accentStrippingDecomposesAndDropsNonspacingMarks() throws {
    let strip = try tokenizer(BertNormalizerOptions(cleanText: false, handleChineseCharacters: false, stripAccents: true, lowercase: false))
    #expect(scalars(strip.normalized("Héllo wörld Çà")) == scalars("Hello world Ca"))
    #expect(scalars(strip.normalized("e\u{301}cole")) == scalars("ecole"))       // already decomposed
    #expect(scalars(strip.normalized("\u{212B}")) == scalars("A"))               // Ångström sign → A + ring
    #expect(scalars(strip.normalized("한")) == scalars("\u{1112}\u{1161}\u{11AB}"))  // Hangul → jamo (not marks)
    #expect(scalars(strip.normalized("ﬁ ß")) == scalars("ﬁ ß"))                  // compatibility forms stay
    // Musical symbols are spacing marks (kept) with combining classes 216 and 226: NFD
    // puts the 216 one first.
    #expect(scalars(strip.normalized("a\u{1D16D}\u{1D165}")) == scalars("a\u{1D165}\u{1D16D}"))
  }

  @Test func lowercasingUsesFullMappingsAfterStripping() throws {
    let lower = try tokenizer(BertNormalizerOptions(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: true))
    #expect(scalars(lower.normalized("HELLO Ωμέγα ΣΊΣΥΦΟΣ")) == scalars("hello ωμέγα σίσυφοσ"))  // no final-sigma rule
    #expect(scalars(lower.normalized("İ")) == scalars("i\u{307}"))                                 // one character → two
    // strip_accents: null follows lowercase: the dot above is stripped before lowering.
    let uncased = try tokenizer(BertNormalizerOptions(stripAccents: nil, lowercase: true))
    #expect(scalars(uncased.normalized("İstanbul Éé")) == scalars("istanbul ee"))
    let cased = try tokenizer(BertNormalizerOptions(stripAccents: nil, lowercase: false))
    #expect(scalars(cased.normalized("İstanbul Éé")) == scalars("İstanbul Éé"))
  }

  @Test func offsetsPointAtTheOriginalCharacters() throws {
    let tiny = try Fixtures.tiny()
    // "e" + U+0301 + "cole": the mark is removed, the token spans the original 6 scalars.
    #expect(tiny.encode("e\u{301}cole", addSpecialTokens: false).offsets == [TokenOffset(start: 0, end: 6)])
    // Removed controls leave gaps: "a\0b" → a (0,1), ##b (2,3).
    #expect(tiny.encode("a\u{0}b", addSpecialTokens: false).offsets == [TokenOffset(start: 0, end: 1), TokenOffset(start: 2, end: 3)])
    // "İ" lower-cases to two scalars when accents are kept: both tokens point at İ.
    let keep = try Tokenizer(vocabulary: tiny.vocabulary, normalizer: BertNormalizerOptions(stripAccents: false, lowercase: true),
                             preTokenizer: .bert, wordPiece: tiny.wordPieceOptions, addedTokens: [], template: [],
                             truncation: nil, padding: nil)
    let dotted = keep.encode("İ", addSpecialTokens: false)
    #expect(keep.tokens(dotted).map(scalars) == [[0x69], [0x23, 0x23, 0x307]])
    #expect(dotted.offsets == [TokenOffset(start: 0, end: 1), TokenOffset(start: 0, end: 1)])
  }
}
