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
        startPositions(c, pass: pass)
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

extension RadixSort {
  /// Turns pass `pass`'s digit counts into the digits' first output positions (exclusive
  /// prefix sums).
  @inline(__always)
  static func startPositions(_ counts: UnsafeMutableBufferPointer<Int32>, pass: Int) {
    var running: Int32 = 0
    for digit in 0..<2048 {
      let count = counts[pass * 2048 + digit]
      counts[pass * 2048 + digit] = running
      running &+= count
    }
  }

  /// Sorts `count` values from `source` into `destination` like `sort`, and writes each sorted
  /// value's channel — its source index modulo `channels` — to the same position of
  /// `channelsOut` (stable: equal values keep their source order). `scratch` holds 3·count words.
  static func sort(
    _ source: UnsafePointer<Float>, count n: Int, channels: Int, into destination: UnsafeMutablePointer<Float>,
    channelsOut: UnsafeMutablePointer<UInt32>, scratch: UnsafeMutablePointer<UInt32>
  ) {
    guard n > 0 else { return }
    // Keys ping-pong between scratch[0..<n] and scratch[n..<2n]; channels between
    // scratch[2n..<3n] and channelsOut, so that the third pass ends in channelsOut.
    var counts = [Int32](repeating: 0, count: 3 * 2048)
    counts.withUnsafeMutableBufferPointer { c in
      var channel = 0
      for i in 0..<n {
        let bits = source[i].bitPattern
        let key = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        scratch[i] = key
        scratch[2 * n + i] = UInt32(channel)
        channel += 1
        if channel == channels { channel = 0 }
        c[Int(key & 0x7FF)] &+= 1
        c[2048 + Int((key >> 11) & 0x7FF)] &+= 1
        c[4096 + Int(key >> 22)] &+= 1
      }
      var fromKeys = scratch, toKeys = scratch + n
      var fromChannels = scratch + 2 * n, toChannels = channelsOut
      for pass in 0..<3 {
        startPositions(c, pass: pass)
        let shift = UInt32(11 * pass), base = pass * 2048
        for i in 0..<n {
          let key = fromKeys[i]
          let slot = base + Int((key >> shift) & 0x7FF)
          let position = Int(c[slot])
          if pass < 2 {
            toKeys[position] = key
          } else {
            destination[position] = Float(bitPattern: key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key)
          }
          toChannels[position] = fromChannels[i]
          c[slot] &+= 1
        }
        swap(&fromKeys, &toKeys)
        swap(&fromChannels, &toChannels)
      }
    }
  }
}
