// OpenBLAS keeps one thread count for the whole process (`openblas_set_num_threads`), read
// by each call when it starts. The gate makes that count a property of the call.
#if OpenBLAS
import COpenBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Admits OpenBLAS calls so that each one runs with the thread count it asked for.
///
/// Calls that want the same count run concurrently (engine code calling one-thread level-1
/// kernels from its parallel loops, say). A call that wants another count waits until the
/// running ones have left, then sets the count; while it waits, later calls of the running
/// count wait too, so neither side can starve the other.
///
/// Without it (before 2026-12-05) the count was set just before each call under a lock that
/// did not cover the call: an engine with 2 threads and one with 1, used from two threads,
/// changed each other's count mid-flight, and the LAPACK calls (which set none) ran with
/// whichever count was last set. OpenBLAS's threaded `spotrf`, `sgemm` and friends round
/// differently at 1 and 2 threads, so the same call gave different bits from run to run:
/// the GPTQ calibration of an encoder (Cholesky of the Hessian) differed between two
/// encoders built from the same texts in one test process, 2 runs in 6 under load.
///
/// A call must not call into the gate again while it is admitted (nothing here does: the
/// bodies are single cblas or LAPACKE calls).
final class OpenBLASThreadGate: @unchecked Sendable {
  /// The process-wide gate.
  static let shared = OpenBLASThreadGate()

  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let changed: UnsafeMutablePointer<pthread_cond_t>
  // Guarded by `mutex`.
  private var count: Int32 = 0  // the count the gate last set in OpenBLAS (0: none yet)
  private var running = 0  // admitted calls, all at `count`
  private var waiting: [Int32: Int] = [:]  // waiting calls by the count they want
  private var waitingTotal = 0

  private init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    changed = .allocate(capacity: 1)
    changed.initialize(to: pthread_cond_t())
    pthread_cond_init(changed, nil)
  }

  /// Waits until a call with `threads` threads may run, and sets OpenBLAS's count to it.
  /// With nothing running any call is admitted; otherwise only calls of the running count,
  /// and only while no call waits for another count.
  func enter(_ threads: Int32) {
    pthread_mutex_lock(mutex)
    var isWaiting = false
    while true {
      if running == 0 { break }
      let waitingForOthers = waitingTotal - (waiting[threads] ?? 0)
      if count == threads && waitingForOthers == 0 { break }
      if !isWaiting {
        isWaiting = true
        waiting[threads, default: 0] += 1
        waitingTotal += 1
      }
      pthread_cond_wait(changed, mutex)
    }
    if isWaiting {
      waiting[threads, default: 1] -= 1
      waitingTotal -= 1
    }
    if running == 0 && (count != threads || openblas_get_num_threads() != threads) {
      openblas_set_num_threads(threads)
      count = threads
    }
    running += 1
    pthread_mutex_unlock(mutex)
  }

  /// Ends an admitted call; the last one out wakes the waiting calls.
  func leave() {
    pthread_mutex_lock(mutex)
    running -= 1
    if running == 0 { pthread_cond_broadcast(changed) }
    pthread_mutex_unlock(mutex)
  }
}
#endif
