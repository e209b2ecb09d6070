// The optimizer family: the inner loops of the quantization-parameter optimizers (grid
// search with least squares, HQQ, the thermodynamic loss).
//
// Every loop maps values to codes q = clamp(round(x·a + b), 0, top), half to even, and
// accumulates sufficient statistics. With a = 1/s and b = −m/s (float minimum) or b = z
// (zero-point and symmetric) those codes are the quantizer's, except that x·(1/s) may
// differ from the quantizer's (x − m)/s in the last bit, which can move a code sitting
// exactly on a rounding boundary: the optimizers only use these codes to *choose*
// parameters, the quantizer computes the stored codes with its own kernel.

/// Σw, Σw·x, Σw·x² over one group (w = 1 without importances).
public struct GroupSums: Sendable, Equatable {
  /// W = Σwᵢ.
  public var weight: Double
  /// X = Σwᵢxᵢ.
  public var sum: Double
  /// XX = Σwᵢxᵢ².
  public var sumOfSquares: Double
  /// Creates the sums.
  public init(weight: Double = 0, sum: Double = 0, sumOfSquares: Double = 0) {
    self.weight = weight
    self.sum = sum
    self.sumOfSquares = sumOfSquares
  }
}

/// Sums over one group's codes: Q = Σwq, QQ = Σwq², XQ = Σwxq. With `GroupSums` they are the
/// sufficient statistics of every least-squares fit and of the squared error of x̂ = s·q + m:
/// Σw(x − s·q − m)² = XX − 2s·XQ − 2m·X + s²·QQ + 2sm·Q + m²·W.
public struct CodeSums: Sendable, Equatable {
  /// Q = Σwᵢqᵢ.
  public var q: Double
  /// QQ = Σwᵢqᵢ².
  public var qq: Double
  /// XQ = Σwᵢxᵢqᵢ.
  public var xq: Double
  /// Creates the sums.
  public init(q: Double = 0, qq: Double = 0, xq: Double = 0) {
    self.q = q
    self.qq = qq
    self.xq = xq
  }
}

/// Eight candidate parameter sets, one per lane: code map (a, b) and reconstruction
/// x̂ = q·s + m.
public struct CandidateLanes: Sendable {
  /// Code-map slopes (1/s).
  public var a: SIMD8<Float>
  /// Code-map intercepts (−m/s, or z).
  public var b: SIMD8<Float>
  /// Reconstruction scales.
  public var s: SIMD8<Float>
  /// Reconstruction offsets.
  public var m: SIMD8<Float>
  /// Creates the lanes.
  public init(a: SIMD8<Float> = .zero, b: SIMD8<Float> = .zero, s: SIMD8<Float> = .zero, m: SIMD8<Float> = .zero) {
    self.a = a
    self.b = b
    self.s = s
    self.m = m
  }
}

/// Per-lane results of a candidate sweep: `CodeSums` per lane and, when measured, the exact
/// weighted squared error E = Σw(x − x̂)² of the lane's parameters.
public struct LaneSums: Sendable {
  /// Q per lane.
  public var q: SIMD8<Double>
  /// QQ per lane.
  public var qq: SIMD8<Double>
  /// XQ per lane.
  public var xq: SIMD8<Double>
  /// E per lane (zero when not measured).
  public var error: SIMD8<Double>
  /// Creates the sums.
  public init(q: SIMD8<Double> = .zero, qq: SIMD8<Double> = .zero, xq: SIMD8<Double> = .zero, error: SIMD8<Double> = .zero) {
    self.q = q
    self.qq = qq
    self.xq = xq
    self.error = error
  }
}

/// Σ(x̂ − x)², Σx̂ and Σx̂² of one group's reconstruction.
public struct ReconstructionSums: Sendable, Equatable {
  /// Σ(x̂ − x)².
  public var squaredError: Double
  /// Σx̂.
  public var sum: Double
  /// Σx̂².
  public var sumOfSquares: Double
  /// Creates the sums.
  public init(squaredError: Double = 0, sum: Double = 0, sumOfSquares: Double = 0) {
    self.squaredError = squaredError
    self.sum = sum
    self.sumOfSquares = sumOfSquares
  }
}

