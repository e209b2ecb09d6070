#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Reference kernels of the search-code and optimizer families.

extension ReferenceKernels {
  // MARK: Search codes

  /// Σ (a[j] − c[j]·s[j])² in Double.
  public static func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    var sum = 0.0
    for j in 0..<count {
      let d = Double(shifted[j]) - Double(codes[j]) * Double(scales[j])
      sum += d * d
    }
    return Float(sum)
  }

  /// Σ u[j]·c[j] in Double.
  public static func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    var sum = 0.0
    for j in 0..<count { sum += Double(weights[j]) * Double(codes[j]) }
    return Float(sum)
  }

  /// Float(Σ w[j]·c[j]), the sum in Int64 (exact; equal to the Int32 sum of every other
  /// backend under `sq8DotInt16Rows`'s contract).
  public static func sq8DotInt16(count: Int, weights: UnsafePointer<Int16>, codes: UnsafePointer<UInt8>) -> Float {
    var sum: Int64 = 0
    for j in 0..<count { sum += Int64(weights[j]) * Int64(codes[j]) }
    return Float(sum)
  }

  /// out[j] = c[j]·s[j] + m[j] (Float mul then add, as `dequantize`).
  public static func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    for j in 0..<count { out[j] = Float(codes[j]) * scales[j] + offsets[j] }
  }

  /// The code of dimension `dimension` in a packed SQ4 row (low nibble first).
  @inline(__always)
  static func sq4Code(_ packed: UnsafePointer<UInt8>, _ dimension: Int) -> UInt8 {
    let byte = packed[dimension >> 1]
    return dimension & 1 == 0 ? byte & 0x0F : byte >> 4
  }

  /// The dimension whose value sits at `position` of a block-16 ordered array of `count`.
  @inline(__always)
  static func sq4Dimension(atPermutedPosition position: Int, count: Int) -> Int {
    let block = position & ~15
    guard block + 16 <= count else { return position }
    let offset = position - block
    return offset < 8 ? block + 2 * offset : block + 2 * (offset - 8) + 1
  }

  /// Σ (a[p] − c[d(p)]·s[p])² over block-16 ordered arrays, in Double.
  public static func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    var sum = 0.0
    for p in 0..<count {
      let code = sq4Code(packed, sq4Dimension(atPermutedPosition: p, count: count))
      let d = Double(shifted[p]) - Double(code) * Double(scales[p])
      sum += d * d
    }
    return Float(sum)
  }

  /// Σ u[p]·c[d(p)] over a block-16 ordered `weights`, in Double.
  public static func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    var sum = 0.0
    for p in 0..<count {
      sum += Double(weights[p]) * Double(sq4Code(packed, sq4Dimension(atPermutedPosition: p, count: count)))
    }
    return Float(sum)
  }

  /// out[j] = c[j]·s[j] + m[j] for SQ4 codes (natural order).
  public static func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    for j in 0..<count { out[j] = Float(sq4Code(packed, j)) * scales[j] + offsets[j] }
  }

  // MARK: Optimizer

  /// Σw, Σwx, Σwx² in Double.
  public static func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums {
    var result = GroupSums()
    for i in 0..<count {
      let w = Double(weights?[i] ?? 1), v = Double(x[i])
      result.weight += w
      result.sum += w * v
      result.sumOfSquares += w * v * v
    }
    return result
  }

  /// `CodeSums` in Double (codes by `OptimizerCode.code`).
  public static func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, a: Float, b: Float, top: Float
  ) -> CodeSums {
    var result = CodeSums()
    for i in 0..<count {
      let w = Double(weights?[i] ?? 1)
      let q = Double(OptimizerCode.code(x[i], a: a, b: b, top: top))
      result.q += w * q
      result.qq += w * q * q
      result.xq += w * Double(x[i]) * q
    }
    return result
  }

  /// `LaneSums` lane by lane in Double; x̂ = q·s + m is formed in Float, as the dequantizer does.
  public static func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, lanes: CandidateLanes, top: Float, measureError: Bool
  ) -> LaneSums {
    var result = LaneSums()
    for lane in 0..<8 {
      var q = 0.0, qq = 0.0, xq = 0.0, error = 0.0
      for i in 0..<count {
        let w = Double(weights?[i] ?? 1)
        let c = OptimizerCode.code(x[i], a: lanes.a[lane], b: lanes.b[lane], top: top)
        q += w * Double(c)
        qq += w * Double(c) * Double(c)
        xq += w * Double(x[i]) * Double(c)
        if measureError {
          let r = Double(x[i]) - Double(c * lanes.s[lane] + lanes.m[lane])
          error += w * r * r
        }
      }
      result.q[lane] = q
      result.qq[lane] = qq
      result.xq[lane] = xq
      result.error[lane] = error
    }
    return result
  }

  /// `ReconstructionSums` in Double; x̂ formed in Float.
  public static func reconstructionSums(count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float) -> ReconstructionSums {
    var result = ReconstructionSums()
    let offset = -b * scale
    for i in 0..<count {
      let approximation = OptimizerCode.code(x[i], a: a, b: b, top: top) * scale + offset
      let r = Double(approximation) - Double(x[i])
      result.squaredError += r * r
      result.sum += Double(approximation)
      result.sumOfSquares += Double(approximation) * Double(approximation)
    }
    return result
  }

  /// max(|e| − |e|ᵖ/β, 0), 0 when e = 0: HQQ's generalised soft threshold of one residual.
  @inline(__always)
  static func shrink(_ magnitude: Float, beta: Float, exponent: Float) -> Float {
    magnitude > 0 ? max(magnitude - powf(magnitude, exponent) / beta, 0) : 0
  }

  /// One HQQ zero-point iteration, element by element (libm `powf`), sums in Double.
  public static func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    var absolute = 0.0, update = 0.0
    for i in 0..<count {
      let q = OptimizerCode.code(x[i], a: inverse, b: zero, top: top)
      let e = x[i] - (q - zero) / inverse
      let magnitude = abs(e)
      absolute += Double(magnitude)
      let shrunk = shrink(magnitude, beta: beta, exponent: exponent)
      update += Double(q - (x[i] - (e < 0 ? -shrunk : shrunk)) * inverse)
    }
    let n = Double(max(count, 1))
    return HalfQuadraticStep(meanAbsoluteError: Float(absolute / n), update: Float(update / n))
  }

  /// One HQQ scale iteration (symmetric), element by element, sums in Double.
  public static func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    var absolute = 0.0, numerator = 0.0, denominator = 0.0
    let inverse = 1 / scale
    for i in 0..<count {
      let q = OptimizerCode.code(x[i], a: inverse, b: zero, top: top)
      let centred = q - zero
      let e = x[i] - centred * scale
      let magnitude = abs(e)
      absolute += Double(magnitude)
      let shrunk = shrink(magnitude, beta: beta, exponent: exponent)
      let target = x[i] - (e < 0 ? -shrunk : shrunk)
      numerator += Double(target * centred)
      denominator += Double(centred * centred)
    }
    let n = Double(max(count, 1))
    return HalfQuadraticStep(
      meanAbsoluteError: Float(absolute / n), update: denominator > 0 ? Float(numerator / denominator) : scale)
  }
}
