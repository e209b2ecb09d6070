// What every benchmark target shares: the backends to run, deterministic inputs,
// preallocated output buffers, and one configuration with the regression thresholds.
//
// The benchmark tool runs every benchmark in its own process and registers *all* of a
// target's benchmarks in each of them, so registration must be cheap: inputs are made in
// each benchmark's `setup` closure (run once, outside the measured region), never at
// registration.
import Arrowhead
import Benchmark

// MARK: - Backends

/// The runnable non-reference backends that accelerate `operation` (score > 0 at some
/// size). A backend that only delegates an operation to the reference code (OpenBLAS for
/// the quantization kernels) would measure the reference code under another name, so it is
/// left out for that operation.
public func benchmarkBackends(for operation: KernelOperation, engine: Engine = .default) -> [any Backend] {
  engine.runnableBackends.filter { $0.name != "reference" && $0.acceleratedOperations.contains(operation) }
}

/// `Engine.default` forced onto `backend` (for engines such as the flat index that dispatch
/// internally), or nil if the engine refuses it.
public func engine(forcing backend: any Backend) -> Engine? {
  try? Engine.default.forcing(backend.name)
}

// MARK: - Inputs

/// Deterministic inputs: every benchmark seeds its own generator, so its data do not depend
/// on which other benchmarks were registered or run before it.
public enum Inputs {
  /// `count` uniform floats in −1 ..< 1 (SplitMix64 from `seed`).
  public static func floats(_ count: Int, seed: UInt64) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return generator.floats(count)
  }

  /// `count` codes uniform in 0 … `maxCode`.
  public static func codes(_ count: Int, maxCode: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next() % UInt64(maxCode + 1)) }
  }

  /// Clustered vectors, closer to real embeddings than uniform noise (where every point is
  /// nearly equidistant from every other): `clusters` centres uniform in [−1, 1)^d, each
  /// point a centre plus noise that is the sum of three uniforms in ±`spread`/3 (roughly
  /// Gaussian). Returns `count` base vectors and `queryCount` queries drawn from the same
  /// clusters (never copies of base vectors), row-major.
  public static func clustered(
    count: Int, queryCount: Int, dimension: Int, clusters: Int = 100, spread: Float = 0.6, seed: UInt64
  ) -> (base: [Float], queries: [Float]) {
    var generator = SeededGenerator(seed: seed)
    let centres = generator.floats(clusters * dimension)
    func points(_ n: Int) -> [Float] {
      var out = [Float](repeating: 0, count: n * dimension)
      let third = spread / 3
      for i in 0..<n {
        let centre = Int(generator.next() % UInt64(clusters)) * dimension
        for j in 0..<dimension {
          var noise: Float = 0
          for _ in 0..<3 { noise += Float.random(in: -third..<third, using: &generator) }
          out[i * dimension + j] = centres[centre + j] + noise
        }
      }
      return out
    }
    let base = points(count)
    return (base, points(queryCount))
  }

  /// A symmetric positive-definite `order × order` matrix A·Aᵀ/order + I (A uniform),
  /// computed by the default engine's gemm (so every backend factors the same matrix).
  public static func symmetricPositiveDefinite(order: Int, seed: UInt64) -> [Float] {
    let backend = Engine.default.backend(for: .gemm, .large)
    let a = floats(order * order, seed: seed)
    var spd = [Float](repeating: 0, count: order * order)
    for i in 0..<order { spd[i * order + i] = 1 }
    backend.gemm(.normal, .transposed, rows: order, columns: order, depth: order, alpha: 1 / Float(order),
                 a, lda: order, a, ldb: order, beta: 1, &spd, ldc: order, threads: 1)
    return spd
  }
}

// MARK: - Buffers

