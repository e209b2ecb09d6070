import ArrowheadCore
import CArrowheadQMatmul

/// The search-code kernels an ISA module provides (see `SearchCodeKernels`).
public protocol SIMDSearchCodeSet {
  /// Σ (shifted[j] − c[j]·scales[j])² over `count` SQ8 codes (`SearchCodeKernels.sq8SquaredL2`).
  static func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float
  /// Σ weights[j]·c[j] over `count` SQ8 codes (`SearchCodeKernels.sq8Dot`).
  static func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float
  /// out[j] = c[j]·scales[j] + offsets[j] for SQ8 codes, mul then add (`SearchCodeKernels.sq8Decode`).
  static func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>)
  /// Σ (shifted[j] − c[j]·scales[j])² over `count` SQ4 codes, arrays in block-16 order
  /// (`SearchCodeKernels.sq4SquaredL2`).
  static func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float
  /// Σ weights[j]·c[j] over `count` SQ4 codes, `weights` in block-16 order (`SearchCodeKernels.sq4Dot`).
  static func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float
  /// out[j] = c[j]·scales[j] + offsets[j] for SQ4 codes, arrays in natural order
  /// (`SearchCodeKernels.sq4Decode`).
  static func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>)
  /// out[i] = ‖query − row(rows[i])‖² for `rowCount` Float32 rows `stride` floats apart
  /// (`SearchCodeKernels.squaredL2Rows`).
  static func squaredL2Rows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = query · row(rows[i]) for `rowCount` Float32 rows `stride` floats apart
  /// (`SearchCodeKernels.dotRows`).
  static func dotRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq8SquaredL2` of the SQ8 row rows[i] (`SearchCodeKernels.sq8SquaredL2Rows`).
  static func sq8SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq8Dot` of the SQ8 row rows[i] (`SearchCodeKernels.sq8DotRows`).
  static func sq8DotRows(
    dimension: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq4SquaredL2` of the SQ4 row rows[i] (`SearchCodeKernels.sq4SquaredL2Rows`).
  static func sq4SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
  /// out[i] = `sq4Dot` of the SQ4 row rows[i] (`SearchCodeKernels.sq4DotRows`).
  static func sq4DotRows(
    dimension: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>)
}

extension SIMDBackend {
  public func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    K.sq8SquaredL2(count: count, shifted: shifted, scales: scales, codes: codes)
  }
  public func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    K.sq8Dot(count: count, weights: weights, codes: codes)
  }
  public func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq8Decode(count: count, codes: codes, scales: scales, offsets: offsets, out)
  }
  public func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    K.sq4SquaredL2(count: count, shifted: shifted, scales: scales, packed: packed)
  }
  public func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    K.sq4Dot(count: count, weights: weights, packed: packed)
  }
  public func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq4Decode(count: count, packed: packed, scales: scales, offsets: offsets, out)
  }
  public func squaredL2Rows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.squaredL2Rows(dimension: dimension, query: query, base: base, stride: stride, rows: rows, rowCount: rowCount, out)
  }
  public func dotRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.dotRows(dimension: dimension, query: query, base: base, stride: stride, rows: rows, rowCount: rowCount, out)
  }
  public func sq8SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq8SquaredL2Rows(dimension: dimension, shifted: shifted, scales: scales, codes: codes, stride: stride, rows: rows, rowCount: rowCount, out)
  }
  public func sq8DotRows(
    dimension: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq8DotRows(dimension: dimension, weights: weights, codes: codes, stride: stride, rows: rows, rowCount: rowCount, out)
  }
  public func sq4SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq4SquaredL2Rows(dimension: dimension, shifted: shifted, scales: scales, packed: packed, stride: stride, rows: rows, rowCount: rowCount, out)
  }
  public func sq4DotRows(
    dimension: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    K.sq4DotRows(dimension: dimension, weights: weights, packed: packed, stride: stride, rows: rows, rowCount: rowCount, out)
  }
}

// The integer-query SQ8 rows kernel is C (Swift has no spelling for `vpdpwssd` or
// `vpmaddwd`), chosen by the same CPU check as the quantized matmul's kernels: AVX-512 VNNI
// `vpdpwssd` on a v4 variant whose CPU has it, AVX2 `vpmaddwd` from v3 on, else the
// portable loop. Every path computes the same exact Int32 sum.
extension SIMDBackend {
  public func sq8DotInt16Rows(
    dimension: Int, weights: UnsafePointer<Int16>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    let d = Int64(dimension), s = Int64(stride), n = Int64(rowCount)
    #if arch(x86_64)
    switch quantizedMatmulPath {
    case .avx512VNNI, .amx: arrowhead_sq8_dot_i16_rows_avx512vnni(d, weights, codes, s, rows, n, out)
    case .avx2, .avxVNNI: arrowhead_sq8_dot_i16_rows_avx2(d, weights, codes, s, rows, n, out)
    case .portable: arrowhead_sq8_dot_i16_rows_portable(d, weights, codes, s, rows, n, out)
    }
    #else
    arrowhead_sq8_dot_i16_rows_portable(d, weights, codes, s, rows, n, out)
    #endif
  }
}
