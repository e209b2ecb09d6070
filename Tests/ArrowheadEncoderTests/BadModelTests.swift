import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadTestSupport
import Foundation
import Testing

/// Broken model folders and inputs: each must fail with a typed error that names the file,
/// field or tensor, never crash.
@Suite("Bad models and inputs")
struct BadModelTests {
  func folder(_ edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
    try TinyBert(seed: 21).write(to: try temporaryDirectory("bad-model"), configuration: edit)
  }

  func loadError(_ folder: URL) -> EncoderError? {
    do {
      _ = try SentenceEncoder(folder: folder.path, engine: .default)
      return nil
    } catch {
      return error
    }
  }

  @Test(arguments: ["config.json", "modules.json", "1_Pooling/config.json", "model.safetensors"])
  func aMissingFileIsNamed(file: String) throws {
    let model = try folder()
    try FileManager.default.removeItem(at: model.appendingPathComponent(file))
    let error = loadError(model)
    guard case .missingFile(let path, _)? = error else {
      Issue.record("expected missingFile, got \(String(describing: error))")
      return
    }
    #expect(path.hasSuffix(file))
    #expect(error!.description.contains(file))
  }

  @Test func aPyTorchCheckpointIsPointedOut() throws {
    let model = try folder()
    try FileManager.default.moveItem(at: model.appendingPathComponent("model.safetensors"), to: model.appendingPathComponent("pytorch_model.bin"))
    #expect(loadError(model)?.description.contains("pytorch_model.bin") == true)
  }