/// A preallocated, zero-initialised output buffer, made in `setup` so that no measured
/// iteration allocates (or page-faults in) its output. A class so that the measured closure
/// can write through it; no two threads ever use one.
public final class OutputBuffer<Element: BitwiseCopyable & Numeric>: @unchecked Sendable {
  /// The elements.
  public let pointer: UnsafeMutablePointer<Element>
  /// Their number.
  public let count: Int

  /// `count` zeros.
  public init(count: Int) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
  }

  deinit { pointer.deallocate() }
}

// MARK: - Configuration and thresholds

/// The environment variable that sets the wall-clock threshold in percent (default
/// `defaultThresholdPercent`), e.g. `ARROWHEAD_BENCHMARK_THRESHOLD=20` on a quiet machine.
public let thresholdVariable = "ARROWHEAD_BENCHMARK_THRESHOLD"

/// The default wall-clock threshold in percent: fail when the best sample is more than
/// 2.5× slower than the baseline's. Two runs of unchanged code on this project's 2-vCPU VM
/// differ by up to ~2× (store-heavy kernels such as `dequantize` flip between a fast and a
/// half-speed state even with the guest idle), so a lower default fails self-checks; see
/// README.md for the measurements.
public let defaultThresholdPercent = 150.0

/// The wall-clock threshold in percent: `thresholdVariable` if it holds a positive number,
/// else `defaultThresholdPercent`.
public var thresholdPercent: Double {
  if let text = ProcessEnvironment.current[thresholdVariable], let value = Double(text), value > 0 { return value }
  return defaultThresholdPercent
}

/// The regression thresholds used by `swift package benchmark baseline check`.
///
/// - wallClock **p0**, the best sample, may be at most `thresholdPercent` % slower (a
///   change of more than that either way is reported; with a threshold of 100 % or more
///   only a slow-down can exceed it). Noise on a shared machine only ever adds time, so the best of
///   many samples moves least between two runs of the same code (the `arrowhead bench` CLI
///   reports best-of-N for the same reason), while a real regression slows every sample.
///   With kilo scaling a sample is the mean of 1000 calls, so p0 is not one lucky call.
/// - throughput is recorded and printed but not checked: it is the same measurement as
///   wallClock inverted and rounded to a whole number of calls per second, so at tens of
///   milliseconds per call it moves in steps of several percent, and a second check of one
///   number adds only spurious failures.
/// - No absolute thresholds: in ordo-one/benchmark an absolute threshold is checked *in
///   addition to* the relative one (either one fails the check), so it cannot act as a
///   floor that excuses small absolute changes. Tiny timings are handled instead by
///   `scalingFactor: .kilo` (1000 calls per sample), which keeps every sample far above the
///   clock's resolution.
public func benchmarkThresholds() -> [BenchmarkMetric: BenchmarkThresholds] {
  [.wallClock: .init(relative: [.p0: thresholdPercent]), .throughput: .init(relative: [:], absolute: [:])]
}

/// The configuration of every benchmark: wall clock and throughput, a few warm-up calls,
/// at most `maxDuration` of samples (and at most `maxIterations` of them).
///
/// - Parameters:
///   - maxDuration: nil for 1 s with `calls: .kilo`, else 0.5 s. Tiny kernels get the
///     longer window because this VM switches between a fast and a ~2× slower state every
///     second or so; a longer window makes it likely that the best sample sees the fast one.
///   - calls: `.kilo` for calls of a few microseconds or less (each sample then times 1000
///     calls; the printed figures are per call).
public func benchmarkConfiguration(
  maxDuration: Duration? = nil, maxIterations: Int = 10_000, warmup: Int = 3,
  calls: BenchmarkScalingFactor = .one
) -> Benchmark.Configuration {
  let duration = maxDuration ?? (calls == .kilo ? .seconds(1) : .milliseconds(500))
  return .init(metrics: [.wallClock, .throughput], warmupIterations: warmup, scalingFactor: calls,
               maxDuration: duration, maxIterations: maxIterations, thresholds: benchmarkThresholds())
}
