import Foundation
import Testing

/// End-to-end runs of `arrowhead optimize eval|gptq|thermo` and `quantize --optimizer`,
/// checking JSON fields and the relations the optimizers guarantee.
@Suite("arrowhead optimize", .enabled(if: QuantizeCLI.executable != nil, "arrowhead binary not built"))
struct OptimizeCLITests {
  let directory = QuantizeCLI.temporaryDirectory()

  func json(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8))
  }

  /// `optimize eval`: one row per optimizer; grid and hqq start from min-max and only accept
  /// improvements, so their error is never above min-max's on the same matrices.
  @Test func evalComparesOptimizersOnTheSameMatrices() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let run = try QuantizeCLI.run(["optimize", "eval", model, "--bits", "4", "--optimizers", "minmax", "grid", "hqq", "--repeat", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let rows = try #require(try json(run.stdout) as? [[String: Any]])
    var errors: [String: Double] = [:]
    for row in rows {
      let name = try #require(row["optimizer"] as? String)
      #expect(row["matrices"] as? Int == 3)  // every two-dimensional float matrix of the file
      errors[name] = try #require(row["sizeWeightedRelativeError"] as? Double)
    }
    #expect(Set(errors.keys) == ["minmax", "grid", "hqq"])
    let minmax = try #require(errors["minmax"])
    #expect(minmax > 0)
    #expect(try #require(errors["grid"]) < minmax)
    #expect(try #require(errors["hqq"]) <= minmax)
  }

  /// `quantize --optimizer grid` records the optimizer per tensor and lowers the model error.
  @Test func quantizeUsesTheChosenOptimizer() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    func modelError(_ optimizer: String) throws -> (Double, [String: Any]) {
      let run = try QuantizeCLI.run(["quantize", model, "-o", directory + "/toy.\(optimizer).safetensors", "--bits", "4", "--optimizer", optimizer, "--quiet", "--json"])
      #expect(run.status == 0, "\(run.stderr)")
      let report = try #require(try json(run.stdout) as? [String: Any])
      let summary = try #require(report["summary"] as? [String: Any])
      return (try #require(summary["sizeWeightedRelativeError"] as? Double), report)
    }
    let (minmax, _) = try modelError("minmax")
    let (grid, report) = try modelError("grid")
    #expect(grid < minmax)
    #expect(report["optimizer"] as? String == "grid")
    let tensors = try #require(report["tensors"] as? [[String: Any]])
    #expect(tensors.first { $0["name"] as? String == "a.weight" }?["optimizer"] as? String == "grid")
  }

  /// `optimize gptq`: with the embedding rows as inputs to b.weight (64 columns), GPTQ's output
  /// error is below min-max rounding's, and every method is reported for the layer.
  @Test func gptqReportsOutputErrorsBesideMinMax() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let run = try QuantizeCLI.run(["optimize", "gptq", model, "--inputs", "embed.weight", "--layers", "b.weight", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try #require(try json(run.stdout) as? [String: Any])
    let aggregate = try #require(report["aggregateOutputError"] as? [String: Double])
    let minmax = try #require(aggregate["minmax"])
    #expect(try #require(aggregate["gptq (grid groups)"]) < minmax)
    #expect(try #require(aggregate["gptq (minmax groups)"]) < minmax)
    #expect(report["inputRows"] as? Int == 10)
  }

  /// `optimize thermo`: the analytic optimizer never ends above its min-max start (the loss
  /// is relative to min-max's output error), and reports the finite-difference oracle's
  /// cost beside it.
  @Test func thermoLowersTheLossAndTimesTheOracle() throws {
    let run = try QuantizeCLI.run(["optimize", "thermo", "--groups", "4", "--samples", "20000", "--repeat", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try #require(try json(run.stdout) as? [String: Any])
    let final = try #require(report["finalLoss"] as? Double)
    let initial = try #require(report["initialLoss"] as? Double)
    #expect(final <= initial && initial >= 1)
    #expect(report["finiteDifferenceSecondsPerIteration"] != nil)
  }

  /// `quantize --optimizer clip` with calibration rows of b's 64 input channels: the report
  /// names the output objective and the held-out check's fallbacks (never worse than
  /// min-max); `--no-activation-guard` skips the check; bad combinations are clear errors.
  @Test func clipFitsTheOutputErrorAndReportsTheHeldOutCheck() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let calibration = directory + "/rows.jsonl"
    var lines = ""
    for t in 0..<8 {
      // Four rows of 64 channels; one large value per timestep stretches min-max.
      let values = (0..<256).map { i in i == 3 * t + 5 ? 9.0 : Double((i * 37 + t * 11) % 23) / 23 - 0.2 }
      lines += "{\"layer\": \"b\", \"weight\": \"b.weight\", \"timestep\": \(t), \"channels\": 64, \"samples\": [\(values.map { "\($0)" }.joined(separator: ","))]}\n"
    }
    try lines.write(toFile: calibration, atomically: true, encoding: .utf8)
    func run(_ extra: [String], calibrationFile: String? = nil) throws -> [String: Any] {
      let run = try QuantizeCLI.run([
        "quantize", model, "-o", directory + "/clip.safetensors", "--time-groups", "2", "--calibration", calibrationFile ?? calibration,
        "--activation-bits", "4", "--optimizer", "clip", "--quiet", "--json",
      ] + extra)
      #expect(run.status == 0, "\(run.stderr)")
      let report = try #require(try json(run.stdout) as? [String: Any])
      return try #require((report["activations"] as? [[String: Any]])?.first)
    }
    let checked = try run([])
    #expect(checked["optimizer"] as? String == "clip" && checked["objective"] as? String == "output")
    #expect((checked["fallbackGroups"] as? [Int]) != nil)
    #expect(try #require(checked["heldOutRatio"] as? Double) <= 1)
    #expect(checked["heldOutSplit"] as? String == "rows")
    // The same rows naming their inputs (four images): the check holds out whole images.
    let sourced = directory + "/clip-sources.jsonl"
    try lines.split(separator: "\n").map { $0.replacingOccurrences(of: "\"samples\"", with: "\"sources\": [0, 1, 2, 3], \"samples\"") }
      .joined(separator: "\n").write(toFile: sourced, atomically: true, encoding: .utf8)
    let byImage = try run([], calibrationFile: sourced)
    #expect(byImage["heldOutSplit"] as? String == "inputs" && (byImage["fallbackGroups"] as? [Int]) != nil)
    #expect(try #require(byImage["heldOutRatio"] as? Double) <= 1)
    let unchecked = try run(["--no-activation-guard"])
    #expect(unchecked["fallbackGroups"] == nil && unchecked["optimizer"] as? String == "clip")
    let alone = try QuantizeCLI.run(["quantize", model, "-o", directory + "/never.safetensors", "--optimizer", "clip"])
    #expect(alone.status != 0 && alone.stderr.contains("--optimizer clip") && alone.stderr.contains("--time-groups"))
    try lines.replacingOccurrences(of: "b.weight", with: "c.weight").write(toFile: calibration, atomically: true, encoding: .utf8)
    let missing = try QuantizeCLI.run([
      "quantize", model, "-o", directory + "/never.safetensors", "--time-groups", "2", "--calibration", calibration, "--optimizer", "clip",
    ])
    #expect(missing.status != 0 && missing.stderr.contains("c.weight"))
  }

  @Test func badOptimizerArgumentsAreClearErrors() throws {
    let model = try QuantizeCLI.toyModel(in: directory)
    let unknown = try QuantizeCLI.run(["optimize", "eval", model, "--optimizers", "nope"])
    #expect(unknown.status != 0 && unknown.stderr.contains("expected one of minmax, signed-max, grid, hqq"))
    let layer = try QuantizeCLI.run(["optimize", "gptq", model, "--inputs", "embed.weight", "--layers", "missing.weight"])
    #expect(layer.status != 0 && layer.stderr.contains("missing.weight"))
    let quantize = try QuantizeCLI.run(["quantize", model, "-o", directory + "/x.safetensors", "--optimizer", "nope"])
    #expect(quantize.status != 0 && quantize.stderr.contains("nope"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/x.safetensors"))
  }
}
