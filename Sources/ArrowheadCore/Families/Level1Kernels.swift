// The level-1 family: element-wise and reduction kernels on Float32 vectors.

/// Level-1 kernels. Each requirement defaults to the reference implementation.
public protocol Level1Kernels {
  /// Σ x[i]·y[i] over `count` elements.
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// Σ (x[i] − y[i])² over `count` elements: the squared Euclidean distance of one pair
  /// (graph searches such as HNSW call it once per visited neighbour).
  func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// y ← αx + y.
  func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
  /// x ← αx.
  func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>)
  /// Σ x[i]².
  func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float
  /// The first index of the largest |x[i]|; -1 when `count` is 0. A NaN, if any, wins
  /// (the first NaN's index is returned) so that a NaN is never hidden.
  func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int
}

extension Level1Kernels {
  public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    ReferenceKernels.dot(count: count, x, y)
  }
  public func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    ReferenceKernels.squaredDistance(count: count, x, y)
  }
  public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    ReferenceKernels.axpy(count: count, alpha: alpha, x, y)
  }
  public func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    ReferenceKernels.scale(count: count, alpha: alpha, x)
  }
  public func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float {
    ReferenceKernels.sumOfSquares(count: count, x)
  }
  public func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int {
    ReferenceKernels.indexOfMaxMagnitude(count: count, x)
  }
}

extension KernelOperation {
  /// `Level1Kernels.dot`.
  public static let dot = KernelOperation(.level1, 0, "dot")
  /// `Level1Kernels.squaredDistance`.
  public static let squaredDistance = KernelOperation(.level1, 1, "squaredDistance")
  /// `Level1Kernels.axpy`.
  public static let axpy = KernelOperation(.level1, 2, "axpy")
  /// `Level1Kernels.scale`.
  public static let scale = KernelOperation(.level1, 3, "scale")
  /// `Level1Kernels.sumOfSquares`.
  public static let sumOfSquares = KernelOperation(.level1, 4, "sumOfSquares")
  /// `Level1Kernels.indexOfMaxMagnitude`.
  public static let indexOfMaxMagnitude = KernelOperation(.level1, 5, "indexOfMaxMagnitude")
}

extension KernelFamily {
  static let level1Operations: [KernelOperation] = [.dot, .squaredDistance, .axpy, .scale, .sumOfSquares, .indexOfMaxMagnitude]
}

// MARK: - Checked entry points

