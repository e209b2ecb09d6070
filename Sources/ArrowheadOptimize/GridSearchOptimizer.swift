import ArrowheadCore
import ArrowheadQuant

/// Grid search over clipping ratios, each candidate refined by alternating re-rounding
/// and closed-form (importance-weighted) least squares — the idea behind ggml's k-quants
/// (`make_qkx2_quants`), extended to two-sided clipping, all three modes and a local search.
///
/// For one group x₁…xₙ with importances w (1 when none are given) the optimizer minimises
/// the weighted squared error E(s, m) = Σ wᵢ (xᵢ − x̂ᵢ)² of the codes the quantizer will
/// store. For a fixed set of codes q the best parameters have a closed form (2 × 2 normal
/// equations; sufficient statistics Σw, Σwx, Σwx², Σwq, Σwq², Σwxq), and for fixed
/// parameters the best codes are the rounded ones — so alternating the two never increases
/// E, but stops in the local minimum nearest to its start. Hence:
///
/// 1. **Grid.** The range [min, max] is clipped at each end by fractions a, b of itself
///    (`steps` × `steps` pairs over [`clipLow`, `clipHigh`], both per bit width, negative =
///    widened). Each pair gives min-max parameters of the clipped range, its codes, and the
///    least-squares fit of those codes (one pass over the group).
/// 2. **Refine.** The `keep` best fits are refined by alternating re-rounding and fitting
///    (at most `refinements` passes each, stopping when E no longer decreases).
/// 3. **Local search.** Around the best, `localRounds` rounds of moves — the scale ×(1 ± ½/(2ᵇ − 1))
///    with the centre kept, the offset ± ¼ step, and their combinations — each refined twice.
///
/// Modes: float minimum fits (s, m) freely; zero-point fits (s, m) then tries the two
/// integral zero-points next to −m/s (clamped to 0…2ᵇ − 1) with s refitted for each;
/// symmetric fits s alone with z = 2ᵇ⁻¹ (its grid clips max|x| by 2a; the codes use the
/// kernel's full range 0…2ᵇ − 1, so clipped groups may use the code −2ᵇ⁻¹·s). Min-max
/// itself is one more start, so the result is never worse than min-max (up to Float32
/// rounding of the final parameters). With importances, the range is that of the weights
/// whose importance is positive.
///
/// Errors: up to 4 bits candidates are ranked by the closed-form error of their fit
/// (XX − s·XQ − m·X, an upper bound of the error after re-rounding); from 5 bits on that
/// difference of nearly equal sums loses too many digits, so every sweep also measures the
/// exact error Σw(x − x̂)² of its candidates and those are compared instead.
///
/// Cost: candidates are evaluated eight at a time, one per SIMD lane (the `candidateSweep` kernel):
/// ⌈(steps² + 1)/8⌉ grid sweeps, ⌈keep/8⌉·refinements refinement sweeps and 2 per local
/// round — about 9 sweeps over each group with the defaults, each a multiply-add, clamp,
/// round and three accumulations per weight and lane. Groups are independent; the
/// quantizer runs blocks of groups on all cores.
///
/// Defaults (5 steps, keep 8, 3 refinements, 1 local round) were chosen on the 37 linear
/// matrices of all-MiniLM-L6-v2 at G = 64: they reach INT4 0.0852 / INT2 0.332 / INT8 0.00507
/// size-weighted relative error (min-max: 0.0947 / 0.474 / 0.00559); doubling the work
/// gains less than 0.5 %.
///
/// ```swift
/// let grid = try GridSearchOptimizer()                       // defaults
/// let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64))
/// let q = try Quantizer(scheme: scheme, optimizer: grid).quantize(weights, shape: [384, 384])
/// ```
public struct GridSearchOptimizer: ParameterOptimizer {
  /// Clip fractions per end of the range: `steps` values evenly spaced in this interval.
  public struct ClipInterval: Sendable, Hashable {
    /// The smallest fraction (negative widens the range).
    public var low: Double
    /// The largest fraction.
    public var high: Double

