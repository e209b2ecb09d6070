import ArrowheadCore

/// Packing of b-bit codes into the little-endian bit stream of the backend `pack` kernel:
/// code i occupies stream bits i·b … i·b + b − 1, stream bit j is bit (j mod 8) of byte ⌊j/8⌋,
/// and trailing bits of the last byte are zero.
///
/// Example, 4 bits: codes [1, 2, 3] → bytes [0x21, 0x03]; 2 bits: [1, 2, 3, 0, 3] →
/// [0b00_11_10_01, 0b0000_0011] = [0x39, 0x03]; 3 bits: [7, 1, 2] → stream
/// 111 100 010 → bytes [0b10_001_111, 0b0] = [0x8F, 0x00].
public enum BitPacking {
  /// Bytes needed for `count` codes of `bits` bits: ⌈count·bits/8⌉.
  @inline(__always)
  public static func byteCount(codes count: Int, bits: Int) -> Int { (count * bits + 7) / 8 }

  /// Packs `count` codes (each < 2^bits) into ⌈count·bits/8⌉ bytes at `packed` with the
  /// `pack` kernel `engine` dispatches for that size (unchecked: the caller owns the sizes;
  /// `Engine.pack(_:bits:into:)` is the checked form).
  @inline(__always)
  public static func pack(
    count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>, engine: Engine
  ) {
    guard count > 0 else { return }
    engine.backend(for: .pack, .vector(count: count)).pack(count: count, bits: bits, codes, packed)
  }

  /// Unpacks `count` codes of `bits` bits from `packed` with the `unpack` kernel `engine`
  /// dispatches for that size (unchecked; `Engine.unpack(_:bits:into:)` is the checked form).
  @inline(__always)
  public static func unpack(
    count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>, engine: Engine
  ) {
    guard count > 0 else { return }
    engine.backend(for: .unpack, .vector(count: count)).unpack(count: count, bits: bits, packed, codes)
  }
}
