import Foundation
import Testing

/// Options that would have crashed, done nothing, or labelled a figure wrongly (found by
/// driving the CLI as a new user, 2026-12-07): each is now honoured exactly or refused with
/// the reason, and destinations are checked before the work whose result they receive.
@Suite("arrowhead option effects")
struct OptionEffectTests {
  typealias CLI = IndexCommandTests

  /// A flat and an HNSW (int8 + re-rank copies) index of 300 vectors of 8 dimensions, and
  /// 4 queries.
  static func indexes() throws -> (dir: URL, flat: String, hnsw: String, base: String, queries: String) {
    let dir = try CLI.directory()
    let all = CLI.vectors(count: 304, dimension: 8, seed: 11)
    let base = dir.appendingPathComponent("base.npy").path, queries = dir.appendingPathComponent("q.npy").path
    try CLI.writeNpy(Array(all[0..<300 * 8]), rows: 300, columns: 8, to: URL(fileURLWithPath: base))
    try CLI.writeNpy(Array(all[(300 * 8)...]), rows: 4, columns: 8, to: URL(fileURLWithPath: queries))
    let flat = dir.appendingPathComponent("flat.ahi").path, hnsw = dir.appendingPathComponent("hnsw.ahi").path
    let builtFlat = try CLI.run(["index", "build", "--input", base, "--type", "flat", "-o", flat, "--quiet"])
    #expect(builtFlat.status == 0, "\(builtFlat.error)")
    let builtHNSW = try CLI.run(["index", "build", "--input", base, "--storage", "int8", "--rerank", "-o", hnsw, "--quiet"])
    #expect(builtHNSW.status == 0, "\(builtHNSW.error)")
    return (dir, flat, hnsw, base, queries)
  }

  /// Reads the shape of an .npy file (numpy's header: "'shape': (r, c)").
  static func npyShape(_ path: String) throws -> [Int] {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let header = String(decoding: bytes.prefix(128), as: UTF8.self)
    guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else { return [] }
    return header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
  }

  /// A k far beyond the index: the search returns every vector (flat, and HNSW on
  /// re-ranking storage, whose default 4·k candidates overflowed and trapped), and the ids
  /// file has one column per vector the index holds (it was sized queries × k: 80 TB for
  /// k = 10¹¹, an abort).
  @Test func aHugeKSearchesEverythingAndWritesAtMostTheIndexWide() throws {
    let (dir, flat, hnsw, _, queries) = try Self.indexes()
    for index in [flat, hnsw] {
      for k in ["9223372036854775807", "100000000000"] {
        let output = dir.appendingPathComponent("ids.npy").path
        // -o as the other commands spell it (index search had only --output).
        let run = try CLI.run(["index", "search", "--index", index, "--queries", queries, "-k", k, index == flat ? "-o" : "--output", output, "--show", "0"])
        #expect(run.status == 0, "\(index) -k \(k): \(run.error)")
        #expect(run.error.contains("fewer than \(k) neighbours"))
        #expect(try Self.npyShape(output) == [4, 300], "\(index) -k \(k)")
      }
    }
  }

