#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CArrowheadCPU

/// One representative call of a kernel, run on each candidate backend to time it.
struct CalibrationProblem {
  /// What it computes, in words ("gemm 17×33×45").
  var label: String
  /// Runs the kernel once on `backend` (on buffers prepared when the problem was made).
  var run: (any Backend) -> Void
}

/// Random inputs shared by the calibration problems of one measurement session.
///
/// Where an operand starts relative to a 64-byte cache line changes what an AVX-512 kernel
/// costs (a 512-bit load across two lines takes two load slots: on the Xeon 6/207 a dot of
/// 1024 floats ran at 39 G pairs/s with both operands on lines, 28 with one 16 bytes off,
/// 20 with both off, where the AVX2 kernel ran at 23–25 in every case), so the placement is
/// explicit: `floats` and `others` start 16 bytes past a line (where glibc's allocations
/// of this size put them, which every problem measured before this was written),
/// `lineFloats` and `lineOthers` are the same values on a line.
final class CalibrationScratch {
  /// Floats in [−1, 1): enough for every problem's operands; 16 bytes past a cache line.
  let floats: UnsafeMutablePointer<Float>
  /// A second operand; 16 bytes past a cache line.
  let others: UnsafeMutablePointer<Float>
  /// `floats` moved back onto its cache line (same values from the fifth on: the buffer
  /// starts 4 floats earlier).
  var lineFloats: UnsafeMutablePointer<Float> { floats - Self.lineOffset }
  /// `others` moved back onto its cache line.
  var lineOthers: UnsafeMutablePointer<Float> { others - Self.lineOffset }
  /// Floats from a cache line to `floats` and `others`.
  static let lineOffset = 4
  /// A 768 × 768 matrix (2.25 MiB, on a cache line; `floats`' values repeated): the large
  /// gemv problem that is past a Zen 4 or Xeon 6 core's L2, where Aᵀ·x streams rows.
  let wideFloats: UnsafeMutablePointer<Float>
  /// Floats in `wideFloats`.
  static let wideCapacity = 768 * 768
  /// An output buffer.
  let output: UnsafeMutablePointer<Float>
  /// A buffer restored before in-place kernels (factorisations).
  let work: UnsafeMutablePointer<Float>
  /// Random bytes (codes, packed codes).
  let bytes: UnsafeMutablePointer<UInt8>
  /// An output byte buffer.
  let outputBytes: UnsafeMutablePointer<UInt8>
  /// Row indices for the batch kernels (64).
  let rowIndices: UnsafeMutablePointer<UInt32>
  /// An integer query (`sq8DotInt16Rows`): 512 values in ±2¹⁴.
  let integerQuery: UnsafeMutablePointer<Int16>
  /// Floats per buffer.
  static let capacity = 1 << 18

  init() {
    func onLine() -> UnsafeMutablePointer<Float> {
      UnsafeMutableRawPointer.allocate(byteCount: (Self.capacity + Self.lineOffset) * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: Self.capacity + Self.lineOffset) + Self.lineOffset
    }
    floats = onLine()
    others = onLine()
    output = .allocate(capacity: Self.capacity)
    work = .allocate(capacity: Self.capacity)
    bytes = .allocate(capacity: Self.capacity)
    outputBytes = .allocate(capacity: Self.capacity)
    rowIndices = .allocate(capacity: 64)
    rowIndices.initialize(repeating: 0, count: 64)
    integerQuery = .allocate(capacity: 512)
    var generator = SeededGenerator(seed: 0x5EED)
    for i in 0..<512 { integerQuery[i] = Int16.random(in: -16_384...16_384, using: &generator) }
    for i in 0..<Self.capacity {
      floats[i] = Float.random(in: -1..<1, using: &generator)
      others[i] = Float.random(in: -1..<1, using: &generator)
      bytes[i] = UInt8.random(in: 0...255, using: &generator)
    }
    wideFloats = UnsafeMutableRawPointer.allocate(byteCount: Self.wideCapacity * 4, alignment: 64)
      .bindMemory(to: Float.self, capacity: Self.wideCapacity)
    var filled = 0
    while filled < Self.wideCapacity {
      let count = min(Self.capacity, Self.wideCapacity - filled)
      (wideFloats + filled).initialize(from: floats, count: count)
      filled += count
    }
    lineFloats.initialize(repeating: 0, count: Self.lineOffset)
    lineOthers.initialize(repeating: 0, count: Self.lineOffset)
    output.initialize(repeating: 0, count: Self.capacity)
    work.initialize(repeating: 0, count: Self.capacity)
    outputBytes.initialize(repeating: 0, count: Self.capacity)
  }

