import Arrowhead
import ArrowheadTestSupport
import Foundation
import Testing
@testable import ArrowheadSearch

/// The committed index golden files (Tests/Fixtures/golden, see its README): one per index
/// kind × storage, written by `arrowhead index build` from `vectors.fvecs`. Each is decoded
/// here from the documented layout (Sources/ArrowheadSearch/README.md, "File format") with
/// the tests' own CRC-32, its sections checked against values computed here from the
/// input vectors, and then loaded, searched and written again byte for byte. A format change
/// fails these tests and must come with a version bump and new golden files
/// (`Tests/Fixtures/golden/make_golden.sh`).
@Suite("Golden files: indexes")
struct GoldenIndexFileTests {
  static let folder = goldenFolder
  static let dimension = 6, count = 16

  /// The 16 input vectors (`vectors.fvecs`: per row an Int32 dimension, then the floats).
  static func vectors() throws -> [Float] {
    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: folder + "/vectors.fvecs")))
    try #require(bytes.count == count * (4 + 4 * dimension))
    var values: [Float] = []
    for row in 0..<count {
      let start = row * (4 + 4 * dimension)
      try #require(Reader(bytes).u32(start) == UInt32(dimension))
      for j in 0..<dimension { values.append(Float(bitPattern: Reader(bytes).u32(start + 4 + 4 * j))) }
    }
    return values
  }

  /// Little-endian reads.
  struct Reader {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func u8(_ at: Int) -> UInt8 { bytes[at] }
    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
    func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
  }

  /// The documented header of a version 1 file.
  struct Header {
    var kind: UInt8, metric: UInt8, encoding: UInt8, flags: UInt8
    var dimension: UInt32, slots: UInt64, deleted: UInt64, nextID: UInt64, insertions: UInt64
    var buildSeconds: Double, buildThreads: UInt32, m: UInt32, efConstruction: UInt32, efSearch: UInt32
    var seed: UInt64, entryPoint: UInt32, maxLevel: Int32, upperWords: UInt64
    /// (tag, offset, length, crc) in file order.
    var sections: [(tag: UInt32, offset: Int, length: Int, crc: UInt32)]
  }

  /// Decodes and checks the framing: magic, version, header CRC, section CRCs, 64-byte
  /// alignment, zero padding, nothing after the last section.
  static func decode(_ bytes: [UInt8], _ name: String) throws -> Header {
    let r = Reader(bytes)
    try #require(Array(bytes[0..<8]) == Array("AHINDEX".utf8) + [0], "\(name): magic")
    #expect(r.u32(8) == 1, "\(name): format version")
    let length = Int(r.u32(12))
    let sectionCount = Int(r.u32(104))
    try #require(length == 96 + 32 * sectionCount, "\(name): header length \(length) for \(sectionCount) sections")
    #expect(r.u32(16 + length) == testCRC32(bytes[0..<(16 + length)]), "\(name): header CRC")
    #expect(r.u32(108) == 0, "\(name): reserved word")
    // Fields from offset 16: kind, metric, encoding, flags (one byte each), dimension, slots,
    // deleted, next id, insertions, build seconds, build threads, M, efConstruction,
    // efSearch, seed, entry point, top level, upper words, section count, a zero word (96
    // bytes), then 32 bytes per section: tag, 0, offset, length, CRC-32, 0.
    var header = Header(
      kind: r.u8(16), metric: r.u8(17), encoding: r.u8(18), flags: r.u8(19), dimension: r.u32(20), slots: r.u64(24),
      deleted: r.u64(32), nextID: r.u64(40), insertions: r.u64(48), buildSeconds: Double(bitPattern: r.u64(56)),
      buildThreads: r.u32(64), m: r.u32(68), efConstruction: r.u32(72), efSearch: r.u32(76), seed: r.u64(80),
      entryPoint: r.u32(88), maxLevel: Int32(bitPattern: r.u32(92)), upperWords: r.u64(96), sections: [])
    var expectedOffset = (16 + length + 4 + 63) / 64 * 64
    var end = 16 + length + 4
    for index in 0..<sectionCount {
      let at = 16 + 96 + 32 * index
      let offset = Int(r.u64(at + 8)), size = Int(r.u64(at + 16))
      #expect(r.u32(at + 4) == 0 && r.u32(at + 28) == 0, "\(name): reserved words of section \(index)")
      #expect(offset == expectedOffset, "\(name): section \(index) at \(offset), expected \(expectedOffset)")
      try #require(offset + size <= bytes.count, "\(name): section \(index) past the end")
      #expect(bytes[end..<offset].allSatisfy { $0 == 0 }, "\(name): padding before section \(index)")
      #expect(r.u32(at + 24) == testCRC32(bytes[offset..<(offset + size)]), "\(name): CRC of section \(index)")
      header.sections.append((r.u32(at), offset, size, r.u32(at + 24)))
      end = offset + size
      expectedOffset = (end + 63) / 64 * 64
    }
    #expect(bytes.count == end, "\(name): \(bytes.count - end) bytes after the last section")
    return header
  }
}

