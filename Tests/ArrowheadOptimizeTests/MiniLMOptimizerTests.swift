import Arrowhead
import ArrowheadIO
import ArrowheadQuant
import Testing

@testable import ArrowheadOptimize

/// The goals on the real all-MiniLM-L6-v2 weights (37 linear matrices, G = 64,
/// size-weighted relative error). Error figures only: timings are shown by
/// `arrowhead optimize eval`, never asserted.
@Suite("MiniLM optimizer goals", .enabled(if: MiniLM.isAvailable, Comment(rawValue: MiniLM.skipMessage)))
struct MiniLMOptimizerTests {
  /// grid: INT8 ≤ 0.00532, INT4 ≤ 0.0855, INT2 ≤ 0.340 (min-max: 0.00559 / 0.09472 / 0.47413).
  @Test(arguments: [(8, 0.00532), (4, 0.0855), (2, 0.340)])
  func gridMeetsTheGoals(bits: Int, goal: Double) throws {
    let file = try SafetensorsFile(path: try #require(MiniLM.path))
    let measured = try MiniLM.sizeWeightedError(file, optimizer: try GridSearchOptimizer(), bits: bits)
    #expect(measured <= goal, "int\(bits): grid \(measured), goal ≤ \(goal)")
  }

  /// hqq reproduces HQQ's published CPU figures within 2 % (INT8 0.00537, INT4 0.09056,
  /// INT2 0.45068; `Benchmarks/peers/optimize_hqq.py` reproduces them with a numpy port).
  @Test(arguments: [(8, 0.00537), (4, 0.09056), (2, 0.45068)])
  func hqqReproducesHQQ(bits: Int, reference: Double) throws {
    let file = try SafetensorsFile(path: try #require(MiniLM.path))
    let measured = try MiniLM.sizeWeightedError(file, optimizer: try HalfQuadraticOptimizer(), bits: bits)
    #expect(abs(measured / reference - 1) <= 0.02, "int\(bits): hqq \(measured), HQQ \(reference)")
  }

  /// GPTQ with real inputs — the model's 30 522 word-embedding rows into layer 0's q, k and v
  /// projections (384 × 384), INT4 G = 64 — has an output error ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ at most
  /// 0.8× that of round-to-nearest min-max and at most grid's, on every projection.
  @Test func gptqMeetsTheGoals() throws {
    let file = try SafetensorsFile(path: try #require(MiniLM.path))
    let x = try file.floats("embeddings.word_embeddings.weight")
    let h = try GPTQHessian(inputs: x, columns: 384, name: "embeddings.word_embeddings.weight")
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64))
    for name in ["query", "key", "value"].map({ "encoder.layer.0.attention.self.\($0).weight" }) {
      let w = try file.floats(name)
      let gptq = try GPTQQuantizer().quantize(w, shape: [384, 384], scheme: scheme, hessian: h, name: name)
      let minMax = try h.outputError(original: w, reconstructed: try Quantizer(scheme: scheme).quantize(w, shape: [384, 384]).dequantized())
      let grid = try h.outputError(
        original: w, reconstructed: try Quantizer(scheme: scheme, optimizer: try GridSearchOptimizer()).quantize(w, shape: [384, 384]).dequantized())
      #expect(gptq.outputError <= 0.8 * minMax, "\(name): gptq \(gptq.outputError), min-max \(minMax)")
      #expect(gptq.outputError <= grid, "\(name): gptq \(gptq.outputError), grid \(grid)")
    }
  }
}