  deinit {
    UnsafeMutableRawPointer(lineFloats).deallocate()
    UnsafeMutableRawPointer(lineOthers).deallocate()
    UnsafeMutableRawPointer(wideFloats).deallocate()
    for pointer in [output, work] { pointer.deallocate() }
    bytes.deallocate()
    outputBytes.deallocate()
    rowIndices.deallocate()
    integerQuery.deallocate()
  }
}

/// The measurement behind measured dispatch: times every candidate on a few representative
/// problems per (operation, size class), remembers the figures for the process and caches
/// them on disk (`DispatchCache`).
enum Calibration {
  /// What `results(for:…)` found.
  struct Outcome {
    /// Seconds per call by entry ("gemm/small") and backend name.
    var timings: [String: [String: Double]]
    /// Whether the figures were measured by an earlier process.
    var fromCache: Bool
    /// What happened to the on-disk cache.
    var cache: DispatchPlan.CacheStatus
    /// Seconds spent measuring now.
    var seconds: Double
  }

  /// Figures measured in this process (or read from disk), by cache key. The lock is held
  /// for the whole of a look-up, measurement included: two engines created at once never
  /// time kernels against each other (on a 2-core machine each would halve the other's
  /// figures), and the second waits for and reuses the first's figures. Once an entry is
  /// in the memo it is never replaced except by `.remeasure`, so that every engine of a
  /// process makes the same choices — and the same choice gives bit-identical results.
  private static let memo = LockedValue<[String: Outcome]>([:])

  /// The name of a (operation, size class) entry.
  static func entryName(_ operation: KernelOperation, _ shape: ShapeClass) -> String { "\(operation.name)/\(shape.rawValue)" }

  /// Seconds per call of every candidate for every requested entry: from this process's
  /// memo, else from the disk cache (when complete and valid), else measured now (and then
  /// cached). Entries the memo lacks are measured and added; those it holds are kept.
  static func results(
    for entries: [(KernelOperation, ShapeClass, [Int])], runnable: [any Backend], cpu: CPUInfo, threads: Int,
    remeasure: Bool
  ) -> Outcome {
    let key = DispatchCache.key(runnable: runnable, cpu: cpu, threads: threads)
    // Entries without calibration problems (the static preference decides them) are never
    // measured, so they are neither waited for in the cache nor measured below.
    let entries = entries.filter { !problemDescription($0.0, $0.1).isEmpty }
    func isComplete(_ timings: [String: [String: Double]], _ entry: (KernelOperation, ShapeClass, [Int])) -> Bool {
      guard let known = timings[entryName(entry.0, entry.1)] else { return false }
      return entry.2.allSatisfy { known[runnable[$0].name] != nil }
    }
    func complete(_ timings: [String: [String: Double]]) -> Bool { entries.allSatisfy { isComplete(timings, $0) } }
    return memo.withLock { memo -> Outcome in
      var base: [String: [String: Double]] = [:]
      if !remeasure {
        if let known = memo[key] {
          if complete(known.timings) { return known }
          base = known.timings
        } else if let path = DispatchCache.path(for: key), let cached = DispatchCache.load(path: path, key: key),
          complete(cached.timings), !measuredWhileBusy(cached.load, cpu: cpu, now: currentLoadAverage())
        {
          DispatchCache.touch(path: path)
          let outcome = Outcome(timings: cached.timings, fromCache: true, cache: .read(path: path), seconds: 0)
          memo[key] = outcome
          return outcome
        }
      }
      let started = monotonicSeconds()
      let measured = measureEntries(entries.filter { !isComplete(base, $0) }, runnable: runnable, threads: threads)
      // Only incomplete entries were measured: their new figures replace the partial ones.
      let timings = base.merging(measured) { _, new in new }
      let elapsed = monotonicSeconds() - started
      let status: DispatchPlan.CacheStatus
      if let path = DispatchCache.path(for: key) {
        switch DispatchCache.store(path: path, key: key, contents: DispatchCache.Contents(timings: timings, load: currentLoadAverage())) {
        case .success: status = .written(path: path)
        case .failure(let problem): status = .unavailable(reason: problem.reason)
        }
      } else {
        status = .unavailable(reason: "no cache directory (set ARROWHEAD_CACHE_DIR, XDG_CACHE_HOME or HOME)")
      }
      let outcome = Outcome(timings: timings, fromCache: false, cache: status, seconds: elapsed)
      memo[key] = outcome
      return outcome
    }
  }

