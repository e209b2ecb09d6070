import ArrowheadCore

/// The scale and offset of one quantization group.
///
/// `offset` is the float minimum m (x̂ = q·s + m) for `.floatMinimum`, and the zero-point
/// z held as an integral Float (x̂ = (q − z)·s) for `.zeroPoint` and `.symmetric`.
public struct AffineParameters: Sendable, Hashable, CustomStringConvertible {
  /// The step between adjacent codes: s ≥ 0 for `.floatMinimum` and `.zeroPoint` (0 only
  /// for a group that is reproduced exactly without one: a constant group for the float
  /// minimum, all zeros otherwise). For `.symmetric` any finite value: a negative scale
  /// (`signedMaximum`) mirrors the codes, so that the one code without a partner,
  /// q = 0 → −2ᵇ⁻¹·s, lands on the positive side.
  public var scale: Float
  /// The float minimum, or the integer zero-point.
  public var offset: Float

  /// Creates parameters.
  public init(scale: Float, offset: Float) {
    self.scale = scale
    self.offset = offset
  }

  /// "(s scale, offset offset)".
  public var description: String { "(s \(scale), offset \(offset))" }

  /// Min-max parameters for a group whose smallest and largest values are `minimum` and
  /// `maximum` (both finite, minimum ≤ maximum), for `bits` bits in `mode`:
  ///
  /// - `.floatMinimum`: s = (max − min)/(2ᵇ − 1), m = min. The extremes map to codes 0 and
  ///   2ᵇ − 1 exactly; a constant group gets s = 0 and is reproduced exactly.
  /// - `.zeroPoint`: the range is first widened to include 0 (lo = min(min, 0),
  ///   hi = max(max, 0), as GPTQ does) so that the zero-point is an in-range integer and 0 is
  ///   exact; s = (hi − lo)/(2ᵇ − 1), z = round(−lo/s) (half to even). All-zero: s = 0, z = 0.
  /// - `.symmetric`: s = max(|min|, |max|)/(2ᵇ⁻¹ − 1), z = 2ᵇ⁻¹.
  ///
  /// Scales are computed in Float32 exactly as written (so figures match a numpy float32
  /// implementation to the bit). If max − min overflows Float32, s = max/(2ᵇ−1) − min/(2ᵇ−1).
  @inline(__always)
  public static func minMax(minimum: Float, maximum: Float, bits: Int, mode: QuantizationMode) -> AffineParameters {
    let top = Float((1 << bits) - 1)
    switch mode {
    case .floatMinimum:
      return AffineParameters(scale: rangeScale(minimum, maximum, top), offset: minimum)
    case .zeroPoint:
      let low = Swift.min(minimum, 0), high = Swift.max(maximum, 0)
      let scale = rangeScale(low, high, top)
      if scale == 0 { return AffineParameters(scale: 0, offset: 0) }
      let zero = (-low / scale).rounded(.toNearestOrEven)
      return AffineParameters(scale: scale, offset: Swift.min(Swift.max(zero, 0), top))
    case .symmetric:
      let magnitude = Swift.max(abs(minimum), abs(maximum))
      let half = Float(1 << (bits - 1))
      return AffineParameters(scale: magnitude / (half - 1), offset: half)
    }
  }

  /// ggml Q4_0's parameters for a `.symmetric` group whose smallest and largest values are
  /// `minimum` and `maximum`: s = v / −2ᵇ⁻¹, z = 2ᵇ⁻¹, where v is the extreme of larger
  /// magnitude (`minimum` on a tie).
  ///
  /// All 2ᵇ codes are in use (min-max's symmetric range leaves code 0 out): v itself maps
  /// to code 0 exactly and the other side of zero reaches (2ᵇ⁻¹ − 1)·|s|, one step short of
  /// |v|. The scale is negative when v > 0. On the 37 weight matrices of all-MiniLM-L6-v2 at
  /// 4 bits and groups of 32 this reconstructs with 0.0907 relative error against 0.1027 for
  /// the restricted range (Quant README, "Symmetric codes: restricted or full range"). An
  /// all-zero group gets s = 0.
  @inline(__always)
  public static func signedMaximum(minimum: Float, maximum: Float, bits: Int) -> AffineParameters {
    let half = Float(1 << (bits - 1))
    let extreme = -minimum >= maximum ? minimum : maximum
    return AffineParameters(scale: extreme == 0 ? 0 : extreme / -half, offset: half)
  }

