import ArrowheadCore
import ArrowheadIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable block of raw memory, 64-byte aligned, owned or viewing part of a
/// copy-on-write file mapping.
///
/// Indexes keep vectors, codes and links in these instead of Swift arrays so that worker
/// threads can read and write disjoint parts through plain pointers (no copy-on-write, no
/// exclusivity checks) and so that a loaded index can run straight from `mmap`ed pages.
/// Growth is explicit (`reserve`) and happens only while no worker runs; pointers taken
/// before a `reserve` are invalid after it.
final class RawBuffer: @unchecked Sendable {
  /// The first byte (nil while nothing is allocated).
  private(set) var base: UnsafeMutableRawPointer?
  /// Bytes available from `base`.
  private(set) var capacity: Int
  /// The mapping `base` points into, if any (kept alive by this reference).
  private var mapping: FileMapping?

  static let alignment = 64
  /// Blocks of at least this many bytes are aligned to 2 MiB and advised to use
  /// transparent huge pages: graph searches touch vectors and links at random, and with
  /// 4 KiB pages nearly every access also misses the TLB.
  static let hugePageThreshold = 4 << 20
  static let hugePageSize = 2 << 20

  /// Allocates `bytes` zeroed bytes (64-byte aligned; 2 MiB aligned and THP-advised when
  /// large). Zeroed because index files save these blocks whole: the unused link slots of
  /// an HNSW node would otherwise carry whatever the heap held (pointers included) into the
  /// file, and two identical builds would not save identical files.
  ///
  /// `threads` > 1 zeroes a large block in 2 MiB chunks on that many threads: the first
  /// touch of fresh pages is the expensive part (the kernel clears each page, and on a VM
  /// that returns freed memory to its host, maps it again), ≈ 0.3 s of one core for the
  /// ≈ 60 MB a 29 522 × 384 HNSW build allocates on the 2-vCPU Xeon (perf:
  /// `clear_page_erms`, the only thread running at the start of the build).
  static func allocate(_ bytes: Int, threads: Int = 1) -> UnsafeMutableRawPointer {
    guard bytes >= hugePageThreshold else {
      let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
      pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
      return pointer
    }
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: hugePageSize)
    #if os(Linux)
    _ = madvise(pointer, bytes / 4096 * 4096, 14)  // MADV_HUGEPAGE; a hint, errors ignored
    #endif
    let block = UncheckedSendableBox(pointer)
    Parallel.forEachChunk(bytes, granularity: hugePageSize, threads: threads) { range in
      (block.value + range.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: range.count)
    }
    return pointer
  }

  /// An empty buffer.
  init() {
    base = nil
    capacity = 0
  }

  /// A buffer viewing `count` bytes at `offset` inside a copy-on-write `mapping`.
  init(mapping: FileMapping, offset: Int, count: Int) {
    self.mapping = mapping
    self.base = count == 0 ? nil : mapping.base.map { $0 + offset }
    self.capacity = count
  }

  deinit {
    if mapping == nil { base?.deallocate() }
  }

  /// Replaces the contents with a view of `count` bytes at `offset` inside `mapping`.
  func adopt(mapping: FileMapping, offset: Int, count: Int) {
    if self.mapping == nil { base?.deallocate() }
    self.mapping = count == 0 ? nil : mapping
    self.base = count == 0 ? nil : mapping.base.map { $0 + offset }
    self.capacity = count
  }

  /// Replaces the contents with an owned copy of `bytes`.
  func copyIn(_ bytes: UnsafeRawBufferPointer) {
    if mapping == nil { base?.deallocate() }
    mapping = nil
    base = nil
    capacity = 0
    guard bytes.count > 0, let source = bytes.baseAddress else { return }
    let fresh = Self.allocate(bytes.count)
    fresh.copyMemory(from: source, byteCount: bytes.count)
    base = fresh
    capacity = bytes.count
  }

  /// The first `count` bytes.
  func bytes(_ count: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: count == 0 ? nil : base, count: count)
  }

  /// Whether the memory is a view into a file mapping.
  var isMapped: Bool { mapping != nil }

  /// Makes room for at least `bytes` bytes, keeping the first `used` bytes. Grows
  /// geometrically (×1.5) unless `exact`, so that repeated single adds stay amortised O(1).
  /// New memory is zeroed on up to `threads` threads (see `allocate`).
  func reserve(_ bytes: Int, preserving used: Int, exact: Bool = false, threads: Int = 1) {
    guard bytes > capacity else { return }
    let target = exact ? bytes : max(bytes, capacity + capacity / 2, 4096)
    let fresh = Self.allocate(target, threads: threads)
    if let base, used > 0 { fresh.copyMemory(from: base, byteCount: min(used, capacity)) }
    if mapping == nil { base?.deallocate() }
    mapping = nil
    base = fresh
    capacity = target
  }

  /// Releases capacity beyond `used` bytes (copies into an exactly sized block).
  func shrink(toFit used: Int) {
    guard used < capacity, mapping == nil else { return }
    if used == 0 {
      base?.deallocate()
      base = nil
      capacity = 0
      return
    }
    let fresh = Self.allocate(used)
    if let base { fresh.copyMemory(from: base, byteCount: used) }
    base?.deallocate()
    base = fresh
    capacity = used
  }

  /// The memory as `T` elements (the buffer must be non-empty).
  @inline(__always)
  func pointer<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
    // A valid dangling pointer for empty buffers: never dereferenced (counts are 0).
    (base ?? UnsafeMutableRawPointer(bitPattern: Self.alignment)!).assumingMemoryBound(to: T.self)
  }
}

