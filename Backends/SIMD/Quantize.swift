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
      var lowScalar = laneMinimum(low), highScalar = laneMaximum(high)
      if lowScalar == 0 || highScalar == 0 {
        // −0 and +0 compare equal: the chain keeps the first least and the last greatest
        // lane, whose sign the tree may not. No lane is NaN, so any other value is exact.
        lowScalar = .infinity
        highScalar = -.infinity
        for lane in 0..<lanes {
          lowScalar = min(lowScalar, low[lane])
          highScalar = max(highScalar, high[lane])
        }
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

  /// The least lane of `v` (no lane NaN) in log₂ lanes steps of pairwise minima. A chain of
  /// `lanes` dependent compares took most of a 64-value group's time, and twice as long on
  /// 16 lanes as on 8: the AVX-512 `groupMinMax` ran 1.25–1.4× slower than the AVX2 one
  /// (ArrowheadOptimize's README, §9).
  @inline(__always)
  static func laneMinimum(_ v: VectorF32) -> Float {
    var t = v
    var width = lanes
    while width > 1 {
      width /= 2
      for k in 0..<width { t[k] = t[k + width] < t[k] ? t[k + width] : t[k] }
    }
    return t[0]
  }

  /// The greatest lane of `v` (no lane NaN), as `laneMinimum`.
  @inline(__always)
  static func laneMaximum(_ v: VectorF32) -> Float {
    var t = v
    var width = lanes
    while width > 1 {
      width /= 2
      for k in 0..<width { t[k] = t[k + width] > t[k] ? t[k + width] : t[k] }
    }
    return t[0]
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
      codes[i] = t >= 0 ? UInt8(min(t, top)) : 0  // NaN → 0, as the vector path
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
      codes[i] = q >= 0 ? UInt8(min(q, top)) : 0  // NaN → 0, as the vector path
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

  /// Eight codes of b bits fill exactly b bytes. Loaded as one 64-bit word (one code per
  /// byte), they are squeezed in three steps that halve the number of fields, each field
  /// masked before it moves so that nothing spills into a neighbouring lane (any b ≤ 8):
  ///   16-bit lanes: low b bits | (high byte's b bits) moved down by 8 − b      (pairs)
  ///   32-bit lanes: low 2b bits | (upper pair) moved down by 16 − 2b          (quads)
  ///   whole word:   low 4b bits | (upper quad) moved down by 32 − 4b          (eight codes)
  /// which is exactly the little-endian bit stream. The word is stored whole while 8 bytes
  /// fit before the end (its extra bytes are overwritten by the next word), else byte-wise.
  static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    if bits == 8 {
      packed.update(from: codes, count: count)
      return
    }
    let m = packMasks(bits: bits)
    let totalBytes = (count * bits + 7) / 8
    let source = UnsafeRawPointer(codes)
    let destination = UnsafeMutableRawPointer(packed)
    var i = 0, output = 0
    if bits == 4 {
      i = packNibbles(count, source, packed)
      output = i / 2
    }
    // Four words (32 codes) at a time in one 256-bit register where the ISA has one.
    typealias Words = SIMD4<UInt64>
    let low1 = Words(repeating: m.low1), high1 = Words(repeating: m.high1)
    let low2 = Words(repeating: m.low2), high2 = Words(repeating: m.high2)
    let low3 = Words(repeating: m.low3), high3 = Words(repeating: m.high3)
    while i + 32 <= count && output + 3 * bits + 8 <= totalBytes {
      var words = source.loadUnaligned(fromByteOffset: i, as: Words.self)
      words = (words & low1) | ((words &>> Words(repeating: m.shift1)) & high1)
      words = (words & low2) | ((words &>> Words(repeating: m.shift2)) & high2)
      words = (words & low3) | ((words &>> Words(repeating: m.shift3)) & high3)
      destination.storeBytes(of: words[0].littleEndian, toByteOffset: output, as: UInt64.self)
      destination.storeBytes(of: words[1].littleEndian, toByteOffset: output + bits, as: UInt64.self)
      destination.storeBytes(of: words[2].littleEndian, toByteOffset: output + 2 * bits, as: UInt64.self)
      destination.storeBytes(of: words[3].littleEndian, toByteOffset: output + 3 * bits, as: UInt64.self)
      output += 4 * bits
      i += 32
    }
    while i + 8 <= count {
      var word = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i, as: UInt64.self))
      word = (word & m.low1) | ((word >> m.shift1) & m.high1)
      word = (word & m.low2) | ((word >> m.shift2) & m.high2)
      word = (word & m.low3) | ((word >> m.shift3) & m.high3)
      if output + 8 <= totalBytes {
        destination.storeBytes(of: word.littleEndian, toByteOffset: output, as: UInt64.self)
      } else {
        for byte in 0..<bits { packed[output + byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte)) }
      }
      output += bits
      i += 8
    }
    if i < count {
      var word: UInt64 = 0
      for k in 0..<(count - i) { word |= UInt64(codes[i + k]) << UInt64(k * bits) }
      for byte in 0..<(totalBytes - output) { packed[output + byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte)) }
    }
  }

  /// The inverse of `pack`: b bytes → a 64-bit word → the three steps backwards (each upper
  /// field masked, then moved up) → eight code bytes, stored as one word.
  static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    if bits == 8 {
      codes.update(from: packed, count: count)
      return
    }
    let m = packMasks(bits: bits)
    let totalBytes = (count * bits + 7) / 8
    let source = UnsafeRawPointer(packed)
    let destination = UnsafeMutableRawPointer(codes)
    var i = 0, input = 0
    if bits == 4 {
      i = unpackNibbles(count, packed, destination)
      input = i / 2
    }
    typealias Words = SIMD4<UInt64>
    let low1 = Words(repeating: m.low1), high1 = Words(repeating: m.high1 << m.shift1)
    let low2 = Words(repeating: m.low2), high2 = Words(repeating: m.high2 << m.shift2)
    let low3 = Words(repeating: m.low3), high3 = Words(repeating: m.high3 << m.shift3)
    while i + 32 <= count && input + 3 * bits + 8 <= totalBytes {
      var words = Words(
        source.loadUnaligned(fromByteOffset: input, as: UInt64.self),
        source.loadUnaligned(fromByteOffset: input + bits, as: UInt64.self),
        source.loadUnaligned(fromByteOffset: input + 2 * bits, as: UInt64.self),
        source.loadUnaligned(fromByteOffset: input + 3 * bits, as: UInt64.self))
      words = (words & low3) | ((words &<< Words(repeating: m.shift3)) & high3)
      words = (words & low2) | ((words &<< Words(repeating: m.shift2)) & high2)
      words = (words & low1) | ((words &<< Words(repeating: m.shift1)) & high1)
      destination.storeBytes(of: words, toByteOffset: i, as: Words.self)
      input += 4 * bits
      i += 32
    }
    while i + 8 <= count {
      var word: UInt64
      if input + 8 <= totalBytes {
        word = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: input, as: UInt64.self))
      } else {
        word = 0
        for byte in 0..<bits { word |= UInt64(packed[input + byte]) << UInt64(8 * byte) }
      }
      word = (word & m.low3) | ((word << m.shift3) & (m.high3 << m.shift3))
      word = (word & m.low2) | ((word << m.shift2) & (m.high2 << m.shift2))
      word = (word & m.low1) | ((word << m.shift1) & (m.high1 << m.shift1))
      destination.storeBytes(of: word.littleEndian, toByteOffset: i, as: UInt64.self)
      input += bits
      i += 8
    }
    if i < count {
      var word: UInt64 = 0
      for byte in 0..<(totalBytes - input) { word |= UInt64(packed[input + byte]) << UInt64(8 * byte) }
      let mask = UInt64((1 << bits) - 1)
      for k in 0..<(count - i) { codes[i + k] = UInt8(truncatingIfNeeded: (word >> UInt64(k * bits)) & mask) }
    }
  }

  /// 4-bit codes, the most common width, in whole blocks of 64 (returns the codes done):
  /// each pair of code bytes read as a little-endian UInt16 w = c₀ | c₁·2⁸ gives the byte
  /// c₀ | c₁·2⁴ = (w & 0x0F) | ((w >> 4) & 0xF0). A plain loop, which LLVM vectorises with
  /// this module's ISA (`vpmovwb` on AVX-512, `vpackuswb` below it) where the word steps
  /// above move 8 codes per 64-bit lane.
  @inline(__always)
  static func packNibbles(_ count: Int, _ source: UnsafeRawPointer, _ packed: UnsafeMutablePointer<UInt8>) -> Int {
    @inline(__always)
    func bytes(_ range: Range<Int>) {
      for j in range {
        let w = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self))
        packed[j] = UInt8(truncatingIfNeeded: (w & 0x0F) | ((w &>> 4) & 0xF0))
      }
    }
    return forEachNibbleBlock(count, bytes)
  }

  /// Runs `body` over the packed byte ranges of the whole 64-code blocks of `count` codes, in
  /// fixed-length ranges of four blocks then one (128 and 32 bytes); returns the codes covered.
  /// A single loop over all the bytes ran scalar below its unrolled vector width (256 codes:
  /// 49 ns on AVX-512 against 27 on SSE2); one block per range left large inputs 30 % slower.
  @inline(__always)
  static func forEachNibbleBlock(_ count: Int, _ body: (Range<Int>) -> Void) -> Int {
    let blocks = count / 64
    var base = 0
    while base + 128 <= 32 * blocks {
      body(base..<base + 128)
      base += 128
    }
    while base < 32 * blocks {
      body(base..<base + 32)
      base += 32
    }
    return blocks * 64
  }

  /// The inverse of `packNibbles`: byte b → the UInt16 (b & 0x0F) | ((b << 4) & 0x0F00),
  /// stored little-endian: the two code bytes in order.
  @inline(__always)
  static func unpackNibbles(_ count: Int, _ packed: UnsafePointer<UInt8>, _ destination: UnsafeMutableRawPointer) -> Int {
    @inline(__always)
    func bytes(_ range: Range<Int>) {
      for j in range {
        let b = UInt16(packed[j])
        let pair = (b & 0x0F) | ((b &<< 4) & 0x0F00)
        destination.storeBytes(of: pair.littleEndian, toByteOffset: 2 * j, as: UInt16.self)
      }
    }
    return forEachNibbleBlock(count, bytes)
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

/// The masks and shifts of the three squeeze steps of `pack` for b-bit codes (a tuple, not a
/// struct: see the note on nominal types in Gemm.swift). `lowN` keeps the lower field of each
/// lane, `highN` the place the upper field lands after moving down by `shiftN`.
typealias PackMasks = (
  low1: UInt64, high1: UInt64, shift1: UInt64,
  low2: UInt64, high2: UInt64, shift2: UInt64,
  low3: UInt64, high3: UInt64, shift3: UInt64
)

@inline(__always)
func packMasks(bits: Int) -> PackMasks {
  let b = UInt64(bits)
  let field1: UInt64 = (1 << b) - 1, field2: UInt64 = (1 << (2 * b)) - 1, field4: UInt64 = (1 << (4 * b)) - 1
  let lanes16: UInt64 = 0x0001_0001_0001_0001, lanes32: UInt64 = 0x0000_0001_0000_0001
  return (
    low1: field1 &* lanes16, high1: (field1 << b) &* lanes16, shift1: 8 - b,
    low2: field2 &* lanes32, high2: (field2 << (2 * b)) &* lanes32, shift2: 16 - 2 * b,
    low3: field4, high3: field4 << (4 * b), shift3: 32 - 4 * b
  )
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    SIMDQuantize.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int, _ codes: UnsafeMutablePointer<UInt8>
  ) {
    SIMDQuantize.quantize(
      count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }

  public static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, _ x: UnsafeMutablePointer<Float>
  ) {
    SIMDQuantize.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.pack(count: count, bits: bits, codes, packed)
  }

  public static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    SIMDQuantize.unpack(count: count, bits: bits, packed, codes)
  }

  public static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    SIMDQuantize.int8Dot(count: count, a, b)
  }

  public static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    SIMDQuantize.uint8SquaredL2(count: count, a, b)
  }
}
