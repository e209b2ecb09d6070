import CArrowheadCPU

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and final XOR
/// 0xFFFFFFFF: the checksum of zlib, PNG and gzip). Runs of 64 bytes or more are folded with
/// carry-less multiplication where the CPU has it (PCLMULQDQ: every x86-64 CPU these machines
/// come as; `arrowhead_crc32.h`), about 13.5 GB/s on Zen 4; the rest by slicing-by-8 (eight
/// 256-entry tables, eight bytes per step; ~1–2 GB/s).
///
/// `CRC32.checksum("123456789".utf8)` is 0xCBF43926, the standard check value.
public struct CRC32: Sendable {
  /// The running value (before the final XOR).
  private var state: UInt32 = 0xFFFF_FFFF

  /// A fresh checksum.
  public init() {}

  /// The checksum of everything fed so far.
  public var value: UInt32 { state ^ 0xFFFF_FFFF }

  /// Whether `update` folds long runs with carry-less multiplication on this CPU.
  static let folds = arrowhead_crc32_fold_available() != 0

  /// Feeds bytes.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
    var remaining = bytes.count
    if remaining >= 64, Self.folds {
      // The register after the folded bytes is the table CRC of the folded block from 0.
      var block: (UInt64, UInt64) = (0, 0)
      let consumed = withUnsafeMutableBytes(of: &block) {
        arrowhead_crc32_fold(state, pointer, remaining, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
      if consumed > 0 {
        state = withUnsafeBytes(of: &block) { Self.tableUpdate(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 16) }
        pointer += consumed
        remaining -= consumed
      }
    }
    state = Self.tableUpdate(state, pointer, remaining)
  }

  /// Feeds bytes through the tables only (the path of CPUs without carry-less multiplication;
  /// the tests compare both).
  mutating func updateWithTables(_ bytes: UnsafeRawBufferPointer) {
    guard let pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
    state = Self.tableUpdate(state, pointer, bytes.count)
  }

  /// The register after `count` bytes at `pointer`, from register `crc`, by slicing-by-8.
  static func tableUpdate(_ crc: UInt32, _ pointer: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    var pointer = pointer
    var remaining = count
    var crc = crc
    let t = CRC32Tables.shared.table
    while remaining >= 8 {
      let low = UnsafeRawPointer(pointer).loadUnaligned(as: UInt32.self).littleEndian ^ crc
      let high = UnsafeRawPointer(pointer + 4).loadUnaligned(as: UInt32.self).littleEndian
      crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
        ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
        ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
        ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
      pointer += 8
      remaining -= 8
    }
    while remaining > 0 {
      crc = t[Int((crc ^ UInt32(pointer.pointee)) & 0xFF)] ^ (crc >> 8)
      pointer += 1
      remaining -= 1
    }
    return crc
  }

  /// The checksum of `bytes`.
  public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }

  /// The checksum of a byte sequence.
  public static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
    Array(bytes).withUnsafeBytes { checksum($0) }
  }
}

/// The slicing-by-8 tables, built once (an immutable global: concurrency-safe).
private final class CRC32Tables: @unchecked Sendable {
  static let shared = CRC32Tables()
  let table: UnsafePointer<UInt32>

  private init() {
    let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 8 * 256)
    for i in 0..<256 {
      var crc = UInt32(i)
      for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
      table[i] = crc
    }
    for slice in 1..<8 {
      for i in 0..<256 {
        let previous = table[(slice - 1) * 256 + i]
        table[slice * 256 + i] = (previous >> 8) ^ table[Int(previous & 0xFF)]
      }
    }
    self.table = UnsafePointer(table)
  }
}

/// Checksums of safetensors content, as recorded by writers that keep them (the Arrowhead
/// quantized format, version 2).
///
/// A tensor's checksum covers what a reader would take from it: CRC-32 of its name, a zero
/// byte, its dtype, a zero byte, its shape as decimal numbers joined by `,`, a zero byte,
/// then its data bytes. A renamed, re-typed or reshaped tensor therefore fails as surely as
/// a flipped data byte. A metadata checksum covers the `__metadata__` entries (sorted by
/// key, each `key \0 value \0`) except the one holding the checksums themselves.
public enum SafetensorsChecksum {
  /// The checksum of a tensor's description and bytes.
  public static func tensor(name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc = CRC32()
    var prefix = Array(name.utf8) + [0] + Array(dtype.rawValue.utf8) + [0]
    prefix += Array(shape.map(String.init).joined(separator: ",").utf8) + [0]
    prefix.withUnsafeBytes { crc.update($0) }
    crc.update(bytes)
    return crc.value
  }

  /// The checksum of `metadata` without the entry `excluding`.
  public static func metadata(_ metadata: [String: String], excluding: String) -> UInt32 {
    var crc = CRC32()
    for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != excluding {
      (Array(key.utf8) + [0] + Array(value.utf8) + [0]).withUnsafeBytes { crc.update($0) }
    }
    return crc.value
  }

  /// `value` as eight lowercase hexadecimal digits.
  public static func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }
}
