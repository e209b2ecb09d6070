import ArrowheadCore
import Testing

/// Quantization kernels must be bit-identical to the reference on every backend.
extension BackendConformance {
  static let groupSizes = [1, 7, 8, 16, 32, 64, 100, 4096]
  static let counts = [0, 1, 5, 63, 64, 65, 257, 1000]

  /// Scales and offsets per group covering ties, clamping, zero ranges and negative zero-points.
  static func parameters(groups: Int, form: AffineForm, maxCode: Int, generator: inout SeededGenerator) -> ([Float], [Float]) {
    var scales: [Float] = [], offsets: [Float] = []
    for g in 0..<groups {
      switch g % 4 {
      case 0:  // power-of-two scale: (x − m)/s is exact, so half-way values are true ties
        scales.append(0.125)
        offsets.append(form == .floatMinimum ? -1 : Float(maxCode / 2))
      case 1:  // zero range
        scales.append(0)
        offsets.append(form == .floatMinimum ? 0.3 : 3)
      case 2:  // a negative zero-point / a minimum above the data (everything clamps low)
        scales.append(Float.random(in: 0.01..<0.2, using: &generator))
        offsets.append(form == .floatMinimum ? 0.9 : -3)
      default:
        scales.append(Float.random(in: 0.001..<0.05, using: &generator))
        offsets.append(form == .floatMinimum ? Float.random(in: -1..<0, using: &generator) : Float(Int.random(in: 0...maxCode, using: &generator)))
      }
    }
    return (scales, offsets)
  }

  /// quantize and dequantize bit for bit the reference, in both affine forms, at 2, 3, 4 and 8
  /// bits, every count (0 to 1000) and group size (1 to 4096), with groups of power-of-two scales
  /// and exact ties, zero ranges (s = 0), clamping offsets and random scales; codes ≤ maxCode.
  public static func quantizeAndDequantizeAreBitIdentical(_ kernel: any Backend) throws {
    let name = kernel.name
    for form in AffineForm.allCases {
      for bits in [2, 3, 4, 8] {
        let maxCode = (1 << bits) - 1
        for count in Self.counts {
          for groupSize in Self.groupSizes {
            var generator = SeededGenerator(seed: UInt64(bits * 10_000 + count * 10 + groupSize))
            var x = generator.floats(count, in: -1.2..<1.2)
            // Exact ties in the power-of-two groups: x = m + (q + ½)·s.
            for i in stride(from: 0, to: count, by: 3) where (i / groupSize) % 4 == 0 {
              let q = Float(i % (maxCode + 1))
              x[i] = form == .floatMinimum ? -1 + (q + 0.5) * 0.125 : (q - Float(maxCode / 2) + 0.5) * 0.125
            }
            let groups = (count + groupSize - 1) / groupSize
            let (scales, offsets) = Self.parameters(groups: groups, form: form, maxCode: maxCode, generator: &generator)
            func codes(_ backend: any Backend) -> [UInt8] {
              var out = [UInt8](repeating: 0xAA, count: count)
              x.withUnsafeBufferPointer { xb in
                scales.withUnsafeBufferPointer { sb in
                  offsets.withUnsafeBufferPointer { ob in
                    out.withUnsafeMutableBufferPointer { cb in
                      if count > 0 {
                        backend.quantize(count: count, groupSize: groupSize, xb.baseAddress!, scales: sb.baseAddress!,
                                         offsets: ob.baseAddress!, form: form, maxCode: maxCode, cb.baseAddress!)
                      }
                    }
                  }
                }
              }
              return out
            }
            let got = codes(kernel), expected = codes(reference)
            #expect(got == expected, "quantize \(form) bits=\(bits) count=\(count) G=\(groupSize) on \(name)")
            #expect(got.allSatisfy { Int($0) <= maxCode }, "codes must clamp to \(maxCode)")
            func values(_ backend: any Backend) -> [Float] {
              var out = [Float](repeating: 0, count: count)
              got.withUnsafeBufferPointer { cb in
                scales.withUnsafeBufferPointer { sb in
                  offsets.withUnsafeBufferPointer { ob in
                    out.withUnsafeMutableBufferPointer { xb in
                      if count > 0 {
                        backend.dequantize(count: count, groupSize: groupSize, cb.baseAddress!, scales: sb.baseAddress!,
                                           offsets: ob.baseAddress!, form: form, xb.baseAddress!)
                      }
                    }
                  }
                }
              }
              return out
            }
            #expect(values(kernel) == values(reference), "dequantize \(form) bits=\(bits) count=\(count) G=\(groupSize) on \(name)")
          }
        }
      }
    }
  }


