// The distance family: queries × base matrices of a metric.

/// Distance matrices. The requirement defaults to the reference implementation.
public protocol DistanceKernels {
  /// Writes out[i·ldo + j] = metric(query i, base j) for `queryCount` queries and
  /// `baseCount` base vectors of `dimension` floats (row strides `ldq`, `ldb`).
  /// `queryNorms` / `baseNorms`, when given, hold ‖q‖² / ‖x‖² (squared L2) or ‖q‖ / ‖x‖
  /// (cosine) so that callers who search repeatedly compute them once.
  func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int)
}

extension DistanceKernels {
  public func distances(
    _ metric: Metric, queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryNorms: UnsafePointer<Float>?, baseNorms: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<Float>, ldo: Int, threads: Int
  ) {
    ReferenceKernels.distances(
      metric, queryCount: queryCount, baseCount: baseCount, dimension: dimension,
      queries: queries, ldq: ldq, base: base, ldb: ldb, out, ldo: ldo)
  }
}

extension KernelOperation {
  /// `DistanceKernels.distances`.
  public static let distances = KernelOperation(.distances, 0, "distances")
}

extension KernelFamily {
  static let distanceOperations: [KernelOperation] = [.distances]
}

extension ShapeClass {
  /// The size class of a queries × base distance matrix.
  public static func distances(queries: Int, base: Int, dimension: Int) -> ShapeClass {
    queries &* base &* dimension <= smallGemmWork ? .small : .large
  }
}

// MARK: - Checked entry points

extension Engine {
  /// out[i·ldo + j] = metric(query i, base j); see `Metric` for the values written.
  /// `queryNorms` / `baseNorms` (optional) must hold one value per row: ‖·‖² for squared
  /// L2, ‖·‖ for cosine.
  public func distances(
    _ metric: Metric,
    queries: UnsafeBufferPointer<Float>, _ layoutQ: MatrixLayout,
    base: UnsafeBufferPointer<Float>, _ layoutB: MatrixLayout,
    queryNorms: UnsafeBufferPointer<Float>? = nil, baseNorms: UnsafeBufferPointer<Float>? = nil,
    out: UnsafeMutableBufferPointer<Float>, _ layoutOut: MatrixLayout
  ) throws(ArrowheadError) {
    try layoutQ.validate("queries", bufferCount: queries.count)
    try layoutB.validate("base", bufferCount: base.count)
    try layoutOut.validate("out", bufferCount: out.count)
    guard layoutQ.columns == layoutB.columns else {
      throw .shapeMismatch(argument: "base", expected: "dimension \(layoutQ.columns) (as queries)", actual: "dimension \(layoutB.columns)")
    }
    guard layoutOut.rows == layoutQ.rows, layoutOut.columns == layoutB.rows else {
      throw .shapeMismatch(argument: "out", expected: "\(layoutQ.rows)×\(layoutB.rows)", actual: "\(layoutOut.rows)×\(layoutOut.columns)")
    }
    if let queryNorms, queryNorms.count < layoutQ.rows {
      throw .bufferTooShort(argument: "queryNorms", required: layoutQ.rows, actual: queryNorms.count)
    }
    if let baseNorms, baseNorms.count < layoutB.rows {
      throw .bufferTooShort(argument: "baseNorms", required: layoutB.rows, actual: baseNorms.count)
    }
    if layoutQ.rows == 0 || layoutB.rows == 0 { return }
    let kernel = backend(for: .distances, .distances(queries: layoutQ.rows, base: layoutB.rows, dimension: layoutQ.columns))
    withPlaceholder(queries, base) { q, x in
      kernel.distances(
        metric, queryCount: layoutQ.rows, baseCount: layoutB.rows, dimension: layoutQ.columns,
        queries: q, ldq: layoutQ.leadingDimension, base: x, ldb: layoutB.leadingDimension,
        queryNorms: queryNorms?.baseAddress, baseNorms: baseNorms?.baseAddress,
        out.baseAddress!, ldo: layoutOut.leadingDimension, threads: effectiveThreads)
    }
  }

  /// The queries × base matrix of `metric` values for dense matrices (rows are vectors).
  public func distances(_ metric: Metric, queries: Matrix, base: Matrix) throws(ArrowheadError) -> Matrix {
    var out = try Matrix(rows: queries.rows, columns: base.rows)
    let layoutOut = out.layout
    try queries.elements.withUnsafeBufferPointer { (q) throws(ArrowheadError) in
      try base.elements.withUnsafeBufferPointer { (x) throws(ArrowheadError) in
        try out.elements.withUnsafeMutableBufferPointer { (o) throws(ArrowheadError) in
          try distances(metric, queries: q, queries.layout, base: x, base.layout, out: o, layoutOut)
        }
      }
    }
    return out
  }
}

// MARK: - Calibration

extension Calibration {
  /// Squared L2 and inner product: 4 queries × 64 vectors of 64 (small), 64 × 2 048 of 64
  /// (large).
  static func distanceProblems(
    _ operation: KernelOperation, _ shape: ShapeClass, threads: Int, _ s: CalibrationScratch
  ) -> [CalibrationProblem] {
    guard operation == .distances else { return [] }
    let (queries, base, dimension) = shape == .small ? (4, 64, 64) : (64, 2048, 64)
    let q = UnsafePointer(s.floats), x = UnsafePointer(s.others), out = s.output
    return [Metric.squaredL2, .innerProduct].map { metric in
      CalibrationProblem(label: "\(metric.rawValue) \(queries)×\(base)×\(dimension)") {
        $0.distances(
          metric, queryCount: queries, baseCount: base, dimension: dimension, queries: q, ldq: dimension,
          base: x, ldb: dimension, queryNorms: nil, baseNorms: nil, out, ldo: base, threads: threads)
      }
    }
  }
}
