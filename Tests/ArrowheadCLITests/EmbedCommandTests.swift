import ArrowheadTestSupport
import Foundation
import Testing

/// End-to-end tests of `arrowhead embed` and `arrowhead index build|search --text` on a
/// tiny random BERT written by the test (`TinyBert`): they run the built binary and check
/// the output files and key report values against the scalar reference.
@Suite("arrowhead embed and text search")
struct EmbedCommandTests {
  typealias CLI = IndexCommandTests

  /// The tiny model in a fresh folder, and that folder.
  static func model(seed: UInt64 = 41) throws -> (TinyBert, URL) {
    let model = TinyBert(seed: seed)
    let folder = try model.write(to: try CLI.directory().appendingPathComponent("model"))
    return (model, folder)
  }

  /// A float32 C-order .npy file: (rows, columns, values).
  static func readNpy(_ url: URL) throws -> (rows: Int, columns: Int, values: [Float]) {
    let data = try Data(contentsOf: url)
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
    let shape = header.split(separator: "(")[1].split(separator: ")")[0].split(separator: ",").compactMap {
      Int($0.trimmingCharacters(in: .whitespaces))
    }
    let values = data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    return (shape[0], shape.count > 1 ? shape[1] : 1, values)
  }

  /// The tolerance of ReferenceForwardTests (Float32 against Double through two layers).
  static let tolerance = 1e-4

  @Test func embedWritesTheReferenceEmbeddingsOfEachLine() throws {
    let (model, folder) = try Self.model()
    let dir = folder.deletingLastPathComponent()
    let input = dir.appendingPathComponent("texts.txt")
    try "The cat sat on the mat.\nDogs looked fast!\r\nzebra\n".write(to: input, atomically: true, encoding: .utf8)
    let output = dir.appendingPathComponent("out.npy")
    let run = try CLI.run(["embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--json", "--threads", "2"])
    #expect(run.status == 0, "\(run.error)")
    #expect(run.json["texts"] as? Int == 3 && run.json["dimension"] as? Int == 32)
    #expect(run.json["tokens"] as? Int == 9 + 8 + 3 && run.json["truncatedTexts"] as? Int == 0)
    let (rows, columns, values) = try Self.readNpy(output)
    #expect(rows == 3 && columns == 32)
    let ids = [[2, 5, 7, 9, 10, 5, 11, 28, 3], [2, 8, 19, 36, 21, 22, 30, 3], [2, 1, 3]]
    for (row, sequence) in ids.enumerated() {
      let expected = model.referenceEmbedding(sequence, pooling: ["pooling_mode_mean_tokens"], normalize: true)
      let worst = zip(values[row * 32..<(row + 1) * 32], expected).map { abs(Double($0) - $1) }.max() ?? 1
      #expect(worst <= Self.tolerance, "row \(row): \(worst)")
    }
  }

  @Test func emptyLinesInvalidUTF8AndLongTextsAreReportedWithTheirLines() throws {
    let (_, folder) = try Self.model()
    let dir = folder.deletingLastPathComponent()
    let input = dir.appendingPathComponent("texts.txt")
    var bytes = Array("a cat\n\n".utf8) + [0x62, 0xFF, 0x69, 0x72, 0x64, 0x0A]  // line 3: "b\xFFird"
    bytes += Array((Array(repeating: "the big red cat", count: 10).joined(separator: " ") + "\n").utf8)  // 40 tokens
    try Data(bytes).write(to: input)
    let output = dir.appendingPathComponent("out.npy")
    let run = try CLI.run(["embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--json"])
    #expect(run.status == 0, "\(run.error)")
    #expect(run.json["emptyLines"] as? [Int] == [2])
    #expect(run.json["invalidUTF8Lines"] as? [Int] == [3])
    #expect(run.json["truncatedLines"] as? [Int] == [4])
    #expect(run.error.contains("1 empty line(s): 2") && run.error.contains("U+FFFD on 1 line(s): 3"))
    #expect(run.error.contains("1 text(s) longer than 24 tokens were truncated (lines 4)"))
    #expect(try Self.readNpy(output).rows == 4)  // row i is line i

    let strict = try CLI.run(["embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--strict"])
    #expect(strict.status == 1 && strict.error.contains("line 3: invalid UTF-8"))
    try Data("a cat\n\nthe dog\n".utf8).write(to: input)
    let strictEmpty = try CLI.run(["embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--strict"])
    #expect(strictEmpty.status == 1 && strictEmpty.error.contains("line 2: empty line"))
  }

