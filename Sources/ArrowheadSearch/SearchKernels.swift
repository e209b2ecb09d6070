// Distance kernels of the search engine: one query against one stored vector.
//
// ISA: whatever this module is compiled for (baseline x86-64 = SSE2, arm64 = NEON); Swift's
// SIMD8<Float> lowers to two SSE registers or one AVX register. These are the single-pair
// kernels HNSW calls thousands of times per query; the batch (queries × base) path of the
// flat index goes through `Engine.distances` instead. They live here, not in the backend
// protocol, until the lead moves them (see README "Kernel wishes"): the backend has no
// single-pair squared-L2, no asymmetric float × uint8 (SQ8) and no float × 4-bit (SQ4)
// distance.
//
// Rounding: sums are accumulated in two 8-lane accumulators and folded at the end; no FMA
// (mul then add), so the result is the same on every x86-64 and arm64 machine for the same
// inputs, but differs from a sequential scalar sum by the usual reassociation (≤ d·ε·Σ|terms|).

typealias F32x8 = SIMD8<Float>

@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> F32x8 {
  UnsafeRawPointer(pointer).loadUnaligned(as: F32x8.self)
}

@inline(__always)
func sum8(_ v: F32x8) -> Float {
  let half = v.lowHalf + v.highHalf
  return (half[0] + half[2]) + (half[1] + half[3])
}

/// Unsigned bytes to floats (exact: every UInt8 is a Float).
@inline(__always)
func floats8(_ codes: SIMD8<UInt8>) -> F32x8 {
  F32x8(SIMD8<Int32>(truncatingIfNeeded: codes))
}

