import ArrowheadCore

/// The outcome of quantizing one tensor with measurement.
public struct QuantizationResult: Sendable {
  /// The quantized tensor.
  public var tensor: QuantizedTensor
  /// The error of Ŵ against W (computed in the same pass, while the data is in cache).
  public var statistics: ErrorStatistics
  /// Wall-clock seconds of the whole call.
  public var seconds: Double
  /// Seconds spent inside the parameter optimizer, summed over threads.
  public var optimizerSeconds: Double

  /// Creates a result (for quantizers outside this module, e.g. GPTQ).
  public init(tensor: QuantizedTensor, statistics: ErrorStatistics, seconds: Double, optimizerSeconds: Double) {
    self.tensor = tensor
    self.statistics = statistics
    self.seconds = seconds
    self.optimizerSeconds = optimizerSeconds
  }
}

/// Quantizes Float32 tensors under a scheme, with a pluggable parameter optimizer.
///
/// For each block of groups (in parallel over blocks, kernels single-threaded inside):
/// 1. the backend's `groupMinMax` gives every group's extremes and detects NaN/±∞;
/// 2. the optimizer chooses each group's scale and offset (min-max by default);
/// 3. the backend's `quantize` computes the codes (round half to even, clamp) and they are
///    packed (`BitPacking`);
/// 4. optionally the backend's `dequantize` rebuilds the block and `ErrorStatistics`
///    measures it, while it is still in cache.
/// Codes are therefore identical on every backend. Blocks hold ~16 K weights, so the
/// scratch memory per thread is ~100 KB whatever the tensor's size.
///
/// ```swift
/// let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(64))
/// let quantizer = Quantizer(scheme: scheme)
/// let q = try quantizer.quantize(weights, shape: [1536, 384], name: "mlp.up")
/// ```
public struct Quantizer: Sendable {
  /// The scheme.
  public var scheme: QuantizationScheme
  /// How each group's parameters are chosen.
  public var optimizer: any ParameterOptimizer
  /// The engine whose kernels run (and whose thread count is used).
  public var engine: Engine

  /// Weights per block handed to the kernels (rounded to whole groups).
  static let blockTarget = 16 * 1024
  /// Tensors smaller than this are quantized on one thread (fork–join costs more).
  static let parallelThreshold = 1 << 16

  /// Creates a quantizer; min-max parameters and the default engine unless given.
  public init(scheme: QuantizationScheme, optimizer: any ParameterOptimizer = MinMaxOptimizer(), engine: Engine = .default) {
    self.scheme = scheme
    self.optimizer = optimizer
    self.engine = engine
  }

  /// Quantizes a row-major tensor of `shape` (see `QuantizationGranularity` for how shapes
  /// map to rows and groups).
  ///
  /// - Parameters:
  ///   - importance: optional per-weight importance, same count, passed to the optimizer.
  ///   - name: used in errors.
  /// - Throws: `.shapeMismatch` when counts disagree, `.nonFiniteWeight` naming the first
  ///   NaN/±∞ (flat index), `.invalidParameters` if the optimizer returns parameters that
  ///   cannot be stored.
  public func quantize(
    _ values: UnsafeBufferPointer<Float>, shape: [Int], name: String = "tensor", importance: UnsafeBufferPointer<Float>? = nil
  ) throws(QuantizationError) -> QuantizedTensor {
    try run(values, shape: shape, name: name, importance: importance, measure: false).tensor
  }

  /// Quantizes an array (see `quantize(_:shape:name:importance:)`).
  public func quantize(_ values: [Float], shape: [Int], name: String = "tensor", importance: [Float]? = nil) throws(QuantizationError) -> QuantizedTensor {
    try quantizeAndMeasure(values, shape: shape, name: name, importance: importance, measure: false).tensor
  }

