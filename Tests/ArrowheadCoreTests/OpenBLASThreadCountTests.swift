import Arrowhead
import Testing

/// OpenBLAS keeps one thread count for the whole process; the backend admits each call with
/// the count it asked for (`OpenBLASThreadGate`), so engines of different thread counts used
/// at the same time from several threads still give each call the bits it gives alone.
@Suite struct OpenBLASThreadCountTests {
  static var runnable: Bool { BackendRegistry.builtIn.runnable().contains { $0.name == "openblas" } }

  /// Two engines forced to OpenBLAS, at 1 and 2 threads, from four tasks at once: every
  /// Cholesky factor (LAPACK, no thread argument: the process cap) and every product at
  /// either count equals its result computed alone, bit for bit. Before the gate the
  /// counts were set outside the call's protection, and under load the same call came back
  /// with other bits (GPTQ calibrations of an encoder differed 2 runs in 6).
  @Test(.enabled(if: runnable))
  func concurrentEnginesOfDifferentThreadCountsKeepTheirBits() async throws {
    let one = try Engine(registry: .builtIn, threads: 1, forcing: "openblas")
    let two = try Engine(registry: .builtIn, threads: 2, forcing: "openblas")
    var generator = SeededGenerator(seed: 2026)
    let n = 384
    let x = try Matrix(rows: 2 * n, columns: n, elements: generator.floats(2 * n * n, in: -1..<1))
    // An SPD matrix: XᵀX / rows + I.
    var spd = try two.multiply(x, x, transposeA: .transposed)
    for i in 0..<n {
      for j in 0..<n { spd[i, j] = spd[i, j] / Float(2 * n) + (i == j ? 1 : 0) }
    }
    let a = try Matrix(rows: 300, columns: 500, elements: generator.floats(300 * 500, in: -1..<1))
    let b = try Matrix(rows: 500, columns: 400, elements: generator.floats(500 * 400, in: -1..<1))
    let factor = try two.choleskyFactor(spd)
    let productOne = try one.multiply(a, b)
    let productTwo = try two.multiply(a, b)
    let (spdValue, aValue, bValue) = (spd, a, b)
    let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
      for task in 0..<4 {
        group.addTask {
          var wrong = 0
          for round in 0..<40 {
            switch (task + round) % 3 {
            case 0: if try two.choleskyFactor(spdValue) != factor { wrong += 1 }
            case 1: if try one.multiply(aValue, bValue) != productOne { wrong += 1 }
            default: if try two.multiply(aValue, bValue) != productTwo { wrong += 1 }
            }
          }
          return wrong
        }
      }
      return try await group.reduce(0, +)
    }
    #expect(mismatches == 0, "\(mismatches) of 160 concurrent OpenBLAS calls gave other bits than alone")
  }
}