enum SearchKernels {
  /// Σ (a[i] − b[i])².
  @inline(__always)
  static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    while i + 16 <= count {
      let d0 = load8(a + i) - load8(b + i)
      let d1 = load8(a + i + 8) - load8(b + i + 8)
      s0 += d0 * d0
      s1 += d1 * d1
      i += 16
    }
    if i + 8 <= count {
      let d0 = load8(a + i) - load8(b + i)
      s0 += d0 * d0
      i += 8
    }
    var total = sum8(s0 + s1)
    while i < count {
      let d = a[i] - b[i]
      total += d * d
      i += 1
    }
    return total
  }

  /// Σ a[i]·b[i].
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    while i + 16 <= count {
      s0 += load8(a + i) * load8(b + i)
      s1 += load8(a + i + 8) * load8(b + i + 8)
      i += 16
    }
    if i + 8 <= count {
      s0 += load8(a + i) * load8(b + i)
      i += 8
    }
    var total = sum8(s0 + s1)
    while i < count {
      total += a[i] * b[i]
      i += 1
    }
    return total
  }

  // MARK: SQ8 (one code byte per value)

  /// Σ (a[j] − c[j]·s[j])² with a = q − m (the query shifted by the per-dimension
  /// offsets): the squared L2 distance between q and the decoded vector c·s + m.
  @inline(__always)
  static func sq8SquaredL2(
    _ shifted: UnsafePointer<Float>, _ scales: UnsafePointer<Float>, _ codes: UnsafePointer<UInt8>, _ count: Int
  ) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(codes)
    while i + 16 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
      let d0 = load8(shifted + i) - floats8(c.lowHalf) * load8(scales + i)
      let d1 = load8(shifted + i + 8) - floats8(c.highHalf) * load8(scales + i + 8)
      s0 += d0 * d0
      s1 += d1 * d1
      i += 16
    }
    if i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      let d0 = load8(shifted + i) - floats8(c) * load8(scales + i)
      s0 += d0 * d0
      i += 8
    }
    var total = sum8(s0 + s1)
    while i < count {
      let d = shifted[i] - Float(codes[i]) * scales[i]
      total += d * d
      i += 1
    }
    return total
  }

  /// Σ u[j]·c[j] with u = q ⊙ s; add Σ q[j]·m[j] to get q·(c·s + m).
  @inline(__always)
  static func sq8Dot(_ weights: UnsafePointer<Float>, _ codes: UnsafePointer<UInt8>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(codes)
    while i + 16 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
      s0 += load8(weights + i) * floats8(c.lowHalf)
      s1 += load8(weights + i + 8) * floats8(c.highHalf)
      i += 16
    }
    if i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      s0 += load8(weights + i) * floats8(c)
      i += 8
    }
    var total = sum8(s0 + s1)
    while i < count {
      total += weights[i] * Float(codes[i])
      i += 1
    }
    return total
  }

  /// Decodes SQ8 codes: x[j] = c[j]·s[j] + m[j] (mul then add, as the engine's
  /// `.dequantize` kernel, so the values are bit-identical to it).
  @inline(__always)
  static func sq8Decode(
    _ codes: UnsafePointer<UInt8>, _ scales: UnsafePointer<Float>, _ offsets: UnsafePointer<Float>,
    _ count: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    let raw = UnsafeRawPointer(codes)
    let destination = UnsafeMutableRawPointer(out)
    while i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      let product = floats8(c) * load8(scales + i)
      destination.storeBytes(of: product + load8(offsets + i), toByteOffset: i * 4, as: F32x8.self)
      i += 8
    }
    while i < count {
      out[i] = Float(codes[i]) * scales[i] + offsets[i]
      i += 1
    }
  }

  // MARK: SQ4 (two 4-bit codes per byte; code 2i in the low nibble of byte i)

  /// Rearranges a per-dimension array for the SQ4 kernels: each full block of 16
  /// dimensions becomes [the 8 even dimensions, the 8 odd dimensions] (the order in which
  /// low and high nibbles of 8 packed bytes come out); the tail stays in natural order.
  static func sq4Permuted(_ values: UnsafePointer<Float>, _ count: Int, _ out: UnsafeMutablePointer<Float>) {
    var block = 0
    while block + 16 <= count {
      for k in 0..<8 {
        out[block + k] = values[block + 2 * k]
        out[block + 8 + k] = values[block + 2 * k + 1]
      }
      block += 16
    }
    for j in block..<count { out[j] = values[j] }
  }

  /// The code of value j in a packed SQ4 row.
  @inline(__always)
  static func sq4Code(_ packed: UnsafePointer<UInt8>, _ j: Int) -> UInt8 {
    let byte = packed[j >> 1]
    return j & 1 == 0 ? byte & 0x0F : byte >> 4
  }

  /// Σ (a[j] − c[j]·s[j])² for SQ4 codes; `shifted` and `scales` are `sq4Permuted`.
  @inline(__always)
  static func sq4SquaredL2(
    _ shifted: UnsafePointer<Float>, _ scales: UnsafePointer<Float>, _ packed: UnsafePointer<UInt8>, _ count: Int
  ) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(packed)
    let mask = SIMD8<UInt8>(repeating: 0x0F)
    while i + 16 <= count {
      let bytes = raw.loadUnaligned(fromByteOffset: i >> 1, as: SIMD8<UInt8>.self)
      let even = floats8(bytes & mask), odd = floats8(bytes &>> 4)
      let d0 = load8(shifted + i) - even * load8(scales + i)
      let d1 = load8(shifted + i + 8) - odd * load8(scales + i + 8)
      s0 += d0 * d0
      s1 += d1 * d1
      i += 16
    }
    var total = sum8(s0 + s1)
    while i < count {
      let d = shifted[i] - Float(sq4Code(packed, i)) * scales[i]
      total += d * d
      i += 1
    }
    return total
  }

  /// Σ u[j]·c[j] for SQ4 codes; `weights` is `sq4Permuted`.
  @inline(__always)
  static func sq4Dot(_ weights: UnsafePointer<Float>, _ packed: UnsafePointer<UInt8>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(packed)
    let mask = SIMD8<UInt8>(repeating: 0x0F)
    while i + 16 <= count {
      let bytes = raw.loadUnaligned(fromByteOffset: i >> 1, as: SIMD8<UInt8>.self)
      s0 += load8(weights + i) * floats8(bytes & mask)
      s1 += load8(weights + i + 8) * floats8(bytes &>> 4)
      i += 16
    }
    var total = sum8(s0 + s1)
    while i < count {
      total += weights[i] * Float(sq4Code(packed, i))
      i += 1
    }
    return total
  }

  /// Decodes SQ4 codes: x[j] = c[j]·s[j] + m[j] (mul then add; natural order arrays).
  @inline(__always)
  static func sq4Decode(
    _ packed: UnsafePointer<UInt8>, _ scales: UnsafePointer<Float>, _ offsets: UnsafePointer<Float>,
    _ count: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    for j in 0..<count {
      out[j] = Float(sq4Code(packed, j)) * scales[j] + offsets[j]
    }
  }
}
