import ArrowheadCore

// The int8 screen of an exact flat search (Float32 storage).
//
// Every (query, base) pair is first scored with integer dot products (the engine's
// `.quantizedMatmulInt8` kernel: about 3× the Float32 gemm's rate with AVX-512 VNNI), and
// only the pairs whose score *plus a proven error bound* can still reach the current k-th
// best are re-scored exactly in Float32. Results are those of the exact search.
//
// The bound. Base vector x is stored as codes cⱼ ∈ 0…2ᵇ − 1 with x̂ⱼ = cⱼ·s + m (b = 8, or 7
// where the kernel multiplies 7-bit codes faster: `int8FullRateCodeBits`; one scale s
// and minimum m per vector, `QuantizedMatrixLayout` per channel); the kernel quantizes the
// query to q̂ = t·a (`ActivationQuantization`) and returns y = q̂·x̂ up to Float32 rounding.
// With e_x ≥ ‖x − x̂‖ (kept per vector) and e_q = ‖q − q̂‖ (per query):
//
//   q·x − q̂·x̂ = (q − q̂)·x + q̂·(x − x̂),   so   |q·x − y| ≤ e_q‖x‖ + ‖q̂‖e_x + ρ
//
// with ‖q̂‖ ≤ ‖q‖ + e_q and ρ the Float32 rounding of the kernel, of the exact re-score and
// of evaluating the bound itself. Each is a few units of 2⁻²⁴ times d·‖q̂‖‖x̂‖ (a dot
// product of length d: γ_d ≤ d·2⁻²⁴/(1 − d·2⁻²⁴); the kernel's t·(s·Σca + m·Σa): three
// roundings of terms ≤ (‖x̂‖ + √d·|m|)‖q̂‖ ≤ (1 + 2√d)(‖x‖ + e_x)‖q̂‖); `slack` takes
// (d + 2√d + 16)·2⁻²¹ — more than four times their sum — of (‖q‖ + e_q)(‖x‖ + e_x).
//
// Inner product (smaller −q·x is nearer): −F ≥ −y − [e_q‖x‖ + (‖q‖+e_q)e_x + slack].
// Squared L2: D = ‖q‖² + ‖x‖² − 2q·x ≥ ‖q‖² + ‖x‖² − 2y − 2[…], and the re-scored F
// (Σ(qⱼ − xⱼ)²) is within (d + 3)·2⁻²⁴·D of D: the slack takes a further
// (d + 2√d + 16)·2⁻²¹·(‖q‖² + ‖x‖²).
// A pair is skipped only when that lower bound of its distance exceeds the k-th best exact
// distance found so far (which can only fall), so a skipped pair could never have entered.

/// Int8 codes of every base vector, packed for the quantized-matmul kernel, with ‖x‖ and an
/// upper bound of ‖x − x̂‖ per vector. Made on the first search that uses it (one pass over
/// the vectors) and dropped by `add` and `remove`.
final class FlatPrefilter: @unchecked Sendable {
  /// The codes: rows = base vectors, one group per row.
  let matrix: QuantizedMatrix
  /// ‖x‖, rounded up.
  let norms: [Float]
  /// ≥ ‖x − x̂‖.
  let errors: [Float]
  let rows: Int

  /// Bytes held.
  var byteCount: Int { matrix.codes.count + 4 * (matrix.scales.count + matrix.offsets.count + norms.count + errors.count) }

  /// Quantizes `rows` vectors of `dimension` floats to `bits`-bit codes (7 or 8); nil when
  /// a vector's range overflows Float32 (max − min = ∞), in which case searches keep the
  /// Float32 path.
  init?(rows: Int, dimension: Int, vectors: UnsafePointer<Float>, bits: Int = 8) {
    let top = Float((1 << bits) - 1)
    var codes = [UInt8](repeating: 0, count: rows * dimension)
    var scales = [Float](repeating: 0, count: rows)
    var offsets = [Float](repeating: 0, count: rows)
    var norms = [Float](repeating: 0, count: rows)
    var errors = [Float](repeating: 0, count: rows)
    let ok: Bool = codes.withUnsafeMutableBufferPointer { codeBuffer in
      let out = codeBuffer.baseAddress!
      for row in 0..<rows {
        let x = vectors + row * dimension
        var low = x[0], high = x[0]
        for j in 1..<dimension {
          low = min(low, x[j])
          high = max(high, x[j])
        }
        let scale = (high - low) / top
        guard scale.isFinite else { return false }
        var error: Double = 0, norm: Double = 0
        let codes = out + row * dimension
        for j in 0..<dimension {
          let code: Float = scale > 0 ? min(max(((x[j] - low) / scale).rounded(.toNearestOrEven), 0), top) : 0
          codes[j] = UInt8(code)
          // x̂ⱼ = c·s + m; in Double c·s is exact and the sum is within 2⁻⁵³ of the real one.
          let difference = Double(x[j]) - (Double(code) * Double(scale) + Double(low))
          error += difference * difference
          norm += Double(x[j]) * Double(x[j])
        }
        scales[row] = scale
        offsets[row] = low
        norms[row] = Self.roundedUp(norm.squareRoot())
        errors[row] = Self.roundedUp(error.squareRoot())
      }
      return true
    }
    guard ok,
      let layout = try? QuantizedMatrixLayout(rows: rows, columns: dimension, bits: bits, groupSize: dimension, form: .floatMinimum),
      let matrix = try? QuantizedMatrix(layout: layout, codes: codes, scales: scales, offsets: offsets, name: "base")
    else { return nil }
    self.matrix = matrix
    self.norms = norms
    self.errors = errors
    self.rows = rows
  }

