// The linear-algebra family used by the optimizers (GPTQ): Cholesky, triangular solve and
// the symmetric eigen-decomposition.

/// Dense linear algebra. Each requirement defaults to the reference implementation.
public protocol LinearAlgebraKernels {
  /// Cholesky factorisation A = L·Lᵀ of a symmetric positive-definite `order × order`
  /// matrix, in place: only the lower triangle of A is read; on return it holds L and the
  /// strict upper triangle holds zeros. Throws `.notPositiveDefinite` naming the first
  /// failing pivot.
  func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError)

  /// Solves with a lower-triangular, non-unit `L` (order = rows for `.left`, columns for
  /// `.right`) in place: B ← op(L)⁻¹·B (left) or B ← B·op(L)⁻¹ (right), B `rows × columns`.
  func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int)

  /// Eigen-decomposition of a symmetric `order × order` matrix (lower triangle read):
  /// eigenvalues in ascending order; on return column j of A is the unit eigenvector of
  /// eigenvalue j (signs are not normalised).
  func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int,
    eigenvalues: UnsafeMutablePointer<Float>) throws(ArrowheadError)
}

extension LinearAlgebraKernels {
  public func choleskyFactor(order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int) throws(ArrowheadError) {
    try ReferenceKernels.choleskyFactor(order: order, a, lda: lda)
  }

  public func triangularSolve(
    _ side: Side, _ transpose: Transpose, rows: Int, columns: Int,
    _ l: UnsafePointer<Float>, ldl: Int, _ b: UnsafeMutablePointer<Float>, ldb: Int
  ) {
    ReferenceKernels.triangularSolve(side, transpose, rows: rows, columns: columns, l, ldl: ldl, b, ldb: ldb)
  }

  public func symmetricEigen(
    order: Int, _ a: UnsafeMutablePointer<Float>, lda: Int, eigenvalues: UnsafeMutablePointer<Float>
  ) throws(ArrowheadError) {
    try ReferenceKernels.symmetricEigen(order: order, a, lda: lda, eigenvalues: eigenvalues)
  }
}

extension KernelOperation {
  /// `LinearAlgebraKernels.choleskyFactor`.
  public static let cholesky = KernelOperation(.linearAlgebra, 0, "cholesky")
  /// `LinearAlgebraKernels.triangularSolve`.
  public static let triangularSolve = KernelOperation(.linearAlgebra, 1, "triangularSolve")
  /// `LinearAlgebraKernels.symmetricEigen`.
  public static let symmetricEigen = KernelOperation(.linearAlgebra, 2, "symmetricEigen")
}

extension KernelFamily {
  static let linearAlgebraOperations: [KernelOperation] = [.cholesky, .triangularSolve, .symmetricEigen]
}

extension ShapeClass {
  /// Order up to which a factorisation counts as small.
  public static let smallFactorizationOrder = 96

  /// The size class of a factorisation or solve of order `order`.
  public static func factorization(order: Int) -> ShapeClass {
    order <= smallFactorizationOrder ? .small : .large
  }
}

// MARK: - Checked entry points

extension Engine {

  /// The Cholesky factor L (A = L·Lᵀ, lower triangular) of a symmetric positive-definite
  /// matrix. Throws `.shapeMismatch` if A is not square, `.nonFiniteValue` on NaN/±∞ and
  /// `.notPositiveDefinite` with the failing pivot.
  public func choleskyFactor(_ a: Matrix) throws(ArrowheadError) -> Matrix {
    guard a.rows == a.columns else {
      throw .shapeMismatch(argument: "a", expected: "a square matrix", actual: "\(a.rows)×\(a.columns)")
    }
    try Self.requireFinite(a.elements, "a")
    var l = a
    let kernel = backend(for: .cholesky, .factorization(order: a.rows))
    try l.elements.withUnsafeMutableBufferPointer { (buffer) throws(ArrowheadError) in
      guard let base = buffer.baseAddress else { return }
      try kernel.choleskyFactor(order: a.rows, base, lda: a.columns)
    }
    return l
  }