  /// One step of a calibration: time `candidates` (indices into `runnable`) on the problems of
  /// entry `entry` (an index into the entries measured).
  struct Step: Equatable {
    var entry: Int
    var candidates: [Int]
  }

  /// The order in which `entries`' candidates are timed.
  ///
  /// With one thread: each entry once, its candidates timed in turn (a noisy neighbour slows
  /// them alike). With several threads, backends whose workers spin after a call (OpenBLAS)
  /// are timed in a second pass, after every other backend's entries: timed in turn with
  /// them, they would leave a thread yielding on another core while the next candidate runs
  /// (see `waitForSpinningThreadsToPark`). Candidates of one entry in different passes are
  /// then timed a fraction of a second apart, so a slow stretch of the machine can land on
  /// one side only (measured on AMD Zen 4: module README, "Slow stretches across the two
  /// passes"). So each entry with candidates in both passes is timed twice in each pass, the
  /// two first-pass timings a whole pass apart, and each candidate keeps its faster figure
  /// (`combine`, which also rescales by `yardstickSeconds`). Small entries come first in each pass:
  /// they run on one thread, and by the time they are done the wait before the first large
  /// multi-threaded entry is mostly over.
  static func schedule(
    _ entries: [(KernelOperation, ShapeClass, [Int])], spins: (Int) -> Bool, threads: Int
  ) -> [Step] {
    let ordered = entries.indices.filter { entries[$0].1 == .small } + entries.indices.filter { entries[$0].1 != .small }
    guard threads > 1 else { return ordered.map { Step(entry: $0, candidates: entries[$0].2) } }
    func pass(_ spinning: Bool, onlyContested: Bool) -> [Step] {
      ordered.compactMap { index in
        let candidates = entries[index].2
        let mine = candidates.filter { spins($0) == spinning }
        let contested = candidates.contains(where: spins) && candidates.contains { !spins($0) }
        return mine.isEmpty || (onlyContested && !contested) ? nil : Step(entry: index, candidates: mine)
      }
    }
    return pass(false, onlyContested: false) + pass(false, onlyContested: true)
      + pass(true, onlyContested: false) + pass(true, onlyContested: true)
  }

  /// Times `entries`' candidates in the order of `schedule`, then the steps of
  /// `confirmationSteps`; seconds per call by entry name and backend name (an entry timed
  /// more than once keeps each candidate's fastest figure).
  private static func measureEntries(
    _ entries: [(KernelOperation, ShapeClass, [Int])], runnable: [any Backend], threads: Int
  ) -> [String: [String: Double]] {
    let scratch = CalibrationScratch()
    let spins = { (index: Int) in runnable[index].leavesSpinningThreads }
    let spinningRunnable = runnable.contains(where: \.leavesSpinningThreads)
    var steps: [StepFigures] = []
    // The yardstick timed before the first step of a spinning backend, when no thread of
    // it spins yet (see `spinningYardstick`).
    var beforeSpinning: Double?
    func time(_ step: Step) {
      let (operation, shape, _) = entries[step.entry]
      let problems = self.problems(operation, shape, threads: threads, scratch)
      guard !problems.isEmpty else { return }
      if threads > 1, shape == .large, spinningRunnable { waitForSpinningThreadsToPark() }
      let backends = step.candidates.map { runnable[$0] }
      // With several threads, a yardstick timed before and after the step; the faster of the
      // two counts, so that a moment's hiccup in one of them does not rescale figures the
      // step timed at full speed. One thread: `combine` keeps figures as timed, no yardstick.
      let before = threads > 1 ? yardstickSeconds(scratch) : 1
      let seconds = measure(backends, problems)
      var yardstick = threads > 1 ? min(before, yardstickSeconds(scratch)) : 1
      if threads > 1, backends.contains(where: \.leavesSpinningThreads) {
        if beforeSpinning == nil { beforeSpinning = before }
        yardstick = spinningYardstick(yardstick, beforeSpinning: beforeSpinning ?? before)
      }
      steps.append(
        StepFigures(entry: entryName(operation, shape), backends: backends.map(\.name), seconds: seconds, yardstick: yardstick))
    }
    for step in schedule(entries, spins: spins, threads: threads) { time(step) }
    let confirmation = confirmationSteps(
      entries, timings: combine(steps, threads: threads), names: { runnable[$0].name }, spins: spins,
      favourite: { DispatchPlan.staticWinner(entries[$0].2, runnable, entries[$0].0, entries[$0].1) }, threads: threads)
    if let first = confirmation.first, !spins(first.candidates[0]), spinningRunnable {
      // The spinning pass just ended: its threads still spin for up to a tenth of a second.
      usleep(UInt32(spinningThreadsSettle * 1e6))
    }
    for step in confirmation { time(step) }
    return combine(steps, threads: threads)
  }