  /// Quantizes and measures the error in the same pass.
  public func quantizeAndMeasure(
    _ values: UnsafeBufferPointer<Float>, shape: [Int], name: String = "tensor", importance: UnsafeBufferPointer<Float>? = nil
  ) throws(QuantizationError) -> QuantizationResult {
    try run(values, shape: shape, name: name, importance: importance, measure: true)
  }

  /// Quantizes and measures an array.
  public func quantizeAndMeasure(
    _ values: [Float], shape: [Int], name: String = "tensor", importance: [Float]? = nil, measure: Bool = true
  ) throws(QuantizationError) -> QuantizationResult {
    let result: Result<QuantizationResult, QuantizationError> = values.withUnsafeBufferPointer { buffer in
      guard let importance else {
        return Result { () throws(QuantizationError) in try run(buffer, shape: shape, name: name, importance: nil, measure: measure) }
      }
      return importance.withUnsafeBufferPointer { weights in
        Result { () throws(QuantizationError) in try run(buffer, shape: shape, name: name, importance: weights, measure: measure) }
      }
    }
    return try result.get()
  }

  // MARK: - The pass

  /// One unit of work: `count` weights from element `start`, their parameters from index
  /// `parameterStart`, their packed codes from byte `packedStart`, kernel group size
  /// `groupSize`.
  struct Segment {
    var start: Int
    var count: Int
    var parameterStart: Int
    var packedStart: Int
  }

  /// What a failing block reports (the smallest flat index wins).
  enum Failure: Sendable {
    case nonFinite(index: Int, value: Float)
    case parameters(group: Int, reason: String)
    var order: Int {
      switch self {
      case .nonFinite(let index, _): index
      case .parameters(let group, _): group
      }
    }
  }

  struct Plan {
    var segmentCount: Int
    var segmentCapacity: Int
    var kernelGroupSize: Int
    var segment: (Int) -> Segment
  }

  func plan(_ layout: QuantizationLayout) -> Plan {
    let bits = scheme.bits
    let flat = layout.groupsDivideRows && (layout.rows == 1 || (layout.columns * bits) % 8 == 0)
    if flat {
      // Blocks of whole groups, a multiple of 8 weights so each block's codes start on a byte.
      let unit: Int
      switch scheme.granularity {
      case .perTensor: unit = 8
      case .perChannel: unit = max(1, layout.columns)
      case .perGroup(let size): unit = size
      }
      var unitsPerBlock = max(1, Self.blockTarget / unit)
      if scheme.granularity != .perTensor {
        // unit·k·bits must be a multiple of 8: take k a multiple of 8 unless unit·bits already is.
        if (unit * bits) % 8 != 0 { unitsPerBlock = (unitsPerBlock + 7) / 8 * 8 }
      }
      let block = unit * unitsPerBlock
      let total = layout.count
      let count = (total + block - 1) / block
      let perTensor = scheme.granularity == .perTensor
      let groupSize = perTensor ? block : unit
      return Plan(segmentCount: count, segmentCapacity: min(block, max(total, 1)), kernelGroupSize: groupSize) { index in
        let start = index * block
        return Segment(
          start: start, count: min(block, total - start), parameterStart: perTensor ? 0 : start / unit,
          packedStart: start * bits / 8)
      }
    }
    // Row by row: ragged last groups or rows padded to a byte.
    let columns = layout.columns
    let groupsPerRow = layout.groupsPerRow
    let perTensor = scheme.granularity == .perTensor
    let rowBytes = layout.rowByteCount
    return Plan(segmentCount: layout.rows, segmentCapacity: max(1, columns), kernelGroupSize: perTensor ? max(1, columns) : layout.groupSize) { row in
      Segment(start: row * columns, count: columns, parameterStart: perTensor ? 0 : row * groupsPerRow, packedStart: row * rowBytes)
    }
  }