    /// Creates an interval; low ≤ high, both in (−1, 0.5).
    public init(low: Double, high: Double) throws(OptimizationError) {
      try OptimizationError.require("clip.low", low, in: -0.99...0.49, "a fraction of the range in (−1, 0.5)")
      try OptimizationError.require("clip.high", high, in: low...0.49, "a fraction in [clip.low, 0.5)")
      self.low = low
      self.high = high
    }

    init(unchecked low: Double, _ high: Double) {
      self.low = low
      self.high = high
    }

    /// The default interval for `bits`: fewer levels gain more from clipping.
    /// 2 bits: [−0.05, 0.35]; 3 bits: [−0.03, 0.3]; 4 bits: [−0.02, 0.25]; 8 bits: [−0.005, 0.04].
    public static func standard(bits: Int) -> ClipInterval {
      switch bits {
      case ...2: ClipInterval(unchecked: -0.05, 0.35)
      case 3: ClipInterval(unchecked: -0.03, 0.3)
      case 4...5: ClipInterval(unchecked: -0.02, 0.25)
      case 6...7: ClipInterval(unchecked: -0.01, 0.1)
      default: ClipInterval(unchecked: -0.005, 0.04)
      }
    }
  }

  /// Grid points per end of the range (steps² starting candidates), 1…32.
  public let steps: Int
  /// Candidates refined after the grid, 1…steps².
  public let keep: Int
  /// Alternating passes per refined candidate, 0…64.
  public let refinements: Int
  /// Rounds of local moves around the best, 0…16.
  public let localRounds: Int
  /// The clip interval, or nil for `ClipInterval.standard(bits:)`.
  public let clip: ClipInterval?

  /// The defaults (5 steps, keep 8, 3 refinements, 1 local round, clip interval per bits).
  public static let standard = GridSearchOptimizer(unchecked: ())

  init(unchecked: Void) {
    steps = 5
    keep = 8
    refinements = 3
    localRounds = 1
    clip = nil
  }

  /// Creates the optimizer; throws `.invalidSetting` naming a value out of range.
  public init(steps: Int = 5, keep: Int = 8, refinements: Int = 3, localRounds: Int = 1, clip: ClipInterval? = nil) throws(OptimizationError) {
    try OptimizationError.require("steps", steps, in: 1...32)
    try OptimizationError.require("keep", keep, in: 1...(steps * steps))
    try OptimizationError.require("refinements", refinements, in: 0...64)
    try OptimizationError.require("localRounds", localRounds, in: 0...16)
    self.steps = steps
    self.keep = keep
    self.refinements = refinements
    self.localRounds = localRounds
    self.clip = clip
  }

  /// "grid".
  public var name: String { "grid" }

  /// steps, keep, refinements, local rounds and the clip interval (when not the default).
  public var settings: [String: String] {
    var result = ["steps": "\(steps)", "keep": "\(keep)", "refinements": "\(refinements)", "local_rounds": "\(localRounds)"]
    if let clip { result["clip"] = "\(clip.low)…\(clip.high)" }
    return result
  }

  /// Parameters for one group (see the type's documentation). O(passes · n).
  /// `bits` must be one of `QuantizationScheme.supportedBits` (see
  /// `ParameterOptimizer.parameters(for:importance:bits:mode:engine:)`).
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters {
    guard let base = group.baseAddress, !group.isEmpty else { return AffineParameters(scale: 0, offset: mode == .symmetric ? Float(1 << (bits - 1)) : 0) }
    var low = Float.infinity, high = -Float.infinity
    for value in group {
      low = min(low, value)
      high = max(high, value)
    }
    var solver = GridSolver(configuration: self, bits: bits, mode: mode, capacity: importance == nil ? 0 : group.count, engine: engine)
    defer { solver.release() }
    return solver.solve(base, group.count, weights: importance?.baseAddress, minimum: low, maximum: high)
  }

