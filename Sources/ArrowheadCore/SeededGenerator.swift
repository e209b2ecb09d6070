/// A small, fast, deterministic random number generator (SplitMix64, Steele et al. 2014).
///
/// Everything in Arrowhead that draws random numbers takes a seed (`--seed` in the CLI)
/// and uses this generator, so a build, a benchmark input or a failing test reproduces
/// exactly. Not cryptographic. State: one 64-bit word; period 2⁶⁴.
///
/// ```swift
/// var generator = SeededGenerator(seed: 42)
/// let x = Float.random(in: -1..<1, using: &generator)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable {
  /// The current state.
  public private(set) var state: UInt64

  /// A generator whose sequence is determined by `seed`.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// `count` uniform floats in `range`.
  public mutating func floats(_ count: Int, in range: Range<Float> = -1..<1) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &self) }
  }
}