  func run(
    _ values: UnsafeBufferPointer<Float>, shape: [Int], name: String, importance: UnsafeBufferPointer<Float>?, measure: Bool
  ) throws(QuantizationError) -> QuantizationResult {
    let started = MonotonicClock.now()
    let layout = try scheme.layout(shape: shape, tensor: name)
    guard values.count == layout.count else {
      throw .shapeMismatch(tensor: name, expected: "\(layout.count) values for shape \(shape)", actual: "\(values.count) values")
    }
    if let importance, importance.count != values.count {
      throw .shapeMismatch(tensor: name, expected: "\(values.count) importances (one per weight)", actual: "\(importance.count)")
    }
    var scales = [Float](repeating: 0, count: layout.groupCount)
    var offsets = [Float](repeating: 0, count: layout.groupCount)
    // Every byte is written by the pass (rows are packed whole, padding bits included).
    var packed = [UInt8](uninitializedCount: layout.codeByteCount) { _, initialized in initialized = layout.codeByteCount }
    var statistics = ErrorStatistics()
    var optimizerSeconds = 0.0
    if layout.count > 0 {
      let threads = layout.count >= Self.parallelThreshold ? engine.effectiveThreads : 1
      let plan = self.plan(layout)
      if scheme.granularity == .perTensor {
        let chosen = try tensorParameters(values, layout: layout, plan: plan, importance: importance, threads: threads, name: name)
        scales[0] = chosen.parameters.scale
        offsets[0] = chosen.parameters.offset
        optimizerSeconds = chosen.seconds
      }
      let outcome = LockedValue<(failure: Failure?, statistics: ErrorStatistics, seconds: Double)>((nil, ErrorStatistics(), 0))
      scales.withUnsafeMutableBufferPointer { scaleBuffer in
        offsets.withUnsafeMutableBufferPointer { offsetBuffer in
          packed.withUnsafeMutableBufferPointer { packedBuffer in
            let shared = UncheckedSendableBox((values, importance, scaleBuffer, offsetBuffer, packedBuffer))
            Parallel.forEachChunk(plan.segmentCount, threads: threads) { segments in
              let (values, importance, scales, offsets, packed) = shared.value
              let local = processSegments(
                segments, plan: plan, layout: layout, values: values, importance: importance,
                scales: scales, offsets: offsets, packed: packed, measure: measure)
              outcome.withLock { state in
                if let failure = local.failure, state.failure.map({ failure.order < $0.order }) ?? true {
                  state.failure = failure
                }
                state.statistics.merge(local.statistics)
                state.seconds += local.seconds
              }
            }
          }
        }
      }
      let final = outcome.withLock { $0 }
      switch final.failure {
      case .nonFinite(let index, let value)?: throw .nonFiniteWeight(tensor: name, index: index, value: value)
      case .parameters(let group, let reason)?: throw .invalidParameters(tensor: name, group: group, reason: "\(optimizer.name) optimizer returned \(reason)")
      case nil: break
      }
      statistics = final.statistics
      optimizerSeconds += final.seconds
    }
    let tensor = QuantizedTensor(unchecked: shape, scheme: scheme, packedCodes: packed, scales: scales, offsets: offsets)
    return QuantizationResult(tensor: tensor, statistics: statistics, seconds: MonotonicClock.now() - started, optimizerSeconds: optimizerSeconds)
  }