  @Test func aWidthThatDisagreesWithTheWeightsNamesTheTensorAndShapes() throws {
    let error = loadError(try folder { $0["hidden_size"] = 64 })
    #expect(error == .shapeMismatch(
      tensor: "embeddings.word_embeddings.weight", expected: [40, 64], actual: [40, 32],
      reason: "vocab_size 40 × hidden_size 64 in config.json"))
    #expect(error?.description.contains("[40, 32]") == true)
  }

  @Test func anIntermediateSizeThatDisagreesNamesTheLayerTensor() throws {
    let error = loadError(try folder { $0["intermediate_size"] = 64 })
    guard case .shapeMismatch(let tensor, let expected, let actual, _)? = error else {
      Issue.record("expected shapeMismatch, got \(String(describing: error))")
      return
    }
    #expect(tensor == "encoder.layer.0.intermediate.dense.weight" && expected == [64, 32] && actual == [48, 32])
  }

  @Test func moreOrFewerLayersThanTheWeightsHoldAreRefused() throws {
    guard case .missingTensor(let file, let tensor)? = loadError(try folder { $0["num_hidden_layers"] = 3 }) else {
      Issue.record("expected missingTensor")
      return
    }
    #expect(file.hasSuffix("model.safetensors") && tensor == "encoder.layer.2.attention.self.query.weight")
    let fewer = loadError(try folder { $0["num_hidden_layers"] = 1 })
    #expect(fewer?.description.contains("more layers than num_hidden_layers 1") == true)
  }

  /// (field, JSON value) pairs this encoder does not implement.
  static let unsupportedSettings: [(field: String, json: String)] = [
    ("model_type", "\"roberta\""), ("hidden_act", "\"relu\""), ("hidden_act", "\"gelu_new\""),
    ("position_embedding_type", "\"relative_key\""), ("architectures", "[\"DistilBertModel\"]"), ("is_decoder", "true"),
  ]

  @Test(arguments: 0..<6)
  func unsupportedSettingsNameTheirField(setting: Int) throws {
    let (field, json) = Self.unsupportedSettings[setting]
    let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
    let error = loadError(try folder { $0[field] = value })
    guard case .unsupported(let file, let named, _, let supported)? = error else {
      Issue.record("\(field): expected unsupported, got \(String(describing: error))")
      return
    }
    #expect(file.hasSuffix("config.json") && named == field && !supported.isEmpty)
  }

  @Test func aMissingSizeFieldIsNamed() throws {
    let error = loadError(try folder { $0["num_attention_heads"] = nil })
    guard case .invalidField(_, let field, _)? = error else {
      Issue.record("expected invalidField, got \(String(describing: error))")
      return
    }
    #expect(field == "num_attention_heads")
    #expect(loadError(try folder { $0["num_attention_heads"] = 5 })?.description.contains("does not divide") == true)
    #expect(loadError(try folder { $0["hidden_size"] = "wide" })?.description.contains("positive integer") == true)
  }

  @Test func malformedJSONNamesFileAndByte() throws {
    let model = try folder()
    try Data("{\"hidden_size\": 32,".utf8).write(to: model.appendingPathComponent("config.json"))
    guard case .invalidFile(let path, let reason)? = loadError(model) else {
      Issue.record("expected invalidFile")
      return
    }
    #expect(path.hasSuffix("config.json") && reason.contains("byte"))
  }

  @Test func anUnsupportedModuleIsNamed() throws {
    let model = try folder()
    let modules: [[String: Any]] = [
      ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
      ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
      ["idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"],
    ]
    try JSONSerialization.data(withJSONObject: modules).write(to: model.appendingPathComponent("modules.json"))
    guard case .unsupported(_, let field, let value, _)? = loadError(model) else {
      Issue.record("expected unsupported")
      return
    }
    #expect(field == "[2].type" && value.contains("Dense"))
  }

  @Test func anUnsupportedPoolingModeIsNamed() throws {
    let model = try folder()
    let pooling: [String: Any] = ["word_embedding_dimension": 32, "pooling_mode_weightedmean_tokens": true]
    try JSONSerialization.data(withJSONObject: pooling).write(to: model.appendingPathComponent("1_Pooling/config.json"))
    guard case .unsupported(_, let field, _, _)? = loadError(model) else {
      Issue.record("expected unsupported")
      return
    }
    #expect(field == "pooling_mode_weightedmean_tokens")
    let wrongWidth: [String: Any] = ["word_embedding_dimension": 16, "pooling_mode_mean_tokens": true]
    try JSONSerialization.data(withJSONObject: wrongWidth).write(to: model.appendingPathComponent("1_Pooling/config.json"))
    #expect(loadError(model)?.description.contains("word_embedding_dimension") == true)
  }

  @Test func aMissingOrNonFloatTensorIsNamed() throws {
    let model = TinyBert(seed: 22)
    let url = try model.write(to: try temporaryDirectory("bad-model"))
    try model.writeWeights(
      to: url.appendingPathComponent("model.safetensors"), skipping: ["encoder.layer.1.output.LayerNorm.bias"])
    guard case .missingTensor(let file, let tensor)? = loadError(url) else {
      Issue.record("expected missingTensor")
      return
    }
    #expect(file.hasSuffix("model.safetensors") && tensor == "encoder.layer.1.output.LayerNorm.bias")

    let writer = try SafetensorsWriter(path: url.appendingPathComponent("model.safetensors").path)
    for (name, tensor) in model.tensors.sorted(by: { $0.key < $1.key }) {
      if name == "embeddings.LayerNorm.weight" {
        try writer.add(name, dtype: .i32, shape: tensor.shape, values: [Int32](repeating: 1, count: tensor.values.count))
      } else {
        try tensor.values.withUnsafeBufferPointer { try writer.add(name, shape: tensor.shape, floats: $0, as: .f32) }
      }
    }
    try writer.finish()
    #expect(loadError(url) == .unsupportedDType(tensor: "embeddings.LayerNorm.weight", dtype: "I32"))
  }

  /// A NaN or ±∞ weight is named at load (file, tensor, flat index, value), in F32 (mapped
  /// in place) and in F16 (converted), for a matrix, a bias and the word embeddings; it used
  /// to load and give NaN embeddings for every text (or only for the texts whose tokens meet
  /// a poisoned embedding row).
  @Test(arguments: [
    ("encoder.layer.1.attention.self.key.weight", 37, Float.nan), ("encoder.layer.0.output.dense.bias", 5, -Float.infinity),
    ("embeddings.word_embeddings.weight", 3 * 32 + 7, Float.infinity),
  ], [SafetensorsDType.f32, .f16])
  func aNonFiniteWeightIsNamedAtLoad(poisoned: (name: String, index: Int, value: Float), dtype: SafetensorsDType) throws {
    var model = TinyBert(seed: 23)
    model.tensors[poisoned.name]?.values[poisoned.index] = poisoned.value
    let url = try model.write(to: try temporaryDirectory("bad-model"))
    try model.writeWeights(to: url.appendingPathComponent("model.safetensors"), dtype: dtype)
    guard case .nonFiniteWeight(let file, let tensor, let index, let value)? = loadError(url) else {
      Issue.record("expected nonFiniteWeight, got \(String(describing: loadError(url)))")
      return
    }
    #expect(file.hasSuffix("model.safetensors") && tensor == poisoned.name && index == poisoned.index)
    #expect(value.isNaN == poisoned.value.isNaN && (value.isNaN || value == poisoned.value))
  }

  @Test func badTokenSequencesAreRefused() throws {
    let encoder = try SentenceEncoder(folder: try folder().path, engine: .default)
    #expect(throws: EncoderError.tokenOutOfRange(sequence: 1, position: 2, id: 40, vocabularySize: 40)) {
      try encoder.encode(tokenIDs: [[1, 2], [1, 5, 40, 2]])
    }
    #expect(throws: EncoderError.invalidSequenceLength(sequence: 0, length: 0, maximum: 24)) {
      try encoder.encode(tokenIDs: [[]])
    }
    #expect(throws: EncoderError.invalidSequenceLength(sequence: 0, length: 25, maximum: 24)) {
      try encoder.encode(tokenIDs: [Array(repeating: 3, count: 25)])
    }
    #expect(throws: EncoderError.invalidOption(name: "batchSize", value: "0", expected: "≥ 1")) {
      try encoder.encode(tokenIDs: [[1, 2]], options: EncodingOptions(batchSize: 0))
    }
    let empty = try encoder.encode(tokenIDs: [])
    #expect(empty.rows == 0 && empty.columns == 32)
  }
}
