import ArrowheadCore
import ArrowheadQuant
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `ClippingSearch` chose for one time group.
public struct ClippedGroup: Sendable, Hashable {
  /// The chosen range [lower, upper] (inside the group's [min, max]).
  public var range: ActivationRange
  /// Its min-max parameters: what is stored.
  public var parameters: AffineParameters
  /// The output error Σw(x − x̂)² at `parameters`, and at the group's min-max parameters.
  public var error: Double, minMaxError: Double
  /// Ranges evaluated.
  public var evaluations: Int
}

/// MSE-optimal clipping of activation ranges, per time group: the range [lower, upper]
/// whose min-max parameters minimise the group's output error Σᵢ wᵢ(xᵢ − x̂ᵢ)² (channel
/// importances wᵢ from the layer's weights, `ActivationCalibrationData`; 1 without them).
///
/// At 4 bits a wide range spends its 16 levels on rare outliers; clipping them costs a
/// large error on few samples and saves rounding error on all the others. The search is a
/// line search per range end, alternated `rounds` times (upper, then lower, …):
///
/// 1. **Grid**: the end moved inwards from the group's extreme e towards the other end o by
///    fractions: x = o + f·(e − o) for `gridPoints` values of f spaced geometrically from 1 to
///    0.05; plus the order statistics at the 99.99th, 99.9th, 99th and 98th percentiles of
///    that side (the percentile estimator's candidates) and the end's current value.
/// 2. **Zoom**: 15 evenly spaced candidates between the best grid point's neighbours, then
///    three more rounds of 15 within ± one spacing of the best (each round 8× finer: the
///    last spacing is 1/8192 of the grid interval; the
///    error is not unimodal in the clip, since the codes change pattern, so a bracketing
///    search such as golden section gets misled).
///
/// Every candidate is evaluated exactly — the stored parameters (Float32 scale, integral
/// zero-point) and their codes — from sorted samples with prefix sums (`SortedSamples`,
/// O(2ᵇ·log n) per range), so a group costs about 2·rounds·(gridPoints + 66) evaluations. The
/// current range is always a candidate and the first is min-max, so the error never
/// increases: the result is never worse than min-max on the samples it was fitted on (the
/// pipeline checks held-out rows too, `ActivationGuard`). An end that min-max widening
/// makes irrelevant (zero-point mode keeps 0 in range) is not searched; symmetric mode
/// searches the one magnitude.
///
/// ```swift
/// let search = try ClippingSearch()
/// let groups = try search.search(groups: samplesPerTimeGroup, bits: 4, mode: .zeroPoint)
/// print(groups.map { $0.error / $0.minMaxError })   // ≤ 1
/// ```
public struct ClippingSearch: Sendable {
  /// Geometric grid points per line search, 4…256 (default 24).
  public let gridPoints: Int
  /// Alternations of (upper, lower) line searches, 1…8 (default 2).
  public let rounds: Int

  /// Creates a search; throws `.invalidSetting` naming a value out of range.
  public init(gridPoints: Int = 24, rounds: Int = 2) throws(OptimizationError) {
    try OptimizationError.require("grid_points", gridPoints, in: 4...256)
    try OptimizationError.require("rounds", rounds, in: 1...8)
    self.gridPoints = gridPoints
    self.rounds = rounds
  }

  /// Zoom rounds after the grid: 15 candidates each; the first spaced 1/16 of the grid
  /// interval, each later one 8× finer (± one spacing of the best, cut in 16).
  static let zoomLevels = 4

  /// "clip".
  public var name: String { "clip" }

  /// grid_points, rounds.
  public var settings: [String: String] { ["grid_points": "\(gridPoints)", "rounds": "\(rounds)"] }

  /// The best clipped range of every group (one array of samples per time group; with
  /// `importance`, rows of `channels` values, channel-last), in parallel over groups. Throws
  /// what `ThermodynamicLoss.init` throws for empty or non-finite groups and bad importances.
  public func search(
    groups: [[Float]], bits: Int, mode: QuantizationMode, layer: String = "activations", channels: Int? = nil, importance: [Float]? = nil,
    threads: Int = Engine.default.effectiveThreads
  ) throws(OptimizationError) -> [ClippedGroup] {
    guard QuantizationScheme.supportedBits.contains(bits) else {
      throw .quantization(.unsupportedBits(bits, supported: QuantizationScheme.supportedBits))
    }
    try ThermodynamicLoss.validate(groups, layer: layer, channels: channels, importance: importance)
    let sorted = ThermodynamicLoss.sorted(groups, channels: channels, importance: importance, threads: threads)
    return search(sorted, bits: bits, mode: mode, threads: threads)
  }

  /// The search on prepared groups.
  func search(_ sorted: [SortedSamples], bits: Int, mode: QuantizationMode, threads: Int) -> [ClippedGroup] {
    var result = [ClippedGroup?](repeating: nil, count: sorted.count)
    result.withUnsafeMutableBufferPointer { output in
      let box = UncheckedSendableBox(output)
      Parallel.forEach(sorted.count, threads: threads) { group in box.value[group] = search(sorted[group], bits: bits, mode: mode) }
    }
    return result.map { $0! }
  }

