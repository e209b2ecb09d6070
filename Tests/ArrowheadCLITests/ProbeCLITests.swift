import Foundation
import Testing

/// `arrowhead probe`: measured dispatch is calibrated once, cached, read back by the next
/// process, and a corrupted cache is ignored and rebuilt.
@Suite("arrowhead probe")
struct ProbeCLITests {
  struct Report: Decodable {
    struct Dispatch: Decodable { var mode: String; var cache: String; var calibrationSeconds: Double }
    struct Choice: Decodable {
      struct Candidate: Decodable { var backend: String; var secondsPerCall: Double }
      var operation: String; var size: String; var backend: String; var source: String; var candidates: [Candidate]
    }
    var dispatchMode: Dispatch
    var dispatch: [Choice]
  }

  func probe(_ cache: String, _ extra: [String: String] = [:], arguments: [String] = []) throws -> Report {
    let outcome = try QuantizeCLI.run(["probe", "--json"] + arguments, environment: ["ARROWHEAD_CACHE_DIR": cache].merging(extra) { $1 })
    #expect(outcome.status == 0, "\(outcome.stderr)")
    return try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
  }

  @Test func theFirstRunMeasuresAndLaterRunsReadTheCache() throws {
    let cache = QuantizeCLI.temporaryDirectory()
    let first = try probe(cache)
    #expect(first.dispatchMode.mode == "measured")
    #expect(first.dispatchMode.cache.hasPrefix("measured now, written to \(cache)/dispatch-"), "\(first.dispatchMode.cache)")
    #expect(first.dispatchMode.calibrationSeconds > 0)
    let measured = first.dispatch.filter { $0.source == "measured" }
    #expect(!measured.isEmpty)
    for choice in measured {
      #expect(choice.candidates.count >= 2, "\(choice.operation)")
      #expect(choice.candidates.contains { $0.backend == choice.backend })
    }
    // m = 1 and n = 1 products are routed to gemv, which is measured too.
    #expect(first.dispatch.contains { $0.operation == "gemv" && $0.source == "measured" })
    // The transposed gemv (and m = 1 products) has its own measured decision.
    #expect(first.dispatch.contains { $0.operation == "gemvTransposed" && $0.source == "measured" })

    let second = try probe(cache)
    #expect(second.dispatchMode.cache.hasPrefix("read from \(cache)/dispatch-"), "\(second.dispatchMode.cache)")
    #expect(second.dispatchMode.calibrationSeconds == 0)
    #expect(second.dispatch.map(\.backend) == first.dispatch.map(\.backend))
    #expect(second.dispatch.filter { $0.source == "measured" }.isEmpty)

    // Corrupt the file: the next run ignores it and measures again.
    let files = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasPrefix("dispatch-") }
    #expect(files.count == 1)
    try "arrowhead-dispatch-cache 1\nkey wrong\n\u{0}\u{1}".write(toFile: cache + "/" + files[0], atomically: false, encoding: .utf8)
    let third = try probe(cache)
    #expect(third.dispatchMode.cache.hasPrefix("measured now"), "\(third.dispatchMode.cache)")
  }

  @Test func staticDispatchAndRecalibrationAreSelectable() throws {
    let cache = QuantizeCLI.temporaryDirectory()
    let fixed = try probe(cache, ["ARROWHEAD_DISPATCH": "static"])
    #expect(fixed.dispatchMode.mode == "static" && fixed.dispatchMode.cache == "not used")
    #expect(fixed.dispatch.allSatisfy { $0.source == "static" || $0.source == "only" })
    _ = try probe(cache)
    let again = try probe(cache, arguments: ["--recalibrate"])
    #expect(again.dispatchMode.mode == "remeasure")
    #expect(again.dispatchMode.cache.hasPrefix("measured now"))
  }

  /// `ARROWHEAD_CPU_DISABLE=AVX512F`: the report says which features were removed, and no
  /// operation is dispatched to a backend that needs them.
  @Test func disabledFeaturesAreReportedAndNeverDispatched() throws {
    struct Masked: Decodable {
      struct Cpu: Decodable { var features: [String: Bool]; var featuresDisabledByEnvironment: [String] }
      struct Backend: Decodable { var name: String; var runnable: Bool; var missingFeatures: [String] }
      struct Choice: Decodable { var operation: String; var backend: String }
      var cpu: Cpu
      var backends: [Backend]
      var dispatch: [Choice]
    }
    let cache = QuantizeCLI.temporaryDirectory()
    let environment = ["ARROWHEAD_CACHE_DIR": cache, "ARROWHEAD_CPU_DISABLE": "AVX512F", "ARROWHEAD_DISPATCH": "static"]
    let outcome = try QuantizeCLI.run(["probe", "--json"], environment: environment)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let report = try JSONDecoder().decode(Masked.self, from: Data(outcome.stdout.utf8))
    #expect(report.cpu.features["AVX512F"] != true && report.cpu.features["AVX512VNNI"] != true)
    let unmasked = try QuantizeCLI.run(["probe", "--json"], environment: ["ARROWHEAD_CACHE_DIR": cache, "ARROWHEAD_DISPATCH": "static", "ARROWHEAD_CPU_DISABLE": ""])
    let had = try JSONDecoder().decode(Masked.self, from: Data(unmasked.stdout.utf8)).cpu.features
    // Every AVX-512 feature this CPU has, and AMX-INT8 (counted as building on AVX512F).
    let builtOnAVX512 = had.filter { ($0.key.hasPrefix("AVX512") || $0.key == "AMX-INT8") && $0.value }.map(\.key)
    #expect(report.cpu.featuresDisabledByEnvironment.sorted() == builtOnAVX512.sorted())
    let v4 = try #require(report.backends.first { $0.name == "simd-x86-64-v4" })
    #expect(!v4.runnable && v4.missingFeatures.contains("AVX512F"))
    #expect(!report.dispatch.contains { $0.backend == "simd-x86-64-v4" })
    let text = try QuantizeCLI.run(["probe"], environment: environment)
    if had["AVX512F"] == true {
      #expect(text.stdout.contains("(by ARROWHEAD_CPU_DISABLE: kernels that need them do not run)"), "\(text.stdout)")
    }
    let bad = try QuantizeCLI.run(["probe"], environment: environment.merging(["ARROWHEAD_CPU_DISABLE": "AVX1024"]) { $1 })
    #expect(bad.status != 0)
    #expect(bad.stderr.contains("ARROWHEAD_CPU_DISABLE=AVX1024 is invalid; expected CPU feature names"), "\(bad.stderr)")
  }

  @Test func anUnknownDispatchModeIsAnErrorListingTheValidOnes() throws {
    let outcome = try QuantizeCLI.run(["probe"], environment: ["ARROWHEAD_DISPATCH": "fastest", "ARROWHEAD_CACHE_DIR": QuantizeCLI.temporaryDirectory()])
    #expect(outcome.status != 0)
    #expect(outcome.stderr.contains("ARROWHEAD_DISPATCH=fastest is invalid; expected one of measured, remeasure, static"), "\(outcome.stderr)")
  }
}