  /// Parameters for every group of `batch`, reusing one scratch buffer.
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    var solver = GridSolver(
      configuration: self, bits: bits, mode: mode, capacity: batch.importance == nil ? 0 : batch.groupSize, engine: batch.engine)
    defer { solver.release() }
    for index in 0..<batch.groupCount {
      let range = batch.range(ofGroup: index)
      let chosen = solver.solve(
        batch.values.baseAddress! + range.lowerBound, range.count, weights: batch.importance.map { $0.baseAddress! + range.lowerBound },
        minimum: batch.minimums[index], maximum: batch.maximums[index])
      scales[index] = chosen.scale
      offsets[index] = chosen.offset
    }
  }
}

/// The per-thread state of a grid search: configuration, mode constants and scratch.
///
/// Lane bookkeeping lives in small scratch arrays (8 lanes × scale, offset, error, and the
/// sweep's 4 × 8 sums) and is done in scalar Double code; only the sweeps are vectorised.
struct GridSolver {
  /// Runs the optimizer kernels.
  let engine: Engine
  let steps: Int, keep: Int, refinements: Int, localRounds: Int
  let clip: GridSearchOptimizer.ClipInterval
  let mode: QuantizationMode
  let bits: Int
  let top: Double
  let half: Double
  /// w·x for the weighted sweeps (capacity 0 without importances).
  var weightedValues: UnsafeMutablePointer<Float>
  var capacity: Int
  /// −x for symmetric groups searched mirrored (`solve`).
  var mirrored: UnsafeMutablePointer<Float>
  var mirroredCapacity: Int
  /// x·2⁻ᵉ for groups too large for the sweeps' Float32 sums (`solve`).
  var scaled: UnsafeMutablePointer<Float>
  var scaledCapacity: Int
  /// The fitted grid candidates: scale, offset, predicted error (steps² + 2 each: the grid,
  /// min-max and the signed maximum).
  let fittedScale: UnsafeMutablePointer<Double>
  let fittedOffset: UnsafeMutablePointer<Double>
  let fittedError: UnsafeMutablePointer<Double>
  /// The lanes: scale, offset, error (8 each; error +∞ = not measured yet).
  let laneScale: UnsafeMutablePointer<Double>
  let laneOffset: UnsafeMutablePointer<Double>
  let laneError: UnsafeMutablePointer<Double>
  /// The last sweep's sums: Q, QQ, XQ, E (8 each).
  let sums: UnsafeMutablePointer<Double>
  /// The fits of the last sweep's lanes: scale, offset, predicted error (+∞: degenerate), 8 each.
  let fits: UnsafeMutablePointer<Double>
  /// The lanes as the sweep reads them: a, b, s, m (8 each).
  let laneParameters: UnsafeMutablePointer<Float>
  /// The local moves: relative scale change and offset change (a quarter step for the float
  /// minimum, one code for a zero-point), one per lane.
  let moveScale: [Double]
  let moveOffset: [Double]
  /// The clip fractions a_i = low + (high − low)·i/(steps − 1) (0 when steps = 1).
  let fractions: [Double]

  init(configuration: GridSearchOptimizer, bits: Int, mode: QuantizationMode, capacity: Int, engine: Engine) {
    self.engine = engine
    steps = configuration.steps
    keep = configuration.keep
    refinements = configuration.refinements
    localRounds = configuration.localRounds
    clip = configuration.clip ?? .standard(bits: bits)
    self.mode = mode
    self.bits = bits
    top = Double((1 << bits) - 1)
    half = Double(1 << (bits - 1))
    self.capacity = capacity
    weightedValues = .allocate(capacity: max(1, capacity))
    mirrored = .allocate(capacity: 1)
    mirroredCapacity = 1
    scaled = .allocate(capacity: 1)
    scaledCapacity = 1
    fittedScale = .allocate(capacity: steps * steps + 2)
    fittedOffset = .allocate(capacity: steps * steps + 2)
    fittedError = .allocate(capacity: steps * steps + 2)
    laneScale = .allocate(capacity: 8)
    laneOffset = .allocate(capacity: 8)
    laneError = .allocate(capacity: 8)
    sums = .allocate(capacity: 32)
    fits = .allocate(capacity: 24)
    laneParameters = .allocate(capacity: 32)
    let interval = clip, count = steps
    fractions = (0..<count).map { count == 1 ? 0 : interval.low + (interval.high - interval.low) * Double($0) / Double(count - 1) }
    let d = 0.5 / top
    switch mode {
    case .floatMinimum, .zeroPoint:
      moveScale = [d, -d, 0, 0, d, -d, d, -d]
      moveOffset = [0, 0, 1, -1, 1, -1, -1, 1]
    case .symmetric:
      moveScale = [d / 2, -d / 2, d, -d, 1.5 * d, -1.5 * d, 2 * d, -2 * d]
      moveOffset = Array(repeating: 0, count: 8)
    }
  }

