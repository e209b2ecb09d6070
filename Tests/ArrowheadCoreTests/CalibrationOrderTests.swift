import Arrowhead
@testable import ArrowheadCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When each test backend's `dot` ran during a calibration (monotonic seconds, by name).
final class DotCallLog: Sendable {
  let calls = Mutex<[(name: String, seconds: Double)]>([])

  func record(_ name: String) {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let seconds = Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    calls.withLock { $0.append((name, seconds)) }
  }

  func times(of name: String) -> [Double] { calls.withLock { $0.filter { $0.name == name }.map(\.seconds) } }
}

let dotCallLog = DotCallLog()

/// A test backend that accelerates `dot` only (every other kernel: the reference code).
protocol DotOnlyTestBackend: Backend {}

extension DotOnlyTestBackend {
  var compiledISA: String { "test" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .dot ? Preference(score: 1, reason: "test backend") : nil
  }
}

/// A correct `dot` that logs its calls; `spins` says whether it claims to leave spinning
/// threads behind, as OpenBLAS's backend does.
struct LoggingDotBackend: DotOnlyTestBackend {
  let name: String
  let spins: Bool
  var leavesSpinningThreads: Bool { spins }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    dotCallLog.record(name)
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return sum
  }
}

@Suite struct CalibrationOrderTests {
  /// With several threads, a backend that leaves spinning threads is timed after every other
  /// backend's entries, so that its threads never share a core with another candidate's
  /// samples: a quiet sample comes before the first spinning one, or — re-timed by a
  /// confirmation step (`Calibration.confirmationSteps`) — at least the settling time after
  /// the last spinning sample before it. With one thread, candidates are timed in turn.
  @Test func backendsThatLeaveSpinningThreadsAreTimedLastWithSeveralThreads() throws {
    #expect(!ThirdPartyBackend().leavesSpinningThreads, "the default is false")
    var registry = BackendRegistry.builtIn
    try registry.register(LoggingDotBackend(name: "logging-quiet", spins: false))
    try registry.register(LoggingDotBackend(name: "logging-spinning", spins: true))
    let engine = try Engine(registry: registry, threads: 2, dispatch: .remeasure)
    let decision = try #require(engine.plan.decision(for: .dot, .large))
    #expect(decision.source == .measured)
    let quiet = dotCallLog.times(of: "logging-quiet"), spinning = dotCallLog.times(of: "logging-spinning")
    #expect(!quiet.isEmpty && !spinning.isEmpty, "both were timed")
    let firstSpinning = try #require(spinning.min())
    #expect(quiet.contains { $0 < firstSpinning }, "the quiet pass ran first")
    for sample in quiet {
      guard let spun = spinning.filter({ $0 < sample }).max() else { continue }
      #expect(
        sample - spun >= Calibration.spinningThreadsSettle * 0.95,
        "a quiet sample \(sample - spun) s after a spinning one")
    }
    #expect(decision.measurements.contains { $0.backend == "logging-spinning" })
    #expect(decision.measurements.contains { $0.backend == "logging-quiet" })

    // One thread: no second pass, the two alternate.
    dotCallLog.calls.withLock { $0.removeAll() }
    _ = try Engine(registry: registry, threads: 1, dispatch: .remeasure)
    let quietAlone = dotCallLog.times(of: "logging-quiet"), spinningAlone = dotCallLog.times(of: "logging-spinning")
    let lastQuietAlone = try #require(quietAlone.max()), firstSpinningAlone = try #require(spinningAlone.min())
    #expect(firstSpinningAlone < lastQuietAlone, "timed in turn")
  }
}

/// A correct `dot` whose time per call is random (0 to 4 000 extra additions), so that two
/// measurements of it against the same rival seldom give the same figures.
struct JitteryDotBackend: DotOnlyTestBackend {
  let name: String
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var waste: Float = 0
    for i in 0..<Int.random(in: 0...4_000) { waste += Float(i & 1) }
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return waste < 0 ? -sum : sum
  }
}

@Suite struct ConcurrentCalibrationTests {
  /// A backend's details are part of the dispatch-cache key, so they must read the same from
  /// every thread at once: OpenBLAS builds `openblas_get_config()`'s text in one static
  /// buffer per call, and engines created together once read three different strings (and
  /// measured three times, with different choices).
  @Test func openBLASDetailsReadTheSameFromManyThreadsAtOnce() async throws {
    guard let expected = openBLASInfo else { return }  // built without the OpenBLAS trait
    let seen = await withTaskGroup(of: Set<[String: String]>.self) { group in
      for _ in 0..<8 {
        group.addTask {
          var details = Set<[String: String]>()
          for _ in 0..<500 { if let info = openBLASInfo { details.insert(info) } }
          return details
        }
      }
      return await group.reduce(into: Set<[String: String]>()) { $0.formUnion($1) }
    }
    #expect(seen == [expected], "\(seen.count) different readings, e.g. \(seen.map { $0["config"] ?? "" }.sorted())")
  }

