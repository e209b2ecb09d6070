import Arrowhead
import ArrowheadOptimize
import ArrowheadQuant
import Testing

/// GPTQ given a shape whose product overflows: a typed error, never an overflow trap.
@Suite struct OptimizePublicAPIBadInputTests {
  @Test func gptqRejectsShapesWhoseProductOverflows() throws {
    let hessian = try GPTQHessian(inputs: [1, 2, 3, 4], columns: 2)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(8))
    let expected = "at most \(QuantizedModelFormat.maximumElements) weights (the dimensions multiplied, zeros aside)"
    #expect(throws: OptimizationError.quantization(.shapeMismatch(tensor: "w", expected: expected, actual: "[\(Int.max), 2]"))) {
      try GPTQQuantizer().quantize([Float](), shape: [Int.max, 2], scheme: scheme, hessian: hessian, name: "w")
    }
  }
}
