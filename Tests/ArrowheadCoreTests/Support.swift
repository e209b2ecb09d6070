import Arrowhead
import Testing

/// Every runnable backend except the reference: the ones the conformance suite checks.
let backendsUnderTest: [String] = Engine.default.runnableBackends.map(\.name).filter { $0 != "reference" }

/// The backend called `name` (a test failure if missing).
func backend(_ name: String) throws -> any Backend {
  try #require(Engine.default.registry.backend(named: name), "backend \(name) not registered")
}

let reference = ReferenceBackend()
