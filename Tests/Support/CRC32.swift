/// CRC-32 (IEEE 802.3: reflected, polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF),
/// bit by bit: the tests' own, independent of the library's table-driven one. "123456789"
/// gives 0xCBF43926.
public func testCRC32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
  var crc: UInt32 = 0xFFFF_FFFF
  for byte in bytes {
    crc ^= UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
  }
  return ~crc
}

/// Where the committed golden files are (Tests/Fixtures/golden; see its README).
public let goldenFolder: String = {
  var path = #filePath
  for _ in 0..<2 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
  return path + "/Fixtures/golden"
}()
