import ArrowheadCore

/// A batch of consecutive groups handed to a `ParameterOptimizer`.
///
/// `values` holds the groups back to back: group i is `values[i·groupSize ..<
/// min((i+1)·groupSize, values.count)]` (only the batch's last group may be shorter).
/// Every value is finite (the quantizer checks before calling). `minimums` / `maximums`
/// hold each group's extremes, already computed by the backend's `groupMinMax` kernel, so
/// optimizers that start from the min-max range get it for free.
public struct GroupBatch {
  /// The weights, groups back to back.
  public let values: UnsafeBufferPointer<Float>
  /// Weights per group (the last group may be shorter).
  public let groupSize: Int
  /// Each group's smallest value.
  public let minimums: UnsafeBufferPointer<Float>
  /// Each group's largest value.
  public let maximums: UnsafeBufferPointer<Float>
  /// Optional per-weight importance (same layout as `values`), e.g. diag(XᵀX) from
  /// calibration activations; nil means every weight matters equally.
  public let importance: UnsafeBufferPointer<Float>?
  /// The engine whose kernels the optimizer runs (the quantizer's, single-threaded: batches
  /// run in parallel).
  public let engine: Engine

  /// Creates a batch; `minimums` and `maximums` must hold one value per group.
  public init(
    values: UnsafeBufferPointer<Float>, groupSize: Int, minimums: UnsafeBufferPointer<Float>,
    maximums: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, engine: Engine
  ) {
    self.values = values
    self.groupSize = groupSize
    self.minimums = minimums
    self.maximums = maximums
    self.importance = importance
    self.engine = engine
  }

  /// The number of groups, ⌈values.count / groupSize⌉.
  public var groupCount: Int { (values.count + groupSize - 1) / groupSize }

  /// The index range of group `index` in `values`.
  @inline(__always)
  public func range(ofGroup index: Int) -> Range<Int> {
    let start = index * groupSize
    return start..<Swift.min(values.count, start + groupSize)
  }

  /// The weights of group `index`.
  @inline(__always)
  public func group(_ index: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: values[range(ofGroup: index)]) }

  /// The importances of group `index`, if any.
  @inline(__always)
  public func importance(ofGroup index: Int) -> UnsafeBufferPointer<Float>? {
    importance.map { UnsafeBufferPointer(rebasing: $0[range(ofGroup: index)]) }
  }
}

/// Chooses the scale and offset of quantization groups; the quantizer's plug-in point.
///
/// The quantizer computes each batch's group extremes with the backend, calls
/// `chooseParameters(for:bits:mode:scales:offsets:)` (in parallel over batches, one batch per
/// call, so implementations must be thread-safe — they are `Sendable` values), then
/// quantizes and packs with the backend kernels using the returned parameters. Returned
/// parameters must satisfy `AffineParameters.storageProblem(bits:mode:)` == nil: for
/// `.symmetric` the offset must be 2^(bits−1), for `.zeroPoint` an integer in 0…2^bits − 1.
///
/// Implement the single-group requirement; override the batch method only to go faster
/// (as `MinMaxOptimizer` does, straight from the kernel's extremes).
///
/// ```swift
/// struct HalfRange: ParameterOptimizer {   // a toy: clip every group's range by half
///   var name: String { "half-range" }
///   func parameters(for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?,
///                   bits: Int, mode: QuantizationMode, engine: Engine) -> AffineParameters {
///     let low = group.min()! / 2, high = group.max()! / 2
///     return .minMax(minimum: low, maximum: high, bits: bits, mode: mode)
///   }
/// }
/// let quantizer = Quantizer(scheme: scheme, optimizer: HalfRange())
/// ```
public protocol ParameterOptimizer: Sendable {
  /// A short name for reports ("minmax", "grid", "hqq" …).
  var name: String { get }
  /// The optimizer's settings, for reports (empty by default).
  var settings: [String: String] { get }

  /// Scale and offset (float minimum, or zero-point per `mode`) for one group of finite
  /// weights, with optional per-weight importance (same count), for `bits` bits; kernels run
  /// on `engine`.
  ///
  /// Precondition: `bits` is one of `QuantizationScheme.supportedBits` — what the quantizer
  /// and GPTQ pass (their scheme's width, checked when the scheme was made). This
  /// requirement cannot throw; for another width the built-in optimizers return parameters
  /// without meaning (a negative or NaN scale, which `storageProblem(bits:mode:)` refuses),
  /// and `Int.min` traps. Check a width from user data with `QuantizationScheme(bits:)` first.
  func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters

  /// Parameters for every group of `batch`, written to `scales[i]` / `offsets[i]`.
  /// Default: `parameters(for:importance:bits:mode:engine:)` on each group in turn.
  func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>)
}

