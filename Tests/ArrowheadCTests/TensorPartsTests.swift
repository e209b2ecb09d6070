import CArrowhead
import Foundation
import Testing

// ah_tensor_create / ah_tensor_create_from_codes (a tensor from its parts: what pickling keeps,
// or another quantizer's codes) and ah_qmatrix_tensor (a matrix read back as a tensor), as a
// C program calls them. The Swift initializers they wrap are tested in ArrowheadQuantTests;
// here: the ABI's contract (counts, NULLs, typed errors, outputs only on success).

@Suite("C ABI tensors from parts")
struct TensorPartsABITests {
  /// The parts of `tensor`: shape, info, packed codes, codes, scales, offsets.
  struct Parts {
    var shape: [Int64]
    var info: ah_tensor_info
    var packed: [UInt8]
    var codes: [UInt8]
    var scales: [Float]
    var offsets: [Float]
  }

  func parts(of tensor: OpaquePointer?) throws -> Parts {
    var info = ah_tensor_info()
    try #require(ah_tensor_describe(tensor, &info) == ok, "\(lastError())")
    var shape = [Int64](repeating: 0, count: Int(info.ndim))
    var packed = [UInt8](repeating: 0, count: Int(info.packed_bytes))
    var codes = [UInt8](repeating: 0, count: Int(info.count))
    var scales = [Float](repeating: 0, count: Int(info.group_count)), offsets = scales
    try #require(ah_tensor_shape(tensor, &shape, Int64(shape.count)) == ok)
    try #require(ah_tensor_packed_codes(tensor, &packed, Int64(packed.count)) == ok)
    try #require(ah_tensor_codes(tensor, &codes, Int64(codes.count)) == ok)
    try #require(ah_tensor_scales(tensor, &scales, Int64(scales.count)) == ok)
    try #require(ah_tensor_offsets(tensor, &offsets, Int64(offsets.count)) == ok)
    return Parts(shape: shape, info: info, packed: packed, codes: codes, scales: scales, offsets: offsets)
  }

  func dequantized(_ tensor: OpaquePointer?, count: Int) throws -> [Float] {
    var out = [Float](repeating: 0, count: count)
    try #require(ah_tensor_dequantize(tensor, &out, Int64(count)) == ok, "\(lastError())")
    return out
  }

