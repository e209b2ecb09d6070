import ArrowheadCore
import ArrowheadIO

/// The Arrowhead index file format (version 1) and its writer.
///
/// ```
/// offset 0    magic "AHINDEX\0"                         8 bytes
///        8    format version (UInt32, = 1)
///        12   header length H (UInt32)
///        16   header: index kind, metric, storage, counts, graph parameters,
///             build metadata, then the section table (tag, offset, length, CRC-32)
///        16+H CRC-32 of bytes 0 ..< 16+H
///        …    sections, each starting at a multiple of 64 bytes:
///             float32 vectors, codes, quantizer scales and offsets, ids (Int64),
///             HNSW layer-0 records, upper-layer records, deleted bits, free slots
/// ```
/// All integers are little-endian. Every section carries its own CRC-32, so a loader
/// can map the file and verify lazily or up front. Sections are 64-byte aligned so that
/// vectors and links can be used straight from a memory mapping.
///
/// Saving goes through `AtomicFile` (temporary file, fsync, rename): an interrupted save
/// leaves the previous index intact.
///
/// ```swift
/// try IndexFile.save(index, to: "glove.ahi")
/// let loaded = try IndexFile.load("glove.ahi")          // memory-mapped, checksums verified
/// let results = try loaded.index.search(batch: queries, k: 10)
/// ```
public enum IndexFile {
  /// The magic number at offset 0.
  public static let magic: [UInt8] = Array("AHINDEX".utf8) + [0]
  /// The format version this build writes.
  public static let version: UInt32 = 1
  /// The versions this build reads.
  public static let readableVersions: [UInt32] = [1]

  /// Facts about how an index was built, stored in its header.
  public struct Metadata: Sendable, Hashable, Codable {
    /// Wall-clock seconds the build took (0 if unknown).
    public var buildSeconds: Double
    /// Threads the build used (0 if unknown).
    public var buildThreads: Int

    /// Creates metadata.
    public init(buildSeconds: Double = 0, buildThreads: Int = 0) {
      self.buildSeconds = buildSeconds
      self.buildThreads = buildThreads
    }
  }

  /// How to load a file.
  public struct LoadOptions: Sendable {
    /// Map the file (copy-on-write) instead of copying it into memory: loading costs no
    /// copy and untouched vectors cost no resident memory. Default true. Copying instead
    /// puts vectors and links in 2 MiB-aligned, huge-page-advised memory, which makes
    /// graph searches ~10 % faster on indexes larger than the caches (fewer TLB misses).
    public var memoryMap: Bool
    /// Keep the Float32 re-ranking copy of quantized storage memory-mapped even when
    /// `memoryMap` is false: a search reads only its few re-ranked rows, so the copy can
    /// stay on disk (paged in on demand) while codes and links are in RAM. Default true.
    public var mapRerankVectors: Bool
    /// Verify every section's checksum, and that every Float32 row is one `add` accepts
    /// (finite; squared norm ≤ Float32's largest / 4 under L2 and the inner product, a unit
    /// or zero vector under cosine), naming the first that is not (reads the whole file
    /// once). Default true; turn off only for files this process just wrote.
    public var verifyChecksums: Bool

    /// Creates options.
    public init(memoryMap: Bool = true, mapRerankVectors: Bool = true, verifyChecksums: Bool = true) {
      self.memoryMap = memoryMap
      self.mapRerankVectors = mapRerankVectors
      self.verifyChecksums = verifyChecksums
    }
  }

  /// A loaded index with the metadata from its header.
  public struct Loaded: Sendable {
    /// The index (a `FlatIndex` or an `HNSWIndex`).
    public var index: any VectorIndex
    /// The header's build metadata.
    public var metadata: Metadata
    /// The file's size in bytes.
    public var fileBytes: Int
  }

  enum Kind: UInt8 { case flat = 0, hnsw = 1 }

  enum Tag: UInt32, CaseIterable {
    case floats = 1, codes, scales, offsets, ids, layer0, upper, deleted, freeSlots

    var name: String {
      switch self {
      case .floats: "float32 vectors"
      case .codes: "codes"
      case .scales: "quantizer scales"
      case .offsets: "quantizer offsets"
      case .ids: "ids"
      case .layer0: "layer-0 links"
      case .upper: "upper-layer links"
      case .deleted: "deleted set"
      case .freeSlots: "free slots"
      }
    }
  }

  static func metricCode(_ metric: Metric) -> UInt8 {
    switch metric {
    case .squaredL2: 0
    case .innerProduct: 1
    case .cosine: 2
    }
  }

