import ArrowheadCore
import ArrowheadIO

extension IndexFile {
  /// Loads an index saved by `save`. See `IndexFileError` for what is checked; every
  /// failure is a typed error, never a trap. With `options.memoryMap` (the default) the
  /// vectors, codes and links are used in place from a private (copy-on-write) mapping
  /// of the file: loading costs no copy, and later mutations touch private pages only.
  public static func load(
    _ path: String, options: LoadOptions = LoadOptions(), engine: Engine = .default
  ) throws(IndexFileError) -> Loaded {
    let mapping: FileMapping
    do {
      mapping = try FileMapping(path: path, mode: .copyOnWrite)
    } catch {
      if case .cannotOpen(_, let reason) = error { throw .cannotOpen(path: path, reason: reason) }
      throw .cannotOpen(path: path, reason: error.description)
    }
    let file = mapping.bytes
    var reader = ByteReader(bytes: file, path: path)
    guard file.count >= 8 else { throw .truncated(path: path, needed: 16, available: file.count) }
    guard Array(file[0..<8]) == magic else { throw .badMagic(path: path) }
    reader.offset = 8
    let version = try reader.u32()
    guard readableVersions.contains(version) else {
      throw .unsupportedVersion(path: path, found: version, supported: readableVersions)
    }
    let headerLength = Int(try reader.u32())
    let headerEnd = 16 + headerLength
    guard headerLength >= 100, headerEnd + 4 <= file.count else {
      throw .truncated(path: path, needed: headerEnd + 4, available: file.count)
    }
    let storedHeaderCRC = file.loadUnaligned(fromByteOffset: headerEnd, as: UInt32.self).littleEndian
    let headerCRC = CRC32.checksum(UnsafeRawBufferPointer(rebasing: file[0..<headerEnd]))
    guard storedHeaderCRC == headerCRC else {
      throw .checksumMismatch(path: path, section: "header", stored: storedHeaderCRC, computed: headerCRC)
    }

    // Fixed fields.
    guard let kind = Kind(rawValue: try reader.u8()) else { throw .inconsistent(path: path, reason: "unknown index kind") }
    let metricCode = try reader.u8()
    let encodingCode = try reader.u8()
    let flags = try reader.u8()
    let metrics: [Metric] = [.squaredL2, .innerProduct, .cosine]
    let encodings: [VectorStorage.Encoding] = [.float32, .int8, .int4]
    guard Int(metricCode) < metrics.count else { throw .inconsistent(path: path, reason: "unknown metric code \(metricCode)") }
    guard Int(encodingCode) < encodings.count else { throw .inconsistent(path: path, reason: "unknown storage code \(encodingCode)") }
    let storage = VectorStorage(encodings[Int(encodingCode)], keepsFloat32ForReranking: flags & 1 != 0)
    var header = Header(
      kind: kind, metric: metrics[Int(metricCode)], storage: storage, explicitIDs: flags & 2 != 0,
      reuseDeletedSlots: flags & 4 != 0, dimension: Int(try reader.u32()), slots: try reader.int(),
      deletedCount: try reader.int(), nextID: Int(Int64(bitPattern: try reader.u64())), insertions: try reader.u64(),
      metadata: Metadata())
    header.metadata.buildSeconds = Double(bitPattern: try reader.u64())
    header.metadata.buildThreads = Int(try reader.u32())
    header.m = Int(try reader.u32())
    header.efConstruction = Int(try reader.u32())
    header.efSearch = Int(try reader.u32())
    header.seed = try reader.u64()
    header.entryPoint = try reader.u32()
    header.maxLevel = Int(Int32(bitPattern: try reader.u32()))
    header.upperWords = try reader.int()
    let sectionCount = Int(try reader.u32())
    header.layer0InsertionLinks = Int(try reader.u32())  // validated by HNSWParameters in `restore`
    guard header.dimension >= 1, header.dimension <= 1 << 16 else {
      throw .inconsistent(path: path, reason: "dimension \(header.dimension) outside 1 … 65536")
    }
    // Counts are multiplied by record sizes below: none may exceed what the file can hold.
    guard header.upperWords <= file.count / 4 else {
      throw .inconsistent(path: path, reason: "\(header.upperWords) upper-link words cannot fit a \(file.count)-byte file")
    }
    guard header.slots < Int(UInt32.max), header.deletedCount <= header.slots else {
      throw .inconsistent(path: path, reason: "\(header.slots) slots with \(header.deletedCount) deleted")
    }
    guard sectionCount <= Tag.allCases.count, reader.offset + sectionCount * 32 <= headerEnd else {
      throw .inconsistent(path: path, reason: "\(sectionCount) sections do not fit a \(headerLength)-byte header")
    }

    // Section table: every section inside the file, each tag once, checksums verified.
    var sections: [Tag: (offset: Int, length: Int)] = [:]
    for _ in 0..<sectionCount {
      let tagCode = try reader.u32()
      _ = try reader.u32()
      let offset = try reader.int()
      let length = try reader.int()
      let storedCRC = try reader.u32()
      _ = try reader.u32()
      guard let tag = Tag(rawValue: tagCode), sections[tag] == nil else {
        throw .inconsistent(path: path, reason: "unknown or repeated section tag \(tagCode)")
      }
      guard offset % 64 == 0, offset >= headerEnd + 4 else {
        throw .inconsistent(path: path, reason: "\(tag.name) at offset \(offset) is misplaced")
      }
      let (end, overflow) = offset.addingReportingOverflow(length)
      guard !overflow, end <= file.count else {
        throw .truncated(path: path, needed: overflow ? Int.max : end, available: file.count)
      }
      if options.verifyChecksums {
        let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: file[offset..<end]))
        guard computed == storedCRC else {
          throw .checksumMismatch(path: path, section: tag.name, stored: storedCRC, computed: computed)
        }
      }
      sections[tag] = (offset, length)
    }

    // Every byte outside the header and the sections is padding the writer zeroed, and the
    // file ends with the last section: with the checksums, every byte is covered.
    var cursor = headerEnd + 4
    // By offset, then length: an empty section (no upper links, no free slots) shares its
    // offset with the next one, and must come first or it would seem to overlap it.
    let ordered = sections.sorted { ($0.value.offset, $0.value.length) < ($1.value.offset, $1.value.length) }
    for (tag, section) in ordered {
      guard section.offset >= cursor else {
        throw .inconsistent(path: path, reason: "\(tag.name) at offset \(section.offset) overlaps what precedes it (ends at \(cursor))")
      }
      if let nonZero = (cursor..<section.offset).first(where: { file[$0] != 0 }) {
        throw .inconsistent(path: path, reason: "padding byte \(nonZero) before the \(tag.name) is not zero")
      }
      cursor = section.offset + section.length
    }
    guard cursor == file.count else {
      throw .inconsistent(path: path, reason: "\(file.count - cursor) bytes follow the last section (the file should end at byte \(cursor))")
    }

    let context = LoadContext(
      path: path, mapping: mapping, sections: sections, memoryMap: options.memoryMap,
      mapRerankVectors: options.mapRerankVectors, checkVectors: options.verifyChecksums)
    let index: any VectorIndex
    switch kind {
    case .flat: index = try FlatIndex.restore(header, context, engine: engine)
    case .hnsw: index = try HNSWIndex.restore(header, context, engine: engine)
    }
    return Loaded(index: index, metadata: header.metadata, fileBytes: file.count)
  }
}

