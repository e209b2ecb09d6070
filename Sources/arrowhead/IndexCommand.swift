import ArgumentParser

// Placeholder: `arrowhead index build|search|eval` is built in issue 5.
struct Index: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Build, search and evaluate vector indexes (issue 5; not built yet).")
  func run() throws { throw ValidationError("index is not built yet") }
}
