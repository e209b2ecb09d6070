import ArrowheadCore
import ArrowheadIO
import ArrowheadQuant
import ArrowheadSearch
import ArrowheadTokenizer
import Foundation
import Testing

/// Replays the fuzzing seed corpus (Fuzz/Corpus/<target>/) and every kept crash
/// (Fuzz/Regressions/<target>/) through the same harness the fuzzer runs
/// (FuzzTargets.swift and FuzzScratch.swift are symbolic links to Fuzz/Sources): a crash
/// found once stays a failing test until fixed. No assertion is needed: the harness drives
/// each parser and ignores typed errors, so only a trap, a hang or (under
/// scripts/sanitize.sh asan) a memory error can fail it.
@Suite("Fuzz corpus and regressions replay")
struct FuzzReplayTests {
  static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz")

  static let prepared: Bool = {
    FuzzScratch.shared.prepare()
    return true
  }()

  static func inputs(_ target: FuzzTarget) -> [URL] {
    ["Corpus", "Regressions"].flatMap { folder -> [URL] in
      let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
      return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
        .filter { !$0.lastPathComponent.hasPrefix(".") && $0.pathExtension != "md" }
    }.sorted { $0.path < $1.path }
  }

  @Test(arguments: FuzzTarget.allCases)
  func replay(_ target: FuzzTarget) throws {
    #expect(Self.prepared)
    let files = Self.inputs(target)
    #expect(!files.isEmpty, "no seed corpus for \(target.rawValue)")
    for file in files {
      let data = try Data(contentsOf: file)
      data.withUnsafeBytes { target.run($0) }
    }
  }

  /// The seeds are valid files: each must parse (a harness that silently rejected every
  /// seed would fuzz nothing but the first error path).
  @Test(arguments: FuzzTarget.allCases)
  func seedsParse(_ target: FuzzTarget) throws {
    #expect(Self.prepared)
    for url in Self.inputs(target) where url.path.contains("/Corpus/") {
      let data = try Data(contentsOf: url)
      let name = url.lastPathComponent
      switch target {
      case .safetensors:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "seed.safetensors") }
        #expect(throws: Never.self, "\(name)") { _ = try SafetensorsFile(path: path) }
      case .safetensorsIndex:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: FuzzScratch.indexName) }
        #expect(throws: Never.self, "\(name)") { _ = try SafetensorsModel(path: path) }
      case .npy:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "seed.npy") }
        #expect(throws: Never.self, "\(name)") { _ = try NPYFile.readHeader(path) }
      case .vecs:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "seed." + url.pathExtension) }
        #expect(throws: Never.self, "\(name)") {
          if url.pathExtension == "ivecs" { _ = try VecsFile.readInt32(path) } else { _ = try VecsFile.readFloat32(path) }
        }
      case .index, .indexFixed:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "seed.ahi") }
        #expect(throws: Never.self, "\(name)") { _ = try IndexFile.load(path) }
      case .quantized:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "seed.q.safetensors") }
        #expect(throws: Never.self, "\(name)") { _ = try QuantizedModelFile(path: path) }
      case .calibration:
        #expect(throws: Never.self, "\(name)") { _ = try CalibrationSet.parse(jsonLines: Array(data)) }
      case .tokenizer:
        let path = data.withUnsafeBytes { FuzzScratch.shared.write($0, as: "tokenizer.json") }
        #expect(throws: Never.self, "\(name)") { _ = try Tokenizer(tokenizerJSON: path) }
      case .texts:
        let format = TextInput.Format.guess(path: name)
        #expect(throws: Never.self, "\(name)") { _ = try TextInput.parse(Array(data), path: name, format: format) }
      }
    }
  }
}
