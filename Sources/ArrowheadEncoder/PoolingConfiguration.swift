import ArrowheadIO

/// How token states become one sentence embedding: the sentence-transformers `Pooling`
/// module (`1_Pooling/config.json`) and an optional `Normalize` module.
///
/// With several modes switched on, their vectors are concatenated in sentence-transformers'
/// order: CLS, max, mean, mean·√n (each `hiddenSize` wide).
///
/// - `cls`: the first token's state (`[CLS]`).
/// - `max`: the element-wise maximum over the sequence's tokens.
/// - `mean`: the average over the sequence's tokens, (1/n)·Σ hᵢ.
/// - `meanSquareRootLength`: Σ hᵢ / √n.
///
/// Padding never enters a pooled value: the encoder never forms padded positions.
public struct PoolingConfiguration: Sendable, Equatable, Hashable {
  /// One pooling mode.
  public enum Mode: String, Sendable, Hashable, CaseIterable {
    /// The first token (`pooling_mode_cls_token`).
    case cls
    /// The element-wise maximum (`pooling_mode_max_tokens`).
    case max
    /// The mean (`pooling_mode_mean_tokens`).
    case mean
    /// The sum divided by √length (`pooling_mode_mean_sqrt_len_tokens`).
    case meanSquareRootLength

    /// The `1_Pooling/config.json` field that switches this mode on.
    public var field: String {
      switch self {
      case .cls: "pooling_mode_cls_token"
      case .max: "pooling_mode_max_tokens"
      case .mean: "pooling_mode_mean_tokens"
      case .meanSquareRootLength: "pooling_mode_mean_sqrt_len_tokens"
      }
    }
  }

  /// The modes switched on, in concatenation order (never empty).
  public var modes: [Mode]
  /// Whether the pooled vector is divided by its Euclidean norm (a `Normalize` module).
  public var normalizes: Bool

  /// Creates a configuration; `modes` are put in concatenation order and deduplicated.
  /// Throws `.invalidOption` for an empty list.
  public init(modes: [Mode], normalizes: Bool) throws(EncoderError) {
    let ordered = Mode.allCases.filter { modes.contains($0) }
    guard !ordered.isEmpty else {
      throw .invalidOption(name: "modes", value: "[]", expected: "at least one pooling mode")
    }
    self.modes = ordered
    self.normalizes = normalizes
  }

  /// Reads a sentence-transformers pooling `config.json`, checking that its
  /// `word_embedding_dimension` (when present) is `hiddenSize`.
  public init(contentsOf path: String, hiddenSize: Int, normalizes: Bool) throws(EncoderError) {
    let json = try ModelFolder.readJSON(path, what: "the sentence-transformers pooling configuration")
    let reader = try ConfigurationReader(json, file: path)
    if reader.has("word_embedding_dimension") {
      let width = try reader.positiveInteger("word_embedding_dimension")
      guard width == hiddenSize else {
        throw .invalidField(
          file: path, field: "word_embedding_dimension", reason: "= \(width) differs from the model's hidden_size \(hiddenSize)")
      }
    }
    var modes: [Mode] = []
    if let name = try reader.string("pooling_mode") {
      // The constructor-style spelling ("mean", "cls", "max", "mean_sqrt_len_tokens").
      let byName: [String: Mode] = ["cls": .cls, "max": .max, "mean": .mean, "mean_sqrt_len_tokens": .meanSquareRootLength]
      guard let mode = byName[name] else {
        throw .unsupported(file: path, field: "pooling_mode", value: "\"\(name)\"", supported: byName.keys.sorted())
      }
      modes.append(mode)
    }
    for mode in Mode.allCases where try reader.bool(mode.field, default: false) { modes.append(mode) }
    for field in ["pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"] where try reader.bool(field, default: false) {
      throw .unsupported(file: path, field: field, value: "true", supported: Mode.allCases.map(\.field))
    }
    guard !modes.isEmpty else {
      throw .invalidField(
        file: path, field: "pooling_mode_mean_tokens",
        reason: "and the other pooling modes are all false or missing; one of \(Mode.allCases.map(\.field).joined(separator: ", ")) must be true")
    }
    try self.init(modes: modes, normalizes: normalizes)
  }

