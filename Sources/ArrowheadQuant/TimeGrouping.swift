/// A split of T diffusion timesteps into G contiguous time groups.
///
/// Group i holds timesteps ⌊i·T/G⌋ ..< ⌊(i+1)·T/G⌋, so group sizes differ by at most one
/// and every timestep belongs to exactly one group (for T = 1000, G = 10: 0..<100, …).
///
/// Why groups at all: a diffusion model's weights are shared by every timestep and are
/// quantized once, but each layer's *activation* range drifts with the timestep (large,
/// noise-dominated inputs early in sampling, small ones late). One activation scale for all
/// timesteps wastes precision; one per timestep is costly to calibrate and store. G groups
/// of adjacent timesteps share one scale/zero-point each.
public struct TimeGrouping: Sendable, Hashable, Codable {
  /// Timesteps T.
  public let timesteps: Int
  /// Groups G.
  public let groups: Int

  /// The largest number of timesteps T accepted (2²⁰ = 1 048 576). Diffusion samplers use
  /// T = 1000 or a few thousand; per-timestep tables (smoothing) hold T entries per layer,
  /// so a cap keeps a mistyped T from turning into hours of work or gigabytes of tables.
  public static let maximumTimesteps = 1 << 20

  /// Creates a grouping; throws unless 1 ≤ G ≤ T ≤ `maximumTimesteps`.
  public init(timesteps: Int, groups: Int) throws(QuantizationError) {
    guard timesteps >= 1, timesteps <= Self.maximumTimesteps else {
      throw .invalidTimeGrouping(reason: "the number of timesteps must be in 1…\(Self.maximumTimesteps), got \(timesteps)")
    }
    guard groups >= 1, groups <= timesteps else {
      throw .invalidTimeGrouping(reason: "the number of time groups must be in 1…\(timesteps) (the timesteps), got \(groups)")
    }
    self.timesteps = timesteps
    self.groups = groups
  }

  /// ⌊i·T/G⌋ for i = 0…G: G + 1 boundaries, the first 0 and the last T.
  public var boundaries: [Int] { (0...groups).map { $0 * timesteps / groups } }

  /// The timesteps of group `index`.
  ///
  /// Precondition: 0 ≤ index < G (every caller iterates 0 ..< G). Another index gives a
  /// range outside 0 ..< T, and one whose product with T overflows (|index| near
  /// `Int.max` / T) traps.
  public func timesteps(ofGroup index: Int) -> Range<Int> {
    (index * timesteps / groups)..<((index + 1) * timesteps / groups)
  }

  /// The group holding `timestep`: the largest i with ⌊i·T/G⌋ ≤ timestep. O(1): the
  /// estimate ⌊timestep·G/T⌋ is off by at most one.
  ///
  /// - Throws: `.invalidTimeGrouping` naming the timestep when it lies outside 0 ..< T (a
  ///   sampler's timestep is user data: a negative or too large one used to be clamped to
  ///   the first or last group, and one near `Int.max` trapped).
  public func group(ofTimestep timestep: Int) throws(QuantizationError) -> Int {
    guard timestep >= 0, timestep < timesteps else {
      throw .invalidTimeGrouping(reason: "timestep \(timestep) is outside 0..<\(timesteps) (\(timesteps) timesteps in \(groups) groups)")
    }
    return uncheckedGroup(ofTimestep: timestep)
  }

  /// `group(ofTimestep:)` for a timestep known to lie in 0 ..< T (T, G ≤ 2²⁰: no overflow).
  @inline(__always)
  package func uncheckedGroup(ofTimestep timestep: Int) -> Int {
    var index = min(groups - 1, (timestep * groups) / timesteps)
    while index > 0 && index * timesteps / groups > timestep { index -= 1 }
    while index + 1 < groups && (index + 1) * timesteps / groups <= timestep { index += 1 }
    return index
  }
}

/// A diffusion noise schedule β₁…β_T and its cumulative products ᾱ_t = Π_{s≤t} (1 − β_s).
///
/// x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, so the noise part of a layer's input — and with it the
/// activation range that time-aware quantization tracks — grows with t as √(1 − ᾱ_t).
/// Use a schedule to synthesise or sanity-check calibration statistics, or to weight
/// timesteps.
public struct BetaSchedule: Sendable, Hashable {
  /// Which formula produced the schedule.
  public enum Kind: String, Sendable, Codable, CaseIterable {
    /// Linearly spaced β (DDPM, Ho et al. 2020).
    case linear
    /// β from a squared-cosine ᾱ (improved DDPM, Nichol & Dhariwal 2021).
    case cosine
  }

