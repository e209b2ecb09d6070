import ArrowheadCore
import ArrowheadQuant
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Diffusion-like calibration activations, generated deterministically, for tests and
/// benchmarks of the time-aware optimizers (no trained diffusion model is reachable here).
///
/// Timestep t of T has noise level σ_t = √(1 − ᾱ_t) of the cosine β schedule. Its samples
/// are post-GELU activations c_t·GELU(y) with y ~ 𝒩(μ_t, 1) — 2 % of them drawn with a
/// 4× wider spread (outliers that stretch min-max ranges) — where c_t = 0.5 + 2σ_t and
/// μ_t = 0.5 − σ_t: ranges grow and skew with the noise level, as a denoiser's inputs do.
/// Samples are split evenly over the timesteps and pooled per time group (⌊iT/G⌋ split).
public enum SyntheticActivations {
  /// The largest `count` accepted: 2³⁰ samples (4 GiB of Float32).
  public static let maximumCount = 1 << 30

  /// `count` samples over `timesteps` timesteps pooled into `groups` time groups (group i
  /// holds timesteps ⌊iT/G⌋ ..< ⌊(i+1)T/G⌋), reproducible from `seed`.
  ///
  /// - Throws: `.invalidOption` naming `count` unless 0 ≤ count ≤ `maximumCount` (−1 used to
  ///   give empty groups silently, −T − 1 to trap, `Int.max` to crash allocating), and
  ///   `.invalidTimeGrouping` for timesteps and groups `TimeGrouping` refuses.
  public static func timeGrouped(count: Int, timesteps: Int, groups: Int, seed: UInt64 = 1) throws(QuantizationError) -> [[Float]] {
    guard count >= 0, count <= maximumCount else {
      throw .invalidOption(name: "count", value: "\(count)", expected: "a number of samples in 0…\(maximumCount)")
    }
    let grouping = try TimeGrouping(timesteps: timesteps, groups: groups)
    let noise = try BetaSchedule.cosine(timesteps: timesteps).noiseStandardDeviations
    var generator = SeededGenerator(seed: seed)
    var result: [[Float]] = []
    for group in 0..<groups {
      var samples: [Float] = []
      let span = grouping.timesteps(ofGroup: group)
      for timestep in span {
        let perTimestep = count / timesteps + (timestep < count % timesteps ? 1 : 0)
        let sigma = noise[timestep]
        let scale = 0.5 + 2 * sigma, mean = 0.5 - sigma
        samples.reserveCapacity(samples.count + perTimestep)
        for _ in 0..<perTimestep {
          var y = generator.nextGaussian()
          if generator.nextUnit() < 0.02 { y *= 4 }
          y += mean
          let gelu = y / (1 + exp(-1.702 * y))
          samples.append(Float(scale * gelu))
        }
      }
      result.append(samples)
    }
    return result
  }
}

extension SeededGenerator {
  /// Uniform in [0, 1): the top 53 bits of the next word.
  mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

  /// Standard normal (Box–Muller).
  mutating func nextGaussian() -> Double {
    let u = max(nextUnit(), 0x1p-53), v = nextUnit()
    return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
  }
}
