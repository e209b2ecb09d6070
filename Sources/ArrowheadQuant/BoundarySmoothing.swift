#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An activation range [lower, upper].
public struct ActivationRange: Sendable, Hashable, Codable {
  /// The lower end.
  public var lower: Float
  /// The upper end.
  public var upper: Float
  /// Creates a range.
  public init(lower: Float, upper: Float) {
    self.lower = lower
    self.upper = upper
  }
}

/// How weights ramp from one group's range to the next across a boundary.
public enum SmoothingCurve: String, Sendable, Codable, CaseIterable {
  /// α(u) = u.
  case linear
  /// α(u) = 3u² − 2u³ (smoothstep: zero slope at both ends).
  case cubic
  /// A logistic curve rescaled to pass through (0, 0) and (1, 1):
  /// α(u) = (σ(k(u − ½)) − σ(−k/2)) / (σ(k/2) − σ(−k/2)), σ(x) = 1/(1 + e⁻ˣ).
  case sigmoid
}

/// Blends activation ranges across time-group boundaries without touching group interiors.
///
/// Group parameters are piecewise constant in time, so a sampler crossing a boundary sees
/// the quantization step jump at once. Smoothing replaces, for the `window` timesteps on
/// each side of every boundary B (timesteps B − window ..< B + window), the range by
///
///     r(t) = (1 − α(u))·r_left + α(u)·r_right,   u = (t − (B − window) + ½) / (2·window),
///
/// and derives that timestep's parameters from r(t). Every other timestep keeps its group's
/// range — and so exactly its group's parameters: interior groups are never overwritten,
/// and the stored per-group parameters themselves are never changed (the smoothed values
/// form a separate per-timestep table). The window must leave each group at least one
/// interior timestep: 2·window < the shortest group's length.
public struct BoundarySmoothing: Sendable, Hashable, Codable {
  /// The blending curve.
  public var curve: SmoothingCurve
  /// Timesteps blended on each side of a boundary (≥ 1).
  public var window: Int
  /// Steepness k of the sigmoid curve (default 10: the middle 60 % of the window does
  /// ~90 % of the change).
  public var steepness: Double

  /// Creates a smoothing; throws unless window ≥ 1 and steepness > 0.
  public init(curve: SmoothingCurve, window: Int, steepness: Double = 10) throws(QuantizationError) {
    guard window >= 1 else { throw .invalidOption(name: "smoothing window", value: "\(window)", expected: "≥ 1 timestep") }
    guard steepness > 0, steepness.isFinite else {
      throw .invalidOption(name: "sigmoid steepness", value: "\(steepness)", expected: "a positive number")
    }
    self.curve = curve
    self.window = window
    self.steepness = steepness
  }

  /// α(u) for u ∈ [0, 1]: 0 at the left group, 1 at the right one, monotone.
  public func weight(_ u: Double) -> Double {
    let x = Swift.min(1, Swift.max(0, u))
    switch curve {
    case .linear: return x
    case .cubic: return x * x * (3 - 2 * x)
    case .sigmoid:
      func logistic(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
      let low = logistic(-steepness / 2), high = logistic(steepness / 2)
      return (logistic(steepness * (x - 0.5)) - low) / (high - low)
    }
  }

  /// The largest window that `grouping` allows: ⌊(shortest group − 1)/2⌋.
  public static func maximumWindow(for grouping: TimeGrouping) -> Int {
    let shortest = (0..<grouping.groups).map { grouping.timesteps(ofGroup: $0).count }.min() ?? 1
    return (shortest - 1) / 2
  }

  /// The per-timestep ranges (T of them) for per-group `ranges` (G of them).
  /// Throws `.invalidTimeGrouping` if the window would reach a group's interior limit.
  public func timestepRanges(_ ranges: [ActivationRange], grouping: TimeGrouping) throws(QuantizationError) -> [ActivationRange] {
    guard ranges.count == grouping.groups else {
      throw .invalidTimeGrouping(reason: "\(ranges.count) group ranges for \(grouping.groups) groups")
    }
    let limit = Self.maximumWindow(for: grouping)
    guard window <= limit else {
      throw .invalidTimeGrouping(
        reason: "smoothing window \(window) leaves a group of \(grouping.timesteps / grouping.groups) timesteps no interior; the largest window for \(grouping.timesteps) timesteps in \(grouping.groups) groups is \(limit)")
    }
    var result = (0..<grouping.timesteps).map { ranges[grouping.uncheckedGroup(ofTimestep: $0)] }
    for group in 0..<(grouping.groups - 1) {
      let boundary = grouping.timesteps(ofGroup: group + 1).lowerBound
      let left = ranges[group], right = ranges[group + 1]
      for t in (boundary - window)..<(boundary + window) {
        let u = (Double(t - (boundary - window)) + 0.5) / Double(2 * window)
        let alpha = weight(u)
        result[t] = ActivationRange(
          lower: Float((1 - alpha) * Double(left.lower) + alpha * Double(right.lower)),
          upper: Float((1 - alpha) * Double(left.upper) + alpha * Double(right.upper)))
      }
    }
    return result
  }
}
