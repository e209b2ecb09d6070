// One fuzz target per parser. Each feeds the input to the public API exactly as a user's
// file would reach it (written to a file in a RAM-backed scratch directory, then opened),
// drives everything the parser hands back (tensors read, vectors touched, an index
// searched), and ignores the typed errors: a finding is a crash, a hang, an out-of-bounds
// access (AddressSanitizer) or a memory blow-up (libFuzzer's -rss_limit_mb), never a throw.
import ArrowheadCore
import ArrowheadIO
import ArrowheadQuant
import ArrowheadSearch
import ArrowheadTokenizer

#if canImport(Glibc)
import Glibc
#endif

/// The parsers under test (`ARROWHEAD_FUZZ_TARGET`). `scripts/fuzz.sh` runs every case;
/// each has a seed directory `Fuzz/Corpus/<raw value>/`.
enum FuzzTarget: String, CaseIterable {
  /// A safetensors file: 8-byte length, JSON header, data (`SafetensorsFile`, `SafetensorsModel`).
  case safetensors
  /// A sharded model's `model.safetensors.index.json` (over two fixed valid shards).
  case safetensorsIndex = "safetensors-index"
  /// A `.npy` file (float and integer readers).
  case npy
  /// The same bytes as `.fvecs`, `.ivecs` and `.bvecs`.
  case vecs
  /// An index file as is, loaded both ways (mapped and copied), then searched.
  case index
  /// An index file whose checksums the harness recomputes first, so that mutations reach
  /// the structural checks behind them.
  case indexFixed = "index-fixed"
  /// An Arrowhead quantized safetensors file, with and without checksum verification;
  /// every tensor loaded and dequantized, every activation set read.
  case quantized
  /// Calibration JSON Lines, then time-aware parameters computed from what parsed.
  case calibration
  /// A Hugging Face `tokenizer.json` (`Tokenizer(tokenizerJSON:)`), then texts encoded with
  /// it one at a time and as a padded batch, and the tokens named back.
  case tokenizer
  /// Text input as `arrowhead tokenize` / `embed` read it: the same bytes as lines and as
  /// JSON Lines (`TextInput.parse`).
  case texts

  func run(_ bytes: UnsafeRawBufferPointer) {
    switch self {
    case .safetensors: Self.safetensors(bytes)
    case .safetensorsIndex: Self.safetensorsIndex(bytes)
    case .npy: Self.npy(bytes)
    case .vecs: Self.vecs(bytes)
    case .index: Self.index(bytes)
    case .indexFixed:
      var copy = Array(bytes)
      IndexChecksums.repair(&copy)
      copy.withUnsafeBytes { Self.index($0) }
    case .quantized: Self.quantized(bytes)
    case .calibration: Self.calibration(bytes)
    case .tokenizer: Self.tokenizer(bytes)
    case .texts: Self.texts(bytes)
    }
  }

