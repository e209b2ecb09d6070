import Arrowhead
import Foundation
import Testing

/// `Parallel.forEach` runs on a spinning worker pool with dynamic index claiming: every
/// index must run exactly once whatever the thread count, nesting or concurrent callers.
@Suite struct ParallelTests {
  /// Counts how often each index ran (atomically enough: one slot per index, and each
  /// index runs once, so two threads never write the same slot unless the pool is wrong —
  /// which the counts then show).
  final class Tally: @unchecked Sendable {
    let counts: UnsafeMutablePointer<Int>
    let size: Int
    init(_ size: Int) {
      self.size = size
      counts = .allocate(capacity: max(size, 1))
      counts.initialize(repeating: 0, count: max(size, 1))
    }
    deinit { counts.deallocate() }
    func hit(_ i: Int) { counts[i] += 1 }
    var allOnce: Bool { (0..<size).allSatisfy { counts[$0] == 1 } }
  }

  @Test(arguments: [0, 1, 2, 3, 7, 64, 1000, 100_000])
  func everyIndexRunsExactlyOnce(count: Int) {
    for threads in [1, 2, 3, 8] {
      let tally = Tally(count)
      Parallel.forEach(count, threads: threads) { tally.hit($0) }
      #expect(tally.allOnce, "count \(count), threads \(threads)")
    }
  }

  @Test func backToBackLoopsEachCompleteBeforeReturning() {
    // Thousands of short jobs: a claim with a stale generation must never run an index of
    // the next job, and `forEach` must not return while an index is still running.
    let tally = Tally(4)
    for round in 1...5000 {
      Parallel.forEach(4, threads: 2) { tally.hit($0) }
      #expect((0..<4).allSatisfy { tally.counts[$0] == round })
      if (0..<4).contains(where: { tally.counts[$0] != round }) { break }
    }
  }

  /// Two long-running indices must run at the same time on two threads: index 0 waits for
  /// index 1 to start. A pool thread that missed the job it was started for left such loops
  /// (an HNSW build's workers) to the caller alone, and index 1 then never starts while 0
  /// waits. Another test holding the pool makes a loop serial, and a loaded machine may take
  /// long to schedule the worker, so tries repeat (each waiting up to a second) for up to two
  /// minutes: a broken pool fails after that, a working one passes at the first free moment.
  @Test func twoIndicesRunConcurrently() {
    final class Flags: @unchecked Sendable {
      let lock = NSLock()
      var secondStarted = false
      var overlapped = false
    }
    var concurrent = false
    var tries = 0
    let giveUp = Date().addingTimeInterval(120)
    while !concurrent && Date() < giveUp {
      tries += 1
      let flags = Flags()
      Parallel.forEach(2, threads: 2) { i in
        if i == 1 {
          flags.lock.withLock { flags.secondStarted = true }
          return
        }
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline {
          if flags.lock.withLock({ flags.secondStarted }) {
            flags.lock.withLock { flags.overlapped = true }
            return
          }
          usleep(100)
        }
      }
      concurrent = flags.lock.withLock { flags.overlapped }
    }
    #expect(concurrent, "index 1 never started while index 0 ran, in \(tries) tries over two minutes")
  }

