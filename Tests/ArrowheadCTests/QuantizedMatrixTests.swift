import CArrowhead
import Foundation
import Testing

// ah_qmatrix_*: products on quantized weights through the C declarations, as a C program
// calls them. The numerics are the Swift conformance suite's and python/tests/test_qmatrix.py's;
// here: the ABI's own contract (shapes from the handle, checked leading dimensions, modes,
// threads, file names, handle kinds).

@Suite("C ABI quantized matrices")
struct QuantizedMatrixABITests {
  /// A 20 × 96 INT4 g32 tensor of sin(i)/2 and its repacked matrix.
  func makeMatrix(_ engine: OpaquePointer) throws -> (tensor: OpaquePointer, matrix: OpaquePointer, weights: [Float]) {
    let values = (0..<(20 * 96)).map { Float(sin(Double($0))) / 2 }
    let shape: [Int64] = [20, 96]
    var tensor: OpaquePointer?
    try #require(
      ah_quantize(engine, values, shape, 2, 4, Int32(AH_GRANULARITY_GROUP), 32, Int32(AH_MODE_FLOAT_MINIMUM), nil, nil, &tensor) == ok,
      "\(lastError())")
    var matrix: OpaquePointer?
    try #require(ah_qmatrix_create(engine, tensor, &matrix) == ok, "\(lastError())")
    var restored = [Float](repeating: 0, count: values.count)
    try #require(ah_tensor_dequantize(tensor, &restored, Int64(restored.count)) == ok)
    return (try #require(tensor), try #require(matrix), restored)
  }