  @inline(__always)
  static func rangeScale(_ low: Float, _ high: Float, _ top: Float) -> Float {
    let scale = (high - low) / top
    return scale.isFinite ? scale : high / top - low / top
  }

  /// Whether `storageProblem(bits:mode:)` is nil (a branch-light check for hot loops).
  @inline(__always)
  public func isStorable(bits: Int, mode: QuantizationMode) -> Bool {
    guard scale.isFinite, scale >= 0 || mode == .symmetric else { return false }
    switch mode {
    case .floatMinimum: return offset.isFinite
    case .zeroPoint: return offset >= 0 && offset <= Float((1 << bits) - 1) && offset.rounded() == offset
    case .symmetric: return offset == Float(1 << (bits - 1))
    }
  }

  /// Checks that these parameters can be stored under `scheme`: a finite scale (≥ 0 unless
  /// symmetric); a finite float minimum; an integral zero-point in 0…2ᵇ − 1; exactly 2ᵇ⁻¹ for
  /// symmetric. Returns the reason when they cannot, nil when they can.
  public func storageProblem(bits: Int, mode: QuantizationMode) -> String? {
    if isStorable(bits: bits, mode: mode) { return nil }
    guard scale.isFinite else { return "scale \(scale) is not finite" }
    guard scale >= 0 || mode == .symmetric else { return "scale \(scale) is negative (only symmetric scales may be)" }
    switch mode {
    case .floatMinimum:
      return offset.isFinite ? nil : "float minimum \(offset) is not finite"
    case .zeroPoint:
      let top = Float((1 << bits) - 1)
      guard offset.isFinite, offset.rounded() == offset, offset >= 0, offset <= top else {
        return "zero-point \(offset) is not an integer in 0…\(Int(top)) (zero-points are stored with \(bits) bits)"
      }
      return nil
    case .symmetric:
      return offset == Float(1 << (bits - 1)) ? nil : "symmetric zero-point must be \(1 << (bits - 1)), got \(offset)"
    }
  }

  /// Checks that every code 0 … 2ᵇ − 1 dequantizes to a finite value, computed in Float32
  /// exactly as the dequantize kernels do (q·s + m, or (q − z)·s): a finite but huge
  /// scale (say 3e38) passes `storageProblem` yet turns codes into ±∞. The extremes are at
  /// the end codes, so checking those two suffices. Returns the reason, or nil.
  public func reconstructionProblem(bits: Int, mode: QuantizationMode) -> String? {
    if reconstructsFinitely(top: Float((1 << bits) - 1), mode: mode) { return nil }
    let top = Float((1 << bits) - 1)
    let low: Float, high: Float
    switch mode {
    case .floatMinimum:
      low = 0 * scale + offset
      high = top * scale + offset
    case .zeroPoint, .symmetric:
      low = (0 - offset) * scale
      high = (top - offset) * scale
    }
    guard low.isFinite, high.isFinite else {
      return "scale \(scale) with offset \(offset) dequantizes codes 0…\(Int(top)) to [\(low), \(high)], beyond the Float32 range"
    }
    return nil
  }

  /// Whether codes 0 and `top` (hence every code) dequantize to finite values, computed as
  /// the kernels do: the branch-light form of `reconstructionProblem` for hot loops.
  @inline(__always)
  func reconstructsFinitely(top: Float, mode: QuantizationMode) -> Bool {
    switch mode {
    case .floatMinimum: return offset.isFinite && (top * scale + offset).isFinite
    case .zeroPoint, .symmetric: return ((0 - offset) * scale).isFinite && ((top - offset) * scale).isFinite
    }
  }

  /// The code every weight of a group with scale 0 gets (its value is the same whatever the
  /// code; the quantizers write this one): 0 for the float minimum, the zero-point otherwise.
  public func codeForZeroScale(mode: QuantizationMode) -> Int {
    mode == .floatMinimum ? 0 : Int(offset)
  }
}
