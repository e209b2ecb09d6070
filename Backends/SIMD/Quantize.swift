// Quantization kernels of the SIMD backend: group min/max, affine quantize/dequantize,
// bit packing, and 8-bit code distances. Codes must be bit-identical to the reference:
// the same division (no reciprocal), round half to even, and mul-then-add dequantization.
import ArrowheadCore

/// 1.5·2²³: adding then subtracting it rounds |t| < 2²² to the nearest integer, ties to
/// even (the FPU's default rounding), with no `roundps` (absent from baseline SSE2).
let roundingMagic: Float = 12_582_912
/// 2²³: for 0 ≤ v < 2²³ integral, the low mantissa bits of v + 2²³ are v itself.
let integerMagic: Float = 8_388_608

enum SIMDQuantize {
  // MARK: Group statistics

  static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    // A lane is non-finite when its exponent bits are all ones: (bits & 0x7FFFFFFF) ≥ 0x7F800000.
    let magnitudeMask = VectorF32.MaskStorage(repeating: 0x7FFF_FFFF)
    let infinityBits = VectorF32.MaskStorage(repeating: 0x7F80_0000)
    var nonFinite = SIMDMask<VectorF32.MaskStorage>()
    var scalarNonFinite = false
    var group = 0
    var start = 0
    while start < count {
      let end = min(start + groupSize, count)
      var low = VectorF32(repeating: .infinity), high = VectorF32(repeating: -.infinity)
      var i = start
      while i + lanes <= end {
        let v = loadVector(x + i)
        nonFinite = nonFinite .| ((v.bitPattern & magnitudeMask) .>= infinityBits)
        low.replace(with: v, where: v .< low)
        high.replace(with: v, where: v .> high)
        i += lanes
      }
      var lowScalar = Float.infinity, highScalar = -Float.infinity
      for lane in 0..<lanes {
        lowScalar = min(lowScalar, low[lane])
        highScalar = max(highScalar, high[lane])
      }
      while i < end {
        let value = x[i]
        if !value.isFinite { scalarNonFinite = true }
        lowScalar = min(lowScalar, value)
        highScalar = max(highScalar, value)
        i += 1
      }
      minimums[group] = lowScalar
      maximums[group] = highScalar
      group += 1
      start = end
    }
    return !(scalarNonFinite || any(nonFinite))
  }

  // MARK: Quantize / dequantize

  static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    let top = Float(maxCode)
    var group = 0
    var start = 0
    while start < count {
      let end = min(start + groupSize, count)
      let s = scales[group], offset = offsets[group]
      if s == 0 {
        let code: Float = form == .floatMinimum ? 0 : min(max(offset, 0), top)
        (codes + start).update(repeating: UInt8(code), count: end - start)
      } else if form == .floatMinimum {
        quantizeMinimum(start, end, x, s, offset, top, codes)
      } else {
        quantizeZeroPoint(start, end, x, s, offset, top, codes)
      }
      group += 1
      start = end
    }
  }

  /// q = clamp(round((x − m)/s), 0, top). Clamping first is exact: the bounds are integers.
  @inline(__always)
  static func quantizeMinimum(
    _ start: Int, _ end: Int, _ x: UnsafePointer<Float>, _ s: Float, _ m: Float, _ top: Float,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    let scale = VectorF32(repeating: s), minimum = VectorF32(repeating: m)
    let zero = VectorF32(), topVector = VectorF32(repeating: top)
    let magic = VectorF32(repeating: roundingMagic), toInteger = VectorF32(repeating: integerMagic)
    var i = start
    while i + lanes <= end {
      var t = (loadVector(x + i) - minimum) / scale
      t.replace(with: zero, where: .!(t .>= zero))
      t.replace(with: topVector, where: t .> topVector)
      t = (t + magic) - magic
      storeCodes((t + toInteger).bitPattern, codes + i)
      i += lanes
    }
    while i < end {
      let t = ((x[i] - m) / s).rounded(.toNearestOrEven)
      codes[i] = UInt8(min(max(t, 0), top))
      i += 1
    }
  }

  /// q = clamp(round(x/s) + z, 0, top); t is pre-clamped to [−z−1, top−z+1] (integers, so
  /// the final codes are unchanged) to keep |t| < 2²² for the rounding trick.
  @inline(__always)
  static func quantizeZeroPoint(
    _ start: Int, _ end: Int, _ x: UnsafePointer<Float>, _ s: Float, _ z: Float, _ top: Float,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    let scale = VectorF32(repeating: s), zeroPoint = VectorF32(repeating: z)
    let lowT = VectorF32(repeating: -z - 1), highT = VectorF32(repeating: top - z + 1)
    let zero = VectorF32(), topVector = VectorF32(repeating: top)
    let magic = VectorF32(repeating: roundingMagic), toInteger = VectorF32(repeating: integerMagic)
    var i = start
    while i + lanes <= end {
      var t = loadVector(x + i) / scale
      t.replace(with: lowT, where: .!(t .>= lowT))
      t.replace(with: highT, where: t .> highT)
      var q = ((t + magic) - magic) + zeroPoint
      q.replace(with: zero, where: q .< zero)
      q.replace(with: topVector, where: q .> topVector)
      storeCodes((q + toInteger).bitPattern, codes + i)
      i += lanes
    }
    while i < end {
      let q = (x[i] / s).rounded(.toNearestOrEven) + z
      codes[i] = UInt8(min(max(q, 0), top))
      i += 1
    }
  }

  /// Stores the low byte of each lane.
  @inline(__always)
  static func storeCodes(_ bits: VectorF32.MaskStorage, _ codes: UnsafeMutablePointer<UInt8>) {
    for lane in 0..<lanes { codes[lane] = UInt8(truncatingIfNeeded: bits[lane]) }
  }

  static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    let toFloatBits = VectorF32.MaskStorage(repeating: 0x4B00_0000)  // bits of 2²³
    let toInteger = VectorF32(repeating: integerMagic)
    var group = 0
    var start = 0
    while start < count {
      let end = min(start + groupSize, count)
      let s = scales[group], offset = offsets[group]
      let scale = VectorF32(repeating: s), offsetVector = VectorF32(repeating: offset)
      var i = start
      while i + lanes <= end {
        var bits = VectorF32.MaskStorage()
        for lane in 0..<lanes { bits[lane] = Int32(codes[i + lane]) }
        let q = VectorF32(bitPattern: bits | toFloatBits) - toInteger  // exact: q < 2²³
        let value = form == .floatMinimum ? q * scale + offsetVector : (q - offsetVector) * scale
        storeVector(value, x + i)
        i += lanes
      }
      while i < end {
        let q = Float(codes[i])
        x[i] = form == .floatMinimum ? q * s + offset : (q - offset) * s
        i += 1
      }
      group += 1
      start = end
    }
  }

  // MARK: Packing

  /// Eight codes of `bits` bits fill exactly `bits` bytes, so the stream is built eight
  /// codes at a time in a 64-bit word (little-endian), whatever the width.
  static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    if bits == 8 {
      packed.update(from: codes, count: count)
      return
    }
    var i = 0
    var out = packed
    while i + 8 <= count {
      var word: UInt64 = 0
      for k in 0..<8 { word |= UInt64(codes[i + k]) << UInt64(k * bits) }
      for byte in 0..<bits { out[byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte)) }
      out += bits
      i += 8
    }
    if i < count {
      var word: UInt64 = 0
      for k in 0..<(count - i) { word |= UInt64(codes[i + k]) << UInt64(k * bits) }
      let bytes = ((count - i) * bits + 7) / 8
      for byte in 0..<bytes { out[byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte)) }
    }
  }

  static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    if bits == 8 {
      codes.update(from: packed, count: count)
      return
    }
    let mask = UInt64((1 << bits) - 1)
    var i = 0
    var input = packed
    while i + 8 <= count {
      var word: UInt64 = 0
      for byte in 0..<bits { word |= UInt64(input[byte]) << UInt64(8 * byte) }
      for k in 0..<8 { codes[i + k] = UInt8(truncatingIfNeeded: (word >> UInt64(k * bits)) & mask) }
      input += bits
      i += 8
    }
    if i < count {
      let bytes = ((count - i) * bits + 7) / 8
      var word: UInt64 = 0
      for byte in 0..<bytes { word |= UInt64(input[byte]) << UInt64(8 * byte) }
      for k in 0..<(count - i) { codes[i + k] = UInt8(truncatingIfNeeded: (word >> UInt64(k * bits)) & mask) }
    }
  }

  // MARK: 8-bit code distances

  /// Plain loops: LLVM vectorises them with this module's ISA (pmaddwd / vpmaddwd), and
  /// no generic SIMD conversion is instantiated (see SIMDKernelSet.swift on shared symbols).
  static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    var total: Int32 = 0
    for i in 0..<count { total &+= Int32(a[i]) &* Int32(b[i]) }
    return total
  }

  static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    var total: Int32 = 0
    for i in 0..<count {
      let difference = Int32(a[i]) &- Int32(b[i])
      total &+= difference &* difference
    }
    return total
  }
}
