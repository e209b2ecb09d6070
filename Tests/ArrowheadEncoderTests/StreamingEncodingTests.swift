import Arrowhead
import ArrowheadCore
@testable import ArrowheadEncoder
import ArrowheadIO
import ArrowheadTestSupport
import ArrowheadTokenizer
import Foundation
import Testing

/// The streaming `SentenceEncoder.encode(_:options:progress:rows:)`: the texts' tokens and
/// embeddings are never all held, yet the batches and so the values are those of
/// `encodeReporting` and `encode(tokenIDs:)`.
@Suite("Streaming text encoding")
struct StreamingEncodingTests {
  /// 45 texts of 2…24 tokens (three truncated at the tiny model's 24 positions, one empty).
  static let texts: [String] = (0..<45).map { index in
    let words = ["the", "big", "red", "cat", "sat", "on", "a", "mat", "dogs", "run", "fast"]
    if index == 7 { return "" }
    let count = index % 9 == 4 ? 30 : 1 + index * 7 % 13
    return (0..<count).map { words[($0 + index) % words.count] }.joined(separator: " ")
  }

  /// Each batch's rows reassembled into input order are bit for bit the matrix of
  /// `encodeReporting` (and of `encode(tokenIDs:)` on the tokenizer's ids), at 1 and 2
  /// threads and both parallelisms, with the first pass cut into chunks of 8 texts; each
  /// text comes exactly once, and at 1 thread the batches come longest first.
  @Test(arguments: [(EncoderParallelism.acrossBatches, 1), (.acrossBatches, 2), (.insideProducts, 2)])
  func streamedRowsAreTheRowsOfTheWholeEncoding(parallelism: EncoderParallelism, threads: Int) throws {
    let folder = try TinyBert(seed: 51).write(to: try temporaryDirectory("tiny-stream"))
    let encoder = try SentenceEncoder(folder: folder.path, weights: .int8)
    let options = EncodingOptions(batchSize: 4, threads: threads, parallelism: parallelism)
    let whole = try encoder.encodeReporting(Self.texts, options: options)
    let ids = encoder.tokenizer.encode(Self.texts).encodings.map { $0.ids.map(Int.init) }
    #expect(whole.embeddings == (try encoder.encode(tokenIDs: ids, options: options)))

    let width = encoder.dimension
    var gathered = [Float](repeating: .nan, count: Self.texts.count * width)
    var seen = [Int](repeating: 0, count: Self.texts.count)
    var batchLengths: [Int] = []
    let summary = try encoder.encode(Self.texts, options: options, progress: nil, lengthPassTexts: 8) { (rows, batch) throws(Never) in
      #expect(batch.rows == rows.count && batch.columns == width)
      for (index, row) in rows.enumerated() {
        seen[row] += 1
        gathered[row * width..<(row + 1) * width] = batch.elements[index * width..<(index + 1) * width]
      }
      batchLengths.append(ids[rows[0]].count)
    }
    #expect(seen.allSatisfy { $0 == 1 })
    #expect(gathered == whole.embeddings.elements)
    #expect(summary == EncodingSummary(truncatedTexts: whole.truncatedTexts, tokenCount: whole.tokenCount))
    #expect(summary.truncatedTexts == [4, 13, 22, 31, 40])
    #expect(batchLengths.count == 12)
    if threads == 1 { #expect(batchLengths == batchLengths.sorted(by: >)) }
  }

  /// The streaming example of Sources/ArrowheadEncoder/README.md, verbatim but for the
  /// model folder and the output path: the file holds the rows of `encodeReporting`.
  @Test func readmeStreamingExampleWritesTheEmbeddings() throws {
    let folder = try TinyBert(seed: 54).write(to: try temporaryDirectory("tiny-stream"))
    let encoder = try SentenceEncoder(folder: folder.path)
    let path = try temporaryDirectory("stream-npy").appendingPathComponent("embeddings.npy").path

    // Embeddings straight into a .npy file, batch by batch (what `arrowhead embed` does):
    // neither all the texts' tokens nor all the embeddings are held at once.
    let many = (0..<1000).map { "text number \($0)" }
    try NPYFile.writeFloat32(rows: many.count, columns: encoder.dimension, to: path) {
      (file: NPYFile.RowWriter) throws(StreamedEncodingFailure<VectorFileError>) in
      let summary = try encoder.encode(many) { (rows, batch) throws(VectorFileError) in
        for (i, row) in rows.enumerated() {
          try file.write(batch.elements[i * batch.columns..<(i + 1) * batch.columns], rows: row..<row + 1)
        }
      }
      print(summary.tokenCount, summary.truncatedTexts)
    }

    #expect(try NPYFile.readFloat32(path).elements == (try encoder.encodeReporting(many)).embeddings.elements)
  }

  struct Stop: Error, Equatable {}

  /// The first error of the receiving code ends the run: no batch is handed over after
  /// it, at 1 or 2 threads.
  @Test(arguments: [1, 2])
  func aConsumerErrorStopsTheRun(threads: Int) throws {
    let folder = try TinyBert(seed: 52).write(to: try temporaryDirectory("tiny-stream"))
    let encoder = try SentenceEncoder(folder: folder.path)
    var calls = 0
    do {
      _ = try encoder.encode(Self.texts, options: EncodingOptions(batchSize: 4, threads: threads)) { (_, _) throws(Stop) in
        calls += 1
        if calls == 2 { throw Stop() }
      }
      Issue.record("expected the consumer's error")
    } catch {
      guard case .consumer(let stop) = error else { Issue.record("expected .consumer, got \(error)"); return }
      #expect(stop == Stop())
    }
    #expect(calls == 2)
  }

  /// Bad options and a bad sequence fail before any row is handed over: here a tokenizer
  /// whose vocabulary has one token more than the model's embedding table.
  @Test func badInputFailsBeforeAnyRow() throws {
    let folder = try TinyBert(seed: 53).write(to: try temporaryDirectory("tiny-stream"))
    let base = try SentenceEncoder(folder: folder.path)
    var calls = 0
    do {
      _ = try base.encode(Self.texts, options: EncodingOptions(batchSize: 0)) { (_, _) throws(Never) in calls += 1 }
      Issue.record("expected an error")
    } catch {
      guard case .encoder(.invalidOption(name: "batchSize", _, _)) = error else { Issue.record("got \(error)"); return }
    }

    let wider = try temporaryDirectory("tiny-vocab")
    try ((TinyBert.vocabularyTokens + ["zebra"]).joined(separator: "\n") + "\n").write(
      to: wider.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    let encoder = try SentenceEncoder(
      bert: base.bert, tokenizer: try Tokenizer(modelDirectory: wider.path), pooling: base.pooling, engine: .default)
    var texts = Self.texts
    texts[30] = "the zebra"
    do {
      _ = try encoder.encode(texts, options: EncodingOptions(batchSize: 4)) { (_, _) throws(Never) in calls += 1 }
      Issue.record("expected an error")
    } catch {
      guard case .encoder(let failure) = error else { Issue.record("got \(error)"); return }
      #expect(failure == .tokenOutOfRange(sequence: 30, position: 2, id: 40, vocabularySize: 40))
    }
    #expect(calls == 0)
  }
}
