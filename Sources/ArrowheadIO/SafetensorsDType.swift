/// The element type of a safetensors tensor, spelled as in the file's header.
///
/// Arrowhead *reads as Float32* the floating types `F32`, `F16`, `BF16` and `F64`; every
/// other type can be listed, copied byte for byte and passed through, but not converted.
public enum SafetensorsDType: String, Sendable, Codable, CaseIterable, Hashable {
  /// IEEE 754 binary64.
  case f64 = "F64"
  /// IEEE 754 binary32.
  case f32 = "F32"
  /// IEEE 754 binary16.
  case f16 = "F16"
  /// bfloat16: the upper 16 bits of a binary32.
  case bf16 = "BF16"
  /// 8-bit floats (E4M3 / E5M2), listed and copied only.
  case f8e4m3 = "F8_E4M3"
  /// 8-bit floats with a 5-bit exponent, listed and copied only.
  case f8e5m2 = "F8_E5M2"
  /// Signed integers.
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
  /// Unsigned integers.
  case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
  /// Booleans, one byte each.
  case bool = "BOOL"

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .f64, .i64, .u64: 8
    case .f32, .i32, .u32: 4
    case .f16, .bf16, .i16, .u16: 2
    case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 1
    }
  }

  /// Whether the type is a floating-point type (of any width).
  public var isFloatingPoint: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: true
    default: false
    }
  }

  /// Whether Arrowhead converts this type to and from Float32 (`F64`, `F32`, `F16`, `BF16`).
  public var isConvertibleToFloat: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16: true
    default: false
    }
  }
}
