import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadOptimize
import ArrowheadQuant
import ArrowheadTestSupport
import Foundation
import Testing

/// The encoder with quantized linear layers (`--weights int8|int4`, or an Arrowhead
/// quantized file): against `TinyBert`'s Double forward pass run on the dequantized
/// weights Ŵ, against quantized files written by `ModelQuantizer`, and typed errors.
@Suite("Encoder with quantized weights")
struct QuantizedEncoderTests {
  static let sequences = ReferenceForwardTests.sequences
  static let linearNames = (0..<2).flatMap { layer in
    ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"]
      .map { "encoder.layer.\(layer).\($0).weight" }
  }

  /// `model` written to a fresh folder whose model.safetensors is an Arrowhead quantized
  /// file made by `ModelQuantizer` (`bits`, groups of 64, float minimum, `optimizer`, no
  /// fall-back), and the model with every quantized tensor replaced by Ŵ as the file
  /// dequantizes it.
  static func quantizedFolder(
    _ model: TinyBert, bits: Int, optimizer: any ParameterOptimizer = MinMaxOptimizer(), label: String
  ) throws -> (URL, TinyBert) {
    let folder = try model.write(to: try temporaryDirectory(label))
    let source = folder.appendingPathComponent("plain.safetensors")
    let target = folder.appendingPathComponent("model.safetensors")
    try FileManager.default.moveItem(at: target, to: source)
    let scheme = try QuantizationScheme(bits: bits, granularity: .perGroup(64), mode: .floatMinimum)
    let options = ModelQuantizationOptions(scheme: scheme, optimizer: optimizer, fallback: nil)
    _ = try ModelQuantizer(options: options).quantize(input: source.path, output: target.path)
    try FileManager.default.removeItem(at: source)
    let file = try QuantizedModelFile(path: target.path)
    var dequantized = model
    for name in linearNames {
      let tensor = try file.tensor(name)
      #expect(tensor.scheme == scheme, "\(name) is \(tensor.scheme)")
      dequantized.tensors[name] = (model.tensors[name]!.shape, tensor.dequantized())
    }
    return (folder, dequantized)
  }

  /// `model` with its word-embedding table as the quantized encoder holds it: INT8 g64
  /// min-max rows, dequantized.
  static func int8Embeddings(_ model: TinyBert) throws -> TinyBert {
    let name = "embeddings.word_embeddings.weight"
    let table = model.tensors[name]!
    let quantized = try Quantizer(scheme: WeightFormat.int8.scheme!).quantize(table.values, shape: table.shape)
    var copy = model
    copy.tensors[name] = (table.shape, quantized.dequantized())
    #expect(copy.tensors[name]!.values != table.values)
    return copy
  }

  /// The largest |state − reference| over every token of `sequences`.
  static func worstStateError(_ encoder: SentenceEncoder, _ reference: TinyBert, engine: Engine = .default) throws -> Double {
    let states = try encoder.bert.hiddenStates(for: sequences, engine: engine)
    var worst = 0.0
    for (index, ids) in sequences.enumerated() {
      let expected = reference.referenceStates(ids)
      for t in 0..<ids.count {
        for j in 0..<reference.hidden { worst = max(worst, abs(Double(states[index][t, j]) - expected[t][j])) }
      }
    }
    return worst
  }