  /// A Float32 ≥ `value` (within a few ulps).
  static func roundedUp(_ value: Double) -> Float {
    let rounded = Float(value * (1 + 0x1p-40))
    return Double(rounded) >= value ? rounded : rounded.nextUp
  }

  /// The relative slack (d + 2√d + 16)·2⁻²¹ (see the file's header).
  static func slack(dimension: Int) -> Float {
    (Float(dimension) + 2 * Float(dimension).squareRoot() + 16) * 0x1p-21
  }

  /// e_q = ‖q − q̂‖ (rounded up) for the query quantization the kernel applies, and ‖q‖
  /// (rounded up).
  static func queryBounds(_ query: UnsafePointer<Float>, dimension: Int, scratch: UnsafeMutablePointer<Int8>) -> (error: Float, norm: Float) {
    let (t, _) = ActivationQuantization.quantizeGroup(query, length: dimension, into: scratch)
    var error: Double = 0, norm: Double = 0
    let step = Double(t)
    for j in 0..<dimension {
      let value = Double(query[j])
      let difference = value - step * Double(scratch[j])
      error += difference * difference
      norm += value * value
    }
    return (roundedUp(error.squareRoot()), roundedUp(norm.squareRoot()))
  }

  /// The kernel operand for base rows `start ..< start + count` (`start` a multiple of 16).
  func withOperand<R>(rows start: Int, count: Int, _ body: (QuantizedMatrixOperand) -> R) -> R {
    matrix.withOperand { whole in
      let panelRows = QuantizedMatrixLayout.panelRows
      let panel = start / panelRows
      let layout = whole.layout
      // Same shape per row, fewer rows: a valid layout (the checks passed for the whole).
      let part = (try? QuantizedMatrixLayout(
        rows: count, columns: layout.columns, bits: layout.bits, groupSize: layout.groupSize, form: layout.form)) ?? layout
      return body(QuantizedMatrixOperand(
        layout: part, codes: whole.codes + panel * layout.panelByteCount,
        scales: whole.scales + panel * layout.groupsPerRow * panelRows,
        offsets: whole.offsets + panel * layout.groupsPerRow * panelRows))
    }
  }
}

/// The lazily made `FlatPrefilter` of an index and the lock that guards it.
final class FlatPrefilterCache: @unchecked Sendable {
  private let mutex = PlainMutex()
  private var cached: FlatPrefilter?
  private var failed = false
  private var queriesSinceChange = 0

  /// Drops the codes (after the vectors changed) and restarts the count of queries.
  func invalidate() {
    mutex.locked {
      cached = nil
      failed = false
      queriesSinceChange = 0
    }
  }

  /// Counts `queryCount` more queries searched since the vectors last changed; returns the
  /// total and whether the codes exist already.
  func noteQueries(_ queryCount: Int) -> (total: Int, built: Bool) {
    mutex.locked {
      queriesSinceChange += queryCount
      return (queriesSinceChange, cached != nil)
    }
  }

  /// The codes, made by `make` if there are none yet (nil when they cannot be made).
  func prefilter(_ make: () -> FlatPrefilter?) -> FlatPrefilter? {
    mutex.locked {
      if cached == nil, !failed {
        cached = make()
        failed = cached == nil
      }
      return cached
    }
  }

  /// Bytes held by the codes.
  var byteCount: Int { mutex.locked { cached?.byteCount ?? 0 } }
}
