import Arrowhead
import Testing

/// The README's engine example, verbatim, with its claimed results checked.
@Test func readmeEngineExampleCompilesAndGivesTheDocumentedValues() throws {
  let engine = Engine.default
  let a = try Matrix(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5, 6])
  let b = try Matrix(rows: 3, columns: 2, elements: [7, 8, 9, 10, 11, 12])
  let c = try engine.multiply(a, b)
  #expect(c.elements == [58, 64, 139, 154])
  #expect(!engine.selection(for: .gemm, .small).description.isEmpty)

  let queries = try Matrix(rows: 1, columns: 3, elements: [1, 0, 0])
  let base = try Matrix(rows: 2, columns: 3, elements: [1, 0, 0, 0, 2, 0])
  let d = try engine.distances(.squaredL2, queries: queries, base: base)
  #expect(d.elements == [0, 5])

  let l = try engine.choleskyFactor(try Matrix(rows: 2, columns: 2, elements: [4, 2, 2, 3]))
  #expect(abs(l[0, 0] - 2) < 1e-6 && abs(l[1, 0] - 1) < 1e-6 && abs(l[1, 1] - Float(2).squareRoot()) < 1e-6 && l[0, 1] == 0)
  let reference = try engine.forcing("reference")
  #expect(try reference.multiply(a, b) == c)
}

/// The README's third-party backend, verbatim: one kernel, the reference for the rest.
struct MyBackend: Backend {
  var name: String { "my-dot" }
  var compiledISA: String { "portable" }
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    operation == .dot ? Preference(score: 60, reason: "my dot") : nil
  }
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return sum
  }
}

@Test func readmeThirdPartyBackendExampleRegistersAndRuns() throws {
  var registry = BackendRegistry.builtIn
  try registry.register(MyBackend())
  let mine = try Engine(registry: registry)
  #expect(try mine.dot([1, 2], [3, 4]) == 11)
  let forced = try mine.forcing("my-dot")
  #expect(forced.backend(for: .dot, .small).name == "my-dot")
  #expect(try forced.multiply(try Matrix(rows: 1, columns: 1, elements: [2]), try Matrix(rows: 1, columns: 1, elements: [3])).elements == [6])
}