  func release() {
    weightedValues.deallocate()
    mirrored.deallocate()
    scaled.deallocate()
    fittedScale.deallocate()
    fittedOffset.deallocate()
    fittedError.deallocate()
    laneScale.deallocate()
    laneOffset.deallocate()
    laneError.deallocate()
    sums.deallocate()
    fits.deallocate()
    laneParameters.deallocate()
  }

  /// The best parameters for `count` values at `x` (importances `weights`, optional) whose
  /// extremes are `minimum` and `maximum`.
  mutating func solve(_ x: UnsafePointer<Float>, _ count: Int, weights: UnsafePointer<Float>?, minimum: Float, maximum: Float) -> AffineParameters {
    var minimum = minimum, maximum = maximum
    if let weights {
      // Only weights that matter bound the range (an outlier of importance 0 is ignored).
      var low = Float.infinity, high = -Float.infinity
      for i in 0..<count where weights[i] > 0 {
        low = min(low, x[i])
        high = max(high, x[i])
      }
      if low <= high { (minimum, maximum) = (low, high) }
    }
    let fallback = AffineParameters.minMax(minimum: minimum, maximum: maximum, bits: bits, mode: mode)
    guard count >= 2, maximum > minimum else { return fallback }
    let magnitude = max(-minimum, maximum)
    if magnitude > 0x1p32 || magnitude < 0x1p-32 {
      // The sweeps sum squares in Float32, which overflow from ~10¹⁸ and underflow below
      // ~10⁻¹⁹: search x·2⁻ᵉ instead (exact for normal values, magnitude in [1, 2)) and scale
      // the parameters back — the same codes and errors as at any other power-of-two scale.
      let exponent = Int(magnitude.exponent)
      if count > scaledCapacity {
        scaled.deallocate()
        scaled = .allocate(capacity: count)
        scaledCapacity = count
      }
      // In two factors: 2⁻ᵉ alone is not a Float for a subnormal group (e < −127).
      let downHalf = Float(sign: .plus, exponent: -exponent / 2, significand: 1)
      let downRest = Float(sign: .plus, exponent: -exponent - (-exponent / 2), significand: 1)
      for i in 0..<count { scaled[i] = x[i] * downHalf * downRest }
      let chosen = solve(
        UnsafePointer(scaled), count, weights: weights, minimum: minimum * downHalf * downRest, maximum: maximum * downHalf * downRest)
      let upHalf = Float(sign: .plus, exponent: exponent / 2, significand: 1)
      let upRest = Float(sign: .plus, exponent: exponent - exponent / 2, significand: 1)
      return AffineParameters(
        scale: chosen.scale * upHalf * upRest, offset: mode == .floatMinimum ? chosen.offset * upHalf * upRest : chosen.offset)
    }
    if mode == .symmetric && maximum > -minimum {
      // The extra code −2ᵇ⁻¹·s belongs on the side of the larger extreme: search −x (whose
      // larger extreme is negative) and negate the scale found, s → −s with the same codes.
      if count > mirroredCapacity {
        mirrored.deallocate()
        mirrored = .allocate(capacity: count)
        mirroredCapacity = count
      }
      for i in 0..<count { mirrored[i] = -x[i] }
      let chosen = search(UnsafePointer(mirrored), count, weights: weights, minimum: -maximum, maximum: -minimum, fallback: fallback)
      return chosen == fallback ? fallback : AffineParameters(scale: -chosen.scale, offset: chosen.offset)
    }
    return search(x, count, weights: weights, minimum: minimum, maximum: maximum, fallback: fallback)
  }