  /// The best clipped range of one group.
  func search(_ data: SortedSamples, bits: Int, mode: QuantizationMode) -> ClippedGroup {
    let top = (1 << bits) - 1
    var evaluations = 0
    func error(_ range: ActivationRange) -> (Double, AffineParameters) {
      evaluations += 1
      let parameters = AffineParameters.minMax(minimum: range.lower, maximum: range.upper, bits: bits, mode: mode)
      return (Self.outputError(data, parameters, bits: bits, mode: mode, top: top), parameters)
    }
    let low = data.values.first ?? 0, high = data.values.last ?? 0
    var best = (range: ActivationRange(lower: low, upper: high), error: 0.0, parameters: AffineParameters(scale: 0, offset: 0))
    (best.error, best.parameters) = error(best.range)
    let minMaxError = best.error
    guard high > low, minMaxError > 0 else {
      return ClippedGroup(range: best.range, parameters: best.parameters, error: minMaxError, minMaxError: minMaxError, evaluations: evaluations)
    }
    // Which ends matter: zero-point mode widens the range to include 0, symmetric mode
    // uses the larger magnitude only.
    var searchUpper: Bool, searchLower: Bool
    switch mode {
    case .floatMinimum: (searchUpper, searchLower) = (true, true)
    case .zeroPoint: (searchUpper, searchLower) = (high > 0, low < 0)
    case .symmetric:
      (searchUpper, searchLower) = (abs(high) >= abs(low), abs(high) < abs(low))
    }
    let sortedCount = data.values.count
    func orderStatistic(_ percent: Double) -> Float {
      let position = Int((percent / 100 * Double(sortedCount - 1)).rounded(.down))
      return data.values[min(max(position, 0), sortedCount - 1)]
    }
    for _ in 0..<rounds {
      for upper in [true, false] where upper ? searchUpper : searchLower {
        // The moving end x = anchor + f·(extreme − anchor), f = 1 the unclipped extreme and
        // the anchor the other end of the range the parameters really cover.
        let extreme = upper ? high : low
        let anchor: Float
        switch mode {
        case .floatMinimum: anchor = upper ? best.range.lower : best.range.upper
        case .zeroPoint: anchor = upper ? min(best.range.lower, 0) : max(best.range.upper, 0)
        case .symmetric: anchor = 0
        }
        let span = Double(extreme) - Double(anchor)
        guard span != 0 else { continue }
        func range(_ fraction: Double) -> ActivationRange {
          let end = Float(Double(anchor) + fraction * span)
          if mode == .symmetric { return ActivationRange(lower: -abs(end), upper: abs(end)) }
          return upper ? ActivationRange(lower: best.range.lower, upper: end) : ActivationRange(lower: end, upper: best.range.upper)
        }
        // Grid fractions, descending from 1, plus percentiles and the current end.
        var fractions = (0..<gridPoints).map { pow(0.05, Double($0) / Double(gridPoints - 1)) }
        for percent in [99.99, 99.9, 99.0, 98.0] {
          let value = Double(orderStatistic(upper ? percent : 100 - percent))
          let fraction = (value - Double(anchor)) / span
          if fraction > 0 && fraction < 1 { fractions.append(fraction) }
        }
        let current = upper ? Double(best.range.upper) : Double(best.range.lower)
        fractions.append((current - Double(anchor)) / span)
        fractions = Array(Set(fractions)).sorted(by: >)
        var bestIndex = 0
        var bestScore = Double.infinity
        for (index, fraction) in fractions.enumerated() {
          let (value, parameters) = error(range(fraction))
          if value < best.error { best = (range(fraction), value, parameters) }
          if value < bestScore { (bestIndex, bestScore) = (index, value) }
        }
        // Zoom: 15 evenly spaced points between the best grid point's neighbours, then
        // three times more inside ± one spacing around the best (the error is not unimodal
        // in the clip — codes change pattern — so a bracketing search would be misled).
        var bestFraction = fractions[bestIndex]
        var left = fractions[min(bestIndex + 1, fractions.count - 1)], right = fractions[max(bestIndex - 1, 0)]
        for _ in 0..<Self.zoomLevels {
          let spacing = (right - left) / 16
          guard spacing > 0 else { break }
          for k in 1..<16 {
            let fraction = left + Double(k) * spacing
            let (value, parameters) = error(range(fraction))
            if value < best.error {
              best = (range(fraction), value, parameters)
              bestFraction = fraction
            }
          }
          left = max(0, bestFraction - spacing)
          right = min(1, bestFraction + spacing)
        }
      }
    }
    return ClippedGroup(range: best.range, parameters: best.parameters, error: best.error, minMaxError: minMaxError, evaluations: evaluations)
  }

  /// Σw(x − x̂)² of sorted samples at stored `parameters` (codes of x·(1/s) + z').
  static func outputError(_ data: SortedSamples, _ parameters: AffineParameters, bits: Int, mode: QuantizationMode, top: Int) -> Double {
    guard parameters.scale > 0 else {
      // s = 0 reproduces a constant group (float minimum) or zeros: x̂ = m or 0.
      let value = mode == .floatMinimum ? Double(parameters.offset) : 0
      return max(0, data.sumOfSquares - 2 * value * data.sum + value * value * data.totalWeight)
    }
    let continuous = ContinuousParameters(parameters, mode: mode)
    let sums = data.codeSums(a: Float(1 / continuous.scale), b: Float(continuous.zeroPoint), top: top)
    return ThermodynamicLoss.outputError(data, continuous, sums)
  }
}