  static func safetensors(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: "input.safetensors")
    if let file = try? SafetensorsFile(path: path) {
      for tensor in file.tensors { touch(file, tensor) }
    }
    if let model = try? SafetensorsModel(path: path) {
      for entry in model.entries { touch(entry.file, entry.info) }
    }
  }

  static func safetensorsIndex(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: FuzzScratch.indexName)
    guard let model = try? SafetensorsModel(path: path) else { return }
    for entry in model.entries { touch(entry.file, entry.info) }
  }

  /// Reads every value of a float tensor (and the raw bytes of any other).
  static func touch(_ file: SafetensorsFile, _ tensor: SafetensorsTensorInfo) {
    var sum: UInt8 = 0
    for byte in file.bytes(of: tensor) { sum &+= byte }
    _ = try? file.withFloats(tensor) { (values: UnsafeBufferPointer<Float>) throws(Never) in
      var total: Float = 0
      for value in values { total += value }
      blackHole(total)
    }
    blackHole(Float(sum))
  }

  static func npy(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: "input.npy")
    _ = try? NPYFile.readHeader(path)
    if let matrix = try? NPYFile.readFloat32(path) {
      matrix.withUnsafeBufferPointer { values in blackHole(values.reduce(0, +)) }
    }
    if let matrix = try? NPYFile.readInt32(path) {
      matrix.withUnsafeBufferPointer { values in blackHole(Float(values.reduce(0, &+))) }
    }
  }

  static func vecs(_ bytes: UnsafeRawBufferPointer) {
    for name in ["input.fvecs", "input.bvecs"] {
      let path = FuzzScratch.shared.write(bytes, as: name)
      if let matrix = try? VecsFile.readFloat32(path) {
        matrix.withUnsafeBufferPointer { values in blackHole(values.reduce(0, +)) }
      }
    }
    let path = FuzzScratch.shared.write(bytes, as: "input.ivecs")
    if let matrix = try? VecsFile.readInt32(path) {
      matrix.withUnsafeBufferPointer { values in blackHole(Float(values.reduce(0, &+))) }
    }
  }

  static func index(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: "input.ahi")
    for memoryMap in [true, false] {
      guard let loaded = try? IndexFile.load(path, options: IndexFile.LoadOptions(memoryMap: memoryMap), engine: FuzzScratch.shared.engine)
      else { continue }
      let index = loaded.index
      // A file that loads must be safe to search (the loader's promise).
      let query = [Float](repeating: 0.5, count: index.dimension)
      _ = try? index.search(query, k: 3)
      if let hnsw = index as? HNSWIndex {
        _ = try? hnsw.search(query, k: 2, parameters: SearchParameters(efSearch: 4))
      }
      blackHole(Float(index.count))
    }
  }

  static func quantized(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: "input.q.safetensors")
    for verify in [true, false] {
      guard let file = try? QuantizedModelFile(path: path, verifyChecksums: verify, engine: FuzzScratch.shared.engine) else { continue }
      for entry in file.entries {
        switch entry {
        case .quantized(let info):
          // Skip tensors too large to dequantize within the memory limit (the file itself
          // may be small: a short code section still describes few weights).
          if let tensor = try? file.tensor(info.name), tensor.count <= 1 << 22 {
            blackHole(tensor.dequantized(engine: FuzzScratch.shared.engine).reduce(0, +))
          }
        case .activation(let layer):
          _ = try? file.activationParameters(layer)
        case .plain(let plain):
          touch(plain.file, plain.info)
        }
      }
    }
  }

  static func calibration(_ bytes: UnsafeRawBufferPointer) {
    guard let set = try? CalibrationSet.parse(jsonLines: Array(bytes), file: "fuzz.jsonl"),
      let last = set.maximumTimestep
    else { return }
    let timesteps = last + 1
    for groups in Set([1, min(3, timesteps)]) {
      guard let grouping = try? TimeGrouping(timesteps: timesteps, groups: groups) else { continue }
      let smoothing = BoundarySmoothing.maximumWindow(for: grouping) >= 1 ? try? BoundarySmoothing(curve: .cubic, window: 1) : nil
      for estimator in [ActivationRangeEstimator.minMax, .percentile(99)] {
        guard let configuration = try? TimeAwareConfiguration(grouping: grouping, estimator: estimator, smoothing: smoothing) else { continue }
        _ = try? TimeAwareCalibrator.parameters(for: set, configuration: configuration)
      }
      // The held-out split (by row or by source) of every layer with samples.
      for layer in set.layers {
        guard let data = try? ActivationCalibrationData(layer: layer, calibration: set, grouping: grouping) else { continue }
        blackHole(Float(data.groups.reduce(0) { $0 + $1.fit.count + $1.heldOut.count + $1.heldOutClusters.count }))
      }
    }
  }
}

extension FuzzTarget {
  /// Texts that reach every tokenizer stage: accents, CJK, emoji, control characters,
  /// punctuation, a long word and a text longer than any small maximum length.
  static let tokenizerTexts = [
    "Hello, world! Héllo wörld.", "你好世界 and ｆｕｌｌｗｉｄｔｈ", "emoji 🙂👍🏽 \u{0}\u{7}\t\r\n tab",
    String(repeating: "x", count: 150), String(repeating: "the quick brown fox ", count: 40), "",
  ]

  static func tokenizer(_ bytes: UnsafeRawBufferPointer) {
    let path = FuzzScratch.shared.write(bytes, as: "tokenizer.json")
    guard let tokenizer = try? Tokenizer(tokenizerJSON: path) else { return }
    for text in tokenizerTexts {
      let encoding = tokenizer.encode(text)
      blackHole(Float(tokenizer.tokens(encoding).count + encoding.ids.count))
      blackHole(Float(tokenizer.normalized(text).utf8.count))
    }
    let batch = tokenizer.encode(tokenizerTexts, threads: 1)
    blackHole(Float(batch.idMatrix().count + batch.attentionMatrix().count))
  }

  static func texts(_ bytes: UnsafeRawBufferPointer) {
    for format in [TextInput.Format.lines, .jsonLines] {
      if let input = try? TextInput.parse(Array(bytes), path: "fuzz.txt", format: format) {
        blackHole(Float(input.texts.reduce(0) { $0 + $1.utf8.count }))
      }
    }
  }
}

/// Keeps a value alive so that the reads computing it are not optimised away.
@inline(never) @_optimize(none)
func blackHole(_ value: Float) {
  _ = value
}