  /// Destinations that cannot be written are refused before the work (an index build of
  /// minutes used to fail only when saving), naming the option.
  @Test func unwritableDestinationsAreRefusedBeforeTheWork() throws {
    let (_, flat, _, base, queries) = try Self.indexes()
    let missing = "/nonexistent-\(UUID().uuidString)/x"
    let build = try CLI.run(["index", "build", "--input", base, "-o", missing + ".ahi"])
    #expect(build.status == 1)
    #expect(build.error.contains("-o: cannot write"), "\(build.error)")
    #expect(!build.error.contains("hnsw build"), "refused before building: \(build.error)")
    let directory = try CLI.run(["index", "build", "--input", base, "-o", NSTemporaryDirectory()])
    #expect(directory.status == 1 && directory.error.contains("it is a directory"), "\(directory.error)")
    let search = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "--output", missing + ".npy"])
    #expect(search.status == 1 && search.error.contains("--output: cannot write"), "\(search.error)")
    #expect(search.output.isEmpty, "no search ran: \(search.output)")
    let svg = try CLI.run(["bench", "dot", "--sizes", "64", "--repeats", "1", "--svg", missing + ".svg"])
    #expect(svg.status == 1 && svg.error.contains("--svg: cannot write"), "\(svg.error)")
    #expect(svg.output.isEmpty, "no benchmark ran: \(svg.output)")
  }

  /// `--model` without `--text` did nothing (the vectors were searched as given). (That
  /// `--text` searches now write `--output`: `EmbedCommandTests.indexBuildAndSearchByText`.)
  @Test func modelWithoutTextIsRefused() throws {
    let (dir, flat, _, base, queries) = try Self.indexes()
    let search = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "--model", dir.path])
    #expect(search.status == 64 && search.error.contains("--model applies only with --text"), "\(search.error)")
    let build = try CLI.run(["index", "build", "--input", base, "--model", dir.path, "-o", dir.appendingPathComponent("x.ahi").path])
    #expect(build.status == 64 && build.error.contains("--model applies only with --text"), "\(build.error)")
  }

  /// `index eval`: a base that is not the index's vectors is refused (it read as recall 0);
  /// recall@k is not reported from a ground truth of fewer than k ids per query (a file of
  /// 5 columns gave "recall@10" over 5 ids); thread counts above the cores and the int8
  /// screen on an HNSW index are refused.
  @Test func evalRefusesWhatItCannotMeasure() throws {
    let (dir, flat, hnsw, base, queries) = try Self.indexes()
    let otherBase = try CLI.run(["index", "eval", "--index", flat, "--queries", queries, "--base", queries, "--repeat", "1"])
    #expect(otherBase.status == 1 && otherBase.error.contains("has 4 rows but the index holds 300"), "\(otherBase.error)")
    let sameBase = try CLI.run(["index", "eval", "--index", flat, "--queries", queries, "--base", base, "--repeat", "1",
                                "--thread-counts", "1", "--json"])
    #expect(sameBase.status == 0, "\(sameBase.error)")
    #expect((sameBase.json["rows"] as? [[String: Any]])?.first?["recallAt10"] as? Double == 1)

    // The exact top 5 of each query, from the flat index itself.
    let exact = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "-k", "5", "--json"])
    let ids = (exact.json["results"] as? [[String: Any]] ?? []).map { result in
      ((result["neighbors"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
    }
    #expect(ids.count == 4 && ids.allSatisfy { $0.count == 5 })
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
    var dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 5), }"
    let total = (10 + dict.utf8.count + 1 + 63) / 64 * 64
    dict += String(repeating: " ", count: total - 10 - dict.utf8.count - 1) + "\n"
    data += [UInt8(dict.utf8.count), 0] + Array(dict.utf8)
    for id in ids.joined() { withUnsafeBytes(of: Int32(id).littleEndian) { data.append(contentsOf: $0) } }
    let truth = dir.appendingPathComponent("gt5.npy")
    try data.write(to: truth)
    let five = try CLI.run(["index", "eval", "--index", flat, "--queries", queries, "--ground-truth", truth.path,
                            "--repeat", "1", "--thread-counts", "1", "--json"])
    #expect(five.status == 0, "\(five.error)")
    let row = (five.json["rows"] as? [[String: Any]])?.first ?? [:]
    #expect(row["recallAt1"] as? Double == 1)
    #expect(row["recallAt10"] == nil && row["recallAt100"] == nil, "\(row)")
    #expect(five.error.contains("holds 5 ids per query"))

    let cores = ProcessInfo.processInfo.activeProcessorCount
    let tooMany = try CLI.run(["index", "eval", "--index", flat, "--queries", queries, "--thread-counts", "1,\(cores + 1)"])
    #expect(tooMany.status == 64 && tooMany.error.contains("searches run on at most"), "\(tooMany.error)")
    let emptyItem = try CLI.run(["index", "eval", "--index", hnsw, "--queries", queries, "--ef-search", "16,,32"])
    #expect(emptyItem.status == 64, "\(emptyItem.error)")
    let screen = try CLI.run(["index", "eval", "--index", hnsw, "--queries", queries, "--int8-screening", "on"])
    #expect(screen.status == 1 && screen.error.contains("--int8-screening applies only to a flat index"), "\(screen.error)")
  }

  /// Options refused before any work where they would do nothing or mislabel a row.
  @Test func optionsWithoutEffectAreRefused() throws {
    let dir = try CLI.directory()
    let model = dir.appendingPathComponent("none.safetensors").path
    let signedMax = try CLI.run(["optimize", "eval", model, "--optimizers", "signed-max", "--bits", "4"])
    #expect(signedMax.status == 64 && signedMax.error.contains("goes with --symmetric"), "\(signedMax.error)")
    let unusedSetting = try CLI.run(["optimize", "eval", model, "--optimizers", "minmax", "--set", "hqq:beta=20"])
    #expect(unusedSetting.status == 64 && unusedSetting.error.contains("--set hqq"), "\(unusedSetting.error)")
    let width = try CLI.run(["quantize", model, "-o", dir.appendingPathComponent("q.safetensors").path, "--fallback-threshold", "5=0.9"])
    #expect(width.status == 64 && width.error.contains("5 bits is not a quantized width"), "\(width.error)")
    let dotThreads = try CLI.run(["bench", "dot", "--sizes", "64", "--threads", "2"])
    #expect(dotThreads.status == 64 && dotThreads.error.contains("dot and l2 run on one thread"), "\(dotThreads.error)")
    let twice = try CLI.run(["bench", "gemm", "--sizes", "8", "--repeats", "1", "--backends", "simd-baseline,simd-baseline"])
    #expect(twice.status == 1 && twice.error.contains("names 'simd-baseline' twice"), "\(twice.error)")
    let emptySize = try CLI.run(["bench", "gemm", "--sizes", "8,,16"])
    #expect(emptySize.status == 64, "\(emptySize.error)")
    let scaling = try CLI.run(["bench", "qgemm", "--shape", "2,32,64", "--scaling", "--threads", "1"])
    #expect(scaling.status == 64 && scaling.error.contains("--scaling compares N threads with 1"), "\(scaling.error)")
    let thermo = try CLI.run(["optimize", "thermo", "--iterations", "200000"])
    #expect(thermo.status == 64 && thermo.error.contains("1…100000"), "\(thermo.error)")
  }

  /// Non-finite activations in `bench qgemm --activations` are refused with the row and
  /// column (every error column came out NaN).
  @Test func qgemmRefusesNonFiniteActivations() throws {
    let dir = try CLI.directory()
    var values = [Float](repeating: 0.5, count: 2 * 64)
    values[64 + 3] = .nan
    let path = dir.appendingPathComponent("x.npy")
    try CLI.writeNpy(values, rows: 2, columns: 64, to: path)
    let run = try CLI.run(["bench", "qgemm", "--activations", path.path, "--shape", "2,32,64", "--repeats", "1"])
    #expect(run.status == 1 && run.error.contains("row 1, column 3 holds nan"), "\(run.error)")
  }

  /// `bench qgemm --weights` on an already quantized file says so (it said "no such
  /// tensor": the file stores codes and parameters under other names).
  @Test func qgemmWeightsMustBeTheFloatOriginal() throws {
    let dir = QuantizeCLI.temporaryDirectory()
    let plain = try QuantizeCLI.toyModel(in: dir)
    let quantized = dir + "/q.safetensors"
    let made = try CLI.run(["quantize", plain, "-o", quantized, "--bits", "4"])
    #expect(made.status == 0, "\(made.error)")
    let run = try CLI.run(["bench", "qgemm", "--weights", quantized, "--tensor", "a.weight", "--repeats", "1"])
    #expect(run.status == 1 && run.error.contains("is an Arrowhead quantized file"), "\(run.error)")
    let fine = try CLI.run(["bench", "qgemm", "--weights", plain, "--tensor", "a.weight", "--repeats", "1", "--json"])
    #expect(fine.status == 0, "\(fine.error)")
  }

  /// `inspect --original` on a file with nothing quantized is refused (it exited 0 with no
  /// error figure), and `probe --threads N` says when N was capped at the cores.
  @Test func inspectOriginalAndProbeThreadsSayWhatHappened() throws {
    let dir = QuantizeCLI.temporaryDirectory()
    let plain = try QuantizeCLI.toyModel(in: dir)
    let inspect = try CLI.run(["inspect", plain, "--original", plain])
    #expect(inspect.status == 1 && inspect.error.contains("holds no quantized tensor"), "\(inspect.error)")
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let probe = try CLI.run(["probe", "--threads", "\(cores + 3)"])
    #expect(probe.status == 0, "\(probe.error)")
    #expect(probe.output.contains("\(cores) (--threads \(cores + 3), capped at the \(cores) logical cores)"), "\(probe.output)")
  }

  /// A negative number after an option is that option's value, refused by the option's own
  /// check (argument-parser alone read `-1` as an option name and answered "Missing value
  /// for '--threads'"); `name=value` and a `--` terminator are left as they are.
  @Test func aNegativeOptionValueIsRefusedByItsOwnCheck() throws {
    let (_, flat, _, _, queries) = try Self.indexes()
    let threads = try CLI.run(["bench", "gemm", "--sizes", "8", "--threads", "-1"])
    #expect(threads.status != 0 && threads.error.contains("--threads must be ≥ 1"), "\(threads.error)")
    #expect(!threads.error.contains("Missing value"), "\(threads.error)")
    let k = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "-k", "-3"])
    #expect(k.status != 0 && k.error.contains("-k must be ≥ 1, got -3"), "\(k.error)")
    let attached = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "-k=-3"])
    #expect(attached.status != 0 && attached.error.contains("-k must be ≥ 1, got -3"), "\(attached.error)")
    let list = try CLI.run(["index", "search", "--index", flat, "--queries", queries, "--ef-search", "-8,16"])
    #expect(list.status != 0 && !list.error.contains("Missing value"), "\(list.error)")
  }
}