  /// Engines created at once for a registry no process has measured share one measurement:
  /// the first measures while the others wait, and all make the same choices from the same
  /// figures. (Measured side by side, each engine would time its candidates against the
  /// others' calibrations and could choose differently — and two backends' dot products
  /// round differently, so two engines of one process would give different results.)
  @Test func enginesCreatedAtOnceShareOneMeasurement() async throws {
    var registry = BackendRegistry.builtIn
    // Unique names: a key that no earlier run can have cached on disk.
    let tag = UInt64.random(in: 0...UInt64.max)
    try registry.register(JitteryDotBackend(name: "jittery-a-\(tag)"))
    try registry.register(JitteryDotBackend(name: "jittery-b-\(tag)"))
    let frozen = registry
    let plans = try await withThrowingTaskGroup(of: DispatchPlan.self) { group in
      for _ in 0..<4 {
        group.addTask { try Engine(registry: frozen, threads: 1, dispatch: .measured).plan }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(plans.count == 4)
    let first = try #require(plans.first)
    if case .written(let path) = first.cache { unlink(path) }
    let dot = try #require(first.decision(for: .dot, .large))
    #expect(dot.measurements.contains { $0.backend.hasPrefix("jittery-a-") })
    func summary(_ plan: DispatchPlan) -> [String] {
      plan.decisions.map { "\($0.operation) \($0.shape) \($0.backend) \($0.measurements.map { "\($0.backend) \($0.secondsPerCall)" })" }
    }
    for plan in plans.dropFirst() {
      let differing = zip(summary(plan), summary(first)).filter { $0.0 != $0.1 }
      #expect(differing.isEmpty, "\(differing.count) decisions from different figures, e.g. \(differing.first.map { "\($0.0) vs \($0.1)" } ?? "")")
    }
  }
}

@Suite struct CalibrationScheduleTests {
  /// Entries: dot/small with a quiet (0) and a spinning (1) candidate, gemm/large with both,
  /// sq8Dot/small with the quiet one only.
  static let entries: [(KernelOperation, ShapeClass, [Int])] = [
    (.dot, .small, [0, 1]), (.gemm, .large, [0, 1]), (.sq8Dot, .small, [0]),
  ]

  /// With one thread each entry is one step, small entries first, its candidates timed in turn.
  @Test func oneThreadTimesEachEntryOnceWithEveryCandidate() {
    let steps = Calibration.schedule(Self.entries, spins: { $0 == 1 }, threads: 1)
    #expect(steps == [.init(entry: 0, candidates: [0, 1]), .init(entry: 2, candidates: [0]), .init(entry: 1, candidates: [0, 1])])
  }

  /// With several threads the spinning backend comes after every quiet step, and each entry
  /// with candidates in both passes is timed twice in each pass (the second quiet timing a
  /// whole pass after the first).
  @Test func severalThreadsTimeContestedEntriesTwiceInEachPass() {
    let steps = Calibration.schedule(Self.entries, spins: { $0 == 1 }, threads: 2)
    #expect(steps == [
      .init(entry: 0, candidates: [0]), .init(entry: 2, candidates: [0]), .init(entry: 1, candidates: [0]),
      .init(entry: 0, candidates: [0]), .init(entry: 1, candidates: [0]),
      .init(entry: 0, candidates: [1]), .init(entry: 1, candidates: [1]),
      .init(entry: 0, candidates: [1]), .init(entry: 1, candidates: [1]),
    ])
    // Without a spinning backend nothing is contested: one quiet pass.
    let quiet = Calibration.schedule(Self.entries, spins: { _ in false }, threads: 2)
    #expect(quiet == [.init(entry: 0, candidates: [0, 1]), .init(entry: 2, candidates: [0]), .init(entry: 1, candidates: [0, 1])])
  }

  /// A step timed while the machine ran 1.5× slower (its yardstick 1.5× the fastest) has its
  /// figures divided by 1.5 before they meet figures of another step; a candidate timed twice
  /// keeps its faster figure; with one thread nothing is rescaled.
  @Test func figuresFromDifferentStepsAreScaledToTheFastestYardstick() {
    let steps = [
      Calibration.StepFigures(entry: "gemm/small", backends: ["simd"], seconds: [600e-9], yardstick: 15e-6),
      Calibration.StepFigures(entry: "gemm/small", backends: ["simd"], seconds: [450e-9], yardstick: 10.5e-6),
      Calibration.StepFigures(entry: "gemm/small", backends: ["blas"], seconds: [630e-9], yardstick: 10e-6),
    ]
    let combined = Calibration.combine(steps, threads: 2)
    let simd = combined["gemm/small"]?["simd"] ?? .nan, blas = combined["gemm/small"]?["blas"] ?? .nan
    #expect(abs(simd - 400e-9) < 1e-15, "600 ns at 1.5× slow → 400 ns, below the other step's 450 · 10/10.5 ≈ 429 ns")
    #expect(abs(blas - 630e-9) < 1e-15, "the fastest step is not rescaled")
    let oneThread = Calibration.combine(Array(steps.prefix(1)) + Array(steps.suffix(1)), threads: 1)
    #expect(oneThread["gemm/small"]?["simd"] == 600e-9)
    #expect(oneThread["gemm/small"]?["blas"] == 630e-9)
  }