  /// Every scheme's tensor comes back from its packed parts and from its unpacked codes with
  /// the same description, codes, parameters and dequantized values (a 3-D shape: rows = d0).
  @Test func aTensorComesBackFromItsPartsForEveryScheme() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let shape: [Int64] = [5, 3, 13]  // 5 rows of 39 columns: groups of 8 leave a tail of 7
    let values = (0..<195).map { Float(sin(Double($0) * 0.7)) * Float(1 + $0 % 5) }
    for bits: Int32 in [2, 3, 4, 8] {
      for (granularity, group) in [(AH_GRANULARITY_GROUP, Int64(8)), (AH_GRANULARITY_CHANNEL, 0), (AH_GRANULARITY_TENSOR, 0)] {
        for mode in [AH_MODE_FLOAT_MINIMUM, AH_MODE_ZERO_POINT, AH_MODE_SYMMETRIC] {
          var original: OpaquePointer?
          try #require(
            ah_quantize(engine, values, shape, 3, bits, Int32(granularity), group, Int32(mode), nil, nil, &original) == ok,
            "\(lastError())")
          defer { _ = ah_tensor_free(original) }
          let p = try parts(of: original)
          let context = "bits \(bits) granularity \(granularity) mode \(mode)"
          var fromPacked: OpaquePointer?, fromCodes: OpaquePointer?
          try #require(
            ah_tensor_create(
              engine, p.shape, 3, bits, Int32(granularity), group, Int32(mode), p.packed, Int64(p.packed.count), p.scales, p.offsets,
              Int64(p.scales.count), &fromPacked) == ok, "\(context): \(lastError())")
          try #require(
            ah_tensor_create_from_codes(
              engine, p.shape, 3, bits, Int32(granularity), group, Int32(mode), p.codes, Int64(p.codes.count), p.scales, p.offsets,
              Int64(p.scales.count), &fromCodes) == ok, "\(context): \(lastError())")
          defer {
            _ = ah_tensor_free(fromPacked)
            _ = ah_tensor_free(fromCodes)
          }
          let expected = try dequantized(original, count: values.count)
          for made in [fromPacked, fromCodes] {
            let q = try parts(of: made)
            #expect(q.shape == p.shape && q.packed == p.packed && q.codes == p.codes, "\(context)")
            #expect(q.scales == p.scales && q.offsets == p.offsets, "\(context)")
            #expect(q.info.granularity == p.info.granularity && q.info.mode == p.info.mode && q.info.group_size == p.info.group_size)
            #expect(try dequantized(made, count: values.count) == expected, "\(context)")
          }
        }
      }
    }
  }

  /// Codes from elsewhere (GPTQ/AWQ-style: integer codes, scales, integral zero-points)
  /// dequantize to (q − z)·s, computed here independently, exactly.
  @Test func foreignCodesDequantizeByTheFormula() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let rows = 3, columns = 32, group = 16
    let codes = (0..<(rows * columns)).map { UInt8(($0 * 7 + 3) % 16) }
    let scales: [Float] = [0.5, 0.25, 0.125, 1, 2, 0.75]
    let zeros: [Float] = [8, 7, 0, 15, 3, 9]
    var tensor: OpaquePointer?
    try #require(
      ah_tensor_create_from_codes(
        engine, [Int64(rows), Int64(columns)], 2, 4, Int32(AH_GRANULARITY_GROUP), Int64(group), Int32(AH_MODE_ZERO_POINT), codes,
        Int64(codes.count), scales, zeros, 6, &tensor) == ok, "\(lastError())")
    defer { _ = ah_tensor_free(tensor) }
    let values = try dequantized(tensor, count: rows * columns)
    for index in 0..<(rows * columns) {
      let g = (index / columns) * 2 + (index % columns) / group
      #expect(values[index] == (Float(codes[index]) - zeros[g]) * scales[g], "weight \(index)")
    }
    var info = ah_tensor_info()
    #expect(ah_tensor_describe(tensor, &info) == ok && info.packed_bytes == 48 && info.bits == 4)
  }

  /// Wrong parts are INVALID_ARGUMENT naming what is wrong, and the output stays NULL.
  @Test func wrongPartsAreTypedErrorsNamingThePart() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let shape: [Int64] = [2, 16]
    let packed = [UInt8](repeating: 0x21, count: 16), codes = [UInt8](repeating: 1, count: 32)
    let scales: [Float] = [1, 1, 1, 1], offsets: [Float] = [0, 0, 0, 0]
    let group = Int32(AH_GRANULARITY_GROUP), minimum = Int32(AH_MODE_FLOAT_MINIMUM), zeroPoint = Int32(AH_MODE_ZERO_POINT)
    var tensor: OpaquePointer?
    let packedDefault = packed, scalesDefault = scales, offsetsDefault = offsets
    func create(
      bits: Int32 = 4, mode: Int32 = minimum, packed: [UInt8]? = nil, bytes: Int64 = 16, scales: [Float]? = nil,
      offsets: [Float]? = nil, groups: Int64 = 4
    ) -> ah_status {
      ah_tensor_create(
        engine, shape, 2, bits, group, 8, mode, packed ?? packedDefault, bytes, scales ?? scalesDefault, offsets ?? offsetsDefault,
        groups, &tensor)
    }
    #expect(create(bytes: 15) == invalidArgument && tensor == nil)
    #expect(lastError() == "tensor 'tensor': expected 16 packed code bytes for [2, 16] at 4 bits, got 15")
    #expect(create(groups: 3) == invalidArgument && tensor == nil)
    #expect(lastError() == "tensor 'tensor': expected 4 scales and offsets (g8), got 3 scales, 3 offsets")
    #expect(create(scales: [1, 1, .nan, 1]) == invalidArgument && tensor == nil)
    #expect(lastError() == "tensor 'tensor', group 2: scale nan is not finite")
    #expect(create(mode: zeroPoint, offsets: [0, 0, 2.5, 0]) == invalidArgument)
    #expect(lastError().hasPrefix("tensor 'tensor', group 2: zero-point 2.5 is not an integer in 0…15"))
    #expect(create(scales: [1, 1, 1, -1]) == invalidArgument)
    #expect(lastError() == "tensor 'tensor', group 3: scale -1.0 is negative (only symmetric scales may be)")
    #expect(create(scales: [0, 1, 1, 1]) == invalidArgument, "scale 0 with codes other than the one written for it")
    #expect(lastError().contains("codes and parameters disagree"))
    #expect(create(bits: 5) == invalidArgument)
    #expect(lastError().hasPrefix("5-bit quantization is not supported"))
    #expect(ah_tensor_create(engine, shape, 2, 4, group, 8, minimum, nil, 16, scales, offsets, 4, &tensor) == invalidArgument)
    #expect(lastError() == "'packed_codes' is NULL but 16 elements were announced")
    #expect(ah_tensor_create(engine, shape, 2, 4, group, 8, minimum, packed, 16, scales, nil, 4, &tensor) == invalidArgument)
    #expect(lastError() == "'offsets' is NULL but 4 elements were announced")
    #expect(ah_tensor_create(engine, shape, 2, 4, group, 8, minimum, packed, -1, scales, offsets, 4, &tensor) == invalidArgument)
    #expect(lastError() == "'packed_bytes' = -1 is negative")
    #expect(ah_tensor_create(engine, shape, 2, 4, group, 8, minimum, packed, 16, scales, offsets, 4, nil) == invalidArgument)
    #expect(lastError() == "'tensor' is NULL")
    #expect(ah_tensor_create(engine, shape, 33, 4, group, 8, minimum, packed, 16, scales, offsets, 4, &tensor) == invalidArgument)
    #expect(tensor == nil)
    var tooLarge = codes
    tooLarge[21] = 16
    #expect(
      ah_tensor_create_from_codes(engine, shape, 2, 4, group, 8, minimum, tooLarge, 32, scales, offsets, 4, &tensor) == invalidArgument)
    #expect(lastError() == "tensor 'tensor', group 2: code 16 at flat index 21 exceeds 15")
    #expect(ah_tensor_create_from_codes(engine, shape, 2, 4, group, 8, minimum, codes, 31, scales, offsets, 4, &tensor) == invalidArgument)
    #expect(lastError() == "tensor 'tensor': expected 32 codes for [2, 16], got 31")
    #expect(tensor == nil)
    // The right parts make a tensor.
    #expect(create() == ok && tensor != nil, "\(lastError())")
    _ = ah_tensor_free(tensor)
  }

  /// A matrix read back as a tensor repacks to a matrix whose products are bit-identical,
  /// and that tensor comes back from its own parts (the pickling path of the Python package).
  @Test func aMatrixReadsBackAsATensorWithTheSameProducts() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let values = (0..<(20 * 40)).map { Float(cos(Double($0) * 1.3)) }
    let x = (0..<(3 * 40)).map { Float(sin(Double($0))) }
    for (bits, mode, optimizer) in [(Int32(4), AH_MODE_SYMMETRIC, "signed-max"), (8, AH_MODE_ZERO_POINT, "minmax"), (3, AH_MODE_FLOAT_MINIMUM, "minmax")] {
      var tensor: OpaquePointer?, matrix: OpaquePointer?, back: OpaquePointer?, again: OpaquePointer?
      try #require(
        ah_quantize(engine, values, [20, 40], 2, bits, Int32(AH_GRANULARITY_GROUP), 16, Int32(mode), optimizer, nil, &tensor) == ok,
        "\(lastError())")
      try #require(ah_qmatrix_create(engine, tensor, &matrix) == ok)
      try #require(ah_qmatrix_tensor(engine, matrix, &back) == ok, "\(lastError())")
      try #require(ah_qmatrix_create(engine, back, &again) == ok, "\(lastError())")
      defer { for handle in [tensor, back] { _ = ah_tensor_free(handle) }; _ = ah_qmatrix_free(matrix); _ = ah_qmatrix_free(again) }
      let p = try parts(of: back)
      #expect(p.info.mode == Int32(mode) && p.info.group_size == 16 && p.info.granularity == Int32(AH_GRANULARITY_GROUP))
      #expect(try dequantized(back, count: values.count) == dequantized(tensor, count: values.count))
      for product in [AH_QMATMUL_WEIGHT_ONLY, AH_QMATMUL_INT8, AH_QMATMUL_INT16] {
        var y1 = [Float](repeating: 0, count: 60), y2 = [Float](repeating: 1, count: 60)
        #expect(ah_qmatrix_matmul(engine, matrix, Int32(product), 3, x, 40, nil, 1, &y1, 20) == ok)
        #expect(ah_qmatrix_matmul(engine, again, Int32(product), 3, x, 40, nil, 1, &y2, 20) == ok)
        #expect(y1 == y2, "bits \(bits) mode \(mode) product \(product)")
      }
    }
    var out: OpaquePointer?
    #expect(ah_qmatrix_tensor(engine, engine, &out) == invalidHandle && out == nil)
    #expect(lastError() == "expected a quantized matrix handle but got an engine handle")
  }
}
