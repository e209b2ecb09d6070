import Arrowhead
import ArrowheadQuant
import Testing

/// The "Quantized matmul" example of the main README, verbatim, with its claims checked.
@Test func theQuantizedMatmulReadmeExampleRuns() throws {
  let weights = weightLikeValues(1536 * 384, seed: 7)
  let activations = weightLikeValues(128 * 384, seed: 8, scale: 1)
  let bias = weightLikeValues(1536, seed: 9, scale: 1)

  // --- README example begins ---
  let scheme = try QuantizationScheme(bits: 8, granularity: .perGroup(64), mode: .floatMinimum)
  let tensor = try Quantizer(scheme: scheme).quantize(weights, shape: [1536, 384], name: "intermediate")
  let w = try QuantizedMatrix(tensor)                            // packed once (file: QuantizedModelFile.matrix(_:))
  let x = try Matrix(rows: 128, columns: 384, elements: activations)
  let exact = try Engine.default.multiply(x, w, bias: bias)      // 128 × 1536, weight-only: x·Ŵᵀ + b
  let fast = try Engine.default.multiply(x, w, bias: bias, mode: .int8)  // W8A8: adds x's 8-bit rounding
  let close = try Engine.default.multiply(x, w, bias: bias, mode: .int16) // W8A16: x in two int8 digits
  // --- README example ends ---

  #expect(exact.rows == 128 && exact.columns == 1536 && fast.rows == 128 && fast.columns == 1536)
  // Weight-only is x·Ŵᵀ + b with Ŵ materialised, up to Float32 summation order: a relative
  // Frobenius difference of a few K·ε (K = 384, ε = 2⁻²⁴ ≈ 6e-8) — 1e-5 leaves a wide margin.
  let wHat = try Matrix(rows: 1536, columns: 384, elements: tensor.dequantized())
  var reference = try Engine.default.multiply(x, wHat, transposeB: .transposed)
  for i in 0..<128 { for n in 0..<1536 { reference[i, n] += bias[n] } }
  #expect(relativeDifference(exact.elements, reference.elements) < 1e-5)
  // int8 rounds each x to within max|x_group|/254; for spread-out activations the output's
  // relative error is of order rms(δx)/rms(x) ≈ 1/254·(max/rms) ≈ 1 %; 5 % bounds it.
  let error = relativeDifference(fast.elements, reference.elements)
  #expect(error > 0 && error < 0.05, "\(error)")
  // int16 rounds each x to within t/508 (t = max|x_group|/127): 254 times finer than int8, so
  // its error is that much smaller (plus Float32 summation noise); 1/50 leaves a wide margin.
  let closeError = relativeDifference(close.elements, reference.elements)
  #expect(closeError < error / 50, "int16 \(closeError) vs int8 \(error)")
}
