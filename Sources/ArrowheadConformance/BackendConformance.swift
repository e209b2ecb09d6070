// The conformance suite: every kernel of a backend against the reference, at awkward sizes,
// with error bounds derived from the arithmetic (each check says how).
//
// A product, so that a third-party backend runs the same suite Arrowhead's own backends
// pass. The checks record failures with Swift Testing's `#expect`; call them from a test:
//
//     import ArrowheadConformance
//     import Testing
//
//     @Test(arguments: BackendConformance.checks.map(\.name))
//     func myBackendConforms(check: String) throws {
//       try BackendConformance.run(check, on: MyBackend())
//     }
//
// A check that does not apply (a kernel the backend does not implement) still passes: the
// family's default is the reference itself.
import ArrowheadCore
import Testing

/// Runs the conformance checks on a backend (see the file header for how to call it).
public enum BackendConformance {
  /// One named check.
  public struct Check: Sendable {
    /// The check's name (a function of `BackendConformance`).
    public let name: String
    /// The kernel family it covers.
    public let family: KernelFamily
    /// Runs the check on a backend, recording failures with `#expect`.
    public let run: @Sendable (any Backend) throws -> Void
  }

  /// Every check, family by family.
  public static let checks: [Check] = [
    Check(name: "dotAndSumOfSquares", family: .level1, run: dotAndSumOfSquares),
    Check(name: "axpyAndScale", family: .level1, run: axpyAndScale),
    Check(name: "indexOfMaxMagnitudeIncludingTiesAndNaN", family: .level1, run: indexOfMaxMagnitudeIncludingTiesAndNaN),
    Check(name: "zeroAlphaStillPropagatesNonFiniteValues", family: .level1, run: zeroAlphaStillPropagatesNonFiniteValues),
    Check(name: "gemmAgreesWithReferenceWithinTheErrorBound", family: .matrix, run: gemmAgreesWithReferenceWithinTheErrorBound),
    Check(name: "gemmPropagatesNaNFromAAndIgnoresCWhenBetaIsZero", family: .matrix, run: gemmPropagatesNaNFromAAndIgnoresCWhenBetaIsZero),
    Check(name: "zeroAlphaMatrixProductsStillPropagateNaN", family: .matrix, run: zeroAlphaMatrixProductsStillPropagateNaN),
    Check(name: "gemvAgreesWithReferenceWithinTheErrorBound", family: .matrix, run: gemvAgreesWithReferenceWithinTheErrorBound),
    Check(name: "distanceMatricesAgreeWithReferenceWithinTheErrorBound", family: .distances, run: distanceMatricesAgreeWithReferenceWithinTheErrorBound),
    Check(name: "givenNormsGiveTheSameResultAsComputedOnes", family: .distances, run: givenNormsGiveTheSameResultAsComputedOnes),
    Check(name: "aZeroVectorHasCosineZeroAndANaNQueryGivesNaN", family: .distances, run: aZeroVectorHasCosineZeroAndANaNQueryGivesNaN),
    Check(name: "cosineHoldsForRowsWhoseFloat32NormOverflowsOrUnderflows", family: .distances, run: cosineHoldsForRowsWhoseFloat32NormOverflowsOrUnderflows),
    Check(name: "quantizeAndDequantizeAreBitIdentical", family: .quantization, run: quantizeAndDequantizeAreBitIdentical),
    Check(name: "roundingIsHalfToEvenOnHandComputedCases", family: .quantization, run: roundingIsHalfToEvenOnHandComputedCases),
    Check(name: "nonFiniteInputGivesTheDocumentedCodesInsteadOfTrapping", family: .quantization, run: nonFiniteInputGivesTheDocumentedCodesInsteadOfTrapping),
    Check(name: "groupMinMaxIsExactAndReportsNonFiniteValues", family: .quantization, run: groupMinMaxIsExactAndReportsNonFiniteValues),
    Check(name: "packAndUnpackAreBitIdenticalAndRoundTrip", family: .quantization, run: packAndUnpackAreBitIdenticalAndRoundTrip),
    Check(name: "packingOrderIsTheDocumentedLittleEndianBitStream", family: .quantization, run: packingOrderIsTheDocumentedLittleEndianBitStream),
    Check(name: "codeDistancesAreExact", family: .quantization, run: codeDistancesAreExact),
    Check(name: "searchCodeDistancesAgreeWithinTheErrorBound", family: .searchCodes, run: searchCodeDistancesAgreeWithinTheErrorBound),
    Check(name: "searchCodeDecodingIsBitIdentical", family: .searchCodes, run: searchCodeDecodingIsBitIdentical),
    Check(name: "batchedRowDistancesAgreeWithinTheErrorBound", family: .searchCodes, run: batchedRowDistancesAgreeWithinTheErrorBound),
    Check(name: "integerQueryRowDotsAreExact", family: .searchCodes, run: integerQueryRowDotsAreExact),
    Check(name: "optimizerCodeSumsAreExactAndMomentsWithinTheBound", family: .optimizer, run: optimizerCodeSumsAreExactAndMomentsWithinTheBound),
    Check(name: "halfQuadraticStepsAgreeWithinTheBound", family: .optimizer, run: halfQuadraticStepsAgreeWithinTheBound),
    Check(name: "choleskyHasTheBackwardErrorOfTheTheorem", family: .linearAlgebra, run: choleskyHasTheBackwardErrorOfTheTheorem),
    Check(name: "choleskyNamesTheFailingPivot", family: .linearAlgebra, run: choleskyNamesTheFailingPivot),
    Check(name: "triangularSolveHasTheBackwardErrorOfTheTheorem", family: .linearAlgebra, run: triangularSolveHasTheBackwardErrorOfTheTheorem),
    Check(name: "symmetricEigenPassesLAPACKsTestRatios", family: .linearAlgebra, run: symmetricEigenPassesLAPACKsTestRatios),
    Check(name: "weightOnlyQuantizedMatmulAgreesWithDequantizeThenMultiply", family: .quantizedMatmul, run: weightOnlyQuantizedMatmulAgreesWithDequantizeThenMultiply),
    Check(name: "int8QuantizedMatmulIsTheProductWithTheRoundedActivations", family: .quantizedMatmul, run: int8QuantizedMatmulIsTheProductWithTheRoundedActivations),
    Check(name: "int16QuantizedMatmulIsTheProductWithTwoDigitActivations", family: .quantizedMatmul, run: int16QuantizedMatmulIsTheProductWithTwoDigitActivations),
    Check(name: "quantizedMatmulRoundsActivationTiesToEvenAndIsExactOnExactInputs", family: .quantizedMatmul, run: quantizedMatmulRoundsActivationTiesToEvenAndIsExactOnExactInputs),
    Check(name: "nonFiniteActivationsPropagateToTheirRowOnly", family: .quantizedMatmul, run: nonFiniteActivationsPropagateToTheirRowOnly),
    Check(name: "hugeFiniteActivationsGiveFiniteProducts", family: .quantizedMatmul, run: hugeFiniteActivationsGiveFiniteProducts),
    Check(name: "largestCodesAndActivationsGiveExactSums", family: .quantizedMatmul, run: largestCodesAndActivationsGiveExactSums),
    Check(name: "transformerElementwiseKernelsAgreeWithTheReference", family: .transformer, run: transformerElementwiseKernelsAgreeWithTheReference),
    Check(name: "exponentiatedRowsAgreeWithTheReference", family: .transformer, run: exponentiatedRowsAgreeWithTheReference),
    Check(name: "layerNormsAgreeWithTheReference", family: .transformer, run: layerNormsAgreeWithTheReference),
  ]