  /// The position of the highest static score (the first on a tie; a candidate without a
  /// preference scores lowest), nil for no candidates: how `DispatchPlan.staticWinner`
  /// decides among figures within 5 % of each other.
  static func favourite(_ scores: [Int?]) -> Int? {
    var best: (position: Int, score: Int)?
    for (position, score) in scores.enumerated() {
      let score = score ?? Int.min
      if let current = best, score <= current.score { continue }
      best = (position, score)
    }
    return best?.position
  }

  /// Steps timed once more after the passes of `schedule` (several threads, large entries
  /// only): for each entry with candidates on both sides (backends that leave spinning
  /// threads and backends that do not) whose figures so far would take the choice away from
  /// its static favourite (`favourite`, an index into `runnable`) to the other side — the
  /// other side's fastest figure more than 5 % but less than 2× below the favourite side's —
  /// the favourite's side is timed again. Steps without spinning backends come first.
  ///
  /// The two sides are timed a fraction of a second apart, and a stretch that slows only
  /// multi-threaded work escapes the single-threaded yardstick. One was our pool's first
  /// thread sharing its creator's vCPU for about a tenth of a second (AMD Zen 4: the v4 gemv
  /// 768×768 at 18.6 µs in both first-pass timings against 8–13 µs usually, OpenBLAS at 12 in
  /// its pass), since fixed where the pool starts its threads (`pool.c`); another process on
  /// the other vCPU would be the same. One more timing, later, keeps such a stretch from
  /// deciding alone. A favourite slower by 2× or more is not re-timed (no stretch measured
  /// here slowed a step that much; on this Zen 4 LAPACKE's small Cholesky runs 2.0–3.1 µs
  /// against the Swift one's 3.4–5.1 every time), nor are small entries, whose problems run
  /// on one thread: a confirmation waits for the spinning threads to park (0.2 s) before
  /// timing the quiet side.
  static func confirmationSteps(
    _ entries: [(KernelOperation, ShapeClass, [Int])], timings: [String: [String: Double]],
    names: (Int) -> String, spins: (Int) -> Bool, favourite: (Int) -> Int?, threads: Int
  ) -> [Step] {
    guard threads > 1 else { return [] }
    var quiet: [Step] = [], spinning: [Step] = []
    for (index, entry) in entries.enumerated() {
      let (operation, shape, candidates) = entry
      guard shape == .large, let known = timings[entryName(operation, shape)], let preferred = favourite(index),
        candidates.contains(preferred)
      else { continue }
      let side = spins(preferred)
      func fastest(onSide wanted: Bool) -> Double? {
        candidates.filter { spins($0) == wanted }.compactMap { known[names($0)] }.min()
      }
      guard let mine = fastest(onSide: side), let theirs = fastest(onSide: !side), mine > theirs * 1.05,
        mine <= theirs * 2
      else { continue }
      let step = Step(entry: index, candidates: candidates.filter { spins($0) == side })
      if side { spinning.append(step) } else { quiet.append(step) }
    }
    return quiet + spinning
  }

  /// The yardstick that counts for a step of a backend whose threads spin after a call:
  /// the step's own (`timed`), but never slower than the one timed before the first such
  /// step (`beforeSpinning`), so that such a step is rescaled at most as much as the
  /// machine was slow when the spinning pass began.
  ///
  /// The spinning threads slow the yardstick, not the backend they belong to: on the 2-vCPU
  /// Zen 4 VM the yardstick around OpenBLAS's two-thread steps read 6.1–7.1 µs (once 14.8)
  /// where the rest of the same calibration read 4.6, while OpenBLAS's own figures were its
  /// usual ones. Rescaled by it, OpenBLAS's large gemv went from 19.4 µs as timed to 14.6
  /// against the v4 kernel's 20.3, and its dot from 112–128 ns to 48 against 65: fresh
  /// two-thread calibrations sent the large gemm to OpenBLAS in 0–7 of 60 and the large
  /// gemv in 0–6 of 60 (module README, "Yardsticks beside spinning threads").
  static func spinningYardstick(_ timed: Double, beforeSpinning: Double) -> Double {
    min(timed, beforeSpinning)
  }

