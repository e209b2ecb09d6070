import Arrowhead
import ArrowheadEncoder
import ArrowheadTestSupport
import Testing

/// The example at the top of Sources/ArrowheadEncoder/README.md, verbatim but for the
/// model folder and the comments turned into expectations: if it stops compiling or its
/// comments lie, this fails. Needs the MiniLM package (skipped otherwise).
@Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
func readmeExampleRunsAsDocumented() throws {
  let folder = MiniLMFolder.path!
  let encoder = try SentenceEncoder(folder: folder, engine: .default)
  let texts = ["A man is eating food.", "Someone is having a meal.", "The stock market fell sharply."]
  let embeddings = try encoder.encode(texts)          // Matrix, 3 × 384, rows of unit length
  let d = encoder.dimension
  let row = { (i: Int) in embeddings.elements[i * d..<(i + 1) * d] }
  let similar = zip(row(0), row(1)).reduce(0) { $0 + $1.0 * $1.1 }     // cosine ≈ 0.69
  let unrelated = zip(row(0), row(2)).reduce(0) { $0 + $1.0 * $1.1 }   // cosine ≈ 0

  #expect(embeddings.rows == 3 && embeddings.columns == 384)
  #expect(abs(similar - 0.689) < 0.001, "similar: \(similar)")  // sentence-transformers: 0.68883
  #expect(abs(unrelated - -0.0044) < 0.001, "unrelated: \(unrelated)")  // sentence-transformers: -0.00438
  for i in 0..<3 { #expect(abs(row(i).reduce(0) { $0 + $1 * $1 } - 1) < 1e-5) }

  // Batch size, threads, a progress callback, and how many texts were cut at 256 tokens:
  let result = try encoder.encodeReporting(
    texts, options: EncodingOptions(batchSize: 64, threads: 2), progress: { done in print("+\(done)") })
  print(result.truncatedTexts, result.tokenCount)
  #expect(result.truncatedTexts.isEmpty && result.tokenCount == 8 + 8 + 8)
  #expect(result.embeddings == embeddings)
}

/// The example of the README's "Quantized weights" section, verbatim but for the model
/// folders (the stored one: the tiny BERT quantized by `ModelQuantizer`, INT4 g64; the
/// calibrated one: a tiny BERT).
@Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
func readmeQuantizedExampleRunsAsDocumented() throws {
  let (quantizedFolder, _) = try QuantizedEncoderTests.quantizedFolder(TinyBert(seed: 31), bits: 4, label: "readme")
  // The calibrated example runs on the tiny BERT (GPTQ over MiniLM's 36 matrices takes a
  // minute or more, too long for the suite; Benchmarks/peers/embed_compare.py runs it).
  let tinyFolder = try TinyBert(seed: 34).write(to: try temporaryDirectory("readme-calibrated"))
  // INT8 weights quantized on load; int8 activations (W8A8) by default.
  let int8 = try SentenceEncoder(folder: MiniLMFolder.path!, weights: .int8)
  // INT4 (g64, grid optimizer), here with Float32 activations instead of W4A8:
  let int4 = try SentenceEncoder(folder: MiniLMFolder.path!, weights: .int4, activations: .weightOnly)
  // A folder whose model.safetensors is an Arrowhead quantized file (`arrowhead quantize`):
  let stored = try SentenceEncoder(folder: quantizedFolder.path)            // weights: .automatic
  print(int8.activations as Any, stored.weightFormat)
  // INT4 calibrated by GPTQ on the model's hidden states over texts like the ones to embed
  // (not the ones evaluated on), the value projections kept at INT8 (mixed precision):
  let calibrated = try SentenceEncoder(
    folder: tinyFolder.path, weights: .int4, calibration: ["A man is eating food.", "Someone is having a meal."],
    int8Matrices: [.value])
  print(calibrated.isCalibrated, calibrated.int8Matrices)   // true [value]

  #expect(calibrated.isCalibrated && calibrated.int8Matrices == [.value])
  #expect(int8.activations == .int8 && int4.activations == .weightOnly)
  #expect(stored.weightFormat == .automatic && stored.activations == .int8)
}