  /// Runs the check called `name` on `backend`. Throws if there is no such check.
  public static func run(_ name: String, on backend: any Backend) throws {
    guard let check = checks.first(where: { $0.name == name }) else {
      throw ArrowheadError.invalidParameter(name: "check", value: name, expected: checks.map(\.name).joined(separator: ", "))
    }
    try check.run(backend)
  }

  /// Runs every check on `backend`.
  public static func runAll(on backend: any Backend) throws {
    for check in checks { try check.run(backend) }
  }
}

// MARK: - Shared tools of the checks

/// The oracle every check compares against.
let reference = ReferenceBackend()

/// Unit roundoff of Float32: u = 2⁻²⁴.
let unitRoundoff = 0.5 * Double(Float.ulpOfOne)

/// γₙ = n·u / (1 − n·u): the classic bound on the relative error of an n-term sum of
/// products in floating point (Higham, Accuracy and Stability, §3.1), whatever the order of
/// summation and whether products are fused or not.
func gamma(_ n: Int) -> Double {
  let nu = Double(n) * unitRoundoff
  return nu / (1 - nu)
}

/// Awkward lengths: 0, 1, around every vector width (4, 8, 16) and block size, odd sizes.
let awkwardLengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 127, 129, 255, 257, 1000]

/// Calls `body` with mutable pointers to copies of `arrays` (at least one element each, so
/// that a zero-length operand still has a valid address), then returns the copies.
func withBuffers(_ arrays: [[Float]], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
  let buffers = arrays.map { array -> UnsafeMutablePointer<Float> in
    let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, array.count))
    pointer.initialize(repeating: 0, count: max(1, array.count))
    array.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.update(from: base, count: array.count) } }
    return pointer
  }
  body(buffers)
  let results = zip(arrays, buffers).map { Array(UnsafeBufferPointer(start: $1, count: $0.count)) }
  for pointer in buffers { pointer.deallocate() }
  return results
}

