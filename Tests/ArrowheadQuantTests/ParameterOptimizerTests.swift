import Arrowhead
import ArrowheadQuant
import Synchronization
import Testing

/// Clips every group's range to a fraction of its extremes, and records the importance it
/// was given (to prove the quantizer passes it through group by group).
final class ImportanceLog: Sendable {
  let total = Mutex<Float>(0)
}

struct ClippingOptimizer: ParameterOptimizer {
  var fraction: Float
  let seenImportance = ImportanceLog()
  var name: String { "clip" }
  var settings: [String: String] { ["fraction": "\(fraction)"] }

  func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters {
    if let importance {
      let total = importance.reduce(0, +)
      seenImportance.total.withLock { $0 += total }
    }
    return .minMax(minimum: group.min()! * fraction, maximum: group.max()! * fraction, bits: bits, mode: mode)
  }
}

/// Returns a zero-point that cannot be stored.
struct BrokenOptimizer: ParameterOptimizer {
  var name: String { "broken" }
  func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode, engine: Engine
  ) -> AffineParameters {
    AffineParameters(scale: 1, offset: 0.5)
  }
}

@Suite("Parameter optimizers plug into the quantizer")
struct ParameterOptimizerTests {
  @Test func aCustomOptimizerChoosesEveryGroupsParameters() throws {
    let values = weightLikeValues(48 * 200, seed: 21)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .zeroPoint)
    let optimizer = ClippingOptimizer(fraction: 0.5)
    let importance = [Float](repeating: 0.25, count: values.count)
    let q = try Quantizer(scheme: scheme, optimizer: optimizer).quantize(values, shape: [48, 200], importance: importance)
    // Each row of 200 has groups [0, 64), [64, 128), [128, 192), [192, 200) (ragged).
    for group in 0..<q.scales.count {
      let row = group / 4, columns = q.layout.columns(ofGroup: group)
      let slice = Array(values[(row * 200 + columns.lowerBound)..<(row * 200 + columns.upperBound)])
      let expected = AffineParameters.minMax(minimum: slice.min()! * 0.5, maximum: slice.max()! * 0.5, bits: 4, mode: .zeroPoint)
      #expect(q.parameters(ofGroup: group) == expected, "group \(group)")
    }
    // Every weight's importance reached the optimizer exactly once.
    #expect(optimizer.seenImportance.total.withLock { $0 } == 0.25 * Float(values.count))
    // Clipping saturates codes: more weights at 0 or 15 than with min-max.
    let clipped = q.codes().filter { $0 == 0 || $0 == 15 }.count
    let plain = try Quantizer(scheme: scheme).quantize(values, shape: [48, 200]).codes().filter { $0 == 0 || $0 == 15 }.count
    #expect(clipped > plain)
  }

  @Test func unstorableParametersFromAnOptimizerAreAnError() throws {
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: .zeroPoint)
    do {
      _ = try Quantizer(scheme: scheme, optimizer: BrokenOptimizer()).quantize(weightLikeValues(64, seed: 1), shape: [2, 32], name: "w")
      Issue.record("accepted a zero-point of 0.5")
    } catch {
      guard case .invalidParameters(let tensor, let group, let reason) = error else { Issue.record("\(error)"); return }
      #expect(tensor == "w" && group == 0 && reason.contains("broken optimizer returned zero-point 0.5"))
    }
  }

  @Test func theModelReportNamesTheOptimizerAndItsTime() throws {
    let directory = quantTemporaryDirectory()
    let input = try makeToyModel(in: directory)
    let options = ModelQuantizationOptions(scheme: try QuantizationScheme(), optimizer: ClippingOptimizer(fraction: 0.9), fallback: nil)
    let report = try ModelQuantizer(options: options).quantize(input: input, output: directory + "/clip.safetensors")
    #expect(report.optimizer == "clip" && report.optimizerSettings == ["fraction": "0.9"])
    for tensor in report.tensors where tensor.action == .quantized {
      #expect(tensor.optimizer == "clip" && tensor.optimizerSeconds > 0)
    }
    #expect(try QuantizedModelFile(path: directory + "/clip.safetensors").info("layer.0.attention.query.weight")?.optimizer == "clip")
  }

  @Test func gptqStyleColumnsUseOneParameterPairPerValue() throws {
    // A column of 4 rows, each with its own (s, z): groupSize 1.
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: 4, granularity: .perGroup(64), mode: .zeroPoint))
    let column: [Float] = [0.5, -1, 3, 2.25]
    let parameters = [
      AffineParameters(scale: 0.25, offset: 8), AffineParameters(scale: 0.5, offset: 8),
      AffineParameters(scale: 1, offset: 0), AffineParameters(scale: 0.5, offset: 3),
    ]
    var codes = [UInt8](repeating: 0, count: 4)
    var reconstruction = [Float](repeating: 0, count: 4)
    try column.withUnsafeBufferPointer { values in
      try parameters.withUnsafeBufferPointer { chosen in
        try codes.withUnsafeMutableBufferPointer { output in
          try reconstruction.withUnsafeMutableBufferPointer { approx in
            try quantizer.quantize(values, groupSize: 1, parameters: chosen, codes: output, reconstruction: approx)
          }
        }
      }
    }
    // 0.5/0.25 + 8 = 10; −1/0.5 + 8 = 6; 3/1 + 0 = 3; 2.25/0.5 = 4.5 → 4 (even) + 3 = 7.
    #expect(codes == [10, 6, 3, 7])
    #expect(reconstruction == [0.5, -1, 3, 2])
  }
}