  /// Pool threads started for a wide loop must not be woken by later, narrower ones. With
  /// one shared condition variable every job woke every sleeping pool thread, and each then
  /// polled for a third of a millisecond: after one 16-thread loop on a 2-core machine, a
  /// 2-thread gemm of 256² took 5× as long for the rest of the process. A 2-thread loop may
  /// wake one pool thread. Other tests' loops wake threads too, and a loop finding the pool
  /// busy runs on the caller alone, so a try counts only when its two indices ran on two
  /// threads and nothing else ran; tries repeat until such a one (for up to two minutes).
  @Test func aLoopWakesOnlyTheThreadsItRunsOn() {
    final class Runners: @unchecked Sendable {  // one slot per index: disjoint writes
      let threads = UnsafeMutablePointer<pthread_t>.allocate(capacity: 2)
      init() { threads.initialize(repeating: 0, count: 2) }
      deinit { threads.deallocate() }
    }
    var woken: [Int] = []
    let giveUp = Date().addingTimeInterval(120)
    while Date() < giveUp {
      // A wide loop starts 15 pool threads (it runs serially while another test's loop
      // holds the pool: then it is tried again).
      if Parallel.poolThreadCount < 15 {
        Parallel.forEach(64, threads: 16) { _ in usleep(200) }
        continue
      }
      usleep(20_000)  // every pool thread stops polling (after 300 µs) and sleeps
      let before = Parallel.poolWakeups
      let runners = Runners()
      Parallel.forEach(2, threads: 2) { i in
        runners.threads[i] = pthread_self()
        usleep(5_000)
      }
      usleep(20_000)  // a woken thread has counted its wake-up by now
      guard runners.threads[0] != runners.threads[1] else { continue }
      woken.append(Parallel.poolWakeups - before)
      if woken.last! <= 1 { break }
    }
    #expect(Parallel.poolThreadCount >= 15, "the 16-thread loop never ran on the pool")
    #expect(woken.last.map { $0 <= 1 } ?? false, "pool threads woken by each 2-thread loop: \(woken)")
  }

  @Test func threadCountsAreClampedToThePoolMaximum() throws {
    #expect(Parallel.maximumThreads == 256)
    #expect(Parallel.clampedThreads(Int.max) == Parallel.maximumThreads)
    #expect(Parallel.clampedThreads(Int.min) == 1)
    #expect(Parallel.clampedThreads(3) == 3)
    let engine = try Engine(registry: .builtIn, threads: Int.max, dispatch: .static)
    #expect(engine.threads == Parallel.maximumThreads)
    #expect(engine.withThreads(Int.max).effectiveThreads == Parallel.maximumThreads)
    #expect(engine.withThreads(1 << 40).withThreads(2).effectiveThreads == 2)
  }

  @Test func nestedLoopsRunTheInnerOneSerially() {
    let outer = 6, inner = 50
    let tally = Tally(outer * inner)
    Parallel.forEach(outer, threads: 2) { i in
      Parallel.forEach(inner, threads: 2) { j in tally.hit(i * inner + j) }
    }
    #expect(tally.allOnce)
  }