/// A fixed set of spin locks picked by hashing a slot: protects per-node link lists while
/// several threads build an HNSW graph. 4 bytes per lock; collisions only serialise two
/// unrelated nodes briefly. Owns the locks; the building threads take them through
/// `stripes`, a value.
final class StripedLocks: @unchecked Sendable {
  typealias Lock = LockStripes.Lock
  /// The locks, as the workers hold them.
  let stripes: LockStripes

  /// `count` is rounded up to a power of two.
  init(count: Int = 1 << 14) {
    var size = 1
    while size < count { size <<= 1 }
    let locks = UnsafeMutablePointer<Lock>.allocate(capacity: size)
    #if canImport(Glibc) || canImport(Musl)
    for i in 0..<size { pthread_spin_init(locks + i, 0) }
    #else
    for i in 0..<size { pthread_mutex_init(locks + i, nil) }
    #endif
    stripes = LockStripes(locks: locks, mask: size - 1)
  }

  deinit {
    #if canImport(Glibc) || canImport(Musl)
    for i in 0...stripes.mask { pthread_spin_destroy(stripes.locks + i) }
    #else
    for i in 0...stripes.mask { pthread_mutex_destroy(stripes.locks + i) }
    #endif
    stripes.locks.deallocate()
  }
}

/// The locks of a `StripedLocks` as a value, valid while that object lives. The build's hot
/// path holds this rather than the object: taking a lock through the object retained and
/// released it on every link read, so its reference count — on the cache line of the mask
/// every lock reads — bounced between the building threads (perf, two-thread GloVe build
/// on the Xeon: a quarter of the walk's samples waited on that load).
struct LockStripes: @unchecked Sendable {
  #if canImport(Glibc) || canImport(Musl)
  typealias Lock = pthread_spinlock_t
  #else
  typealias Lock = pthread_mutex_t
  #endif
  let locks: UnsafeMutablePointer<Lock>
  let mask: Int

  @inline(__always)
  func lock(_ slot: UInt32) {
    #if canImport(Glibc) || canImport(Musl)
    pthread_spin_lock(locks + (Int(slot) & mask))
    #else
    pthread_mutex_lock(locks + (Int(slot) & mask))
    #endif
  }

  @inline(__always)
  func unlock(_ slot: UInt32) {
    #if canImport(Glibc) || canImport(Musl)
    pthread_spin_unlock(locks + (Int(slot) & mask))
    #else
    pthread_mutex_unlock(locks + (Int(slot) & mask))
    #endif
  }
}

/// A readers–writer lock: many concurrent searches, or one mutation.
final class ReadWriteLock: @unchecked Sendable {
  private let lock: UnsafeMutablePointer<pthread_rwlock_t>

  init() {
    lock = .allocate(capacity: 1)
    pthread_rwlock_init(lock, nil)
  }

  deinit {
    pthread_rwlock_destroy(lock)
    lock.deallocate()
  }

  @inline(__always)
  func reading<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    pthread_rwlock_rdlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    return try body()
  }

  @inline(__always)
  func writing<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    pthread_rwlock_wrlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    return try body()
  }
}

/// A plain mutex for short critical sections (entry point updates, scratch pools).
final class PlainMutex: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  init() {
    mutex = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  @inline(__always)
  func locked<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body()
  }
}

/// Runs `body(worker)` on `workers` threads (0 ..< workers) and returns when all are done.
func runWorkers(_ workers: Int, _ body: (Int) -> Void) {
  if workers <= 1 {
    body(0)
    return
  }
  Parallel.forEach(workers, threads: workers, body)
}