extension GoldenIndexFileTests {
  /// One golden file: kind, storage, and the section tags it must hold in order (1 float32
  /// vectors, 2 codes, 3 scales, 4 offsets, 6 layer-0 records, 7 upper records, 8 deleted
  /// bits, 9 free slots; ids (5) only for explicit ids, which these files do not use).
  struct Golden: Sendable, CustomStringConvertible {
    var name: String
    var hnsw: Bool
    var bits: Int?  // nil: float32
    var rerank: Bool
    var tags: [UInt32]
    var description: String { name }
  }

  static let goldens: [Golden] = [
    Golden(name: "flat-f32", hnsw: false, bits: nil, rerank: false, tags: [1]),
    Golden(name: "flat-int8", hnsw: false, bits: 8, rerank: true, tags: [1, 2, 3, 4]),
    Golden(name: "flat-int4", hnsw: false, bits: 4, rerank: false, tags: [2, 3, 4]),
    Golden(name: "hnsw-f32", hnsw: true, bits: nil, rerank: false, tags: [1, 6, 7, 8, 9]),
    Golden(name: "hnsw-int8", hnsw: true, bits: 8, rerank: true, tags: [1, 2, 3, 4, 6, 7, 8, 9]),
    Golden(name: "hnsw-int4", hnsw: true, bits: 4, rerank: false, tags: [2, 3, 4, 6, 7, 8, 9]),
  ]

  static func bytes(_ golden: Golden) throws -> [UInt8] {
    try Array(Data(contentsOf: URL(fileURLWithPath: folder + "/\(golden.name).ahi")))
  }

  /// SQ codes of the vectors, from the documented formulas: per dimension j the training
  /// range [mⱼ, Mⱼ] of all 16 vectors, sⱼ = (Mⱼ − mⱼ)/(2ᵇ − 1), code = round-half-even((x − mⱼ)/sⱼ)
  /// clamped; 4-bit codes two per byte, low nibble first, ⌈d/2⌉ bytes per vector.
  static func scalarCodes(_ vectors: [Float], bits: Int) -> (codes: [UInt8], scales: [Float], offsets: [Float]) {
    let top = Float((1 << bits) - 1)
    var scales: [Float] = [], offsets: [Float] = []
    for j in 0..<dimension {
      let column = (0..<count).map { vectors[$0 * dimension + j] }
      scales.append((column.max()! - column.min()!) / top)
      offsets.append(column.min()!)
    }
    var codes: [UInt8] = []
    for row in 0..<count {
      let values = (0..<dimension).map { j -> UInt8 in
        let x = vectors[row * dimension + j]
        return UInt8(min(max(scales[j] == 0 ? 0 : ((x - offsets[j]) / scales[j]).rounded(.toNearestOrEven), 0), top))
      }
      if bits == 8 {
        codes += values
      } else {
        for pair in stride(from: 0, to: dimension, by: 2) {
          codes.append(values[pair] | (pair + 1 < dimension ? values[pair + 1] << 4 : 0))
        }
      }
    }
    return (codes, scales, offsets)
  }