  /// Weight-only products compute x·Ŵᵀ in Float32 with Ŵ's values exact (q·s + m of the
  /// file; the word-embedding rows are INT8 and dequantized the same way), so the only
  /// differences from the Double reference on Ŵ are Float32 rounding:
  /// the tolerance of ReferenceForwardTests (1e-4, derived there) applies unchanged. A
  /// layer left on W (not Ŵ), a wrong code or parameter moves states by ≥ 1e-2 (INT4).
  @Test(arguments: [4, 8])
  func weightOnlyMatchesTheReferenceOnTheDequantizedWeights(bits: Int) throws {
    let (folder, dequantized) = try Self.quantizedFolder(TinyBert(seed: 21), bits: bits, label: "q-tiny")
    let reference = try Self.int8Embeddings(dequantized)
    let original = TinyBert(seed: 21)
    for engine in [Engine.default, Engine.default.withThreads(1)] {
      let encoder = try SentenceEncoder(folder: folder.path, engine: engine, activations: .weightOnly)
      #expect(encoder.activations == .weightOnly)
      let worst = try Self.worstStateError(encoder, reference, engine: engine)
      #expect(worst <= ReferenceForwardTests.stateTolerance, "INT\(bits): max error \(worst)")
      // The quantization is visible: against the unquantized weights the states move.
      if bits == 4 { #expect(try Self.worstStateError(encoder, original, engine: engine) > 1e-2) }
    }
    // f32 on a quantized file dequantizes it: the same Ŵ through the gemm.
    let dense = try SentenceEncoder(folder: folder.path, weights: .float32)
    #expect(dense.activations == nil)
    #expect(try Self.worstStateError(dense, dequantized) <= ReferenceForwardTests.stateTolerance)
  }

  /// W8A8 / W4A8: each input row of a product is rounded per group of G columns to
  /// t·a, t = max|x_g|/127, so |x − x̂| ≤ t/2 = max|x_g|/254 and an output moves by at
  /// most Σ_g (max|x_g|/254)·Σ_{j∈g}|ŵ_j|. Here |ŵ| ≤ 2/√fan-in (TinyBert's weights) and
  /// max|x_g| ≤ ~3 for the LayerNorm outputs that feed the products (γ < 1.5), so one
  /// product moves by at most 3/254·2·√32 ≈ 0.134 (fan-in 32; the fan-in-48 product and the
  /// attention context, a convex mix of values, give less). LayerNorm divides by σ of O(1)
  /// rows, so the states stay within that worst case of a single product: 0.15. Measured:
  /// 0.049 (INT4), 0.053 (INT8). The weight-only test above shows the rest of the path to
  /// 1e-4, and a wrong activation scale (a missing t) moves states by O(1).
  static let int8ActivationTolerance = 0.15

  @Test(arguments: [4, 8])
  func int8ActivationsStayWithinTheirRoundingOfTheReference(bits: Int) throws {
    let (folder, dequantized) = try Self.quantizedFolder(TinyBert(seed: 22), bits: bits, label: "q-tiny")
    let reference = try Self.int8Embeddings(dequantized)
    let encoder = try SentenceEncoder(folder: folder.path, activations: .int8)
    #expect(encoder.activations == .int8)
    let worst = try Self.worstStateError(encoder, reference)
    #expect(worst <= Self.int8ActivationTolerance, "INT\(bits) weights, int8 activations: max error \(worst)")
    // It is not the weight-only path: activation rounding shows.
    let weightOnly = try SentenceEncoder(folder: folder.path, activations: .weightOnly)
    let a = try encoder.bert.hiddenStates(for: Self.sequences, engine: .default)
    let b = try weightOnly.bert.hiddenStates(for: Self.sequences, engine: .default)
    #expect(zip(a, b).contains { $0.elements != $1.elements })
    print("tiny BERT INT\(bits) W8A8 max state error \(worst)")
  }

  /// `weights: .int8 / .int4` on a Float32 folder quantizes exactly as `ModelQuantizer`
  /// does with the same scheme and optimizer (min-max for INT8, the grid search for INT4):
  /// Q, K and V are quantized stacked (groups never straddle rows, so the codes are those
  /// of each matrix alone) and the file's three matrices are stacked the same way, so the
  /// states are bit-identical.
  @Test(arguments: [8, 4])
  func quantizingOnLoadEqualsLoadingTheQuantizedFile(bits: Int) throws {
    let model = TinyBert(seed: 23)
    let optimizer: any ParameterOptimizer = bits == 4 ? try GridSearchOptimizer() : MinMaxOptimizer()
    let (folder, _) = try Self.quantizedFolder(model, bits: bits, optimizer: optimizer, label: "q-tiny")
    let plain = try model.write(to: try temporaryDirectory("tiny-bert"))
    let onLoad = try SentenceEncoder(folder: plain.path, weights: bits == 8 ? .int8 : .int4)
    let fromFile = try SentenceEncoder(folder: folder.path)
    #expect(onLoad.activations == .int8 && fromFile.activations == .int8)
    let engine = Engine.default.withThreads(1)
    let a = try onLoad.encode(tokenIDs: Self.sequences, options: EncodingOptions(threads: 1))
    let b = try fromFile.encode(tokenIDs: Self.sequences, options: EncodingOptions(threads: 1))
    #expect(a == b)
    let statesA = try onLoad.bert.hiddenStates(for: Self.sequences, engine: engine)
    let statesB = try fromFile.bert.hiddenStates(for: Self.sequences, engine: engine)
    #expect(statesA == statesB)
  }

  /// An activation mode where every layer is Float32 (a Float32 file as it is, or a
  /// quantized file dequantized with `.float32`) is refused: it was silently ignored (the CLI
  /// printed the model as run "auto" after `--activations int16`).
  @Test func activationsWithFloat32LayersAreRefused() throws {
    let plain = try TinyBert(seed: 26).write(to: try temporaryDirectory("tiny-bert"))
    let (quantized, _) = try Self.quantizedFolder(TinyBert(seed: 26), bits: 8, label: "q-tiny")
    for (folder, weights) in [(plain, WeightFormat.automatic), (plain, .float32), (quantized, .float32)] {
      for mode in [QuantizedMatmulMode.int8, .weightOnly] {
        #expect(throws: EncoderError.self, "\(weights), \(mode)") {
          try SentenceEncoder(folder: folder.path, weights: weights, activations: mode)
        }
      }
    }
    #expect(try SentenceEncoder(folder: plain.path).activations == nil)
    #expect(try SentenceEncoder(folder: quantized.path, activations: .weightOnly).activations == .weightOnly)
  }

