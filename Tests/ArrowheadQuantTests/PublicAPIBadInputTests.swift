import Arrowhead
import ArrowheadQuant
import Testing

/// Shapes a Swift caller may pass to the quantizer and to `QuantizedTensor`'s initializers:
/// negative dimensions or dimensions whose product overflows get `.shapeMismatch`, never
/// an overflow trap or an invalid range.
@Suite struct QuantPublicAPIBadInputTests {
  static let tooLarge = "at most \(QuantizedModelFormat.maximumElements) weights (the dimensions multiplied, zeros aside)"

  @Test func quantizerRejectsShapesWhoseProductOverflows() throws {
    let quantizer = Quantizer(scheme: try QuantizationScheme())
    for shape in [[Int.max, 2], [1 << 32, 1 << 32], [2, Int.max, 2], [1 << 49]] {
      #expect(throws: QuantizationError.shapeMismatch(tensor: "w", expected: Self.tooLarge, actual: "\(shape)")) {
        try quantizer.quantize([], shape: shape, name: "w")
      }
    }
    // Empty tensors stay valid.
    #expect(try quantizer.quantize([], shape: [0, 64]).shape == [0, 64])
  }

  @Test func tensorFromCodesRejectsNegativeAndOverflowingShapes() throws {
    let scheme = try QuantizationScheme(bits: 4, granularity: .perChannel)
    let one = [AffineParameters(scale: 1, offset: 0)]
    // [-1, -1] has a "count" of 1: it used to reach a 0..<-1 range and trap.
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: "non-negative dimensions", actual: "[-1, -1]")) {
      try QuantizedTensor(shape: [-1, -1], scheme: scheme, codes: [0], parameters: one, name: "t")
    }
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: Self.tooLarge, actual: "[\(Int.max), 2]")) {
      try QuantizedTensor(shape: [Int.max, 2], scheme: scheme, codes: [], parameters: [], name: "t")
    }
    let valid = try QuantizedTensor(shape: [1, 2], scheme: scheme, codes: [3, 5], parameters: one)
    #expect(valid.dequantized() == [3, 5])
  }

  @Test func tensorFromPartsRejectsOverflowingShapesEvenWithAZero() throws {
    let scheme = try QuantizationScheme()
    // The total is 0, but the layout multiplies the trailing dimensions on their own.
    let shape = [0, Int.max, Int.max]
    #expect(throws: QuantizationError.shapeMismatch(tensor: "t", expected: Self.tooLarge, actual: "\(shape)")) {
      try QuantizedTensor(shape: shape, scheme: scheme, packedCodes: [], scales: [], offsets: [], name: "t")
    }
    #expect(try QuantizedTensor(shape: [0, 64], scheme: scheme, packedCodes: [], scales: [], offsets: []).count == 0)
  }
}

/// Many rows of zero columns: nothing to walk, so no loop over the rows (2⁴⁸ of them used to
/// spin for hours).
@Suite struct QuantEmptyRowsTests {
  @Test func tensorsAndMatricesOfManyEmptyRowsAreImmediate() throws {
    let rows = QuantizedModelFormat.maximumElements
    let scheme = try QuantizationScheme(bits: 4, granularity: .perChannel)
    let fromCodes = try QuantizedTensor(shape: [rows, 0], scheme: scheme, codes: [], parameters: [])
    #expect(fromCodes.codes().isEmpty && fromCodes.dequantized().isEmpty)
    let layout = try QuantizedMatrixLayout(rows: rows, columns: 0, bits: 4, groupSize: 8, form: .zeroPoint)
    let matrix = try QuantizedMatrix(layout: layout, codes: [], scales: [], offsets: [])
    #expect(try QuantizedTensor(matrix).count == 0)
  }
}
