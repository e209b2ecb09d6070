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
/// Multi-threaded comparisons (the benches pass these when `--threads` is above 1):
/// - `settleAfter[i]` pauses `settleSeconds` after candidate i's sample: OpenBLAS's idle
///   worker threads spin (with sched_yield) for ~0.1 s after a call, which would steal a core
///   from whichever candidate runs next. Only after OpenBLAS: a pause after every sample
///   parks Arrowhead's own pool thread too, and a parked thread woken for the next sample is
///   sometimes placed on the caller's core (seen on these 2-vCPU VMs, whose kernel packs
///   tasks onto vCPUs) until the load balancer moves it, which can last a whole sample.
/// - `warmUpSeconds` runs the candidate untimed for that long before each sample, so that
///   its threads are awake and spread when the timed loop starts.
func timeSideBySide(
  _ candidates: [() -> Void], repeats: Int, minimumSampleSeconds: Double = 0.02, clock: BenchClock = .wall,
  settleAfter: [Bool] = [], settleSeconds: Double = 0.15, warmUpSeconds: Double = 0
) -> [TimingSummary] {
  var loops: [Int] = []
  var warmUpLoops: [Int] = []
  for candidate in candidates {
    candidate()  // warm-up: page in buffers, first-touch, thread pools
    let start = monotonicSeconds()
    candidate()
    let once = max(monotonicSeconds() - start, 1e-9)
    loops.append(max(1, Int((minimumSampleSeconds / once).rounded(.up))))
    warmUpLoops.append(warmUpSeconds > 0 ? max(1, Int((warmUpSeconds / once).rounded(.up))) : 0)
  }
  var samples = [[Double]](repeating: [], count: candidates.count)
  for _ in 0..<max(1, repeats) {
    for (index, candidate) in candidates.enumerated() {
      for _ in 0..<warmUpLoops[index] { candidate() }
      let start = clock.now()
      for _ in 0..<loops[index] { candidate() }
      samples[index].append((clock.now() - start) / Double(loops[index]))
      if index < settleAfter.count, settleAfter[index] { usleep(UInt32(settleSeconds * 1e6)) }
    }
  }
  return samples.map(TimingSummary.init(samples:))
}

/// Whether a candidate's backend leaves spinning threads behind (OpenBLAS's pool), so that a
/// multi-threaded comparison pauses after its samples (`timeSideBySide`'s `settleAfter`).
func leavesSpinningThreads(backend name: String) -> Bool {
  name.lowercased().hasPrefix("openblas")
}

/// `count` uniform floats in [-1, 1) from `generator`.
func randomFloats(_ count: Int, using generator: inout SeededGenerator) -> [Float] {
  generator.floats(count)
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