  /// The single parameter pair of a per-tensor scheme: extremes in parallel, then the
  /// optimizer on the whole tensor as one group.
  func tensorParameters(
    _ values: UnsafeBufferPointer<Float>, layout: QuantizationLayout, plan: Plan, importance: UnsafeBufferPointer<Float>?,
    threads: Int, name: String
  ) throws(QuantizationError) -> (parameters: AffineParameters, seconds: Double) {
    let extremes = LockedValue<(low: Float, high: Float, firstBad: Int?)>((.infinity, -.infinity, nil))
    let base = UncheckedSendableBox(values.baseAddress!)
    Parallel.forEachChunk(plan.segmentCount, threads: threads) { segments in
      var low = Float.infinity, high = -Float.infinity
      var bad: Int?
      for index in segments {
        let segment = plan.segment(index)
        var minimum: Float = 0, maximum: Float = 0
        let kernel = engine.backend(for: .groupMinMax, .vector(count: segment.count))
        if !kernel.groupMinMax(count: segment.count, groupSize: segment.count, base.value + segment.start, minimums: &minimum, maximums: &maximum) {
          bad = Self.firstNonFinite(base.value + segment.start, segment.count).map { $0 + segment.start }
          break
        }
        low = min(low, minimum)
        high = max(high, maximum)
      }
      extremes.withLock { state in
        state.low = min(state.low, low)
        state.high = max(state.high, high)
        if let bad, state.firstBad.map({ bad < $0 }) ?? true { state.firstBad = bad }
      }
    }
    let result = extremes.withLock { $0 }
    if let bad = result.firstBad { throw .nonFiniteWeight(tensor: name, index: bad, value: values[bad]) }
    let started = MonotonicClock.now()
    var scale: Float = 0, offset: Float = 0
    var low = result.low, high = result.high
    withUnsafeMutablePointer(to: &scale) { scalePointer in
      withUnsafeMutablePointer(to: &offset) { offsetPointer in
        withUnsafePointer(to: &low) { lowPointer in
          withUnsafePointer(to: &high) { highPointer in
            let batch = GroupBatch(
              values: values, groupSize: values.count, minimums: UnsafeBufferPointer(start: lowPointer, count: 1),
              maximums: UnsafeBufferPointer(start: highPointer, count: 1), importance: importance, engine: engine)
            optimizer.chooseParameters(
              for: batch, bits: scheme.bits, mode: scheme.mode, scales: UnsafeMutableBufferPointer(start: scalePointer, count: 1),
              offsets: UnsafeMutableBufferPointer(start: offsetPointer, count: 1))
          }
        }
      }
    }
    let chosen = AffineParameters(scale: scale, offset: offset)
    if let problem = chosen.storageProblem(bits: scheme.bits, mode: scheme.mode)
      ?? chosen.reconstructionProblem(bits: scheme.bits, mode: scheme.mode)
    {
      throw .invalidParameters(tensor: name, group: 0, reason: "\(optimizer.name) optimizer returned \(problem)")
    }
    return (chosen, MonotonicClock.now() - started)
  }

