import Arrowhead
import ArrowheadConformance
@testable import ArrowheadSIMD
import Testing

/// `sq8DotInt16Rows` (SQ8 row dots with a 16-bit integer query, C kernels chosen like the
/// quantized matmul's) and `SearchCodeLayout.quantizeQuery`, which prepares its query.
@Suite struct IntegerQueryTests {
  /// Every C path this CPU can run (AVX-512 VNNI, AVX2, portable), not only the dispatched one.
  @Test(arguments: QuantizedMatmulTests.forcedPaths)
  func everyRunnablePathIsExact(_ name: String) throws {
    let backend = try #require(QuantizedMatmulTests.forcedBackend(name))
    try BackendConformance.run("integerQueryRowDotsAreExact", on: backend)
  }

  /// |out| ≤ 2¹⁴ − 1, out = round(w/σ) with the largest weight at the limit, so the dot
  /// with any codes is within σ/2·Σc of the float dot; Σ|out|·255 < 2³¹ even where 2¹⁴ − 1
  /// per weight would break it (10⁶ equal weights); zeros give σ = 0; NaN / ∞ give nil.
  @Test func quantizedQueriesKeepTheContractAndTheirErrorBound() throws {
    var generator = SeededGenerator(seed: 9)
    for count in [1, 5, 50, 384, 1_536] {
      let weights = generator.floats(count, in: -3..<3)
      var out = [Int16](repeating: 0, count: count)
      let scale = try #require(SearchCodeLayout.quantizeQuery(weights, count: count, into: &out))
      let largest = weights.map(abs).max()!, total = weights.reduce(0.0) { $0 + Double(abs($1)) }
      // σ = max(max|w|/(2¹⁴ − 1), Σ|w|/budget): the first up to a few hundred dimensions,
      // the second (the Int32 budget) beyond (here at 1 536).
      let wanted = max(Double(largest) / 16_383, total / (Double(Int32.max) / 255 * 0.9 - Double(count) / 2))
      #expect(Double(scale) >= wanted && Double(scale) <= wanted * (1 + 1e-6), "σ at \(count)")
      if count <= 384 { #expect(out.map { abs(Int32($0)) }.max()! == 16_383, "the largest weight uses the whole range") }
      #expect(out.map { abs(Int32($0)) }.max()! <= 16_383)
      for j in 0..<count { #expect(abs(Double(out[j]) - Double(weights[j]) / Double(scale)) <= 0.5 + 1e-3) }
      let codes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
      var floatDot = 0.0, integerDot = 0.0, codeSum = 0.0
      for j in 0..<count {
        floatDot += Double(weights[j]) * Double(codes[j])
        integerDot += Double(out[j]) * Double(codes[j])
        codeSum += Double(codes[j])
      }
      #expect(abs(Double(scale) * integerDot - floatDot) <= Double(scale) / 2 * codeSum * (1 + 1e-3))
    }
    let many = [Float](repeating: 1, count: 1_000_000)
    var manyOut = [Int16](repeating: 0, count: many.count)
    let manyScale = try #require(SearchCodeLayout.quantizeQuery(many, count: many.count, into: &manyOut))
    let magnitude = manyOut.reduce(Int64(0)) { $0 + Int64(abs(Int32($1))) }
    #expect(magnitude * 255 < Int64(Int32.max), "Σ|w|·255 = \(magnitude * 255)")
    #expect(manyOut[0] > 0 && manyOut[0] < 16_383 && manyScale > 1 / 16_383)
    var zeros = [Int16](repeating: 5, count: 3)
    #expect(SearchCodeLayout.quantizeQuery([0, -0, 0], count: 3, into: &zeros) == 0)
    #expect(zeros == [0, 0, 0])
    var sink = [Int16](repeating: 0, count: 2)
    #expect(SearchCodeLayout.quantizeQuery([1, .nan], count: 2, into: &sink) == nil)
    #expect(SearchCodeLayout.quantizeQuery([.infinity, 1], count: 2, into: &sink) == nil)
    // A subnormal largest weight still gives finite, in-range integers.
    var tiny = [Int16](repeating: 0, count: 2)
    let tinyScale = try #require(SearchCodeLayout.quantizeQuery([Float.leastNonzeroMagnitude, 0], count: 2, into: &tiny))
    #expect(tinyScale > 0 && tiny[1] == 0 && tiny[0] >= 1)
  }

  /// The checked entry point: exact results, then a typed error for each bad argument.
  @Test func theEngineEntryPointChecksItsArguments() throws {
    let engine = Engine.default
    let weights: [Int16] = [3, -2, 1000]
    let codes: [UInt8] = [1, 2, 3, 0, 255, 7, 9, 9, 9, 0]  // rows of 3, stride 4 (+ 2 spare)
    func run(_ w: [Int16], stride: Int, rows: [UInt32], outCount: Int) -> Result<[Float], ArrowheadError> {
      var result = [Float](repeating: 0, count: outCount)
      do {
        try w.withUnsafeBufferPointer { (wb) throws(ArrowheadError) in
          try codes.withUnsafeBufferPointer { (cb) throws(ArrowheadError) in
            try rows.withUnsafeBufferPointer { (rb) throws(ArrowheadError) in
              try result.withUnsafeMutableBufferPointer { (ob) throws(ArrowheadError) in
                try engine.sq8DotInt16Rows(weights: wb, codes: cb, stride: stride, rows: rb, into: ob)
              }
            }
          }
        }
        return .success(result)
      } catch { return .failure(error) }
    }
    func attempt(_ w: [Int16], stride: Int, rows: [UInt32], outCount: Int) -> ArrowheadError? {
      if case .failure(let error) = run(w, stride: stride, rows: rows, outCount: outCount) { return error }
      return nil
    }
    #expect(try run(weights, stride: 4, rows: [1, 0], outCount: 2).get() == [Float(3 * 255 - 2 * 7 + 1000 * 9), Float(3 * 1 - 2 * 2 + 1000 * 3)])
    #expect(attempt(weights, stride: 4, rows: [0, 1], outCount: 2) == nil)
    guard case .shapeMismatch? = attempt(weights, stride: 4, rows: [0, 1], outCount: 1) else {
      Issue.record("out shorter than rows was accepted"); return
    }
    guard case .leadingDimensionTooSmall? = attempt(weights, stride: 2, rows: [0], outCount: 1) else {
      Issue.record("a stride below the dimension was accepted"); return
    }
    guard case .bufferTooShort? = attempt(weights, stride: 4, rows: [2], outCount: 1) else {
      Issue.record("a row past the codes was accepted"); return
    }
    let heavy = [Int16](repeating: .max, count: 3)  // fine: 3·32 767·255 < 2³¹
    #expect(attempt(heavy, stride: 4, rows: [0], outCount: 1) == nil)
    let tooHeavy = [Int16](repeating: .min, count: 300)  // 300·32 768·255 ≥ 2³¹
    guard case .invalidParameter? = attempt(tooHeavy, stride: 300, rows: [], outCount: 0) else {
      Issue.record("weights that could overflow the Int32 sum were accepted"); return
    }
  }
}