  static func encodingCode(_ encoding: VectorStorage.Encoding) -> UInt8 {
    switch encoding {
    case .float32: 0
    case .int8: 1
    case .int4: 2
    }
  }

  /// The fixed header fields (everything but the section table).
  struct Header {
    var kind: Kind
    var metric: Metric
    var storage: VectorStorage
    var explicitIDs: Bool
    var reuseDeletedSlots: Bool
    var dimension: Int
    var slots: Int
    var deletedCount: Int
    var nextID: Int
    var insertions: UInt64
    var metadata: Metadata
    var m: Int = 0
    var efConstruction: Int = 0
    var efSearch: Int = 0
    var seed: UInt64 = 0
    /// `HNSWParameters.layer0InsertionLinks`; 0 for nil (the default ⌊3M/2⌋) and for flat
    /// indexes. Stored in what was the header's spare word (always 0 before), so older files
    /// read as the default and re-save to the same bytes.
    var layer0InsertionLinks: Int = 0
    var entryPoint: UInt32 = .max
    var maxLevel: Int = -1
    var upperWords: Int = 0
  }

  struct Section {
    var tag: Tag
    var bytes: UnsafeRawBufferPointer
  }

  // MARK: Saving

  /// Saves `index` (a `FlatIndex` or `HNSWIndex`) to `path` atomically. `baseline`: the
  /// destination when the job began (e.g. before building the index); the save fails with
  /// `.writeFailed` if another writer replaced it since (default: checked from now on).
  public static func save(
    _ index: any VectorIndex, to path: String, metadata: Metadata = Metadata(), since baseline: AtomicFile.Baseline? = nil
  ) throws(IndexFileError) {
    if let flat = index as? FlatIndex {
      try flat.lock.reading { () throws(IndexFileError) in try flat.write(to: path, metadata: metadata, baseline: baseline) }
    } else if let hnsw = index as? HNSWIndex {
      try hnsw.lock.reading { () throws(IndexFileError) in try hnsw.write(to: path, metadata: metadata, baseline: baseline) }
    } else {
      throw .unsupported(reason: "\(type(of: index)) is neither a FlatIndex nor an HNSWIndex")
    }
  }

  static func write(header: Header, sections: [Section], to path: String, baseline: AtomicFile.Baseline?) throws(IndexFileError) {
    var table = ByteWriter()
    table.u8(header.kind.rawValue)
    table.u8(metricCode(header.metric))
    table.u8(encodingCode(header.storage.encoding))
    var flags: UInt8 = 0
    if header.storage.keepsFloat32ForReranking { flags |= 1 }
    if header.explicitIDs { flags |= 2 }
    if header.reuseDeletedSlots { flags |= 4 }
    table.u8(flags)
    table.u32(UInt32(header.dimension))
    table.u64(UInt64(header.slots))
    table.u64(UInt64(header.deletedCount))
    table.u64(UInt64(bitPattern: Int64(header.nextID)))
    table.u64(header.insertions)
    table.u64(header.metadata.buildSeconds.bitPattern)
    table.u32(UInt32(clamping: header.metadata.buildThreads))
    table.u32(UInt32(header.m))
    table.u32(UInt32(header.efConstruction))
    table.u32(UInt32(header.efSearch))
    table.u64(header.seed)
    table.u32(header.entryPoint)
    table.u32(UInt32(bitPattern: Int32(header.maxLevel)))
    table.u64(UInt64(header.upperWords))
    table.u32(UInt32(sections.count))
    table.u32(UInt32(header.layer0InsertionLinks))
    let headerLength = table.bytes.count + sections.count * 32
    var offset = align(16 + headerLength + 4)
    for section in sections {
      table.u32(section.tag.rawValue)
      table.u32(0)
      table.u64(UInt64(offset))
      table.u64(UInt64(section.bytes.count))
      table.u32(CRC32.checksum(section.bytes))
      table.u32(0)
      offset = align(offset + section.bytes.count)
    }
    var prelude = ByteWriter()
    prelude.bytes = magic
    prelude.u32(version)
    prelude.u32(UInt32(headerLength))
    prelude.bytes += table.bytes
    prelude.u32(CRC32.checksum(prelude.bytes))
    let head = prelude.bytes
    do {
      try AtomicFile.write(to: path, since: baseline) { (writer: AtomicFile.Writer) throws(AtomicWriteError) in
        try writer.write(head)
        for section in sections {
          let padding = align(writer.offset) - writer.offset
          if padding > 0 { try writer.write([UInt8](repeating: 0, count: padding)) }
          try writer.write(section.bytes)
        }
      }
    } catch {
      switch error {
      case .write(let failure): throw .writeFailed(path: path, reason: failure.detail)
      case .body(let failure): throw .writeFailed(path: path, reason: failure.detail)
      }
    }
  }

