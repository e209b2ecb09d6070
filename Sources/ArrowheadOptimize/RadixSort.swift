/// Least-significant-digit radix sort of Float32 values (three passes of 11 bits), ascending
/// in the IEEE total order for finite values (−0 sorts before +0).
///
/// Keys: the bit pattern with the sign bit flipped for non-negative values and every bit
/// flipped for negative ones, which orders unsigned keys as the floats. O(n) with n words of
/// scratch; several times faster than a comparison sort on the 10⁵–10⁶ samples of a time
/// group. Three passes of 11 bits (2048 buckets) measured faster here than four of 8; the
/// last pass writes the floats back directly.
enum RadixSort {
  /// Sorts `count` values from `source` into `destination` (`scratch` holds `count` words).
  static func sort(
    _ source: UnsafePointer<Float>, count n: Int, into destination: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<UInt32>
  ) {
    guard n > 0 else { return }
    let keys = UnsafeMutableRawPointer(destination).bindMemory(to: UInt32.self, capacity: n)
    var counts = [Int32](repeating: 0, count: 3 * 2048)
    counts.withUnsafeMutableBufferPointer { c in
      for i in 0..<n {
        let bits = source[i].bitPattern
        let key = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        scratch[i] = key
        c[Int(key & 0x7FF)] &+= 1
        c[2048 + Int((key >> 11) & 0x7FF)] &+= 1
        c[4096 + Int(key >> 22)] &+= 1
      }
      // Three passes (scratch → keys → scratch → keys); the last writes floats directly.
      var from = UnsafeMutablePointer(scratch), to = keys
      for pass in 0..<3 {
        var running: Int32 = 0
        for digit in 0..<2048 {
          let count = c[pass * 2048 + digit]
          c[pass * 2048 + digit] = running
          running &+= count
        }
        let shift = UInt32(11 * pass), base = pass * 2048
        if pass < 2 {
          for i in 0..<n {
            let key = from[i]
            let slot = base + Int((key >> shift) & 0x7FF)
            to[Int(c[slot])] = key
            c[slot] &+= 1
          }
          swap(&from, &to)
        } else {
          for i in 0..<n {
            let key = from[i]
            let slot = base + Int(key >> shift)
            to[Int(c[slot])] = key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key
            c[slot] &+= 1
          }
        }
      }
    }
    _ = UnsafeMutableRawPointer(keys).bindMemory(to: Float.self, capacity: n)
  }
}