  /// quantize of NaN, +∞ and −∞ (4 bits, both forms, 11 values so that both a vector body and a
  /// scalar tail see them) gives code 15 (maxCode) for +∞ and 0 for NaN and −∞, never a trap.
  public static func nonFiniteInputGivesTheDocumentedCodesInsteadOfTrapping(_ kernel: any Backend) throws {
    let name = kernel.name
    for form in AffineForm.allCases {
      // 11 values so that both the vector body and the scalar tail see NaN and ±∞.
      let x: [Float] = [.nan, .infinity, -.infinity, 0.5, .nan, 1, .infinity, -.infinity, .nan, .infinity, -.infinity]
      var codes = [UInt8](repeating: 9, count: x.count)
      kernel.quantize(count: x.count, groupSize: 64, x, scales: [0.25], offsets: [form == .floatMinimum ? -1 : 8],
                      form: form, maxCode: 15, &codes)
      for (value, code) in zip(x, codes) where !value.isFinite {
        #expect(code == (value == .infinity ? 15 : 0), "\(value) → \(code) on \(name) (\(form))")
      }
    }
  }

  /// groupMinMax at every count and group size gives exactly the reference's minimums and maximums
  /// and reports finite input; a NaN, +∞ or −∞ at position 2·count/3 makes it return false.
  public static func groupMinMaxIsExactAndReportsNonFiniteValues(_ kernel: any Backend) throws {
    let name = kernel.name
    for count in Self.counts where count > 0 {
      for groupSize in Self.groupSizes {
        var generator = SeededGenerator(seed: UInt64(count * 7 + groupSize))
        var x = generator.floats(count, in: -3..<3)
        let groups = (count + groupSize - 1) / groupSize
        func run(_ backend: any Backend) -> ([Float], [Float], Bool) {
          var low = [Float](repeating: 0, count: groups), high = [Float](repeating: 0, count: groups)
          let finite = backend.groupMinMax(count: count, groupSize: groupSize, x, minimums: &low, maximums: &high)
          return (low, high, finite)
        }
        let got = run(kernel), expected = run(reference)
        #expect(got.0 == expected.0 && got.1 == expected.1 && got.2, "minmax count=\(count) G=\(groupSize) on \(name)")
        for bad in [Float.nan, .infinity, -.infinity] {
          let position = (count * 2) / 3
          let saved = x[position]
          x[position] = bad
          #expect(run(kernel).2 == false, "\(bad) at \(position) count=\(count) G=\(groupSize) on \(name)")
          x[position] = saved
        }
      }
    }
  }

  /// pack at 1 to 8 bits and counts 0 to 70 (and longer ones: several 64- and 256-code blocks
  /// with every kind of tail) writes the reference's ⌈count·bits/8⌉ bytes bit for bit, and
  /// unpack of them gives back the codes.
  public static func packAndUnpackAreBitIdenticalAndRoundTrip(_ kernel: any Backend) throws {
    let name = kernel.name
    for bits in 1...8 {
      for count in Array(0...70) + [127, 128, 129, 191, 255, 256, 257, 320, 511, 575, 1000] {
        var generator = SeededGenerator(seed: UInt64(bits * 100 + count))
        let codes = (0..<count).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &generator) }
        let bytes = (count * bits + 7) / 8
        var packed = [UInt8](repeating: 0xFF, count: max(bytes, 1)), expected = packed
        var unpacked = [UInt8](repeating: 0, count: max(count, 1))
        kernel.pack(count: count, bits: bits, codes, &packed)
        reference.pack(count: count, bits: bits, codes, &expected)
        #expect(packed[0..<bytes] == expected[0..<bytes], "pack bits=\(bits) count=\(count) on \(name)")
        kernel.unpack(count: count, bits: bits, packed, &unpacked)
        #expect(Array(unpacked[0..<count]) == codes, "unpack round trip bits=\(bits) count=\(count) on \(name)")
      }
    }
  }


  /// int8Dot and uint8SquaredL2 at every awkward length equal the reference exactly (extremes −128
  /// and 127 included), and two hand-computed sums over 1 000 elements: (−128)²·1000 and 255²·1000.
  public static func codeDistancesAreExact(_ kernel: any Backend) throws {
    let name = kernel.name
    for count in awkwardLengths {
      var generator = SeededGenerator(seed: UInt64(count) &+ 55)
      var a = (0..<count).map { _ in Int8.random(in: .min ... .max, using: &generator) }
      var b = (0..<count).map { _ in Int8.random(in: .min ... .max, using: &generator) }
      if count > 2 { a[0] = -128; b[0] = -128; a[1] = 127; b[1] = -128 }  // extremes
      #expect(kernel.int8Dot(count: count, a, b) == reference.int8Dot(count: count, a, b), "int8Dot n=\(count) on \(name)")
      let ua = a.map { UInt8(bitPattern: $0) }, ub = b.map { UInt8(bitPattern: $0) }
      #expect(kernel.uint8SquaredL2(count: count, ua, ub) == reference.uint8SquaredL2(count: count, ua, ub),
              "uint8SquaredL2 n=\(count) on \(name)")
    }
    // Hand-computed: (−128)·(−128)·1000 = 16 384 000; (255 − 0)²·1000 = 65 025 000.
    let n = 1000
    #expect(kernel.int8Dot(count: n, [Int8](repeating: -128, count: n), [Int8](repeating: -128, count: n)) == 16_384_000)
    #expect(kernel.uint8SquaredL2(count: n, [UInt8](repeating: 255, count: n), [UInt8](repeating: 0, count: n)) == 65_025_000)
  }
}

