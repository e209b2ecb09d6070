import ArgumentParser
import Arrowhead

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Benchmark backends side by side.")
  func run() throws {}
}
