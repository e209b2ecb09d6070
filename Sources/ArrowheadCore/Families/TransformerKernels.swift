// The transformer family: the element-wise and row-wise steps of a transformer layer that
// sit between its matrix products — bias additions, GELU, LayerNorm with its residual,
// and softmax's exponentials (in base 2) with the row scaling that finishes it.
//
// Every kernel works on `rows` rows of `columns` floats whose rows are `ld` floats apart
// (residual rows are `columns` apart). Rounding is specified where it matters:
//   addBias                   x ← fl(x + b)                                 (exact per element)
//   addBiasGELU               x ← GELU(fl(x + b)), GELU(v) = v·Φ(v)         (erf form, not tanh)
//   addBiasResidualLayerNorm  r ← LayerNorm(fl(fl(x + b) + r))·γ + β         (biased variance)
//   addLayerNorm              out ← LayerNorm(fl(fl(a + b) + c))·γ + β
//   exponentiateRows          x ← 2^(x − max), inverseSums[row] ← 1/Σ 2^(x − max)
//   scaleRows                 x ← fl(x · scales[row])                       (exact per element)
// The reference computes GELU, LayerNorm's moments and the exponentials in Double; a
// backend states its error against that (the SIMD backend: see Backends/SIMD/Transformer.swift).

/// Transformer-layer kernels. Each requirement defaults to the reference implementation.
public protocol TransformerKernels {
  /// x[r, j] ← x[r, j] + bias[j] for `rows` rows of `columns` (rows `ld` apart).
  func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  /// x[r, j] ← GELU(x[r, j] + bias[j]), GELU(v) = v·Φ(v) with Φ the standard normal CDF.
  func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  /// residual[r] ← LayerNorm(x[r] + bias + residual[r])·γ + β, row by row: LayerNorm(v) =
  /// (v − μ)/√(σ² + ε) with μ, σ² the row's mean and biased variance. Rows of `x` are `ld`
  /// apart, rows of `residual` `columns` apart.
  func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float)
  /// out ← LayerNorm(a + b + c)·γ + β for one row of `columns` (`out` may be one of the
  /// inputs): a token's embedding, word + position + token type.
  func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>)
  /// The unnormalised softmax of each row in base 2: x[r, j] ← 2^(x[r, j] − max_j x[r, j]) and
  /// inverseSums[r] ← 1/Σⱼ of those. With scores pre-scaled by log₂e this is e^(s − max);
  /// the row is a softmax once multiplied by its inverse sum (`scaleRows`, or the product
  /// the weights feed, which is cheaper when it is narrower).
  func exponentiateRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>)
  /// x[r, j] ← x[r, j]·scales[r].
  func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>)
}

extension TransformerKernels {
  public func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    ReferenceKernels.addBias(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }
  public func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    ReferenceKernels.addBiasGELU(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }
  public func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    ReferenceKernels.addBiasResidualLayerNorm(
      rows: rows, columns: columns, x, ld: ld, bias: bias, residual: residual, gamma: gamma, beta: beta, epsilon: epsilon)
  }
  public func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    ReferenceKernels.addLayerNorm(columns: columns, a, b, c, gamma: gamma, beta: beta, epsilon: epsilon, out)
  }
  public func exponentiateRows(
    rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>
  ) {
    ReferenceKernels.exponentiateRows(rows: rows, columns: columns, x, ld: ld, inverseSums: inverseSums)
  }
  public func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>) {
    ReferenceKernels.scaleRows(rows: rows, columns: columns, x, ld: ld, scales: scales)
  }
}

extension KernelOperation {
  /// `TransformerKernels.addBias`.
  public static let addBias = KernelOperation(.transformer, 0, "addBias")
  /// `TransformerKernels.addBiasGELU`.
  public static let addBiasGELU = KernelOperation(.transformer, 1, "addBiasGELU")
  /// `TransformerKernels.addBiasResidualLayerNorm`.
  public static let addBiasResidualLayerNorm = KernelOperation(.transformer, 2, "addBiasResidualLayerNorm")
  /// `TransformerKernels.addLayerNorm`.
  public static let addLayerNorm = KernelOperation(.transformer, 3, "addLayerNorm")
  /// `TransformerKernels.exponentiateRows`.
  public static let exponentiateRows = KernelOperation(.transformer, 4, "exponentiateRows")
  /// `TransformerKernels.scaleRows`.
  public static let scaleRows = KernelOperation(.transformer, 5, "scaleRows")
}

