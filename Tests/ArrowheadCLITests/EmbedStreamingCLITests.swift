import ArrowheadTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `arrowhead embed` streams each batch's rows into OUT.npy's temporary file (batches
/// sorted by length over the whole input) and renames it at the end.
@Suite("arrowhead embed: rows streamed into the output")
struct EmbedStreamingCLITests {
  typealias CLI = IndexCommandTests

  static func bytes(_ url: URL) -> [UInt8] { (try? Array(Data(contentsOf: url))) ?? [] }

  /// 50 lines of 1…30 words (longer ones truncated at the tiny model's 24 positions) in
  /// batches of 4: row i is line i whatever the batches' order — each row equals, to
  /// Float32 rounding (1e-6 on unit vectors, the bound of ForwardPassTests), the
  /// embedding of its line embedded alone — and 1 or 2 threads across batches give the
  /// same bytes.
  @Test func rowsFollowTheLinesAtAnyThreadCount() throws {
    let (_, folder) = try EmbedCommandTests.model(seed: 44)
    let dir = folder.deletingLastPathComponent()
    let words = ["the", "big", "red", "cat", "sat", "on", "a", "mat", "dogs", "run", "fast", "moon"]
    let lines = (0..<50).map { index in (0..<(1 + index * 17 % 30)).map { words[($0 * 5 + index) % words.count] }.joined(separator: " ") }
    let input = dir.appendingPathComponent("texts.txt")
    try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
    var files: [[UInt8]] = []
    // Static dispatch: the measured one may pick another gemm kernel for another thread
    // count on a busy machine, which may round differently.
    var environment = ProcessInfo.processInfo.environment
    environment["ARROWHEAD_DISPATCH"] = "static"
    for (threads, parallelism) in [("1", "batches"), ("2", "batches"), ("2", "products")] {
      let output = dir.appendingPathComponent("out-\(threads)-\(parallelism).npy")
      let run = try ChildProcess.run(CLI.binary, [
        "embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--batch", "4", "--threads", threads,
        "--parallelism", parallelism, "--quiet",
      ], environment: environment)
      #expect(run.status == 0, "\(String(decoding: run.stderr, as: UTF8.self))")
      files.append(Self.bytes(output))
    }
    #expect(files[1] == files[0], "batches at 2 threads: the same batches, each on one thread, so the same bytes")
    let all = try EmbedCommandTests.readNpy(dir.appendingPathComponent("out-1-batches.npy"))
    // Products split over threads may sum in another order: equal to Float32 rounding.
    let split = try EmbedCommandTests.readNpy(dir.appendingPathComponent("out-2-products.npy"))
    #expect(zip(all.values, split.values).map { abs($0 - $1) }.max() ?? 1 <= 1e-6)
    #expect(all.rows == 50 && all.columns == 32)
    for line in [0, 7, 23, 49] {
      let single = dir.appendingPathComponent("line.txt")
      try (lines[line] + "\n").write(to: single, atomically: true, encoding: .utf8)
      let output = dir.appendingPathComponent("line.npy")
      let run = try ChildProcess.run(
        CLI.binary, ["embed", "--model", folder.path, "--input", single.path, "-o", output.path, "--quiet", "--threads", "1"],
        environment: environment)
      #expect(run.status == 0, "\(String(decoding: run.stderr, as: UTF8.self))")
      let alone = try EmbedCommandTests.readNpy(output).values
      let worst = zip(all.values[line * 32..<(line + 1) * 32], alone).map { abs($0 - $1) }.max() ?? 1
      #expect(worst <= 1e-6, "line \(line): \(worst)")
    }
  }

  /// A long `embed` run (40 000 lines, 1 thread) over a tiny model, writing OUT.npy whose
  /// previous content is `previous`, signalled with `signal` once its temporary file exists
  /// (plus `delay` µs); returns after the process ended.
  struct SignalledRun {
    var folder: URL
    var input: URL
    var output: URL
    var previous: [UInt8]
    var process: Process
    /// Whether the temporary file was seen before the signal.
    var seen: Bool
    var temporaryFiles: [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: folder.deletingLastPathComponent().path)) ?? [])
        .filter { $0.hasPrefix(".arrowhead-tmp-") }
    }
  }

  static let streamedLine = "the big red cat sat on the mat and the dogs run fast"

  static func signalledRun(seed: UInt64, signal: Int32, delay: useconds_t = 0) throws -> SignalledRun {
    let (_, folder) = try EmbedCommandTests.model(seed: seed)
    let dir = folder.deletingLastPathComponent()
    let input = dir.appendingPathComponent("many.txt")
    try String(repeating: streamedLine + "\n", count: 40_000).write(to: input, atomically: true, encoding: .utf8)
    let output = dir.appendingPathComponent("out.npy")
    let previous: [UInt8] = Array("previous content".utf8)
    try Data(previous).write(to: output)
    let process = Process()
    process.executableURL = CLI.binary
    process.arguments = ["embed", "--model", folder.path, "--input", input.path, "-o", output.path, "--quiet", "--threads", "1"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    var run = SignalledRun(folder: folder, input: input, output: output, previous: previous, process: process, seen: false)
    for _ in 0..<60_000 where process.isRunning {
      if !run.temporaryFiles.isEmpty {
        run.seen = true
        break
      }
      usleep(1_000)
    }
    if delay > 0 { usleep(delay) }
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    return run
  }

  /// A run killed while it embeds (its temporary file exists) leaves the previous OUT.npy
  /// as it was; the next run in the directory removes the temporary file and writes the
  /// complete output.
  @Test func aKilledRunKeepsThePreviousOutput() throws {
    let run = try Self.signalledRun(seed: 45, signal: SIGKILL)
    #expect(run.seen, "the run ended before its temporary file was seen (status \(run.process.terminationStatus))")
    let kept = Self.bytes(run.output) == run.previous  // (a Bool: no diff of megabytes on failure)
    #expect(kept, "the previous output was replaced")
    #expect(!run.temporaryFiles.isEmpty)

    try String(repeating: Self.streamedLine + "\n", count: 10).write(to: run.input, atomically: true, encoding: .utf8)
    let rerun = try CLI.run(["embed", "--model", run.folder.path, "--input", run.input.path, "-o", run.output.path, "--quiet"])
    #expect(rerun.status == 0, "\(rerun.error)")
    #expect(try EmbedCommandTests.readNpy(run.output).rows == 10)
    #expect(run.temporaryFiles.isEmpty)
  }

  /// Ctrl-C (SIGINT), SIGTERM or SIGHUP while the rows stream into the temporary file: the
  /// CLI's handlers remove that file at once (after a SIGKILL, above, it stays until the
  /// next write into the directory) and the process still ends by the signal, with the
  /// previous OUT.npy kept.
  @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
  func anInterruptedRunRemovesItsTemporaryFileAndKeepsThePreviousOutput(signal: Int32) throws {
    // 20 ms after the file appears: well inside the streaming (the file is registered for
    // removal right after it is made).
    let run = try Self.signalledRun(seed: 46, signal: signal, delay: 20_000)
    let process = run.process
    #expect(run.seen, "the run ended before its temporary file was seen (status \(process.terminationStatus))")
    #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal,
            "ended by \(process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(process.terminationStatus), sent signal \(signal)")
    #expect(run.temporaryFiles.isEmpty, "left \(run.temporaryFiles)")
    let kept = Self.bytes(run.output) == run.previous  // (a Bool: no diff of megabytes on failure)
    #expect(kept, "the previous output was replaced")
  }
}
