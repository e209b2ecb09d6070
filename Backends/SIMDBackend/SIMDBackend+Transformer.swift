import ArrowheadCore

/// The transformer kernels an ISA module provides (see `TransformerKernels`).
public protocol SIMDTransformerSet {
  static func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>)
  static func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float)
  static func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>)
  static func exponentiateRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>)
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
