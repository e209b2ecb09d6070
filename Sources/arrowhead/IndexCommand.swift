import ArgumentParser
import Arrowhead
import ArrowheadIO
import ArrowheadEncoder
import ArrowheadSearch
import Foundation

/// `arrowhead index build|search|eval`: build a flat or HNSW index from a vector file,
/// search it, and measure recall and throughput.
struct Index: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build, search and evaluate nearest-neighbour indexes (flat exact, HNSW).",
    discussion: """
      Vectors are read from .npy (float32 C order; float64 is converted with a note), .fvecs \
      or .bvecs; ground truth from .npy (integers) or .ivecs. Examples:
        arrowhead index build --input base.npy --type hnsw --metric cosine \\
          -o glove.ahi
        arrowhead index search --index glove.ahi --queries q.npy -k 10
        arrowhead index eval --index glove.ahi --queries q.npy \\
          --ground-truth gt.npy --ef-search 32,64,128
      Texts (embedded with a sentence-transformers model; the texts are kept in INDEX.texts.jsonl):
        arrowhead index build --model all-MiniLM-L6-v2 --text texts.txt -o texts.ahi
        arrowhead index search --index texts.ahi --model all-MiniLM-L6-v2 \\
          --text "a query" -k 5
      """,
    subcommands: [IndexBuild.self, IndexSearch.self, IndexEval.self]
  )
}

/// The index types `--type` accepts.
enum IndexType: String, ExpressibleByArgument, CaseIterable, Sendable, Codable {
  case flat, hnsw
}

/// The storage encodings `--storage` accepts.
enum StorageOption: String, ExpressibleByArgument, CaseIterable, Sendable {
  case f32, int8, int4

  var encoding: VectorStorage.Encoding {
    switch self {
    case .f32: .float32
    case .int8: .int8
    case .int4: .int4
    }
  }
}

extension Metric: ExpressibleByArgument {}

/// Reads a float matrix, turning file errors into clean CLI failures and printing
/// conversion notes on stderr.
func readVectors(_ path: String, what: String) throws -> VectorMatrix<Float> {
  do {
    let matrix = try VectorFile.readFloat32(path)
    for note in matrix.notes { StandardError.write("arrowhead: \(what) '\(path)': \(note)\n") }
    return matrix
  } catch {
    throw CommandFailure("\(error)")
  }
}

/// How `search` and `eval` bring an index into memory.
enum LoadMode: String, ExpressibleByArgument, CaseIterable, Sendable {
  /// Map the file (no copy; pages are read on demand).
  case map
  /// Copy into memory (2 MiB-aligned, huge-page-advised buffers: faster random access).
  case copy
}

/// Loads an index file as a clean CLI failure on error.
func loadIndex(_ path: String, engine: Engine, mode: LoadMode = .map) throws -> IndexFile.Loaded {
  do {
    return try IndexFile.load(path, options: IndexFile.LoadOptions(memoryMap: mode == .map), engine: engine)
  } catch {
    throw CommandFailure("\(error)")
  }
}

/// A wall-clock stopwatch.
struct Stopwatch {
  private let start = DispatchTime.now().uptimeNanoseconds
  var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}

/// CPU seconds used by this process so far (all threads, user + system).
func processCPUSeconds() -> Double {
  var usage = rusage()
  #if os(Linux)
  getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
  #else
  getrusage(RUSAGE_SELF, &usage)
  #endif
  let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
  let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
  return user + system
}

/// Parses "16,32,64" into integers ≥ 1.
func parseList(_ text: String, option: String) throws -> [Int] {
  let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
    throw ValidationError("\(option) must be a comma-separated list of positive integers, got '\(text)'")
  }
  return values.map { $0! }
}

// MARK: - build

