import ArrowheadTestSupport
import CArrowhead
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// all-MiniLM-L6-v2's sentence-transformers folder: the folder of `$ARROWHEAD_MINILM` (its
/// model.safetensors, exported by scripts/test.sh), or nil (those tests then skip). The
/// Python tests (python/tests/test_encoder.py) compare the embeddings with
/// sentence-transformers' golden outputs; these check the C contract.
let miniLMFolder: String? = {
  guard let file = getenv("ARROWHEAD_MINILM").map({ String(cString: $0) }), access(file, R_OK) == 0,
    let slash = file.lastIndex(of: "/")
  else { return nil }
  return String(file[..<slash])
}()

/// A fresh empty directory in the temporary folder.
func temporaryFolder(_ label: String) throws -> String {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("arrowhead-c-\(label)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}

@Suite("C ABI text encoder")
struct EncoderTests {
  @Test func missingAndBrokenFoldersAreNamed() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var encoder: OpaquePointer?
    #expect(name(ah_encoder_load(engine, "/nonexistent/model", "f32", &encoder)) == "AH_ERROR_IO")
    #expect(lastError() == "model folder '/nonexistent/model' does not exist or is not a directory")
    let folder = try temporaryFolder("encoder")
    defer { rmdir(folder) }
    #expect(name(ah_encoder_load(engine, folder, nil, &encoder)) == "AH_ERROR_IO")
    #expect(lastError().hasPrefix("missing file '\(folder)/modules.json'"), "\(lastError())")
    let modules = folder + "/modules.json"
    let file = try #require(fopen(modules, "w"))
    fputs("{\"not\": \"a list\"}", file)
    fclose(file)
    defer { unlink(modules) }
    #expect(name(ah_encoder_load(engine, folder, nil, &encoder)) == "AH_ERROR_CORRUPT_FILE")
    #expect(lastError().contains("expected a JSON array of modules"), "\(lastError())")
    #expect(encoder == nil, "out-parameters are written only on success")
    #expect(name(ah_encoder_load(engine, nil, nil, &encoder)) == "AH_ERROR_INVALID_ARGUMENT")
    #expect(name(ah_encoder_load(engine, folder, nil, nil)) == "AH_ERROR_INVALID_ARGUMENT")
  }

  @Test func weightKindsTheEncoderLacksAreUnsupported() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var encoder: OpaquePointer?
    // The kind is checked before the folder is read, and passed through as a string.
    #expect(name(ah_encoder_load(engine, "/nonexistent", "int3", &encoder)) == "AH_ERROR_UNSUPPORTED")
    #expect(lastError().hasPrefix("weights \"int3\" are not supported by this build of the encoder; supported: \"auto\", \"f32\", \"int8\", \"int4\""))
    #expect(encoder == nil)
  }

  /// A tiny random BERT written as a sentence-transformers folder (TinyBert, 2 layers of
  /// width 32, WordPiece vocabulary of 40 tokens): the ABI's embeddings of two texts equal
  /// TinyBert's independent Double forward pass of their token ids. Tolerance 1e-4 as
  /// ReferenceForwardTests.stateTolerance (float32 vs Double through 2 layers); mean
  /// pooling and normalising do not enlarge it (an average of rows each within it, divided by
  /// a norm > 1).
  @Test func aTinyModelEmbedsLikeTheReferenceForwardPass() throws {
    let model = TinyBert(seed: 21)
    let folder = try temporaryFolder("tiny-bert")
    try model.write(to: URL(fileURLWithPath: folder))
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let engine = try makeEngine()
    var encoder: OpaquePointer?
    try #require(ah_encoder_load(engine, folder, nil, &encoder) == ok, "\(lastError())")
    defer { _ = ah_encoder_free(encoder) }
    _ = ah_engine_free(engine)
    var info = ah_encoder_info()
    #expect(ah_encoder_describe(encoder, &info) == ok)
    #expect(info.dimension == 32 && info.max_length == 24 && info.layers == 2 && info.vocabulary_size == 40)
    // [CLS] the cat sat . [SEP] and [CLS] dog ##s run fast [SEP] (ids = vocabulary positions).
    let ids = [[2, 5, 7, 9, 28, 3], [2, 8, 19, 18, 22, 3]]
    let texts: [StaticString] = ["The cat sat.", "dogs run fast"]
    let pointers: [UnsafePointer<CChar>?] = texts.map { UnsafeRawPointer($0.utf8Start).assumingMemoryBound(to: CChar.self) }
    var out = [Float](repeating: .nan, count: 2 * 32)
    #expect(ah_encoder_encode(encoder, pointers, nil, 2, 0, 1, &out, 64) == ok, "\(lastError())")
    for (row, sequence) in ids.enumerated() {
      let expected = model.referenceEmbedding(sequence, pooling: ["pooling_mode_mean_tokens"], normalize: true)
      let difference = zip(expected, out[row * 32..<(row + 1) * 32]).map { abs($0 - Double($1)) }.max() ?? .infinity
      #expect(difference <= 1e-4, "text \(row): \(difference)")
    }
  }

  @Test func badHandlesAreStatusCodes() throws {
    let engine = try makeEngine()
    defer { _ = ah_engine_free(engine) }
    var info = ah_encoder_info()
    #expect(ah_encoder_describe(nil, &info) == invalidHandle)
    #expect(lastError() == "the encoder handle is NULL")
    #expect(ah_encoder_describe(engine, &info) == invalidHandle)
    #expect(lastError() == "expected an encoder handle but got an engine handle")
    let stale = OpaquePointer(bitPattern: UInt(0xA4) << 56 | UInt(1) << 32 | 99)
    #expect(ah_encoder_encode(stale, nil, nil, 0, 0, 0, nil, 0) == invalidHandle)
    #expect(ah_encoder_free(stale) == invalidHandle)
    #expect(ah_encoder_free(nil) == ok)
  }

  @Test(.enabled(if: miniLMFolder != nil, "ARROWHEAD_MINILM is not set (scripts/test.sh exports it)"))
  func miniLMEncodesThroughTheABI() throws {
    let engine = try makeEngine(threads: 2)
    var encoder: OpaquePointer?
    try #require(ah_encoder_load(engine, miniLMFolder!, "f32", &encoder) == ok, "\(lastError())")
    #expect(ah_engine_free(engine) == ok, "the encoder keeps its own engine")
    var info = ah_encoder_info()
    #expect(ah_encoder_describe(encoder, &info) == ok)
    #expect(info.dimension == 384 && info.max_length == 256 && info.hidden_size == 384 && info.layers == 6)
    #expect(info.vocabulary_size == 30522 && info.normalized == 1)
    var weights: UnsafeMutablePointer<CChar>?
    #expect(ah_encoder_weights(encoder, &weights) == ok && weights.map { String(cString: $0) } == "f32")
    ah_string_free(weights)

    // Two texts, NUL-terminated; then the same bytes with explicit lengths, the second text
    // holding a NUL that BERT's text cleaning drops ("a\0b" reads as "ab").
    let texts: [StaticString] = ["A man is eating food.", "ab"]
    var first = [Float](repeating: 0, count: 2 * 384)
    let pointers: [UnsafePointer<CChar>?] = texts.map { UnsafeRawPointer($0.utf8Start).assumingMemoryBound(to: CChar.self) }
    #expect(ah_encoder_encode(encoder, pointers, nil, 2, 0, 0, &first, 768) == ok, "\(lastError())")
    let withNUL: StaticString = "a\0b"
    let second: [UnsafePointer<CChar>?] = [pointers[0], UnsafeRawPointer(withNUL.utf8Start).assumingMemoryBound(to: CChar.self)]
    var again = [Float](repeating: 0, count: 2 * 384)
    #expect(ah_encoder_encode(encoder, second, [21, 3], 2, 1, 1, &again, 768) == ok, "\(lastError())")
    for row in 0..<2 {
      let a = first[row * 384..<(row + 1) * 384], b = again[row * 384..<(row + 1) * 384]
      // Unit vectors (Normalize) in float32: |‖a‖ − 1| ≤ 1e-5; batch size 2 vs 1 regroups
      // the work only (cos ≥ 1 − 1e-6, as MiniLMGoldenTests).
      let norm = a.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
      let dot = zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
      #expect(abs(norm - 1) <= 1e-5 && dot >= 1 - 1e-6, "row \(row): norm \(norm), dot \(dot)")
    }

    // Errors: short output (nothing written), invalid UTF-8, negative options, NULL text.
    var short = [Float](repeating: 7, count: 384)
    #expect(ah_encoder_encode(encoder, pointers, nil, 2, 0, 0, &short, 384) == invalidArgument)
    #expect(lastError() == "'out' holds 384 elements but 768 are needed" && short.allSatisfy { $0 == 7 })
    let bytes: [CChar] = [111, 107, 32, CChar(bitPattern: 0xFF)]  // "ok " and a byte UTF-8 never uses
    bytes.withUnsafeBufferPointer { buffer in
      let list: [UnsafePointer<CChar>?] = [buffer.baseAddress]
      #expect(ah_encoder_encode(encoder, list, [4], 1, 0, 0, &short, 384) == invalidArgument)
    }
    #expect(lastError() == "texts[0] is not valid UTF-8 (first bad byte at offset 3)")
    #expect(ah_encoder_encode(encoder, pointers, nil, 2, -1, 0, &first, 768) == invalidArgument)
    #expect(ah_encoder_encode(encoder, pointers, nil, 2, 0, -2, &first, 768) == invalidArgument)
    #expect(ah_encoder_encode(encoder, [nil], nil, 1, 0, 0, &first, 768) == invalidArgument)
    #expect(lastError() == "texts[0] is NULL")
    #expect(ah_encoder_encode(encoder, nil, nil, 0, 0, 0, nil, 0) == ok, "no texts, nothing to write")

    #expect(ah_encoder_free(encoder) == ok)
    #expect(ah_encoder_describe(encoder, &info) == invalidHandle)
    #expect(lastError() == "the encoder handle was freed (or is stale)")
    #expect(ah_encoder_free(encoder) == invalidHandle)
  }
}