  /// `solve` once the range is settled; for symmetric groups the larger extreme is then the
  /// minimum (|minimum| ≥ maximum), on the side of the extra code.
  mutating func search(
    _ x: UnsafePointer<Float>, _ count: Int, weights: UnsafePointer<Float>?, minimum: Float, maximum: Float,
    fallback: AffineParameters
  ) -> AffineParameters {
    if let weights {
      if count > capacity {
        weightedValues.deallocate()
        weightedValues = .allocate(capacity: count)
        capacity = count
      }
      for i in 0..<count { weightedValues[i] = weights[i] * x[i] }
    }
    let kernels = engine.backend(for: .candidateSweep, .vector(count: count))
    let group = kernels.groupSums(count: count, x, weights: weights)
    guard group.weight > 0 else { return fallback }
    let data = SweepData(
      x: x, count: count, weights: weights, weightedValues: weights == nil ? nil : UnsafePointer(weightedValues), top: Float(top),
      kernels: kernels)

    // 1. Grid of clipped ranges plus min-max itself (start `total`) and, for symmetric groups,
    //    the signed maximum (start `total + 1`), eight starts per sweep, each lane fitted once.
    //    From 5 bits on the starts' errors are measured too, so that min-max (and the signed
    //    maximum) are measured candidates and the result can never be worse.
    let total = steps * steps + (mode == .symmetric ? 1 : 0)
    var best = (scale: 0.0, offset: 0.0, error: Double.infinity)
    var fittedCount = 0
    var k = 0
    while k <= total {
      var lanes = 0
      while k <= total && lanes < 8 {
        if let start = start(k, minimum: Double(minimum), maximum: Double(maximum)) {
          laneScale[lanes] = start.0
          laneOffset[lanes] = start.1
          lanes += 1
        }
        k += 1
      }
      guard lanes > 0 else { continue }
      sweep(data, lanes: lanes, measure: measuresErrors)
      for lane in 0..<lanes where measuresErrors && sums[24 + lane] < best.error {
        best = (laneScale[lane], laneOffset[lane], sums[24 + lane])
      }
      fitLanes(group)
      for lane in 0..<lanes where fits[16 + lane] < .infinity {
        fittedScale[fittedCount] = fits[lane]
        fittedOffset[fittedCount] = fits[8 + lane]
        fittedError[fittedCount] = fits[16 + lane]
        fittedCount += 1
      }
    }
    guard fittedCount > 0 else { return fallback }

    // 2. Refine the `keep` best predictions, eight per sweep; errors are measured exactly.
    let kept = min(keep, fittedCount)
    for position in 0..<kept {
      var smallest = position
      for other in (position + 1)..<fittedCount where fittedError[other] < fittedError[smallest] { smallest = other }
      swap(&fittedScale[position], &fittedScale[smallest])
      swap(&fittedOffset[position], &fittedOffset[smallest])
      swap(&fittedError[position], &fittedError[smallest])
    }
    var position = 0
    while position < kept {
      let lanes = min(8, kept - position)
      for lane in 0..<lanes {
        laneScale[lane] = fittedScale[position + lane]
        laneOffset[lane] = fittedOffset[position + lane]
      }
      descend(lanes: lanes, passes: refinements, best: &best, data, group)
      position += lanes
    }

    // 3. Local moves around the best (one per lane), each refined twice.
    for _ in 0..<localRounds where best.error.isFinite {
      for lane in 0..<8 {
        let s = best.scale * (1 + moveScale[lane])
        laneScale[lane] = s
        switch mode {
        case .floatMinimum:
          // Offset ± ¼ step, and the centre of the range kept when the scale moves.
          laneOffset[lane] = best.offset + moveOffset[lane] * best.scale / 4 - (s - best.scale) * top / 2
        case .zeroPoint:
          laneOffset[lane] = min(max(best.offset + moveOffset[lane], 0), top)
        case .symmetric:
          laneOffset[lane] = half
        }
      }
      let previous = best.error
      descend(lanes: 8, passes: 2, best: &best, data, group)
      if !(best.error < previous) { break }
    }

    guard best.error.isFinite else { return fallback }
    let chosen = AffineParameters(scale: Float(best.scale), offset: Float(best.offset))
    return chosen.isStorable(bits: bits, mode: mode) && chosen.scale > 0 ? chosen : fallback
  }