struct IndexBuild: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "build", abstract: "Build an index from a vector file and save it.")

  @Option(name: .long, help: "Base vectors (.npy, .fvecs, .bvecs).")
  var input: String?

  @Option(name: .long, help: "Instead of --input: a text file (one text per line) to embed with --model.")
  var text: String?

  @OptionGroup var encoderOptions: EncoderOptions

  @Option(name: .long, help: "Index type: flat (exact) or hnsw.")
  var type: IndexType = .hnsw

  @Option(name: .long, help: "Metric: l2 (squared Euclidean), ip (inner product) or cosine (default: l2; cosine with --text).")
  var metric: Metric?

  @Option(name: .long, help: "Vector storage: f32, int8 (SQ8) or int4 (SQ4).")
  var storage: StorageOption = .f32

  @Flag(name: .long, help: "With int8/int4 storage, keep float32 copies for exact re-ranking.")
  var rerank = false

  @Option(name: .customShort("M"), help: "HNSW links per node (2·M on layer 0; default 16).")
  var mOption: Int?

  @Option(name: .customLong("ef-construction"), help: "HNSW candidate list size while building (default 200).")
  var efConstructionOption: Int?

  @Option(name: .customLong("ef-search"), help: "HNSW default candidate list size for searches, stored in the index (default 64).")
  var efSearchOption: Int?

  @Option(name: .customLong("seed"), help: "Seed of the HNSW level generator (default 42; the build is deterministic for a seed on 1 thread).")
  var seedOption: UInt64?

  @Option(name: .customLong("layer0-links"), help: "HNSW neighbours chosen for a new node on layer 0 (1 … 2·M; default 3·M/2; faiss uses 2·M, hnswlib M).")
  var layer0Links: Int?

  var m: Int { mOption ?? 16 }
  var efConstruction: Int { efConstructionOption ?? 200 }
  var efSearch: Int { efSearchOption ?? 64 }
  var seed: UInt64 { seedOption ?? 42 }

  @Option(name: .long, help: "Build threads (default: ARROWHEAD_THREADS or all cores).")
  var threads: Int?

  @Option(name: .long, help: "Use only the first N vectors of the input.")
  var limit: Int?

  @Option(name: .shortAndLong, help: "Output index file.")
  var output: String

  @Flag(name: .long, help: "No progress bar.")
  var quiet = false

  @OptionGroup var outputOptions: OutputOptions

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1") }
    if rerank && storage == .f32 { throw ValidationError("--rerank applies to --storage int8 or int4") }
    if type == .flat {
      for (given, option) in [(mOption != nil, "-M"), (efConstructionOption != nil, "--ef-construction"),
                              (efSearchOption != nil, "--ef-search"), (seedOption != nil, "--seed"),
                              (layer0Links != nil, "--layer0-links")] {
        try requireApplicable(given, option, needs: "--type hnsw")
      }
    }
    if let layer0Links, layer0Links < 1 || layer0Links > 2 * m {
      throw ValidationError("--layer0-links must be in 1 … 2·M = \(2 * m)")
    }
    if (input == nil) == (text == nil) { throw ValidationError("give either --input (vectors) or --text (texts to embed)") }
    if text != nil && encoderOptions.model == nil { throw ValidationError("--text needs --model") }
    try requireApplicable(text == nil && encoderOptions.model != nil, "--model", needs: "--text")
    try requireDistinctOutput(output, from: [input, text])
  }

  struct Report: Codable {
    var type: IndexType
    var metric: String
    var storage: String
    var vectors: Int
    var dimension: Int
    var buildSeconds: Double
    /// CPU seconds (all threads, user + system) the build took: unlike wall time, not
    /// inflated when other processes share the cores.
    var buildCPUSeconds: Double
    var threads: Int
    var m: Int?
    var efConstruction: Int?
    var seed: UInt64?
    var memoryBytes: Int
    var bytesPerVector: Double
    var fileBytes: Int
    var output: String
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let threadCount = engine.effectiveThreads
    // The index (and its text catalogue) are written after the build: a destination that
    // cannot take them fails now, not after minutes of work.
    try requireWritableOutput(output, option: "-o")
    if text != nil { try requireWritableOutput(TextCatalog.path(forIndex: output), option: "-o (text catalogue)") }
    let baseline = AtomicFile.baseline(of: output)
    let metric = self.metric ?? (text == nil ? .squaredL2 : .cosine)
    var catalog: TextCatalog?
    var matrix: VectorMatrix<Float>
    if let text {
      (matrix, catalog) = try embedTexts(text, engine: engine)
    } else {
      matrix = try readVectors(input ?? "", what: "input")
    }
    if let limit, limit < matrix.rows { matrix = matrix.prefix(rows: limit) }
    guard matrix.rows > 0 else { throw CommandFailure("'\(input ?? "")' holds no vectors") }
    let vectorStorage = VectorStorage(storage.encoding, keepsFloat32ForReranking: rerank)
    let index: any VectorIndex
    let watch = Stopwatch()
    let cpuStart = processCPUSeconds()
    do {
      switch type {
      case .flat:
        index = try FlatIndex(dimension: matrix.columns, metric: metric, storage: vectorStorage, engine: engine)
        try matrix.withUnsafeBufferPointer { (rows) throws(SearchError) in _ = try index.add(rows, ids: nil) }
      case .hnsw:
        let parameters = HNSWParameters(
          m: m, efConstruction: efConstruction, efSearch: efSearch, seed: seed, buildThreads: threadCount,
          layer0InsertionLinks: layer0Links)
        let hnsw = try HNSWIndex(
          dimension: matrix.columns, metric: metric, storage: vectorStorage, parameters: parameters, engine: engine)
        let bar = ProgressBar(total: matrix.rows, label: "hnsw build", enabled: !quiet)
        try matrix.withUnsafeBufferPointer { (rows) throws(SearchError) in
          _ = try hnsw.add(rows, ids: nil, progress: { bar.advance(by: $0) })
        }
        bar.finish()
        index = hnsw
      }
    } catch {
      throw CommandFailure("\(error)")
    }
    let seconds = watch.seconds
    let cpuSeconds = processCPUSeconds() - cpuStart
    do {
      try IndexFile.save(index, to: output, metadata: IndexFile.Metadata(buildSeconds: seconds, buildThreads: threadCount), since: baseline)
      try catalog?.write(to: TextCatalog.path(forIndex: output))
    } catch {
      throw CommandFailure("\(error)")
    }
    let fileBytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
    let memory = index.memoryUsage.total
    let report = Report(
      type: type, metric: metric.rawValue, storage: vectorStorage.description, vectors: index.count,
      dimension: index.dimension, buildSeconds: seconds, buildCPUSeconds: cpuSeconds, threads: threadCount,
      m: type == .hnsw ? m : nil, efConstruction: type == .hnsw ? efConstruction : nil, seed: type == .hnsw ? seed : nil,
      memoryBytes: memory, bytesPerVector: Double(memory) / Double(max(index.count, 1)), fileBytes: fileBytes,
      output: output)
    switch outputOptions.format {
    case .json:
      print(try jsonString(report))
    case .table, .csv:
      var table = TextTable(["property", "value"])
      table.append(["index", "\(type.rawValue) (\(metric.rawValue), \(vectorStorage))"])
      table.append(["vectors", "\(report.vectors) × \(report.dimension)"])
      if type == .hnsw { table.append(["parameters", "M \(m), efConstruction \(efConstruction), seed \(seed)"]) }
      table.append(["build time", formatted(seconds, decimals: 2) + " s on \(threadCount) thread(s) (CPU " + formatted(cpuSeconds, decimals: 2) + " s)"])
      table.append(["memory", formattedBytes(memory) + " (" + formatted(report.bytesPerVector) + " bytes/vector)"])
      table.append(["file", "\(output) (\(formattedBytes(fileBytes)))"])
      print(outputOptions.format == .csv ? table.renderCSV() : table.render(), terminator: "")
    }
  }
}
