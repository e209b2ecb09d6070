// The level-1 family: element-wise and reduction kernels on Float32 vectors.

/// Level-1 kernels. Each requirement defaults to the reference implementation.
public protocol Level1Kernels {
  /// Σ x[i]·y[i] over `count` elements.
  func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// Σ (x[i] − y[i])² over `count` elements: the squared Euclidean distance of one pair
  /// (graph searches such as HNSW call it once per visited neighbour).
  func squaredDistance(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float
  /// y ← αx + y. α = 0 still multiplies: NaN or ±∞ in x gives NaN in y (IEEE 754; a BLAS
  /// `saxpy` may return early instead).
  func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>)
  /// x ← αx. α = 0 still multiplies: NaN or ±∞ becomes NaN, and a negative value −0.
  func scale(count: Int, alpha: Float, _ x: UnsafeMutablePointer<Float>)
  /// Σ x[i]².
  func sumOfSquares(count: Int, _ x: UnsafePointer<Float>) -> Float
  /// The first index of the largest |x[i]|; -1 when `count` is 0. A NaN, if any, wins
  /// (the first NaN's index is returned) so that a NaN is never hidden.
  func indexOfMaxMagnitude(count: Int, _ x: UnsafePointer<Float>) -> Int

  /// This backend's `dot` as a plain function, which the engine calls directly (no
  /// protocol dispatch per call; see `MatrixKernels.gemmEntry(for:)`), only with
  /// `count` ≥ 1. Default: nil (the engine calls `dot`).
  var dotEntry: PairReductionFunction? { get }
  /// This backend's `squaredDistance` as a plain function (see `dotEntry`). Default: nil.
  var squaredDistanceEntry: PairReductionFunction? { get }
}

/// A reduction over a pair of vectors as a function value: Σ x[i]·y[i] or Σ (x[i] − y[i])²
/// over `count` elements (the arguments of `Level1Kernels.dot` in order).
public typealias PairReductionFunction = @Sendable (
  _ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>
) -> Float

extension Level1Kernels {
  public var dotEntry: PairReductionFunction? { nil }
  public var squaredDistanceEntry: PairReductionFunction? { nil }

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

// MARK: - The chosen pair reductions as function values

/// The dot product and squared distance an engine chose, per size class, as function
/// values: the backend's own entry (`dotEntry`, `squaredDistanceEntry`) where it has one,
/// else a closure that calls the backend. `Engine.dot` and `Engine.squaredDistance` call
/// these. Calling the backend from the table as `any Backend` (an existential copy and
/// destroy per call) ran a 4096-element dot or squared distance at 0.94–0.96× the same
/// backend's row in `bench dot` on AMD Zen 4; through these entries 0.98–1.02×
/// (`ARROWHEAD_DISPATCH=static`, 4 interleaved rounds of each build).
struct Level1Entries: Sendable {
  let dotSmall: PairReductionFunction
  let dotLarge: PairReductionFunction
  let squaredDistanceSmall: PairReductionFunction
  let squaredDistanceLarge: PairReductionFunction

  /// The entries of the backends in `table` (a dispatch table, `KernelOperation.slot`).
  init(_ table: ContiguousArray<any Backend>) {
    func dot(_ shape: ShapeClass) -> PairReductionFunction {
      let backend = table[KernelOperation.dot.slot(shape)]
      if let entry = backend.dotEntry { return entry }
      return { count, x, y in backend.dot(count: count, x, y) }
    }
    func squaredDistance(_ shape: ShapeClass) -> PairReductionFunction {
      let backend = table[KernelOperation.squaredDistance.slot(shape)]
      if let entry = backend.squaredDistanceEntry { return entry }
      return { count, x, y in backend.squaredDistance(count: count, x, y) }
    }
    dotSmall = dot(.small)
    dotLarge = dot(.large)
    squaredDistanceSmall = squaredDistance(.small)
    squaredDistanceLarge = squaredDistance(.large)
  }
}

// MARK: - Checked entry points

extension Engine {
  /// Σ x[i]·y[i]. Throws if the lengths differ.
  public func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) throws(ArrowheadError) -> Float {
    try Self.requireSameLength(x.count, y.count)
    guard let xBase = x.baseAddress, let yBase = y.baseAddress, x.count > 0 else { return 0 }
    // Called in place, not through a local copy: a copy of the function value costs a
    // retain and a release around every call (a tenth of a 256-element dot).
    if ShapeClass.vector(count: x.count) == .small { return level1Entries.dotSmall(x.count, xBase, yBase) }
    return level1Entries.dotLarge(x.count, xBase, yBase)
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
    if ShapeClass.vector(count: x.count) == .small { return level1Entries.squaredDistanceSmall(x.count, xBase, yBase) }
    return level1Entries.squaredDistanceLarge(x.count, xBase, yBase)
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
  /// 50 floats (a GloVe vector) for the small class, 1 024 for the large one; each at two
  /// placements, since callers' vectors start anywhere (a Swift array's elements sit 32
  /// bytes into its allocation): one operand on a cache line and the other 16 bytes off,
  /// then both off (16 and 48 bytes). Timed at one placement only, both operands 16 bytes
  /// off, the AVX2 dot beat the AVX-512 one at 1 024 and dispatch kept it where the
  /// AVX-512 kernel is 1.2–1.5× faster (Xeon 6/207: see `CalibrationScratch`).
  static func level1Problems(_ operation: KernelOperation, _ shape: ShapeClass, _ s: CalibrationScratch) -> [CalibrationProblem] {
    let n = shape == .small ? 50 : 1024
    let placements: [(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, words: String)] = [
      (UnsafePointer(s.lineFloats), s.others, "one operand on a cache line, one 16 B off"),
      (UnsafePointer(s.floats), s.lineOthers + 12, "16 B and 48 B off"),
    ]
    return placements.compactMap { x, y, words in
      let label = "\(operation.name) of \(n) (\(words))"
      switch operation {
      case .dot: return CalibrationProblem(label: label) { _ = $0.dot(count: n, x, y) }
      case .squaredDistance: return CalibrationProblem(label: label) { _ = $0.squaredDistance(count: n, x, y) }
      case .axpy: return CalibrationProblem(label: label) { $0.axpy(count: n, alpha: 1e-7, x, y) }
      // α = −1: the values only change sign (bounded, exact), and no kernel may skip the
      // work. OpenBLAS's sscal returns at once for α = 1 (3 ns against 72 for 1 024 floats),
      // which is what it was timed with before: it won `scale` on large vectors on Zen 4
      // while the AVX-512 kernel runs any other α 1.2× faster.
      case .scale: return CalibrationProblem(label: label) { $0.scale(count: n, alpha: -1, UnsafeMutablePointer(mutating: x)) }
      case .sumOfSquares: return CalibrationProblem(label: label) { _ = $0.sumOfSquares(count: n, x) }
      case .indexOfMaxMagnitude: return CalibrationProblem(label: label) { _ = $0.indexOfMaxMagnitude(count: n, x) }
      default: return nil
      }
    }
  }
}
