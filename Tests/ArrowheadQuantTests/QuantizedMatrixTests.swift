import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing

/// The quantizer's tensors and files as operands of the quantized matmul.
@Suite struct QuantizedMatrixTests {
  static let granularities: [QuantizationGranularity] = [.perTensor, .perChannel, .perGroup(16), .perGroup(24)]

  /// Every mode with min-max parameters, and symmetric with signed-max ones (negative scales
  /// where a group's larger extreme is positive).
  static let parameterChoices: [(QuantizationMode, any ParameterOptimizer)] =
    QuantizationMode.allCases.map { ($0, MinMaxOptimizer()) } + [(.symmetric, SignedMaximumOptimizer())]

  /// Repacking keeps every weight: Ŵ[row, column] of the matrix is the tensor's dequantized
  /// value, bit for bit, for every width, granularity (incl. a group tail: 24 ∤ 40) and mode.
  /// And the products on every runnable backend agree with x·Ŵᵀ computed from the dequantized
  /// tensor: weight-only within γ_{k+groups+4} of the term magnitudes (here ≤ 10⁻⁵ relative,
  /// k = 40), int8 within the activation rounding (t/2 per value: ≤ 1 % relative here).
  @Test(arguments: [2, 3, 4, 8])
  func everySchemeRepacksLosslesslyAndMultipliesOnEveryBackend(_ bits: Int) throws {
    let rows = 19, columns = 40, batch = 5
    let weights = weightLikeValues(rows * columns, seed: UInt64(bits))
    var generator = SeededGenerator(seed: 77)
    let x = try Matrix(rows: batch, columns: columns, elements: generator.floats(batch * columns))
    for granularity in Self.granularities {
      for (mode, optimizer) in Self.parameterChoices {
        let scheme = try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
        let tensor = try Quantizer(scheme: scheme, optimizer: optimizer).quantize(weights, shape: [rows, columns], name: "w")
        let matrix = try QuantizedMatrix(tensor, name: "w")
        let dense = tensor.dequantized()
        var exact = true
        for row in 0..<rows {
          for column in 0..<columns where matrix.weight(row: row, column: column) != dense[row * columns + column] { exact = false }
        }
        #expect(exact, "\(scheme) \(optimizer.name): repacked weights differ from dequantized()")
        try expectProductsAgreeWithDequantized(x, matrix, dense: dense, "\(scheme) \(optimizer.name)")
      }
    }
  }

