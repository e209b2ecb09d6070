/// Sums over one group that do not depend on the quantization parameters:
/// W = Σwᵢ, X = Σwᵢxᵢ, XX = Σwᵢxᵢ² (wᵢ = 1 without importances).
struct GroupConstants {
  var weight = 0.0
  var sum = 0.0
  var sumOfSquares = 0.0
}

/// Sums over one group's codes under one candidate: Q = Σwᵢqᵢ, QQ = Σwᵢqᵢ², XQ = Σwᵢxᵢqᵢ.
/// With `GroupConstants` they are the sufficient statistics of every least-squares fit and
/// of the squared error of x̂ = s·q + m: Σw(x − s·q − m)² = XX − 2s·XQ − 2m·X + s²·QQ + 2sm·Q + m²·W.
struct CodeSums {
  var q = 0.0
  var qq = 0.0
  var xq = 0.0
}

/// The single-threaded inner loops shared by the optimizers: one pass over a group
/// computes every code q = clamp(round(x·a + b), 0, top) and accumulates `CodeSums`.
///
/// Rounding is half to even through the 1.5·2²³ trick ((t + 1.5·2²³) − 1.5·2²³ rounds
/// t ∈ [0, 2²²) to the nearest integer, ties to even, in the default rounding mode),
/// applied after the clamp (clamp and round commute for integral bounds), so the loops
/// need no SSE4.1 `roundps` and vectorise on baseline x86-64. Lanes accumulate in Float32
/// over runs of at most 1024 elements and then in Double, which keeps Σq and Σq² exact for
/// any group up to 1024 elements and the relative error of the sums near 10⁻⁷ beyond.
///
/// `a = 1/s` and `b = −m/s` (float minimum) or `b = z` (zero-point, symmetric) — the
/// multiplication by 1/s may differ from the backend kernel's true division (x − m)/s in
/// the last bit, which can move a code that sits exactly on a rounding boundary; the
/// optimizers only use these codes to *choose* parameters, and the quantizer computes the
/// stored codes with its own kernel.
enum GroupKernels {
  static let roundingMagic: Float = 12_582_912
  static let chunk = 1024

  /// W, X, XX of `count` values (and optional importances).
  static func constants(_ x: UnsafePointer<Float>, _ count: Int, weights: UnsafePointer<Float>?) -> GroupConstants {
    var result = GroupConstants()
    var start = 0
    while start < count {
      let end = min(count, start + chunk)
      var w8 = SIMD8<Float>(), x8 = SIMD8<Float>(), xx8 = SIMD8<Float>()
      var i = start
      if let weights {
        while i + 8 <= end {
          let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
          let w = UnsafeRawPointer(weights + i).loadUnaligned(as: SIMD8<Float>.self)
          let wv = w * v
          w8 += w
          x8 += wv
          xx8 += wv * v
          i += 8
        }
      } else {
        while i + 8 <= end {
          let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
          w8 += SIMD8(repeating: 1)
          x8 += v
          xx8 += v * v
          i += 8
        }
      }
      var w1: Float = 0, x1: Float = 0, xx1: Float = 0
      while i < end {
        let w = weights?[i] ?? 1
        w1 += w
        x1 += w * x[i]
        xx1 += w * x[i] * x[i]
        i += 1
      }
      result.weight += Double(w8.sum()) + Double(w1)
      result.sum += Double(x8.sum()) + Double(x1)
      result.sumOfSquares += Double(xx8.sum()) + Double(xx1)
      start = end
    }
    return result
  }

  /// `CodeSums` of codes q = clamp(round(x·a + b), 0, top), every weight 1.
  @inline(__always)
  static func codeSums(_ x: UnsafePointer<Float>, _ count: Int, a: Float, b: Float, top: Float) -> CodeSums {
    var result = CodeSums()
    let a8 = SIMD8<Float>(repeating: a), b8 = SIMD8<Float>(repeating: b)
    let top8 = SIMD8<Float>(repeating: top)
    var start = 0
    while start < count {
      let end = min(count, start + chunk)
      var q8 = SIMD8<Float>(), qq8 = SIMD8<Float>(), xq8 = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + b8, top: top8)
        q8 += q
        qq8 += q * q
        xq8 += v * q
        i += 8
      }
      var q1: Float = 0, qq1: Float = 0, xq1: Float = 0
      while i < end {
        let q = code(x[i], a: a, b: b, top: top)
        q1 += q
        qq1 += q * q
        xq1 += x[i] * q
        i += 1
      }
      result.q += Double(q8.sum()) + Double(q1)
      result.qq += Double(qq8.sum()) + Double(qq1)
      result.xq += Double(xq8.sum()) + Double(xq1)
      start = end
    }
    return result
  }

  /// `CodeSums` with importances `w` (and `wx[i] = w[i]·x[i]` precomputed).
  @inline(__always)
  static func codeSums(
    _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, weightedValues wx: UnsafePointer<Float>, _ count: Int,
    a: Float, b: Float, top: Float
  ) -> CodeSums {
    var result = CodeSums()
    let a8 = SIMD8<Float>(repeating: a), b8 = SIMD8<Float>(repeating: b)
    let top8 = SIMD8<Float>(repeating: top)
    var start = 0
    while start < count {
      let end = min(count, start + chunk)
      var q8 = SIMD8<Float>(), qq8 = SIMD8<Float>(), xq8 = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let q = FastMath.roundedCode(v * a8 + b8, top: top8)
        let wq = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self) * q
        q8 += wq
        qq8 += wq * q
        xq8 += UnsafeRawPointer(wx + i).loadUnaligned(as: SIMD8<Float>.self) * q
        i += 8
      }
      var q1: Float = 0, qq1: Float = 0, xq1: Float = 0
      while i < end {
        let q = code(x[i], a: a, b: b, top: top)
        q1 += w[i] * q
        qq1 += w[i] * q * q
        xq1 += wx[i] * q
        i += 1
      }
      result.q += Double(q8.sum()) + Double(q1)
      result.qq += Double(qq8.sum()) + Double(qq1)
      result.xq += Double(xq8.sum()) + Double(xq1)
      start = end
    }
    return result
  }

  /// One code: clamp(round(x·a + b), 0, top), half to even.
  @inline(__always)
  static func code(_ x: Float, a: Float, b: Float, top: Float) -> Float {
    let t = min(max(x * a + b, 0), top)
    return (t + roundingMagic) - roundingMagic
  }
}
