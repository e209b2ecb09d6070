import ArrowheadCore
import Testing

/// Level-1 kernels of every runnable backend against the reference at awkward lengths.
extension BackendConformance {
  /// dot, sumOfSquares and squaredDistance at every awkward length against the reference: within
  /// γₙ·Σ|xᵢyᵢ| (γₙ·Σxᵢ² for the sum of squares, γ_{n+2}·Σ(xᵢ − yᵢ)² for the distance) plus
  /// u times the value for the reference's own final rounding.
  public static func dotAndSumOfSquares(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in awkwardLengths {
      var generator = SeededGenerator(seed: UInt64(n) &+ 11)
      let x = generator.floats(n), y = generator.floats(n)
      var got: Float = 0, expected: Float = 0, gotSquares: Float = 0, expectedSquares: Float = 0
      var gotDistance: Float = 0, expectedDistance: Float = 0
      _ = withBuffers([x, y]) { p in
        gotDistance = kernel.squaredDistance(count: n, p[0], p[1])
        expectedDistance = reference.squaredDistance(count: n, p[0], p[1])
        got = kernel.dot(count: n, p[0], p[1])
        expected = reference.dot(count: n, p[0], p[1])
        gotSquares = kernel.sumOfSquares(count: n, p[0])
        expectedSquares = reference.sumOfSquares(count: n, p[0])
      }
      // |ŝ − s| ≤ γₙ·Σ|xᵢyᵢ| for the backend, plus u·|s| for the reference's final rounding.
      let absoluteSum = zip(x, y).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
      let squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
      #expect(abs(Double(got) - Double(expected)) <= gamma(n) * absoluteSum + unitRoundoff * abs(Double(expected)),
              "dot n=\(n) on \(name): \(got) vs \(expected)")
      #expect(abs(Double(gotSquares) - Double(expectedSquares)) <= gamma(n) * squares + unitRoundoff * squares,
              "sumOfSquares n=\(n) on \(name)")
      // Each difference is rounded once (u), each square-and-add within γₙ.
      let differenceSquares = zip(x, y).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }
      #expect(abs(Double(gotDistance) - Double(expectedDistance))
              <= gamma(n + 2) * differenceSquares + unitRoundoff * differenceSquares,
              "squaredDistance n=\(n) on \(name)")
    }
  }

  /// axpy with α = −1.75 at every awkward length within γ₂·(|α·xᵢ| + |yᵢ|) + u·|result| of the
  /// reference (two roundings, one when fused); scale (one correctly rounded product) bit for bit.
  public static func axpyAndScale(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in awkwardLengths {
      var generator = SeededGenerator(seed: UInt64(n) &+ 23)
      let x = generator.floats(n), y = generator.floats(n)
      let alpha: Float = -1.75
      let got = withBuffers([x, y]) { kernel.axpy(count: n, alpha: alpha, $0[0], $0[1]) }[1]
      let expected = withBuffers([x, y]) { reference.axpy(count: n, alpha: alpha, $0[0], $0[1]) }[1]
      for i in 0..<n {
        // αx then + y: two roundings at most (one when fused), plus the reference's one.
        let bound = gamma(2) * (abs(Double(alpha * x[i])) + abs(Double(y[i]))) + unitRoundoff * abs(Double(expected[i]))
        #expect(abs(Double(got[i]) - Double(expected[i])) <= bound, "axpy n=\(n) i=\(i) on \(name)")
      }
      // α·x is one correctly rounded product on every backend: bit-identical.
      let scaled = withBuffers([x]) { kernel.scale(count: n, alpha: alpha, $0[0]) }[0]
      let scaledReference = withBuffers([x]) { reference.scale(count: n, alpha: alpha, $0[0]) }[0]
      #expect(scaled == scaledReference, "scale n=\(n) on \(name)")
    }
  }

  /// α = 0 still multiplies: x ← 0·x and y ← 0·x + y give NaN wherever x holds NaN or ±∞
  /// (IEEE 754) on every backend — never a finite value that depends on which backend
  /// dispatch chose. (OpenBLAS 0.3.21 returns early in `sscal` and `saxpy` for α = 0 and, in
  /// `sscal`, sets NaN and ∞ to 0; reference BLAS skips `saxpy`; its backend computes these
  /// itself.) The matrix products: `zeroAlphaMatrixProductsStillPropagateNaN`.
  public static func zeroAlphaStillPropagatesNonFiniteValues(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in [1, 3, 8, 17, 64, 1000] {
      var generator = SeededGenerator(seed: UInt64(n) &+ 41)
      var x = generator.floats(n)
      let y = generator.floats(n)
      x[0] = .nan
      if n > 1 { x[n - 1] = .infinity }
      if n > 2 { x[n / 2] = -.infinity }
      for alpha: Float in [0, -0.0] {
        let scaled = withBuffers([x]) { kernel.scale(count: n, alpha: alpha, $0[0]) }[0]
        let scaledReference = withBuffers([x]) { reference.scale(count: n, alpha: alpha, $0[0]) }[0]
        let summed = withBuffers([x, y]) { kernel.axpy(count: n, alpha: alpha, $0[0], $0[1]) }[1]
        let summedReference = withBuffers([x, y]) { reference.axpy(count: n, alpha: alpha, $0[0], $0[1]) }[1]
        for i in 0..<n {
          #expect(scaled[i].isNaN == !x[i].isFinite, "scale α=\(alpha) n=\(n) i=\(i) on \(name): \(scaled[i])")
          #expect(scaled[i].isNaN || scaled[i].bitPattern == scaledReference[i].bitPattern,
                  "scale α=\(alpha) n=\(n) i=\(i) on \(name): \(scaled[i]) vs \(scaledReference[i])")
          #expect(summed[i].isNaN == !x[i].isFinite, "axpy α=\(alpha) n=\(n) i=\(i) on \(name): \(summed[i])")
          #expect(summed[i].isNaN || summed[i] == summedReference[i], "axpy α=\(alpha) n=\(n) i=\(i) on \(name)")
        }
      }
    }
  }

  /// indexOfMaxMagnitude at every awkward length equals the reference's; with n ≥ 3, a tie between
  /// −5 at n/3 and 5 at n − 1 gives the first index, a NaN at n/2 gives n/2 (also when a later
  /// NaN has a larger payload or the other sign), ±∞ tie, a largest value in the last place
  /// wins; all zeros (−0 among them) give 0; count 0 gives −1.
  public static func indexOfMaxMagnitudeIncludingTiesAndNaN(_ kernel: any Backend) throws {
    let name = kernel.name
    for n in awkwardLengths where n > 0 {
      var generator = SeededGenerator(seed: UInt64(n) &+ 5)
      var x = generator.floats(n)
      var got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
      #expect(got == withBuffersIndex(x) { reference.indexOfMaxMagnitude(count: n, $0) }, "n=\(n) on \(name)")
      // A tie: the first index wins.
      if n >= 3 {
        x[n / 3] = -5
        x[n - 1] = 5
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n / 3, "tie n=\(n) on \(name)")
        // A NaN is never hidden: its (first) index is returned.
        x[n / 2] = .nan
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n / 2, "NaN n=\(n) on \(name)")
        // The first NaN, whatever the payloads and signs of the later ones.
        x[n / 2] = Float(bitPattern: 0xFFC0_0001)
        x[n - 1] = Float(bitPattern: 0x7FFF_FFFF)
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n / 2, "NaN payloads n=\(n) on \(name)")
        x[n / 2] = 1
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n - 1, "last NaN n=\(n) on \(name)")
        // Infinities of both signs tie; a single largest value in the last place wins.
        x[n - 1] = 1
        x[n / 3] = -.infinity
        x[n - 1] = .infinity
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n / 3, "±∞ n=\(n) on \(name)")
        x[n / 3] = 1
        x[n - 1] = -.greatestFiniteMagnitude
        got = withBuffersIndex(x) { kernel.indexOfMaxMagnitude(count: n, $0) }
        #expect(got == n - 1, "largest last n=\(n) on \(name)")
      }
      // All zeros, −0 among them: the first.
      let zeros = (0..<n).map { $0 % 3 == 1 ? Float(-0.0) : 0 }
      #expect(withBuffersIndex(zeros) { kernel.indexOfMaxMagnitude(count: n, $0) } == 0, "zeros n=\(n) on \(name)")
    }
    #expect(kernel.indexOfMaxMagnitude(count: 0, [Float(1)]) == -1)
  }

  static func withBuffersIndex(_ x: [Float], _ body: (UnsafePointer<Float>) -> Int) -> Int {
    x.withUnsafeBufferPointer { body($0.baseAddress!) }
  }
}
