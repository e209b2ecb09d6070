import ArrowheadCore

/// The distance kernels an ISA module provides (see `DistanceKernels`).
public protocol SIMDDistanceSet {
  /// The distance matrix out[i·ldo + j] = metric(query i, base j), with the contract of
  /// `DistanceKernels.distances` (norms optional, at most `threads` threads).
  static func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int)
}

extension SIMDBackend {
  public func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    K.distances(
      metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
      queries: queries, ldq: ldq, base: base, ldb: ldb, queryNorms: queryNorms, baseNorms: baseNorms,
      out, ldo: ldo, threads: threads)
  }
}
