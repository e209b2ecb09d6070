import Arrowhead
import ArrowheadQuant
import Foundation
import Testing

/// A small model with every kind of tensor: quantizable matrices (one F16, one BF16, one
/// ragged), an embedding, a norm, a bias and an integer tensor.
func makeToyModel(in directory: String, nanIn: String? = nil) throws -> String {
  let path = directory + "/toy.safetensors"
  let writer = try SafetensorsWriter(path: path, metadata: ["format": "pt"])
  func add(_ name: String, _ shape: [Int], _ dtype: SafetensorsDType = .f32, seed: UInt64) throws {
    var values = weightLikeValues(shape.reduce(1, *), seed: seed)
    if name == nanIn { values[values.count / 2 + 3] = .nan }
    try values.withUnsafeBufferPointer { try writer.add(name, shape: shape, floats: $0, as: dtype) }
  }
  try add("embed.weight", [100, 64], seed: 1)
  try add("layer.0.attention.query.weight", [64, 64], seed: 2)
  try add("layer.0.attention.query.bias", [64], seed: 3)
  try add("layer.0.mlp.up.weight", [256, 64], .f16, seed: 4)
  try add("layer.0.mlp.down.weight", [64, 256], .bf16, seed: 5)
  try add("layer.0.odd.weight", [30, 100], seed: 6)
  try add("layer.0.LayerNorm.weight", [64], seed: 7)
  try writer.add("position_ids", dtype: .i64, shape: [1, 4], values: [Int64(0), 1, 2, 3])
  try writer.finish()
  return path
}

@Suite("Model pipeline: quantize, read back, dequantize, inspect")
struct ModelPipelineTests {
  let directory = quantTemporaryDirectory()