/// One half-quadratic (HQQ) iteration over a group: the mean absolute error of the current
/// codes and the parameter update.
public struct HalfQuadraticStep: Sendable, Equatable {
  /// mean |x − x̂|.
  public var meanAbsoluteError: Float
  /// The updated zero-point (`hqqZeroStep`) or scale (`hqqScaleStep`).
  public var update: Float
  /// Creates a step.
  public init(meanAbsoluteError: Float, update: Float) {
    self.meanAbsoluteError = meanAbsoluteError
    self.update = update
  }
}

/// The optimizers' inner loops. Each requirement defaults to the reference implementation.
public protocol OptimizerKernels {
  /// Σw, Σwx, Σwx² of `count` values (w = 1 when `weights` is nil).
  func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums

  /// `CodeSums` of q = clamp(round(x·a + b), 0, top) with every weight 1 (`weights` nil) or
  /// with importances `weights` (then `weightedValues[i]` = weights[i]·x[i]).
  func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    a: Float, b: Float, top: Float) -> CodeSums

  /// One sweep over a group evaluating eight candidates at once (see `LaneSums`); `weights`
  /// and `weightedValues` as for `codeSums`.
  func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool) -> LaneSums

  /// `ReconstructionSums` of x̂ = q·scale + (−b·scale), q = clamp(round(x·a + b), 0, top).
  func reconstructionSums(count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float) -> ReconstructionSums

  /// One HQQ iteration for an affine group (codes q = clamp(round(x·inverse + zero))):
  /// e = x − (q − zero)/inverse, shrink |e| by |e|^exponent/beta, update = mean(q − (x − ẽ)·inverse).
  func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep

  /// One HQQ iteration for a symmetric group with fixed zero-point: update =
  /// Σ(x − ẽ)(q − zero) / Σ(q − zero)² (the current scale when the denominator is 0).
  func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep
}

extension OptimizerKernels {
  public func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums {
    ReferenceKernels.groupSums(count: count, x, weights: weights)
  }

  public func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    a: Float, b: Float, top: Float
  ) -> CodeSums {
    ReferenceKernels.codeSums(count: count, x, weights: weights, a: a, b: b, top: top)
  }

  public func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool
  ) -> LaneSums {
    ReferenceKernels.candidateSweep(count: count, x, weights: weights, lanes: lanes, top: top, measureError: measureError)
  }

  public func reconstructionSums(count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float) -> ReconstructionSums {
    ReferenceKernels.reconstructionSums(count: count, x, a: a, b: b, scale: scale, top: top)
  }

  public func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    ReferenceKernels.hqqZeroStep(count: count, x, inverse: inverse, zero: zero, beta: beta, exponent: exponent, top: top)
  }

  public func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    ReferenceKernels.hqqScaleStep(count: count, x, scale: scale, zero: zero, beta: beta, exponent: exponent, top: top)
  }
}

extension KernelOperation {
  /// `OptimizerKernels.groupSums`.
  public static let groupSums = KernelOperation(.optimizer, 0, "groupSums")
  /// `OptimizerKernels.codeSums`.
  public static let codeSums = KernelOperation(.optimizer, 1, "codeSums")
  /// `OptimizerKernels.candidateSweep`.
  public static let candidateSweep = KernelOperation(.optimizer, 2, "candidateSweep")
  /// `OptimizerKernels.reconstructionSums`.
  public static let reconstructionSums = KernelOperation(.optimizer, 3, "reconstructionSums")
  /// `OptimizerKernels.hqqZeroStep`.
  public static let hqqZeroStep = KernelOperation(.optimizer, 4, "hqqZeroStep")
  /// `OptimizerKernels.hqqScaleStep`.
  public static let hqqScaleStep = KernelOperation(.optimizer, 5, "hqqScaleStep")
}

