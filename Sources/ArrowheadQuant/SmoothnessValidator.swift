/// Limits on the jump of quantization parameters between adjacent time groups.
public struct SmoothnessThresholds: Sendable, Hashable, Codable {
  /// Largest acceptable relative scale jump |s₂ − s₁| / max(s₁, s₂). Default 0.3: a 30 %
  /// change of the quantization step between neighbouring timesteps is about where
  /// requantized activations visibly change from one sampling step to the next.
  public var relativeScaleJump: Double
  /// Largest acceptable zero-point jump as a fraction of the code range 2ᵇ − 1.
  /// Default 0.1 (25 codes at 8 bits).
  public var zeroPointJumpFraction: Double

  /// Creates thresholds; both must be positive.
  public init(relativeScaleJump: Double = 0.3, zeroPointJumpFraction: Double = 0.1) throws(QuantizationError) {
    guard relativeScaleJump > 0, relativeScaleJump.isFinite else {
      throw .invalidOption(name: "relativeScaleJump", value: "\(relativeScaleJump)", expected: "a positive number")
    }
    guard zeroPointJumpFraction > 0, zeroPointJumpFraction.isFinite else {
      throw .invalidOption(name: "zeroPointJumpFraction", value: "\(zeroPointJumpFraction)", expected: "a positive number")
    }
    self.relativeScaleJump = relativeScaleJump
    self.zeroPointJumpFraction = zeroPointJumpFraction
  }

  /// The defaults (0.3, 0.1).
  public static let standard = SmoothnessThresholds(unchecked: 0.3, 0.1)

  init(unchecked scale: Double, _ zeroPoint: Double) {
    relativeScaleJump = scale
    zeroPointJumpFraction = zeroPoint
  }
}

/// How badly a boundary exceeds its thresholds.
public enum SmoothnessSeverity: String, Sendable, Codable, Comparable, CaseIterable {
  /// Up to 2× a threshold.
  case low
  /// 2× to 4×.
  case medium
  /// Over 4×.
  case high

  var rank: Int {
    switch self {
    case .low: 0
    case .medium: 1
    case .high: 2
    }
  }

  /// low < medium < high.
  public static func < (lhs: SmoothnessSeverity, rhs: SmoothnessSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// The parameter change across one boundary between adjacent groups.
public struct BoundaryJump: Sendable, Hashable, Codable {
  /// The boundary between group `index` and group `index + 1`.
  public var index: Int
  /// |s₂ − s₁| / max(s₁, s₂) ∈ [0, 1] (0 when both scales are 0).
  public var relativeScaleJump: Double
  /// |z₂ − z₁| in codes (for float minima, z = −m/s is the equivalent zero-point).
  public var zeroPointJump: Double
  /// max(relative scale jump, zero-point jump / (2ᵇ − 1)) ∈ [0, 1].
  public var combinedJump: Double
  /// nil when within both thresholds.
  public var severity: SmoothnessSeverity?
}

/// The result of validating a sequence of per-group parameters.
public struct SmoothnessReport: Sendable, Hashable, Codable {
  /// One entry per boundary (G − 1 of them).
  public var boundaries: [BoundaryJump]
  /// 1 − mean combined jump ∈ [0, 1]: 1 is perfectly smooth (or a single group), lower is
  /// rougher. Comparable between runs of the same layer and bit width.
  public var score: Double
  /// The boundaries that exceed a threshold, worst first.
  public var violations: [BoundaryJump] {
    boundaries.filter { $0.severity != nil }.sorted {
      (($0.severity?.rank ?? -1), $0.combinedJump) > (($1.severity?.rank ?? -1), $1.combinedJump)
    }
  }
  /// Whether no boundary exceeds a threshold.
  public var isSmooth: Bool { boundaries.allSatisfy { $0.severity == nil } }
}

/// The Markov smoothness validator of time-grouped quantization parameters.
///
/// Parameters of adjacent time groups form a first-order Markov chain: sampling moves from
/// one group to the next, so what matters is each *transition*. For every boundary the
/// validator measures the relative scale jump and the zero-point jump (in codes), flags
/// those over the thresholds with a severity (≤ 2×, ≤ 4×, > 4× the threshold), and scores
/// the chain by 1 − mean(max(scale jump, zero-point jump / (2ᵇ − 1))). O(G).
public enum SmoothnessValidator {
  /// Validates `parameters` (one per group, in time order) quantized with `bits` in `mode`.
  ///
  /// - Throws: `.unsupportedBits` for `bits` outside `QuantizationScheme.supportedBits` (0
  ///   or 64 used to give a code range of 0 or −1, and a meaningless score), and
  ///   `.invalidParameters` naming the group of the first pair whose scale or offset is NaN
  ///   or ±∞ (such a pair has no jump to measure). O(G).
  public static func validate(
    _ parameters: [AffineParameters], bits: Int, mode: QuantizationMode, thresholds: SmoothnessThresholds = .standard
  ) throws(QuantizationError) -> SmoothnessReport {
    guard QuantizationScheme.supportedBits.contains(bits) else { throw .unsupportedBits(bits, supported: QuantizationScheme.supportedBits) }
    if let group = parameters.firstIndex(where: { !($0.scale.isFinite && $0.offset.isFinite) }) {
      throw .invalidParameters(
        tensor: "time-group parameters", group: group,
        reason: "scale \(parameters[group].scale), offset \(parameters[group].offset): smoothness needs finite parameters")
    }
    let range = Double((1 << bits) - 1)
    func zeroPoint(_ p: AffineParameters) -> Double {
      switch mode {
      case .floatMinimum: return p.scale == 0 ? 0 : -Double(p.offset) / Double(p.scale)
      case .zeroPoint, .symmetric: return Double(p.offset)
      }
    }
    var jumps: [BoundaryJump] = []
    var total = 0.0
    for index in 0..<max(0, parameters.count - 1) {
      let a = parameters[index], b = parameters[index + 1]
      let larger = Double(Swift.max(a.scale, b.scale))
      let scaleJump = larger == 0 ? 0 : abs(Double(b.scale) - Double(a.scale)) / larger
      let zeroJump = abs(zeroPoint(b) - zeroPoint(a))
      let combined = Swift.min(1, Swift.max(scaleJump, zeroJump / range))
      let ratio = Swift.max(scaleJump / thresholds.relativeScaleJump, zeroJump / range / thresholds.zeroPointJumpFraction)
      let severity: SmoothnessSeverity? = ratio <= 1 ? nil : (ratio <= 2 ? .low : (ratio <= 4 ? .medium : .high))
      jumps.append(BoundaryJump(index: index, relativeScaleJump: scaleJump, zeroPointJump: zeroJump, combinedJump: combined, severity: severity))
      total += combined
    }
    let score = jumps.isEmpty ? 1 : 1 - total / Double(jumps.count)
    return SmoothnessReport(boundaries: jumps, score: score)
  }
}
