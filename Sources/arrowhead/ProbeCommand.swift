import ArgumentParser
import Arrowhead

struct Probe: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Report the CPU, the backends and which kernel runs each operation.")
  func run() throws {}
}