/// Whether two floats are the same value, treating every NaN as equal to every NaN.
func sameValue(_ a: Float, _ b: Float) -> Bool { a == b || (a.isNaN && b.isNaN) }

// MARK: - Search codes

extension BackendConformance {
  /// SQ8 and SQ4 distances at awkward dimensions (every block-16 boundary and tail) against
  /// the reference (Double). A sum of n terms each carrying a few roundings (difference,
  /// product, square) is within γ_{n+3}·Σ|terms| of the exact value; the reference's own
  /// final rounding adds u·|value|.
  public static func searchCodeDistancesAgreeWithinTheErrorBound(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1601)
    for n in awkwardLengths where n > 0 {
      let shifted = generator.floats(n), scales = generator.floats(n, in: 0.001..<0.02), weights = generator.floats(n)
      let codes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let packed = (0..<((n + 1) / 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      var l2Terms = 0.0, dotTerms = 0.0, l2Terms4 = 0.0, dotTerms4 = 0.0
      for j in 0..<n {
        let c = Double(codes[j]), s = Double(scales[j])
        l2Terms += (abs(Double(shifted[j])) + c * s) * (abs(Double(shifted[j])) + c * s)
        dotTerms += abs(Double(weights[j])) * c
        let byte = packed[j >> 1], c4 = Double(j & 1 == 0 ? byte & 15 : byte >> 4)
        l2Terms4 += (abs(Double(shifted[j])) + 15 * s) * (abs(Double(shifted[j])) + 15 * s)
        dotTerms4 += abs(Double(weights[j])) * max(c4, 15)
      }
      let got8 = kernel.sq8SquaredL2(count: n, shifted: shifted, scales: scales, codes: codes)
      let want8 = reference.sq8SquaredL2(count: n, shifted: shifted, scales: scales, codes: codes)
      #expect(abs(Double(got8 - want8)) <= gamma(n + 3) * l2Terms + unitRoundoff * Double(want8), "sq8SquaredL2 n=\(n) on \(kernel.name)")
      let gotDot8 = kernel.sq8Dot(count: n, weights: weights, codes: codes)
      let wantDot8 = reference.sq8Dot(count: n, weights: weights, codes: codes)
      #expect(abs(Double(gotDot8 - wantDot8)) <= gamma(n + 1) * dotTerms + unitRoundoff * abs(Double(wantDot8)), "sq8Dot n=\(n) on \(kernel.name)")
      let got4 = kernel.sq4SquaredL2(count: n, shifted: shifted, scales: scales, packed: packed)
      let want4 = reference.sq4SquaredL2(count: n, shifted: shifted, scales: scales, packed: packed)
      #expect(abs(Double(got4 - want4)) <= gamma(n + 3) * l2Terms4 + unitRoundoff * Double(want4), "sq4SquaredL2 n=\(n) on \(kernel.name)")
      let gotDot4 = kernel.sq4Dot(count: n, weights: weights, packed: packed)
      let wantDot4 = reference.sq4Dot(count: n, weights: weights, packed: packed)
      #expect(abs(Double(gotDot4 - wantDot4)) <= gamma(n + 1) * dotTerms4 + unitRoundoff * abs(Double(wantDot4)), "sq4Dot n=\(n) on \(kernel.name)")
    }
  }

  /// Decoding multiplies then adds in Float (no fused multiply-add): every backend returns
  /// the reference's bits, and writes nothing past the row.
  public static func searchCodeDecodingIsBitIdentical(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1602)
    for n in awkwardLengths where n > 0 {
      let scales = generator.floats(n, in: 0.001..<0.02), offsets = generator.floats(n)
      let codes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let packed = (0..<((n + 1) / 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      var got = [Float](repeating: 7, count: n + 4), want = [Float](repeating: 7, count: n + 4)
      kernel.sq8Decode(count: n, codes: codes, scales: scales, offsets: offsets, &got)
      reference.sq8Decode(count: n, codes: codes, scales: scales, offsets: offsets, &want)
      #expect(got == want, "sq8Decode n=\(n) on \(kernel.name)")
      kernel.sq4Decode(count: n, packed: packed, scales: scales, offsets: offsets, &got)
      reference.sq4Decode(count: n, packed: packed, scales: scales, offsets: offsets, &want)
      #expect(got == want, "sq4Decode n=\(n) on \(kernel.name)")
    }
  }
}

extension BackendConformance {
  /// The batched kernels (one query against rows picked by index, `stride` apart): each
  /// output within the single-row bound of the reference (γ_{d+3}·Σ|terms| for squared L2,
  /// γ_{d+1}·Σ|products| for dots), rows repeated and out of order, nothing written past
  /// `rowCount`. The SIMD backend takes rows two at a time at every dimension: even and odd
  /// row counts reach its vector tails and its last odd row. A row gets the same bits at
  /// every position of a batch (first or second of a pair, or the last odd row), so a
  /// search's distances do not depend on the order its neighbours are listed in.
  public static func batchedRowDistancesAgreeWithinTheErrorBound(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1605)
    for d in [1, 7, 16, 17, 50, 64, 100, 257, 300, 384] {
      let rowsAvailable = 40, stride = d + 3, codeStride = d + 1, packedStride = (d + 1) / 2 + 2
      let base = generator.floats(rowsAvailable * stride), query = generator.floats(d)
      let scales = generator.floats(d, in: 0.001..<0.02)
      let codes = (0..<(rowsAvailable * codeStride)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let packed = (0..<(rowsAvailable * packedStride)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      for rowCount in [0, 1, 2, 5, 33] {
        let rows = (0..<rowCount).map { _ in UInt32.random(in: 0..<UInt32(rowsAvailable), using: &generator) }
        func batch(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
          var out = [Float](repeating: 7, count: rowCount + 3)
          out.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
          #expect(out[rowCount...].allSatisfy { $0 == 7 }, "wrote past rowCount on \(kernel.name)")
          return Array(out[0..<rowCount])
        }
        let l2 = batch { kernel.squaredL2Rows(dimension: d, query: query, base: base, stride: stride, rows: rows, rowCount: rowCount, $0) }
        let dots = batch { kernel.dotRows(dimension: d, query: query, base: base, stride: stride, rows: rows, rowCount: rowCount, $0) }
        let sq8 = batch {
          kernel.sq8SquaredL2Rows(dimension: d, shifted: query, scales: scales, codes: codes, stride: codeStride, rows: rows, rowCount: rowCount, $0)
        }
        let sq8Dots = batch { kernel.sq8DotRows(dimension: d, weights: query, codes: codes, stride: codeStride, rows: rows, rowCount: rowCount, $0) }
        let sq4 = batch {
          kernel.sq4SquaredL2Rows(dimension: d, shifted: query, scales: scales, packed: packed, stride: packedStride, rows: rows, rowCount: rowCount, $0)
        }
        let sq4Dots = batch { kernel.sq4DotRows(dimension: d, weights: query, packed: packed, stride: packedStride, rows: rows, rowCount: rowCount, $0) }
        // Every occurrence of a row (rows repeat: 33 picks of 40) has one value.
        for (i, row) in rows.enumerated() {
          let first = rows.firstIndex(of: row) ?? i
          #expect(l2[i] == l2[first] && dots[i] == dots[first], "row \(row) at positions \(first) and \(i), d=\(d) on \(kernel.name)")
        }
        for (i, row) in rows.enumerated() {
          let r = Int(row)
          var squares = 0.0, products = 0.0, codeSquares = 0.0, codeProducts = 0.0
          for j in 0..<d {
            let q = abs(Double(query[j])), x = abs(Double(base[r * stride + j]))
            squares += (q + x) * (q + x)
            products += q * x
            codeSquares += (q + 255 * Double(scales[j])) * (q + 255 * Double(scales[j]))
            codeProducts += q * 255
          }
          let wantL2 = base.withUnsafeBufferPointer { reference.squaredDistance(count: d, query, $0.baseAddress! + r * stride) }
          let wantDot = base.withUnsafeBufferPointer { reference.dot(count: d, query, $0.baseAddress! + r * stride) }
          #expect(abs(Double(l2[i] - wantL2)) <= gamma(d + 3) * squares, "squaredL2Rows d=\(d) on \(kernel.name)")
          #expect(abs(Double(dots[i] - wantDot)) <= gamma(d + 1) * products, "dotRows d=\(d) on \(kernel.name)")
          let want8 = codes.withUnsafeBufferPointer { reference.sq8SquaredL2(count: d, shifted: query, scales: scales, codes: $0.baseAddress! + r * codeStride) }
          let wantDot8 = codes.withUnsafeBufferPointer { reference.sq8Dot(count: d, weights: query, codes: $0.baseAddress! + r * codeStride) }
          let want4 = packed.withUnsafeBufferPointer { reference.sq4SquaredL2(count: d, shifted: query, scales: scales, packed: $0.baseAddress! + r * packedStride) }
          let wantDot4 = packed.withUnsafeBufferPointer { reference.sq4Dot(count: d, weights: query, packed: $0.baseAddress! + r * packedStride) }
          #expect(abs(Double(sq8[i] - want8)) <= gamma(d + 3) * codeSquares, "sq8SquaredL2Rows d=\(d) on \(kernel.name)")
          #expect(abs(Double(sq8Dots[i] - wantDot8)) <= gamma(d + 1) * codeProducts, "sq8DotRows d=\(d) on \(kernel.name)")
          #expect(abs(Double(sq4[i] - want4)) <= gamma(d + 3) * codeSquares, "sq4SquaredL2Rows d=\(d) on \(kernel.name)")
          #expect(abs(Double(sq4Dots[i] - wantDot4)) <= gamma(d + 1) * codeProducts, "sq4DotRows d=\(d) on \(kernel.name)")
        }
      }
    }
  }
}

extension BackendConformance {
  /// `sq8DotInt16Rows`: the exact integer Σ w·c (computed here in Int64) at every
  /// dimension around the vector widths (tails of 1…31 and 1…127 dimensions), rows
  /// repeated and out of order, `stride` wider than a row, weights at the contract's edge
  /// (every |w| = 2¹⁴ − 1 and every code 255 at 384 dimensions: Σ|w|·255 = 1.6·10⁹ < 2³¹),
  /// and nothing written past `rowCount`. Every backend gives the same bits.
  public static func integerQueryRowDotsAreExact(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1606)
    for d in [1, 7, 15, 16, 17, 31, 32, 33, 50, 64, 100, 127, 128, 129, 255, 384, 385] {
      let rowsAvailable = 30, stride = d + 5
      for edge in [false, true] {
        let weights: [Int16] = (0..<d).map { j in
          edge ? (j % 3 == 0 ? -16_383 : 16_383) : Int16.random(in: -16_383...16_383, using: &generator)
        }
        let codes: [UInt8] = (0..<(rowsAvailable * stride)).map { _ in edge ? 255 : UInt8.random(in: 0...255, using: &generator) }
        for rowCount in [0, 1, 6, 29] {
          let rows = (0..<rowCount).map { _ in UInt32.random(in: 0..<UInt32(rowsAvailable), using: &generator) }
          var out = [Float](repeating: 7, count: rowCount + 3)
          weights.withUnsafeBufferPointer { w in
            codes.withUnsafeBufferPointer { c in
              (rows + [0]).withUnsafeBufferPointer { r in  // + [0]: a base address at rowCount 0
                out.withUnsafeMutableBufferPointer { o in
                  kernel.sq8DotInt16Rows(
                    dimension: d, weights: w.baseAddress!, codes: c.baseAddress!, stride: stride,
                    rows: r.baseAddress!, rowCount: rowCount, o.baseAddress!)
                }
              }
            }
          }
          #expect(out[rowCount...].allSatisfy { $0 == 7 }, "sq8DotInt16Rows wrote past rowCount on \(kernel.name)")
          for (i, row) in rows.enumerated() {
            var want: Int64 = 0
            for j in 0..<d { want += Int64(weights[j]) * Int64(codes[Int(row) * stride + j]) }
            #expect(out[i] == Float(want), "sq8DotInt16Rows d=\(d) edge=\(edge) row \(i) on \(kernel.name): \(out[i]) vs \(want)")
          }
        }
      }
    }
  }
}

// MARK: - Optimizer

extension BackendConformance {
  /// Code sums: codes are small integers and the same map everywhere, so Σq and Σq² (up to
  /// 2²⁴ per Float32 run) are exact on every backend; Σxq, Σx, Σx², the sweep's error and the
  /// reconstruction sums are sums of n products within γ_{n+2}·Σ|terms|.
  public static func optimizerCodeSumsAreExactAndMomentsWithinTheBound(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1603)
    for n in awkwardLengths + [1024, 1025, 3000] where n > 0 {
      let x = generator.floats(n), w = generator.floats(n, in: 0.1..<2)
      let wx = zip(w, x).map { $0 * $1 }
      let a: Float = 7.3, b: Float = 7.6, top: Float = 15, s = 1 / a
      var absX = 0.0, absXX = 0.0, absWX = 0.0
      for i in 0..<n {
        absX += abs(Double(x[i]))
        absXX += Double(x[i]) * Double(x[i])
        absWX += Double(w[i]) * abs(Double(x[i]))
      }
      let sums = kernel.groupSums(count: n, x, weights: nil)
      let oracle = reference.groupSums(count: n, x, weights: nil)
      #expect(sums.weight == oracle.weight, "groupSums W n=\(n) on \(kernel.name)")
      #expect(abs(sums.sum - oracle.sum) <= gamma(n + 2) * absX, "groupSums X n=\(n) on \(kernel.name)")
      #expect(abs(sums.sumOfSquares - oracle.sumOfSquares) <= gamma(n + 2) * absXX, "groupSums XX n=\(n) on \(kernel.name)")
      let plain = kernel.codeSums(count: n, x, weights: nil, weightedValues: nil, a: a, b: b, top: top)
      let plainOracle = reference.codeSums(count: n, x, weights: nil, weightedValues: nil, a: a, b: b, top: top)
      #expect(plain.q == plainOracle.q && plain.qq == plainOracle.qq, "codeSums Q, QQ n=\(n) on \(kernel.name)")
      #expect(abs(plain.xq - plainOracle.xq) <= gamma(n + 2) * absX * Double(top), "codeSums XQ n=\(n) on \(kernel.name)")
      let weighted = kernel.codeSums(count: n, x, weights: w, weightedValues: wx, a: a, b: b, top: top)
      let weightedOracle = reference.codeSums(count: n, x, weights: w, weightedValues: wx, a: a, b: b, top: top)
      let absW = w.reduce(0.0) { $0 + Double($1) }
      #expect(abs(weighted.q - weightedOracle.q) <= gamma(n + 2) * absW * Double(top), "weighted Q n=\(n) on \(kernel.name)")
      #expect(abs(weighted.xq - weightedOracle.xq) <= gamma(n + 3) * absWX * Double(top), "weighted XQ n=\(n) on \(kernel.name)")
      var lanes = CandidateLanes()
      for lane in 0..<8 {
        let scale = s * (1 + 0.05 * Float(lane))
        lanes.a[lane] = 1 / scale
        lanes.b[lane] = b
        lanes.s[lane] = scale
        lanes.m[lane] = -b * scale
      }
      let sweep = kernel.candidateSweep(count: n, x, weights: nil, weightedValues: nil, lanes: lanes, top: top, measureError: true)
      let sweepOracle = reference.candidateSweep(count: n, x, weights: nil, weightedValues: nil, lanes: lanes, top: top, measureError: true)
      for lane in 0..<8 {
        #expect(sweep.q[lane] == sweepOracle.q[lane] && sweep.qq[lane] == sweepOracle.qq[lane], "sweep lane \(lane) n=\(n) on \(kernel.name)")
        // E: n squared residuals, each |r| ≤ |x| + 15·s + |m| ≲ 2: γ_{n+4}·Σ r² plus the
        // residuals' own rounding (u·(|x| + |x̂|) each).
        let bound = gamma(n + 4) * (sweepOracle.error[lane] + 4 * Double(n) * unitRoundoff + 1e-30)
        #expect(abs(sweep.error[lane] - sweepOracle.error[lane]) <= bound + 8 * unitRoundoff * absXX, "sweep E lane \(lane) n=\(n) on \(kernel.name)")
      }
      let moments = kernel.reconstructionSums(count: n, x, a: a, b: b, scale: s, top: top)
      let momentsOracle = reference.reconstructionSums(count: n, x, a: a, b: b, scale: s, top: top)
      #expect(abs(moments.sum - momentsOracle.sum) <= gamma(n + 2) * absX * 2 + 1e-9, "reconstruction Σx̂ n=\(n) on \(kernel.name)")
      #expect(abs(moments.sumOfSquares - momentsOracle.sumOfSquares) <= gamma(n + 2) * 4 * absXX + 1e-9, "reconstruction Σx̂² n=\(n) on \(kernel.name)")
    }
  }

  /// HQQ steps against the reference (libm `powf` per value). A backend may compute |e|ᵖ with
  /// a vectorised log₂/exp₂ within 10⁻⁶ relative, which moves each shrunk residual by at most
  /// 10⁻⁶·|e|ᵖ/β; codes are identical. So the mean |e| agrees to summation error (10⁻⁵
  /// relative) and the updates to 10⁻⁴ (≈ 10× the largest effect at these magnitudes).
  public static func halfQuadraticStepsAgreeWithinTheBound(_ kernel: any Backend) throws {
    var generator = SeededGenerator(seed: 1604)
    for n in [1, 7, 8, 63, 64, 65, 1000, 3001] {
      let x = generator.floats(n)
      let low = x.min() ?? 0, high = x.max() ?? 1
      let inverse = 15 / max(high - low, 1e-3), zero = -low * inverse
      let ours = kernel.hqqZeroStep(count: n, x, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
      let oracle = reference.hqqZeroStep(count: n, x, inverse: inverse, zero: zero, beta: 10, exponent: -0.3, top: 15)
      #expect(abs(ours.meanAbsoluteError - oracle.meanAbsoluteError) <= 1e-5 * oracle.meanAbsoluteError + 1e-9, "hqqZeroStep |e| n=\(n) on \(kernel.name)")
      #expect(abs(ours.update - oracle.update) <= 1e-4, "hqqZeroStep update n=\(n) on \(kernel.name)")
      let scaled = kernel.hqqScaleStep(count: n, x, scale: 1 / inverse, zero: 8, beta: 10, exponent: -0.3, top: 15)
      let expected = reference.hqqScaleStep(count: n, x, scale: 1 / inverse, zero: 8, beta: 10, exponent: -0.3, top: 15)
      #expect(abs(scaled.update - expected.update) <= 1e-4 * abs(expected.update), "hqqScaleStep n=\(n) on \(kernel.name)")
      #expect(abs(scaled.meanAbsoluteError - expected.meanAbsoluteError) <= 1e-5 * expected.meanAbsoluteError + 1e-9, "hqqScaleStep |e| n=\(n) on \(kernel.name)")
    }
  }
}
