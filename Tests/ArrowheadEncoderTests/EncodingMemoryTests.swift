@testable import ArrowheadEncoder
import ArrowheadTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the streaming encode keeps between tokenizing and running the batches
/// (`TokenStore`) and the scratch its workers run in (`ScratchPages`).
/// Whether this process runs under AddressSanitizer (its runtime exports `__asan_init`).
private let addressSanitizerIsLoaded: Bool = {
  #if canImport(Glibc)
  guard let handle = dlopen(nil, RTLD_NOW) else { return false }
  defer { dlclose(handle) }
  return dlsym(handle, "__asan_init") != nil
  #else
  return false
  #endif
}()

@Suite("Encoding memory")
struct EncodingMemoryTests {
  /// A vocabulary of ≤ 65 536 tokens stores 2 bytes an id, and after `shrinkToFit` holds
  /// no more than that (up to the allocator's 16-byte rounding), not the appends' spare
  /// capacity; every text's ids come back as appended.
  @Test func narrowStoreKeepsTwoBytesAnID() {
    var store = TokenStore(vocabularySize: 30_522, texts: 3)
    let texts: [[Int32]] = [[101, 7_592, 102], [101, 30_521, 0, 102], [101, 102]]
    for ids in texts { store.append(ids) }
    #expect(store.bytesPerID == 2)
    #expect(store.count == 3 && store.tokenCount == 9)
    #expect(store.lengths == [3, 4, 2])
    #expect((0..<3).map { store.ids(of: $0) } == texts)

    // 3 000 texts of 1…11 ids (17 988 ids): the appends leave spare capacity, which goes.
    func ids(_ text: Int) -> [Int32] { (0...(text % 11)).map { Int32(($0 * 7_919 + text) % 30_522) } }
    var large = TokenStore(vocabularySize: 30_522)
    for text in 0..<3_000 { large.append(ids(text)) }
    #expect(large.tokenCount == 17_988)
    #expect(large.idBytes > 17_988 * 2 + 16)
    large.shrinkToFit()
    #expect(large.idBytes <= 17_988 * 2 + 16)
    let last = ids(2_999)
    #expect(large.ids(of: 2_999) == last)
  }

  /// A larger vocabulary keeps 4 bytes an id, ids above 65 535 intact.
  @Test func wideStoreKeepsLargeIDs() {
    var store = TokenStore(vocabularySize: 65_537)
    store.append([Int32(65_536), 1, 70_000 - 4_465])
    store.append([Int]())
    store.append([2, 65_535])
    store.shrinkToFit()
    #expect(store.bytesPerID == 4)
    #expect(store.idBytes <= 5 * 4 + 16)
    #expect(store.lengths == [3, 0, 2])
    #expect(store.ids(of: 0) == [65_536, 1, 65_535])
    #expect(store.ids(of: 1) == [])
    #expect(store.ids(of: 2) == [2, 65_535])
  }

  /// The scratch of a batch covers its largest pass: passes of ≤ `passTokens` tokens, or
  /// one longer sequence; states (T × h) and the layers' scratch for T tokens.
  @Test func scratchCoversTheLargestPass() throws {
    let folder = try TinyBert(seed: 61).write(to: try temporaryDirectory("tiny-scratch"))
    let encoder = try SentenceEncoder(folder: folder.path)
    let c = encoder.bert.configuration
    func expected(_ tokens: Int) -> Int { tokens * c.hiddenSize + BertEncoder.scratchCount(tokens: tokens, configuration: c) }
    let pass = SentenceEncoder.passTokens
    #expect(SentenceEncoder.passCapacity(lengths: [7, 5]) == 12)
    #expect(SentenceEncoder.passCapacity(lengths: [pass / 2, pass / 2, pass / 2]) == pass)
    #expect(SentenceEncoder.passCapacity(lengths: [pass + 9, 3]) == pass + 9)
    #expect(SentenceEncoder.passCapacity(lengths: [Int]()) == 1)
    #expect(encoder.scratchCount(lengths: [7, 5]) == expected(12))
    #expect(encoder.scratchCount(lengths: [pass + 9, 3]) == expected(pass + 9))
  }

  /// Scratch pages are a mapping of their own (given back whole when released, never left
  /// in the allocator's free lists), zero-filled and writable to the last float.
  @Test func scratchPagesAreMappedAndZeroed() {
    let count = 300_000
    let pages = ScratchPages(count: count)
    let isMapped = pages.isMapped, floats = pages.count, base = pages.base
    #expect(isMapped)
    #expect(floats == count)
    #expect(base[0] == 0 && base[count - 1] == 0)
    base[count - 1] = 1.5
    #expect(base[count - 1] == 1.5)
    #expect(Int(bitPattern: UnsafeRawPointer(base)) % 4096 == 0)
    _ = consume pages
  }

  /// Stacking q, k, v copies their rows, in order, into one tensor of its own.
  @Test func stackedTensorHoldsThePartsRows() {
    let q = WeightTensor(name: "q", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
    let k = WeightTensor(name: "k", shape: [1, 3], values: [7, 8, 9])
    let v = WeightTensor(name: "v", shape: [2, 3], values: [10, 11, 12, 13, 14, 15])
    let stacked = WeightTensor.stacked([q, k, v], name: "qkv")
    #expect(stacked.name == "qkv")
    #expect(stacked.shape == [5, 3])
    #expect(stacked.count == 15)
    #expect(!stacked.isMapped)
    #expect(Array(UnsafeBufferPointer(start: stacked.pointer, count: stacked.count)) == (1...15).map(Float.init))
  }

  #if canImport(Glibc)
  /// Memory freed below a live allocation is given back: 64 blocks of 32 KiB (below
  /// glibc's threshold for blocks of their own), every other one freed, are 1 MiB of free
  /// pages in the middle of the heap, which `giveBack` releases (`malloc_trim` reports it).
  /// Not under AddressSanitizer (`scripts/sanitize.sh asan`): its allocator replaces glibc's
  /// malloc, and its `malloc_trim` gives back nothing and returns 0.
  @Test(.disabled(if: addressSanitizerIsLoaded, "AddressSanitizer's allocator replaces glibc's malloc_trim"))
  func freedPagesInTheMiddleOfTheHeapAreGivenBack() {
    let blocks = (0..<64).map { _ in UnsafeMutableRawPointer.allocate(byteCount: 32 << 10, alignment: 16) }
    for block in blocks { block.initializeMemory(as: UInt8.self, repeating: 1, count: 32 << 10) }
    for (index, block) in blocks.enumerated() where index % 2 == 0 { block.deallocate() }
    #expect(FreedMemory.giveBack())
    for (index, block) in blocks.enumerated() where index % 2 == 1 { block.deallocate() }
  }
  #endif
}
