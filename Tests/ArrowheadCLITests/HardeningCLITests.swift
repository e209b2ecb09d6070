import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15: each defect found by trying bad inputs as a user would, reproduced through the
/// binary (so that these tests also run, and fail, against the code before the fixes).
@Suite("Hardening: defects of issue 15")
struct HardeningCLITests {
  struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
  }

  /// The binary under test: the one built with the tests, or `ARROWHEAD_CLI` (to run these
  /// tests against another build, e.g. the code before the fixes).
  static var binary: URL {
    ProcessInfo.processInfo.environment["ARROWHEAD_CLI"].map { URL(fileURLWithPath: $0) } ?? IndexCommandTests.binary
  }

  /// Runs the binary, killing it after `seconds` (a hang must fail the test, not stall it).
  static func run(_ arguments: [String], seconds: Double = 120) throws -> Outcome {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = Date().addingTimeInterval(seconds)
    var timedOut = false
    // Drain the pipes on other threads so that a chatty child cannot block.
    nonisolated(unsafe) var outData = Data(), errData = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    while process.isRunning {
      if Date() > deadline {
        timedOut = true
        // SIGKILL: the test runner's blocked-signal mask is inherited, so SIGTERM may not land.
        kill(process.processIdentifier, SIGKILL)
        break
      }
      usleep(20_000)
    }
    process.waitUntilExit()
    group.wait()
    return Outcome(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut)
  }

  static func directory() throws -> String { try IndexCommandTests.directory().path }

  static func randomVectors(count: Int, dimension: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count * dimension).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(state >> 40) / Float(1 << 24)
    }
  }

  static func bytes(_ path: String) -> [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

  /// A quantized toy model (via the CLI).
  static func quantizedToy(in directory: String) throws -> (model: String, quantized: String) {
    let model = try QuantizeCLI.toyModel(in: directory)
    let quantized = directory + "/toy.q.safetensors"
    let result = try run(["quantize", model, "-o", quantized, "--bits", "4", "--group", "16", "--quiet"])
    #expect(result.status == 0, "\(result.stderr)")
    return (model, quantized)
  }

  // MARK: Hangs

  @Test func aHugeCalibrationTimestepFailsAtOnce() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let calibration = dir + "/calib.jsonl"
    try """
      {"layer": "a", "timestep": 0, "min": -1, "max": 1}
      {"layer": "a", "timestep": 1000000000000, "min": -1, "max": 1}

      """.write(toFile: calibration, atomically: true, encoding: .utf8)
    let result = try Self.run(
      ["quantize", model, "-o", dir + "/out.safetensors", "--time-groups", "2", "--calibration", calibration, "--quiet"], seconds: 60)
    #expect(!result.timedOut && result.status != 0)
    #expect(result.stderr.contains("calib.jsonl:2") && result.stderr.contains("timestep"), "\(result.stderr)")
  }

  @Test func aHugeTimestepsOptionFailsAtOnce() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let calibration = dir + "/calib.jsonl"
    try #"{"layer": "a", "timestep": 0, "min": -1, "max": 1}"#.write(toFile: calibration, atomically: true, encoding: .utf8)
    let result = try Self.run(
      ["quantize", model, "-o", dir + "/out.safetensors", "--time-groups", "1", "--calibration", calibration,
       "--timesteps", "9223372036854775807", "--quiet"], seconds: 60)
    #expect(!result.timedOut && result.status != 0)
    #expect(result.stderr.contains("--timesteps must be in 1…1048576"), "\(result.stderr)")
  }

  // MARK: Silent wrong results

  /// A 300 × 32 flat index and 5 queries, as files in `dir`.
  static func flatIndex(in dir: String) throws -> (index: String, queries: String, base: [Float]) {
    let base = randomVectors(count: 300, dimension: 32, seed: 1)
    let basePath = URL(fileURLWithPath: dir + "/base.npy")
    try IndexCommandTests.writeNpy(base, rows: 300, columns: 32, to: basePath)
    try IndexCommandTests.writeNpy(Array(base[0..<160]), rows: 5, columns: 32, to: URL(fileURLWithPath: dir + "/q.npy"))
    let build = try run(["index", "build", "--input", basePath.path, "--type", "flat", "-o", dir + "/flat.ahi", "--quiet"])
    #expect(build.status == 0, "\(build.stderr)")
    return (dir + "/flat.ahi", dir + "/q.npy", base)
  }

  @Test func evalWithABaseOfAnotherDimensionFailsNamingBoth() throws {
    let dir = try Self.directory()
    let (index, queries, _) = try Self.flatIndex(in: dir)
    for dimension in [16, 33] {
      let other = dir + "/base\(dimension).npy"
      try IndexCommandTests.writeNpy(
        Self.randomVectors(count: 600, dimension: dimension, seed: 2), rows: 600, columns: dimension, to: URL(fileURLWithPath: other))
      let result = try Self.run(["index", "eval", "--index", index, "--queries", queries, "--base", other, "--repeat", "1"])
      #expect(result.status != 0)
      #expect(result.stderr.contains("has dimension \(dimension), the index has 32"), "\(result.stderr)")
    }
  }

  @Test(arguments: [999_999, -5])
  func groundTruthIdsTheIndexDoesNotHoldFail(id: Int) throws {
    let dir = try Self.directory()
    let (index, queries, _) = try Self.flatIndex(in: dir)
    let truth = dir + "/gt.ivecs"
    var data = Data()
    for _ in 0..<5 {
      withUnsafeBytes(of: Int32(3).littleEndian) { data.append(contentsOf: $0) }
      for _ in 0..<3 { withUnsafeBytes(of: Int32(id).littleEndian) { data.append(contentsOf: $0) } }
    }
    try data.write(to: URL(fileURLWithPath: truth))
    let result = try Self.run(["index", "eval", "--index", index, "--queries", queries, "--ground-truth", truth, "--repeat", "1"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("holds id \(id), which the index does not hold"), "\(result.stderr)")
  }

  /// The quantized toy with the float at `offset` of tensor `name`'s data replaced.
  static func patched(_ quantized: String, tensor name: String, float value: Float, at index: Int) throws -> String {
    var content = bytes(quantized)
    let headerLength = Int(content[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
    let header = try #require(try JSONSerialization.jsonObject(with: Data(content[8..<(8 + headerLength)])) as? [String: Any])
    let entry = try #require(header[name] as? [String: Any])
    let start = try #require((entry["data_offsets"] as? [Int])?.first) + 8 + headerLength + 4 * index
    withUnsafeBytes(of: value) { for i in 0..<4 { content[start + i] = $0[i] } }
    let path = quantized + ".patched"
    try Data(content).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test(arguments: [Float(3e38), 0])
  func aTamperedScaleIsRefusedByDequantize(scale: Float) throws {
    let dir = try Self.directory()
    let (_, quantized) = try Self.quantizedToy(in: dir)
    let patched = try Self.patched(quantized, tensor: "a.weight.__scales", float: scale, at: 3)
    let output = dir + "/plain.safetensors"
    let result = try Self.run(["dequantize", patched, "-o", output, "--quiet"])
    #expect(result.status != 0, "\(result.stdout)")
    #expect(result.stderr.contains("a.weight.__scales") && result.stderr.contains("checksum"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test func aFlippedBodyByteIsRefusedByDequantize() throws {
    let dir = try Self.directory()
    let (_, quantized) = try Self.quantizedToy(in: dir)
    var content = Self.bytes(quantized)
    content[content.count - 100] ^= 0x04
    let flipped = dir + "/flipped.safetensors"
    try Data(content).write(to: URL(fileURLWithPath: flipped))
    let result = try Self.run(["dequantize", flipped, "-o", dir + "/plain.safetensors", "--quiet"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("checksum"), "\(result.stderr)")
  }

  @Test func rerankBelowKIsRefused() throws {
    let dir = try Self.directory()
    let base = Self.randomVectors(count: 300, dimension: 16, seed: 4)
    try IndexCommandTests.writeNpy(base, rows: 300, columns: 16, to: URL(fileURLWithPath: dir + "/b.npy"))
    let build = try Self.run(["index", "build", "--input", dir + "/b.npy", "--storage", "int8", "--rerank", "-o", dir + "/i.ahi", "--quiet"])
    #expect(build.status == 0, "\(build.stderr)")
    let search = try Self.run(["index", "search", "--index", dir + "/i.ahi", "--queries", dir + "/b.npy", "-k", "3", "--rerank", "1"])
    #expect(search.status != 0)
    #expect(search.stderr.contains("--rerank 1 is smaller than -k 3"), "\(search.stderr)")
  }

  @Test func optionsThatDoNotApplyAreRefusedNamingWhatTheyNeed() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let output = dir + "/o.safetensors"
    let cases: [([String], String)] = [
      (["quantize", model, "-o", output, "--budget-bits", "5"], "--budget-bits applies only with --budget"),
      (["quantize", model, "-o", output, "--activation-bits", "0"], "--activation-bits applies only with --calibration"),
      (["quantize", model, "-o", output, "--activation-range", "percentile:150"], "--activation-range applies only with --calibration"),
      (["quantize", model, "-o", output, "--per-channel", "--group", "32"], "--group applies only with groups"),
      (["quantize", model, "-o", output, "--no-fallback", "--fallback-threshold", "4=0.9"], "--fallback-threshold applies only with the fall-back"),
    ]
    for (arguments, message) in cases {
      let result = try Self.run(arguments + ["--quiet"])
      #expect(result.status != 0, "\(arguments)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: output))
    let (index, queries, _) = try Self.flatIndex(in: dir)
    let flatBuild = try Self.run(["index", "build", "--input", dir + "/base.npy", "--type", "flat", "--ef-construction", "100", "-o", dir + "/x.ahi"])
    #expect(flatBuild.status != 0 && flatBuild.stderr.contains("--ef-construction applies only with --type hnsw"), "\(flatBuild.stderr)")
    let flatSearch = try Self.run(["index", "search", "--index", index, "--queries", queries, "--ef-search", "50"])
    #expect(flatSearch.status != 0 && flatSearch.stderr.contains("--ef-search applies only to an HNSW index"), "\(flatSearch.stderr)")
  }

  @Test func anOutputThatIsTheInputIsRefusedAndTheInputKept() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let before = Self.bytes(model)
    let quantize = try Self.run(["quantize", model, "-o", dir + "/../" + URL(fileURLWithPath: dir).lastPathComponent + "/toy.safetensors", "--quiet"])
    #expect(quantize.status != 0 && (quantize.stderr.contains("also an input") || quantize.stderr.contains("is the input")), "\(quantize.stderr)")
    #expect(Self.bytes(model) == before)
    let vectors = dir + "/v.npy"
    try IndexCommandTests.writeNpy(Self.randomVectors(count: 50, dimension: 8, seed: 3), rows: 50, columns: 8, to: URL(fileURLWithPath: vectors))
    let vectorBytes = Self.bytes(vectors)
    let build = try Self.run(["index", "build", "--input", vectors, "-o", vectors, "--quiet"])
    #expect(build.status != 0)
    #expect(Self.bytes(vectors) == vectorBytes)
  }

  @Test func aReadOnlyDestinationIsNotReplaced() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let output = dir + "/frozen.safetensors"
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: output))
    chmod(output, 0o444)
    let result = try Self.run(["quantize", model, "-o", output, "--quiet"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("read-only"), "\(result.stderr)")
    #expect(Self.bytes(output) == [1, 2, 3])
    var info = stat()
    stat(output, &info)
    #expect(info.st_mode & 0o777 == 0o444)
  }

  @Test func anNpyHeaderWithoutItsClosingBraceIsRefused() throws {
    let dir = try Self.directory()
    var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), "
    let total = (10 + dict.utf8.count + 1 + 63) / 64 * 64
    dict += String(repeating: " ", count: total - 10 - dict.utf8.count - 1) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count), 0])
    data.append(contentsOf: Array(dict.utf8))
    [Float](repeating: 1, count: 8).withUnsafeBytes { data.append(contentsOf: $0) }
    try data.write(to: URL(fileURLWithPath: dir + "/open.npy"))
    let result = try Self.run(["index", "build", "--input", dir + "/open.npy", "-o", dir + "/x.ahi", "--quiet"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("missing '}'"), "\(result.stderr)")
  }

  // MARK: HNSW reachability through the CLI (two build threads, as on two cores)

  @Test(arguments: [42, 7] as [UInt64])
  func everyVectorOfARandomIndexFindsItself(seed: UInt64) throws {
    let dir = try Self.directory()
    let base = Self.randomVectors(count: 2_000, dimension: 32, seed: seed)
    try IndexCommandTests.writeNpy(base, rows: 2_000, columns: 32, to: URL(fileURLWithPath: dir + "/r.npy"))
    let build = try Self.run(["index", "build", "--input", dir + "/r.npy", "--threads", "2", "--seed", "\(seed)", "-o", dir + "/r.ahi", "--quiet"])
    #expect(build.status == 0, "\(build.stderr)")
    let search = try Self.run([
      "index", "search", "--index", dir + "/r.ahi", "--queries", dir + "/r.npy", "-k", "1", "--ef-search", "64", "--output", dir + "/ids.npy",
    ])
    #expect(search.status == 0, "\(search.stderr)")
    let ids = Self.bytes(dir + "/ids.npy").dropFirst(128).withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    #expect(ids.count == 2_000)
    let lost = ids.enumerated().filter { Int($0.element) != $0.offset }.map(\.offset)
    // A two-thread build is not deterministic, and at ef 64 a greedy search of 32-d random
    // vectors may miss a reachable vector now and then (recall is not 1 by design; seen once
    // in ~50 runs under load; 22 of 2 000 once at load average 9, where the two build threads
    // interleave very differently). Reachability is the property: every vector missed at
    // ef 64 must be found when the search may visit the whole graph (ef = the vector count);
    // the count is only bounded (2 %) so that a broken build, which loses far more, fails.
    if !lost.isEmpty {
      #expect(lost.count <= 40, "more than 2 % missed at ef 64: \(lost)")
      let search = try Self.run([
        "index", "search", "--index", dir + "/r.ahi", "--queries", dir + "/r.npy", "-k", "1", "--ef-search", "2000",
        "--output", dir + "/ids-exhaustive.npy",
      ])
      #expect(search.status == 0, "\(search.stderr)")
      let again = Self.bytes(dir + "/ids-exhaustive.npy").dropFirst(128).withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
      let unreachable = lost.filter { again.count != 2_000 || Int(again[$0]) != $0 }
      #expect(unreachable.isEmpty, "not reachable from the entry point: \(unreachable)")
    }
  }

  // MARK: Messages

  @Test func writeErrorsNameThePathOnceWithoutDoubledColons() throws {
    let dir = try Self.directory()
    let model = try QuantizeCLI.toyModel(in: dir)
    let quantize = try Self.run(["quantize", model, "-o", "/nonexistent-arrowhead/x.safetensors", "--quiet"])
    #expect(quantize.status != 0)
    #expect(!quantize.stderr.contains("::"), "\(quantize.stderr)")
    let vectors = dir + "/v.npy"
    try IndexCommandTests.writeNpy(Self.randomVectors(count: 50, dimension: 8, seed: 3), rows: 50, columns: 8, to: URL(fileURLWithPath: vectors))
    let build = try Self.run(["index", "build", "--input", vectors, "--type", "flat", "-o", "/nonexistent-arrowhead/x.ahi", "--quiet"])
    #expect(build.status != 0)
    #expect(build.stderr.components(separatedBy: "cannot write").count == 2, "\(build.stderr)")
    #expect(build.stderr.components(separatedBy: "/nonexistent-arrowhead/x.ahi").count == 2, "\(build.stderr)")
  }
}