  /// Solves op(L)·X = B (`.left`) or X·op(L) = B (`.right`) for lower-triangular L.
  public func triangularSolve(
    _ side: Side = .left, _ transpose: Transpose = .normal, l: Matrix, b: Matrix
  ) throws(ArrowheadError) -> Matrix {
    guard l.rows == l.columns else {
      throw .shapeMismatch(argument: "l", expected: "a square matrix", actual: "\(l.rows)×\(l.columns)")
    }
    let order = side == .left ? b.rows : b.columns
    guard order == l.rows else {
      throw .shapeMismatch(argument: "b", expected: side == .left ? "\(l.rows) rows" : "\(l.rows) columns", actual: "\(b.rows)×\(b.columns)")
    }
    for i in 0..<l.rows where l[i, i] == 0 || !l[i, i].isFinite {
      throw .invalidParameter(name: "l[\(i), \(i)]", value: "\(l[i, i])", expected: "a finite, non-zero diagonal")
    }
    var x = b
    if b.rows == 0 || b.columns == 0 { return x }
    let kernel = backend(for: .triangularSolve, .factorization(order: order))
    l.elements.withUnsafeBufferPointer { lb in
      x.elements.withUnsafeMutableBufferPointer { xb in
        kernel.triangularSolve(side, transpose, rows: b.rows, columns: b.columns, lb.baseAddress!, ldl: l.columns, xb.baseAddress!, ldb: b.columns)
      }
    }
    return x
  }

  /// Eigenvalues (ascending) and eigenvectors (column j ↔ value j) of a symmetric matrix
  /// (its lower triangle is read).
  public func symmetricEigen(_ a: Matrix) throws(ArrowheadError) -> (values: [Float], vectors: Matrix) {
    guard a.rows == a.columns else {
      throw .shapeMismatch(argument: "a", expected: "a square matrix", actual: "\(a.rows)×\(a.columns)")
    }
    try Self.requireFinite(a.elements, "a")
    var vectors = a
    var values = [Float](repeating: 0, count: a.rows)
    if a.rows == 0 { return (values, vectors) }
    let kernel = backend(for: .symmetricEigen, .factorization(order: a.rows))
    try vectors.elements.withUnsafeMutableBufferPointer { (vb) throws(ArrowheadError) in
      try values.withUnsafeMutableBufferPointer { (eb) throws(ArrowheadError) in
        try kernel.symmetricEigen(order: a.rows, vb.baseAddress!, lda: a.columns, eigenvalues: eb.baseAddress!)
      }
    }
    return (values, vectors)
  }

  /// Throws `.nonFiniteValue` naming the first NaN or ±∞ in `values`.
  public static func requireFinite(_ values: [Float], _ argument: String) throws(ArrowheadError) {
    if let index = values.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(argument: argument, index: index)
    }
  }
}

// MARK: - Calibration

extension Calibration {
  /// Order 32 (small) or 100 (large): Cholesky of an SPD matrix, a left solve with 32
  /// right-hand sides, an eigen-decomposition. The in-place kernels restore their input
  /// first; the copy is part of every candidate's time.
  static func linearAlgebraProblems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let n = shape == .small ? 32 : 100
    // An SPD matrix: n·I + a small symmetric perturbation, kept at the end of `work`.
    let spd = s.work + CalibrationScratch.capacity / 2
    for i in 0..<n {
      for j in 0..<n {
        let value = 0.01 * (s.floats[i * n + j] + s.floats[j * n + i])
        spd[i * n + j] = i == j ? Float(n) + value : value
      }
    }
    let work = s.work, rightHandSides = 32
    switch operation {
    case .cholesky:
      return [CalibrationProblem(label: "cholesky \(n)") {
        work.update(from: spd, count: n * n)
        try? $0.choleskyFactor(order: n, work, lda: n)
      }]
    case .triangularSolve:
      let lower = s.output + CalibrationScratch.capacity / 2
      for i in 0..<n {
        for j in 0..<n { lower[i * n + j] = j < i ? 0.01 * s.floats[i * n + j] : (j == i ? 1 + Float(i % 3) : 0) }
      }
      return [CalibrationProblem(label: "triangularSolve \(n)×\(rightHandSides)") {
        work.update(from: s.others, count: n * rightHandSides)
        $0.triangularSolve(.left, .normal, rows: n, columns: rightHandSides, lower, ldl: n, work, ldb: rightHandSides)
      }]
    case .symmetricEigen:
      return [CalibrationProblem(label: "symmetricEigen \(n)") {
        work.update(from: spd, count: n * n)
        try? $0.symmetricEigen(order: n, work, lda: n, eigenvalues: s.output)
      }]
    default:
      return []
    }
  }
}