  @Test func aQuantizedModelReadsBackBitForBit() throws {
    let input = try makeToyModel(in: directory)
    let output = directory + "/toy.q.safetensors"
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: .floatMinimum)
    var events = 0
    let report = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme)).quantize(input: input, output: output) { _ in events += 1 }
    #expect(events == 8)
    let actions = Dictionary(uniqueKeysWithValues: report.tensors.map { ($0.name, $0.action) })
    #expect(actions["embed.weight"] == .kept)
    #expect(actions["layer.0.attention.query.bias"] == .kept)
    #expect(actions["layer.0.LayerNorm.weight"] == .kept)
    #expect(actions["position_ids"] == .passedThrough)
    #expect(actions["layer.0.attention.query.weight"] == .quantized)
    #expect(actions["layer.0.mlp.up.weight"] == .quantized && actions["layer.0.mlp.down.weight"] == .quantized)
    #expect(report.summary.quantizedCount == 4 && report.summary.quantizedWeights == 64 * 64 + 2 * 256 * 64 + 3000)

    let file = try QuantizedModelFile(path: output)
    let source = try SafetensorsModel(path: input)
    for tensor in report.tensors where tensor.action == .quantized {
      let original = try #require(source.entry(tensor.name))
      let values = try original.file.floats(tensor.name)
      let expected = try Quantizer(scheme: scheme).quantize(values, shape: original.info.shape)
      #expect(try file.tensor(tensor.name) == expected, "\(tensor.name)")
      #expect(file.info(tensor.name)?.sourceDType == original.info.dtype)
    }
    // Kept and passed-through tensors are byte-identical.
    for name in ["embed.weight", "position_ids", "layer.0.LayerNorm.weight"] {
      let stored = try #require(file.model.entry(name)), original = try #require(source.entry(name))
      #expect(Array(stored.file.bytes(of: stored.info)) == Array(original.file.bytes(of: original.info)))
    }
    #expect(file.userMetadata == ["format": "pt"])
    // The report's model error, recomputed here from the source weights and the independent
    // scalar model's x̂: eₖ = ‖Wₖ − Ŵₖ‖/‖Wₖ‖ in Double, size-weighted √(Σ nₖ·eₖ² / Σ nₖ).
    // The library accumulates each eₖ in Float32 partial sums (≤ ~10⁻⁴ relative, see
    // QuantizerAgreementTests); a plain mean of the four errors (0.0808 here, against the
    // size-weighted 0.0798) or a missing tensor is off by far more.
    var weightedSquares = 0.0, weights = 0
    for tensor in report.tensors where tensor.action == .quantized {
      let original = try #require(source.entry(tensor.name))
      let values = try original.file.floats(tensor.name)
      let model = scalarModel(values, shape: original.info.shape, scheme: scheme)
      #expect(try file.tensor(tensor.name).codes() == model.codes, "\(tensor.name)")
      let error = relativeErrorAndCosine(values, model.reconstruction).relativeError
      #expect(abs(try #require(tensor.metrics).relativeError - error) <= 1e-4 * error, "\(tensor.name)")
      weightedSquares += Double(values.count) * error * error
      weights += values.count
    }
    #expect(weights == 64 * 64 + 2 * 256 * 64 + 3000)
    let sizeWeighted = (weightedSquares / Double(weights)).squareRoot()
    #expect(abs(report.summary.sizeWeightedRelativeError - sizeWeighted) <= 1e-4 * sizeWeighted)
    // All quantized weights as one vector: Σ sse / Σ ‖W‖², with ‖Wₖ‖² = sseₖ / eₖ².
    let quantized = report.tensors.compactMap(\.metrics)
    let squaredErrors = quantized.map { $0.meanSquaredError * Double($0.count) }
    let norms = zip(squaredErrors, quantized).map { $0 / ($1.relativeError * $1.relativeError) }
    let expected = (squaredErrors.reduce(0, +) / norms.reduce(0, +)).squareRoot()
    #expect(abs(report.summary.relativeError - expected) <= 1e-9 * expected)
  }

  @Test(arguments: QuantizationMode.allCases)
  func dequantizeWritesThePlainModelAndInspectMeasuresIt(_ mode: QuantizationMode) throws {
    let input = try makeToyModel(in: directory)
    let output = directory + "/toy-\(mode).q.safetensors"
    let scheme = try QuantizationScheme(bits: 8, granularity: .perChannel, mode: mode)
    let report = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme)).quantize(input: input, output: output)
    let plain = directory + "/toy-\(mode).f32.safetensors"
    let dequantized = try ModelDequantizer.dequantize(input: output, output: plain, dtype: .f32)
    #expect(dequantized.dequantized == 4 && dequantized.copied == 4)
    let file = try QuantizedModelFile(path: output)
    let restored = try SafetensorsModel(path: plain)
    let source = try SafetensorsModel(path: input)
    #expect(restored.entries.map(\.name).sorted() == source.entries.map(\.name).sorted())
    // Every dequantized tensor is the independent scalar model's x̂ of the source weights, bit
    // for bit; every other tensor is the source's bytes. Both kinds are counted, so a file
    // where nothing was quantized (or nothing compared) fails.
    var dequantizedNames: [String] = [], copiedNames: [String] = []
    for entry in restored.entries {
      let original = try #require(source.entry(entry.name))
      if let info = file.info(entry.name) {
        #expect(entry.info.dtype == .f32 && entry.info.shape == info.shape && info.shape == original.info.shape)
        let model = scalarModel(try original.file.floats(entry.name), shape: original.info.shape, scheme: scheme)
        #expect(try entry.file.floats(entry.name).map(\.bitPattern) == model.reconstruction.map(\.bitPattern), "\(entry.name)")
        dequantizedNames.append(entry.name)
      } else {
        #expect(entry.info.dtype == original.info.dtype && entry.info.shape == original.info.shape)
        #expect(Array(entry.file.bytes(of: entry.info)) == Array(original.file.bytes(of: original.info)), "\(entry.name)")
        copiedNames.append(entry.name)
      }
    }
    #expect(dequantizedNames.sorted() == ["layer.0.attention.query.weight", "layer.0.mlp.down.weight", "layer.0.mlp.up.weight", "layer.0.odd.weight"])
    #expect(copiedNames.sorted() == ["embed.weight", "layer.0.LayerNorm.weight", "layer.0.attention.query.bias", "position_ids"])
    let inspection = try ModelInspector.inspect(output, original: input)
    #expect(inspection.format == "arrowhead quantized v2")
    let measured = try #require(inspection.sizeWeightedRelativeError)
    #expect(abs(measured - report.summary.sizeWeightedRelativeError) <= 1e-6 * max(1, measured))
    #expect(inspection.tensors.filter { $0.kind == "quantized" }.count == 4)
    // F16 output: every value is the F16 rounding of the F32 one.
    let half = directory + "/toy-\(mode).f16.safetensors"
    _ = try ModelDequantizer.dequantize(input: output, output: half, dtype: .f16)
    let halfModel = try SafetensorsModel(path: half)
    let name = "layer.0.attention.query.weight"
    let f32 = try restored.entry(name)!.file.floats(name)
    let f16 = try halfModel.entry(name)!.file.floats(name)
    #expect(f16 == f32.map { HalfConversion.float(fromHalf: HalfConversion.half(from: $0)) })
    // Inspecting a plain file lists it.
    #expect(try ModelInspector.inspect(input).format == "safetensors")
  }

  @Test func theFallbackRaisesBitsUntilTheCosineIsGoodEnough() throws {
    let input = try makeToyModel(in: directory)
    let output = directory + "/fallback.safetensors"
    // Thresholds that 2 bits cannot meet on Gaussian-like weights (cos ≈ 0.88–0.94) but 4 bits can.
    let policy = try FallbackPolicy(minimumCosine: [2: 0.999, 4: 0.99, 8: 0.95])
    let scheme = try QuantizationScheme(bits: 2, granularity: .perGroup(32))
    let report = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, fallback: policy)).quantize(input: input, output: output)
    // The width each tensor must end at, from the independent scalar model's cosines: the
    // first of 2 → 4 → 8 that meets its threshold. Each cosine must sit clear of its threshold
    // (so that float rounding cannot decide), and every quantizable tensor is counted, so a
    // pipeline that kept them all in float, or never fell back, fails.
    let source = try SafetensorsModel(path: input)
    var expectedBits: [String: Int] = [:]
    for name in ["layer.0.attention.query.weight", "layer.0.mlp.up.weight", "layer.0.mlp.down.weight", "layer.0.odd.weight"] {
      let original = try #require(source.entry(name))
      let values = try original.file.floats(name)
      for bits in [2, 4, 8] {
        let model = scalarModel(values, shape: original.info.shape, scheme: try scheme.with(bits: bits))
        let cosine = relativeErrorAndCosine(values, model.reconstruction).cosine
        let threshold = try #require(policy.minimumCosine[bits])
        #expect(abs(cosine - threshold) > 1e-4, "\(name) at \(bits) bits: cosine \(cosine) too close to \(threshold)")
        if cosine >= threshold {
          expectedBits[name] = bits
          break
        }
      }
    }
    #expect(expectedBits.count == 4 && expectedBits.values.allSatisfy { $0 > 2 }, "\(expectedBits)")
    let quantized = report.tensors.filter { $0.action == .quantized }
    #expect(Dictionary(uniqueKeysWithValues: quantized.map { ($0.name, $0.bits ?? 0) }) == expectedBits)
    for tensor in quantized {
      let bits = try #require(tensor.bits)
      #expect(tensor.rejectedBits == [2, 4, 8].filter { $0 < bits }, "\(tensor.name)")
      let threshold = try #require(policy.minimumCosine[bits])
      #expect(try #require(tensor.metrics).cosineSimilarity >= threshold)
      #expect(tensor.reason == "fall-back from int2")
    }
    // Unreachable thresholds keep the tensor in floating point.
    let impossible = try FallbackPolicy(minimumCosine: [2: 1, 4: 1, 8: 1])
    let kept = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, fallback: impossible)).quantize(input: input, output: output)
    #expect(kept.summary.quantizedCount == 0)
    #expect(kept.tensors.first { $0.name == "layer.0.attention.query.weight" }?.rejectedBits == [2, 4, 8])
    // A threshold for a width the quantizer never makes would never apply: refused (the C
    // ABI's {"99": 0.5} and the CLI's 5=0.9 were accepted silently).
    #expect(throws: QuantizationError.unsupportedBits(5, supported: QuantizationScheme.supportedBits)) {
      try FallbackPolicy(minimumCosine: [4: 0.9, 5: 0.9])
    }
  }

  @Test func aBudgetIsMetBySensitivity() throws {
    let input = try makeToyModel(in: directory)
    let output = directory + "/budget.safetensors"
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64))
    for budget in [3.2, 4.5, 6.0, 10.0] {
      let report = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, budget: budget, fallback: nil)).quantize(input: input, output: output)
      #expect(report.summary.quantizedBitsPerWeight <= budget, "budget \(budget)")
      #expect(report.summary.quantizedCount == 4)
      // Room for 8 bits everywhere (9.28 bits per weight at most, for the ragged 30 × 100): all 8.
      if budget == 10.0 { #expect(report.tensors.compactMap(\.bits).allSatisfy { $0 == 8 }) }
    }
    // G = 64 float minimum costs 1 bit per weight on top of the codes: 2.5 is unreachable.
    #expect(throws: QuantizationError.self) {
      try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, budget: 2.5)).quantize(input: input, output: output)
    }
  }

  @Test func keepPatternsAreGlobs() {
    #expect(TensorSelection.matches("model.layers.0.input_layernorm.weight", pattern: "*norm*"))
    #expect(TensorSelection.matches("encoder.LayerNorm.bias", pattern: "*layernorm*"))
    #expect(TensorSelection.matches("lm_head.weight", pattern: "lm_head*"))
    #expect(!TensorSelection.matches("layer.1.q", pattern: "layer.?.k"))
    #expect(TensorSelection.matches("layer.1.k", pattern: "layer.?.k"))
    #expect(!TensorSelection.matches("a.b", pattern: "a"))
    let selection = TensorSelection(keepPatterns: ["*.up.*"])
    #expect(selection.decision(name: "mlp.up.weight", dtype: .f32, shape: [4, 4]) == .keepFloat("matches --keep '*.up.*'"))
    #expect(selection.decision(name: "mlp.down.weight", dtype: .f32, shape: [4, 4]) == .quantize)
    #expect(selection.decision(name: "ids", dtype: .i64, shape: [4, 4]) == .passThrough("I64 is not a float type"))
  }

  @Test func nonFiniteWeightsFailOrAreKeptOnRequest() throws {
    let input = try makeToyModel(in: directory, nanIn: "layer.0.mlp.up.weight")
    let output = directory + "/nan.safetensors"
    let scheme = try QuantizationScheme()
    do {
      _ = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme)).quantize(input: input, output: output)
      Issue.record("NaN accepted")
    } catch {
      guard case .nonFiniteWeight(let tensor, let index, let value) = error else {
        Issue.record("wrong error \(error)")
        return
      }
      #expect(tensor == "layer.0.mlp.up.weight" && index == 256 * 64 / 2 + 3 && value.isNaN)
    }
    #expect(!quantFileExists(output))
    // Neither the temporary output nor the spill file is left behind.
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }.isEmpty)
    let report = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, nonFinite: .keepFloat)).quantize(input: input, output: output)
    let tensor = try #require(report.tensors.first { $0.name == "layer.0.mlp.up.weight" })
    #expect(tensor.action == .kept && tensor.reason?.contains("flat index 8195") == true)
    #expect(report.summary.quantizedCount == 3)
  }

  @Test func timeAwareActivationParametersAreStoredAndReadBack() throws {
    let input = try makeToyModel(in: directory)
    let output = directory + "/time.safetensors"
    var calibration = CalibrationSet()
    for t in 0..<50 {
      let spread = Float(1 + t / 10)
      try calibration.add(layer: "layer.0.attention.query", timestep: t, samples: [-spread, 0.5 * spread, spread * 1.5])
    }
    let configuration = try TimeAwareConfiguration(
      grouping: try TimeGrouping(timesteps: 50, groups: 5), smoothing: try BoundarySmoothing(curve: .cubic, window: 2))
    let options = ModelQuantizationOptions(scheme: try QuantizationScheme(), timeAware: TimeAwareInput(calibration: calibration, configuration: configuration))
    let report = try ModelQuantizer(options: options).quantize(input: input, output: output)
    #expect(report.activations.count == 1 && report.activations[0].groups == 5)
    let stored = try QuantizedModelFile(path: output).activationParameters("layer.0.attention.query")
    let expected = try TimeAwareCalibrator.parameters(forLayer: "layer.0.attention.query", in: calibration, configuration: configuration)
    #expect(stored.groupParameters == expected.groupParameters)
    #expect(stored.timestepParameters == expected.timestepParameters)
    #expect(stored.grouping == configuration.grouping)
    let inspection = try ModelInspector.inspect(output)
    #expect(inspection.tensors.contains { $0.kind == "activation" && $0.name == "layer.0.attention.query" })
    // A calibration layer that names no tensor is an error before any work.
    var unknown = CalibrationSet()
    try unknown.add(layer: "no.such.layer", timestep: 0, samples: [1])
    let bad = ModelQuantizationOptions(
      scheme: try QuantizationScheme(),
      timeAware: TimeAwareInput(calibration: unknown, configuration: try TimeAwareConfiguration(grouping: try TimeGrouping(timesteps: 1, groups: 1))))
    #expect(throws: QuantizationError.self) { try ModelQuantizer(options: bad).quantize(input: input, output: directory + "/never.safetensors") }
    #expect(!quantFileExists(directory + "/never.safetensors"))
  }

  @Test func aShardedModelQuantizesLikeTheSingleFile() throws {
    let input = try makeToyModel(in: directory)
    let source = try SafetensorsFile(path: input)
    // Split the toy model into two shards with an index, as Hugging Face does.
    let shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    var weightMap: [String] = []
    for (position, shard) in shards.enumerated() {
      let writer = try SafetensorsWriter(path: directory + "/" + shard)
      for (index, tensor) in source.tensors.enumerated() where index % 2 == position {
        try writer.addCopy(of: tensor, from: source)
        weightMap.append("\"\(tensor.name)\": \"\(shard)\"")
      }
      try writer.finish()
    }
    try Data("{\"weight_map\": {\(weightMap.joined(separator: ", "))}}".utf8).write(to: URL(fileURLWithPath: directory + "/model.safetensors.index.json"))
    let scheme = try QuantizationScheme(bits: 3, granularity: .perGroup(32), mode: .zeroPoint)
    let single = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, fallback: nil)).quantize(input: input, output: directory + "/single.q.safetensors")
    let sharded = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme, fallback: nil)).quantize(input: directory, output: directory + "/sharded.q.safetensors")
    #expect(sharded.summary.sizeWeightedRelativeError == single.summary.sizeWeightedRelativeError)
    let a = try QuantizedModelFile(path: directory + "/single.q.safetensors"), b = try QuantizedModelFile(path: directory + "/sharded.q.safetensors")
    for tensor in single.tensors where tensor.action == .quantized {
      #expect(try a.tensor(tensor.name) == (try b.tensor(tensor.name)))
    }
  }
}

func quantFileExists(_ path: String) -> Bool {
  (try? SafetensorsModel.readWholeFile(path)) != nil
}