  @Test func badInputsFailWithAMessage() throws {
    let (_, folder) = try Self.model()
    let dir = folder.deletingLastPathComponent()
    let empty = dir.appendingPathComponent("empty.txt")
    try Data().write(to: empty)
    let output = dir.appendingPathComponent("out.npy").path
    let emptyRun = try CLI.run(["embed", "--model", folder.path, "--input", empty.path, "-o", output])
    #expect(emptyRun.status == 1 && emptyRun.error.contains("holds no texts"))
    #expect(!FileManager.default.fileExists(atPath: output))

    let texts = dir.appendingPathComponent("texts.txt")
    try "a cat\n".write(to: texts, atomically: true, encoding: .utf8)
    let badWeights = try CLI.run(["embed", "--model", folder.path, "--input", texts.path, "-o", output, "--weights", "int5"])
    #expect(badWeights.status != 0 && badWeights.error.contains("int5"))
    // An Arrowhead quantized file is not quantized again.
    let quantized = dir.appendingPathComponent("model.q.safetensors").path
    let quantize = try CLI.run(["quantize", folder.appendingPathComponent("model.safetensors").path, "-o", quantized, "--bits", "8", "--quiet"])
    #expect(quantize.status == 0, "\(quantize.error)")
    try FileManager.default.removeItem(at: folder.appendingPathComponent("model.safetensors"))
    try FileManager.default.moveItem(atPath: quantized, toPath: folder.appendingPathComponent("model.safetensors").path)
    let twice = try CLI.run(["embed", "--model", folder.path, "--input", texts.path, "-o", output, "--weights", "int8"])
    #expect(twice.status == 1 && twice.error.contains("holds an Arrowhead quantized file"), "\(twice.error)")

    try FileManager.default.removeItem(at: folder.appendingPathComponent("model.safetensors"))
    let missing = try CLI.run(["embed", "--model", folder.path, "--input", texts.path, "-o", output])
    #expect(missing.status == 1 && missing.error.contains("model.safetensors"))

    let noModel = try CLI.run(["embed", "--input", texts.path, "-o", output])
    #expect(noModel.status != 0 && noModel.error.contains("--model"))
  }