  /// Quantizes, packs and (optionally) measures the segments `range` of `plan`.
  func processSegments(
    _ range: Range<Int>, plan: Plan, layout: QuantizationLayout, values: UnsafeBufferPointer<Float>,
    importance: UnsafeBufferPointer<Float>?, scales: UnsafeMutableBufferPointer<Float>,
    offsets: UnsafeMutableBufferPointer<Float>, packed: UnsafeMutableBufferPointer<UInt8>, measure: Bool
  ) -> (failure: Failure?, statistics: ErrorStatistics, seconds: Double) {
    // Segments are large (a row or more): the kernels dispatched for their size class.
    let shape = ShapeClass.vector(count: plan.segmentCapacity)
    let minMaxKernel = engine.backend(for: .groupMinMax, shape)
    let quantizeKernel = engine.backend(for: .quantize, shape)
    let dequantizeKernel = engine.backend(for: .dequantize, shape)
    let capacity = plan.segmentCapacity
    let groupSize = plan.kernelGroupSize
    let maxGroups = (capacity + groupSize - 1) / groupSize + 1
    let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    let minimums = UnsafeMutablePointer<Float>.allocate(capacity: maxGroups)
    let maximums = UnsafeMutablePointer<Float>.allocate(capacity: maxGroups)
    let reconstruction = UnsafeMutablePointer<Float>.allocate(capacity: measure ? capacity : 1)
    defer {
      codes.deallocate()
      minimums.deallocate()
      maximums.deallocate()
      reconstruction.deallocate()
    }
    var statistics = ErrorStatistics()
    var seconds = 0.0
    let perTensor = scheme.granularity == .perTensor
    let bits = scheme.bits, mode = scheme.mode, form = mode.form, maxCode = scheme.maxCode
    let topCode = Float(maxCode)
    for index in range {
      let segment = plan.segment(index)
      let x = values.baseAddress! + segment.start
      let scaleBase = scales.baseAddress! + segment.parameterStart
      let offsetBase = offsets.baseAddress! + segment.parameterStart
      let kernelGroup = perTensor ? segment.count : groupSize
      if !perTensor {
        let groups = (segment.count + groupSize - 1) / groupSize
        if !minMaxKernel.groupMinMax(count: segment.count, groupSize: groupSize, x, minimums: minimums, maximums: maximums) {
          let offending = Self.firstNonFinite(x, segment.count) ?? 0
          return (.nonFinite(index: segment.start + offending, value: x[offending]), statistics, seconds)
        }
        let started = MonotonicClock.now()
        let batch = GroupBatch(
          values: UnsafeBufferPointer(start: x, count: segment.count), groupSize: groupSize,
          minimums: UnsafeBufferPointer(start: minimums, count: groups), maximums: UnsafeBufferPointer(start: maximums, count: groups),
          importance: importance.map { UnsafeBufferPointer(rebasing: $0[segment.start..<(segment.start + segment.count)]) },
          engine: engine)
        optimizer.chooseParameters(
          for: batch, bits: bits, mode: mode, scales: UnsafeMutableBufferPointer(start: scaleBase, count: groups),
          offsets: UnsafeMutableBufferPointer(start: offsetBase, count: groups))
        seconds += MonotonicClock.now() - started
        for group in 0..<groups {
          let chosen = AffineParameters(scale: scaleBase[group], offset: offsetBase[group])
          // The same checks as `QuantizedTensor`'s checked initializer, so that every tensor
          // this returns can be saved and loaded again: weights within Float32 whose group
          // spans more than it (say −3e38…3e38) have no parameters that reconstruct them.
          if !chosen.isStorable(bits: bits, mode: mode), let problem = chosen.storageProblem(bits: bits, mode: mode) {
            return (.parameters(group: segment.parameterStart + group, reason: problem), statistics, seconds)
          }
          if !chosen.reconstructsFinitely(top: topCode, mode: mode), let problem = chosen.reconstructionProblem(bits: bits, mode: mode) {
            return (.parameters(group: segment.parameterStart + group, reason: problem), statistics, seconds)
          }
        }
      }
      quantizeKernel.quantize(
        count: segment.count, groupSize: kernelGroup, x, scales: scaleBase, offsets: offsetBase, form: form, maxCode: maxCode, codes)
      BitPacking.pack(count: segment.count, bits: bits, codes, packed.baseAddress! + segment.packedStart, engine: engine)
      if measure {
        dequantizeKernel.dequantize(
          count: segment.count, groupSize: kernelGroup, codes, scales: scaleBase, offsets: offsetBase, form: form, reconstruction)
        statistics.accumulate(
          original: UnsafeBufferPointer(start: x, count: segment.count),
          reconstructed: UnsafeBufferPointer(start: reconstruction, count: segment.count))
      }
    }
    return (nil, statistics, seconds)
  }

  static func firstNonFinite(_ x: UnsafePointer<Float>, _ count: Int) -> Int? {
    for i in 0..<count where !x[i].isFinite { return i }
    return nil
  }
}

// MARK: - Building blocks for whole-matrix quantizers (GPTQ)