extension ParameterOptimizer {
  /// No settings by default.
  public var settings: [String: String] { [:] }

  /// `parameters(for:importance:bits:mode:engine:)` on `Engine.default`.
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode
  ) -> AffineParameters {
    parameters(for: group, importance: importance, bits: bits, mode: mode, engine: .default)
  }

  /// Calls `parameters(for:importance:bits:mode:engine:)` on each group of `batch` in turn.
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    for index in 0..<batch.groupCount {
      let chosen = parameters(
        for: batch.group(index), importance: batch.importance(ofGroup: index), bits: bits, mode: mode, engine: batch.engine)
      scales[index] = chosen.scale
      offsets[index] = chosen.offset
    }
  }
}

/// The plain min-max choice (see `AffineParameters.minMax`): the default optimizer, the
/// baseline every other optimizer is measured against. Ignores importance. O(n) per group,
/// and O(groups) per batch since the extremes come from the backend kernel.
public struct MinMaxOptimizer: ParameterOptimizer {
  /// Creates the optimizer.
  public init() {}

  /// "minmax".
  public var name: String { "minmax" }

  /// `AffineParameters.minMax` of the group's extremes (an empty group gets (0, 0)).
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters {
    let (low, high) = extremes(of: group)
    return .minMax(minimum: low, maximum: high, bits: bits, mode: mode)
  }

  /// `AffineParameters.minMax` from the kernel's extremes: O(1) per group.
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    fillParameters(batch, scales: scales, offsets: offsets) { .minMax(minimum: $0, maximum: $1, bits: bits, mode: mode) }
  }
}

/// The smallest and largest of `group`; (0, 0) for an empty group.
@inline(__always)
func extremes(of group: UnsafeBufferPointer<Float>) -> (minimum: Float, maximum: Float) {
  if group.isEmpty { return (0, 0) }
  var low = Float.infinity, high = -Float.infinity
  for value in group {
    low = Swift.min(low, value)
    high = Swift.max(high, value)
  }
  return (low, high)
}

/// Writes `rule(minimum, maximum)` of every group of `batch`, from the kernel's extremes.
@inline(__always)
func fillParameters(
  _ batch: GroupBatch, scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>,
  _ rule: (Float, Float) -> AffineParameters
) {
  for index in 0..<batch.groupCount {
    let chosen = rule(batch.minimums[index], batch.maximums[index])
    scales[index] = chosen.scale
    offsets[index] = chosen.offset
  }
}

/// ggml Q4_0's choice for symmetric groups (see `AffineParameters.signedMaximum`): the scale
/// is the extreme of larger magnitude over −2ᵇ⁻¹, so every one of the 2ᵇ codes is in use and
/// that extreme is exact — where `MinMaxOptimizer` keeps the restricted range ±(2ᵇ⁻¹ − 1)
/// (ggml Q8_0's choice). Scales are negative where the larger extreme is positive. For
/// `.floatMinimum` and `.zeroPoint`, whose min-max ranges already use every code, it is
/// `MinMaxOptimizer`. Ignores importance; O(groups) per batch, like min-max.
///
/// ```swift
/// let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: .symmetric)
/// let q4_0 = try Quantizer(scheme: scheme, optimizer: SignedMaximumOptimizer()).quantize(weights, shape: [384, 384])
/// ```
public struct SignedMaximumOptimizer: ParameterOptimizer {
  /// Creates the optimizer.
  public init() {}

  /// "signed-max".
  public var name: String { "signed-max" }

  /// `AffineParameters.signedMaximum` of the group's extremes for `.symmetric`, else
  /// `AffineParameters.minMax` (an empty group gets (0, 0) extremes).
  public func parameters(
    for group: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>?, bits: Int, mode: QuantizationMode,
    engine: Engine
  ) -> AffineParameters {
    let (low, high) = extremes(of: group)
    return Self.choose(minimum: low, maximum: high, bits: bits, mode: mode)
  }

  /// The same from the kernel's extremes: O(1) per group.
  public func chooseParameters(
    for batch: GroupBatch, bits: Int, mode: QuantizationMode,
    scales: UnsafeMutableBufferPointer<Float>, offsets: UnsafeMutableBufferPointer<Float>
  ) {
    fillParameters(batch, scales: scales, offsets: offsets) { Self.choose(minimum: $0, maximum: $1, bits: bits, mode: mode) }
  }

  @inline(__always)
  static func choose(minimum: Float, maximum: Float, bits: Int, mode: QuantizationMode) -> AffineParameters {
    mode == .symmetric
      ? .signedMaximum(minimum: minimum, maximum: maximum, bits: bits)
      : .minMax(minimum: minimum, maximum: maximum, bits: bits, mode: mode)
  }
}
