import ArrowheadTokenizer
import Testing

/// Padding lengths a Swift caller may set: absurd ones get `.invalidLength`, never an
/// overflow trap or an allocation failure when a batch is encoded.
@Suite struct TokenizerPublicAPIBadInputTests {
  @Test func paddingBeyondTheMaximumIsRefused() throws {
    var tokenizer = try Fixtures.tiny()
    let maximum = Tokenizer.maximumPaddingLength
    for length in [maximum + 1, 1 << 40, Int.max] {
      #expect(throws: TokenizerError.invalidLength(length, reason: "a fixed padding length must be in 1…\(maximum)")) {
        try tokenizer.setPadding(Padding(length: .fixed(length), multiple: 2))
      }
      #expect(throws: TokenizerError.invalidLength(length, reason: "pad_to_multiple_of must be in 1…\(maximum)")) {
        try tokenizer.setPadding(Padding(multiple: length))
      }
    }
    #expect(tokenizer.padding == nil)
    try tokenizer.setPadding(Padding(length: .fixed(5), multiple: 4))
    #expect(tokenizer.encode(["a"]).length == 8)
  }
}