extension BackendConformance {
  /// quantize at 4 bits with s = 1 on hand-computed cases: ties round half to even (0.5 → 0,
  /// 1.5 → 2, 2.5 → 2, 3.5 → 4, 7.5 → 8), −0.4 clamps to 0 and 20 to 15, in the float-minimum
  /// form (m = 0) and the zero-point form with a negative zero-point (z = −3).
  public static func roundingIsHalfToEvenOnHandComputedCases(_ kernel: any Backend) throws {
    // s = 1, m = 0: (x − m)/s = x exactly. Ties 0.5 → 0, 1.5 → 2, 2.5 → 2; −0.4 clamps to 0;
    // 20 clamps to 15 (4 bits).
    let x: [Float] = [0.5, 1.5, 2.5, 3.5, -0.4, 20, 7.49, 7.5]
    let name = kernel.name
    do {
      var codes = [UInt8](repeating: 0, count: x.count)
      kernel.quantize(count: x.count, groupSize: 8, x, scales: [1], offsets: [0], form: .floatMinimum, maxCode: 15, &codes)
      #expect(codes == [0, 2, 2, 4, 0, 15, 7, 8], "half-to-even on \(name)")
      // Zero-point form with z = −3 (negative): q = round(x) − 3 then clamp.
      kernel.quantize(count: x.count, groupSize: 8, x, scales: [1], offsets: [-3], form: .zeroPoint, maxCode: 15, &codes)
      #expect(codes == [0, 0, 0, 1, 0, 15, 4, 5], "negative zero-point on \(name)")
    }
  }


  /// pack writes the documented little-endian bit stream (LSB first), against hand-computed
  /// bytes: 4-bit codes 1, 2, 3 → 0x21 0x03; 3-bit codes 1…7, 0 → code i at bits 3i…3i+2 of a
  /// 24-bit word; 2-bit codes 3, 0, 1, 2, 3 → 0b10_01_00_11 0b11.
  public static func packingOrderIsTheDocumentedLittleEndianBitStream(_ kernel: any Backend) throws {
    let name = kernel.name
    do {
      var packed = [UInt8](repeating: 0, count: 3)
      kernel.pack(count: 3, bits: 4, [0x1, 0x2, 0x3], &packed)
      #expect(packed[0..<2] == [0x21, 0x03], "4-bit on \(name)")
      // 3-bit codes 1…7,0: stream bits 001 010 011 100 101 110 111 000 (LSB first)
      // = bytes 0b10_011_001 (0x99), 0b1_101_100_0 → computed below as 0xC5? See literal.
      kernel.pack(count: 8, bits: 3, [1, 2, 3, 4, 5, 6, 7, 0], &packed)
      // code i at bits 3i…3i+2 of the 24-bit little-endian word 0b000_111_110_101_100_011_010_001.
      let word: UInt32 = 1 | 2 << 3 | 3 << 6 | 4 << 9 | 5 << 12 | 6 << 15 | 7 << 18
      #expect(packed == [UInt8(word & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word >> 16)], "3-bit on \(name)")
      kernel.pack(count: 5, bits: 2, [3, 0, 1, 2, 3], &packed)
      #expect(packed[0..<2] == [0b10_01_00_11, 0b11], "2-bit on \(name)")
    }
  }

}