  /// Width of the pooled vector for `hiddenSize`-wide token states: one `hiddenSize` per mode.
  ///
  /// - Precondition: `hiddenSize ≥ 0` and `modes.count · hiddenSize` fits in `Int`; it traps
  ///   with a message otherwise. A loaded model's `hidden_size` always fits (its tensors
  ///   have that width), so only a constant written in code can break this.
  public func outputDimension(hiddenSize: Int) -> Int {
    let (width, overflow) = modes.count.multipliedReportingOverflow(by: hiddenSize)
    precondition(
      hiddenSize >= 0 && !overflow,
      "PoolingConfiguration.outputDimension(hiddenSize:): \(modes.count) modes × hidden size \(hiddenSize) is not a width")
    return width
  }
}

/// The layout of a sentence-transformers model folder, from its `modules.json`: where the
/// transformer's files are, the pooling configuration, whether a Normalize module follows,
/// and the maximum sequence length (`sentence_bert_config.json`).
///
/// Supported pipelines: Transformer → Pooling → optional Normalize. Any other module
/// (Dense, LayerNorm, CNN …) is refused with `EncoderError.unsupported` naming its type.
public struct SentenceTransformerLayout: Sendable, Equatable {
  /// The folder holding `config.json`, the weights and the tokenizer files.
  public var transformerFolder: String
  /// The pooling `config.json`.
  public var poolingConfigurationPath: String
  /// Whether a Normalize module follows the pooling.
  public var normalizes: Bool
  /// `max_seq_length` from `sentence_bert_config.json`, if present.
  public var maximumSequenceLength: Int?

  /// Reads `folder/modules.json` (and `sentence_bert_config.json` next to the transformer).
  public init(folder: String) throws(EncoderError) {
    let path = ModelFolder.join(folder, "modules.json")
    let json = try ModelFolder.readJSON(path, what: "the sentence-transformers module list")
    guard let modules = json.array else {
      throw .invalidFile(path: path, reason: "expected a JSON array of modules, found \(json.typeName)")
    }
    var entries: [(index: Int, kind: String, path: String)] = []
    for (position, module) in modules.enumerated() {
      let reader = try ConfigurationReader(module, file: path)
      guard let type = try reader.string("type") else {
        throw .invalidField(file: path, field: "[\(position)].type", reason: "is missing")
      }
      let kind = String(type.split(separator: ".").last ?? "")
      guard type.hasPrefix("sentence_transformers."), ["Transformer", "Pooling", "Normalize"].contains(kind) else {
        throw .unsupported(
          file: path, field: "[\(position)].type", value: "\"\(type)\"",
          supported: ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling", "sentence_transformers.models.Normalize"])
      }
      let index = module["idx"]?.integer ?? position
      entries.append((index, kind, try reader.string("path", default: "") ?? ""))
    }
    entries.sort { $0.index < $1.index }
    let kinds = entries.map(\.kind)
    guard kinds == ["Transformer", "Pooling"] || kinds == ["Transformer", "Pooling", "Normalize"] else {
      throw .unsupported(
        file: path, field: "module order", value: kinds.joined(separator: " → "),
        supported: ["Transformer → Pooling", "Transformer → Pooling → Normalize"])
    }
    for entry in entries where entry.path.hasPrefix("/") || entry.path.split(separator: "/").contains("..") {
      throw .invalidField(file: path, field: "path", reason: "\"\(entry.path)\" must be a relative folder inside the model folder")
    }
    transformerFolder = ModelFolder.join(folder, entries[0].path)
    poolingConfigurationPath = ModelFolder.join(ModelFolder.join(folder, entries[1].path), "config.json")
    normalizes = kinds.count == 3
    let bertConfig = ModelFolder.join(transformerFolder, "sentence_bert_config.json")
    if ModelFolder.isFile(bertConfig) {
      let reader = try ConfigurationReader(
        try ModelFolder.readJSON(bertConfig, what: "the sentence-transformers settings"), file: bertConfig)
      maximumSequenceLength = reader.has("max_seq_length") ? try reader.positiveInteger("max_seq_length") : nil
    } else {
      maximumSequenceLength = nil
    }
  }
}