  /// Grid start k (= i·steps + j): min-max parameters of the range clipped by fractions
  /// (a_i, b_j) at its two ends, or nil if the clipped range is empty.
  @inline(__always)
  func start(_ k: Int, minimum low: Double, maximum high: Double) -> (Double, Double)? {
    let range = high - low
    if k == steps * steps + 1 {
      // The signed maximum (symmetric; `search` has the larger extreme at `low` ≤ 0): every
      // code in use, the extreme exact.
      let chosen = AffineParameters.signedMaximum(minimum: Float(low), maximum: Float(high), bits: bits)
      return chosen.scale > 0 ? (Double(chosen.scale), Double(chosen.offset)) : nil
    }
    if k == steps * steps {
      // Min-max, unclipped.
      let chosen = AffineParameters.minMax(minimum: Float(low), maximum: Float(high), bits: bits, mode: mode)
      return chosen.scale > 0 ? (Double(chosen.scale), Double(chosen.offset)) : nil
    }
    switch mode {
    case .floatMinimum:
      let l = low + fraction(k / steps) * range, h = high - fraction(k % steps) * range
      return h > l ? ((h - l) / top, l) : nil
    case .zeroPoint:
      let l = min(low + fraction(k / steps) * range, 0), h = max(high - fraction(k % steps) * range, 0)
      let s = (h - l) / top
      return s > 0 ? (s, min(max((-l / s).rounded(.toNearestOrEven), 0), top)) : nil
    case .symmetric:
      // One-dimensional: max|x| clipped by the k-th of steps² fractions of twice the interval.
      let position = Double(k) / Double(max(1, steps * steps - 1))
      let c = steps == 1 ? 0 : 2 * (clip.low + (clip.high - clip.low) * position)
      let s = max(abs(low), abs(high)) * (1 - min(c, 0.95)) / max(1, half - 1)
      return s > 0 ? (s, half) : nil
    }
  }

  /// Clip fraction i of `steps` over the interval.
  @inline(__always)
  func fraction(_ i: Int) -> Double { fractions[i] }

  /// Whether candidates are compared on measured errors (from 5 bits on: there the
  /// closed-form prediction XX − s·XQ − m·X subtracts nearly equal sums and loses digits).
  var measuresErrors: Bool { bits >= 5 }

  /// `descend` on predicted errors (≤ 4 bits): `passes` sweeps, each followed by a fit of
  /// every active lane; the best fit (by its closed-form error, an upper bound of the error
  /// of its re-rounded codes) is kept.
  @inline(__always)
  func predictedDescend(lanes: Int, passes: Int, best: inout (scale: Double, offset: Double, error: Double), _ data: SweepData, _ group: GroupSums) {
    var active: UInt8 = lanes >= 8 ? 0xFF : UInt8((1 << lanes) - 1)
    for lane in 0..<lanes { laneError[lane] = .infinity }
    for _ in 0..<max(1, passes) {
      sweep(data, lanes: lanes, measure: false)
      fitLanes(group)
      for lane in 0..<lanes where active & (1 << lane) != 0 {
        let error = fits[16 + lane]
        guard error < laneError[lane] else {
          active &= ~(1 << lane)
          continue
        }
        if error < best.error { best = (fits[lane], fits[8 + lane], error) }
        laneScale[lane] = fits[lane]
        laneOffset[lane] = fits[8 + lane]
        laneError[lane] = error
      }
      if active == 0 { break }
    }
  }