  /// A spinning backend's step is rescaled at most by what the yardstick said when the
  /// spinning pass began: a yardstick slowed beside its own spinning threads (7 µs against
  /// 4.6 at the start) must not make OpenBLAS look 1.5× faster than it ran.
  @Test func spinningStepsAreRescaledNoMoreThanTheSpinningPassStartSays() {
    #expect(Calibration.spinningYardstick(7e-6, beforeSpinning: 4.6e-6) == 4.6e-6)
    #expect(Calibration.spinningYardstick(4.7e-6, beforeSpinning: 6e-6) == 4.7e-6, "a faster own yardstick stands")
    let steps = [
      Calibration.StepFigures(entry: "gemv/large", backends: ["simd"], seconds: [20.3e-6], yardstick: 4.6e-6),
      Calibration.StepFigures(
        entry: "gemv/large", backends: ["blas"], seconds: [19.4e-6],
        yardstick: Calibration.spinningYardstick(6.3e-6, beforeSpinning: 4.6e-6)),
    ]
    let combined = Calibration.combine(steps, threads: 2)
    #expect(combined["gemv/large"]?["blas"] == 19.4e-6, "not 19.4 · 4.6/6.3 ≈ 14.2 µs")
    #expect(combined["gemv/large"]?["simd"] == 20.3e-6)
  }

  /// The static favourite: the highest score, the first on a tie, a candidate without a
  /// preference below every score.
  @Test func theFavouriteIsTheHighestStaticScore() {
    #expect(Calibration.favourite([20, 44, 43]) == 1)
    #expect(Calibration.favourite([44, 44]) == 0)
    #expect(Calibration.favourite([nil, Int.min + 1]) == 1)
    #expect(Calibration.favourite([nil]) == 0)
    #expect(Calibration.favourite([]) == nil)
  }

  /// With several threads, a large entry whose figures would move the choice from its static
  /// favourite to the other side (by more than 5 %, less than 2×) has the favourite's side
  /// timed once more, quiet sides first; near-ties, wide gaps, small entries, entries
  /// without the other side and one-thread calibrations are not re-timed.
  @Test func suspectFlipsAwayFromTheFavouriteAreTimedAgain() {
    // Candidates 0 and 1 are quiet SIMD variants, 2 spins (OpenBLAS).
    let names = ["v3", "v4", "blas"]
    let entries: [(KernelOperation, ShapeClass, [Int])] = [
      (.gemv, .large, [0, 1, 2]),            // v4 favourite, 18.6 against 12: re-time the quiet side
      (.gemm, .large, [0, 1, 2]),            // v4 171 against 165: within 5 %, the favourite stays
      (.gemvTransposed, .large, [0, 1, 2]),  // v4 30 against 12: 2.5×, not a stretch
      (.cholesky, .large, [0, 1, 2]),        // OpenBLAS favourite, 30 against 18: re-time OpenBLAS
      (.gemm, .small, [0, 1, 2]),            // small: never
      (.dot, .large, [0, 1]),                // no other side
    ]
    let timings: [String: [String: Double]] = [
      "gemv/large": ["v3": 19e-6, "v4": 18.6e-6, "blas": 12e-6],
      "gemm/large": ["v3": 180e-6, "v4": 171e-6, "blas": 165e-6],
      "gemvTransposed/large": ["v3": 31e-6, "v4": 30e-6, "blas": 12e-6],
      "cholesky/large": ["v3": 18e-6, "v4": 25e-6, "blas": 30e-6],
      "gemm/small": ["v3": 900e-9, "v4": 800e-9, "blas": 500e-9],
      "dot/large": ["v3": 90e-9, "v4": 50e-9],
    ]
    let favourites = [1, 1, 1, 2, 1, 1]
    let steps = Calibration.confirmationSteps(
      entries, timings: timings, names: { names[$0] }, spins: { $0 == 2 }, favourite: { favourites[$0] }, threads: 2)
    #expect(steps == [.init(entry: 0, candidates: [0, 1]), .init(entry: 3, candidates: [2])])
    let oneThread = Calibration.confirmationSteps(
      entries, timings: timings, names: { names[$0] }, spins: { $0 == 2 }, favourite: { favourites[$0] }, threads: 1)
    #expect(oneThread.isEmpty)
  }

  /// The yardstick measures real work: a positive, finite time well under a millisecond.
  @Test func theYardstickTakesAFewMicroseconds() {
    let seconds = Calibration.yardstickSeconds(CalibrationScratch())
    #expect(seconds > 0 && seconds < 1e-3)
  }
}
