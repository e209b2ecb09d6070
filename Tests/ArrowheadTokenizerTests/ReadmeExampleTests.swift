import ArrowheadTokenizer
import Foundation
import Testing

/// The example at the top of Sources/ArrowheadTokenizer/README.md, verbatim but for the
/// prints turned into expectations: if it stops compiling or its comments lie, this fails.
/// It needs the real all-MiniLM-L6-v2 folder (skipped without it); it always compiles.
@Test(.enabled(if: Fixtures.miniLMFolder != nil, "\(MiniLMSkip.message)"))
func readmeExampleRunsAsDocumented() throws {
  let modelFolder = try #require(Fixtures.miniLMFolder)

  // A model folder: tokenizer.json (or vocab.txt) and the sentence-transformers configs.
  let tokenizer = try Tokenizer(modelDirectory: modelFolder)
  let encoding = tokenizer.encode("Héllo, wörld! 東京")
  #expect(encoding.ids == [101, 7592, 1010, 2088, 999, 1879, 1755, 102])
  #expect(tokenizer.tokens(encoding) == ["[CLS]", "hello", ",", "world", "!", "東", "京", "[SEP]"])
  #expect(encoding.offsets.map(\.description) == ["(0, 0)", "(0, 5)", "(5, 6)", "(7, 12)", "(12, 13)", "(14, 15)", "(15, 16)", "(0, 0)"])

  // A batch: truncated to the model's maximum (256 tokens for all-MiniLM-L6-v2), padded to
  // its longest text, on two threads.
  let batch = tokenizer.encode(["first text", "a second, longer text"], threads: 2)
  let ids = batch.idMatrix()         // 2 × 7, row-major: [101, 2034, 3793, 102, 0, 0, 0, 101, 1037, …]
  let mask = batch.attentionMatrix() // [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
  #expect(batch.truncatedCount == 0)
  #expect(tokenizer.maximumLength == 256)
  #expect(ids == [101, 2034, 3793, 102, 0, 0, 0, 101, 1037, 2117, 1010, 2936, 3793, 102])
  #expect(mask == [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
}

/// The same calls on the committed tiny tokenizer, so the API of the example also runs
/// offline.
@Test func readmeExampleShapeOnTheTinyTokenizer() throws {
  let tokenizer = try Tokenizer(modelDirectory: Fixtures.tinyVocabFolder)
  let encoding = tokenizer.encode("Héllo, wörld! 東京")
  #expect(tokenizer.tokens(encoding) == ["[CLS]", "hello", ",", "world", "!", "東", "京", "[SEP]"])
  let batch = tokenizer.encode(["hello", "hello, world"], threads: 2)
  #expect(batch.idMatrix() == [2, 13, 3, 0, 0, 2, 13, 6, 14, 3])
  #expect(batch.attentionMatrix() == [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
}

/// The README's example is the code above: every line of its ```swift block other than
/// the prints (which the test turns into expectations) appears in this file.
@Test func readmeExampleIsTheTestedCode() throws {
  let readmePath = Fixtures.folder.replacingOccurrences(of: "Tests/ArrowheadTokenizerTests/Fixtures", with: "Sources/ArrowheadTokenizer/README.md")
  let readme = try String(contentsOfFile: readmePath, encoding: .utf8)
  let test = try String(contentsOfFile: #filePath, encoding: .utf8)
  let block = try #require(readme.components(separatedBy: "```swift\n").dropFirst().first?.components(separatedBy: "```").first)
  let lines = block.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    .filter { !$0.isEmpty && !$0.hasPrefix("print(") && $0 != "import ArrowheadTokenizer" }
  #expect(lines.count >= 6)
  for line in lines { #expect(test.contains(line), "README line not in the test: \(line)") }
}
