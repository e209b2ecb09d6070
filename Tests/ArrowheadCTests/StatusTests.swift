import CArrowhead
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `status` as the header spells it, for readable failures.
func name(_ status: ah_status) -> String { String(cString: ah_status_name(status)) }

@Suite("C ABI status codes")
struct StatusTests {
  let dimension = 4

  @Test func badIndexInputIsClassified() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, dimension: dimension, count: 10)
    defer { _ = ah_index_free(index) }
    var distances = [Float](repeating: 0, count: 20)
    var ids = [Int64](repeating: 0, count: 20)
    var query: [Float] = [1, 1, 1, 1]

    query[2] = .nan
    #expect(name(ah_index_search(index, query, 1, 4, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_NON_FINITE")
    #expect(lastError() == "'queries' row 0 holds NaN or infinity at dimension 2")
    query[2] = .infinity
    #expect(name(ah_index_add(index, query, 1, 4, nil, nil)) == "AH_ERROR_NON_FINITE")
    query[2] = 1
    #expect(name(ah_index_search(index, query, 1, 4, -3, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "k = -3 is invalid; k must be ≥ 1")
    #expect(name(ah_index_search(index, query, -1, 4, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'count' = -1 is negative")
    #expect(name(ah_index_search(index, nil, 1, 4, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_index_search(index, query, 1, 4, 1, 0, -1, 1, nil, 0, nil, nil, nil, &ids)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'distances' is NULL but 1 elements are needed")
    #expect(name(ah_index_search(index, query, Int64.max, 4, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().hasSuffix("elements overflow"))
    #expect(name(ah_index_add(index, query, 1, 4, [3], nil)) == "AH_ERROR_INVALID_ARGUMENT", "id 3 exists")
    #expect(lastError() == "id 3 is given twice or already in the index")

    #expect(name(ah_index_remove(index, [2, 99], 2)) == "AH_ERROR_NOT_FOUND")
    #expect(name(ah_index_remove(index, [2, 2], 2)) == "AH_ERROR_INVALID_ARGUMENT")
    var count: Int64 = 0
    #expect(ah_index_count(index, &count) == ok && count == 10, "a failed remove removes nothing")
    var vector = [Float](repeating: 0, count: 4)
    #expect(name(ah_index_vector(index, 99, &vector, 4)) == "AH_ERROR_NOT_FOUND")
    #expect(name(ah_index_vector(index, 2, &vector, 3)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'out' holds 3 elements but 4 are needed")
    #expect(ah_index_vector(index, 2, &vector, 4) == ok && vector == [2, 2, 2, 2])

    var rows = [Float](repeating: -1, count: 8)
    #expect(ah_index_vectors(index, [7, 2], 2, &rows, 8) == ok && rows == [7, 7, 7, 7, 2, 2, 2, 2])
    #expect(name(ah_index_vectors(index, [7, 99], 2, &rows, 8)) == "AH_ERROR_NOT_FOUND")
    #expect(lastError() == "ids[1]: no live vector has id 99")
    #expect(name(ah_index_vectors(index, [7, 2], 2, &rows, 7)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'out' holds 7 elements but 8 are needed")
    #expect(name(ah_index_vectors(index, [7], Int64.max, &rows, 8)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(ah_index_vectors(index, nil, 0, nil, 0) == ok, "no ids, no output")

    var live = [Int64](repeating: -1, count: 10)
    var total: Int64 = -1
    #expect(ah_index_ids(index, nil, 0, &total) == ok && total == 10, "the count only")
    #expect(ah_index_ids(index, &live, 10, &total) == ok && live == Array(0..<10))
    #expect(ah_index_remove(index, [0], 1) == ok)
    #expect(ah_index_ids(index, &live, 10, &total) == ok && total == 9 && Set(live[..<9]) == Set(1..<10))
    var short = [Int64](repeating: -1, count: 4)
    total = -1
    #expect(name(ah_index_ids(index, &short, 4, &total)) == "AH_ERROR_INVALID_ARGUMENT" && total == -1)
    #expect(lastError() == "'ids' holds 4 elements but 9 are needed" && short == [-1, -1, -1, -1])
    #expect(name(ah_index_ids(index, &short, 4, nil)) == "AH_ERROR_INVALID_ARGUMENT")
  }

  @Test func searchResultsPadMissingNeighboursAndApplyFilters() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, dimension: dimension, count: 10)
    defer { _ = ah_index_free(index) }
    var distances = [Float](repeating: 0, count: 12)
    var ids = [Int64](repeating: 0, count: 12)
    let query: [Float] = [2.25, 2.25, 2.25, 2.25]
    // Ids 1, 3, 5 pass the mask; ask for 4.
    let mask: [UInt8] = [0, 1, 0, 1, 0, 1]
    #expect(ah_index_search(index, query, 1, 4, 4, 0, -1, 1, mask, 6, nil, nil, &distances, &ids) == ok)
    #expect(Array(ids[0..<4]) == [3, 1, 5, -1])
    // ‖q − x‖² = 4·(2.25 − i)²: exact in float32.
    #expect(distances[0] == 4 * 0.5625 && distances[1] == 4 * 1.5625 && distances[2] == 4 * 7.5625 && distances[3] == .infinity)

    // A callback filter (odd ids) and the mask together: both must accept.
    let odd: ah_filter_fn = { id, _ in id % 2 == 1 ? 1 : 0 }
    let everything = [UInt8](repeating: 1, count: 10)
    #expect(ah_index_search(index, query, 1, 4, 3, 0, -1, 1, everything, 10, odd, nil, &distances, &ids) == ok)
    #expect(Array(ids[0..<3]) == [3, 1, 5])
    // A callback that aborts.
    let abort: ah_filter_fn = { _, _ in -1 }
    #expect(name(ah_index_search(index, query, 1, 4, 3, 0, -1, 1, nil, 0, abort, nil, &distances, &ids)) == "AH_ERROR_CALLBACK")
    // The context pointer reaches the callback.
    var calls = 0
    let counting: ah_filter_fn = { _, context in
      context!.assumingMemoryBound(to: Int.self).pointee += 1
      return 1
    }
    #expect(ah_index_search(index, query, 1, 4, 3, 0, -1, 1, nil, 0, counting, &calls, &distances, &ids) == ok)
    #expect(calls >= 3 && Array(ids[0..<3]) == [2, 3, 1])
  }

  /// `ah_hnsw_options`: defaults from `ah_hnsw_options_init`, every field reaches the index
  /// (and layer0_links survives a save and load), bad values and an unset struct are typed errors.
  @Test func hnswOptionsReachTheIndex() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var options = ah_hnsw_options()
    #expect(ah_hnsw_options_init(&options) == ok)
    #expect(options.struct_size == Int64(MemoryLayout<ah_hnsw_options>.size))
    #expect(options.m == 16 && options.ef_construction == 200 && options.ef_search == 64 && options.seed == 42)
    #expect(options.layer0_links == 0 && options.reuse_deleted_slots == 0 && options.build_threads == 0)

    var index: OpaquePointer?
    #expect(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, nil, &index) == ok)
    var info = ah_index_info()
    #expect(ah_index_describe(index, &info) == ok)
    #expect(info.m == 16 && info.layer0_links == 24, "NULL options: the defaults, ⌊3·16/2⌋ layer-0 links")
    _ = ah_index_free(index)

    options.m = 6
    options.ef_construction = 40
    options.ef_search = 20
    options.layer0_links = 4
    options.reuse_deleted_slots = 1
    options.build_threads = 1
    #expect(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, &options, &index) == ok, "\(lastError())")
    defer { _ = ah_index_free(index) }
    #expect(ah_index_describe(index, &info) == ok)
    #expect(info.kind == Int32(AH_INDEX_HNSW) && info.m == 6 && info.ef_construction == 40 && info.ef_search == 20)
    #expect(info.layer0_links == 4)
    let vectors: [Float] = (0..<300).map { Float(($0 * 37) % 11) - 5 }
    #expect(ah_index_add(index, vectors, 100, 3, nil, nil) == ok)
    let path = "/tmp/arrowhead-c-options-\(getpid()).ahi"
    defer { unlink(path) }
    #expect(ah_index_save(index, path) == ok)
    var loaded: OpaquePointer?
    #expect(ah_index_load(engine, path, 0, &loaded) == ok)
    defer { _ = ah_index_free(loaded) }
    var loadedInfo = ah_index_info()
    #expect(ah_index_describe(loaded, &loadedInfo) == ok)
    #expect(loadedInfo.layer0_links == 4 && loadedInfo.m == 6 && loadedInfo.count == 100)

    var bad = options
    bad.layer0_links = 13  // M = 6 allows 1 … 12
    var rejected: OpaquePointer?
    #expect(name(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, &bad, &rejected)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().contains("layer0InsertionLinks") && lastError().contains("13"), "\(lastError())")
    bad = options
    bad.layer0_links = -1
    #expect(name(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, &bad, &rejected)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'options.layer0_links' = -1 is negative")
    var unset = ah_hnsw_options()  // zeroed, never initialised
    unset.m = 8
    #expect(name(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), Int32(AH_STORAGE_F32), 0, &unset, &rejected)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().hasPrefix("options.struct_size = 0, expected at least"), "\(lastError())")
    #expect(name(ah_index_create_hnsw(engine, 3, Int32(AH_METRIC_L2), 7, 0, &options, &rejected)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(rejected == nil, "nothing is written on failure")
    #expect(name(ah_hnsw_options_init(nil)) == "AH_ERROR_INVALID_ARGUMENT")
  }

  @Test func emptyIndexAndFiles() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var index: OpaquePointer?
    #expect(ah_index_create(engine, Int32(AH_INDEX_HNSW), 3, Int32(AH_METRIC_COSINE), Int32(AH_STORAGE_INT8), 1, 0, 0, 0, 1, &index) == ok)
    defer { _ = ah_index_free(index) }
    var distances: [Float] = [0]
    var ids: [Int64] = [0]
    #expect(name(ah_index_search(index, [1, 0, 0], 1, 3, 1, 0, -1, 1, nil, 0, nil, nil, &distances, &ids)) == "AH_ERROR_EMPTY_INDEX")
    var info = ah_index_info()
    #expect(ah_index_describe(index, &info) == ok)
    #expect(info.kind == Int32(AH_INDEX_HNSW) && info.metric == Int32(AH_METRIC_COSINE) && info.storage == Int32(AH_STORAGE_INT8))
    #expect(info.rerank == 1 && info.m == 16 && info.ef_construction == 200 && info.ef_search == 64 && info.dimension == 3)

    let path = "/tmp/arrowhead-c-status-\(getpid()).ahi"
    defer { unlink(path) }
    let vectors: [Float] = (0..<300).map { Float(($0 * 37) % 11) - 5 }
    #expect(ah_index_add(index, vectors, 100, 3, nil, nil) == ok)
    #expect(ah_index_save(index, path) == ok)
    // Flip one byte in the middle of the file: a checksum catches it.
    let file = try #require(fopen(path, "r+b"))
    fseek(file, 300, SEEK_SET)
    let byte = fgetc(file)
    fseek(file, 300, SEEK_SET)
    fputc(byte ^ 0x5A, file)
    fclose(file)
    var loaded: OpaquePointer?
    #expect(name(ah_index_load(engine, path, 0, &loaded)) == "AH_ERROR_CORRUPT_FILE" && loaded == nil)
    #expect(lastError().contains("corrupted"))
    #expect(name(ah_index_load(engine, path + ".missing", 1, &loaded)) == "AH_ERROR_IO")
    #expect(name(ah_index_save(index, "/nonexistent-directory/x.ahi")) == "AH_ERROR_IO")
    #expect(name(ah_index_load(engine, nil, 1, &loaded)) == "AH_ERROR_INVALID_ARGUMENT")
  }

  @Test func kernelArgumentsAreChecked() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let a: [Float] = [1, 2, 3, 4, 5, 6]
    var c = [Float](repeating: 0, count: 4)
    // lda smaller than the row, negative sizes, a bad transpose flag, a short output.
    #expect(name(ah_gemm(engine, 0, 0, 2, 2, 3, 1, a, 2, a, 2, 0, &c, 2)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError() == "'lda' = 2 is smaller than the row length 3")
    #expect(name(ah_gemm(engine, 0, 0, -2, 2, 3, 1, a, 3, a, 2, 0, &c, 2)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_gemm(engine, 2, 0, 2, 2, 3, 1, a, 3, a, 2, 0, &c, 2)) == "AH_ERROR_INVALID_ARGUMENT")
    // Aᵀ·B with A stored 3×2: [[1,2],[3,4],[5,6]]ᵀ · [[1,2],[3,4],[5,6]] = [[35,44],[44,56]].
    #expect(ah_gemm(engine, 1, 0, 2, 2, 3, 1, a, 2, a, 2, 0, &c, 2) == ok && c == [35, 44, 44, 56])
    // Sizes whose element count overflows (the row offset fits, offset + row length does
    // not) are an argument error: they trapped, killing the caller's process.
    let huge = Int64(1) << 62 + 1
    #expect(name(ah_gemm(engine, 0, 0, 2, huge, 1, 1, a, 1, a, huge, 0, &c, huge)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().contains("overflow"))
    #expect(name(ah_gemm(engine, 0, 0, 2, 1, huge, 1, a, huge, a, 1, 0, &c, 1)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_distances(engine, 0, 2, 1, huge, a, huge, a, huge, &c, 1)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_distances(engine, 7, 1, 1, 1, a, 1, a, 1, &c, 1)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_engine_create("no-such-backend", 0, nil)) == "AH_ERROR_INVALID_ARGUMENT")
    var other: OpaquePointer?
    #expect(name(ah_engine_create("no-such-backend", 0, &other)) == "AH_ERROR_INVALID_ARGUMENT" && other == nil)
    #expect(lastError().contains("unknown backend 'no-such-backend'"))
    #expect(ah_engine_create("reference", 2, &other) == ok)
    var threads: Int32 = 0
    #expect(ah_engine_threads(other, &threads) == ok && threads == 2)
    #expect(ah_engine_free(other) == ok)
  }

  @Test func quantizeChecksItsInputAndRoundTrips() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var tensor: OpaquePointer?
    var values = (0..<96).map { Float($0) / 8 - 6 }
    let group = Int32(AH_GRANULARITY_GROUP), minimum = Int32(AH_MODE_FLOAT_MINIMUM)
    #expect(name(ah_quantize(engine, values, [3, 32], 2, 5, group, 32, minimum, nil, nil, &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().contains("5"))
    #expect(name(ah_quantize(engine, values, [3, 32], 2, 4, group, 32, minimum, "nope", nil, &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_quantize(engine, values, [3, 32], 2, 4, group, 32, minimum, "grid", "{\"steps\": [1]}", &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_quantize(engine, values, [3, -32], 2, 4, group, 32, minimum, nil, nil, &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_quantize(engine, values, [3, 32], 40, 4, group, 32, minimum, nil, nil, &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    values[40] = .nan
    #expect(name(ah_quantize(engine, values, [3, 32], 2, 4, group, 32, minimum, nil, nil, &tensor)) == "AH_ERROR_NON_FINITE")
    values[40] = -1
    // signed-max (ggml Q4_0's rule) needs symmetric codes; with them, the rows whose larger
    // extreme is positive get negative scales.
    #expect(name(ah_quantize(engine, values, [3, 32], 2, 4, group, 32, minimum, "signed-max", nil, &tensor)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(lastError().contains("it needs AH_MODE_SYMMETRIC"))
    #expect(ah_quantize(engine, values, [3, 32], 2, 4, group, 32, Int32(AH_MODE_SYMMETRIC), "signed-max", nil, &tensor) == ok)
    var signedScales = [Float](repeating: 0, count: 3)
    #expect(ah_tensor_scales(tensor, &signedScales, 3) == ok)
    // Rows −6…−2.125 (v = −6: s = 0.75), −2…1.875 (v = −2: s = 0.25), 2…5.875 (v = 5.875: s = −0.734375).
    #expect(signedScales == [0.75, 0.25, -0.734375])
    _ = ah_tensor_free(tensor)
    // 8-bit groups of 32 with the grid optimizer and a setting passed as JSON.
    #expect(ah_quantize(engine, values, [3, 32], 2, 8, group, 32, minimum, "grid", "{\"steps\": 5}", &tensor) == ok)
    defer { _ = ah_tensor_free(tensor) }
    var info = ah_tensor_info()
    #expect(ah_tensor_describe(tensor, &info) == ok)
    #expect(info.bits == 8 && info.ndim == 2 && info.rows == 3 && info.columns == 32 && info.group_count == 3)
    #expect(info.packed_bytes == 96 && info.stored_bytes == 96 + 3 * 8)
    var shape = [Int64](repeating: 0, count: 2)
    #expect(ah_tensor_shape(tensor, &shape, 2) == ok && shape == [3, 32])
    var restored = [Float](repeating: 0, count: 96)
    #expect(name(ah_tensor_dequantize(tensor, &restored, 95)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(ah_tensor_dequantize(tensor, &restored, 96) == ok)
    var codes = [UInt8](repeating: 0, count: 96), scales = [Float](repeating: 0, count: 3), offsets = scales
    #expect(ah_tensor_codes(tensor, &codes, 96) == ok && ah_tensor_scales(tensor, &scales, 3) == ok)
    #expect(ah_tensor_offsets(tensor, &offsets, 3) == ok)
    // x̂ = q·s + m is exactly what dequantize returns (mul then add in float32).
    for i in 0..<96 {
      #expect(restored[i] == Float(codes[i]) * scales[i / 32] + offsets[i / 32])
    }
  }

  @Test func modelOptionsAreValidated() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var report: UnsafeMutablePointer<CChar>?
    let cases: [(String, String)] = [
      ("{\"bitz\": 4}", "unknown option 'bitz'"),
      ("{\"bits\": \"four\"}", "option 'bits' must be an integer, got string \"four\""),
      ("[1]", "options must be a JSON object, got array"),
      ("{\"bits\": 4", "options: JSON error"),
      ("{\"optimizer\": \"gptq\"}", "optimizer 'gptq' needs calibration inputs"),
      ("{\"optimizer\": \"signed-max\"}", "optimizer 'signed-max' chooses symmetric scales (ggml Q4_0's rule): it needs mode 'symmetric'"),
      ("{\"time_groups\": 4}", "options 'time_groups' and 'calibration' go together"),
      // Accepted and never applied before (budget_bits without a budget; thresholds and
      // widths the quantizer does not make).
      ("{\"budget_bits\": [2, 4]}", "option 'budget_bits' applies only with 'budget'"),
      ("{\"budget\": 4.5, \"budget_bits\": [3, 99]}", "option 'budget_bits' holds 99"),
      ("{\"fallback_thresholds\": {\"99\": 0.5}}", "99"),
    ]
    for (options, message) in cases {
      #expect(ah_quantize_model(engine, "/nonexistent.safetensors", "/tmp/x.safetensors", options, &report) != ok)
      #expect(lastError().contains(message), "\(options): \(lastError())")
      #expect(report == nil)
    }
    #expect(name(ah_quantize_model(engine, "/nonexistent.safetensors", "/tmp/x.safetensors", nil, &report)) == "AH_ERROR_IO")
  }
}