extension Quantizer {
  /// Quantizes `values` with given parameters: value i uses `parameters[i / groupSize]`
  /// (so `groupSize: 1` gives every value its own parameters — one column of a matrix
  /// with per-row groups, as GPTQ needs). Writes one code per value into `codes` and, if
  /// given, the reconstruction x̂ into `reconstruction`. Runs the engine's `quantize` and
  /// `dequantize` kernels, so codes and x̂ are those of `quantize(_:shape:)`.
  ///
  /// Zero-points need not be storable here (a negative zero-point simply clamps more codes);
  /// `QuantizedTensor` checks storability when the tensor is built.
  ///
  /// - Throws: `.shapeMismatch` for inconsistent counts, `.nonFiniteWeight` (tensor
  ///   "values") for NaN/±∞, `.invalidParameters` for a non-finite scale, a negative one
  ///   (unless the scheme is symmetric) or a non-integral zero-point.
  public func quantize(
    _ values: UnsafeBufferPointer<Float>, groupSize: Int, parameters: UnsafeBufferPointer<AffineParameters>,
    codes: UnsafeMutableBufferPointer<UInt8>, reconstruction: UnsafeMutableBufferPointer<Float>? = nil
  ) throws(QuantizationError) {
    guard groupSize >= 1 else { throw .invalidOption(name: "groupSize", value: "\(groupSize)", expected: "≥ 1") }
    let groups = (values.count + groupSize - 1) / groupSize
    guard parameters.count >= groups else {
      throw .shapeMismatch(tensor: "parameters", expected: "\(groups) parameter pairs", actual: "\(parameters.count)")
    }
    guard codes.count >= values.count, (reconstruction?.count ?? values.count) >= values.count else {
      throw .shapeMismatch(tensor: "codes", expected: "room for \(values.count) values", actual: "\(codes.count) codes, \(reconstruction?.count ?? 0) reconstructions")
    }
    guard let base = values.baseAddress, values.count > 0 else { return }
    if let index = Self.firstNonFinite(base, values.count) {
      throw .nonFiniteWeight(tensor: "values", index: index, value: values[index])
    }
    var scales = [Float](), offsets = [Float]()
    scales.reserveCapacity(groups)
    offsets.reserveCapacity(groups)
    for group in 0..<groups {
      let chosen = parameters[group]
      guard chosen.scale.isFinite, chosen.scale >= 0 || scheme.mode == .symmetric, chosen.offset.isFinite else {
        throw .invalidParameters(
          tensor: "values", group: group,
          reason: "scale \(chosen.scale) / offset \(chosen.offset) must be finite, scale ≥ 0 (any sign when symmetric)")
      }
      if scheme.mode != .floatMinimum && chosen.offset.rounded() != chosen.offset {
        throw .invalidParameters(tensor: "values", group: group, reason: "zero-point \(chosen.offset) is not an integer")
      }
      scales.append(chosen.scale)
      offsets.append(chosen.offset)
    }
    let form = scheme.mode.form
    engine.backend(for: .quantize, .vector(count: values.count)).quantize(
      count: values.count, groupSize: groupSize, values.baseAddress!, scales: scales, offsets: offsets, form: form,
      maxCode: scheme.maxCode, codes.baseAddress!)
    if let reconstruction {
      engine.backend(for: .dequantize, .vector(count: values.count)).dequantize(
        count: values.count, groupSize: groupSize, codes.baseAddress!, scales: scales, offsets: offsets, form: form,
        reconstruction.baseAddress!)
    }
  }

  /// Codes of `values` under one group's `parameters` (array convenience of
  /// `quantize(_:groupSize:parameters:codes:reconstruction:)`).
  public func codes(for values: [Float], parameters: AffineParameters) throws(QuantizationError) -> [UInt8] {
    var codes = [UInt8](repeating: 0, count: values.count)
    let single = [parameters]
    let result: Result<Void, QuantizationError> = values.withUnsafeBufferPointer { input in
      single.withUnsafeBufferPointer { chosen in
        codes.withUnsafeMutableBufferPointer { output in
          Result { () throws(QuantizationError) in
            try quantize(input, groupSize: max(1, values.count), parameters: chosen, codes: output)
          }
        }
      }
    }
    try result.get()
    return codes
  }
}