/// The mapped file and its section table while an index is rebuilt from it.
struct LoadContext {
  let path: String
  let mapping: FileMapping
  let sections: [IndexFile.Tag: (offset: Int, length: Int)]
  let memoryMap: Bool
  let mapRerankVectors: Bool
  /// Whether every Float32 row is checked (`LoadOptions.verifyChecksums`: the whole file is
  /// read anyway). A flat L2 index computes its rows' norms either way, and checks them.
  let checkVectors: Bool

  /// The bytes of section `tag`, which must exist with exactly `length` bytes.
  func bytes(_ tag: IndexFile.Tag, length: Int) throws(IndexFileError) -> UnsafeRawBufferPointer {
    guard let section = sections[tag] else {
      if length == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
      throw .inconsistent(path: path, reason: "missing \(tag.name) section")
    }
    guard section.length == length else {
      throw .inconsistent(path: path, reason: "\(tag.name) holds \(section.length) bytes, the header's counts need \(length)")
    }
    return UnsafeRawBufferPointer(rebasing: mapping.bytes[section.offset..<section.offset + length])
  }

  /// Fills `buffer` with section `tag` (a view of the mapping, or a copy).
  func fill(_ buffer: RawBuffer, _ tag: IndexFile.Tag, length: Int, map: Bool? = nil) throws(IndexFileError) {
    let bytes = try self.bytes(tag, length: length)
    if map ?? memoryMap, length > 0, let section = sections[tag] {
      buffer.adopt(mapping: mapping, offset: section.offset, count: length)
    } else {
      buffer.copyIn(bytes)
    }
  }

