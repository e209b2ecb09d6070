/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: String, Sendable, Codable, CaseIterable {
  /// Use the matrix as stored (BLAS `N`).
  case normal = "N"
  /// Use the transpose of the stored matrix (BLAS `T`).
  case transposed = "T"
}

/// Which side a triangular matrix multiplies from in a triangular solve.
public enum Side: String, Sendable, Codable, CaseIterable {
  /// Solve op(L)·X = B.
  case left
  /// Solve X·op(L) = B.
  case right
}

/// A vector similarity or distance.
///
/// Distance-matrix kernels write the *raw* value of the metric: ‖q − x‖² for
/// `.squaredL2` (smaller is nearer), q·x for `.innerProduct` and q·x / (‖q‖·‖x‖) for
/// `.cosine` (larger is nearer). A zero vector has cosine 0 with everything; cosine holds
/// for every finite vector, also where its Float32 norm would overflow or underflow
/// (`CosineRepair`).
public enum Metric: String, Sendable, Codable, CaseIterable {
  /// Squared Euclidean distance ‖q − x‖².
  case squaredL2 = "l2"
  /// Inner product q·x.
  case innerProduct = "ip"
  /// Cosine similarity q·x / (‖q‖·‖x‖), 0 when either vector is zero.
  case cosine

  /// Whether a larger value means a nearer neighbour.
  public var largerIsNearer: Bool { self != .squaredL2 }
}

/// How an affine quantization code maps back to a real value.
///
/// Both forms use codes `q` in `0 … maxCode` (2^bits − 1) and round half to even:
/// - `.floatMinimum` (ggml Q4_1/Q4_K, HQQ, quanto): q = clamp(round((x − m)/s)), x̂ = q·s + m.
/// - `.zeroPoint` (GPTQ/AWQ): q = clamp(round(x/s) + z), x̂ = (q − z)·s, with z an integer
///   held in a Float. Symmetric quantization is this form with z = 2^(bits−1).
///
/// A group whose scale is 0 (all its values equal) maps every value to q = 0 for
/// `.floatMinimum` and q = clamp(z) for `.zeroPoint`; nothing is divided by zero.
public enum AffineForm: String, Sendable, Codable, CaseIterable {
  /// x̂ = q·s + m with a float offset m.
  case floatMinimum
  /// x̂ = (q − z)·s with an integer zero-point z.
  case zeroPoint
}

/// A coarse size class used by dispatch: small problems are dominated by call overhead,
/// large ones by arithmetic or memory bandwidth.
public enum ShapeClass: String, Sendable, Codable, CaseIterable, Comparable {
  /// Little work per call (e.g. a gemm with m·n·k ≤ 64³).
  case small
  /// Enough work that throughput decides.
  case large

  /// 0 for small, 1 for large.
  public var ordinal: Int { self == .small ? 0 : 1 }

  public static func < (lhs: ShapeClass, rhs: ShapeClass) -> Bool { lhs == .small && rhs == .large }
}

/// Where a backend would like an operation of a given size class to go, and why.
///
/// Dispatch takes, per (operation, size class), the runnable backend with the highest
/// `score`; a score of 0 means "never choose me automatically" (the backend still
/// implements the operation, e.g. by the reference code, and runs it when forced).
public struct Preference: Sendable, Codable, Equatable {
  /// Higher wins; 0 means not preferred at all.
  public var score: Int
  /// One line saying why (shown by `arrowhead probe`).
  public var reason: String

  /// Creates a preference.
  public init(score: Int, reason: String) {
    self.score = score
    self.reason = reason
  }

  /// "Implemented for completeness, not accelerated": score 0.
  public static func notAccelerated(_ reason: String = "not accelerated (reference code)") -> Preference {
    Preference(score: 0, reason: reason)
  }
}
