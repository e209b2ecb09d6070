import ArrowheadCore

/// The transformer kernels an ISA module provides (see `TransformerKernels`).
public protocol SIMDTransformerSet {
  /// x[r, j] ← x[r, j] + bias[j], rows `ld` apart (`TransformerKernels.addBias`).
  static func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  /// x[r, j] ← GELU(x[r, j] + bias[j]), GELU(v) = v·Φ(v) (`TransformerKernels.addBiasGELU`).
  static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  /// residual[r] ← LayerNorm(x[r] + bias + residual[r])·γ + β, row by row
  /// (`TransformerKernels.addBiasResidualLayerNorm`).
  static func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float)
  /// out ← LayerNorm(a + b + c)·γ + β for one row of `columns` (`TransformerKernels.addLayerNorm`).
  static func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>)
  /// x[r, j] ← 2^(x[r, j] − max_j x[r, j]) and inverseSums[r] ← 1/Σⱼ of those: an unnormalised
  /// base-2 softmax (`TransformerKernels.exponentiateRows`).
  static func exponentiateRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>)
  /// x[r, j] ← x[r, j]·scales[r] (`TransformerKernels.scaleRows`).
  static func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>)
}

extension SIMDBackend {
  public func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    K.addBias(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }
  public func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    K.addBiasGELU(rows: rows, columns: columns, x, ld: ld, bias: bias)
  }
  public func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    K.addBiasResidualLayerNorm(
      rows: rows, columns: columns, x, ld: ld, bias: bias, residual: residual, gamma: gamma, beta: beta, epsilon: epsilon)
  }
  public func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    K.addLayerNorm(columns: columns, a, b, c, gamma: gamma, beta: beta, epsilon: epsilon, out)
  }
  public func exponentiateRows(
    rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>
  ) {
    K.exponentiateRows(rows: rows, columns: columns, x, ld: ld, inverseSums: inverseSums)
  }
  public func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>) {
    K.scaleRows(rows: rows, columns: columns, x, ld: ld, scales: scales)
  }
}
