import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a child process to completion for the CLI tests.
///
/// stdout and stderr are drained on their own threads (and stdin is fed on a third), so a
/// child that fills one pipe — 64 KiB on Linux — never blocks while the test waits for the
/// other: reading stdout to its end before stderr hangs forever on a child that writes more
/// than 64 KiB to stderr first. A child still running after `seconds` is killed, so a hang
/// fails its test instead of stalling the whole run.
enum ChildProcess {
  struct Outcome {
    var status: Int32
    var stdout: Data
    var stderr: Data
  }

  /// A child killed because it was still running after its time limit.
  struct Timeout: Error, CustomStringConvertible {
    var command: [String]
    var seconds: Double
    var stderr: Data
    var description: String {
      "\(command.joined(separator: " ")) still running after \(seconds) s (killed); stderr: \(String(decoding: stderr.suffix(2_000), as: UTF8.self))"
    }
  }

  /// One pipe's bytes, collected on another thread.
  final class Collector: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    func set(_ value: Data) { lock.withLock { data = value } }
    var value: Data { lock.withLock { data } }
  }

  /// A child that exits without reading all of its stdin must not kill the test process
  /// with SIGPIPE: the write then fails with EPIPE instead.
  static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

  /// Runs `executable` with `arguments`; `environment` replaces the inherited one when given,
  /// `input` is written to its stdin (otherwise stdin is /dev/null). Throws `Timeout` when
  /// the child had to be killed.
  static func run(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, input: Data? = nil, seconds: Double = 600
  ) throws -> Outcome {
    _ = ignoreBrokenPipes
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try process.run()
    let group = DispatchGroup()
    let output = Collector(), errors = Collector()
    DispatchQueue.global().async(group: group) { output.set(out.fileHandleForReading.readDataToEndOfFile()) }
    DispatchQueue.global().async(group: group) { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }
    if let input {
      let writer = inPipe.fileHandleForWriting
      DispatchQueue.global().async(group: group) {
        try? writer.write(contentsOf: input)
        try? writer.close()
      }
    }
    if group.wait(timeout: .now() + seconds) == .timedOut {
      // SIGKILL: the test runner's blocked-signal mask is inherited, so SIGTERM may not land.
      kill(process.processIdentifier, SIGKILL)
      group.wait()
      process.waitUntilExit()
      throw Timeout(command: [executable.path] + arguments, seconds: seconds, stderr: errors.value)
    }
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: output.value, stderr: errors.value)
  }
}
