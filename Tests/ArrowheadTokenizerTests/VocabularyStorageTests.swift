@testable import ArrowheadTokenizer
import Testing

/// The vocabulary's token storage is sized to its tokens, not grown by doubling.
@Suite("vocabulary storage")
struct VocabularyStorageTests {
  /// 3 000 tokens of 1…10 scalars (some outside ASCII): the scalars and entries take their
  /// exact size (up to the allocator's 16-byte rounding per array), every token is found.
  @Test func tokenStorageIsExact() {
    let pairs: [(token: String, id: Int32)] = (0..<3_000).map { index in
      let length = 1 + index % 10
      let token = String(String.UnicodeScalarView((0..<length).map { Unicode.Scalar(UInt8(97 + ($0 * 7 + index) % 26)) }))
        + (index % 3 == 0 ? "é\(index)" : "\(index)")
      return (token, Int32(index))
    }
    let vocabulary = Vocabulary(pairs)
    let scalars = pairs.reduce(0) { $0 + $1.token.unicodeScalars.count }
    let exact = scalars * 4 + pairs.count * MemoryLayout<Vocabulary.Entry>.stride
    #expect(vocabulary.count == 3_000)
    #expect(vocabulary.tokenStorageBytes >= exact)
    #expect(vocabulary.tokenStorageBytes <= exact + 32)
    #expect(vocabulary.id(for: pairs[2_345].token) == 2_345)
    #expect(vocabulary.token(for: 1_234) == pairs[1_234].token)
  }
}
