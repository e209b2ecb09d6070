import ArrowheadCore

/// The optimizer kernels an ISA module provides (see `OptimizerKernels`).
public protocol SIMDOptimizerSet {
  /// Σw, Σwx, Σwx² of `count` values, w = 1 when `weights` is nil (`OptimizerKernels.groupSums`).
  static func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums
  /// `CodeSums` of q = clamp(round(x·a + b), 0, top) (`OptimizerKernels.codeSums`).
  static func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    a: Float, b: Float, top: Float) -> CodeSums
  /// Eight candidate parameter sets (`CandidateLanes`) evaluated in one pass over the group
  /// (`OptimizerKernels.candidateSweep`).
  static func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool) -> LaneSums
  /// `ReconstructionSums` of x̂ = q·scale + (−b·scale), q = clamp(round(x·a + b), 0, top)
  /// (`OptimizerKernels.reconstructionSums`).
  static func reconstructionSums(count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float) -> ReconstructionSums
  /// One HQQ iteration updating an affine group's zero-point (`OptimizerKernels.hqqZeroStep`).
  static func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float) -> HalfQuadraticStep
  /// One HQQ iteration updating a symmetric group's scale (`OptimizerKernels.hqqScaleStep`).
  static func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float) -> HalfQuadraticStep
}

extension SIMDBackend {
  public func groupSums(count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?) -> GroupSums {
    K.groupSums(count: count, x, weights: weights)
  }
  public func codeSums(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    a: Float, b: Float, top: Float
  ) -> CodeSums {
    K.codeSums(count: count, x, weights: weights, weightedValues: weightedValues, a: a, b: b, top: top)
  }
  public func candidateSweep(
    count: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, weightedValues: UnsafePointer<Float>?,
    lanes: CandidateLanes, top: Float, measureError: Bool
  ) -> LaneSums {
    K.candidateSweep(count: count, x, weights: weights, weightedValues: weightedValues, lanes: lanes, top: top, measureError: measureError)
  }
  public func reconstructionSums(count: Int, _ x: UnsafePointer<Float>, a: Float, b: Float, scale: Float, top: Float) -> ReconstructionSums {
    K.reconstructionSums(count: count, x, a: a, b: b, scale: scale, top: top)
  }
  public func hqqZeroStep(
    count: Int, _ x: UnsafePointer<Float>, inverse: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    K.hqqZeroStep(count: count, x, inverse: inverse, zero: zero, beta: beta, exponent: exponent, top: top)
  }
  public func hqqScaleStep(
    count: Int, _ x: UnsafePointer<Float>, scale: Float, zero: Float, beta: Float, exponent: Float, top: Float
  ) -> HalfQuadraticStep {
    K.hqqScaleStep(count: count, x, scale: scale, zero: zero, beta: beta, exponent: exponent, top: top)
  }
}
