import CArrowhead
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

// These tests call libArrowheadC through the C declarations of arrowhead.h (module
// CArrowhead), exactly as a C program would: handles are opaque pointer values.

/// The status constants as `ah_status`.
let ok = ah_status(AH_OK)
let invalidArgument = ah_status(AH_ERROR_INVALID_ARGUMENT)
let invalidHandle = ah_status(AH_ERROR_INVALID_HANDLE)

/// The calling thread's last error message.
func lastError() -> String { String(cString: ah_last_error()) }

/// A new engine on `threads` threads (the test fails if it cannot be made).
func makeEngine(threads: Int32 = 1) throws -> OpaquePointer {
  var engine: OpaquePointer?
  try #require(ah_engine_create(nil, threads, &engine) == ok, "\(lastError())")
  return try #require(engine)
}

/// A flat L2 index of `dimension` holding `count` vectors (i, i, …, i) with ids 0 … count − 1.
func makeIndex(_ engine: OpaquePointer, kind: Int32 = Int32(AH_INDEX_FLAT), dimension: Int = 4, count: Int = 10) throws -> OpaquePointer {
  var index: OpaquePointer?
  try #require(
    ah_index_create(engine, kind, Int64(dimension), Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, 8, 32, 0, 7, &index) == ok,
    "\(lastError())")
  let handle = try #require(index)
  let vectors = (0..<count).flatMap { i in [Float](repeating: Float(i), count: dimension) }
  try #require(ah_index_add(handle, vectors, Int64(count), Int64(dimension), nil, nil) == ok, "\(lastError())")
  return handle
}