extension KernelFamily {
  static let transformerOperations: [KernelOperation] = [
    .addBias, .addBiasGELU, .addBiasResidualLayerNorm, .addLayerNorm, .exponentiateRows, .scaleRows,
  ]
}

// MARK: - Checked entry points

extension Engine {
  /// x ← GELU(x + bias) in place, row by row (`bias` has one value per column; GELU(v) =
  /// v·Φ(v), the erf form).
  public func addBiasGELU(_ x: inout Matrix, bias: [Float]) throws(ArrowheadError) {
    guard bias.count == x.columns else {
      throw .shapeMismatch(argument: "bias", expected: "\(x.columns) values (one per column)", actual: "\(bias.count)")
    }
    if x.rows == 0 || x.columns == 0 { return }
    let kernel = backend(for: .addBiasGELU, .large)
    let (rows, columns) = (x.rows, x.columns)
    x.elements.withUnsafeMutableBufferPointer { elements in
      bias.withUnsafeBufferPointer { kernel.addBiasGELU(rows: rows, columns: columns, elements.baseAddress!, ld: columns, bias: $0.baseAddress!) }
    }
  }

  /// x ← LayerNorm(x)·γ + β in place, row by row: (v − μ)/√(σ² + ε) with μ and σ² each
  /// row's mean and biased variance.
  public func layerNorm(_ x: inout Matrix, gamma: [Float], beta: [Float], epsilon: Float = 1e-12) throws(ArrowheadError) {
    guard gamma.count == x.columns else {
      throw .shapeMismatch(argument: "gamma", expected: "\(x.columns) values (one per column)", actual: "\(gamma.count)")
    }
    guard beta.count == x.columns else {
      throw .shapeMismatch(argument: "beta", expected: "\(x.columns) values (one per column)", actual: "\(beta.count)")
    }
    guard epsilon.isFinite, epsilon >= 0 else {
      throw .invalidParameter(name: "epsilon", value: "\(epsilon)", expected: "a finite value ≥ 0")
    }
    if x.rows == 0 || x.columns == 0 { return }
    let kernel = backend(for: .addLayerNorm, .large)
    let columns = x.columns
    let zeros = [Float](repeating: 0, count: columns)
    x.elements.withUnsafeMutableBufferPointer { elements in
      zeros.withUnsafeBufferPointer { zero in
        gamma.withUnsafeBufferPointer { g in
          beta.withUnsafeBufferPointer { b in
            for row in 0..<(elements.count / columns) {
              let line = elements.baseAddress! + row * columns
              kernel.addLayerNorm(
                columns: columns, line, zero.baseAddress!, zero.baseAddress!, gamma: g.baseAddress!, beta: b.baseAddress!,
                epsilon: epsilon, line)
            }
          }
        }
      }
    }
  }

  /// x ← softmax of each row in place: e^(xⱼ − max)/Σ e^(x − max). Computed as 2^(x·log₂e −
  /// max), so each value carries the rounding of its product by log₂e (≤ 0.5 ulp of x·log₂e,
  /// relative error ≤ 6e-8·|x − max| in the result) on top of the kernel's own.
  public func softmaxRows(_ x: inout Matrix) throws(ArrowheadError) {
    if x.rows == 0 || x.columns == 0 { return }
    let exponentiate = backend(for: .exponentiateRows, .large)
    let scale = backend(for: .scaleRows, .large)
    let (rows, columns) = (x.rows, x.columns)
    var inverseSums = [Float](repeating: 0, count: rows)
    x.elements.withUnsafeMutableBufferPointer { elements in
      inverseSums.withUnsafeMutableBufferPointer { sums in
        let base = elements.baseAddress!
        for i in 0..<(rows * columns) { base[i] *= 1.442_695_04 }
        exponentiate.exponentiateRows(rows: rows, columns: columns, base, ld: columns, inverseSums: sums.baseAddress!)
        scale.scaleRows(rows: rows, columns: columns, base, ld: columns, scales: sums.baseAddress!)
      }
    }
  }
}
