import Arrowhead
import ArrowheadIO
import ArrowheadTestSupport
import Testing
@testable import ArrowheadSearch

#if canImport(Glibc)
import Glibc
#endif

private func readFile(_ path: String) -> [UInt8] {
  guard let file = fopen(path, "rb") else { return [] }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let count = fread(&buffer, 1, buffer.count, file)
    if count <= 0 { break }
    bytes += buffer[0..<count]
  }
  return bytes
}

@Suite("Index files")
struct PersistenceTests {
  static let dimension = 12

  static func hnsw(storage: VectorStorage = .float32, ids: [Int]? = nil) throws -> (HNSWIndex, [Float]) {
    let base = clusteredVectors(count: 600, dimension: dimension, seed: 31)
    let index = try HNSWIndex(
      dimension: dimension, metric: .cosine, storage: storage, parameters: HNSWParameters(m: 6, efConstruction: 32, efSearch: 40))
    try index.add(base, ids: ids)
    return (index, base)
  }

  @Test func crcCheckValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum([UInt8]()) == 0)
  }

  @Test(arguments: [true, false])
  func hnswRoundTripGivesIdenticalResults(memoryMap: Bool) throws {
    let ids = (0..<600).map { 1_000 + 7 * $0 }
    let (index, base) = try Self.hnsw(storage: VectorStorage(.int8, keepsFloat32ForReranking: true), ids: ids)
    try index.remove(1_000 + 7 * 5)
    let path = temporaryDirectory() + "/g.ahi"
    try index.save(to: path, metadata: IndexFile.Metadata(buildSeconds: 1.5, buildThreads: 2))
    let loaded = try IndexFile.load(path, options: IndexFile.LoadOptions(memoryMap: memoryMap))
    #expect(loaded.metadata == IndexFile.Metadata(buildSeconds: 1.5, buildThreads: 2))
    let copy = try #require(loaded.index as? HNSWIndex)
    try copy.checkInvariants()
    #expect(copy.count == 599 && copy.storage == index.storage && copy.parameters.m == 6)
    let queries = Array(base[0..<30 * Self.dimension])
    #expect(try copy.search(batch: queries, k: 5) == (try index.search(batch: queries, k: 5)))
    // The loaded index stays mutable (copy-on-write pages when mapped).
    try copy.add(Array(base[0..<Self.dimension]), ids: [99])
    #expect(try copy.search(Array(base[0..<Self.dimension]), k: 1).ids.first.map { [99, 1_000].contains($0) } == true)
    try copy.checkInvariants()
  }

  /// `layer0InsertionLinks` is stored in the header: a loaded index keeps inserting with the
  /// rule it was built with (before it was stored, later adds silently used the default).
  @Test func layer0InsertionLinksSurviveASaveAndGovernLaterAdds() throws {
    let all = integerVectors(count: 700, dimension: Self.dimension, seed: 33)
    let engine = Engine.default.withThreads(1)
    let parameters = HNSWParameters(m: 6, efConstruction: 32, buildThreads: 1, layer0InsertionLinks: 4)
    let index = try HNSWIndex(dimension: Self.dimension, parameters: parameters, engine: engine)
    try index.add(Array(all[0..<600 * Self.dimension]))
    let path = temporaryDirectory() + "/links.ahi"
    try index.save(to: path)
    let copy = try #require(try IndexFile.load(path, engine: engine).index as? HNSWIndex)
    #expect(copy.parameters.layer0InsertionLinks == 4 && copy.parameters.m == 6 && copy.parameters.efConstruction == 32)
    // The same 100 additions to both (one build thread: deterministic) give the same graph,
    // link for link; with the default rule (9 links for M = 6) the copy's would differ.
    let more = Array(all[(600 * Self.dimension)...])
    try index.add(more)
    try copy.add(more)
    for slot in 0..<UInt32(700) {
      let (a, na) = index.graph.links(slot, 0)
      let (b, nb) = copy.graph.links(slot, 0)
      #expect(Array(UnsafeBufferPointer(start: a, count: na)) == Array(UnsafeBufferPointer(start: b, count: nb)), "slot \(slot)")
    }

    // A file written before the field existed has 0 there: the default (nil), and it
    // re-saves to the same bytes. A value outside 1 … 2·M is an inconsistent file.
    let defaults = try HNSWIndex(dimension: Self.dimension, parameters: HNSWParameters(m: 6, efConstruction: 32))
    try defaults.add(Array(all[0..<50 * Self.dimension]))
    let plain = temporaryDirectory() + "/plain.ahi"
    try defaults.save(to: plain)
    let plainBytes = readFile(plain)
    // Header word at 16 + 92: after the section count (see IndexFile's layout).
    #expect(plainBytes[108..<112].allSatisfy { $0 == 0 })
    let reloaded = try #require(try IndexFile.load(plain).index as? HNSWIndex)
    #expect(reloaded.parameters.layer0InsertionLinks == nil)
    let resaved = temporaryDirectory() + "/resaved.ahi"
    try reloaded.save(to: resaved)
    #expect(readFile(resaved) == plainBytes)

    var forged = plainBytes
    forged[108] = 13  // M = 6 allows 1 … 12
    let headerEnd = 16 + Int(UInt32(forged[12]) | UInt32(forged[13]) << 8 | UInt32(forged[14]) << 16 | UInt32(forged[15]) << 24)
    let crc = CRC32.checksum(Array(forged[0..<headerEnd]))
    for i in 0..<4 { forged[headerEnd + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    let forgedPath = temporaryDirectory() + "/forged-links.ahi"
    try AtomicFile.write(forged, to: forgedPath)
    do {
      _ = try IndexFile.load(forgedPath)
      Issue.record("layer-0 insertion links 13 with M = 6 must not load")
    } catch {
      guard case .inconsistent(_, let reason) = error else {
        Issue.record("expected .inconsistent, got \(error)")
        return
      }
      #expect(reason.contains("layer0InsertionLinks"), "\(reason)")
    }
  }

  @Test(arguments: [VectorStorage.float32, .int8, .int4])
  func flatRoundTrip(storage: VectorStorage) throws {
    let base = integerVectors(count: 300, dimension: Self.dimension, seed: 32)
    let index = try FlatIndex(dimension: Self.dimension, metric: .squaredL2, storage: storage)
    try index.add(base)
    try index.remove(17)
    let path = temporaryDirectory() + "/f.ahi"
    try index.save(to: path)
    let loaded = try #require(try IndexFile.load(path).index as? FlatIndex)
    #expect(loaded.count == 299 && loaded.quantizer == index.quantizer)
    let queries = Array(base[0..<20 * Self.dimension])
    #expect(try loaded.search(batch: queries, k: 7) == (try index.search(batch: queries, k: 7)))
    #expect(!loaded.contains(17) && loaded.contains(299))
  }

  @Test func corruptedFilesAreTypedErrors() throws {
    let (index, _) = try Self.hnsw()
    let directory = temporaryDirectory()
    let path = directory + "/good.ahi"
    try index.save(to: path)
    let good = readFile(path)
    func variant(_ name: String, _ change: (inout [UInt8]) -> Void) throws -> String {
      var bytes = good
      change(&bytes)
      let target = directory + "/" + name
      try AtomicFile.write(bytes, to: target)
      return target
    }

    let magic = try variant("magic.ahi") { $0[0] = UInt8(ascii: "X") }
    #expect(throws: IndexFileError.badMagic(path: magic)) { try IndexFile.load(magic) }

    let version = try variant("version.ahi") { $0[8] = 9 }
    #expect(throws: IndexFileError.unsupportedVersion(path: version, found: 9, supported: [1])) { try IndexFile.load(version) }

    let header = try variant("header.ahi") { $0[40] ^= 0x10 }
    #expect(throws: IndexFileError.self) { try IndexFile.load(header) }
    do {
      _ = try IndexFile.load(header)
    } catch {
      guard case .checksumMismatch(_, "header", _, _) = error else {
        Issue.record("expected a header checksum mismatch, got \(error)")
        return
      }
    }

    // Flip one byte of the last section (free slots are empty, so the deleted set or links).
    let body = try variant("body.ahi") { $0[$0.count / 2] ^= 0xFF }
    do {
      _ = try IndexFile.load(body)
      Issue.record("a corrupted section must not load")
    } catch {
      guard case .checksumMismatch(_, let section, _, _) = error else {
        Issue.record("expected a section checksum mismatch, got \(error)")
        return
      }
      #expect(section != "header")
    }

    let truncated = try variant("cut.ahi") { $0.removeLast(1000) }
    do {
      _ = try IndexFile.load(truncated)
      Issue.record("a truncated file must not load")
    } catch {
      guard case .truncated = error else {
        Issue.record("expected .truncated, got \(error)")
        return
      }
    }

    let tiny = try variant("tiny.ahi") { $0 = Array($0.prefix(12)) }
    #expect(throws: IndexFileError.truncated(path: tiny, needed: 16, available: 12)) { try IndexFile.load(tiny) }

    let empty = try variant("empty.ahi") { $0 = [] }
    #expect(throws: IndexFileError.truncated(path: empty, needed: 16, available: 0)) { try IndexFile.load(empty) }

    #expect(throws: IndexFileError.self) { try IndexFile.load(directory + "/missing.ahi") }
  }

  /// Issue 15: every byte is covered. Flipping any single byte of a saved index (header,
  /// section data, the zero padding between sections, the checksums themselves) makes the
  /// load fail with a typed error in both load modes, and so does a byte appended.
  @Test(arguments: [true, false])
  func everyFlippedByteOfAnIndexFileIsDetected(memoryMap: Bool) throws {
    let base = integerVectors(count: 40, dimension: 4, seed: 5)
    let index = try HNSWIndex(dimension: 4, storage: VectorStorage(.int8, keepsFloat32ForReranking: true), parameters: HNSWParameters(m: 4))
    try index.add(base, ids: (0..<40).map { 10 * $0 })
    try index.remove(30)
    let directory = temporaryDirectory()
    let path = directory + "/small.ahi"
    try index.save(to: path)
    let good = readFile(path)
    let options = IndexFile.LoadOptions(memoryMap: memoryMap)
    var undetected: [Int] = []
    for offset in 0..<good.count {
      var bytes = good
      bytes[offset] ^= 0x01
      let target = directory + "/flip.ahi"
      try AtomicFile.write(bytes, to: target)
      if (try? IndexFile.load(target, options: options)) != nil { undetected.append(offset) }
    }
    #expect(undetected.isEmpty, "\(good.count)-byte file: flips not detected at \(undetected.prefix(20))")
    let longer = directory + "/longer.ahi"
    try AtomicFile.write(good + [0], to: longer)
    #expect(throws: IndexFileError.self) { try IndexFile.load(longer, options: options) }
  }

  /// A file whose checksums are valid but whose contents lie (a forged link) must fail
  /// the structural check instead of crashing a later search.
  @Test func forgedLinksAreRejected() throws {
    let (index, _) = try Self.hnsw()
    // Corrupt a link in memory, then save: checksums are computed over the bad data.
    index.graph.links(3, 0).links[0] = 1_000_000
    let path = temporaryDirectory() + "/forged.ahi"
    try index.save(to: path)
    #expect(throws: IndexFileError.inconsistent(path: path, reason: "slot 3 links to slot 1000000 of 600")) {
      try IndexFile.load(path)
    }
  }

  @Test func aFailedSaveLeavesThePreviousFile() throws {
    let (index, _) = try Self.hnsw()
    let directory = temporaryDirectory()
    let path = directory + "/keep.ahi"
    try index.save(to: path)
    let before = readFile(path)
    // Saving into a missing directory fails before anything is renamed.
    #expect(throws: IndexFileError.self) { try index.save(to: directory + "/no/such/dir/x.ahi") }
    #expect(readFile(path) == before)
    #expect(try IndexFile.load(path).index.count == 600)
  }
}

