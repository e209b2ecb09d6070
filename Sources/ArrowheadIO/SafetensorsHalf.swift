import ArrowheadCore

// Bit-exact conversions between Float32 and the 16-bit float formats of safetensors files,
// written with integer operations so that they behave the same on every platform (Swift's
// `Float16` is missing on some, and its conversion may or may not use F16C).

/// Conversions between Float32 and IEEE binary16 / bfloat16 bit patterns.
///
/// - binary16 → Float32 and bfloat16 → Float32 are exact (every value is representable).
/// - Float32 → binary16 / bfloat16 round to nearest, ties to even; overflow gives ±∞;
///   NaN stays NaN (quiet, sign kept). Float32 → binary16 produces subnormals where needed.
public enum HalfConversion {
  /// The Float32 value of an IEEE binary16 bit pattern (exact).
  @inline(__always)
  public static func float(fromHalf bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits) & 0x3FF
    if exponent == 0x1F {  // Inf / NaN
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13) | (mantissa != 0 ? 0x0040_0000 : 0))
    }
    if exponent == 0 {
      // Zero or subnormal: mantissa · 2⁻²⁴, exact in Float32.
      let magnitude = Float(mantissa) * 0x1p-24
      return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
  }

  /// The IEEE binary16 bit pattern nearest to `value` (ties to even).
  @inline(__always)
  public static func half(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude >= 0x7F80_0000 {  // Inf or NaN
      if magnitude == 0x7F80_0000 { return sign | 0x7C00 }
      return sign | 0x7E00 | UInt16((magnitude >> 13) & 0x3FF)
    }
    if magnitude >= 0x4780_0000 {  // ≥ 65536: beyond the rounding range of the largest half
      return sign | 0x7C00
    }
    if magnitude < 0x3880_0000 {  // < 2⁻¹⁴: subnormal half or zero
      // value · 2²⁴ rounded to an integer (ties to even) is the subnormal mantissa.
      let scaled = Float(bitPattern: magnitude) * 0x1p24
      let rounded = scaled.rounded(.toNearestOrEven)
      return sign | UInt16(rounded)  // 1024 rounds up into the smallest normal: still correct
    }
    // Normal: rebias the exponent and round the 13 dropped bits to nearest even.
    let rebased = magnitude - (112 << 23)
    let dropped = rebased & 0x1FFF
    var result = rebased >> 13
    if dropped > 0x1000 || (dropped == 0x1000 && (result & 1) == 1) { result += 1 }
    return sign | UInt16(result)  // a carry into the exponent is the correct next binade (or ∞)
  }

  /// The Float32 value of a bfloat16 bit pattern (exact).
  @inline(__always)
  public static func float(fromBFloat16 bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// The bfloat16 bit pattern nearest to `value` (ties to even; NaN stays a quiet NaN).
  @inline(__always)
  public static func bfloat16(from value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let roundingBias = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ roundingBias) >> 16)
  }

  /// Converts `count` little-endian elements of `dtype` at `source` (any alignment) to Float32.
  /// `dtype` must be convertible (`isConvertibleToFloat`); others write nothing and return false.
  public static func convertToFloat(
    _ dtype: SafetensorsDType, count: Int, from source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>
  ) -> Bool {
    switch dtype {
    case .f32:
      UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
    case .f16:
      for i in 0..<count {
        destination[i] = float(fromHalf: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
      }
    case .bf16:
      for i in 0..<count {
        destination[i] = float(fromBFloat16: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
      }
    case .f64:
      for i in 0..<count {
        destination[i] = Float(Double(bitPattern: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian))
      }
    default:
      return false
    }
    return true
  }

  /// Encodes Float32 values as little-endian bytes of `dtype` (`F32`, `F16`, `BF16` or `F64`).
  /// Returns nil for another dtype.
  public static func encode(_ values: UnsafeBufferPointer<Float>, as dtype: SafetensorsDType) -> [UInt8]? {
    let count = values.count
    switch dtype {
    case .f32:
      return Array(UnsafeRawBufferPointer(values))
    case .f16, .bf16:
      return [UInt8](uninitializedCount: 2 * count) { buffer, initialized in
        let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
        for i in 0..<count {
          let bits = dtype == .f16 ? half(from: values[i]) : bfloat16(from: values[i])
          raw.storeBytes(of: bits.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
        initialized = 2 * count
      }
    case .f64:
      return [UInt8](uninitializedCount: 8 * count) { buffer, initialized in
        let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
        for i in 0..<count {
          raw.storeBytes(of: Double(values[i]).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self)
        }
        initialized = 8 * count
      }
    default:
      return nil
    }
  }
}
