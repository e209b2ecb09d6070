import Arrowhead
import ArrowheadTestSupport
import Testing

@testable import ArrowheadIO

/// `CRC32` (carry-less folding of runs ≥ 64 bytes where the CPU has PCLMULQDQ, tables for the
/// rest) against the tests' bit-by-bit CRC-32 and against its own table-only path.
@Suite struct CRC32Tests {
  /// Deterministic bytes (a 64-bit LCG's high bytes).
  static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    return (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
  }

  @Test func theStandardCheckValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum([UInt8]()) == 0)
  }

  /// Every length to 300 and longer ones (whole 64-byte runs, 16-byte and byte tails), each
  /// starting at every offset 0…15 of its buffer: the bit-by-bit value.
  @Test func everyLengthAndOffsetMatchesTheBitwiseCRC() {
    let data = Self.bytes(70_000, seed: 1)
    for count in Array(0...300) + [511, 512, 513, 1000, 4096, 4111, 65_536 + 37] {
      for offset in 0..<16 where offset + count <= data.count {
        let slice = data[offset..<offset + count]
        let got = slice.withUnsafeBytes { CRC32.checksum($0) }
        #expect(got == testCRC32(slice), "count \(count), offset \(offset)")
      }
    }
  }

  /// Fed in pieces of random sizes (a running register entering the folded runs), the same
  /// value as in one piece and as the table-only path.
  @Test func piecewiseUpdatesAgree() {
    let data = Self.bytes(50_000, seed: 2)
    var generator = SeededGenerator(seed: 3)
    for round in 0..<20 {
      var crc = CRC32(), tables = CRC32()
      var start = 0
      while start < data.count {
        let piece = min(data.count - start, Int(generator.next() % 700))
        data[start..<start + piece].withUnsafeBytes {
          crc.update($0)
          tables.updateWithTables($0)
        }
        start += piece
      }
      #expect(crc.value == tables.value, "round \(round)")
      #expect(crc.value == testCRC32(data), "round \(round)")
    }
  }

  /// On a CPU with carry-less multiplication the folded path runs (64 bytes are enough), so
  /// the tests above compared it; it gives the table path's value on lengths 64…1 100.
  @Test(.enabled(if: CRC32.folds, "this CPU has no PCLMULQDQ: only the tables run"))
  func theFoldedPathEqualsTheTables() {
    let data = Self.bytes(1_100, seed: 4)
    for count in 64...1_100 {
      let (folded, table) = data[0..<count].withUnsafeBytes { raw -> (UInt32, UInt32) in
        var a = CRC32(), b = CRC32()
        a.update(raw)
        b.updateWithTables(raw)
        return (a.value, b.value)
      }
      #expect(folded == table, "count \(count)")
    }
  }
}
