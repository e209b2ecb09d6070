// Level-1 kernels of the SIMD backend: dot, axpy, scale, sum of squares, iamax.
// Reductions keep four independent vector accumulators (hides the add latency: 4 cycles
// on Zen 4 × 2 ports) and fold them at the end; tails take a 8- and 4-lane step, then
// at most three scalar terms.
import ArrowheadCore

/// Horizontal sum of a vector, lane by lane (no generic `sum()` call: see DESIGN.md, the
/// kernel symbols of each ISA module must stay in that module).
@inline(__always)
func horizontalSum(_ v: VectorF32) -> Float {
  // Halves folded as vectors first: 16 lanes added one by one were a 16-long chain of
  // dependent adds, which dominated the short dot products of a Cholesky on AVX-512.
  foldSum(v.lowHalf + v.highHalf)
}

// One overload per half width; each ISA module resolves the one its vector needs.
@inline(__always)
func foldSum(_ v: SIMD8<Float>) -> Float { foldSum(v.lowHalf + v.highHalf) }

@inline(__always)
func foldSum(_ v: SIMD4<Float>) -> Float { (v[0] + v[2]) + (v[1] + v[3]) }

@inline(__always)
func foldSum(_ v: SIMD2<Float>) -> Float { v[0] + v[1] }

/// c + a·b on 4 or 8 lanes with the variant's multiply–add (fused where it has FMA).
@inline(__always)
func multiplyAddNarrow<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar == Float {
  Variant.fusedMultiplyAdd ? c.addingProduct(a, b) : c + a * b
}

/// Σ x[i]·y[i] over the last `count` (< lanes) elements: an 8- and a 4-lane step where the
/// vector is wider, then at most 3 scalar terms (instead of up to 15 dependent scalar
/// multiply–adds on AVX-512).
@inline(__always)
func tailDot(_ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
  var i = 0
  var total: Float = 0
  if lanes >= 16 && count >= 8 {
    let a = UnsafeRawPointer(x).loadUnaligned(as: SIMD8<Float>.self)
    let b = UnsafeRawPointer(y).loadUnaligned(as: SIMD8<Float>.self)
    total += foldSum(multiplyAddNarrow(a, b, SIMD8<Float>()))
    i = 8
  }
  if lanes >= 8 && count - i >= 4 {
    let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self)
    let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Float>.self)
    total += foldSum(multiplyAddNarrow(a, b, SIMD4<Float>()))
    i += 4
  }
  while i < count {
    total = multiplyAdd(x[i], y[i], total)
    i += 1
  }
  return total
}

enum SIMDLevel1 {
  static func dot(_ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    #if ARROWHEAD_SIMD_X86_64_V4
    // Long vectors off a cache line: the same operations on aligned loads (Variant.swift).
    if runsRealigned(count, x, y) { return realignedDot(count, x, y) }
    #endif
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var i = 0
    let step = 4 * lanes
    while i + step <= count {
      s0 = multiplyAdd(loadVector(x + i), loadVector(y + i), s0)
      s1 = multiplyAdd(loadVector(x + i + lanes), loadVector(y + i + lanes), s1)
      s2 = multiplyAdd(loadVector(x + i + 2 * lanes), loadVector(y + i + 2 * lanes), s2)
      s3 = multiplyAdd(loadVector(x + i + 3 * lanes), loadVector(y + i + 3 * lanes), s3)
      i += step
    }
    while i + lanes <= count {
      s0 = multiplyAdd(loadVector(x + i), loadVector(y + i), s0)
      i += lanes
    }
    return horizontalSum((s0 + s1) + (s2 + s3)) + tailDot(count - i, x + i, y + i)
  }

  static func sumOfSquares(_ count: Int, _ x: UnsafePointer<Float>) -> Float {
    var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
    var i = 0
    let step = 4 * lanes
    while i + step <= count {
      let v0 = loadVector(x + i), v1 = loadVector(x + i + lanes)
      let v2 = loadVector(x + i + 2 * lanes), v3 = loadVector(x + i + 3 * lanes)
      s0 = multiplyAdd(v0, v0, s0)
      s1 = multiplyAdd(v1, v1, s1)
      s2 = multiplyAdd(v2, v2, s2)
      s3 = multiplyAdd(v3, v3, s3)
      i += step
    }
    while i + lanes <= count {
      let v = loadVector(x + i)
      s0 = multiplyAdd(v, v, s0)
      i += lanes
    }
    return horizontalSum((s0 + s1) + (s2 + s3)) + tailDot(count - i, x + i, x + i)
  }

