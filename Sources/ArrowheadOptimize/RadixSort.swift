/// Least-significant-digit radix sort of Float32 values (four passes of 8 bits), ascending
/// in the IEEE total order for finite values (−0 sorts before +0).
///
/// Keys: the bit pattern with the sign bit flipped for non-negative values and every bit
/// flipped for negative ones, which orders unsigned keys as the floats. O(n) with n words of
/// scratch; several times faster than a comparison sort on the 10⁵–10⁶ samples of a time
/// group. 8-bit digits keep the 256 scatter streams of a pass within the L1 cache.
enum RadixSort {
  /// Sorts `count` values from `source` into `destination` (`scratch` holds `count` words).
  static func sort(
    _ source: UnsafePointer<Float>, count n: Int, into destination: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<UInt32>
  ) {
    guard n > 0 else { return }
    let keys = UnsafeMutableRawPointer(destination).bindMemory(to: UInt32.self, capacity: n)
    var counts = [Int](repeating: 0, count: 4 * 256)
    counts.withUnsafeMutableBufferPointer { c in
      for i in 0..<n {
        let bits = source[i].bitPattern
        let key = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        keys[i] = key
        c[Int(key & 0xFF)] += 1
        c[256 + Int((key >> 8) & 0xFF)] += 1
        c[512 + Int((key >> 16) & 0xFF)] += 1
        c[768 + Int(key >> 24)] += 1
      }
      var from = keys, to = scratch
      for pass in 0..<4 {
        var running = 0
        for digit in 0..<256 {
          let count = c[pass * 256 + digit]
          c[pass * 256 + digit] = running
          running += count
        }
        let shift = UInt32(8 * pass), base = pass * 256
        for i in 0..<n {
          let key = from[i]
          let slot = base + Int((key >> shift) & 0xFF)
          to[c[slot]] = key
          c[slot] += 1
        }
        swap(&from, &to)
      }
      // Four passes: the keys are back in `destination`; turn them into floats in place.
      for i in 0..<n {
        let key = keys[i]
        keys[i] = key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key
      }
    }
    _ = UnsafeMutableRawPointer(keys).bindMemory(to: Float.self, capacity: n)
  }
}