  /// Sweeps the first `lanes` lanes (the others repeat lane 0) and stores the sums.
  @inline(__always)
  func sweep(_ data: SweepData, lanes: Int, measure: Bool) {
    for lane in 0..<8 {
      let source = lane < lanes ? lane : 0
      let s = laneScale[source], offset = laneOffset[source]
      let inverse = 1 / s
      laneParameters[lane] = Float(inverse)
      laneParameters[16 + lane] = Float(s)
      switch mode {
      case .floatMinimum:
        laneParameters[8 + lane] = Float(-offset * inverse)
        laneParameters[24 + lane] = Float(offset)
      case .zeroPoint, .symmetric:
        laneParameters[8 + lane] = Float(offset)
        laneParameters[24 + lane] = Float(-offset * s)
      }
    }
    let raw = UnsafeRawPointer(laneParameters)
    let lanes = CandidateLanes(
      a: raw.loadUnaligned(as: SIMD8<Float>.self), b: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
      s: raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), m: raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
    let result = data.sweep(lanes, measure: measure)
    let output = UnsafeMutableRawPointer(sums)
    output.storeBytes(of: result.q, as: SIMD8<Double>.self)
    output.storeBytes(of: result.qq, toByteOffset: 64, as: SIMD8<Double>.self)
    output.storeBytes(of: result.xq, toByteOffset: 128, as: SIMD8<Double>.self)
    output.storeBytes(of: result.error, toByteOffset: 192, as: SIMD8<Double>.self)
  }

  /// Descends the first `lanes` lanes together: `passes` + 1 sweeps each measure the exact
  /// error of every active lane (updating `best`) and, but for the last, refit it; a lane
  /// stops when its error no longer decreases or its fit degenerates.
  @inline(__always)
  func descend(lanes: Int, passes: Int, best: inout (scale: Double, offset: Double, error: Double), _ data: SweepData, _ group: GroupSums) {
    if !measuresErrors {
      predictedDescend(lanes: lanes, passes: passes, best: &best, data, group)
      return
    }
    var active: UInt8 = lanes >= 8 ? 0xFF : UInt8((1 << lanes) - 1)
    for lane in 0..<lanes { laneError[lane] = .infinity }
    for pass in 0...passes {
      sweep(data, lanes: lanes, measure: true)
      if pass < passes { fitLanes(group) }
      for lane in 0..<lanes where active & (1 << lane) != 0 {
        let measured = sums[24 + lane]
        if measured < best.error { best = (laneScale[lane], laneOffset[lane], measured) }
        guard pass < passes, measured < laneError[lane], fits[16 + lane] < .infinity else {
          active &= ~(1 << lane)
          continue
        }
        laneScale[lane] = fits[lane]
        laneOffset[lane] = fits[8 + lane]
        laneError[lane] = measured
      }
      if active == 0 { break }
    }
  }

