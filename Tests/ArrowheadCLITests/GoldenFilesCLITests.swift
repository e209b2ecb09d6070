import ArrowheadTestSupport
import Foundation
import Testing

/// `arrowhead quantize` and `arrowhead index build --type flat` write the committed golden
/// files again, byte for byte, from the committed inputs and the options of
/// Tests/Fixtures/golden/make_golden.sh (HNSW files are not rebuilt here: the build
/// algorithm may change its links without changing the format; GoldenIndexFileTests reads
/// and rewrites them). A change of either format fails here and must come with a version
/// bump and new golden files.
@Suite("Golden files written by the CLI", .enabled(if: QuantizeCLI.executable != nil, "arrowhead binary not built"))
struct GoldenFilesCLITests {
  /// What make_golden.sh sets: nothing may depend on timing or the machine.
  static let environment = ["ARROWHEAD_DISPATCH": "static", "ARROWHEAD_THREADS": "1"]

  static func bytes(_ path: String) throws -> [UInt8] { try Array(Data(contentsOf: URL(fileURLWithPath: path))) }

  @Test(arguments: [
    ("model.int4-g8.safetensors", ["--bits", "4", "--group", "8", "--time-groups", "2", "--calibration", goldenFolder + "/calibration.jsonl",
                                   "--timesteps", "8", "--smoothing", "linear", "--smoothing-window", "1"]),
    ("model.int3-channel-symmetric.safetensors", ["--bits", "3", "--per-channel", "--symmetric", "--no-fallback"]),
  ])
  func quantizeWritesTheGoldenModel(name: String, options: [String]) throws {
    let output = QuantizeCLI.temporaryDirectory() + "/" + name
    let run = try QuantizeCLI.run(["quantize", goldenFolder + "/model.safetensors", "-o", output] + options + ["--quiet"], environment: Self.environment)
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try Self.bytes(output) == (try Self.bytes(goldenFolder + "/" + name)), "\(name)")
  }

  @Test(arguments: [("f32", [String]()), ("int8", ["--rerank"]), ("int4", [])])
  func indexBuildWritesTheGoldenFlatIndex(storage: String, options: [String]) throws {
    let output = QuantizeCLI.temporaryDirectory() + "/flat-\(storage).ahi"
    let run = try QuantizeCLI.run(
      ["index", "build", "--input", goldenFolder + "/vectors.fvecs", "--type", "flat", "--metric", "l2", "--storage", storage] + options
        + ["--threads", "1", "--quiet", "-o", output],
      environment: Self.environment)
    #expect(run.status == 0, "\(run.stderr)")
    var written = try Self.bytes(output)
    try #require(written.count > 64)
    // The build time (bytes 56 ..< 64, a Float64) is the one thing that differs between
    // runs; the golden holds 0 there. Set it, then the header's CRC-32 after the header.
    for i in 56..<64 { written[i] = 0 }
    let headerEnd = 16 + (Int(written[12]) | Int(written[13]) << 8)
    let crc = testCRC32(written[0..<headerEnd])
    for i in 0..<4 { written[headerEnd + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    #expect(written == (try Self.bytes(goldenFolder + "/flat-\(storage).ahi")), "flat-\(storage)")
  }
}