  static func floats(_ bytes: ArraySlice<UInt8>) -> [Float] {
    stride(from: bytes.startIndex, to: bytes.endIndex, by: 4).map { at in
      Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) })
    }
  }

  /// The header and every section hold exactly what the 16 input vectors and the build
  /// options (squared L2, M = 4, efConstruction = efSearch = 16, seed 7, one thread; build
  /// time set to 0 by the script) make.
  @Test(arguments: goldens)
  func theFileHoldsTheDocumentedContents(_ golden: Golden) throws {
    let bytes = try Self.bytes(golden)
    let header = try Self.decode(bytes, golden.name)
    let vectors = try Self.vectors()
    #expect(header.kind == (golden.hnsw ? 1 : 0) && header.metric == 0)
    #expect(header.encoding == [nil: 0, 8: 1, 4: 2][golden.bits])
    // Flags: bit 0 the float32 vectors are kept (always for float32 storage, and for SQ
    // storage with a re-rank copy), bit 1 explicit ids, bit 2 slot reuse.
    #expect(header.flags == (golden.bits == nil || golden.rerank ? 1 : 0), "flags")
    #expect(header.dimension == 6 && header.slots == 16 && header.deleted == 0 && header.nextID == 16 && header.insertions == 16)
    #expect(header.buildSeconds == 0 && header.buildThreads == 1)
    #expect(header.sections.map(\.tag) == golden.tags)
    var sections: [UInt32: ArraySlice<UInt8>] = [:]
    for section in header.sections { sections[section.tag] = bytes[section.offset..<(section.offset + section.length)] }
    if let floats = sections[1] { #expect(Self.floats(floats) == vectors, "float32 vectors, row-major, unpadded") }
    if let bits = golden.bits {
      let model = Self.scalarCodes(vectors, bits: bits)
      #expect(Array(try #require(sections[2])) == model.codes)
      #expect(Self.floats(try #require(sections[3])) == model.scales)
      #expect(Self.floats(try #require(sections[4])) == model.offsets)
    }
    guard golden.hnsw else {
      #expect(header.m == 0 && header.efConstruction == 0 && header.efSearch == 0 && header.seed == 0)
      #expect(header.entryPoint == .max && header.maxLevel == -1 && header.upperWords == 0)
      return
    }
    #expect(header.m == 4 && header.efConstruction == 16 && header.efSearch == 16 && header.seed == 7)
    // The graph, decoded from the documented records: per node on layer 0, 2 + 2M words
    // (count | level << 16, upper-record offset, 2M links, unused ones zero); per upper
    // level, M + 1 words (count, M links). Checked for structure, not for which links the
    // build chose: links in range, no self or repeated links, counts within capacity,
    // layer-l links only to nodes that have layer l, the entry point on the top level.
    let layer0 = Array(try #require(sections[6])), upper = Array(try #require(sections[7]))
    #expect(layer0.count == 16 * (2 + 8) * 4 && upper.count == Int(header.upperWords) * 4)
    #expect(Array(try #require(sections[8])) == [UInt8](repeating: 0, count: 8), "no deleted slots")
    #expect(try #require(sections[9]).isEmpty, "no free slots")
    let words = Reader(layer0), upperWords = Reader(upper)
    let levels = (0..<16).map { Int(words.u32($0 * 40) >> 16) }
    #expect(levels.max() == Int(header.maxLevel) && levels[Int(header.entryPoint)] == Int(header.maxLevel))
    var linkCount = 0
    for node in 0..<16 {
      var lists: [[UInt32]] = []
      let count0 = Int(words.u32(node * 40) & 0xFFFF)
      try #require(count0 <= 8, "node \(node): \(count0) layer-0 links")
      lists.append((0..<count0).map { words.u32(node * 40 + 8 + 4 * $0) })
      #expect((count0..<8).allSatisfy { words.u32(node * 40 + 8 + 4 * $0) == 0 }, "node \(node): unused link slots zero")
      let upperOffset = Int(words.u32(node * 40 + 4))
      for level in 1...max(1, levels[node]) where levels[node] >= 1 {
        let record = (upperOffset + (level - 1) * 5) * 4
        try #require(record + 20 <= upper.count, "node \(node) level \(level): upper record in range")
        let count = Int(upperWords.u32(record))
        try #require(count <= 4, "node \(node) level \(level): \(count) links")
        lists.append((0..<count).map { upperWords.u32(record + 4 + 4 * $0) })
      }
      for (level, links) in lists.enumerated() {
        #expect(Set(links).count == links.count && !links.contains(UInt32(node)), "node \(node) level \(level): \(links)")
        #expect(links.allSatisfy { $0 < 16 && levels[Int($0)] >= level }, "node \(node) level \(level): \(links)")
        linkCount += links.count
      }
    }
    #expect(linkCount > 16, "a graph with links")
  }

  /// Loading (mapped or copied, on every backend) gives the 16 vectors back and exact
  /// answers; saving what was loaded writes the same bytes again; a flat index built now
  /// from the same vectors saves to the golden bytes too (an HNSW build is not compared: the
  /// build algorithm may change the links without changing the format).
  @Test(arguments: BackendsUnderTest.names, goldens)
  func loadsSearchesAndSavesTheSameBytes(backend: String, golden: Golden) throws {
    let engine = try BackendsUnderTest.engine(backend)
    let bytes = try Self.bytes(golden)
    let vectors = try Self.vectors()
    let directory = temporaryDirectory()
    let storage: VectorStorage
    switch golden.bits {
    case nil: storage = .float32
    case 8?: storage = VectorStorage(.int8, keepsFloat32ForReranking: golden.rerank)
    default: storage = VectorStorage(.int4, keepsFloat32ForReranking: golden.rerank)
    }
    for memoryMap in [true, false] {
      let loaded = try IndexFile.load(Self.folder + "/\(golden.name).ahi", options: IndexFile.LoadOptions(memoryMap: memoryMap), engine: engine)
      let index = loaded.index
      #expect(loaded.metadata == IndexFile.Metadata(buildSeconds: 0, buildThreads: 1) && loaded.fileBytes == bytes.count)
      #expect(index.count == 16 && index.dimension == 6 && index.metric == .squaredL2 && index.storage == storage)
      // What the index answers: the exact neighbours of each vector among the stored ones
      // (float32, or the decoded x̂ = code·s + m without a re-rank copy), computed here in
      // Double; ties are allowed in either order.
      let stored = golden.bits == nil || golden.rerank
        ? vectors
        : { () -> [Float] in
          let model = Self.scalarCodes(vectors, bits: golden.bits!)
          var decoded: [Float] = []
          for row in 0..<16 {
            for j in 0..<6 {
              let code = golden.bits == 8 ? model.codes[row * 6 + j] : (model.codes[row * 3 + j / 2] >> (4 * UInt8(j % 2))) & 0xF
              decoded.append(Float(code) * model.scales[j] + model.offsets[j])
            }
          }
          return decoded
        }()
      let results = try index.search(batch: vectors, k: 5, parameters: SearchParameters(efSearch: 16))
      for (row, result) in results.enumerated() {
        let query = Array(vectors[row * 6..<(row + 1) * 6])
        let exact = bruteForce(base: stored, query: query, dimension: 6, metric: .squaredL2, k: 5)
        expectValidTopK(result, exact: exact, base: stored, query: query, dimension: 6, metric: .squaredL2, tolerance: 1e-5)
        if golden.bits == nil || golden.rerank { #expect(result.ids.first == row, "\(golden) on \(backend): vector \(row) finds itself") }
      }
      let again = directory + "/\(golden.name)-\(memoryMap).ahi"
      try IndexFile.save(index, to: again, metadata: loaded.metadata)
      #expect(try Array(Data(contentsOf: URL(fileURLWithPath: again))) == bytes, "\(golden) on \(backend): saved again")
    }
    if !golden.hnsw {
      let fresh = try FlatIndex(dimension: 6, metric: .squaredL2, storage: storage, engine: engine)
      try fresh.add(vectors)
      let path = directory + "/\(golden.name)-fresh.ahi"
      try IndexFile.save(fresh, to: path, metadata: IndexFile.Metadata(buildSeconds: 0, buildThreads: 1))
      #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == bytes, "\(golden) on \(backend): built now")
    }
  }
}

extension GoldenIndexFileTests {
  @Test func theTestsCRCIsTheStandardOne() {
    #expect(testCRC32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(testCRC32([UInt8]()) == 0)
  }
}