  /// `--weights int8` (W8A8) and `int4` on the tiny model: the embeddings stay close to the
  /// Float32 ones (INT8 g64: cos ≥ 0.999, INT4: ≥ 0.98 on random weights), the report names
  /// the weights and activations, and an index built and searched with INT8 weights finds
  /// each indexed text first.
  @Test func quantizedWeightsEmbedAndSearch() throws {
    let (_, folder) = try Self.model(seed: 43)
    let dir = folder.deletingLastPathComponent()
    let texts = dir.appendingPathComponent("texts.txt")
    let lines = ["the cat sat on the mat", "a dog runs fast", "the big red house", "birds sing", "the sun and the moon"]
    try (lines.joined(separator: "\n") + "\n").write(to: texts, atomically: true, encoding: .utf8)
    var outputs: [String: [Float]] = [:]
    for weights in ["f32", "int8", "int4"] {
      let output = dir.appendingPathComponent("\(weights).npy")
      let run = try CLI.run(["embed", "--model", folder.path, "--input", texts.path, "-o", output.path, "--weights", weights, "--json"])
      #expect(run.status == 0, "\(run.error)")
      #expect(run.json["weights"] as? String == weights)
      #expect(run.json["activations"] as? String == ["int8": "int8", "int4": "int8"][weights])
      outputs[weights] = try Self.readNpy(output).values
    }
    for (weights, minimum) in [("int8", 0.999), ("int4", 0.98)] {
      for row in 0..<lines.count {
        let a = outputs["f32"]![row * 32..<(row + 1) * 32], b = outputs[weights]![row * 32..<(row + 1) * 32]
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }  // both rows have unit length
        #expect(dot >= minimum, "\(weights) row \(row): cosine \(dot)")
      }
    }
    let index = dir.appendingPathComponent("texts.ahi").path
    let build = try CLI.run(["index", "build", "--model", folder.path, "--weights", "int8", "--text", texts.path, "--type", "flat", "-o", index])
    #expect(build.status == 0, "\(build.error)")
    for (line, text) in lines.enumerated() {
      let search = try CLI.run(["index", "search", "--index", index, "--model", folder.path, "--weights", "int8", "--text", text, "-k", "1", "--json"])
      let reports = (try JSONSerialization.jsonObject(with: Data(search.output.utf8))) as? [[String: Any]] ?? []
      let hit = (reports.first?["results"] as? [[String: Any]])?.first
      #expect(hit?["line"] as? Int == line + 1 && hit?["text"] as? String == text, "\(search.error)")
    }
  }

  @Test func indexBuildAndSearchByText() throws {
    let (_, folder) = try Self.model()
    let dir = folder.deletingLastPathComponent()
    let texts = dir.appendingPathComponent("texts.txt")
    let lines = ["the cat sat on the mat", "a dog runs fast", "", "the big red house", "birds sing", "the sun and the moon"]
    try (lines.joined(separator: "\n") + "\n").write(to: texts, atomically: true, encoding: .utf8)
    let index = dir.appendingPathComponent("texts.ahi").path
    let build = try CLI.run(["index", "build", "--model", folder.path, "--text", texts.path, "--type", "flat", "-o", index, "--json"])
    #expect(build.status == 0, "\(build.error)")
    #expect(build.json["vectors"] as? Int == 5 && build.json["metric"] as? String == "cosine")
    #expect(build.error.contains("1 empty line(s) not indexed"))
    let catalog = try String(contentsOfFile: index + ".texts.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(catalog.count == 6 && catalog[0].contains("\"format\":\"arrowhead-text-catalog\""))
    #expect(catalog[3] == #"{"id":2,"line":4,"text":"the big red house"}"#)

    let search = try CLI.run([
      "index", "search", "--index", index, "--model", folder.path, "--text", "the big red house", "--text", "birds sing",
      "-k", "3", "--json",
    ])
    #expect(search.status == 0, "\(search.error)")
    let reports = (try JSONSerialization.jsonObject(with: Data(search.output.utf8))) as? [[String: Any]] ?? []
    #expect(reports.count == 2)
    let first = reports.first?["results"] as? [[String: Any]] ?? []
    #expect(first.count == 3)
    // The query is an indexed text: it finds itself first, with cosine 1 (up to rounding).
    #expect(first.first?["line"] as? Int == 4 && first.first?["text"] as? String == "the big red house")
    #expect(abs((first.first?["score"] as? Double ?? 0) - 1) < 1e-5)
    let second = reports.last?["results"] as? [[String: Any]] ?? []
    #expect(second.first?["line"] as? Int == 5)

    let table = try CLI.run(["index", "search", "--index", index, "--model", folder.path, "--text", "birds sing", "-k", "2"])
    #expect(table.status == 0 && table.output.contains("birds sing"))
    // --output writes the ids of text queries as of vector ones (it was silently unused):
    // 2 queries × k, nearest first; -k 9 on 5 texts gives 5 columns.
    let ids = dir.appendingPathComponent("text-ids.npy")
    let written = try CLI.run([
      "index", "search", "--index", index, "--model", folder.path, "--text", "the big red house", "--text", "birds sing",
      "-k", "9", "--output", ids.path,
    ])
    #expect(written.status == 0, "\(written.error)")
    let bytes = try Data(contentsOf: ids)
    let header = String(decoding: bytes.prefix(128), as: UTF8.self)
    #expect(header.contains("'descr': '<i8'") && header.contains("'shape': (2, 5)"), "\(header)")
    let values = bytes.suffix(2 * 5 * 8).withUnsafeBytes { raw in (0..<10).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) } }
    #expect(values[0] == 2 && values[5] == 3, "\(values)")
    #expect(Set(values[0..<5]) == Set(0..<5) && Set(values[5...]) == Set(0..<5))

    try FileManager.default.removeItem(atPath: index + ".texts.jsonl")
    let noCatalog = try CLI.run(["index", "search", "--index", index, "--model", folder.path, "--text", "birds"])
    #expect(noCatalog.status == 1 && noCatalog.error.contains("texts.ahi.texts.jsonl"))
    let both = try CLI.run(["index", "search", "--index", index, "--queries", "q.npy", "--text", "birds", "--model", folder.path])
    #expect(both.status != 0 && both.error.contains("either --queries"))
  }
}