  /// The fits of all eight lanes of the last sweep into `fits` (float minimum: vectorised;
  /// the other modes lane by lane).
  @inline(__always)
  func fitLanes(_ group: GroupSums) {
    guard mode == .floatMinimum else {
      for lane in 0..<8 {
        let fitted = fit(lane, group, currentOffset: laneOffset[lane])
        fits[lane] = fitted?.scale ?? 1
        fits[8 + lane] = fitted?.offset ?? 0
        fits[16 + lane] = fitted?.error ?? .infinity
      }
      return
    }
    let raw = UnsafeRawPointer(sums)
    let q = raw.loadUnaligned(as: SIMD8<Double>.self), qq = raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Double>.self)
    let xq = raw.loadUnaligned(fromByteOffset: 128, as: SIMD8<Double>.self)
    let w = SIMD8<Double>(repeating: group.weight), x = SIMD8<Double>(repeating: group.sum), xx = SIMD8<Double>(repeating: group.sumOfSquares)
    let determinant = w * qq - q * q
    let valid = determinant .> 1e-9 * w * qq
    let inverse = 1 / determinant.replacing(with: 1, where: .!valid)
    let s = (w * xq - q * x) * inverse
    let m = (qq * x - q * xq) * inverse
    let error = xx - s * xq - m * x
    // Degenerate, non-positive or non-finite fits get error +∞ (and harmless parameters).
    let usable = valid .& (s .> 0) .& (s .< .infinity) .& (m .> -.infinity) .& (m .< .infinity)
    let output = UnsafeMutableRawPointer(fits)
    output.storeBytes(of: s.replacing(with: 1, where: .!usable), as: SIMD8<Double>.self)
    output.storeBytes(of: m.replacing(with: 0, where: .!usable), toByteOffset: 64, as: SIMD8<Double>.self)
    output.storeBytes(
      of: error.replacing(with: 0, where: error .< 0).replacing(with: .infinity, where: .!usable), toByteOffset: 128, as: SIMD8<Double>.self)
  }

  /// The least-squares parameters of lane `lane`'s codes (see the type's documentation for
  /// each mode) with their predicted error, or nil when degenerate.
  @inline(__always)
  func fit(_ lane: Int, _ group: GroupSums, currentOffset: Double) -> (scale: Double, offset: Double, error: Double)? {
    let w = group.weight, x = group.sum, xx = group.sumOfSquares
    let q = sums[lane], qq = sums[8 + lane], xq = sums[16 + lane]
    switch mode {
    case .floatMinimum:
      let determinant = w * qq - q * q
      guard determinant > 1e-9 * w * qq else { return nil }
      let inverse = 1 / determinant
      let s = (w * xq - q * x) * inverse
      let m = (qq * x - q * xq) * inverse
      guard s > 0, s.isFinite, m.isFinite else { return nil }
      return (s, m, max(0, xx - s * xq - m * x))
    case .zeroPoint:
      let determinant = w * qq - q * q
      var z = currentOffset
      if determinant > 1e-9 * w * qq {
        let s = (w * xq - q * x) / determinant
        let m = (qq * x - q * xq) / determinant
        if s > 0, m.isFinite { z = min(max(-m / s, 0), top) }
      }
      let low = min(z.rounded(.down), top), high = min(low + 1, top)
      let lowFit = zeroPointFit(z: low, q: q, qq: qq, xq: xq, w: w, x: x, xx: xx)
      guard high != low, let highFit = zeroPointFit(z: high, q: q, qq: qq, xq: xq, w: w, x: x, xx: xx) else {
        return lowFit.map { ($0.scale, low, $0.error) }
      }
      guard let lowFit, lowFit.error <= highFit.error else { return (highFit.scale, high, highFit.error) }
      return (lowFit.scale, low, lowFit.error)
    case .symmetric:
      return zeroPointFit(z: half, q: q, qq: qq, xq: xq, w: w, x: x, xx: xx).map { ($0.scale, half, $0.error) }
    }
  }

  /// s = Σw·x·(q − z) / Σw·(q − z)² for fixed z, and its predicted error (nil if degenerate).
  @inline(__always)
  func zeroPointFit(z: Double, q: Double, qq: Double, xq: Double, w: Double, x: Double, xx: Double) -> (scale: Double, error: Double)? {
    let denominator = qq - 2 * z * q + z * z * w
    let numerator = xq - z * x
    guard denominator > 0 else { return nil }
    let s = numerator / denominator
    guard s > 0, s.isFinite else { return nil }
    return (s, max(0, xx - s * numerator))
  }
}

/// One group's data for the `candidateSweep` kernel.
struct SweepData {
  let x: UnsafePointer<Float>
  let count: Int
  let weights: UnsafePointer<Float>?
  let weightedValues: UnsafePointer<Float>?
  let top: Float
  /// The backend dispatch chose for the optimizer kernels at this group size.
  let kernels: any Backend

  @inline(__always)
  func sweep(_ lanes: CandidateLanes, measure: Bool) -> LaneSums {
    kernels.candidateSweep(count: count, x, weights: weights, weightedValues: weightedValues, lanes: lanes, top: top, measureError: measure)
  }
}
