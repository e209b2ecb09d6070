import ArrowheadCore
import ArrowheadIO
import Foundation

/// A small BERT with seeded random weights, written as a sentence-transformers folder, and
/// a scalar forward pass in Double that states the maths independently of the encoder.
public struct TinyBert: Sendable {
  public var vocabulary = 40
  public var hidden = 32
  public var heads = 4
  public var layers = 2
  public var intermediate = 48
  public var positions = 24
  public var tokenTypes = 2
  public var epsilon = 1e-5
  /// Every tensor by its Hugging Face name, row-major.
  public var tensors: [String: (shape: [Int], values: [Float])] = [:]

  public init(seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    func add(_ name: String, _ shape: [Int], range: Range<Float>) {
      tensors[name] = (shape, generator.floats(shape.reduce(1, *), in: range))
    }
    add("embeddings.word_embeddings.weight", [vocabulary, hidden], range: -1..<1)
    add("embeddings.position_embeddings.weight", [positions, hidden], range: -0.5..<0.5)
    add("embeddings.token_type_embeddings.weight", [tokenTypes, hidden], range: -0.5..<0.5)
    add("embeddings.LayerNorm.weight", [hidden], range: 0.5..<1.5)
    add("embeddings.LayerNorm.bias", [hidden], range: -0.2..<0.2)
    for layer in 0..<layers {
      let p = "encoder.layer.\(layer)."
      // Weights of scale ~1/√fan-in keep the activations O(1), like a trained model.
      let square = Float(1 / Double(hidden).squareRoot())
      for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
        add(p + name + ".weight", [hidden, hidden], range: -2 * square..<2 * square)
        add(p + name + ".bias", [hidden], range: -0.1..<0.1)
      }
      add(p + "intermediate.dense.weight", [intermediate, hidden], range: -2 * square..<2 * square)
      add(p + "intermediate.dense.bias", [intermediate], range: -0.5..<0.5)
      let wide = Float(1 / Double(intermediate).squareRoot())
      add(p + "output.dense.weight", [hidden, intermediate], range: -2 * wide..<2 * wide)
      add(p + "output.dense.bias", [hidden], range: -0.1..<0.1)
      for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
        add(p + norm + ".weight", [hidden], range: 0.5..<1.5)
        add(p + norm + ".bias", [hidden], range: -0.2..<0.2)
      }
    }
    add("pooler.dense.weight", [hidden, hidden], range: -0.1..<0.1)  // present in checkpoints, unused
  }

  public var configurationJSON: [String: Any] {
    [
      "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_size": hidden,
      "num_attention_heads": heads, "num_hidden_layers": layers, "intermediate_size": intermediate,
      "max_position_embeddings": positions, "type_vocab_size": tokenTypes, "vocab_size": vocabulary,
      "layer_norm_eps": epsilon, "position_embedding_type": "absolute",
    ]
  }

  /// Writes the folder: config.json, model.safetensors (in `dtype`), modules.json,
  /// 1_Pooling/config.json with `pooling` switched on, and a Normalize module if asked.
  /// `configuration` edits the config.json dictionary before it is written.
  @discardableResult
  public func write(
    to folder: URL, dtype: SafetensorsDType = .f32, pooling: [String] = ["pooling_mode_mean_tokens"],
    normalize: Bool = true, configuration edit: (inout [String: Any]) -> Void = { _ in }
  ) throws -> URL {
    let manager = FileManager.default
    try manager.createDirectory(at: folder.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
    var config = configurationJSON
    edit(&config)
    try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: folder.appendingPathComponent("config.json"))
    var modules: [[String: Any]] = [
      ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
      ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
    ]
    if normalize { modules.append(["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"]) }
    try JSONSerialization.data(withJSONObject: modules).write(to: folder.appendingPathComponent("modules.json"))
    var poolingConfig: [String: Any] = ["word_embedding_dimension": hidden]
    for mode in ["pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"] {
      poolingConfig[mode] = pooling.contains(mode)
    }
    try JSONSerialization.data(withJSONObject: poolingConfig).write(to: folder.appendingPathComponent("1_Pooling/config.json"))
    try writeWeights(to: folder.appendingPathComponent("model.safetensors"), dtype: dtype)
    try (Self.vocabularyTokens.joined(separator: "\n") + "\n").write(
      to: folder.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    return folder
  }

  /// The WordPiece vocabulary of `vocabulary` (40) tokens: id = position.
  public static let vocabularyTokens: [String] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat", "on", "mat", "and", "is", "big",
    "small", "red", "blue", "run", "##s", "##ing", "##ed", "fast", "slow", "house", "tree", "bird", "sing", ".", ",",
    "!", "?", "we", "you", "it", "see", "look", "green", "sun", "moon",
  ]

  public func writeWeights(to url: URL, dtype: SafetensorsDType = .f32, skipping: Set<String> = [], reshaping: [String: [Int]] = [:]) throws {
    let writer = try SafetensorsWriter(path: url.path)
    for name in tensors.keys.sorted() where !skipping.contains(name) {
      let tensor = tensors[name]!
      let shape = reshaping[name] ?? tensor.shape
      try tensor.values.withUnsafeBufferPointer { try writer.add(name, shape: shape, floats: $0, as: dtype) }
    }
    try writer.finish()
  }

  /// This model with every weight rounded to `dtype` (what the encoder reads back).
  public func rounded(to dtype: SafetensorsDType) -> TinyBert {
    var copy = self
    for (name, tensor) in tensors {
      let values = tensor.values.map { value -> Float in
        switch dtype {
        case .f16: return HalfConversion.float(fromHalf: HalfConversion.half(from: value))
        case .bf16: return HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: value))
        default: return value
        }
      }
      copy.tensors[name] = (tensor.shape, values)
    }
    return copy
  }

  // MARK: - Scalar reference (Double)

  public func weight(_ name: String) -> [Double] { tensors[name]!.values.map(Double.init) }

  /// The last layer's states (length × hidden) for one sequence, in Double, written from
  /// the BERT paper / Hugging Face `BertModel` definitions.
  public func referenceStates(_ ids: [Int]) -> [[Double]] {
    let n = ids.count
    let word = weight("embeddings.word_embeddings.weight")
    let position = weight("embeddings.position_embeddings.weight")
    let type = weight("embeddings.token_type_embeddings.weight")
    var x: [[Double]] = (0..<n).map { t in
      (0..<hidden).map { j in word[ids[t] * hidden + j] + position[t * hidden + j] + type[j] }
    }
    x = x.map { layerNorm($0, "embeddings.LayerNorm") }
    for layer in 0..<layers {
      let p = "encoder.layer.\(layer)."
      let q = linear(x, p + "attention.self.query")
      let k = linear(x, p + "attention.self.key")
      let v = linear(x, p + "attention.self.value")
      let d = hidden / heads
      var context = [[Double]](repeating: [Double](repeating: 0, count: hidden), count: n)
      for head in 0..<heads {
        for i in 0..<n {
          var scores = (0..<n).map { j in
            (0..<d).reduce(0.0) { $0 + q[i][head * d + $1] * k[j][head * d + $1] } / Double(d).squareRoot()
          }
          let top = scores.max()!
          scores = scores.map { Foundation.exp($0 - top) }
          let total = scores.reduce(0, +)
          for c in 0..<d {
            context[i][head * d + c] = (0..<n).reduce(0.0) { $0 + scores[$1] / total * v[$1][head * d + c] }
          }
        }
      }
      let attended = linear(context, p + "attention.output.dense")
      x = (0..<n).map { t in layerNorm(zip(attended[t], x[t]).map(+), p + "attention.output.LayerNorm") }
      let inner = linear(x, p + "intermediate.dense").map { row in row.map { $0 * 0.5 * (1 + Foundation.erf($0 / 2.0.squareRoot())) } }
      let out = linear(inner, p + "output.dense")
      x = (0..<n).map { t in layerNorm(zip(out[t], x[t]).map(+), p + "output.LayerNorm") }
    }
    return x
  }

  /// The pooled (and optionally normalised) embedding of one sequence, modes concatenated
  /// in sentence-transformers' order: CLS, max, mean, mean·√n.
  public func referenceEmbedding(_ ids: [Int], pooling: [String], normalize: Bool) -> [Double] {
    let states = referenceStates(ids)
    let n = Double(states.count)
    var result: [Double] = []
    if pooling.contains("pooling_mode_cls_token") { result += states[0] }
    if pooling.contains("pooling_mode_max_tokens") { result += (0..<hidden).map { j in states.map { $0[j] }.max()! } }
    let sums = (0..<hidden).map { j in states.reduce(0.0) { $0 + $1[j] } }
    if pooling.contains("pooling_mode_mean_tokens") { result += sums.map { $0 / n } }
    if pooling.contains("pooling_mode_mean_sqrt_len_tokens") { result += sums.map { $0 / n.squareRoot() } }
    if normalize {
      let norm = result.reduce(0) { $0 + $1 * $1 }.squareRoot()
      result = result.map { $0 / norm }
    }
    return result
  }

  private func linear(_ x: [[Double]], _ name: String) -> [[Double]] {
    let w = weight(name + ".weight")
    let b = weight(name + ".bias")
    let inputs = x.first?.count ?? 0
    let outputs = b.count
    return x.map { row -> [Double] in
      (0..<outputs).map { o -> Double in
        var total = b[o]
        for i in 0..<inputs { total += row[i] * w[o * inputs + i] }
        return total
      }
    }
  }

  private func layerNorm(_ v: [Double], _ name: String) -> [Double] {
    let gamma = weight(name + ".weight")
    let beta = weight(name + ".bias")
    let mean = v.reduce(0, +) / Double(v.count)
    let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
    return v.indices.map { (v[$0] - mean) / (variance + epsilon).squareRoot() * gamma[$0] + beta[$0] }
  }
}