  @Test func productsUseTheMatrixShapeAndTheCallersLeadingDimensions() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let (tensor, matrix, w) = try makeMatrix(engine)
    defer { _ = ah_qmatrix_free(matrix) }
    // The matrix outlives its tensor.
    #expect(ah_tensor_free(tensor) == ok)
    var info = ah_qmatrix_info()
    #expect(ah_qmatrix_describe(matrix, &info) == ok)
    #expect(info.rows == 20 && info.columns == 96 && info.bits == 4 && info.group_size == 32)
    #expect(info.mode == Int32(AH_MODE_FLOAT_MINIMUM))
    #expect(info.bytes == 32 * 96 / 2 + 32 * 3 * 8)  // two panels of 16 rows (the last 12 are padding)
    // 3 rows of x, 100 floats apart; y 25 apart with sentinels between rows.
    let x = (0..<300).map { Float(cos(Double($0))) }
    let bias = (0..<20).map { Float($0) / 10 }
    for mode in [AH_QMATMUL_WEIGHT_ONLY, AH_QMATMUL_INT8, AH_QMATMUL_INT16] {
      for threads: Int32 in [0, 1, 2] {
        var y = [Float](repeating: -7, count: 75)
        try #require(ah_qmatrix_matmul(engine, matrix, Int32(mode), 3, x, 100, bias, threads, &y, 25) == ok, "\(lastError())")
        for i in 0..<3 {
          for n in 0..<20 {
            var exact = Double(bias[n]), size = abs(Double(bias[n]))
            for j in 0..<96 {
              exact += Double(w[n * 96 + j]) * Double(x[i * 100 + j])
              size += abs(Double(x[i * 100 + j]))
            }
            // |ŵ| ≤ 1/2, |s|·q + |m| ≤ 1 + 1/2: weight-only within γ₁₀₃·1.5·Σ|x| + γ·|b|; int8
            // adds ≤ Σ|ŵ|·max|x|/254 ≤ 96·½/254; int16 ≤ 96·½/(127·508).
            let float = 103 * 0x1p-24 * 1.5 * size * 2
            let tolerance = mode == AH_QMATMUL_WEIGHT_ONLY ? float : mode == AH_QMATMUL_INT8 ? float + 48.0 / 254 : float + 48.0 / (127 * 508)
            #expect(abs(Double(y[i * 25 + n]) - exact) <= tolerance, "mode \(mode) threads \(threads) y[\(i), \(n)]")
          }
          // Only info.rows elements of each row are written.
          if i < 2 { #expect(y[i * 25 + 20..<i * 25 + 25].allSatisfy { $0 == -7 }) }
        }
      }
    }
    var y = [Float](repeating: 0, count: 20)
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 0, nil, 96, nil, 0, nil, 20) == ok, "m = 0 writes nothing")
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 1, x, 95, nil, 0, &y, 20) == invalidArgument)
    #expect(lastError() == "'ldx' = 95 is smaller than the row length 96")
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 1, x, 96, nil, 0, &y, 19) == invalidArgument)
    #expect(lastError() == "'ldy' = 19 is smaller than the row length 20")
    #expect(ah_qmatrix_matmul(engine, matrix, 3, 1, x, 96, nil, 0, &y, 20) == invalidArgument)
    #expect(lastError().hasPrefix("mode 3 is unknown; expected AH_QMATMUL_WEIGHT_ONLY (0)"))
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 1, x, 96, nil, -1, &y, 20) == invalidArgument)
    #expect(ah_qmatrix_matmul(engine, matrix, 0, -2, x, 96, nil, 0, &y, 20) == invalidArgument)
    #expect(lastError() == "'m' = -2 is negative")
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 2, nil, 96, nil, 0, &y, 20) == invalidArgument)
    #expect(lastError() == "'x' is NULL but 192 elements were announced")
    #expect(ah_qmatrix_matmul(engine, matrix, 0, 1, x, 96, nil, 0, nil, 20) == invalidArgument)
    #expect(ah_qmatrix_matmul(engine, engine, 0, 1, x, 96, nil, 0, &y, 20) == invalidHandle)
    #expect(lastError() == "expected a quantized matrix handle but got an engine handle")
    var other: OpaquePointer?
    #expect(ah_qmatrix_create(engine, matrix, &other) == invalidHandle && other == nil)
    #expect(lastError() == "expected a quantized tensor handle but got a quantized matrix handle")
    #expect(ah_qmatrix_create(engine, tensor, &other) == invalidHandle, "the tensor was freed")
  }

  @Test func loadingNamesWhatTheFileHolds() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ah-qmatrix-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    // A safetensors file with one matrix to quantize and one kept in float (an embedding).
    let source = directory.appendingPathComponent("model.safetensors").path
    let quantized = directory.appendingPathComponent("model.q.safetensors").path
    let dense = (0..<(32 * 64)).map { Float(sin(Double($0))) }, embedding = [Float](repeating: 1, count: 80)
    var header = #"{"dense.weight":{"dtype":"F32","shape":[32,64],"data_offsets":[0,8192]},"#
    header += #""embeddings.weight":{"dtype":"F32","shape":[10,8],"data_offsets":[8192,8512]}}"#
    while header.utf8.count % 8 != 0 { header += " " }
    var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) }
    bytes.append(Data(header.utf8))
    for value in dense + embedding { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    try bytes.write(to: URL(fileURLWithPath: source))
    var report: UnsafeMutablePointer<CChar>?
    try #require(ah_quantize_model(engine, source, quantized, #"{"bits": 8, "group": 32}"#, &report) == ok, "\(lastError())")
    ah_string_free(report)
    var matrix: OpaquePointer?
    try #require(ah_qmatrix_load(engine, quantized, "dense.weight", &matrix) == ok, "\(lastError())")
    var info = ah_qmatrix_info()
    #expect(ah_qmatrix_describe(matrix, &info) == ok && info.rows == 32 && info.columns == 64 && info.bits == 8)
    #expect(ah_qmatrix_free(matrix) == ok)
    matrix = nil
    #expect(ah_qmatrix_load(engine, quantized, "embeddings.weight", &matrix) == invalidArgument && matrix == nil)
    #expect(lastError() == "'embeddings.weight' in \(quantized) is stored in floating point, not quantized")
    #expect(ah_qmatrix_load(engine, quantized, "dense.wieght", &matrix) == invalidArgument)
    #expect(lastError() == "\(quantized) has no quantized tensor 'dense.wieght'; it holds quantized tensors 'dense.weight'")
    #expect(ah_qmatrix_load(engine, directory.appendingPathComponent("absent").path, "dense.weight", &matrix) == ah_status(AH_ERROR_IO))
    #expect(ah_qmatrix_load(engine, source, "dense.weight", &matrix) == ah_status(AH_ERROR_CORRUPT_FILE), "not a quantized file")
    #expect(ah_qmatrix_load(engine, nil, "dense.weight", &matrix) == invalidArgument)
    #expect(matrix == nil)
  }
}
