import ArrowheadCore

/// The quantization kernels an ISA module provides (see `QuantizationKernels`).
public protocol SIMDQuantizationSet {
  /// Minimum and maximum of each group of `groupSize` values; false if any value is NaN or ±∞
  /// (`QuantizationKernels.groupMinMax`).
  static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>) -> Bool
  /// One code byte per value, rounded half to even and clamped to 0 … `maxCode`
  /// (`QuantizationKernels.quantize`).
  static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int, _ codes: UnsafeMutablePointer<UInt8>)
  /// x̂ = q·s + m or (q − z)·s per group, mul then add (`QuantizationKernels.dequantize`).
  static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>,
    offsets: UnsafePointer<Float>, form: AffineForm, _ x: UnsafeMutablePointer<Float>)
  /// `count` codes of `bits` bits into a little-endian bit stream of ⌈count·bits/8⌉ bytes
  /// (`QuantizationKernels.pack`).
  static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>)
  /// The inverse of `pack` (`QuantizationKernels.unpack`).
  static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>)
  /// Σ a[i]·b[i] over signed 8-bit codes in Int32, exact while count ≤ 2^17
  /// (`QuantizationKernels.int8Dot`).
  static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32
  /// Σ (a[i] − b[i])² over unsigned 8-bit codes in Int32, exact while count ≤ 2^15
  /// (`QuantizationKernels.uint8SquaredL2`).
  static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32
}

extension SIMDBackend {
  public func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    K.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums, maximums: maximums)
  }

  public func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    K.quantize(count: count, groupSize: groupSize, x, scales: scales, offsets: offsets, form: form, maxCode: maxCode, codes)
  }

  public func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    K.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: offsets, form: form, x)
  }

  public func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    K.pack(count: count, bits: bits, codes, packed)
  }

  public func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    K.unpack(count: count, bits: bits, packed, codes)
  }

  public func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 { K.int8Dot(count: count, a, b) }

  public func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    K.uint8SquaredL2(count: count, a, b)
  }
}
