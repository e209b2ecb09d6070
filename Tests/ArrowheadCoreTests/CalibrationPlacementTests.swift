import Arrowhead
import Synchronization
import Testing

/// Where each `dot` call of `PlacementLoggingBackend` found its operands: (count, x's and
/// y's byte offsets from a 64-byte cache line).
let placementLog = Mutex<[(count: Int, x: Int, y: Int)]>([])

/// A correct `dot` that records where its operands start.
struct PlacementLoggingBackend: DotOnlyTestBackend {
  let name: String
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    let entry = (count, Int(UInt(bitPattern: x) % 64), Int(UInt(bitPattern: y) % 64))
    placementLog.withLock { $0.append(entry) }
    var sum: Float = 0
    for i in 0..<count { sum += x[i] * y[i] }
    return sum
  }
}

@Suite struct CalibrationPlacementTests {
  /// Level-1 kernels are timed with one operand on a cache line and the other 16 bytes off,
  /// and with both off (16 and 48 bytes): at one placement only (both 16 bytes off) the
  /// AVX2 dot beat the AVX-512 one, which is faster at the other placements.
  @Test func levelOneKernelsAreTimedAtTwoCacheLinePlacements() throws {
    var registry = BackendRegistry.builtIn
    try registry.register(PlacementLoggingBackend(name: "placement-logging"))
    _ = try Engine(registry: registry, threads: 1, dispatch: .remeasure)
    let calls = placementLog.withLock { $0 }
    for count in [50, 1024] {
      let placements = Set(calls.filter { $0.count == count }.map { [$0.x, $0.y] })
      #expect(placements == [[0, 16], [16, 48]], "dot of \(count): \(placements)")
    }
    let engine = try Engine(registry: registry, threads: 1, dispatch: .remeasure)
    let decision = try #require(engine.plan.decision(for: .dot, .large))
    #expect(decision.problems.contains("one operand on a cache line, one 16 B off"))
    #expect(decision.problems.contains("16 B and 48 B off"))
  }
}