extension KernelFamily {
  static let optimizerOperations: [KernelOperation] = [
    .groupSums, .codeSums, .candidateSweep, .reconstructionSums, .hqqZeroStep, .hqqScaleStep,
  ]
}

/// The scalar code map every optimizer kernel uses (for the scalar parts of the optimizers).
public enum OptimizerCode {
  /// 1.5·2²³: (t + magic) − magic rounds t ∈ [0, 2²²) to the nearest integer, ties to even.
  public static let roundingMagic: Float = 12_582_912

  /// clamp(round(x·a + b), 0, top), half to even: clamp first (clamping and rounding commute
  /// for integral bounds), then the magic-number rounding.
  @inlinable @inline(__always)
  public static func code(_ x: Float, a: Float, b: Float, top: Float) -> Float {
    let t = min(max(x * a + b, 0), top)
    return (t + 12_582_912) - 12_582_912
  }
}

// MARK: - Kernels for engine code

extension Engine {
  /// The backend that runs `operation` for a group of `count` values: for engine modules'
  /// inner loops, which call the raw kernel on it (arguments are the caller's to check).
  @inline(__always)
  public func kernel(_ operation: KernelOperation, count: Int) -> any Backend {
    backend(for: operation, .vector(count: count))
  }
}

// MARK: - Calibration

extension Calibration {
  /// A group of 64 weights (small) or a 4 096-weight channel (large), 4-bit codes.
  static func optimizerProblems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let n = shape == .small ? 64 : 4096
    let x = UnsafePointer(s.floats)
    // Importances in [0, 2) and their products with x.
    let weights = s.work, weighted = s.work + n
    for i in 0..<n {
      weights[i] = s.others[i] + 1
      weighted[i] = weights[i] * x[i]
    }
    let w = UnsafePointer(weights), wx = UnsafePointer(weighted)
    let a: Float = 7.5, b: Float = 7.5, scale: Float = 2 / 15
    var lanes = CandidateLanes()
    for lane in 0..<8 {
      let s = scale * (1 - Float(lane) * 0.03)
      lanes.a[lane] = 1 / s
      lanes.b[lane] = 7.5
      lanes.s[lane] = s
      lanes.m[lane] = -7.5 * s
    }
    let label = "\(operation.name) of \(n)"
    switch operation {
    case .groupSums:
      return [CalibrationProblem(label: label) { _ = $0.groupSums(count: n, x, weights: w) }]
    case .codeSums:
      return [
        CalibrationProblem(label: label) { _ = $0.codeSums(count: n, x, weights: nil, weightedValues: nil, a: a, b: b, top: 15) },
        CalibrationProblem(label: label + ", weighted") { _ = $0.codeSums(count: n, x, weights: w, weightedValues: wx, a: a, b: b, top: 15) },
      ]
    case .candidateSweep:
      return [
        CalibrationProblem(label: label + " × 8 candidates") {
          _ = $0.candidateSweep(count: n, x, weights: nil, weightedValues: nil, lanes: lanes, top: 15, measureError: true)
        },
        CalibrationProblem(label: label + " × 8 candidates, weighted") {
          _ = $0.candidateSweep(count: n, x, weights: w, weightedValues: wx, lanes: lanes, top: 15, measureError: true)
        },
      ]
    case .reconstructionSums:
      return [CalibrationProblem(label: label) { _ = $0.reconstructionSums(count: n, x, a: a, b: b, scale: scale, top: 15) }]
    case .hqqZeroStep:
      return [CalibrationProblem(label: label) {
        _ = $0.hqqZeroStep(count: n, x, inverse: a, zero: b, beta: 10, exponent: 0.7, top: 15)
      }]
    case .hqqScaleStep:
      return [CalibrationProblem(label: label) {
        _ = $0.hqqScaleStep(count: n, x, scale: scale, zero: 8, beta: 10, exponent: 0.7, top: 15)
      }]
    default:
      return []
    }
  }
}
