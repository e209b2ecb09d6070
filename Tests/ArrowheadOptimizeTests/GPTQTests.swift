import Arrowhead
import ArrowheadQuant
import Foundation
import Testing

@testable import ArrowheadOptimize

@Suite("GPTQ")
struct GPTQTests {
  /// Correlated calibration inputs: n × columns, each row a random mix of a few directions
  /// plus noise (so that H is far from diagonal and error compensation pays).
  static func inputs(rows: Int, columns: Int, seed: UInt64) -> [Float] {
    var generator = TestGenerator(seed: seed)
    let directions = (0..<4).map { _ in (0..<columns).map { _ in generator.gaussian() } }
    var x = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows {
      let mix = (0..<4).map { _ in generator.gaussian() }
      for c in 0..<columns {
        var value = 0.3 * generator.gaussian()
        for d in 0..<4 { value += mix[d] * directions[d][c] }
        x[r * columns + c] = value
      }
    }
    return x
  }

  /// ‖X·Dᵀ‖_F / ‖X·Wᵀ‖_F computed directly in Double.
  static func directOutputError(x: [Float], w: [Float], approximation: [Float], columns: Int) -> Double {
    let rows = x.count / columns, outputs = w.count / columns
    var noise = 0.0, signal = 0.0
    for r in 0..<rows {
      for o in 0..<outputs {
        var y = 0.0, yHat = 0.0
        for c in 0..<columns {
          y += Double(x[r * columns + c]) * Double(w[o * columns + c])
          yHat += Double(x[r * columns + c]) * Double(approximation[o * columns + c])
        }
        signal += y * y
        noise += (y - yHat) * (y - yHat)
      }
    }
    return (noise / signal).squareRoot()
  }

  /// GPTQ beats round-to-nearest on the output error it minimises (min-max and grid
  /// parameters alike), with every mode and granularity, and its Ŵ is the dequantized
  /// tensor; the Hessian-based output error equals the direct one.
  @Test(arguments: [QuantizationMode.floatMinimum, .zeroPoint, .symmetric], [QuantizationGranularity.perGroup(16), .perChannel])
  func lowersTheOutputErrorOfRoundToNearest(mode: QuantizationMode, granularity: QuantizationGranularity) throws {
    let columns = 64, outputs = 24
    let x = Self.inputs(rows: 400, columns: columns, seed: 1)
    let w = gaussianWeights(outputs * columns, seed: 2, scale: 0.1)
    let scheme = try QuantizationScheme(bits: 3, granularity: granularity, mode: mode)
    let h = try GPTQHessian(inputs: x, columns: columns)
    let result = try GPTQQuantizer(blockSize: 16).quantize(w, shape: [outputs, columns], scheme: scheme, hessian: h)
    let approximation = result.tensor.dequantized()
    // Hessian form vs direct: the same number to float rounding (Float32 gemm of H).
    #expect(abs(result.outputError - Self.directOutputError(x: x, w: w, approximation: approximation, columns: columns)) <= 1e-4 * result.outputError)
    let rtn = try Quantizer(scheme: scheme).quantize(w, shape: [outputs, columns]).dequantized()
    let rtnError = try h.outputError(original: w, reconstructed: rtn)
    #expect(result.outputError < 0.9 * rtnError, "gptq \(result.outputError) vs round-to-nearest \(rtnError)")
    #expect(result.dampingsTried == [0.01] && result.damping == 0.01)
    // Storable parameters and the weight statistics of that Ŵ.
    var statistics = ErrorStatistics()
    w.withUnsafeBufferPointer { original in approximation.withUnsafeBufferPointer { statistics.accumulate(original: original, reconstructed: $0) } }
    #expect(statistics == result.statistics)
  }

