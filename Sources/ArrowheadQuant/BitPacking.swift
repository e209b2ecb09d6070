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

  /// Packs `count` codes (each < 2^bits) into ⌈count·bits/8⌉ bytes at `packed`.
  ///
  /// WORKAROUND (kernel wish, see the module README): for 1…4 bits this runs a local
  /// word-parallel packer instead of the backend's `pack` kernel, because the kernel packs
  /// ~0.7 G codes/s on this machine, which alone would cap INT4 quantize+pack below the
  /// 4 GB/s goal. The local packer produces the same bytes as every backend's kernel (a
  /// test checks it against each runnable backend at awkward lengths); the tail that
  /// does not fill a whole 64-code block is handed to the kernel.
  public static func pack(
    count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>, backend: any Backend
  ) {
    guard count > 0 else { return }
    var done = 0
    if bits <= 4 {
      done = packWordParallel(count: count, bits: bits, codes, packed)
    }
    if done < count {
      backend.pack(count: count - done, bits: bits, codes + done, packed + done * bits / 8)
    }
  }

  /// Unpacks `count` codes of `bits` bits from `packed` with the backend kernel.
  @inline(__always)
  public static func unpack(
    count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>, backend: any Backend
  ) {
    guard count > 0 else { return }
    backend.unpack(count: count, bits: bits, packed, codes)
  }

  /// Packs 32 codes at a time while a further 32 follow, and returns how many codes it
  /// packed (a multiple of 32, so the rest starts on a byte boundary).
  ///
  /// Eight codes (one per byte of a 64-bit word w, each < 2^b, b ≤ 4) become b bytes in
  /// three shift-or-mask steps that halve the number of fields each time:
  ///   w = (w | w >> (8 − b))   & (2^(2b) − 1) in every 16-bit lane   (pairs)
  ///   w = (w | w >> (16 − 2b)) & (2^(4b) − 1) in every 32-bit lane   (quads)
  ///   w = (w | w >> (32 − 4b)) & (2^(8b) − 1)                        (eight codes)
  /// The result is stored as 4 bytes, of which only the first b are meaningful; the extra
  /// bytes fall on the next block, which is written afterwards — hence the "further 32".
  @inline(__always)
  static func packWordParallel(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) -> Int {
    let shift1 = UInt64(8 - bits), shift2 = UInt64(16 - 2 * bits), shift3 = UInt64(32 - 4 * bits)
    let mask1 = SIMD4<UInt64>(repeating: ((1 << UInt64(2 * bits)) - 1) &* 0x0001_0001_0001_0001)
    let mask2 = SIMD4<UInt64>(repeating: ((1 << UInt64(4 * bits)) - 1) &* 0x0000_0001_0000_0001)
    let mask3 = SIMD4<UInt64>(repeating: (1 << UInt64(8 * bits)) - 1)
    let source = UnsafeRawPointer(codes)
    let destination = UnsafeMutableRawPointer(packed)
    var index = 0
    var output = 0
    while index + 64 <= count {
      var words = source.loadUnaligned(fromByteOffset: index, as: SIMD4<UInt64>.self)
      words = (words | (words &>> shift1)) & mask1
      words = (words | (words &>> shift2)) & mask2
      words = (words | (words &>> shift3)) & mask3
      destination.storeBytes(of: UInt32(truncatingIfNeeded: words[0]).littleEndian, toByteOffset: output, as: UInt32.self)
      destination.storeBytes(of: UInt32(truncatingIfNeeded: words[1]).littleEndian, toByteOffset: output + bits, as: UInt32.self)
      destination.storeBytes(of: UInt32(truncatingIfNeeded: words[2]).littleEndian, toByteOffset: output + 2 * bits, as: UInt32.self)
      destination.storeBytes(of: UInt32(truncatingIfNeeded: words[3]).littleEndian, toByteOffset: output + 3 * bits, as: UInt32.self)
      index += 32
      output += 4 * bits
    }
    return index
  }
}
