import CArrowheadCPU

/// Fork–join parallel loops over a fixed number of worker threads.
///
/// Arrowhead's rule against oversubscription: parallelism lives *inside* a kernel call
/// (a gemm or distance call splits its own work over `threads` workers, and OpenBLAS is
/// given the same thread count), while engine code that runs `Parallel.forEach` itself
/// calls kernels with `threads: 1`. Both sides read the same cap, `ThreadPolicy`.
public enum Parallel {
  /// The most threads a loop runs on (the caller and 255 pool threads). `Engine` clamps
  /// its thread counts to this, and so do the indexes' per-call thread settings: a larger
  /// request (say `Int.max` from a parsing slip) runs as this many threads and sizes no
  /// per-thread buffer by the request. Counts above the logical cores are honoured up to
  /// here but oversubscribe the cores: the pool's workers poll between jobs.
  public static let maximumThreads = Int(ARROWHEAD_POOL_MAX_THREADS)

  /// `threads` clamped to `1 ... maximumThreads`.
  @inlinable
  public static func clampedThreads(_ threads: Int) -> Int { min(max(1, threads), maximumThreads) }

  /// Pool threads started so far in this process (for tests).
  package static var poolThreadCount: Int { arrowhead_pool_thread_count() }

  /// How many times a pool thread has woken from sleep so far (for tests).
  package static var poolWakeups: Int { arrowhead_pool_wakeups() }

  /// Wake-ups of a sleeping pool thread placed away from the waker's CPU so far (for tests).
  package static var poolPlacedWakeups: Int { arrowhead_pool_placed_wakeups() }

  /// How many CPUs pool thread `id` may run on now (for tests; Linux), nil where unknown.
  package static func poolThreadAllowedCPUs(_ id: Int) -> Int? {
    let count = arrowhead_pool_thread_allowed_now(id)
    return count >= 0 ? Int(count) : nil
  }

  /// Gives pool thread `id` a CPU set from outside, as `taskset -p` would (for tests;
  /// Linux): one CPU of the caller's set other than the caller's current one, or the
  /// caller's whole set. Returns the CPUs it may run on then; nil on failure or elsewhere.
  package static func setPoolThreadCPUsForTesting(_ id: Int, oneCPU: Bool) -> Int? {
    let count = arrowhead_pool_thread_set_cpus_for_testing(id, oneCPU ? 1 : 0)
    return count >= 0 ? Int(count) : nil
  }

  /// Where pool thread `id` started (for tests; Linux): its creator's CPU and allowed CPU
  /// count at creation, the thread's first CPU and its allowed CPU count once running (−1
  /// where not yet known); nil for a thread not started or another OS.
  package static func poolThreadPlacement(
    _ id: Int
  ) -> (creatorCPU: Int, creatorAllowed: Int, firstCPU: Int, allowedAfter: Int)? {
    var creator: Int32 = -1, allowed: Int32 = -1, first: Int32 = -1, after: Int32 = -1
    guard arrowhead_pool_thread_placement(id, &creator, &allowed, &first, &after) == 0, creator >= 0 else { return nil }
    return (Int(creator), Int(allowed), Int(first), Int(after))
  }

  /// Calls `body(i)` for every i in `0..<count` on at most `threads` threads and returns
  /// when all calls are done. The calling thread takes part; indices are claimed one at a
  /// time by whichever thread is free, so each runs exactly once but not in a fixed order
  /// or on a fixed thread. With `threads ≤ 1` or `count ≤ 1` everything runs on the
  /// calling thread in order, and so does a call made from inside another `forEach` body
  /// or while another thread's loop holds the pool (nested or concurrent loops never
  /// oversubscribe the cores).
  ///
  /// The worker threads (`threads − 1` at most, started on first use) keep polling for
  /// the next loop for about a third of a millisecond after each one, so that
  /// back-to-back kernel calls of a few hundred microseconds really run on two threads;
  /// a parked thread took longer to wake than such a call lasts.
  public static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    guard count > 0 else { return }
    let workers = min(count, max(1, threads))
    if workers == 1 {
      for i in 0..<count { body(i) }
      return
    }
    withoutActuallyEscaping(body) { body in
      var task = body
      withUnsafeMutablePointer(to: &task) { pointer in
        arrowhead_pool_run(count, workers, { context, index in
          context.unsafelyUnwrapped.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
        }, UnsafeMutableRawPointer(pointer))
      }
    }
  }

  /// Splits `0..<count` into at most `threads` contiguous chunks whose sizes are multiples
  /// of `granularity` (except the last) and calls `body(range)` for each in parallel.
  public static func forEachChunk(
    _ count: Int, granularity: Int = 1, threads: Int, _ body: (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    let units = (count + granularity - 1) / granularity
    let workers = min(units, max(1, threads))
    let unitsPerWorker = (units + workers - 1) / workers
    let chunk = unitsPerWorker * granularity
    let chunks = (count + chunk - 1) / chunk
    forEach(chunks, threads: workers) { index in
      let start = index * chunk
      body(start..<min(count, start + chunk))
    }
  }
}

/// Wraps a non-Sendable value whose concurrent use the caller has made safe (disjoint
/// writes, read-only sharing). Used only for fork–join loops that end before returning.
package struct UncheckedSendableBox<Value>: @unchecked Sendable {
  /// The wrapped value.
  package let value: Value
  /// Wraps `value`.
  package init(_ value: Value) { self.value = value }
}