  @Test func aQuantizedFileThatDisagreesWithTheConfigurationNamesTheTensor() throws {
    let (folder, _) = try Self.quantizedFolder(TinyBert(seed: 24), bits: 4, label: "q-bad")
    let config = folder.appendingPathComponent("config.json")
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any] ?? [:]
    json["intermediate_size"] = 64
    try JSONSerialization.data(withJSONObject: json).write(to: config)
    #expect(throws: EncoderError.shapeMismatch(
      tensor: "encoder.layer.0.intermediate.dense.weight", expected: [64, 32], actual: [48, 32],
      reason: "intermediate_size 64 × hidden_size 32 in config.json")) {
      _ = try SentenceEncoder(folder: folder.path)
    }
  }

  @Test func quantizingAnAlreadyQuantizedFileIsRefused() throws {
    let (folder, _) = try Self.quantizedFolder(TinyBert(seed: 25), bits: 8, label: "q-bad")
    for weights in [WeightFormat.int8, .int4] {
      do {
        _ = try SentenceEncoder(folder: folder.path, weights: weights)
        Issue.record("\(weights) on a quantized file was accepted")
      } catch {
        guard case .invalidOption(let name, let value, let expected) = error else {
          Issue.record("unexpected \(error)")
          continue
        }
        #expect(name == "weights" && value == weights.rawValue && expected.contains("Arrowhead quantized file"))
      }
    }
  }

  /// A flipped byte in a quantized tensor fails its CRC-32 on open: a typed error naming
  /// the file and the tensor, never a load of wrong codes.
  @Test func aCorruptedQuantizedFileIsATypedError() throws {
    let (folder, _) = try Self.quantizedFolder(TinyBert(seed: 26), bits: 4, label: "q-bad")
    let path = folder.appendingPathComponent("model.safetensors").path
    let file = try SafetensorsFile(path: path)
    guard let info = file.tensors.first(where: { $0.name == "encoder.layer.1.output.dense.weight.__codes" }) else {
      Issue.record("no codes tensor in \(file.tensors.map(\.name))")
      return
    }
    let offset = info.fileOffset + 3
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[offset] ^= 0x10
    try bytes.write(to: URL(fileURLWithPath: path))
    do {
      _ = try SentenceEncoder(folder: folder.path)
      Issue.record("a corrupted file was accepted")
    } catch {
      guard case .quantization(let inner) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect("\(inner)".contains("encoder.layer.1.output.dense.weight"), "\(inner)")
    }
  }
}

