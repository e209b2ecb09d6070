#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Reference kernels of the transformer family: the exact functions, evaluated in Double
// from the Float sums the family specifies (see Families/TransformerKernels.swift), and
// rounded once.

extension ReferenceKernels {
  /// x ← fl(x + b).
  public static func addBias(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    for row in 0..<rows {
      for j in 0..<columns { x[row * ld + j] += bias[j] }
    }
  }

  /// GELU(v) = v·(1 + erf(v/√2))/2 in Double.
  public static func gelu(_ v: Float) -> Float {
    let x = Double(v)
    return Float(x * 0.5 * (1 + erf(x * 0.707_106_781_186_547_524_4)))
  }

  /// x ← GELU(fl(x + b)), GELU in Double.
  public static func addBiasGELU(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, bias: UnsafePointer<Float>) {
    for row in 0..<rows {
      for j in 0..<columns { x[row * ld + j] = gelu(x[row * ld + j] + bias[j]) }
    }
  }

  /// residual ← LayerNorm(fl(fl(x + b) + residual))·γ + β, moments in Double.
  public static func addBiasResidualLayerNorm(
    rows: Int, columns: Int, _ x: UnsafePointer<Float>, ld: Int, bias: UnsafePointer<Float>,
    residual: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    for row in 0..<rows {
      let output = residual + row * columns
      for j in 0..<columns { output[j] = (x[row * ld + j] + bias[j]) + output[j] }
      layerNorm(columns: columns, output, gamma: gamma, beta: beta, epsilon: epsilon)
    }
  }

  /// out ← LayerNorm(fl(fl(a + b) + c))·γ + β, moments in Double.
  public static func addLayerNorm(
    columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float, _ out: UnsafeMutablePointer<Float>
  ) {
    for j in 0..<columns { out[j] = (a[j] + b[j]) + c[j] }
    layerNorm(columns: columns, out, gamma: gamma, beta: beta, epsilon: epsilon)
  }

  /// v ← (v − μ)/√(σ² + ε)·γ + β with μ, σ² (biased) in Double, two passes.
  static func layerNorm(
    columns: Int, _ v: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
  ) {
    if columns == 0 { return }
    var sum = 0.0
    for j in 0..<columns { sum += Double(v[j]) }
    let mean = sum / Double(columns)
    var squares = 0.0
    for j in 0..<columns {
      let d = Double(v[j]) - mean
      squares += d * d
    }
    let inverse = 1 / (squares / Double(columns) + Double(epsilon)).squareRoot()
    for j in 0..<columns { v[j] = Float((Double(v[j]) - mean) * inverse * Double(gamma[j]) + Double(beta[j])) }
  }

  /// x ← 2^(x − max) and inverseSums ← 1/Σ, exponentials and sum in Double.
  public static func exponentiateRows(
    rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, inverseSums: UnsafeMutablePointer<Float>
  ) {
    for row in 0..<rows {
      let line = x + row * ld
      var maximum = -Float.infinity
      for j in 0..<columns { maximum = Swift.max(maximum, line[j]) }
      var sum = 0.0
      for j in 0..<columns {
        let e = exp2(Double(line[j]) - Double(maximum))
        line[j] = Float(e)
        sum += e
      }
      inverseSums[row] = Float(1 / sum)
    }
  }

  /// x ← fl(x · scales[row]).
  public static func scaleRows(rows: Int, columns: Int, _ x: UnsafeMutablePointer<Float>, ld: Int, scales: UnsafePointer<Float>) {
    for row in 0..<rows {
      for j in 0..<columns { x[row * ld + j] *= scales[row] }
    }
  }
}
