import Foundation
import Testing

/// The runner every CLI test uses must not deadlock on a chatty child (issue 17: stdout was
/// read to its end before stderr, so a child writing more than a pipe's 64 KiB to stderr
/// first blocked forever) and must turn a hang into a failure.
@Suite("CLI test runner")
struct ChildProcessTests {
  static let shell = URL(fileURLWithPath: "/bin/sh")

  /// 1 MiB to stderr, then 1 MiB to stdout, then 1 MiB of stdin echoed back to stderr: the
  /// old sequential reads deadlock on the first step (the time limit turns that into a
  /// thrown `Timeout`, which fails this test).
  @Test func aChildFillingEveryPipeCompletes() throws {
    let input = Data(repeating: 0x61, count: 1 << 20)
    let outcome = try ChildProcess.run(
      Self.shell, ["-c", "head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero; cat >&2; exit 3"], input: input, seconds: 120)
    #expect(outcome.status == 3)
    #expect(outcome.stdout.count == 1 << 20)
    #expect(outcome.stderr.count == 2 << 20)
    #expect(outcome.stderr.suffix(16) == Data(repeating: 0x61, count: 16))
  }

  @Test func aHangingChildIsKilledAndReported() throws {
    let started = Date()
    do {
      _ = try ChildProcess.run(Self.shell, ["-c", "echo waiting >&2; exec sleep 30"], seconds: 1)
      Issue.record("a child sleeping 30 s was not stopped after 1 s")
    } catch let timeout as ChildProcess.Timeout {
      #expect(String(decoding: timeout.stderr, as: UTF8.self) == "waiting\n")
      #expect(timeout.description.contains("still running after 1.0 s"))
    }
    #expect(Date().timeIntervalSince(started) < 25, "the child was killed, not waited for")
  }
}
