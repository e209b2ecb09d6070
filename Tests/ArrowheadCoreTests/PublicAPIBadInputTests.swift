import Arrowhead
import Testing

/// Absurd sizes and out-of-range codes given to the public Core API by a Swift caller:
/// typed errors (or the right answer), never an overflow trap or silently corrupted output.
@Suite struct CorePublicAPIBadInputTests {
  @Test func matrixWhoseElementCountOverflowsThrows() throws {
    #expect(throws: ArrowheadError.invalidParameter(
      name: "rows × columns", value: "\(Int.max) × 2", expected: "a product that fits in Int")) {
      try Matrix(rows: Int.max, columns: 2, elements: [])
    }
    #expect(throws: ArrowheadError.invalidParameter(
      name: "rows × columns", value: "\(1 << 32) × \(1 << 32)", expected: "a product that fits in Int")) {
      try Matrix(rows: 1 << 32, columns: 1 << 32)
    }
    // Valid shapes are unchanged, the empty ones included.
    #expect(try Matrix(rows: 0, columns: Int.max).elements.isEmpty)
    #expect(try Matrix(rows: 2, columns: 3, repeating: 1).elements.count == 6)
  }

  @Test func matrixSubscriptReadsItsOwnRowAndTrapsOutOfRange() async throws {
    let m = try Matrix(rows: 2, columns: 3, elements: [0, 1, 2, 3, 4, 5])
    #expect(m[1, 2] == 5 && m[0, 2] == 2 && m[1, 0] == 3)
    // (0, 5) is inside the flat storage (it is (1, 2)): it must trap like Array, not read it.
    await #expect(processExitsWith: .failure) {
      let m = try Matrix(rows: 2, columns: 3, elements: [0, 1, 2, 3, 4, 5])
      _ = m[0, 5]
    }
    await #expect(processExitsWith: .failure) {
      var m = try Matrix(rows: 2, columns: 3)
      m[-1, 4] = 1
    }
  }

  @Test func hugeGroupSizeIsOneGroupNotAnOverflow() throws {
    let engine = Engine.default
    let x: [Float] = [3, -1, 2]
    var minimums: [Float] = [0], maximums: [Float] = [0]
    let finite = try x.withUnsafeBufferPointer { xb in
      try minimums.withUnsafeMutableBufferPointer { a in
        try maximums.withUnsafeMutableBufferPointer { b in
          try engine.groupMinMax(xb, groupSize: Int.max, minimums: a, maximums: b)
        }
      }
    }
    #expect(finite && minimums == [-1] && maximums == [3])
    var codes = [UInt8](repeating: 0, count: 3)
    let scales: [Float] = [1], offsets: [Float] = [-1]
    try x.withUnsafeBufferPointer { xb in
      try scales.withUnsafeBufferPointer { s in
        try offsets.withUnsafeBufferPointer { o in
          try codes.withUnsafeMutableBufferPointer { c in
            try engine.quantize(xb, groupSize: Int.max, scales: s, offsets: o, form: .floatMinimum, maxCode: 15, codes: c)
          }
        }
      }
    }
    #expect(codes == [4, 0, 3])
    var values = [Float](repeating: 0, count: 3)
    try codes.withUnsafeBufferPointer { c in
      try scales.withUnsafeBufferPointer { s in
        try offsets.withUnsafeBufferPointer { o in
          try values.withUnsafeMutableBufferPointer { v in
            try engine.dequantize(c, groupSize: Int.max, scales: s, offsets: o, form: .floatMinimum, into: v)
          }
        }
      }
    }
    #expect(values == x)
  }

  @Test func packRejectsCodesWiderThanTheBitWidth() throws {
    let codes: [UInt8] = [1, 4, 0, 3]
    var packed = [UInt8](repeating: 0, count: 1)
    #expect(throws: ArrowheadError.invalidParameter(name: "codes[1]", value: "4", expected: "0…3 (2-bit codes)")) {
      try codes.withUnsafeBufferPointer { c in
        try packed.withUnsafeMutableBufferPointer { p in try Engine.default.pack(c, bits: 2, into: p) }
      }
    }
    // In range: packs and unpacks unchanged (8 bits takes every byte).
    let valid: [UInt8] = [1, 2, 0, 3]
    try valid.withUnsafeBufferPointer { c in
      try packed.withUnsafeMutableBufferPointer { p in try Engine.default.pack(c, bits: 2, into: p) }
    }
    var back = [UInt8](repeating: 0, count: 4)
    try packed.withUnsafeBufferPointer { p in
      try back.withUnsafeMutableBufferPointer { c in try Engine.default.unpack(p, bits: 2, into: c) }
    }
    #expect(back == valid)
    let bytes: [UInt8] = [255, 0]
    var out = [UInt8](repeating: 0, count: 2)
    try bytes.withUnsafeBufferPointer { c in
      try out.withUnsafeMutableBufferPointer { p in try Engine.default.pack(c, bits: 8, into: p) }
    }
    #expect(out == bytes)
  }

  @Test func quantizedMatrixLayoutRejectsSizesWhoseByteCountsOverflow() throws {
    let limit = QuantizedMatrixLayout.maximumWeights
    for (rows, columns) in [(Int.max, Int.max), (1 << 62, 1), (1, 1 << 62), (1 << 30, 1 << 30)] {
      #expect(throws: ArrowheadError.invalidParameter(
        name: "rows × columns", value: "\(rows) × \(columns)", expected: "at most \(limit) rows, columns and weights")) {
        try QuantizedMatrixLayout(rows: rows, columns: columns, bits: 4, groupSize: 8, form: .floatMinimum)
      }
    }
    let empty = try QuantizedMatrixLayout(rows: limit, columns: 0, bits: 4, groupSize: 8, form: .floatMinimum)
    #expect(try QuantizedMatrix(layout: empty, codes: [], scales: [], offsets: []).layout.codeByteCount == 0)
  }
}