  @inline(__always)
  static func align(_ offset: Int) -> Int { (offset + 63) / 64 * 64 }
}

/// Little-endian byte appender.
struct ByteWriter {
  var bytes: [UInt8] = []
  mutating func u8(_ value: UInt8) { bytes.append(value) }
  mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
}

// MARK: - Writing each index type

extension FlatIndex {
  func write(to path: String, metadata: IndexFile.Metadata, baseline: AtomicFile.Baseline?) throws(IndexFileError) {
    let header = IndexFile.Header(
      kind: .flat, metric: metric, storage: storage, explicitIDs: !ids.isIdentity, reuseDeletedSlots: false,
      dimension: dimension, slots: slots, deletedCount: 0, nextID: ids.nextID, insertions: UInt64(slots),
      metadata: metadata)
    try withCommonSections(store: store, slots: slots, ids: ids) { (sections) throws(IndexFileError) in
      try IndexFile.write(header: header, sections: sections, to: path, baseline: baseline)
    }
  }
}

extension HNSWIndex {
  func write(to path: String, metadata: IndexFile.Metadata, baseline: AtomicFile.Baseline?) throws(IndexFileError) {
    var header = IndexFile.Header(
      kind: .hnsw, metric: metric, storage: storage, explicitIDs: !ids.isIdentity,
      reuseDeletedSlots: parameters.reuseDeletedSlots, dimension: dimension, slots: slots,
      deletedCount: deletedCount, nextID: ids.nextID, insertions: insertions, metadata: metadata)
    header.m = parameters.m
    header.efConstruction = parameters.efConstruction
    header.efSearch = parameters.efSearch
    header.seed = parameters.seed
    header.layer0InsertionLinks = parameters.layer0InsertionLinks ?? 0
    header.entryPoint = graph.entryPoint
    header.maxLevel = graph.maxLevel
    header.upperWords = graph.upperWords
    let freeSlots = self.freeSlots
    try withCommonSections(store: store, slots: slots, ids: ids) { (common) throws(IndexFileError) in
      try withBytes(freeSlots) { (free) throws(IndexFileError) in
        var sections = common
        sections.append(.init(tag: .layer0, bytes: graph.layer0.bytes(slots * graph.nodeBytes)))
        sections.append(.init(tag: .upper, bytes: graph.upper.bytes(graph.upperWords * 4)))
        sections.append(.init(tag: .deleted, bytes: deleted.words.bytes((slots + 63) / 64 * 8)))
        sections.append(.init(tag: .freeSlots, bytes: free))
        try IndexFile.write(header: header, sections: sections, to: path, baseline: baseline)
      }
    }
  }
}

/// Calls `body` with the vector, quantizer and id sections of a store.
private func withCommonSections(
  store: VectorStore, slots: Int, ids: IDTable, _ body: ([IndexFile.Section]) throws(IndexFileError) -> Void
) throws(IndexFileError) {
  var sections: [IndexFile.Section] = []
  if store.keepsFloats { sections.append(.init(tag: .floats, bytes: store.floats.bytes(slots * store.floatStride))) }
  let quantizer = store.quantizer
  let scales = quantizer?.scales ?? []
  let offsets = quantizer?.offsets ?? []
  let explicit = (ids.explicit ?? []).map { Int64($0) }
  try withBytes(scales) { (s) throws(IndexFileError) in
    try withBytes(offsets) { (o) throws(IndexFileError) in
      try withBytes(explicit) { (i) throws(IndexFileError) in
        if store.isQuantized {
          sections.append(.init(tag: .codes, bytes: store.codes.bytes(slots * store.codeStride)))
          sections.append(.init(tag: .scales, bytes: s))
          sections.append(.init(tag: .offsets, bytes: o))
        }
        if ids.explicit != nil { sections.append(.init(tag: .ids, bytes: i)) }
        try body(sections)
      }
    }
  }
}

/// `Array.withUnsafeBytes` with a typed error.
func withBytes<T, R, E: Error>(_ array: [T], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
  let result: Result<R, E> = array.withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
  return try result.get()
}
