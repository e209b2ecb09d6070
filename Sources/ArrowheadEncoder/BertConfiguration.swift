import ArrowheadIO

/// The shape and settings of a BERT encoder, read from a Hugging Face `config.json`.
///
/// Required fields: `hidden_size`, `num_attention_heads`, `num_hidden_layers`,
/// `intermediate_size`. Optional fields take the defaults of Hugging Face's `BertConfig`:
/// `vocab_size` 30522, `max_position_embeddings` 512, `type_vocab_size` 2,
/// `layer_norm_eps` 1e-12, `hidden_act` "gelu", `position_embedding_type` "absolute".
/// Anything this encoder does not implement is refused with
/// `EncoderError.unsupported` naming the field: a `model_type` other than "bert", an
/// architecture that is not a BERT class, an activation other than the exact (erf) GELU,
/// relative position embeddings, a decoder configuration.
///
/// ```swift
/// let configuration = try BertConfiguration(contentsOf: "all-MiniLM-L6-v2/config.json")
/// configuration.hiddenSize        // 384
/// configuration.headDimension     // 32
/// ```
public struct BertConfiguration: Sendable, Equatable, Hashable {
  /// The activation of the feed-forward block.
  public enum Activation: String, Sendable, Hashable, CaseIterable {
    /// GELU with the exact normal CDF: x·Φ(x) = x·(1 + erf(x/√2))/2 (`"gelu"` in
    /// `config.json`, what BERT and all-MiniLM use).
    case gelu
  }

  /// Rows of the word-embedding table (`vocab_size`).
  public var vocabularySize: Int
  /// Width of every hidden state (`hidden_size`).
  public var hiddenSize: Int
  /// Attention heads per layer (`num_attention_heads`); must divide `hiddenSize`.
  public var attentionHeads: Int
  /// Transformer layers (`num_hidden_layers`).
  public var layers: Int
  /// Width of the feed-forward block (`intermediate_size`).
  public var intermediateSize: Int
  /// Rows of the position-embedding table (`max_position_embeddings`): the longest input.
  public var maximumPositions: Int
  /// Rows of the token-type (segment) table (`type_vocab_size`).
  public var tokenTypes: Int
  /// ε added to the variance in every LayerNorm (`layer_norm_eps`).
  public var layerNormEpsilon: Float
  /// The feed-forward activation (`hidden_act`).
  public var activation: Activation

  /// Width of one attention head: hiddenSize / attentionHeads.
  public var headDimension: Int { hiddenSize / attentionHeads }

  /// Creates a configuration from explicit values (tests, synthetic models).
  /// Throws `.invalidOption` if a size is not positive, the heads do not divide the width,
  /// or the LayerNorm ε is not a finite positive number.
  public init(
    vocabularySize: Int, hiddenSize: Int, attentionHeads: Int, layers: Int, intermediateSize: Int,
    maximumPositions: Int = 512, tokenTypes: Int = 2, layerNormEpsilon: Float = 1e-12, activation: Activation = .gelu
  ) throws(EncoderError) {
    for (name, value) in [
      ("vocabularySize", vocabularySize), ("hiddenSize", hiddenSize), ("attentionHeads", attentionHeads),
      ("layers", layers), ("intermediateSize", intermediateSize), ("maximumPositions", maximumPositions),
      ("tokenTypes", tokenTypes),
    ] where value < 1 {
      throw .invalidOption(name: name, value: String(value), expected: "a positive integer")
    }
    guard hiddenSize % attentionHeads == 0 else {
      throw .invalidOption(
        name: "attentionHeads", value: String(attentionHeads), expected: "a divisor of hiddenSize \(hiddenSize)")
    }
    guard layerNormEpsilon.isFinite, layerNormEpsilon > 0 else {
      throw .invalidOption(name: "layerNormEpsilon", value: "\(layerNormEpsilon)", expected: "a finite positive number")
    }
    self.vocabularySize = vocabularySize
    self.hiddenSize = hiddenSize
    self.attentionHeads = attentionHeads
    self.layers = layers
    self.intermediateSize = intermediateSize
    self.maximumPositions = maximumPositions
    self.tokenTypes = tokenTypes
    self.layerNormEpsilon = layerNormEpsilon
    self.activation = activation
  }

  /// The same values after the checks of `init(vocabularySize:…)`: the properties are
  /// mutable, so a configuration changed after it was made is checked again where it is used.
  func validated() throws(EncoderError) -> BertConfiguration {
    try BertConfiguration(
      vocabularySize: vocabularySize, hiddenSize: hiddenSize, attentionHeads: attentionHeads, layers: layers,
      intermediateSize: intermediateSize, maximumPositions: maximumPositions, tokenTypes: tokenTypes,
      layerNormEpsilon: layerNormEpsilon, activation: activation)
  }

  /// Reads `config.json` at `path`.
  public init(contentsOf path: String) throws(EncoderError) {
    try self.init(json: try ModelFolder.readJSON(path, what: "the model configuration"), file: path)
  }

  /// Reads a parsed `config.json`; `file` names it in errors.
  public init(json: JSONValue, file: String) throws(EncoderError) {
    let reader = try ConfigurationReader(json, file: file)
    let modelType = try reader.string("model_type")
    if let modelType, modelType != "bert" {
      throw .unsupported(file: file, field: "model_type", value: "\"\(modelType)\"", supported: ["\"bert\""])
    }
    if let architectures = json["architectures"]?.array {
      for value in architectures {
        guard let name = value.string, name.hasPrefix("Bert") else {
          throw .unsupported(
            file: file, field: "architectures", value: ConfigurationReader.render(value),
            supported: ["BERT classes (BertModel, BertForMaskedLM, …)"])
        }
      }
    } else if modelType == nil {
      throw .invalidField(file: file, field: "model_type", reason: "is missing (\"bert\" is required when no architectures are listed)")
    }
    let activationName = try reader.string("hidden_act", default: "gelu") ?? "gelu"
    guard let activation = Activation(rawValue: activationName) else {
      throw .unsupported(
        file: file, field: "hidden_act", value: "\"\(activationName)\"",
        supported: Activation.allCases.map { "\"\($0.rawValue)\" (exact erf GELU)" })
    }
    let positions = try reader.string("position_embedding_type", default: "absolute") ?? "absolute"
    guard positions == "absolute" else {
      throw .unsupported(file: file, field: "position_embedding_type", value: "\"\(positions)\"", supported: ["\"absolute\""])
    }
    if try reader.bool("is_decoder", default: false) {
      throw .unsupported(file: file, field: "is_decoder", value: "true", supported: ["false (encoders only)"])
    }
    let hidden = try reader.positiveInteger("hidden_size")
    let heads = try reader.positiveInteger("num_attention_heads")
    guard hidden % heads == 0 else {
      throw .invalidField(
        file: file, field: "num_attention_heads", reason: "= \(heads) does not divide hidden_size \(hidden)")
    }
    let epsilon = try reader.positiveNumber("layer_norm_eps", default: 1e-12)
    try self.init(
      vocabularySize: try reader.positiveInteger("vocab_size", default: 30522),
      hiddenSize: hidden,
      attentionHeads: heads,
      layers: try reader.positiveInteger("num_hidden_layers"),
      intermediateSize: try reader.positiveInteger("intermediate_size"),
      maximumPositions: try reader.positiveInteger("max_position_embeddings", default: 512),
      tokenTypes: try reader.positiveInteger("type_vocab_size", default: 2),
      layerNormEpsilon: Float(epsilon),
      activation: activation)
  }
}
