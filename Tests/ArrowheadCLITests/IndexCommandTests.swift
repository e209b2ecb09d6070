import Foundation
import Testing

/// End-to-end tests of `arrowhead index build|search|eval`: they run the built binary
/// (next to the test bundle) on small files written here and check key output values.
@Suite("arrowhead index")
struct IndexCommandTests {
  /// The `arrowhead` executable built alongside the tests.
  static var binary: URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
      .appendingPathComponent("arrowhead")
  }

  struct Run {
    var status: Int32
    var output: String
    var error: String
    var json: [String: Any] {
      (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:]
    }
  }

  static func run(_ arguments: [String]) throws -> Run {
    let outcome = try ChildProcess.run(binary, arguments)
    return Run(status: outcome.status, output: String(decoding: outcome.stdout, as: UTF8.self),
               error: String(decoding: outcome.stderr, as: UTF8.self))
  }

  static func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("arrowhead-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Deterministic vectors: a few clusters in `dimension` dimensions.
  static func vectors(count: Int, dimension: Int, seed: UInt64) -> [Float] {
    var state = seed
    func next() -> Float {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(state >> 40) / Float(1 << 24) - 0.5
    }
    let centres = (0..<8 * dimension).map { _ in next() * 4 }
    return (0..<count).flatMap { row in (0..<dimension).map { j in centres[(row % 8) * dimension + j] + next() } }
  }

  /// A .fvecs file: per row an Int32 dimension then the floats.
  static func writeFvecs(_ values: [Float], dimension: Int, to url: URL) throws {
    var data = Data()
    for row in 0..<values.count / dimension {
      withUnsafeBytes(of: Int32(dimension).littleEndian) { data.append(contentsOf: $0) }
      values[row * dimension..<(row + 1) * dimension].withUnsafeBytes { data.append(contentsOf: $0) }
    }
    try data.write(to: url)
  }

  /// A version 1.0 .npy file of float32 (numpy's layout).
  static func writeNpy(_ values: [Float], rows: Int, columns: Int, to url: URL) throws {
    var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
    let total = (10 + dict.utf8.count + 1 + 63) / 64 * 64
    dict += String(repeating: " ", count: total - 10 - dict.utf8.count - 1) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)])
    data.append(contentsOf: Array(dict.utf8))
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    try data.write(to: url)
  }

  @Test func buildSearchAndEvalAFlatIndex() throws {
    let dir = try Self.directory()
    let base = Self.vectors(count: 500, dimension: 8, seed: 1)
    try Self.writeFvecs(base, dimension: 8, to: dir.appendingPathComponent("base.fvecs"))
    // Queries: base rows 7 and 300 exactly.
    let queries = Array(base[56..<64]) + Array(base[2400..<2408])
    try Self.writeNpy(queries, rows: 2, columns: 8, to: dir.appendingPathComponent("q.npy"))
    let index = dir.appendingPathComponent("flat.ahi").path

    let build = try Self.run(["index", "build", "--input", dir.appendingPathComponent("base.fvecs").path, "--type", "flat",
                              "--metric", "l2", "-o", index, "--json"])
    #expect(build.status == 0, "\(build.error)")
    #expect(build.json["vectors"] as? Int == 500)
    #expect(build.json["bytesPerVector"] as? Double == 36)  // 8 floats + the squared norm

    let search = try Self.run(["index", "search", "--index", index, "--queries", dir.appendingPathComponent("q.npy").path,
                               "-k", "3", "--json"])
    #expect(search.status == 0, "\(search.error)")
    let results = search.json["results"] as? [[String: Any]] ?? []
    let firstIDs = results.map { (($0["neighbors"] as? [[String: Any]])?.first?["id"] as? Int) ?? -1 }
    #expect(firstIDs == [7, 300])

    let eval = try Self.run(["index", "eval", "--index", index, "--queries", dir.appendingPathComponent("q.npy").path,
                             "--repeat", "1", "--json"])
    #expect(eval.status == 0, "\(eval.error)")
    let row = (eval.json["rows"] as? [[String: Any]])?.first ?? [:]
    #expect(row["recallAt10"] as? Double == 1)
    #expect((row["queriesPerSecond"] as? [String: Double])?.keys.sorted() == ["1", "2"])
  }

  @Test func buildsAndEvaluatesAnHNSWIndexWithProgressAndSeed() throws {
    let dir = try Self.directory()
    // Queries from the same clusters as the base (held-out rows), as in real use.
    let all = Self.vectors(count: 1_550, dimension: 16, seed: 2)
    let base = Array(all[0..<1_500 * 16])
    let queries = Array(all[(1_500 * 16)...])
    try Self.writeNpy(base, rows: 1_500, columns: 16, to: dir.appendingPathComponent("base.npy"))
    try Self.writeNpy(queries, rows: 50, columns: 16, to: dir.appendingPathComponent("q.npy"))
    let index = dir.appendingPathComponent("h.ahi").path
    let build = try Self.run(["index", "build", "--input", dir.appendingPathComponent("base.npy").path, "--type", "hnsw",
                              "--metric", "cosine", "-M", "8", "--ef-construction", "64", "--seed", "7",
                              "--storage", "int8", "--rerank", "--threads", "1", "-o", index])
    #expect(build.status == 0, "\(build.error)")
    #expect(build.error.contains("hnsw build"), "a progress bar on stderr")
    #expect(build.output.contains("int8+rerank"))
    let eval = try Self.run(["index", "eval", "--index", index, "--queries", dir.appendingPathComponent("q.npy").path,
                             "--base", dir.appendingPathComponent("base.npy").path, "--ef-search", "16,64",
                             "--repeat", "1", "--thread-counts", "1", "--json"])
    #expect(eval.status == 0, "\(eval.error)")
    let rows = eval.json["rows"] as? [[String: Any]] ?? []
    #expect(rows.compactMap { $0["efSearch"] as? Int } == [16, 64])
    #expect((rows.last?["recallAt10"] as? Double ?? 0) >= 0.9)
    #expect((eval.json["groundTruth"] as? String ?? "").hasPrefix("exact over"))
  }

  @Test func badInputFailsWithAClearMessage() throws {
    let dir = try Self.directory()
    let base = Self.vectors(count: 40, dimension: 4, seed: 4)
    try Self.writeFvecs(base, dimension: 4, to: dir.appendingPathComponent("b.fvecs"))
    try Self.writeFvecs(Array(base[0..<6]), dimension: 3, to: dir.appendingPathComponent("q3.fvecs"))
    let index = dir.appendingPathComponent("i.ahi").path
    #expect(try Self.run(["index", "build", "--input", dir.appendingPathComponent("b.fvecs").path, "--type", "flat",
                          "-o", index]).status == 0)

    let wrongDimension = try Self.run(["index", "search", "--index", index, "--queries",
                                       dir.appendingPathComponent("q3.fvecs").path])
    #expect(wrongDimension.status != 0)
    #expect(wrongDimension.error.contains("have dimension 3, the index has 4"))

    let zeroK = try Self.run(["index", "search", "--index", index, "--queries", dir.appendingPathComponent("b.fvecs").path, "-k", "0"])
    #expect(zeroK.status != 0 && zeroK.error.contains("-k must be ≥ 1"))

    let missing = try Self.run(["index", "build", "--input", dir.appendingPathComponent("none.npy").path, "-o", index])
    #expect(missing.status != 0 && missing.error.contains("cannot open"))

    var bytes = try Data(contentsOf: URL(fileURLWithPath: index))
    bytes[bytes.count - 3] ^= 0xFF
    let corrupt = dir.appendingPathComponent("corrupt.ahi")
    try bytes.write(to: corrupt)
    let damaged = try Self.run(["index", "search", "--index", corrupt.path, "--queries", dir.appendingPathComponent("b.fvecs").path])
    #expect(damaged.status != 0 && damaged.error.contains("checksum"))

    let many = try Self.run(["index", "search", "--index", index, "--queries", dir.appendingPathComponent("b.fvecs").path,
                             "-k", "100", "--json"])
    #expect(many.status == 0)
    #expect(many.error.contains("fewer than 100 neighbours"))
    #expect(many.json["incomplete"] as? Int == 40)
  }
}