  /// What one calibration step measured.
  struct StepFigures {
    /// The entry ("gemm/small").
    var entry: String
    /// The candidates timed, by name.
    var backends: [String]
    /// Seconds per call of each candidate.
    var seconds: [Double]
    /// `yardstickSeconds` around the step.
    var yardstick: Double
  }

  /// Seconds per call by entry and backend from the steps of one calibration. With several
  /// threads an entry's candidates can be timed in different steps, a pass apart, so each
  /// step's figures are first scaled to the machine's fastest state in this calibration (by
  /// the fastest yardstick over the step's own); a candidate timed in more than one step
  /// keeps its fastest figure. With one thread every entry is one step whose candidates were
  /// timed in turn, and its figures are kept as timed.
  static func combine(_ steps: [StepFigures], threads: Int) -> [String: [String: Double]] {
    let fastest = steps.map(\.yardstick).filter { $0 > 0 && $0.isFinite }.min()
    var timings: [String: [String: Double]] = [:]
    for step in steps {
      var scale = 1.0
      if threads > 1, let fastest, step.yardstick > 0, step.yardstick.isFinite { scale = fastest / step.yardstick }
      for (name, time) in zip(step.backends, step.seconds) {
        timings[step.entry, default: [:]][name] = min(timings[step.entry]?[name] ?? .infinity, time * scale)
      }
    }
    return timings
  }

