import ArgumentParser
import Arrowhead
import ArrowheadQuant
import Foundation

/// `arrowhead quantize throughput`: quantize + pack a Float32 matrix already in memory and
/// report GB/s of input, best and median of several repetitions (the machine is shared and
/// noisy; compare only against a peer measured in the same run, e.g.
/// `Benchmarks/peers/quantize_minmax.py compare`).
struct QuantizeThroughput: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "throughput",
    abstract: "Measure in-memory quantize+pack throughput (GB/s of Float32 input)."
  )

  @OptionGroup var schemeOptions: SchemeOptions

  @Option(name: .long, help: "Rows of the matrix (columns: --columns).")
  var rows = 16384

  @Option(name: .long, help: "Columns of the matrix.")
  var columns = 1024

  @Option(name: .long, help: "Timed repetitions (after one warm-up).")
  var repeats = 9

  @Option(name: .long, help: "Threads (default 1: the single-core figure).")
  var threads = 1

  @Flag(name: .long, help: "Also dequantize and measure the error in the same pass (what `quantize` does).")
  var measure = false

  @Flag(name: .long, help: "Print JSON.")
  var json = false

  struct Report: Codable {
    var scheme: String
    var rows: Int
    var columns: Int
    var inputBytes: Int
    var threads: Int
    var measure: Bool
    var backend: String
    var seconds: [Double]
    var bestGBPerSecond: Double
    var medianGBPerSecond: Double
  }

  func validate() throws {
    guard rows >= 1, columns >= 1, repeats >= 1, threads >= 1 else {
      throw ValidationError("--rows, --columns, --repeats and --threads must be ≥ 1")
    }
    try requireElements([rows, columns], "--rows × --columns")
    try require(repeats, in: Limits.repeats, "--repeats")
  }

  func run() throws {
    let scheme = try schemeOptions.scheme()
    let engine = try commandEngine(threads: threads)
    let count = rows * columns
    // Weight-like values (sum of four uniforms, Irwin–Hall), deterministic.
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    let values = (0..<count).map { _ -> Float in
      var sum: Float = 0
      for _ in 0..<4 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        sum += Float(Int32(truncatingIfNeeded: state >> 32)) * 0x1p-31
      }
      return sum * 0.02
    }
    let quantizer = Quantizer(scheme: scheme, engine: engine)
    var seconds: [Double] = []
    for repetition in 0...repeats {
      let started = Date()
      do {
        _ = try quantizer.quantizeAndMeasure(values, shape: [rows, columns], name: "bench", measure: measure)
      } catch {
        throw CommandFailure(error.description)
      }
      if repetition > 0 { seconds.append(Date().timeIntervalSince(started)) }
    }
    let bytes = Double(count * 4)
    let sorted = seconds.sorted()
    let report = Report(
      scheme: scheme.description, rows: rows, columns: columns, inputBytes: count * 4, threads: threads, measure: measure,
      backend: engine.selection(for: .quantize, .large).backend, seconds: seconds,
      bestGBPerSecond: bytes / sorted[0] / 1e9, medianGBPerSecond: bytes / sorted[sorted.count / 2] / 1e9)
    if json {
      print(try jsonString(report))
    } else {
      print("\(scheme) quantize+pack\(measure ? "+measure" : "") of \(rows)×\(columns) Float32 (\(formattedBytes(count * 4))) on \(threads) thread(s), kernels \(report.backend)")
      print("best \(formatted(1000 * sorted[0], decimals: 2)) ms = \(formatted(report.bestGBPerSecond, decimals: 2)) GB/s, median \(formatted(1000 * sorted[sorted.count / 2], decimals: 2)) ms = \(formatted(report.medianGBPerSecond, decimals: 2)) GB/s over \(repeats) runs")
    }
  }
}
