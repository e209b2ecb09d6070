#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that threads read and change one at a time, under a POSIX mutex.
///
/// The package's modules use it where the standard library's `Synchronization.Mutex` would
/// do: on Linux that type locks through futex calls made inside the standard library,
/// which ThreadSanitizer does not see, so every access it guards is reported as a race (a
/// twelve-line program with two threads and `withLock` is enough; Swift 6.3.1). A
/// `pthread_mutex_t` is intercepted by the sanitizer, which then checks the accesses for
/// what they are: `scripts/sanitize.sh tsan` can run the quantizer, the optimizer, the
/// encoder and the dispatch calibration without false reports. Uncontended, a lock and an
/// unlock cost some tens of nanoseconds; the users take it once per chunk of work, not per
/// element.
package final class LockedValue<Value>: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private var value: Value

  /// A lock guarding `value`.
  package init(_ value: Value) {
    self.value = value
    mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deinitialize(count: 1)
    mutex.deallocate()
  }

  /// Runs `body` on the value with the lock held, and returns what it returns.
  package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&value)
  }
}