  /// Restores the vectors and quantizer of `store` for `slots` slots.
  /// Checks every Float32 row (see `check`); `norms`, when given, receives the rows'
  /// squared norms (a flat L2 index keeps them).
  func fillStore(_ store: VectorStore, slots: Int, metric: Metric, norms: UnsafeMutablePointer<Float>? = nil) throws(IndexFileError) {
    if store.keepsFloats {
      let map = memoryMap || (store.isQuantized && mapRerankVectors)
      try fill(store.floats, .floats, length: slots * store.floatStride, map: map)
      try check(store, slots: slots, metric: metric, norms: norms)
    }
    if store.isQuantized {
      try fill(store.codes, .codes, length: slots * store.codeStride)
      let scales = Array(try bytes(.scales, length: store.dimension * 4).bindMemoryCopy(Float.self))
      let offsets = Array(try bytes(.offsets, length: store.dimension * 4).bindMemoryCopy(Float.self))
      do {
        store.install(try ScalarQuantizer(bits: store.storage.encoding.bits, scales: scales, offsets: offsets))
      } catch {
        throw .inconsistent(path: path, reason: "quantizer: \(error)")
      }
    }
  }

  /// Refuses a Float32 row that `add` would have refused: a NaN or ∞, or (`.squaredL2`,
  /// `.innerProduct`) a squared norm past `Validation.maximumSquaredNorm`, whose distances
  /// overflow (such a row was ranked first with a score of 3·10¹⁹, last with ∞, or silently
  /// dropped). A `.cosine` index stores unit vectors (or zero ones): a row whose squared
  /// norm passes 1.01 is refused too (its scores would pass 1). One pass of sums of squares
  /// over the vectors, made with `LoadOptions.verifyChecksums` (whose pass has just read
  /// them) or when a flat L2 index needs the norms anyway: ≈ 40 ms for 100 000 × 384 (see
  /// the module README).
  func check(_ store: VectorStore, slots: Int, metric: Metric, norms: UnsafeMutablePointer<Float>?) throws(IndexFileError) {
    guard checkVectors || norms != nil else { return }
    let dimension = store.dimension
    let floats = UnsafePointer(store.floats.pointer(Float.self))
    let bound = metric == .cosine ? Self.maximumUnitSquaredNorm : Validation.maximumSquaredNorm
    for slot in 0..<slots {
      let norm = store.kernels.squaredNorm(floats + slot * dimension, dimension)
      guard norm <= bound else {
        let row = floats + slot * dimension
        let what = (0..<dimension).allSatisfy({ row[$0].isFinite })
          ? "has squared norm \(norm.isFinite ? "\(norm)" : "beyond Float32"), above the \(bound) that \(metric) rows may have"
          : "holds a NaN or infinite value"
        throw .inconsistent(path: path, reason: "row \(slot) of the float32 vectors \(what)")
      }
      norms?[slot] = norm
    }
  }

  /// The largest squared norm a stored `.cosine` row may have: 1 and room for rounding (a
  /// normalised row of 65 536 values is within 2⁻²⁴·65 536 ≈ 0.004 of 1, worst case).
  static let maximumUnitSquaredNorm: Float = 1.01

  /// The explicit id table, if the header says there is one.
  func idTable(explicit: Bool, slots: Int, nextID: Int, live: (Int) -> Bool) throws(IndexFileError) -> IDTable {
    guard explicit else {
      guard nextID >= slots else { throw .inconsistent(path: path, reason: "next id \(nextID) below \(slots) slots") }
      return IDTable(explicit: nil, nextID: nextID, live: live)
    }
    let ids = try bytes(.ids, length: slots * 8).bindMemoryCopy(Int64.self).map { Int($0) }
    var seen = Set<Int>(minimumCapacity: slots)
    for (slot, id) in ids.enumerated() where live(slot) {
      guard seen.insert(id).inserted else { throw .inconsistent(path: path, reason: "id \(id) appears twice") }
      // Automatic ids continue from `nextID`: one at or below a live id would repeat it.
      guard id < nextID || (id == .max && nextID == .max) else {
        throw .inconsistent(path: path, reason: "next id \(nextID) is not above the id \(id) of slot \(slot)")
      }
    }
    return IDTable(explicit: ids, nextID: nextID, live: live)
  }
}

