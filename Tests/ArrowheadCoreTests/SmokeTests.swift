import Arrowhead
import Testing

@Test(arguments: Engine.default.runnableBackends.map(\.name))
func gemmAgreesWithReferenceOnASmallCase(_ name: String) throws {
  let engine = try Engine.default.forcing(name)
  let a = try Matrix(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5, 6])
  let b = try Matrix(rows: 3, columns: 2, elements: [7, 8, 9, 10, 11, 12])
  let c = try engine.multiply(a, b)
  #expect(c.elements == [58, 64, 139, 154])
}