@Suite("C ABI handles")
struct HandleTests {
  @Test func freedHandlesAreReportedNotDereferenced() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine)
    var count: Int64 = -1
    #expect(ah_index_count(index, &count) == ok && count == 10)
    #expect(ah_index_free(index) == ok)
    #expect(ah_index_count(index, &count) == invalidHandle)
    #expect(lastError() == "the index handle was freed (or is stale)")
    #expect(ah_last_status() == invalidHandle)
    #expect(ah_index_free(index) == invalidHandle)
    #expect(count == 10, "out-parameters are written only on success")
  }

  @Test func aStaleHandleNeverReachesTheObjectThatReusedItsSlot() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let first = try makeIndex(engine, count: 3)
    #expect(ah_index_free(first) == ok)
    // A freed slot is reused with a new generation (other tests may take this one first).
    let second = try makeIndex(engine, count: 5)
    defer { _ = ah_index_free(second) }
    #expect(first != second)
    // The token of the previous generation of `second`'s slot is stale by construction.
    let stale = OpaquePointer(bitPattern: UInt(bitPattern: second) - (1 << 32))
    var count: Int64 = 0
    #expect(ah_index_count(first, &count) == invalidHandle)
    #expect(ah_index_count(stale, &count) == invalidHandle)
    #expect(ah_index_free(stale) == invalidHandle)
    #expect(ah_index_count(second, &count) == ok && count == 5)
  }

  @Test func handlesOfAnotherKindAreNamed() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var count: Int64 = 0
    #expect(ah_index_count(engine, &count) == invalidHandle)
    #expect(lastError() == "expected an index handle but got an engine handle")
    let index = try makeIndex(engine)
    defer { _ = ah_index_free(index) }
    var threads: Int32 = 0
    #expect(ah_engine_threads(index, &threads) == invalidHandle)
    #expect(ah_tensor_free(index) == invalidHandle)
    #expect(ah_qmatrix_free(index) == invalidHandle)
    #expect(lastError() == "expected a quantized matrix handle but got an index handle")
    #expect(ah_engine_threads(engine, &threads) == ok && threads == 1)
  }

  @Test func nullAndGarbageHandlesAreStatusCodes() throws {
    var count: Int64 = 0
    #expect(ah_index_count(nil, &count) == invalidHandle)
    #expect(lastError() == "the index handle is NULL")
    #expect(ah_index_free(nil) == ok, "freeing NULL is a no-op")
    // Real pointers (to a local, to the heap) and arbitrary bit patterns.
    var local: Int = 0
    let heap = UnsafeMutablePointer<Int>.allocate(capacity: 4)
    defer { heap.deallocate() }
    var generator = SystemRandomNumberGenerator()
    var garbage: [UInt] = [1, 0xDEAD_BEEF, UInt.max, 0xA2 << 56, 0xA2 << 56 | 1 << 32 | 0xFFFF, 0xA2 << 56 | 0xFFFF_FFFF]
    garbage += [UInt(bitPattern: heap), withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }]
    garbage += (0..<200).map { _ in UInt.random(in: 1...UInt.max, using: &generator) }
    for bits in garbage {
      let handle = OpaquePointer(bitPattern: bits)
      #expect(ah_index_count(handle, &count) == invalidHandle, "\(bits)")
      #expect(ah_index_free(handle) == invalidHandle, "\(bits)")
      var json: UnsafeMutablePointer<CChar>?
      #expect(ah_probe_json(handle, &json) == invalidHandle && json == nil)
    }
  }

  @Test func freeingWhileAnotherThreadSearchesIsSafe() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, kind: Int32(AH_INDEX_HNSW), dimension: 8, count: 2_000)
    let box = HandleBox(index)
    // The searching thread keeps searching until the handle dies; every call either
    // succeeds or reports the freed handle.
    let searcher = try Worker {
      var query = [Float](repeating: 3.2, count: 8)
      var distances = [Float](repeating: 0, count: 10)
      var ids = [Int64](repeating: 0, count: 10)
      var succeeded = 0
      while true {
        let status = ah_index_search(box.handle, &query, 1, 8, 10, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)
        if status == invalidHandle { return succeeded }
        guard status == ok, ids[0] == 3 else { return -1 }
        succeeded += 1
        box.searches.add(1, ordering: .relaxed)
      }
    }
    // Free it once the searcher is busy (bounded wait: 10 s).
    for _ in 0..<10_000 where box.searches.load(ordering: .relaxed) < 20 { usleep(1_000) }
    #expect(ah_index_free(index) == ok)
    #expect(try searcher.join() >= 20)
  }

  @Test func concurrentCreationAndFreeingKeepsHandlesDistinct() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let box = HandleBox(engine)
    let workers = try (0..<4).map { _ in
      try Worker {
        var failures = 0
        for round in 0..<200 {
          var index: OpaquePointer?
          guard ah_index_create(box.handle, Int32(AH_INDEX_FLAT), 2, Int32(AH_METRIC_L2), 0, 0, 0, 0, 0, 0, &index) == ok else {
            failures += 1
            continue
          }
          let vector: [Float] = [Float(round), 0]
          var count: Int64 = 0
          if ah_index_add(index, vector, 1, 2, nil, nil) != ok || ah_index_count(index, &count) != ok || count != 1 {
            failures += 1
          }
          if ah_index_free(index) != ok || ah_index_count(index, &count) != invalidHandle { failures += 1 }
        }
        return failures
      }
    }
    #expect(try workers.map { try $0.join() } == [0, 0, 0, 0])
  }

  @Test func lastErrorIsPerThread() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine)
    defer { _ = ah_index_free(index) }
    let box = HandleBox(index)
    // Two threads fail with different messages at the same time, many times over; each
    // must always read its own message back.
    let workers = try (0..<2).map { thread in
      try Worker {
        var mismatches = 0
        var distances = [Float](repeating: 0, count: 4)
        var ids = [Int64](repeating: 0, count: 4)
        let query = [Float](repeating: 0, count: 4)
        for _ in 0..<2_000 {
          if thread == 0 {
            _ = ah_index_search(box.handle, query, 1, 4, 0, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)
            if lastError() != "k = 0 is invalid; k must be ≥ 1" { mismatches += 1 }
          } else {
            _ = ah_index_search(box.handle, query, 1, 5, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)
            if lastError() != "'queries' have dimension 5, the index has dimension 4" { mismatches += 1 }
          }
        }
        return mismatches
      }
    }
    #expect(try workers.map { try $0.join() } == [0, 0])
  }

  @Test func versionAndStatusNames() {
    #expect(ah_abi_version() == AH_ABI_VERSION)
    #expect(String(cString: ah_version()).split(separator: ".").count == 3)
    #expect(String(cString: ah_status_name(ah_status(AH_ERROR_NOT_FOUND))) == "AH_ERROR_NOT_FOUND")
    #expect(String(cString: ah_status_name(99)) == "AH_UNKNOWN")
  }
}

/// A handle passed to another thread (the ABI is thread-safe; the value is just bits).
final class HandleBox: @unchecked Sendable {
  let handle: OpaquePointer
  /// Searches done so far (by the thread that searches with the handle).
  let searches = Atomic<Int>(0)
  init(_ handle: OpaquePointer) { self.handle = handle }
}

/// A pthread running `body`, joined for its result (no Swift concurrency: the C ABI is
/// called from plain threads, as a C program would).
final class Worker: @unchecked Sendable {
  private var thread = pthread_t()
  private let body: () -> Int
  private var result = 0

  init(_ body: @escaping () -> Int) throws {
    self.body = body
    let context = Unmanaged.passRetained(self).toOpaque()
    let status = pthread_create(&thread, nil, { raw in
      let worker = Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue()
      worker.result = worker.body()
      return nil
    }, context)
    if status != 0 {
      Unmanaged<Worker>.fromOpaque(context).release()
      throw WorkerError(status: status)
    }
  }

  func join() throws -> Int {
    let status = pthread_join(thread, nil)
    if status != 0 { throw WorkerError(status: status) }
    return result
  }
}

struct WorkerError: Error { var status: Int32 }