/// What the progress callback of `ah_index_add_with_progress` saw.
private final class ProgressLog {
  var calls: [(done: Int64, total: Int64)] = []
}

@Suite("C ABI progress")
struct ProgressTests {
  @Test(arguments: [Int32(AH_INDEX_FLAT), Int32(AH_INDEX_HNSW)])
  func addReportsIncreasingProgressEndingAtTheTotal(kind: Int32) throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    let index = try makeIndex(engine, kind: kind, dimension: 4, count: 10)
    defer { _ = ah_index_free(index) }
    let count = 3_000
    var vectors: [Float] = []
    for i in 0..<count {
      let row: [Float] = [Float(i % 97), Float(i % 89), Float(i % 83), Float(i)]
      vectors += row
    }
    let log = ProgressLog()
    let record: ah_progress_fn = { done, total, context in
      Unmanaged<ProgressLog>.fromOpaque(context!).takeUnretainedValue().calls.append((done, total))
    }
    var assigned = [Int64](repeating: -1, count: count)
    let context = Unmanaged.passUnretained(log).toOpaque()
    #expect(ah_index_add_with_progress(index, vectors, Int64(count), 4, nil, &assigned, record, context) == ok, "\(lastError())")
    #expect(assigned == (10..<Int64(10 + count)).map { $0 })
    #expect(log.calls.last.map { $0.done == Int64(count) && $0.total == Int64(count) } == true)
    #expect(log.calls.map(\.done) == log.calls.map(\.done).sorted())
    #expect(kind == Int32(AH_INDEX_FLAT) ? log.calls.count == 1 : (2...201).contains(log.calls.count))

    // A failed validation adds nothing and reports nothing.
    log.calls.removeAll()
    var bad = vectors
    bad[5] = .nan
    #expect(name(ah_index_add_with_progress(index, bad, Int64(count), 4, nil, nil, record, context)) == "AH_ERROR_NON_FINITE")
    #expect(log.calls.isEmpty)
    var live: Int64 = 0
    #expect(ah_index_count(index, &live) == ok && live == Int64(10 + count))
    // No callback: the plain add.
    #expect(ah_index_add_with_progress(index, vectors, 1, 4, nil, nil, nil, nil) == ok)
  }
}