/// `maximumBatchTokens` only regroups the sequences: each still gets what it gets alone.
@Test func aTokenLimitPerBatchChangesOnlyTheGrouping() throws {
  let model = TinyBert(seed: 27)
  let folder = try model.write(to: try temporaryDirectory("tiny-bert"))
  let encoder = try SentenceEncoder(folder: folder.path, weights: .int8)
  let sequences = ReferenceForwardTests.sequences
  let whole = try encoder.encode(tokenIDs: sequences, options: EncodingOptions(threads: 1))
  // 12 tokens per pass: the 23- and 11-token sequences run alone, the short ones in pairs.
  let limited = try encoder.encode(tokenIDs: sequences, options: EncodingOptions(threads: 1, maximumBatchTokens: 12))
  // Only the row count of each product changes (the same sums per row): a few ulps.
  let difference = zip(whole.elements, limited.elements).map { abs($0 - $1) }.max() ?? 1
  #expect(difference <= 1e-5, "\(difference)")
  #expect(throws: EncoderError.invalidOption(name: "maximumBatchTokens", value: "0", expected: "≥ 1")) {
    _ = try encoder.encode(tokenIDs: sequences, options: EncodingOptions(maximumBatchTokens: 0))
  }
}

/// all-MiniLM-L6-v2 with quantized weights against its own Float32 embeddings, on the 22
/// golden texts (token ids as sentence-transformers made them).
@Suite("MiniLM with quantized weights")
struct MiniLMQuantizedTests {
  static func cosines(_ weights: WeightFormat, activations: QuantizedMatmulMode? = nil) throws -> (mean: Double, worst: Double) {
    let golden = try GoldenEmbeddings.load()
    let reference = try SentenceEncoder(folder: MiniLMFolder.path!).encode(tokenIDs: golden.tokenIDs)
    let encoder = try SentenceEncoder(folder: MiniLMFolder.path!, weights: weights, activations: activations)
    let embeddings = try encoder.encode(tokenIDs: golden.tokenIDs)
    let values = (0..<golden.tokenIDs.count).map { cosine(embeddings.row($0), reference.row($0)) }
    return (values.reduce(0, +) / Double(values.count), values.min() ?? 0)
  }

  /// The issue's goal for INT8 weights: mean cosine to the Float32 embedding ≥ 0.999, with
  /// the default int8 activations (W8A8) and with Float32 ones.
  @Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
  func int8EmbeddingsStayWithinTheGoal() throws {
    for activations in [QuantizedMatmulMode.int8, .weightOnly] {
      let (mean, worst) = try Self.cosines(.int8, activations: activations)
      print("MiniLM INT8 g64, \(activations) activations: mean cosine \(mean), worst \(worst)")
      #expect(mean >= 0.999, "\(activations): mean \(mean)")
      // Measured worst: 0.9974 (W8A8), 0.99960 (weight-only).
      #expect(worst >= 0.995, "\(activations): worst \(worst)")
    }
  }

  /// INT4 g64 with the grid optimizer (W4A8, the default) reaches a mean cosine of ~0.961
  /// on these texts (weight-only: 0.961, worst 0.930), below the issue's 0.99 (see the module README: no weight-only optimizer of the library gets
  /// there at G = 64); 0.95 is asserted so that a regression of the INT4 path (a wrong
  /// nibble, a misplaced group: cosines ≤ 0.5) fails.
  @Test(.enabled(if: MiniLMFolder.path != nil, "\(MiniLMLocation.skipMessage)"))
  func int4EmbeddingsStayCloseToFloat32() throws {
    let (mean, worst) = try Self.cosines(.int4)
    print("MiniLM INT4 g64 grid, W4A8: mean cosine \(mean), worst \(worst)")
    #expect(mean >= 0.95, "mean \(mean)")
  }
}