  /// A quantized file's tensor loads as a matrix (the same one as repacking the tensor), and
  /// a name that is not there is a typed error naming it.
  @Test func aQuantizedFileLoadsAsAMatrix() throws {
    let directory = quantTemporaryDirectory()
    let path = directory + "/m.safetensors"
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: .zeroPoint)
    let tensor = try Quantizer(scheme: scheme).quantize(weightLikeValues(48 * 96, seed: 9), shape: [48, 96], name: "w")
    let writer = try QuantizedModelWriter(path: path)
    try writer.add("w", tensor)
    try writer.finish()
    let file = try QuantizedModelFile(path: path)
    #expect(try file.matrix("w") == QuantizedMatrix(tensor, name: "w"))
    #expect(throws: QuantizationError.invalidQuantizedFile(file: path, tensor: "nope", reason: "no quantized tensor of this name")) {
      _ = try file.matrix("nope")
    }
  }

  /// A file whose scales hold NaN is refused when the matrix is loaded, naming the tensor and
  /// the group (the tensor's own checks run before the repack).
  @Test func nonFiniteScalesInAFileAreATypedError() throws {
    let directory = quantTemporaryDirectory()
    let good = directory + "/good.safetensors", bad = directory + "/bad.safetensors"
    let scheme = try QuantizationScheme(bits: 8, granularity: .perGroup(16), mode: .floatMinimum)
    let tensor = try Quantizer(scheme: scheme).quantize(weightLikeValues(4 * 32, seed: 4), shape: [4, 32], name: "w")
    let writer = try QuantizedModelWriter(path: good)
    try writer.add("w", tensor)
    try writer.finish()
    let source = try SafetensorsFile(path: good)
    let rewritten = try SafetensorsWriter(path: bad, metadata: source.metadata)
    for info in source.tensors {
      if info.name == QuantizedModelFormat.scalesName("w") {
        var scales = try source.floats(info.name)
        scales[3] = .nan
        try rewritten.add(info.name, dtype: .f32, shape: info.shape, values: scales)
      } else {
        try rewritten.addCopy(of: info, from: source)
      }
    }
    try rewritten.finish()
    do {
      // Checksums off: the file's CRC would refuse the edit first; this checks the scale rule.
      _ = try QuantizedModelFile(path: bad, verifyChecksums: false).matrix("w")
      Issue.record("a NaN scale was accepted")
    } catch {
      #expect(error == .invalidParameters(tensor: "w", group: 3, reason: "scale nan is not finite"), "\(error)")
    }
  }

  /// A matrix read back as a tensor (`QuantizedTensor(matrix)`) repacks to the same matrix,
  /// for every width, granularity (a ragged last group: 24 ∤ 40; a row shorter than the group:
  /// 64 > 40) and mode, and dequantizes to the weights the matrix multiplies by. Where no
  /// normalisation happened (per-group float minimum or zero-point) it is the original tensor.
  @Test(arguments: [2, 3, 4, 8])
  func aMatrixReadsBackAsATensorThatRepacksToIt(_ bits: Int) throws {
    let rows = 19, columns = 40
    let weights = weightLikeValues(rows * columns, seed: 100 + UInt64(bits))
    for granularity in Self.granularities + [.perGroup(64)] {
      for (mode, optimizer) in Self.parameterChoices {
        let scheme = try QuantizationScheme(bits: bits, granularity: granularity, mode: mode)
        let tensor = try Quantizer(scheme: scheme, optimizer: optimizer).quantize(weights, shape: [rows, columns], name: "w")
        let matrix = try QuantizedMatrix(tensor, name: "w")
        let back = try QuantizedTensor(matrix)
        let context = "\(scheme) \(optimizer.name)"
        #expect(try QuantizedMatrix(back) == matrix, "\(context)")
        #expect(back.shape == [rows, columns] && back.scheme.bits == bits, "\(context)")
        #expect(back.dequantized() == tensor.dequantized(), "\(context)")
        // Zero-points all 2ᵇ⁻¹ read back as symmetric; per-tensor and whole-row groups as per channel.
        let middle = Float(1 << (bits - 1))
        let expectedMode: QuantizationMode =
          mode == .floatMinimum ? .floatMinimum : tensor.offsets.allSatisfy { $0 == middle } ? .symmetric : .zeroPoint
        let expectedGranularity: QuantizationGranularity =
          granularity == .perGroup(16) || granularity == .perGroup(24) || granularity == .perChannel ? granularity : .perChannel
        #expect(back.scheme.mode == expectedMode, "\(context): \(back.scheme.mode)")
        #expect(back.scheme.granularity == expectedGranularity, "\(context): \(back.scheme.granularity)")
        if expectedMode == mode && expectedGranularity == granularity { #expect(back == tensor, "\(context)") }
      }
    }
  }

  /// Matrices built from codes with a width or a group size no tensor scheme has are typed
  /// errors, not a trap; an empty matrix reads back as an empty tensor.
  @Test func matricesNoTensorSchemeDescribesAreTypedErrors() throws {
    let five = try QuantizedMatrix(
      layout: try QuantizedMatrixLayout(rows: 2, columns: 16, bits: 5, groupSize: 16, form: .floatMinimum),
      codes: [UInt8](repeating: 31, count: 32), scales: [1, 1], offsets: [0, 0])
    #expect(throws: QuantizationError.unsupportedBits(5, supported: QuantizationScheme.supportedBits)) { _ = try QuantizedTensor(five) }
    let narrowGroups = try QuantizedMatrix(
      layout: try QuantizedMatrixLayout(rows: 1, columns: 12, bits: 4, groupSize: 4, form: .zeroPoint),
      codes: [UInt8](repeating: 3, count: 12), scales: [1, 2, 3], offsets: [8, 8, 8])
    #expect(throws: QuantizationError.unsupportedGroupSize(4, supported: QuantizationScheme.supportedGroupSizes)) {
      _ = try QuantizedTensor(narrowGroups)
    }
    let empty = try QuantizedMatrix(
      layout: try QuantizedMatrixLayout(rows: 0, columns: 8, bits: 8, groupSize: 8, form: .floatMinimum),
      codes: [], scales: [], offsets: [])
    let back = try QuantizedTensor(empty)
    #expect(back.shape == [0, 8] && back.packedCodes.isEmpty && back.scales.isEmpty)
    #expect(try QuantizedMatrix(back) == empty)
  }
}

/// x·Ŵᵀ on every runnable backend in every product mode against x·Ŵᵀ from the dequantized
/// weights `dense` (row-major, the matrix's shape) on the reference backend: weight-only within
/// 10⁻⁵ relative (γ_{k+groups+4} of the term magnitudes at these sizes), int8 and int16 within
/// the activation rounding, 10⁻² relative. `context` names the case in failures.
func expectProductsAgreeWithDequantized(_ x: Matrix, _ matrix: QuantizedMatrix, dense: [Float], _ context: String) throws {
  let expected = try Engine.default.forcing("reference").multiply(
    x, try Matrix(rows: matrix.layout.rows, columns: matrix.layout.columns, elements: dense), transposeB: .transposed)
  for name in BackendsUnderTest.names {
    let engine = try Engine.default.forcing(name)
    for product in QuantizedMatmulMode.allCases {
      let y = try engine.multiply(x, matrix, mode: product)
      let error = relativeDifference(y.elements, expected.elements)
      #expect(error <= (product == .weightOnly ? 1e-5 : 1e-2), "\(context) \(product) on \(name): relative error \(error)")
    }
  }
}

/// ‖a − b‖ / ‖b‖ in Double.
func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
  var difference = 0.0, norm = 0.0
  for (u, v) in zip(a, b) {
    difference += (Double(u) - Double(v)) * (Double(u) - Double(v))
    norm += Double(v) * Double(v)
  }
  return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
}
