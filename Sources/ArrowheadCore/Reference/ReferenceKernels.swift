// The reference kernels: scalar, obviously-correct loops, the default of every kernel
// requirement and the oracle of every test.
//
// Every loop is the textbook definition, accumulated in `Double` so that its own rounding
// error is negligible next to the error bounds the tests allow the fast backends
// (e.g. |ĉᵢⱼ − cᵢⱼ| ≤ γₖ·(|A|·|B|)ᵢⱼ for gemm with γₖ = k·u/(1 − k·u)). Quantization kernels
// follow the exact rounding rules every backend must reproduce bit for bit.

/// The reference implementation of every kernel (see `Backend`).
public enum ReferenceKernels {
  // MARK: Level 1

  /// Σ x[i]·y[i], accumulated in Double and rounded once.
  public static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum = 0.0
    for i in 0..<count { sum += Double(x[i]) * Double(y[i]) }
    return Float(sum)
  }

  /// Σ (x[i] − y[i])², accumulated in Double and rounded once.
  public static func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var sum = 0.0
    for i in 0..<count {
      let difference = Double(x[i]) - Double(y[i])
      sum += difference * difference
    }
    return Float(sum)
  }

  /// y ← α·x + y, each element computed in Double and rounded once.
  public static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(Double(alpha) * Double(x[i]) + Double(y[i])) }
  }

  /// x ← α·x, one Float product per element (so α = 0 still turns NaN and ±∞ into NaN).
  public static func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    for i in 0..<count { x[i] = alpha * x[i] }
  }

  /// Σ x[i]², accumulated in Double and rounded once.
  public static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    var sum = 0.0
    for i in 0..<count { sum += Double(x[i]) * Double(x[i]) }
    return Float(sum)
  }

  /// The index of the first element of largest |x[i]| (a tie goes to the lowest index), or of
  /// the first NaN if there is one; −1 when `count` is 0.
  public static func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int {
    guard count > 0 else { return -1 }
    var best = 0
    var bestValue = abs(x[0])
    if bestValue.isNaN { return 0 }
    for i in 1..<count {
      let value = abs(x[i])
      if value.isNaN { return i }
      if value > bestValue { best = i; bestValue = value }
    }
    return best
  }

  // MARK: Level 2 and 3

  /// y ← α·op(A)·x + β·y with A `rows × columns` row-major (leading dimension `lda`) and op(A)
  /// = A or Aᵀ per `transpose`; each dot product in Double, one rounding per output. β = 0 means
  /// y is not read (a NaN there does not propagate).
  public static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    let outputs = transpose == .normal ? rows : columns
    let inner = transpose == .normal ? columns : rows
    for i in 0..<outputs {
      var sum = 0.0
      for j in 0..<inner {
        let element = transpose == .normal ? a[i * lda + j] : a[j * lda + i]
        sum += Double(element) * Double(x[j])
      }
      let previous = beta == 0 ? 0 : Double(beta) * Double(y[i])
      y[i] = Float(Double(alpha) * sum + previous)
    }
  }

  /// C ← α·op(A)·op(B) + β·C, row-major with leading dimensions `lda`, `ldb`, `ldc`: op(A) is
  /// `rows × depth`, op(B) `depth × columns`, each stored transposed when `.transposed`. Sums in
  /// Double, one rounding per element; β = 0 means C is not read (a NaN there does not propagate).
  public static func gemm(
    _ transposeA: Transpose, _ transposeB: Transpose,
    rows: Int, columns: Int, depth: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    for i in 0..<rows {
      for j in 0..<columns {
        var sum = 0.0
        for p in 0..<depth {
          let aValue = transposeA == .normal ? a[i * lda + p] : a[p * lda + i]
          let bValue = transposeB == .normal ? b[p * ldb + j] : b[j * ldb + p]
          sum += Double(aValue) * Double(bValue)
        }
        let previous = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
        c[i * ldc + j] = Float(Double(alpha) * sum + previous)
      }
    }
  }

  // MARK: Distances

  /// out[i·ldo + j] = metric(query i, base row j) over `dimension` elements (query rows `ldq`
  /// apart, base rows `ldb` apart), in Double and rounded once: squared L2 as Σ(q − x)², inner
  /// product Σ q·x, cosine q·x/√(‖q‖²·‖x‖²), 0 when that denominator is 0 and NaN when it is NaN.
  public static func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    _ out: UnsafeMutablePointer<Float>, ldo: Int
  ) {
    for i in 0..<queryCount {
      let q = queries + i * ldq
      for j in 0..<baseCount {
        let x = base + j * ldb
        var value = 0.0
        switch metric {
        case .squaredL2:
          for d in 0..<dimension {
            let difference = Double(q[d]) - Double(x[d])
            value += difference * difference
          }
        case .innerProduct:
          for d in 0..<dimension { value += Double(q[d]) * Double(x[d]) }
        case .cosine:
          var qq = 0.0, xx = 0.0
          for d in 0..<dimension {
            value += Double(q[d]) * Double(x[d])
            qq += Double(q[d]) * Double(q[d])
            xx += Double(x[d]) * Double(x[d])
          }
          let denominator = (qq * xx).squareRoot()
          value = denominator > 0 ? value / denominator : (denominator.isNaN ? .nan : 0)
        }
        out[i * ldo + j] = Float(value)
      }
    }
  }

  // MARK: Quantization

  /// The minimum and maximum of each group of `groupSize` consecutive elements (the last group
  /// may be shorter) into `minimums[g]` and `maximums[g]`; returns whether every element is finite.
  public static func groupMinMax(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    minimums: UnsafeMutablePointer<Float>, maximums: UnsafeMutablePointer<Float>
  ) -> Bool {
    var allFinite = true
    var group = 0
    var start = 0
    while start < count {
      let end = min(start + groupSize, count)
      var low = Float.infinity, high = -Float.infinity
      for i in start..<end {
        let value = x[i]
        if !value.isFinite { allFinite = false }
        low = min(low, value)
        high = max(high, value)
      }
      minimums[group] = low
      maximums[group] = high
      group += 1
      start = end
    }
    return allFinite
  }

  /// codes[i] = clamp(q, 0, maxCode) with the scale s and offset of group i / `groupSize`:
  /// q = round((x − m)/s) (`.floatMinimum`) or round(x/s) + z (`.zeroPoint`), in Float, rounding
  /// half to even; s = 0 gives q = 0 (+ z). NaN gives code 0, +∞ `maxCode`, −∞ 0.
  public static func quantize(
    count: Int, groupSize: Int, _ x: UnsafePointer<Float>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm, maxCode: Int,
    _ codes: UnsafeMutablePointer<UInt8>
  ) {
    let top = Float(maxCode)
    for i in 0..<count {
      let group = i / groupSize
      let s = scales[group], offset = offsets[group]
      let q: Float
      switch form {
      case .floatMinimum:
        q = s == 0 ? 0 : ((x[i] - offset) / s).rounded(.toNearestOrEven)
      case .zeroPoint:
        q = (s == 0 ? 0 : (x[i] / s).rounded(.toNearestOrEven)) + offset
      }
      codes[i] = q >= 0 ? UInt8(min(q, top)) : 0  // NaN → 0
    }
  }

  /// x[i] = q·s + m (`.floatMinimum`) or (q − z)·s (`.zeroPoint`) with the parameters of group
  /// i / `groupSize`, in Float (multiply then add, not fused).
  public static func dequantize(
    count: Int, groupSize: Int, _ codes: UnsafePointer<UInt8>,
    scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>, form: AffineForm,
    _ x: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<count {
      let group = i / groupSize
      let q = Float(codes[i])
      switch form {
      case .floatMinimum: x[i] = q * scales[group] + offsets[group]
      case .zeroPoint: x[i] = (q - offsets[group]) * scales[group]
      }
    }
  }

  /// Packs `count` codes of `bits` bits into a little-endian bit stream: bit b of code i is
  /// stream bit i·bits + b, and stream bit s is bit s % 8 of byte s / 8 (LSB first). Writes
  /// ⌈count·bits/8⌉ bytes, zeroed first, so the unused high bits of the last byte are 0.
  public static func pack(count: Int, bits: Int, _ codes: UnsafePointer<UInt8>, _ packed: UnsafeMutablePointer<UInt8>) {
    let byteCount = (count * bits + 7) / 8
    packed.update(repeating: 0, count: byteCount)
    for i in 0..<count {
      for bit in 0..<bits where codes[i] & (1 << bit) != 0 {
        let streamBit = i * bits + bit
        packed[streamBit / 8] |= UInt8(1) << (streamBit % 8)
      }
    }
  }

  /// The inverse of `pack`: code i from stream bits i·bits ..< (i + 1)·bits of the little-endian
  /// bit stream (LSB first), for `count` codes.
  public static func unpack(count: Int, bits: Int, _ packed: UnsafePointer<UInt8>, _ codes: UnsafeMutablePointer<UInt8>) {
    for i in 0..<count {
      var code: UInt8 = 0
      for bit in 0..<bits {
        let streamBit = i * bits + bit
        if packed[streamBit / 8] & (UInt8(1) << (streamBit % 8)) != 0 { code |= 1 << bit }
      }
      codes[i] = code
    }
  }

  /// Σ a[i]·b[i] of signed bytes in Int32 (exact products, wrapping addition).
  public static func int8Dot(count: Int, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>) -> Int32 {
    var sum: Int32 = 0
    for i in 0..<count { sum &+= Int32(a[i]) * Int32(b[i]) }
    return sum
  }

  /// Σ (a[i] − b[i])² of unsigned bytes in Int32 (exact squares, wrapping addition).
  public static func uint8SquaredL2(count: Int, _ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>) -> Int32 {
    var sum: Int32 = 0
    for i in 0..<count {
      let difference = Int32(a[i]) - Int32(b[i])
      sum &+= difference * difference
    }
    return sum
  }

  // MARK: Dense linear algebra

  /// Overwrites the `order × order` row-major matrix A (leading dimension `lda`; only its lower
  /// triangle is read) with its Cholesky factor L, A = L·Lᵀ, computed in Double, zeros above the
  /// diagonal. Throws `notPositiveDefinite` naming pivot j when the j-th pivot is not positive and
  /// finite, leaving A unchanged.
  public static func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    var l = [Double](repeating: 0, count: order * order)
    for j in 0..<order {
      var diagonal = Double(a[j * lda + j])
      for p in 0..<j { diagonal -= l[j * order + p] * l[j * order + p] }
      guard diagonal > 0, diagonal.isFinite else {
        throw .notPositiveDefinite(argument: "a", order: order, pivot: j)
      }
      let root = diagonal.squareRoot()
      l[j * order + j] = root
      for i in (j + 1)..<max(order, j + 1) {
        var value = Double(a[i * lda + j])
        for p in 0..<j { value -= l[i * order + p] * l[j * order + p] }
        l[i * order + j] = value / root
      }
    }
    for i in 0..<order {
      for j in 0..<order { a[i * lda + j] = Float(l[i * order + j]) }
    }
  }

  /// Overwrites B (`rows × columns`, leading dimension `ldb`) with X solving op(L)·X = B
  /// (`.left`, L of order `rows`) or X·op(L) = B (`.right`, order `columns`), L lower triangular
  /// row-major (leading dimension `ldl`, non-unit diagonal) and op(L) = L or Lᵀ. Substitution in
  /// Double per column (left) or row (right), one rounding per element.
  public static func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    // op(L)[i][j]: L[i][j] for .normal, L[j][i] for .transposed (lower ⇒ upper).
    func element(_ i: Int, _ j: Int) -> Double {
      transpose == .normal ? Double(l[i * ldl + j]) : Double(l[j * ldl + i])
    }
    let lowerOp = transpose == .normal
    switch side {
    case .left:
      // Solve op(L)·X = B column by column.
      let order = rows
      for column in 0..<columns {
        var x = [Double](repeating: 0, count: order)
        let indices = lowerOp ? Array(0..<order) : Array((0..<order).reversed())
        for i in indices {
          var value = Double(b[i * ldb + column])
          let others = lowerOp ? Array(0..<i) : Array((i + 1)..<max(order, i + 1))
          for j in others { value -= element(i, j) * x[j] }
          x[i] = value / element(i, i)
        }
        for i in 0..<order { b[i * ldb + column] = Float(x[i]) }
      }
    case .right:
      // Solve X·op(L) = B row by row: op(L)ᵀ·xᵀ = bᵀ.
      let order = columns
      for row in 0..<rows {
        var x = [Double](repeating: 0, count: order)
        // X·M = B ⇔ Σ_i x[i]·M[i][j] = b[j]; M lower ⇒ solve from the last column back.
        let indices = lowerOp ? Array((0..<order).reversed()) : Array(0..<order)
        for j in indices {
          var value = Double(b[row * ldb + j])
          let others = lowerOp ? Array((j + 1)..<max(order, j + 1)) : Array(0..<j)
          for i in others { value -= x[i] * element(i, j) }
          x[j] = value / element(j, j)
        }
        for j in 0..<order { b[row * ldb + j] = Float(x[j]) }
      }
    }
  }

  /// Eigenvalues (ascending) into `eigenvalues` and eigenvectors over A (column j ↔ value j) of
  /// the symmetric `order × order` matrix held in A's lower triangle (row-major, `lda`), by the
  /// cyclic Jacobi method in Double (`JacobiEigen`). Throws, leaving A unchanged, on a non-finite
  /// element or when Jacobi does not converge.
  public static func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int,
    eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    var matrix = [Double](repeating: 0, count: order * order)
    for i in 0..<order {
      for j in 0...i {
        let value = Double(a[i * lda + j])
        matrix[i * order + j] = value
        matrix[j * order + i] = value
      }
    }
    let (values, vectors) = try JacobiEigen.decompose(matrix, order: order)
    for j in 0..<order { eigenvalues[j] = Float(values[j]) }
    for i in 0..<order {
      for j in 0..<order { a[i * lda + j] = Float(vectors[i * order + j]) }
    }
  }
}
