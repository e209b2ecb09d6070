import Arrowhead
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// CPU seconds consumed by the calling thread: immune to time-slicing by other processes
/// on a shared machine, meaningful only for single-threaded work on this thread.
func threadCPUSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Which clock `timeSideBySide` reads.
enum BenchClock: String, CaseIterable, Sendable, Codable {
  /// Wall-clock (monotonic) time: what a user waits for.
  case wall
  /// CPU time of the calling thread (single-threaded runs on a noisy shared machine).
  case thread

  func now() -> Double { self == .wall ? monotonicSeconds() : threadCPUSeconds() }
}

/// Best and median of repeated timings of one candidate.
struct TimingSummary: Codable, Sendable {
  /// Fastest sample, seconds per call.
  var best: Double
  /// Median sample, seconds per call.
  var median: Double
  /// Every sample (seconds per call).
  var samples: [Double]

  init(samples: [Double]) {
    let sorted = samples.sorted()
    self.samples = samples
    best = sorted.first ?? .nan
    median = sorted.isEmpty ? .nan : (sorted.count % 2 == 1
      ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2)
  }
}

/// Times several candidates side by side: every repeat runs each candidate once in turn
/// (round-robin), so that a noisy neighbour slows them all alike. A sample loops the call
/// enough times to last ≥ `minimumSampleSeconds` (calibrated by a warm-up call).
///
/// `settleSeconds` pauses before each sample: OpenBLAS's idle worker threads spin (with
/// sched_yield) for ~0.1 s after a call, which would steal a core from whichever candidate
/// runs next in a multi-threaded comparison.
func timeSideBySide(
  _ candidates: [() -> Void], repeats: Int, minimumSampleSeconds: Double = 0.02, clock: BenchClock = .wall,
  settleSeconds: Double = 0
) -> [TimingSummary] {
  var loops: [Int] = []
  for candidate in candidates {
    candidate()  // warm-up: page in buffers, first-touch, thread pools
    let start = monotonicSeconds()
    candidate()
    let once = max(monotonicSeconds() - start, 1e-9)
    loops.append(max(1, Int((minimumSampleSeconds / once).rounded(.up))))
  }
  var samples = [[Double]](repeating: [], count: candidates.count)
  for _ in 0..<max(1, repeats) {
    for (index, candidate) in candidates.enumerated() {
      if settleSeconds > 0 { usleep(UInt32(settleSeconds * 1e6)) }
      let start = clock.now()
      for _ in 0..<loops[index] { candidate() }
      samples[index].append((clock.now() - start) / Double(loops[index]))
    }
  }
  return samples.map(TimingSummary.init(samples:))
}

/// A deterministic generator (SplitMix64) for benchmark and test data, so that `--seed`
/// reproduces inputs exactly.
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

/// `count` uniform floats in [-1, 1) from `generator`.
func randomFloats(_ count: Int, using generator: inout SplitMix64) -> [Float] {
  (0..<count).map { _ in Float.random(in: -1..<1, using: &generator) }
}

/// Peak single-core FLOP rate of the best runnable SIMD variant, measured with a
/// register-only multiply-add loop (best of 5 × ~20 ms).
func measuredPeakGFLOPS(cpu: CPUInfo = .current) -> (gflops: Double, variant: String) {
  let variants = compiledSIMDVariants.filter { $0.isRunnable(on: cpu) }
  guard let best = variants.max(by: { $0.level < $1.level }) else { return (.nan, "none") }
  let iterations = 2_000_000
  var sink: Float = 0
  let timing = timeSideBySide([{ sink += best.peakLoop(iterations: iterations) }], repeats: 5, clock: .thread)[0]
  if sink == .infinity { StandardError.write("") }  // keep `sink` alive
  return (best.peakLoopFlops(iterations: iterations) / timing.best / 1e9, best.name)
}