extension UnsafeRawBufferPointer {
  /// A copy of the bytes as `T` values (unaligned-safe).
  func bindMemoryCopy<T: BitwiseCopyable>(_ type: T.Type) -> [T] {
    let count = self.count / MemoryLayout<T>.stride
    return [T](uninitializedCount: count) { buffer, initialized in
      if count > 0 {
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: self[0..<count * MemoryLayout<T>.stride]))
      }
      initialized = count
    }
  }
}

/// Little-endian reads with bounds checks that throw `.truncated`.
struct ByteReader {
  let bytes: UnsafeRawBufferPointer
  let path: String
  var offset = 0

  mutating func take(_ count: Int) throws(IndexFileError) -> Int {
    guard offset + count <= bytes.count else {
      throw .truncated(path: path, needed: offset + count, available: bytes.count)
    }
    defer { offset += count }
    return offset
  }

  mutating func u8() throws(IndexFileError) -> UInt8 { bytes[try take(1)] }
  mutating func u32() throws(IndexFileError) -> UInt32 {
    bytes.loadUnaligned(fromByteOffset: try take(4), as: UInt32.self).littleEndian
  }
  mutating func u64() throws(IndexFileError) -> UInt64 {
    bytes.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self).littleEndian
  }
  /// A UInt64 that must fit a non-negative Int.
  mutating func int() throws(IndexFileError) -> Int {
    let value = try u64()
    guard value <= UInt64(Int.max / 2) else {
      throw .inconsistent(path: path, reason: "count \(value) at offset \(offset - 8) is absurd")
    }
    return Int(value)
  }
}

// MARK: - Restoring each index type

extension FlatIndex {
  static func restore(_ header: IndexFile.Header, _ context: LoadContext, engine: Engine) throws(IndexFileError) -> FlatIndex {
    guard header.deletedCount == 0 else {
      throw .inconsistent(path: context.path, reason: "a flat index has no deleted slots")
    }
    let index: FlatIndex
    do {
      index = try FlatIndex(dimension: header.dimension, metric: header.metric, storage: header.storage, engine: engine)
    } catch {
      throw .inconsistent(path: context.path, reason: "\(error)")
    }
    let slots = header.slots
    if index.keepsNorms {
      // The vectors' section first: the header's slot count alone (up to 2³²) must not size
      // an allocation before the file is seen to hold that many rows.
      _ = try context.bytes(.floats, length: slots * index.store.floatStride)
      index.norms.reserve(slots * 4, preserving: 0, exact: true)
    }
    // The vector check computes the squared norms a flat L2 index keeps.
    try context.fillStore(
      index.store, slots: slots, metric: header.metric, norms: index.keepsNorms ? index.norms.pointer(Float.self) : nil)
    index.ids = try context.idTable(explicit: header.explicitIDs, slots: slots, nextID: header.nextID, live: { _ in true })
    index.slots = slots
    return index
  }
}