extension Engine {
  /// Σ x[i]·y[i]. Throws if the lengths differ.
  public func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) throws(ArrowheadError) -> Float {
    try Self.requireSameLength(x.count, y.count)
    guard let xBase = x.baseAddress, let yBase = y.baseAddress, x.count > 0 else { return 0 }
    return backend(for: .dot, .vector(count: x.count)).dot(count: x.count, xBase, yBase)
  }

  /// Σ x[i]·y[i]. Throws if the lengths differ.
  public func dot(_ x: [Float], _ y: [Float]) throws(ArrowheadError) -> Float {
    try x.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
      try y.withUnsafeBufferPointer { (yb) throws(ArrowheadError) in try dot(xb, yb) }
    }
  }

  /// Σ (x[i] − y[i])². Throws if the lengths differ.
  public func squaredDistance(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) throws(ArrowheadError) -> Float {
    try Self.requireSameLength(x.count, y.count)
    guard let xBase = x.baseAddress, let yBase = y.baseAddress, x.count > 0 else { return 0 }
    return backend(for: .squaredDistance, .vector(count: x.count)).squaredDistance(count: x.count, xBase, yBase)
  }

  /// Σ (x[i] − y[i])². Throws if the lengths differ.
  public func squaredDistance(_ x: [Float], _ y: [Float]) throws(ArrowheadError) -> Float {
    try x.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
      try y.withUnsafeBufferPointer { (yb) throws(ArrowheadError) in try squaredDistance(xb, yb) }
    }
  }

  /// y ← αx + y. Throws if the lengths differ.
  public func axpy(alpha: Float, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>) throws(ArrowheadError) {
    try Self.requireSameLength(x.count, y.count)
    guard let xBase = x.baseAddress, let yBase = y.baseAddress, x.count > 0 else { return }
    backend(for: .axpy, .vector(count: x.count)).axpy(count: x.count, alpha: alpha, xBase, yBase)
  }

  /// y ← αx + y. Throws if the lengths differ.
  public func axpy(alpha: Float, _ x: [Float], _ y: inout [Float]) throws(ArrowheadError) {
    try x.withUnsafeBufferPointer { (xb) throws(ArrowheadError) in
      try y.withUnsafeMutableBufferPointer { (yb) throws(ArrowheadError) in try axpy(alpha: alpha, xb, yb) }
    }
  }

  /// x ← αx.
  public func scale(_ x: UnsafeMutableBufferPointer<Float>, by alpha: Float) {
    guard let base = x.baseAddress, x.count > 0 else { return }
    backend(for: .scale, .vector(count: x.count)).scale(count: x.count, alpha: alpha, base)
  }

  /// x ← αx.
  public func scale(_ x: inout [Float], by alpha: Float) {
    x.withUnsafeMutableBufferPointer { scale($0, by: alpha) }
  }

  /// Σ x[i]² (0 for an empty vector).
  public func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let base = x.baseAddress, x.count > 0 else { return 0 }
    return backend(for: .sumOfSquares, .vector(count: x.count)).sumOfSquares(count: x.count, base)
  }

  /// Σ x[i]² (0 for an empty vector).
  public func sumOfSquares(_ x: [Float]) -> Float { x.withUnsafeBufferPointer { sumOfSquares($0) } }

  /// The Euclidean norm √(Σ x[i]²).
  public func norm(_ x: [Float]) -> Float { sumOfSquares(x).squareRoot() }

  /// The first index of the largest |x[i]| (a NaN wins), or nil for an empty vector.
  public func indexOfMaxMagnitude(_ x: UnsafeBufferPointer<Float>) -> Int? {
    guard let base = x.baseAddress, x.count > 0 else { return nil }
    return backend(for: .indexOfMaxMagnitude, .vector(count: x.count)).indexOfMaxMagnitude(count: x.count, base)
  }

  /// The first index of the largest |x[i]| (a NaN wins), or nil for an empty vector.
  public func indexOfMaxMagnitude(_ x: [Float]) -> Int? { x.withUnsafeBufferPointer { indexOfMaxMagnitude($0) } }

  static func requireSameLength(_ x: Int, _ y: Int) throws(ArrowheadError) {
    guard x == y else {
      throw .shapeMismatch(argument: "y", expected: "\(x) elements (as x)", actual: "\(y) elements")
    }
  }
}

// MARK: - Calibration

extension Calibration {
  /// 50 floats (a GloVe vector) for the small class, 1 024 for the large one.
  static func level1Problems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let n = shape == .small ? 50 : 1024
    let x = UnsafePointer(s.floats), y = s.others
    let label = "\(operation.name) of \(n)"
    switch operation {
    case .dot: return [CalibrationProblem(label: label) { _ = $0.dot(count: n, x, y) }]
    case .squaredDistance: return [CalibrationProblem(label: label) { _ = $0.squaredDistance(count: n, x, y) }]
    case .axpy: return [CalibrationProblem(label: label) { $0.axpy(count: n, alpha: 1e-7, x, y) }]
    case .scale: return [CalibrationProblem(label: label) { $0.scale(count: n, alpha: 1, y) }]
    case .sumOfSquares: return [CalibrationProblem(label: label) { _ = $0.sumOfSquares(count: n, x) }]
    case .indexOfMaxMagnitude: return [CalibrationProblem(label: label) { _ = $0.indexOfMaxMagnitude(count: n, x) }]
    default: return []
    }
  }
}