  /// The formula.
  public let kind: Kind
  /// β_t for t = 0 ..< T.
  public let betas: [Double]
  /// ᾱ_t = Π_{s≤t} (1 − β_s) for t = 0 ..< T.
  public let alphaProducts: [Double]

  init(kind: Kind, betas: [Double]) {
    self.kind = kind
    self.betas = betas
    var product = 1.0
    alphaProducts = betas.map { beta in
      product *= 1 - beta
      return product
    }
  }

  /// β_t = start + (end − start)·t/(T − 1): DDPM's defaults 10⁻⁴ → 0.02 over T = 1000.
  /// Throws `.invalidOption` unless 1 ≤ T ≤ `TimeGrouping.maximumTimesteps` and
  /// 0 < start ≤ end < 1.
  public static func linear(timesteps: Int, start: Double = 1e-4, end: Double = 0.02) throws(QuantizationError) -> BetaSchedule {
    try Self.checkTimesteps(timesteps)
    guard start > 0, start <= end, end < 1 else {
      throw .invalidOption(name: "beta range", value: "\(start)…\(end)", expected: "0 < start ≤ end < 1")
    }
    let step = timesteps > 1 ? (end - start) / Double(timesteps - 1) : 0
    return BetaSchedule(kind: .linear, betas: (0..<timesteps).map { start + step * Double($0) })
  }

  /// Cosine schedule: f(t) = cos²(((t/T) + s)/(1 + s)·π/2), ᾱ_t = f(t)/f(0),
  /// β_t = min(1 − ᾱ_{t+1}/ᾱ_t, maximumBeta) with s = 0.008 (so that β₀ is not tiny) and
  /// maximumBeta = 0.999 (avoids a singular end), the published defaults.
  /// Throws `.invalidOption` unless 1 ≤ T ≤ `TimeGrouping.maximumTimesteps`, s ≥ 0 and
  /// 0 < maximumBeta < 1.
  public static func cosine(timesteps: Int, offset: Double = 0.008, maximumBeta: Double = 0.999) throws(QuantizationError) -> BetaSchedule {
    try Self.checkTimesteps(timesteps)
    guard offset >= 0 else { throw .invalidOption(name: "cosine offset", value: "\(offset)", expected: "≥ 0") }
    guard maximumBeta > 0, maximumBeta < 1 else {
      throw .invalidOption(name: "maximumBeta", value: "\(maximumBeta)", expected: "0 < maximumBeta < 1")
    }
    func f(_ t: Double) -> Double {
      let angle = (t / Double(timesteps) + offset) / (1 + offset) * Double.pi / 2
      let c = cosine(angle)
      return c * c
    }
    let betas = (0..<timesteps).map { t in Swift.min(1 - f(Double(t + 1)) / f(Double(t)), maximumBeta) }
    return BetaSchedule(kind: .cosine, betas: betas)
  }

  /// Throws unless 1 ≤ `timesteps` ≤ `TimeGrouping.maximumTimesteps` (a schedule holds T
  /// values: T = `Int.max` used to crash allocating them).
  static func checkTimesteps(_ timesteps: Int) throws(QuantizationError) {
    guard timesteps >= 1, timesteps <= TimeGrouping.maximumTimesteps else {
      throw .invalidOption(name: "timesteps", value: "\(timesteps)", expected: "1…\(TimeGrouping.maximumTimesteps)")
    }
  }

  /// The number of timesteps.
  public var timesteps: Int { betas.count }

  /// √(1 − ᾱ_t): the standard deviation of the noise in x_t for unit-variance noise.
  public var noiseStandardDeviations: [Double] { alphaProducts.map { (1 - $0).squareRoot() } }

  /// cos via the standard library's Double (no Foundation needed).
  private static func cosine(_ x: Double) -> Double { _cos(x) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Musl)
import Musl
@inline(__always) func _cos(_ x: Double) -> Double { Musl.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
