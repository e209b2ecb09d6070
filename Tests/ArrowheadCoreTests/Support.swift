import Arrowhead
import Testing

/// Unit roundoff of Float32: u = 2⁻²⁴.
let unitRoundoff = 0.5 * Double(Float.ulpOfOne)

/// γₙ = n·u / (1 − n·u): the classic bound on the relative error of an n-term sum of
/// products in floating point (Higham, Accuracy and Stability, §3.1), whatever the order of
/// summation and whether products are fused or not.
func gamma(_ n: Int) -> Double {
  let nu = Double(n) * unitRoundoff
  return nu / (1 - nu)
}

/// Every runnable backend except the reference: the ones the conformance suite checks.
let backendsUnderTest: [String] = Engine.default.runnableBackends.map(\.name).filter { $0 != "reference" }

/// The backend called `name` (a test failure if missing).
func backend(_ name: String) throws -> any Backend {
  try #require(Engine.default.registry.backend(named: name), "backend \(name) not registered")
}

let reference = ReferenceBackend()

/// A deterministic generator (SplitMix64): a failure names its seed and reproduces exactly.
struct SplitMix64: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension SplitMix64 {
  /// `count` uniform floats in [low, high).
  mutating func floats(_ count: Int, in range: Range<Float> = -1..<1) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &self) }
  }
}

/// Awkward lengths: 0, 1, around every vector width (4, 8, 16) and block size, odd sizes.
let awkwardLengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 127, 129, 255, 257, 1000]

/// Calls `body` with mutable pointers to copies of `arrays` (at least one element each, so
/// that a zero-length operand still has a valid address), then returns the copies.
func withBuffers(_ arrays: [[Float]], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
  let buffers = arrays.map { array -> UnsafeMutablePointer<Float> in
    let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, array.count))
    pointer.initialize(repeating: 0, count: max(1, array.count))
    array.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.update(from: base, count: array.count) } }
    return pointer
  }
  body(buffers)
  let results = zip(arrays, buffers).map { Array(UnsafeBufferPointer(start: $1, count: $0.count)) }
  for pointer in buffers { pointer.deallocate() }
  return results
}

/// Whether two floats are the same value, treating every NaN as equal to every NaN.
func sameValue(_ a: Float, _ b: Float) -> Bool { a == b || (a.isNaN && b.isNaN) }