/// Files whose checksums are valid but whose contents are not what any index saves (made by
/// corrupting an index in memory and saving it, or by rewriting a section and its CRC): the
/// loader refuses each with `.inconsistent`, naming the file and the row or slot, instead of
/// loading an index that searches wrongly.
@Suite("Index files with valid checksums and invalid contents")
struct SemanticallyInvalidIndexFileTests {
  static func forged(_ name: String, _ index: any VectorIndex) throws -> String {
    let path = temporaryDirectory() + "/" + name
    try index.save(to: path)
    return path
  }

  static func store(_ index: any VectorIndex) -> VectorStore {
    (index as? FlatIndex)?.store ?? (index as! HNSWIndex).store
  }

  /// A flat L2 search over a loaded row of squared norm 1.8·10³⁹ ranked it last with score
  /// ∞, an inner-product one first with 3.3·10¹⁹; a NaN row was dropped (3 of 4
  /// neighbours), and cosine scores passed 1. Each is refused, naming the row, in both load
  /// modes.
  @Test(arguments: [Metric.squaredL2, .innerProduct, .cosine], [false, true])
  func rowsThatAddWouldRefuseAreRefusedOnLoad(metric: Metric, hnsw: Bool) throws {
    let storages = [VectorStorage.float32, VectorStorage(.int8, keepsFloat32ForReranking: true)]
    for storage in storages {
      let index: any VectorIndex = hnsw
        ? try HNSWIndex(dimension: 2, metric: metric, storage: storage, parameters: HNSWParameters(m: 2))
        : try FlatIndex(dimension: 2, metric: metric, storage: storage)
      try index.add([1, 0, 0, 1, 0.6, 0.8, -1, 0])
      let floats = Self.store(index).floats.pointer(Float.self)
      let limit = metric == .cosine ? "1.01" : "\(Validation.maximumSquaredNorm)"
      for (values, what) in [
        ([Float](arrayLiteral: 3e19, 3e19), "has squared norm beyond Float32, above the \(limit) that \(metric) rows may have"),
        ([1e19, 0], "has squared norm 1e+38, above the \(limit) that \(metric) rows may have"),
        ([.nan, 0], "holds a NaN or infinite value"),
        ([0, -.infinity], "holds a NaN or infinite value"),
      ] {
        floats[4] = values[0]
        floats[5] = values[1]
        let path = try Self.forged("row.ahi", index)
        for memoryMap in [true, false] {
          #expect(throws: IndexFileError.inconsistent(path: path, reason: "row 2 of the float32 vectors \(what)")) {
            try IndexFile.load(path, options: IndexFile.LoadOptions(memoryMap: memoryMap))
          }
        }
      }
      if metric == .cosine {
        floats[4] = 2  // not a unit vector: cosine scores above 1
        floats[5] = 0
        let path = try Self.forged("unit.ahi", index)
        #expect(throws: IndexFileError.inconsistent(path: path, reason: "row 2 of the float32 vectors has squared norm 4.0, above the 1.01 that cosine rows may have")) {
          try IndexFile.load(path)
        }
      }
      // The largest rows `add` accepts still load, with every neighbour and finite scores.
      floats[4] = metric == .cosine ? 0.6 : 6.5e18
      floats[5] = metric == .cosine ? 0.8 : 6.5e18
      let path = try Self.forged("large.ahi", index)
      let result = try IndexFile.load(path).index.search([1, 0.1], k: 4)
      #expect(result.ids.count == 4 && result.neighbors.allSatisfy { $0.score.isFinite })
    }
  }

  /// Automatic ids continue from the header's next id: a next id at or below a live id made
  /// `add` give out that id again (ids [10, 11, 12, 11, 12]).
  @Test func nextIDAtOrBelowALiveIDIsRefused() throws {
    for index in [try FlatIndex(dimension: 2) as any VectorIndex, try HNSWIndex(dimension: 2, parameters: HNSWParameters(m: 2))] {
      try index.add([1, 0, 0, 1, 2, 2], ids: [10, 11, 12])
      let live: (Int) -> Bool = { _ in true }
      if let flat = index as? FlatIndex {
        flat.ids = IDTable(explicit: [10, 11, 12], nextID: 11, live: live)
      } else if let hnsw = index as? HNSWIndex {
        hnsw.ids = IDTable(explicit: [10, 11, 12], nextID: 11, live: live)
      }
      let path = try Self.forged("next.ahi", index)
      #expect(throws: IndexFileError.inconsistent(path: path, reason: "next id 11 is not above the id 11 of slot 1")) {
        try IndexFile.load(path)
      }
    }
    // Int.max as an id leaves next id Int.max: that file loads (and automatic ids then throw).
    let index = try FlatIndex(dimension: 1)
    try index.add([1, 2], ids: [-5, .max])
    let loaded = try IndexFile.load(try Self.forged("max.ahi", index)).index
    #expect(loaded.liveIDs() == [-5, .max])
    #expect(throws: SearchError.self) { try loaded.add([3]) }
  }

  /// Two nodes whose upper-link records share words: each reads the other's links, and an
  /// `add` linking one rewrites the other's. Refused, naming both slots; the valid layout
  /// of the same index loads.
  @Test func upperLinkRecordsThatOverlapAreRefused() throws {
    let index = try HNSWIndex(dimension: 2, parameters: HNSWParameters(m: 2, seed: 7))
    var values: [Float] = []
    for i in 0..<200 { values += [Float(i % 20), Float(i / 20)] }
    try index.add(values)
    let graph = index.graph
    let upper = (0..<UInt32(200)).filter { graph.level($0) > 0 }
    try #require(upper.count >= 2)
    #expect(try IndexFile.load(try Self.forged("valid.ahi", index)).index.count == 200)
    let (first, second) = (upper[0], upper[1])
    let saved = graph.node(second)[1]
    graph.node(second)[1] = graph.node(first)[1]
    defer { graph.node(second)[1] = saved }
    let path = try Self.forged("overlap.ahi", index)
    #expect {
      try IndexFile.load(path)
    } throws: { error in
      guard case .inconsistent(let file, let reason) = error as? IndexFileError else { return false }
      return file == path && reason.contains("upper links overlap") && reason.contains("slot \(first)") && reason.contains("slot \(second)")
    }
  }

  /// A deleted slot listed twice among the free slots: with `reuseDeletedSlots`, one `add`
  /// placed two vectors in it, losing the first (count 5 with 4 live ids).
  @Test func aFreeSlotListedTwiceIsRefused() throws {
    let index = try HNSWIndex(dimension: 2, parameters: HNSWParameters(m: 2, reuseDeletedSlots: true))
    try index.add([1, 0, 0, 1, 2, 2, 3, 3])
    try index.remove(1)
    index.freeSlots = [1, 1]
    let path = try Self.forged("free.ahi", index)
    #expect(throws: IndexFileError.inconsistent(path: path, reason: "free slot 1 is listed twice")) { try IndexFile.load(path) }
  }

  /// A quantizer whose largest code decodes past Float32 (scale 10³⁸): a search over the
  /// loaded index returned no neighbour at all. The file's scales are rewritten with their
  /// section checksum and the header's recomputed.
  @Test func quantizerScalesThatDecodeToInfinityAreRefused() throws {
    let index = try FlatIndex(dimension: 2, metric: .squaredL2, storage: .int8)
    try index.add([1, 0, 0, 1, 2, 2, 3, 3])
    let path = try Self.forged("scales.ahi", index)
    for (scales, reason) in [
      ([Float](arrayLiteral: 1e38, 1), "quantizer: parameter 'scales[0]' = 1e+38 with offset 0.0 is invalid; expected offset + 255·scale within the Float32 range (every code decodes to a finite value)"),
      ([1, .nan], "quantizer: parameter 'scales[1]' = nan is invalid; expected a finite value ≥ 0"),
    ] {
      var bytes = readFile(path)
      rewriteSection(&bytes, tag: 3) { section in
        for (j, scale) in scales.enumerated() {
          withUnsafeBytes(of: scale.bitPattern.littleEndian) { section.replaceSubrange(4 * j..<4 * j + 4, with: $0) }
        }
      }
      let forged = temporaryDirectory() + "/forged-scales.ahi"
      try AtomicFile.write(bytes, to: forged)
      #expect(throws: IndexFileError.inconsistent(path: forged, reason: reason)) { try IndexFile.load(forged) }
    }
    // Zero scales (constant dimensions) are valid: every code decodes to the offset.
    var bytes = readFile(path)
    rewriteSection(&bytes, tag: 3) { section in section = [UInt8](repeating: 0, count: section.count) }
    let constant = temporaryDirectory() + "/constant.ahi"
    try AtomicFile.write(bytes, to: constant)
    #expect(try IndexFile.load(constant).index.vector(for: 3) == [0, 0])
  }

  /// An HNSW index whose graph has no upper layer (a few vectors) saves an empty upper-link
  /// section at the offset of the deleted set: the loader sorted sections by offset alone,
  /// and, depending on the dictionary's order, saw the empty one overlap the deleted set and
  /// refused a valid file (about 2 loads in 5 of a 3-vector index).
  @Test func anEmptySectionSharingAnOffsetLoads() throws {
    let index = try HNSWIndex(dimension: 2, parameters: HNSWParameters(m: 16, reuseDeletedSlots: true))
    try index.add([1, 2, 3, 4, 5, 6])
    #expect(index.graph.upperWords == 0)
    let path = try Self.forged("small.ahi", index)
    for _ in 0..<64 {
      #expect(try IndexFile.load(path).index.count == 3)
    }
    try index.remove([0, 1, 2])
    let empty = try Self.forged("removed.ahi", index)
    let loaded = try IndexFile.load(empty).index
    #expect(loaded.count == 0)
    #expect(throws: SearchError.emptyIndex) { try loaded.search([1, 1], k: 1) }
    try loaded.add([7, 8])
    #expect(try loaded.search([7, 8], k: 1).ids == [3])
  }
}

/// Replaces the data of section `tag` (1 floats, 2 codes, 3 scales, 4 offsets, 5 ids …) with
/// `change` applied to it, and recomputes its CRC in the section table and the header's CRC,
/// so that the file passes every checksum (`IndexFile` layout: fixed fields, then the
/// section table at byte 112, 32 bytes per entry; header CRC at 16 + header length).
func rewriteSection(_ bytes: inout [UInt8], tag: UInt32, _ change: (inout [UInt8]) -> Void) {
  func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
  func u64(_ at: Int) -> Int { Int(bytes[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
  func put(_ value: UInt32, at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) } }
  let headerEnd = 16 + Int(u32(12))
  let sectionCount = Int(u32(104))
  for entry in 0..<sectionCount {
    let at = 112 + 32 * entry
    guard u32(at) == tag else { continue }
    let offset = u64(at + 8), length = u64(at + 16)
    var section = Array(bytes[offset..<offset + length])
    change(&section)
    bytes.replaceSubrange(offset..<offset + length, with: section)
    put(testCRC32(section), at: at + 24)
  }
  put(testCRC32(bytes[0..<headerEnd]), at: headerEnd)
}