extension HNSWIndex {
  static func restore(_ header: IndexFile.Header, _ context: LoadContext, engine: Engine) throws(IndexFileError) -> HNSWIndex {
    let parameters = HNSWParameters(
      m: header.m, efConstruction: header.efConstruction, efSearch: header.efSearch, seed: header.seed,
      reuseDeletedSlots: header.reuseDeletedSlots,
      layer0InsertionLinks: header.layer0InsertionLinks == 0 ? nil : header.layer0InsertionLinks)
    let index: HNSWIndex
    do {
      index = try HNSWIndex(
        dimension: header.dimension, metric: header.metric, storage: header.storage, parameters: parameters, engine: engine)
    } catch {
      throw .inconsistent(path: context.path, reason: "\(error)")
    }
    let slots = header.slots
    let path = context.path
    try context.fillStore(index.store, slots: slots, metric: header.metric)
    let graph = index.graph
    try context.fill(graph.layer0, .layer0, length: slots * graph.nodeBytes)
    try context.fill(graph.upper, .upper, length: header.upperWords * 4)
    graph.upperWords = header.upperWords
    let deletedBytes = (slots + 63) / 64 * 8
    let deletedSource = try context.bytes(.deleted, length: deletedBytes)
    index.deleted.words.copyIn(deletedSource)
    let free = try context.bytes(.freeSlots, length: (context.sections[.freeSlots]?.length ?? 0)).bindMemoryCopy(UInt32.self)

    // Structure: a corrupted but checksum-valid file must fail here, not in a search.
    if slots > 0 {
      guard Int(header.entryPoint) < slots, header.maxLevel >= 0, header.maxLevel <= HNSWGraph.levelCap else {
        throw .inconsistent(path: path, reason: "entry point \(header.entryPoint) / top level \(header.maxLevel) invalid for \(slots) slots")
      }
    } else if header.entryPoint != HNSWGraph.none {
      throw .inconsistent(path: path, reason: "an empty graph with entry point \(header.entryPoint)")
    }
    // (start, end, slot) of every upper-link record, to check that none overlaps another.
    var upperRecords: [(start: Int, end: Int, slot: UInt32)] = []
    for slot in 0..<UInt32(slots) {
      let level = graph.level(slot)
      guard level <= header.maxLevel, graph.node(slot)[0] & 0xFF00_0000 == 0 else {
        throw .inconsistent(path: path, reason: "slot \(slot) has level \(level) above the top level \(header.maxLevel)")
      }
      if level > 0 {
        let start = Int(graph.node(slot)[1])
        guard start + level * graph.wordsPerUpperLevel <= header.upperWords else {
          throw .inconsistent(path: path, reason: "slot \(slot)'s upper links lie outside the upper-link section")
        }
        upperRecords.append((start, start + level * graph.wordsPerUpperLevel, slot))
      }
    }
    // Two nodes sharing upper-link words read each other's links, and an `add` linking one
    // rewrites the other's (a graph corrupted by a later insertion). The records are laid
    // out one after another; about 1 node in M has any, so the sort is small.
    upperRecords.sort { $0.start < $1.start }
    for (previous, next) in zip(upperRecords, upperRecords.dropFirst()) where next.start < previous.end {
      throw .inconsistent(
        path: path, reason: "slot \(next.slot)'s upper links overlap those of slot \(previous.slot) (words \(next.start) and \(previous.start)..<\(previous.end))")
    }
    var deletedCount = 0
    for slot in 0..<UInt32(slots) {
      let level = graph.level(slot)
      for layer in 0...level {
        let (links, count) = graph.links(slot, layer)
        guard count <= graph.capacity(layer) else {
          throw .inconsistent(path: path, reason: "slot \(slot) has \(count) links on layer \(layer), capacity \(graph.capacity(layer))")
        }
        for i in 0..<count where Int(links[i]) >= slots || graph.level(links[i]) < layer {
          // A link on layer l must reach a node that has layer l: a search walking layer l
          // reads the target's layer-l record, which a lower node does not have.
          throw .inconsistent(
            path: path,
            reason: Int(links[i]) >= slots
              ? "slot \(slot) links to slot \(links[i]) of \(slots)"
              : "slot \(slot) links on layer \(layer) to slot \(links[i]), whose top layer is \(graph.level(links[i]))")
        }
      }
      if index.deleted.contains(slot) { deletedCount += 1 }
    }
    if slots > 0, graph.level(header.entryPoint) != header.maxLevel {
      throw .inconsistent(path: path, reason: "the entry point's level is not the top level")
    }
    guard deletedCount == header.deletedCount else {
      throw .inconsistent(path: path, reason: "\(deletedCount) deleted bits, header says \(header.deletedCount)")
    }
    for slot in free where Int(slot) >= slots || !index.deleted.contains(slot) {
      throw .inconsistent(path: path, reason: "free slot \(slot) is not a deleted slot")
    }
    // Each deleted slot is free once: `add` reusing one twice would overwrite the vector it
    // had just placed there (a live vector lost, `count` one too high).
    if free.count > 1, Set(free).count != free.count {
      var seen = Set<UInt32>(minimumCapacity: free.count)
      for slot in free where !seen.insert(slot).inserted {
        throw .inconsistent(path: path, reason: "free slot \(slot) is listed twice")
      }
    }
    let deleted = index.deleted
    index.ids = try context.idTable(
      explicit: header.explicitIDs, slots: slots, nextID: header.nextID, live: { !deleted.contains(UInt32($0)) })
    graph.entryPoint = header.entryPoint
    graph.maxLevel = slots > 0 ? header.maxLevel : -1
    index.slots = slots
    index.deletedCount = deletedCount
    index.freeSlots = free
    index.insertions = header.insertions
    return index
  }
}
