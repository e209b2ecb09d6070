import ArrowheadIO
import ArrowheadSearch
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 15: kill writing processes (quantize, index build, dequantize) with SIGKILL at
/// random moments and check that the destination is always the old file or the complete
/// new one, and that no temporary file survives the next run in that directory.
///
/// CI runs a few kills per command; `scripts/crash-test.sh` runs the long form
/// (`ARROWHEAD_CRASH_KILLS=100`, `ARROWHEAD_CRASH_SEED`) and prints the tally.
@Suite("Crash safety: random kills during writes")
struct CrashSafetyTests {
  /// One command under test: its arguments writing `output`, and how to tell a complete
  /// new file (`isNew`) from the old one (compared byte for byte).
  struct Writer {
    var name: String
    var arguments: [String]
    var output: String
    /// What the destination holds before each killed run (distinct from the new file).
    var old: [UInt8]
    var isNew: ([UInt8]) -> Bool
  }

  struct Tally: CustomStringConvertible {
    var kills = 0, old = 0, new = 0, corrupted = 0, temporaryAfterKill = 0, staleAfterNextRun = 0
    var description: String {
      "\(kills) kills: destination old \(old), complete new \(new), corrupted \(corrupted); kills that left a temporary file \(temporaryAfterKill), stale temporary files after the next run \(staleAfterNextRun)"
    }
  }

  /// Kills per command (CI: 2; `scripts/crash-test.sh`: 34, about 100 in all).
  static var kills: Int { Int(ProcessInfo.processInfo.environment["ARROWHEAD_CRASH_KILLS"] ?? "") ?? 2 }
  static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["ARROWHEAD_CRASH_SEED"] ?? "") ?? 15 }

  static func bytes(_ path: String) -> [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

  static func temporaryFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".arrowhead-tmp-") || $0.hasPrefix(".tmp-") }
  }

  /// Starts the binary; returns the process (output discarded).
  static func start(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = HardeningCLITests.binary
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
  }

  /// Runs to completion; returns the wall time.
  static func complete(_ arguments: [String]) throws -> Double {
    let started = Date()
    let process = try start(arguments)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(arguments)")
    return Date().timeIntervalSince(started)
  }

  /// The three writers over one directory's inputs; `old` files are written first.
  static func writers(in dir: String) throws -> [Writer] {
    // A model of ~4 MB so that quantize and dequantize run long enough to be hit mid-write.
    var tensors: [(String, String, [Int], [UInt8])] = []
    for layer in 0..<4 {
      let values = HardeningCLITests.randomVectors(count: 256, dimension: 1024, seed: UInt64(layer + 1)).map { $0 - 0.5 }
      tensors.append(("layer.\(layer).weight", "F32", [256, 1024], values.withUnsafeBytes { Array($0) }))
    }
    try QuantizeCLI.writeSafetensors(dir + "/model.safetensors", tensors)
    let base = HardeningCLITests.randomVectors(count: 3_000, dimension: 32, seed: 9)
    try IndexCommandTests.writeNpy(base, rows: 3_000, columns: 32, to: URL(fileURLWithPath: dir + "/base.npy"))

    // Reference outputs (complete new files) and the old files they replace.
    let quantizeArguments = ["quantize", dir + "/model.safetensors", "--bits", "4", "--group", "64", "--quiet", "--threads", "1"]
    _ = try complete(quantizeArguments + ["-o", dir + "/reference.q.safetensors"])
    let quantized = bytes(dir + "/reference.q.safetensors")
    _ = try complete(["quantize", dir + "/model.safetensors", "--bits", "8", "--quiet", "-o", dir + "/old.q.safetensors"])
    let dequantizeArguments = ["dequantize", dir + "/reference.q.safetensors", "--quiet", "--threads", "1"]
    _ = try complete(dequantizeArguments + ["-o", dir + "/reference.f32.safetensors"])
    let dequantized = bytes(dir + "/reference.f32.safetensors")

    let buildArguments = ["index", "build", "--input", dir + "/base.npy", "--threads", "1", "--quiet"]
    let indexPath = dir + "/out.ahi"
    return [
      Writer(
        name: "quantize", arguments: quantizeArguments + ["-o", dir + "/out.q.safetensors"], output: dir + "/out.q.safetensors",
        old: bytes(dir + "/old.q.safetensors")
      ) { $0 == quantized },
      Writer(
        name: "dequantize", arguments: dequantizeArguments + ["-o", dir + "/out.f32.safetensors"], output: dir + "/out.f32.safetensors",
        old: Array(repeating: 1, count: 3)
      ) { $0 == dequantized },
      // The index header records the build time, so a complete file is one that loads
      // with every checksum verified and holds every vector.
      Writer(name: "index build", arguments: buildArguments + ["-o", indexPath], output: indexPath, old: [9, 9]) { content in
        let copy = indexPath + ".check"
        guard (try? Data(content).write(to: URL(fileURLWithPath: copy))) != nil else { return false }
        defer { unlink(copy) }
        return (try? IndexFile.load(copy))?.index.count == 3_000
      },
    ]
  }

  @Test func randomKillsNeverCorruptTheDestinationNorLeaveTemporaryFiles() throws {
    let dir = try HardeningCLITests.directory()
    var generator = SplitMix(seed: Self.seed)
    var tallies: [String: Tally] = [:]
    for writer in try Self.writers(in: dir) {
      var tally = Tally()
      // One timed complete run sets the range of kill moments.
      let full = try Self.complete(writer.arguments)
      #expect(writer.isNew(Self.bytes(writer.output)), "\(writer.name): an uninterrupted run must write the complete file")
      for _ in 0..<Self.kills {
        try Data(writer.old).write(to: URL(fileURLWithPath: writer.output))
        // Half the kills anywhere in the run, half in its last third, where the file is
        // being written (the temporary file exists only then).
        let fraction = Double(generator.next() % 1_000_000) / 1_000_000
        let delay = tally.kills % 2 == 0 ? fraction * full * 1.1 : (0.7 + 0.35 * fraction) * full
        let process = try Self.start(writer.arguments)
        usleep(useconds_t(delay * 1_000_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        tally.kills += 1
        let now = Self.bytes(writer.output)
        if now == writer.old {
          tally.old += 1
        } else if writer.isNew(now) {
          tally.new += 1
        } else {
          tally.corrupted += 1
          Issue.record("\(writer.name): killed after \(delay) s, the destination is neither the old nor a complete new file")
        }
        if !Self.temporaryFiles(in: dir).isEmpty { tally.temporaryAfterKill += 1 }
        // The next run in the directory removes what the killed one left.
        _ = try Self.complete(writer.arguments)
        let stale = Self.temporaryFiles(in: dir)
        tally.staleAfterNextRun += stale.count
        #expect(stale.isEmpty, "\(writer.name): stale temporary files after the next run: \(stale)")
      }
      tallies[writer.name] = tally
    }
    var total = Tally()
    for (name, tally) in tallies.sorted(by: { $0.key < $1.key }) {
      print("crash-safety \(name): \(tally)")
      total.kills += tally.kills
      total.old += tally.old
      total.new += tally.new
      total.corrupted += tally.corrupted
      total.temporaryAfterKill += tally.temporaryAfterKill
      total.staleAfterNextRun += tally.staleAfterNextRun
    }
    print("crash-safety total: \(total)")
    #expect(total.corrupted == 0 && total.staleAfterNextRun == 0)
  }
}

/// SplitMix64 for reproducible kill moments.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