  /// Seconds for a fixed piece of work (multiply–adds over 2 × 32 768 floats, 256 KiB that
  /// stay in a core's L2, twice; best of three), timed before and after every step of a
  /// calibration with several threads. On a shared 2-vCPU VM the whole process can run 1.2–1.6× slower for a while
  /// (measured on an AMD Zen 4 host: one fresh calibration in four or five, every candidate
  /// of a step alike, the slow stretch often lasting a whole pass), so figures timed a pass
  /// apart are compared only after dividing out what this yardstick says about the
  /// machine's speed at the time. (A yardstick in L1 missed slow stretches that slowed the
  /// L2-resident gemv problems.)
  static func yardstickSeconds(_ scratch: CalibrationScratch) -> Double {
    let x = UnsafePointer(scratch.floats), y = UnsafePointer(scratch.others)
    var best = Double.infinity
    var total: Float = 0
    for _ in 0..<3 {
      let start = monotonicSeconds()
      var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
      for _ in 0..<2 {
        var i = 0
        while i < 32_768 {
          a += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
          b += UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + i + 8).loadUnaligned(as: SIMD8<Float>.self)
          c += UnsafeRawPointer(x + i + 16).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + i + 16).loadUnaligned(as: SIMD8<Float>.self)
          d += UnsafeRawPointer(x + i + 24).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + i + 24).loadUnaligned(as: SIMD8<Float>.self)
          i += 32
        }
      }
      total += ((a + b) + (c + d)).sum()
      best = min(best, monotonicSeconds() - start)
    }
    scratch.output[0] = total  // keeps the work from being optimised away
    return best
  }

  /// Whether figures measured at load average `then` should be measured again now: they were
  /// taken on an oversubscribed machine (load above the core count) and the machine is now at
  /// most half as loaded.
  static func measuredWhileBusy(_ then: Double, cpu: CPUInfo, now: Double) -> Bool {
    then > Double(cpu.logicalCores) && now <= then / 2
  }

  /// The calibration problems of one entry (none: the static preference decides).
  static func problems(
    _ operation: KernelOperation, _ shape: ShapeClass, threads: Int, _ scratch: CalibrationScratch
  ) -> [CalibrationProblem] {
    switch operation.family {
    case .level1: level1Problems(operation, shape, scratch)
    case .matrix: matrixProblems(operation, shape, threads: threads, scratch)
    case .distances: distanceProblems(operation, shape, threads: threads, scratch)
    case .quantization: quantizationProblems(operation, shape, scratch)
    case .searchCodes: searchCodeProblems(operation, shape, scratch)
    case .optimizer: optimizerProblems(operation, shape, scratch)
    case .linearAlgebra: linearAlgebraProblems(operation, shape, scratch)
    case .quantizedMatmul: quantizedMatmulProblems(operation, shape, threads: threads, scratch)
    case .transformer: []  // one SIMD implementation per ISA: the static preference (highest level) decides
    }
  }

  /// The problems of an entry in words, for reports.
  static func problemDescription(_ operation: KernelOperation, _ shape: ShapeClass) -> String {
    problemLabels[entryName(operation, shape)] ?? ""
  }

  /// Labels of every entry's problems, recorded when problems are made.
  private static let problemLabels: [String: String] = labelsOfAllProblems()

  private static func labelsOfAllProblems() -> [String: String] {
    let scratch = CalibrationScratch()
    var labels: [String: String] = [:]
    for operation in KernelOperation.allCases {
      for shape in ShapeClass.allCases {
        labels[entryName(operation, shape)] = problems(operation, shape, threads: 1, scratch).map(\.label).joined(separator: ", ")
      }
    }
    return labels
  }

  /// Geometric-mean seconds per call of each backend over `problems`: per problem, each
  /// candidate's repetition count is set so that one sample lasts ~40 µs, then three rounds
  /// run the candidates in turn (a noisy neighbour slows them alike) and the best round
  /// counts.
  static func measure(_ backends: [any Backend], _ problems: [CalibrationProblem]) -> [Double] {
    var logSums = [Double](repeating: 0, count: backends.count)
    for problem in problems {
      var repetitions = [Int](repeating: 1, count: backends.count)
      for (index, backend) in backends.enumerated() {
        problem.run(backend)  // warm the caches and any lazy set-up
        var count = 1
        while true {
          let elapsed = time(count, problem, backend)
          if elapsed >= 10e-6 || count >= 1 << 16 {
            repetitions[index] = max(1, min(1 << 18, Int((40e-6 / max(elapsed, 1e-9)) * Double(count))))
            break
          }
          count *= 4
        }
      }
      var best = [Double](repeating: .infinity, count: backends.count)
      for _ in 0..<3 {
        for (index, backend) in backends.enumerated() {
          best[index] = min(best[index], time(repetitions[index], problem, backend) / Double(repetitions[index]))
        }
      }
      for index in backends.indices { logSums[index] += log(max(best[index], 1e-12)) }
    }
    return logSums.map { exp($0 / Double(problems.count)) }
  }

  /// Seconds after the libraries' load during which OpenBLAS's worker threads, started by
  /// its constructor, still spin: its pthreads server yields in a loop for 2²⁸ TSC cycles
  /// (0.07–0.14 s at 2–3.7 GHz) before it sleeps, after start-up and after every call.
  static let spinningThreadsSettle = 0.2

  /// Sleeps until `spinningThreadsSettle` after the load. Multi-threaded problems timed
  /// earlier shared a core with those spinning threads: on the Xeon 6/207 (OpenBLAS
  /// SkylakeX), the two-thread SIMD gemm 256³ took 160–176 µs per call in calibration (465
  /// for its first calls) against 80–87 with `OPENBLAS_NUM_THREADS=1`, so the plan sent
  /// every large two-thread gemm to OpenBLAS (120–140 µs). OpenBLAS's own samples come
  /// last (the second pass), so its later spinning meets no other candidate.
  static func waitForSpinningThreadsToPark() {
    let left = arrowhead_loaded_at() + spinningThreadsSettle - monotonicSeconds()
    if left > 0 { usleep(UInt32(min(left, spinningThreadsSettle) * 1e6)) }
  }

  private static func time(_ count: Int, _ problem: CalibrationProblem, _ backend: any Backend) -> Double {
    let start = monotonicSeconds()
    for _ in 0..<count { problem.run(backend) }
    return monotonicSeconds() - start
  }

  /// A monotonic clock in seconds.
  static func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
  }

  /// "12.3 ns", "4.56 µs", "1.23 ms".
  static func format(seconds: Double) -> String {
    func rounded(_ value: Double) -> String {
      let digits = value < 10 ? 100.0 : (value < 100 ? 10.0 : 1.0)
      let r = (value * digits).rounded() / digits
      return r == r.rounded() ? String(Int(r)) : String(r)
    }
    if seconds < 1e-6 { return "\(rounded(seconds * 1e9)) ns" }
    if seconds < 1e-3 { return "\(rounded(seconds * 1e6)) µs" }
    return "\(rounded(seconds * 1e3)) ms"
  }
}
