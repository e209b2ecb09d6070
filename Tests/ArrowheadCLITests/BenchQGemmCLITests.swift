import Foundation
import Testing

/// `arrowhead bench qgemm`: rows per backend and path next to the Float32 product, the error
/// of each quantized row, and the input checks.
@Suite("arrowhead bench qgemm")
struct BenchQGemmCLITests {
  struct Report: Decodable {
    struct Row: Decodable {
      var operation: String; var backend: String; var dispatched: Bool; var m: Int; var n: Int; var k: Int
      var threads: Int; var bestMilliseconds: Double; var medianMilliseconds: Double; var weightGBPerSecond: Double?
      var relativeError: Double?
    }
    struct Problem: Decodable { var shape: String; var packedBytes: Int; var dequantizeSgemmError: Double }
    struct Scaling: Decodable {
      var operation: String; var backend: String; var dispatched: Bool; var threads: Int
      var bestSpeedup: Double; var medianSpeedup: Double
    }
    var scheme: String
    var problems: [Problem]
    var rows: [Row]
    var scaling: [Scaling]
  }

  /// `--scaling --threads 2`: the dispatched products (both modes) and each Float32 product are
  /// timed on 1 and 2 threads in the same run, the 1-thread rows give the same error as the
  /// 2-thread ones, and each speed-up is the ratio of the two rows' times.
  @Test func scalingTimesOneThreadBesideN() throws {
    let outcome = try QuantizeCLI.run(
      ["bench", "qgemm", "--shape", "64,48,128", "--bits", "8", "--repeats", "1", "--threads", "2", "--scaling",
       "--backends", "simd-baseline", "--json"],
      environment: ["ARROWHEAD_DISPATCH": "static"])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
    for operation in ["qgemm weight-only", "qgemm int8", "sgemm"] {
      let dispatchedOnly = operation != "sgemm"
      let rows = report.rows.filter { $0.operation == operation && $0.dispatched == dispatchedOnly }
      let single = try #require(rows.first { $0.threads == 1 }, "\(operation): no 1-thread row")
      let wide = try #require(rows.first { $0.threads == 2 }, "\(operation): no 2-thread row")
      #expect(single.backend == wide.backend)
      #expect(single.relativeError == wide.relativeError, "\(operation): the split changed the product")
      let pair = try #require(report.scaling.first { $0.operation == operation && $0.dispatched == dispatchedOnly })
      #expect(pair.threads == 2 && pair.backend == wide.backend)
      #expect(abs(pair.bestSpeedup - single.bestMilliseconds / wide.bestMilliseconds) <= 1e-9 * pair.bestSpeedup)
      #expect(abs(pair.medianSpeedup - single.medianMilliseconds / wide.medianMilliseconds) <= 1e-9 * pair.medianSpeedup)
    }
    // Without --scaling: one thread count, no speed-ups.
    let plain = try QuantizeCLI.run(
      ["bench", "qgemm", "--shape", "64,48,128", "--bits", "8", "--repeats", "1", "--threads", "2",
       "--backends", "simd-baseline", "--json"],
      environment: ["ARROWHEAD_DISPATCH": "static"])
    let plainReport = try JSONDecoder().decode(Report.self, from: Data(plain.stdout.utf8))
    #expect(plainReport.rows.allSatisfy { $0.threads == 2 } && plainReport.scaling.isEmpty)
  }

  @Test func aSmallRunReportsEveryKernelWithItsError() throws {
    let outcome = try QuantizeCLI.run(
      ["bench", "qgemm", "--shape", "1,40,70", "--shape", "5,33,64", "--bits", "4", "--group", "32", "--repeats", "1",
       "--threads", "1", "--json"],
      environment: ["ARROWHEAD_DISPATCH": "static"])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
    #expect(report.scheme == "int4 g32 float_minimum")
    #expect(report.problems.map(\.shape) == ["1×40×70", "5×33×64"])
    for shape in [(1, 40, 70), (5, 33, 64)] {
      let rows = report.rows.filter { $0.m == shape.0 && $0.n == shape.1 && $0.k == shape.2 }
      for operation in ["qgemm weight-only", "qgemm int8"] {
        let quantized = rows.filter { $0.operation == operation }
        #expect(quantized.contains { $0.dispatched }, "\(operation) has a dispatched row")
        #expect(quantized.contains { $0.backend == "simd-baseline" })
        // INT4 g32 on random weights: ≈ 8 % relative error; every kernel within a hair of the others.
        for row in quantized {
          let error = try #require(row.relativeError)
          #expect(error > 0.01 && error < 0.2, "\(operation) \(row.backend): \(error)")
        }
      }
      let float = rows.filter { $0.operation == (shape.0 == 1 ? "sgemv" : "sgemm") }
      #expect(!float.isEmpty && float.allSatisfy { $0.relativeError == nil })
      // Weight bytes per second only for M = 1.
      #expect(rows.allSatisfy { ($0.weightGBPerSecond != nil) == (shape.0 == 1) })
    }
  }

  @Test func badOptionsAreRefusedWithAReason() throws {
    for (arguments, message) in [
      (["--bits", "5"], "--bits must be 2, 3, 4 or 8"),
      (["--mode", "int4"], "--mode must be weight-only, int8, int16, both or all"),
      (["--shape", "1,2"], "--shape must be M,N,K"),
      (["--weights", "w.safetensors"], "--weights and --tensor go together"),
    ] {
      let outcome = try QuantizeCLI.run(["bench", "qgemm"] + arguments)
      #expect(outcome.status != 0)
      #expect(outcome.stderr.contains(message), "\(arguments): \(outcome.stderr)")
    }
  }
}
