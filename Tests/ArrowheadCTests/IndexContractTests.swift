import ArrowheadC
import CArrowhead
import Foundation
import Testing

/// What the header promises about indexes beyond single calls (found by an embedding
/// audit, 2026-12-07): a filter that changes its own index fails instead of waiting
/// forever, id -1 (the padding of missing neighbours) cannot be added, `rerank` describes
/// quantized storage only, and a removal is all or nothing even against a concurrent one.
@Suite("C ABI index contracts")
struct IndexContractTests {
  /// The index a filter callback acts on, and what its calls returned.
  final class Reentry: @unchecked Sendable {
    let index: OpaquePointer
    var add: ah_status = -100
    var remove: ah_status = -100
    var count: ah_status = -100
    var live: Int64 = -1
    init(_ index: OpaquePointer) { self.index = index }
  }

  /// From inside its own search filter, add and remove fail with
  /// AH_ERROR_INVALID_ARGUMENT (they waited forever for the search holding the lock); the
  /// read-only count works; and after the search the index takes both again.
  @Test(arguments: [Int32(AH_INDEX_FLAT), Int32(AH_INDEX_HNSW)])
  func aFilterCannotChangeItsOwnIndex(kind: Int32) throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, kind: kind, dimension: 4, count: 10)
    defer { _ = ah_index_free(index) }
    let reentry = Reentry(index)
    let filter: ah_filter_fn = { id, context in
      let state = Unmanaged<Reentry>.fromOpaque(context!).takeUnretainedValue()
      if id == 3 {
        let vector = [Float](repeating: 9, count: 4)
        state.add = ah_index_add(state.index, vector, 1, 4, nil, nil)
        var victim: [Int64] = [0]
        state.remove = ah_index_remove(state.index, &victim, 1)
        state.count = ah_index_count(state.index, &state.live)
      }
      return 1
    }
    var distances = [Float](repeating: 0, count: 10)
    var ids = [Int64](repeating: 0, count: 10)
    let query = [Float](repeating: 3, count: 4)
    let status = ah_index_search(
      index, query, 1, 4, 10, 0, -1, 1, nil, 0, filter, Unmanaged.passUnretained(reentry).toOpaque(), &distances, &ids)
    #expect(status == ok, "\(lastError())")
    #expect(name(reentry.add) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(reentry.remove) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(reentry.count == ok && reentry.live == 10)
    var count: Int64 = 0
    #expect(ah_index_count(index, &count) == ok && count == 10, "nothing changed")
    // Outside the filter (and from a filter of another index) both work.
    let other = try makeIndex(engine, kind: kind, dimension: 4, count: 5)
    defer { _ = ah_index_free(other) }
    let across = Reentry(index)
    #expect(ah_index_search(
      other, query, 1, 4, 5, 0, -1, 1, nil, 0, filter, Unmanaged.passUnretained(across).toOpaque(), &distances, &ids) == ok)
    #expect(across.add == ok && across.remove == ok, "\(lastError())")
    #expect(ah_index_remove(index, [1], 1) == ok)
  }

  /// -1 is what a search writes for a missing neighbour: refused as an id.
  @Test func theIdMinusOneIsReserved() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, count: 2)
    defer { _ = ah_index_free(index) }
    let vectors = [Float](repeating: 1, count: 8)
    #expect(name(ah_index_add(index, vectors, 2, 4, [7, -1], nil)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().contains("ids[1] = -1"))
    var count: Int64 = 0
    #expect(ah_index_count(index, &count) == ok && count == 2)
    #expect(ah_index_add(index, vectors, 2, 4, [7, -2], nil) == ok, "other negative ids stay valid")
  }

  /// `ah_index_info.rerank` is 1 only for quantized storage with a Float32 copy (Float32
  /// storage said 1 as well).
  @Test func rerankDescribesQuantizedStorageOnly() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    for (storage, rerank, expected) in [(AH_STORAGE_F32, 0, 0), (AH_STORAGE_F32, 1, 0), (AH_STORAGE_INT8, 0, 0), (AH_STORAGE_INT8, 1, 1)] {
      var index: OpaquePointer?
      #expect(ah_index_create(engine, Int32(AH_INDEX_FLAT), 4, Int32(AH_METRIC_L2), Int32(storage), Int32(rerank), 0, 0, 0, 1, &index) == ok)
      var info = ah_index_info()
      #expect(ah_index_describe(index, &info) == ok)
      #expect(info.rerank == Int32(expected), "storage \(storage), rerank \(rerank)")
      _ = ah_index_free(index)
    }
  }

  /// Two threads remove overlapping lists of 500 ids each (0 ..< 500, and 500 ..< 999 plus
  /// id 0) from 1 000: exactly one fails with AH_ERROR_NOT_FOUND and removes nothing, so
  /// 500 vectors stay live whichever runs first (checks and removals were separate: the
  /// audit saw 1 live vector after a NOT_FOUND that had removed 4 999 of its ids).
  @Test(arguments: [Int32(AH_INDEX_FLAT), Int32(AH_INDEX_HNSW)])
  func concurrentRemovalsAreEachAllOrNothing(kind: Int32) throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    for _ in 0..<20 {
      let index = try makeIndex(engine, kind: kind, dimension: 2, count: 1_000)
      defer { _ = ah_index_free(index) }
      let first = (0..<500).map(Int64.init), second = (500..<999).map(Int64.init) + [0]
      let handle = UInt(bitPattern: index)
      var statuses = [ah_status](repeating: -100, count: 2)
      statuses.withUnsafeMutableBufferPointer { results in
        let out = UInt(bitPattern: results.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
          let target = OpaquePointer(bitPattern: handle)
          let list = worker == 0 ? first : second
          UnsafeMutablePointer<ah_status>(bitPattern: out)![worker] = ah_index_remove(target, list, Int64(list.count))
        }
      }
      var live: Int64 = 0
      #expect(ah_index_count(index, &live) == ok)
      let failed = statuses.filter { $0 != ok }
      #expect(failed.count == 1 && name(failed[0]) == "AH_ERROR_NOT_FOUND", "\(statuses.map(name))")
      #expect(live == 500, "statuses \(statuses.map(name)), live \(live)")
    }
  }
}