  @Test func concurrentCallersDoNotInterfere() async {
    let callers = 4, count = 2000
    let tallies = (0..<callers).map { _ in Tally(count) }
    await withTaskGroup(of: Void.self) { group in
      for caller in 0..<callers {
        let tally = tallies[caller]
        group.addTask {
          for _ in 0..<20 {
            let round = Tally(count)
            Parallel.forEach(count, threads: 2) { round.hit($0) }
            if round.allOnce { tally.hit(0) }
          }
        }
      }
    }
    for tally in tallies { #expect(tally.counts[0] == 20) }
  }

  @Test func chunksCoverTheRangeInGranularMultiples() {
    for (count, granularity, threads) in [(0, 1, 2), (1, 6, 2), (100, 6, 2), (97, 16, 3), (5, 1, 8)] {
      let tally = Tally(count)
      let starts = Tally(count + 1)
      Parallel.forEachChunk(count, granularity: granularity, threads: threads) { range in
        starts.hit(range.lowerBound)
        for i in range { tally.hit(i) }
      }
      #expect(tally.allOnce, "\(count) by \(granularity) on \(threads)")
      for start in 0..<count where starts.counts[start] > 0 { #expect(start % granularity == 0) }
    }
  }

  /// A pool thread starts on an allowed CPU other than its creator's and then runs with its
  /// creator's whole CPU set: started beside its creator, the scheduler left the two sharing
  /// one vCPU for about a tenth of a second (the first two-thread gemm 256³ of 6 in 24 fresh
  /// processes at one thread's speed on the Zen 4 VM). Placement, not pinning.
  @Test func poolThreadsStartAwayFromTheirCreatorWithoutBeingPinned() throws {
    Parallel.forEach(64, threads: 2) { _ in }  // thread 0 exists from here on
    #if os(Linux)
    var placement = try #require(Parallel.poolThreadPlacement(0))
    // The thread records where it began as its first step; give it a moment if it has not run yet.
    for _ in 0..<1000 where placement.firstCPU < 0 || placement.allowedAfter < 0 {
      usleep(1000)
      placement = try #require(Parallel.poolThreadPlacement(0))
    }
    #expect(placement.creatorAllowed >= 1 && placement.firstCPU >= 0)
    if placement.creatorAllowed >= 2 {
      #expect(placement.firstCPU != placement.creatorCPU, "started on its creator's CPU \(placement.creatorCPU)")
    }
    #expect(placement.allowedAfter == placement.creatorAllowed, "pinned: \(placement.allowedAfter) of \(placement.creatorAllowed) CPUs")
    #else
    #expect(Parallel.poolThreadPlacement(0) == nil)
    #endif
  }

  /// The two tests that look at a pool thread's CPU set after a wake-up, one at a time (one
  /// of them gives the thread a single CPU for a while).
  @Suite(.serialized) struct WakeUpPlacement {
    /// A sleeping pool thread is woken on a CPU other than its waker's and then runs with its
    /// whole CPU set again: woken without this, it often shared the caller's CPU (Python
    /// calling a two-thread gemm 512³ every 5 ms: 3.3 ms per call, one thread's time, against
    /// 1.6 placed). Placement, not pinning.
    @Test func sleepingPoolThreadsWakeAwayFromTheCallerWithoutBeingPinned() throws {
      Parallel.forEach(64, threads: 2) { _ in }  // thread 0 exists from here on
      #if os(Linux)
      let placement = try #require(Parallel.poolThreadPlacement(0))
      let before = Parallel.poolPlacedWakeups
      usleep(20_000)  // well past the polling time: the thread sleeps
      Parallel.forEach(64, threads: 2) { _ in }
      if placement.creatorAllowed >= 2 {
        #expect(Parallel.poolPlacedWakeups > before, "the sleeping thread was woken without placement")
      }
      var allowed = Parallel.poolThreadAllowedCPUs(0)
      for _ in 0..<1000 where allowed != placement.creatorAllowed {  // it restores its set once it runs
        usleep(1000)
        allowed = Parallel.poolThreadAllowedCPUs(0)
      }
      #expect(allowed == placement.creatorAllowed, "left with \(allowed ?? -1) of \(placement.creatorAllowed) CPUs")
      #endif
    }

    /// A CPU set given to a sleeping pool thread from outside (a user's `taskset -p`) is
    /// still its set after the thread is woken and has run: the wake-up placement restores
    /// the set the thread had when it was woken, not the one it was created with.
    @Test func aCPUSetGivenToASleepingPoolThreadSurvivesItsWakeUp() throws {
      Parallel.forEach(64, threads: 2) { _ in }
      #if os(Linux)
      let placement = try #require(Parallel.poolThreadPlacement(0))
      guard placement.creatorAllowed >= 2 else { return }  // one CPU: nothing to narrow
      usleep(20_000)  // a thread just started, or just woken, has taken its set back by now
      #expect(Parallel.setPoolThreadCPUsForTesting(0, oneCPU: true) == 1)
      defer { _ = Parallel.setPoolThreadCPUsForTesting(0, oneCPU: false) }
      let wakeups = Parallel.poolWakeups
      for _ in 0..<500 where Parallel.poolWakeups == wakeups {  // a busy pool runs a loop inline
        usleep(20_000)  // well past the polling time: the thread sleeps
        Parallel.forEach(64, threads: 2) { _ in }
      }
      #expect(Parallel.poolWakeups > wakeups, "the pool thread was not woken")
      usleep(20_000)  // time to have run and restored its set
      let allowed = Parallel.poolThreadAllowedCPUs(0)
      #expect(allowed == 1, "the given set of 1 CPU became \(allowed ?? -1) CPUs")
      #endif
    }
  }
}
