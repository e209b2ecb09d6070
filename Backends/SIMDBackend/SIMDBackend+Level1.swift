import ArrowheadCore

/// The level-1 kernels an ISA module provides (see `Level1Kernels`).
public protocol SIMDLevel1Set {
  /// Σ x[i]·y[i] over `count` elements (`Level1Kernels.dot`).
  static func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// Σ (x[i] − y[i])² over `count` elements (`Level1Kernels.squaredDistance`).
  static func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// y ← αx + y over `count` elements; α = 0 still multiplies (`Level1Kernels.axpy`).
  static func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
  /// x ← αx over `count` elements; α = 0 still multiplies (`Level1Kernels.scale`).
  static func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>)
  /// Σ x[i]² over `count` elements (`Level1Kernels.sumOfSquares`).
  static func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float
  /// The first index of the largest |x[i]| (the first NaN's, if any); -1 when `count` is 0
  /// (`Level1Kernels.indexOfMaxMagnitude`).
  static func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int
  /// `dot` as a function value (no context: the engine calls it without protocol dispatch).
  static var dotFunction: PairReductionFunction { get }
  /// `squaredDistance` as a function value.
  static var squaredDistanceFunction: PairReductionFunction { get }
}

extension SIMDBackend {
  public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float { K.dot(count: count, x, y) }
  public func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    K.squaredDistance(count: count, x, y)
  }
  public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    K.axpy(count: count, alpha: alpha, x, y)
  }
  public func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) { K.scale(count: count, alpha: alpha, x) }
  public func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float { K.sumOfSquares(count: count, x) }
  public func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int { K.indexOfMaxMagnitude(count: count, x) }
  public var dotEntry: PairReductionFunction? { K.dotFunction }
  public var squaredDistanceEntry: PairReductionFunction? { K.squaredDistanceFunction }
}
