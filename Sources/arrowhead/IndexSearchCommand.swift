import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadSearch
import Foundation

struct IndexSearch: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "search", abstract: "Search an index for the k nearest neighbours of each query.")

  @Option(name: .long, help: "Index file written by `arrowhead index build`.")
  var index: String

  @Option(name: .long, help: "Query vectors (.npy, .fvecs, .bvecs).")
  var queries: String?

  @Option(name: .long, help: "Instead of --queries: a query text, embedded with --model (repeat for several); prints the nearest texts.")
  var text: [String] = []

  @OptionGroup var encoderOptions: EncoderOptions

  @Option(name: .short, help: "Neighbours per query.")
  var k: Int = 10

  @Option(name: .long, help: "HNSW candidate list size (default: the index's).")
  var efSearch: Int?

  @Option(name: .long, help: "Approximate candidates re-scored exactly (quantized storage with --rerank; default 4·k, 0: off).")
  var rerank: Int?

  @Option(name: .long, help: "Threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Option(name: [.short, .long], help: "Write the neighbour ids (int64, queries × k — at most the vectors in the index — nearest first, -1 where fewer were found) to this .npy file; with --text too.")
  var output: String?

  @Option(name: .long, help: "Queries to print in the table (all with --json).")
  var show: Int = 10

  @Option(name: .long, help: "How to load the index: copy (into huge-page memory, fastest searches) or map (memory-map the file).")
  var load: LoadMode = .copy

  @OptionGroup var outputOptions: OutputOptions

  func validate() throws {
    if k < 1 { throw ValidationError("-k must be ≥ 1, got \(k)") }
    if let efSearch, efSearch < 1 { throw ValidationError("--ef-search must be ≥ 1") }
    if let rerank, rerank < 0 { throw ValidationError("--rerank must be ≥ 0") }
    if let rerank, rerank > 0, rerank < k {
      throw ValidationError("--rerank \(rerank) is smaller than -k \(k): re-ranking returns the best k of the re-scored candidates, so it needs at least k (or 0 for none)")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    if (queries == nil) == text.isEmpty { throw ValidationError("give either --queries (vectors) or --text (query texts)") }
    if !text.isEmpty && encoderOptions.model == nil { throw ValidationError("--text needs --model") }
    try requireApplicable(text.isEmpty && encoderOptions.model != nil, "--model", needs: "--text")
    if let output { try requireDistinctOutput(output, option: "--output", from: [index, queries]) }
  }

  struct Report: Codable {
    var queries: Int
    var k: Int
    var seconds: Double
    var queriesPerSecond: Double
    var incomplete: Int
    var results: [SearchResult]
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    // The ids are written after the search: a destination that cannot take them fails now.
    if let output { try requireWritableOutput(output, option: "--output") }
    let loaded = try loadIndex(index, engine: engine, mode: load)
    try requireApplicable(loaded.index, efSearch: efSearch != nil, rerank: rerank != nil, path: index)
    if !text.isEmpty { return try searchTexts(loaded, engine: engine) }
    let matrix = try readVectors(queries ?? "", what: "queries")
    guard matrix.columns == loaded.index.dimension || matrix.rows == 0 else {
      throw CommandFailure("queries '\(queries ?? "")' have dimension \(matrix.columns), the index has \(loaded.index.dimension)")
    }
    let parameters = SearchParameters(efSearch: efSearch, rerankCandidates: rerank, threads: engine.effectiveThreads)
    let watch = Stopwatch()
    let results: [SearchResult]
    do {
      results = try matrix.withUnsafeBufferPointer { (rows) throws(SearchError) in
        try loaded.index.search(rows, k: k, parameters: parameters, filter: nil)
      }
    } catch {
      throw CommandFailure("\(error)")
    }
    let seconds = watch.seconds
    let incomplete = results.filter { !$0.isComplete }.count
    if incomplete > 0 {
      StandardError.write("arrowhead: \(incomplete) queries found fewer than \(k) neighbours (the index holds \(loaded.index.count) live vectors)\n")
    }
    if let output { try writeIDs(results, indexCount: loaded.index.count, to: output) }
    let report = Report(
      queries: results.count, k: k, seconds: seconds, queriesPerSecond: Double(results.count) / max(seconds, 1e-9),
      incomplete: incomplete, results: results)
    switch outputOptions.format {
    case .json:
      print(try jsonString(report))
    case .table, .csv:
      var table = TextTable(["query", "ids (nearest first)", "scores"])
      for (q, result) in results.prefix(show).enumerated() {
        table.append([
          "\(q)", result.ids.map(String.init).joined(separator: " "),
          result.scores.map { formatted(Double($0), decimals: 4) }.joined(separator: " "),
        ])
      }
      print(outputOptions.format == .csv ? table.renderCSV() : table.render(), terminator: "")
      if outputOptions.format == .table {
        print("\(results.count) queries in \(formatted(seconds, decimals: 3)) s (\(formatted(report.queriesPerSecond, decimals: 0)) queries/s, \(engine.effectiveThreads) thread(s))")
      }
    }
  }
}

extension IndexSearch {
  /// Writes the neighbour ids of `results` to `output` (.npy, int64): one row per query,
  /// min(k, `indexCount`) columns nearest first, -1 where fewer were found. No search
  /// finds more neighbours than the index holds, so a k beyond that adds only columns of
  /// -1 (a k of 10¹¹ would have asked for terabytes).
  func writeIDs(_ results: [SearchResult], indexCount: Int, to output: String) throws {
    let columns = min(k, max(indexCount, 1))
    var ids = [Int64](repeating: -1, count: results.count * columns)
    for (q, result) in results.enumerated() {
      for (i, neighbor) in result.neighbors.prefix(columns).enumerated() { ids[q * columns + i] = Int64(neighbor.id) }
    }
    do {
      try NPYFile.write(ids, rows: results.count, columns: columns, to: output)
    } catch {
      throw CommandFailure("\(error)")
    }
  }
}

/// Refuses `--ef-search` for a flat index and `--rerank` for an index without re-ranking
/// copies: both would be silently ignored.
func requireApplicable(_ index: any VectorIndex, efSearch: Bool, rerank: Bool, path: String) throws {
  if efSearch && !(index is HNSWIndex) {
    throw CommandFailure("--ef-search applies only to an HNSW index; '\(path)' is a flat index (exact: nothing to tune)")
  }
  if rerank && !(index.storage.isQuantized && index.storage.keepsFloat32ForReranking) {
    throw CommandFailure("--rerank applies only to an index built with --storage int8/int4 and --rerank; '\(path)' has \(index.storage) storage")
  }
}
