import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadSearch
import Foundation

struct IndexEval: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Measure an index: recall@1/10/100, queries/s at 1 and 2 threads, build time, bytes per vector.",
    discussion: """
      Queries/s are for k = 10 (best of --repeat timed passes after a warm-up); recall@100 comes \
      from a separate k = 100 search with efSearch raised to at least 100. Without --ground-truth, \
      the exact neighbours are computed with a flat index over --base (or over the index's own \
      vectors, which for int8/int4 storage without --rerank are the decoded ones).
      """)

  @Option(name: .long, help: "Index file written by `arrowhead index build`.")
  var index: String

  @Option(name: .long, help: "Query vectors (.npy, .fvecs, .bvecs).")
  var queries: String

  @Option(name: .long, help: "Exact neighbour ids per query (.npy integers or .ivecs), nearest first.")
  var groundTruth: String?

  @Option(name: .long, help: "Base vectors to compute exact ground truth from when --ground-truth is absent.")
  var base: String?

  @Option(name: .long, help: "HNSW candidate list sizes to evaluate, e.g. 16,32,64,128 (default: the index's).")
  var efSearch: String?

  @Option(name: .long, help: "Approximate candidates re-scored exactly (quantized storage with --rerank; default 4·k).")
  var rerank: Int?

  @Option(name: .long, help: "Thread counts to time, e.g. 1,2.")
  var threadCounts: String = "1,2"

  @Option(name: .long, help: "Timed passes per setting (the best is reported).")
  var `repeat`: Int = 3

  @Option(name: .long, help: "How to load the index: copy (into huge-page memory, fastest searches) or map (memory-map the file).")
  var load: LoadMode = .copy

  @Option(name: .long, help: "Flat Float32 indexes: screen pairs with int8 products first (auto, on, off; results are exact either way).")
  var int8Screening: ScreeningOption = .auto

  @OptionGroup var outputOptions: OutputOptions

  func validate() throws {
    let cores = CPUInfo.current.logicalCores
    if let many = try parseList(threadCounts, option: "--thread-counts").first(where: { $0 > cores }) {
      // Index searches run on at most the logical cores: a column headed with more would
      // show the figure of fewer.
      throw ValidationError("--thread-counts \(many): searches run on at most the \(cores) logical cores of this process")
    }
    if let efSearch { _ = try parseList(efSearch, option: "--ef-search") }
    try require(`repeat`, in: Limits.repeats, "--repeat")
    if let rerank, rerank < 0 { throw ValidationError("--rerank must be ≥ 0") }
    if let rerank, rerank > 0, rerank < 100 {
      throw ValidationError("--rerank \(rerank) is smaller than 100, the k of the recall@100 search: re-ranking returns the best k of the re-scored candidates (use ≥ 100, or 0 for none)")
    }
    if groundTruth != nil && base != nil {
      throw ValidationError("--ground-truth and --base are exclusive (--base computes the ground truth)")
    }
  }

  struct Row: Codable {
    var efSearch: Int?
    var recallAt1: Double
    /// nil when the ground-truth file holds fewer than 10 ids per query.
    var recallAt10: Double?
    /// nil when the ground-truth file holds fewer than 100 ids per query.
    var recallAt100: Double?
    /// Thread count (as a string key) → queries per second (wall clock).
    var queriesPerSecond: [String: Double]
    /// Single-thread queries per CPU-second of the searching thread: unlike wall time,
    /// not inflated when other processes take the core (same best-of-repeat rule).
    var queriesPerCPUSecond: Double?
  }

  struct Report: Codable {
    var index: String
    var type: String
    var metric: String
    var storage: String
    var vectors: Int
    var dimension: Int
    var queries: Int
    var groundTruth: String
    var buildSeconds: Double
    var buildThreads: Int
    var loadSeconds: Double
    var memoryBytes: Int
    var bytesPerVector: Double
    var vectorBytesPerVector: Double
    var searchBytesPerVector: Double
    var allocatedBytesPerVector: Double
    var memory: MemoryUsage
    var fileBytes: Int
    var rows: [Row]
  }

  func run() throws {
    let engine = try commandEngine()
    let threadList = try parseList(threadCounts, option: "--thread-counts")
    let loadWatch = Stopwatch()
    let loaded = try loadIndex(index, engine: engine, mode: load)
    let loadSeconds = loadWatch.seconds
    let target = loaded.index
    try requireApplicable(target, efSearch: efSearch != nil, rerank: rerank != nil, path: index)
    if int8Screening != .auto && (target is HNSWIndex || target.storage.isQuantized) {
      // The screen is a flat Float32 index's scan; anywhere else the option would do nothing.
      throw CommandFailure(
        "--int8-screening applies only to a flat index with Float32 storage; '\(index)' is \(target is HNSWIndex ? "an HNSW index" : "a flat index with \(target.storage.description) storage")")
    }
    let matrix = try readVectors(queries, what: "queries")
    guard matrix.rows > 0 else { throw CommandFailure("'\(queries)' holds no queries") }
    guard matrix.columns == target.dimension else {
      throw CommandFailure("queries '\(queries)' have dimension \(matrix.columns), the index has \(target.dimension)")
    }
    let queryVectors = matrix.elements
    let (truth, truthSource, truthDepth) = try groundTruth(for: target, queries: queryVectors, count: matrix.rows, engine: engine)
    if truthDepth < 100 {
      StandardError.write("arrowhead: note: '\(groundTruth ?? "")' holds \(truthDepth) ids per query: recall@k for k > \(truthDepth) is not reported\n")
    }

    let isHNSW = target is HNSWIndex
    let efList: [Int?] = isHNSW ? (try efSearch.map { try parseList($0, option: "--ef-search") } ?? [nil]) : [nil]
    var rows: [Row] = []
    do {
      for ef in efList {
        let base = SearchParameters(
          efSearch: ef, rerankCandidates: rerank, threads: threadList.max() ?? 1, int8Screening: int8Screening.value)
        let results10 = try target.search(batch: queryVectors, k: 10, parameters: base)  // also the warm-up
        var qps: [String: Double] = [:]
        var cpuQPS: Double?
        for threads in threadList {
          var best = Double.infinity
          var bestCPU = Double.infinity
          var parameters = base
          parameters.threads = threads
          for _ in 0..<`repeat` {
            let watch = Stopwatch()
            let cpu = threadCPUSeconds()
            _ = try target.search(batch: queryVectors, k: 10, parameters: parameters)
            best = min(best, watch.seconds)
            bestCPU = min(bestCPU, threadCPUSeconds() - cpu)
          }
          qps[String(threads)] = Double(matrix.rows) / best
          if threads == 1 { cpuQPS = Double(matrix.rows) / bestCPU }
        }
        var parameters100 = base
        parameters100.efSearch = ef.map { max($0, 100) }
        let results100 = try target.search(batch: queryVectors, k: 100, parameters: parameters100)
        rows.append(Row(
          efSearch: isHNSW ? (ef ?? (target as? HNSWIndex)?.parameters.efSearch) : nil,
          recallAt1: recall(results10, truth, k: 1),
          recallAt10: truthDepth >= 10 ? recall(results10, truth, k: 10) : nil,
          recallAt100: truthDepth >= 100 ? recall(results100, truth, k: 100) : nil,
          queriesPerSecond: qps, queriesPerCPUSecond: cpuQPS))
      }
    } catch {
      throw CommandFailure("\(error)")
    }

    let memory = target.memoryUsage
    let live = Double(max(target.count, 1))
    let vectorBytes = memory.float32Bytes + memory.codeBytes
    let report = Report(
      index: index, type: isHNSW ? "hnsw" : "flat", metric: target.metric.rawValue, storage: target.storage.description,
      vectors: target.count, dimension: target.dimension, queries: matrix.rows, groundTruth: truthSource,
      buildSeconds: loaded.metadata.buildSeconds, buildThreads: loaded.metadata.buildThreads, loadSeconds: loadSeconds,
      memoryBytes: memory.total, bytesPerVector: Double(memory.total) / live,
      vectorBytesPerVector: Double(vectorBytes) / live, searchBytesPerVector: Double(memory.searchBytes) / live,
      allocatedBytesPerVector: Double(memory.allocatedBytes) / live,
      memory: memory, fileBytes: loaded.fileBytes, rows: rows)
    switch outputOptions.format {
    case .json:
      print(try jsonString(report))
    case .table, .csv:
      var headers = isHNSW ? ["efSearch"] : ["index"]
      headers += ["recall@1", "recall@10", "recall@100"] + threadList.map { "q/s \($0)T" }
      if threadList.contains(1) { headers.append("q/CPU-s 1T") }
      var table = TextTable(headers)
      for row in rows {
        var cells = [row.efSearch.map(String.init) ?? "flat"]
        cells += [row.recallAt1, row.recallAt10, row.recallAt100].map { $0.map { formatted($0, decimals: 4) } ?? "–" }
        cells += threadList.map { formatted(row.queriesPerSecond[String($0)] ?? 0, decimals: 0) }
        if let cpu = row.queriesPerCPUSecond { cells.append(formatted(cpu, decimals: 0)) }
        table.append(cells)
      }
      print(outputOptions.format == .csv ? table.renderCSV() : table.render(), terminator: "")
      if outputOptions.format == .table {
        print("\(report.type) \(report.metric) \(report.storage): \(report.vectors) × \(report.dimension), \(report.queries) queries, ground truth: \(truthSource)")
        print("build \(formatted(report.buildSeconds, decimals: 2)) s on \(report.buildThreads) thread(s); load \(formatted(loadSeconds, decimals: 3)) s")
        print("memory \(formattedBytes(memory.total)): \(formatted(report.bytesPerVector)) bytes/vector (searched vectors \(formatted(report.vectorBytesPerVector)), re-rank copy \(formattedBytes(memory.rerankFloat32Bytes))); allocated \(formatted(report.allocatedBytesPerVector)) bytes/vector, file-mapped \(formattedBytes(memory.mappedBytes))")
      }
    }
  }

  /// Ground-truth ids per query, where they came from, and how many ids per query the
  /// source holds (a file's columns; `Int.max` when computed here: then every neighbour
  /// up to 100 is there). Recall@k needs k of them: a file of 5 columns would otherwise
  /// report recall@10 over 5 ids.
  private func groundTruth(
    for target: any VectorIndex, queries: [Float], count: Int, engine: Engine
  ) throws -> ([[Int]], String, Int) {
    if let groundTruth {
      let matrix: VectorMatrix<Int32>
      do {
        matrix = try VectorFile.readInt32(groundTruth)
      } catch {
        throw CommandFailure("\(error)")
      }
      guard matrix.rows == count else {
        throw CommandFailure("ground truth '\(groundTruth)' has \(matrix.rows) rows for \(count) queries")
      }
      guard matrix.columns >= 1 else { throw CommandFailure("ground truth '\(groundTruth)' holds no ids") }
      let elements = matrix.elements
      // Every id must be one the index holds (−1 pads rows with fewer neighbours): ids
      // from another base, or an off-by-one, would otherwise read as recall 0.
      for (position, id) in elements.enumerated() where id != -1 && (id < 0 || !target.contains(Int(id))) {
        throw CommandFailure(
          "ground truth '\(groundTruth)' row \(position / matrix.columns), column \(position % matrix.columns) holds id \(id), which the index does not hold (\(target.count) live vectors); was it computed for another base?")
      }
      return ((0..<count).map { q in elements[q * matrix.columns..<(q + 1) * matrix.columns].filter { $0 != -1 }.map { Int($0) } }, groundTruth, matrix.columns)
    }
    let flat = try FlatIndex(dimension: target.dimension, metric: target.metric, engine: engine)
    let source: String
    if let base {
      let matrix = try readVectors(base, what: "base")
      guard matrix.columns == target.dimension else {
        throw CommandFailure("base '\(base)' has dimension \(matrix.columns), the index has \(target.dimension)")
      }
      // The exact search over the base names its rows 0 ..< rows: it stands for the index
      // only if the index holds exactly those ids (built from this base, nothing deleted).
      // Another base would read as recall near 0.
      let missing = (0..<matrix.rows).first { !target.contains($0) }
      if missing != nil || matrix.rows != target.count {
        throw CommandFailure(
          "base '\(base)' has \(matrix.rows) rows but the index holds \(target.count) live vectors"
            + (missing.map { " and no vector of id \($0)" } ?? "")
            + ": --base must be the vectors the index was built from (ids 0 ..< rows, none deleted); was it built from another base? (without --base the index's own vectors are used)")
      }
      try matrix.withUnsafeBufferPointer { (rows) throws(SearchError) in _ = try flat.add(rows, ids: nil) }
      source = "exact over \(base)"
    } else {
      let (ids, vectors) = target.liveVectors()
      try flat.add(vectors, ids: ids)
      source = target.storage.isQuantized && !target.storage.keepsFloat32ForReranking
        ? "exact over the index's decoded vectors" : "exact over the index's vectors"
    }
    let k = min(100, flat.count)
    return (try flat.search(batch: queries, k: k).map(\.ids), source, Int.max)
  }

  /// CPU seconds consumed by the calling thread (single-thread searches run on it).
  private func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
  }

  private func recall(_ results: [SearchResult], _ truth: [[Int]], k: Int) -> Double {
    var hits = 0
    var total = 0
    for (result, exact) in zip(results, truth) {
      let expected = exact.prefix(k)
      hits += Set(result.ids.prefix(k)).intersection(expected).count
      total += expected.count
    }
    return total == 0 ? 0 : Double(hits) / Double(total)
  }
}

/// `--int8-screening`: the automatic choice, or forced on or off.
enum ScreeningOption: String, ExpressibleByArgument, CaseIterable, Sendable {
  case auto, on, off

  /// `SearchParameters.int8Screening`.
  var value: Bool? { self == .auto ? nil : self == .on }
}
