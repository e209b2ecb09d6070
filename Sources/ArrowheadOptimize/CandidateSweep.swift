/// Eight candidate parameter pairs evaluated side by side, one per SIMD lane.
///
/// A lane holds the code map q = clamp(round(x·a + b), 0, top) and the reconstruction
/// x̂ = q·s + m (float minimum: a = 1/s, b = −m/s; zero-point and symmetric: b = z and
/// m = −z·s). One sweep over a group broadcasts each weight to the eight lanes and
/// accumulates, per lane, the code sums Q = Σwq, QQ = Σwq², XQ = Σwxq (the sufficient
/// statistics of the least-squares fit of the next iterate) and, when measured, the exact
/// squared error E = Σw(x − x̂)² of the lane's current parameters.
///
/// Lanes are candidates rather than weights: the accumulators never need a horizontal
/// reduction and eight independent candidates (a grid's, or eight refinements) share each
/// load. Lanes accumulate in Float32 over runs of ≤ 1024 weights, then in Double. E is a
/// sum of non-negative terms, so its relative error stays near 10⁻⁷·√n: candidates are
/// compared on E, never on a difference of large sums.
struct CandidateLanes {
  var a = SIMD8<Float>()
  var b = SIMD8<Float>()
  var s = SIMD8<Float>()
  var m = SIMD8<Float>()
}

/// What one sweep returns, per lane.
struct LaneSums {
  var q = SIMD8<Double>()
  var qq = SIMD8<Double>()
  var xq = SIMD8<Double>()
  var error = SIMD8<Double>()
}

/// Whether a sweep measures E (a compile-time switch: the two loops are specialised).
protocol SweepMeasure { static var enabled: Bool { get } }
enum MeasureError: SweepMeasure { static var enabled: Bool { true } }
enum SkipError: SweepMeasure { static var enabled: Bool { false } }

enum CandidateSweep {
  /// One sweep over `count` weights (importances `w` and `wx[i] = w[i]·x[i]` when given).
  static func sweep(
    _ x: UnsafePointer<Float>, _ count: Int, weights w: UnsafePointer<Float>?, weightedValues wx: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool
  ) -> LaneSums {
    if let w, let wx {
      return measureError ? weighted(x, w, wx, count, lanes, top, MeasureError.self) : weighted(x, w, wx, count, lanes, top, SkipError.self)
    }
    return measureError ? plain(x, count, lanes, top, MeasureError.self) : plain(x, count, lanes, top, SkipError.self)
  }

  @inline(__always)
  static func code(_ v: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ top: SIMD8<Float>) -> SIMD8<Float> {
    FastMath.roundedCode(v * a + b, top: top)
  }

  @inline(never)
  static func plain<M: SweepMeasure>(
    _ x: UnsafePointer<Float>, _ count: Int, _ lanes: CandidateLanes, _ top: Float, _: M.Type
  ) -> LaneSums {
    var result = LaneSums()
    let top8 = SIMD8<Float>(repeating: top)
    let a = lanes.a, b = lanes.b, s = lanes.s, m = lanes.m
    var start = 0
    while start < count {
      let end = min(count, start + GroupKernels.chunk)
      var q = SIMD8<Float>(), qq = SIMD8<Float>(), xq = SIMD8<Float>(), e = SIMD8<Float>()
      for i in start..<end {
        let v = SIMD8<Float>(repeating: x[i])
        let c = code(v, a, b, top8)
        q += c
        qq += c * c
        xq += v * c
        if M.enabled {
          let r = v - (c * s + m)
          e += r * r
        }
      }
      result.q += SIMD8<Double>(q)
      result.qq += SIMD8<Double>(qq)
      result.xq += SIMD8<Double>(xq)
      if M.enabled { result.error += SIMD8<Double>(e) }
      start = end
    }
    return result
  }

  @inline(never)
  static func weighted<M: SweepMeasure>(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ wx: UnsafePointer<Float>, _ count: Int, _ lanes: CandidateLanes,
    _ top: Float, _: M.Type
  ) -> LaneSums {
    var result = LaneSums()
    let top8 = SIMD8<Float>(repeating: top)
    let a = lanes.a, b = lanes.b, s = lanes.s, m = lanes.m
    var start = 0
    while start < count {
      let end = min(count, start + GroupKernels.chunk)
      var q = SIMD8<Float>(), qq = SIMD8<Float>(), xq = SIMD8<Float>(), e = SIMD8<Float>()
      for i in start..<end {
        let v = SIMD8<Float>(repeating: x[i])
        let c = code(v, a, b, top8)
        let wc = SIMD8<Float>(repeating: w[i]) * c
        q += wc
        qq += wc * c
        xq += SIMD8<Float>(repeating: wx[i]) * c
        if M.enabled {
          let r = v - (c * s + m)
          e += SIMD8<Float>(repeating: w[i]) * r * r
        }
      }
      result.q += SIMD8<Double>(q)
      result.qq += SIMD8<Double>(qq)
      result.xq += SIMD8<Double>(xq)
      if M.enabled { result.error += SIMD8<Double>(e) }
      start = end
    }
    return result
  }
}