  /// With H diagonal, H⁻¹'s Cholesky factor is diagonal and no error reaches another column:
  /// GPTQ is then exactly round-to-nearest with the same group parameters — the same codes
  /// and parameters as the quantizer (min-max groups), bit for bit.
  @Test func aDiagonalHessianGivesRoundToNearest() throws {
    let columns = 48
    var h = try Matrix(rows: columns, columns: columns)
    for i in 0..<columns { h[i, i] = Float(1 + i % 5) }
    let w = gaussianWeights(20 * columns, seed: 4)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: .zeroPoint)
    let gptq = try GPTQQuantizer(blockSize: 32, groupOptimizer: MinMaxOptimizer()).quantize(
      w, shape: [20, columns], scheme: scheme, hessian: try GPTQHessian(matrix: h))
    let rtn = try Quantizer(scheme: scheme).quantize(w, shape: [20, columns])
    #expect(gptq.tensor == rtn)
  }

  /// Blocks hold at most `blockSize` columns and never leave a group that starts inside a
  /// block unfinished.
  @Test func blocksRespectGroups() {
    #expect(GPTQQuantizer.blocks(columns: 384, blockSize: 128, groupWidth: 64) == [0..<128, 128..<256, 256..<384])
    #expect(GPTQQuantizer.blocks(columns: 384, blockSize: 128, groupWidth: 96) == [0..<96, 96..<192, 192..<288, 288..<384])
    #expect(GPTQQuantizer.blocks(columns: 384, blockSize: 128, groupWidth: 256) == [0..<128, 128..<256, 256..<384])
    #expect(GPTQQuantizer.blocks(columns: 200, blockSize: 128, groupWidth: 64) == [0..<128, 128..<200])
    #expect(GPTQQuantizer.blocks(columns: 10, blockSize: 4, groupWidth: 10) == [0..<4, 4..<8, 8..<10])
    for (columns, block, group) in [(384, 128, 96), (1000, 128, 72), (77, 16, 9), (64, 128, 64)] {
      let blocks = GPTQQuantizer.blocks(columns: columns, blockSize: block, groupWidth: group)
      #expect(blocks.first?.lowerBound == 0 && blocks.last?.upperBound == columns)
      for (a, b) in zip(blocks, blocks.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
      for range in blocks {
        #expect(range.count <= block)
        var start = (range.lowerBound / group + 1) * group
        while start < range.upperBound {
          #expect(start + group <= range.upperBound || range.upperBound == columns, "group at \(start) leaves \(range)")
          start += group
        }
      }
    }
  }

  /// Fewer calibration rows than columns make H singular; the first damping (1 % of
  /// mean diag H) makes it positive definite and GPTQ still lowers the output error.
  @Test func aSingularHessianIsDamped() throws {
    let columns = 32
    let x = Self.inputs(rows: 8, columns: columns, seed: 6)
    let w = gaussianWeights(16 * columns, seed: 7)
    let h = try GPTQHessian(inputs: x, columns: columns)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16))
    let result = try GPTQQuantizer().quantize(w, shape: [16, columns], scheme: scheme, hessian: h)
    let rtnError = try h.outputError(original: w, reconstructed: try Quantizer(scheme: scheme).quantize(w, shape: [16, columns]).dequantized())
    #expect(result.outputError < rtnError)
    #expect(result.statistics.relativeError.isFinite && result.tensor.scales.allSatisfy { $0.isFinite })
  }

  /// A Hessian that damping cannot save (strongly indefinite) escalates λ ×10 up to the
  /// limit, then fails naming every λ tried; invalid Hessians are refused up front.
  @Test func anIndefiniteHessianFailsAfterEscalation() throws {
    let h = try GPTQHessian(matrix: try Matrix(rows: 2, columns: 2, elements: [1, 1000, 1000, 1]))
    let scheme = try QuantizationScheme(bits: 4, granularity: .perChannel)
    do {
      _ = try GPTQQuantizer().quantize([0.1, 0.2, 0.3, 0.4], shape: [2, 2], scheme: scheme, hessian: h, name: "w")
      Issue.record("an indefinite Hessian was accepted")
    } catch {
      guard case .hessianNotPositiveDefinite(let tensor, let order, let dampings, _) = error else { Issue.record("\(error)"); return }
      #expect(tensor == "w" && order == 2)
      #expect(dampings.count == 5 && abs(dampings[4] - 100) < 1e-9)
    }
    // Escalation that succeeds: [[1, 5], [5, 1]] needs λ > 4, reached at 10.
    let rescued = try GPTQQuantizer().quantize(
      [0.1, 0.2, 0.3, 0.4], shape: [2, 2], scheme: scheme, hessian: try GPTQHessian(matrix: try Matrix(rows: 2, columns: 2, elements: [1, 5, 5, 1])))
    #expect(rescued.damping == 10 && rescued.dampingsTried.count == 4)
    #expect(throws: OptimizationError.self) { try GPTQHessian(matrix: try Matrix(rows: 2, columns: 2, elements: [-1, 0, 0, 1])) }
    #expect(throws: OptimizationError.self) { try GPTQHessian(matrix: try Matrix(rows: 2, columns: 2, elements: [1, 2, 3, 1])) }
    #expect(throws: OptimizationError.self) { try GPTQHessian(matrix: try Matrix(rows: 2, columns: 3)) }
  }

  @Test func badInputsAreTypedErrors() throws {
    var x = Self.inputs(rows: 10, columns: 8, seed: 3)
    x[13] = .infinity
    #expect(throws: OptimizationError.nonFiniteValue(tensor: "inputs", index: 13, value: .infinity)) { try GPTQHessian(inputs: x, columns: 8) }
    #expect(throws: OptimizationError.self) { try GPTQHessian(inputs: [1, 2, 3], columns: 2) }
    #expect(throws: OptimizationError.self) { try GPTQHessian(inputs: [], columns: 2) }
    let h = try GPTQHessian(inputs: Self.inputs(rows: 10, columns: 8, seed: 3), columns: 8)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(8))
    do {
      _ = try GPTQQuantizer().quantize(gaussianWeights(4 * 16, seed: 1), shape: [4, 16], scheme: scheme, hessian: h, name: "w")
      Issue.record("mismatched X and W accepted")
    } catch {
      guard case .shapeMismatch(let tensor, let expected, _) = error else { Issue.record("\(error)"); return }
      #expect(tensor == "w" && expected.contains("16 columns"))
    }
    var w = gaussianWeights(4 * 8, seed: 1)
    w[5] = .nan
    do {
      _ = try GPTQQuantizer().quantize(w, shape: [4, 8], scheme: scheme, hessian: h, name: "w")
      Issue.record("NaN weight accepted")
    } catch {
      guard case .nonFiniteValue("w", 5, _) = error else { Issue.record("\(error)"); return }
    }
    #expect(throws: OptimizationError.self) { try GPTQQuantizer(blockSize: 0) }
    #expect(throws: OptimizationError.self) { try GPTQQuantizer(damping: 0) }
    #expect(throws: OptimizationError.self) { try GPTQQuantizer(damping: -0.01) }
    #expect(throws: OptimizationError.self) { try GPTQQuantizer(damping: .nan) }
  }
}
