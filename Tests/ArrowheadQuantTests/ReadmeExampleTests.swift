import Arrowhead
import ArrowheadQuant
import Testing

/// The example of Sources/ArrowheadQuant/README.md, verbatim, so that it keeps compiling
/// and doing what the README says.
@Test func theReadmeExampleRuns() throws {
  let directory = quantTemporaryDirectory()
  let weights = weightLikeValues(384 * 384, seed: 1)
  let x = weightLikeValues(384, seed: 2, scale: 1)
  _ = try makeToyModel(in: directory)

  // --- README example begins ---
  // One tensor: INT4, groups of 64, float minimum (x̂ = q·s + m).
  let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .floatMinimum)
  let quantizer = Quantizer(scheme: scheme)                  // min-max, Engine.default
  let result = try quantizer.quantizeAndMeasure(weights, shape: [384, 384], name: "q_proj")
  let q = result.tensor
  print(q.bitsPerWeight, result.statistics.relativeError)     // 5.0, ≈ 0.09
  let y = try q.multiply(x)                                   // Ŵx without materialising Ŵ
  let approximation = q.dequantized()                         // Ŵ as [Float]

  // A whole model: keep embeddings/norms, fall back on low cosine, write atomically.
  let options = ModelQuantizationOptions(scheme: scheme)
  let report = try ModelQuantizer(options: options).quantize(
    input: "\(directory)/toy.safetensors", output: "\(directory)/toy.q.safetensors")
  print(report.summary.sizeWeightedRelativeError)
  let reloaded = try QuantizedModelFile(path: "\(directory)/toy.q.safetensors")
  let tensor = try reloaded.tensor("layer.0.attention.query.weight")
  // --- README example ends ---

  #expect(q.bitsPerWeight == 5)
  // The error the README prints, recomputed in Double from an independent scalar model of
  // the quantizer (whose x̂ equals the library's bit for bit, see QuantizerAgreementTests).
  // Float32 partial sums over the 147 456 weights: relative error ≤ ~10⁻⁴ (as there).
  let model = scalarModel(weights, rows: 384, columns: 384, groupSize: 64, bits: 4, mode: .floatMinimum)
  let expectedError = relativeErrorAndCosine(weights, model.reconstruction).relativeError
  #expect(abs(result.statistics.relativeError - expectedError) <= 1e-4 * expectedError)
  #expect(approximation.map(\.bitPattern) == model.reconstruction.map(\.bitPattern))
  // What the README's comment says (≈ 0.09) is what these weights give.
  #expect(abs(expectedError - 0.09) < 0.005, "README says ≈ 0.09, the weights give \(expectedError)")
  #expect(y.count == 384 && approximation.count == 384 * 384)
  #expect(report.summary.quantizedCount == 4)
  #expect(tensor.scheme == scheme)
}