  static func axpy(_ count: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let a = VectorF32(repeating: alpha)
    var i = 0
    while i + lanes <= count {
      storeVector(multiplyAdd(a, loadVector(x + i), loadVector(y + i)), y + i)
      i += lanes
    }
    while i < count {
      y[i] = multiplyAdd(alpha, x[i], y[i])
      i += 1
    }
  }

  static func scale(_ count: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    let a = VectorF32(repeating: alpha)
    var i = 0
    while i + lanes <= count {
      storeVector(a * loadVector(x + i), x + i)
      i += lanes
    }
    while i < count {
      x[i] = alpha * x[i]
      i += 1
    }
  }

  /// First index of the largest |x|; a NaN wins at its first occurrence.
  ///
  /// One pass: |x| as Int32 bit patterns (ordered like the floats for every non-NaN |x|),
  /// each NaN clamped to 0x7F80_0001 — above +∞, the same for every payload — so that "the
  /// first NaN" is "the first of the maxima". Each lane keeps its largest value and the
  /// first index holding it (a strict compare); the lanes are folded at the end, ties going
  /// to the lower index. Indices are Int32, so chunks of 2³⁰ elements.
  static func indexOfMaxMagnitude(_ count: Int, _ x: UnsafePointer<Float>) -> Int {
    guard count > 0 else { return -1 }
    var best = -1
    var bestBits: Int32 = -1
    var start = 0
    while start < count {
      let end = min(count, start + (1 << 30))
      let (index, bits) = indexOfMaxMagnitudeBits(end - start, x + start)
      if bits > bestBits {
        best = start + index
        bestBits = bits
      }
      start = end
    }
    return best
  }

  /// `indexOfMaxMagnitude` of `count` ≤ 2³⁰ values, with the winner's clamped bit pattern.
  @inline(__always)
  private static func indexOfMaxMagnitudeBits(_ count: Int, _ x: UnsafePointer<Float>) -> (index: Int, bits: Int32) {
    typealias Bits = VectorF32.MaskStorage
    let magnitudeMask = Bits(repeating: 0x7FFF_FFFF), nanBits = Bits(repeating: 0x7F80_0001)
    var bestBits = Bits(repeating: -1), bestIndex = Bits(repeating: 0), laneIndex = Bits()
    for lane in 0..<lanes { laneIndex[lane] = Int32(lane) }
    let step = Bits(repeating: Int32(lanes))
    var i = 0
    while i + lanes <= count {
      var bits = loadVector(x + i).bitPattern & magnitudeMask
      bits.replace(with: nanBits, where: bits .> nanBits)
      let greater = bits .> bestBits
      bestBits.replace(with: bits, where: greater)
      bestIndex.replace(with: laneIndex, where: greater)
      laneIndex &+= step
      i += lanes
    }
    var index = -1
    var maximum: Int32 = -1
    for lane in 0..<lanes {
      let bits = bestBits[lane], at = Int(bestIndex[lane])
      if bits > maximum || (bits == maximum && at < index) {
        maximum = bits
        index = at
      }
    }
    while i < count {
      let bits = min(Int32(bitPattern: x[i].bitPattern & 0x7FFF_FFFF), 0x7F80_0001)
      if bits > maximum {
        maximum = bits
        index = i
      }
      i += 1
    }
    return (index, maximum)
  }
}

extension VectorF32 {
  /// The raw bits of each lane.
  @inline(__always)
  var bitPattern: MaskStorage {
    unsafeBitCast(self, to: MaskStorage.self)
  }

  /// A vector whose lanes have the given raw bits.
  @inline(__always)
  init(bitPattern bits: MaskStorage) {
    self = unsafeBitCast(bits, to: VectorF32.self)
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    SIMDLevel1.dot(count, x, y)
  }

  public static var dotFunction: PairReductionFunction { { count, x, y in SIMDLevel1.dot(count, x, y) } }

  public static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    SIMDLevel1.axpy(count, alpha, x, y)
  }

  public static func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    SIMDLevel1.scale(count, alpha, x)
  }

  public static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    SIMDLevel1.sumOfSquares(count, x)
  }

  public static func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int {
    SIMDLevel1.indexOfMaxMagnitude(count, x)
  }
}
