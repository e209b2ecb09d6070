import ArrowheadCore
import ArrowheadQuant
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `GPTQQuantizer` returns for one matrix.
public struct GPTQResult: Sendable {
  /// The quantized matrix (codes chosen by GPTQ, parameters per group).
  public var tensor: QuantizedTensor
  /// Ŵ against W: MSE, SQNR, relative error ‖W − Ŵ‖/‖W‖, cosine …
  public var statistics: ErrorStatistics
  /// ‖XWᵀ − XŴᵀ‖_F / ‖XWᵀ‖_F on the calibration inputs (what GPTQ minimises).
  public var outputError: Double
  /// The damping that made H + λ·mean(diag H)·I positive definite (λ).
  public var damping: Double
  /// Every λ tried, in order (more than one when the first failed).
  public var dampingsTried: [Double]
  /// Wall-clock seconds (factorisation and quantization; not the Hessian).
  public var seconds: Double
}

/// The order in which `GPTQQuantizer` quantizes a matrix's columns, and where each group's
/// parameters come from. Groups are always the matrix's contiguous groups (the file and
/// kernel layout does not change); only the order of the columns does.
public enum GPTQColumnOrder: String, Sendable, CaseIterable {
  /// Columns 0, 1, 2, …; a group's parameters from its current (error-updated) weights
  /// when its first column is reached (GPTQ's default).
  case natural
  /// Act-order: columns in decreasing diag(H) (ties by index), with *static groups*: each
  /// contiguous group's parameters chosen up front from the unmodified weights.
  case actOrderStatic = "act-order-static"
  /// Act-order: columns in decreasing diag(H); each contiguous group's parameters chosen
  /// when the first of its columns is reached, from its weights as they are then (the
  /// updates of earlier blocks applied; of the current block, only to columns inside it).
  case actOrder = "act-order"
}

/// GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, 2022): quantizes a weight matrix column by
/// column and pushes each column's rounding error onto the columns not yet quantized, so
/// that the layer's *output* on calibration inputs X changes as little as possible.
///
/// With H = XᵀX (`GPTQHessian`), rows of W are independent least-squares problems sharing
/// H: quantizing column i of row w to ŵᵢ and updating the remaining columns by
/// −(wᵢ − ŵᵢ)/[H⁻¹]ᵢᵢ · [H⁻¹]ᵢ,ⱼ minimises the increase of (w − ŵ)H(w − ŵ)ᵀ. GPTQ runs it
/// with the upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), whose rows hold exactly these
/// ratios for the shrinking trailing problems:
///
/// 1. H ← H + λ·mean(diag H)·I (λ = `damping`, 0.01 as in GPTQ; a never-active input has
///    H[i, i] = 0 and gets 1). The engine's Cholesky factors it (LAPACKE on the OpenBLAS
///    backend, Swift on SIMD); if that fails the damping is multiplied by 10, up to
///    `escalations` times, then `.hessianNotPositiveDefinite` lists every λ tried.
/// 2. H⁻¹ = L⁻ᵀL⁻¹ (triangular solve, gemm), U = Cholesky(H⁻¹)ᵀ.
/// 3. Columns in blocks of `blockSize` (128): inside a block each column is quantized and
///    its error e = (w − ŵ)/Uᵢᵢ updates the block's later columns (w_j −= e·U_ij); after the
///    block, one gemm applies the block's errors to every later column (W_rest −= E·U_block,rest).
/// 4. Groups: a group's parameters are chosen when its first column is reached, from the
///    group's *current* (error-updated) weights, by `groupOptimizer` — `GridSearchOptimizer`
///    by default (GPTQ itself uses min-max; on all-MiniLM-L6-v2's first-layer projections
///    the grid lowers GPTQ's output error from 0.85× to 0.78× of round-to-nearest min-max),
///    optionally weighted by diag(H). A group that starts inside
///    a block must end inside it (a block is cut short before such a group otherwise), so
///    those weights are always fully updated.
/// 5. `order`: with act-order the columns are processed in decreasing diag(H) (W's columns
///    and H permuted, U from the permuted H), so the inputs with the largest second moment
///    are quantized first, while the most later columns can still absorb their error. The
///    groups stay the contiguous groups of the original columns (static groups: parameters
///    from the unmodified weights, or chosen when a group's first column in the new order
///    is reached); codes and parameters are written at the original positions, so the
///    result has the natural order's layout.
/// 6. `refitsParameters` (off by default): once a row's codes are chosen, its group
///    parameters (float minimum: scale and minimum) are refitted by least squares on the
///    damped objective (w − ŵ)·H·(w − ŵ)ᵀ with the codes fixed (`GPTQRefit`: the 2G × 2G
///    normal equations of the row's G groups, coupled through H). The parameters chosen
///    before the codes are a feasible point, so the objective never rises; the codes do
///    not change. Cost: O(rows·columns²), in gemms.
///
/// Rows are split over the engine's threads (each runs its rows through every block, its
/// trailing gemm single-threaded). Codes follow the quantizer's kernels exactly (true
/// division, round half to even, clamp; x̂ = q·s + m or (q − z)·s), so Ŵ is what
/// `QuantizedTensor.dequantized()` returns. O(columns³ + rows·columns²).
///
/// ```swift
/// let h = try GPTQHessian(inputs: x, columns: 384)            // x: n × 384 calibration inputs
/// let gptq = try GPTQQuantizer()
/// let result = try gptq.quantize(w, shape: [384, 384], scheme: scheme, hessian: h)
/// print(result.statistics.relativeError, result.outputError)
/// ```
public struct GPTQQuantizer: Sendable {
  /// Columns per block, 1…4096 (GPTQ's 128).
  public let blockSize: Int
  /// λ, the damping as a fraction of mean(diag H), in (0, 10⁶] (GPTQ's 0.01).
  public let damping: Double
  /// How many times λ may be multiplied by 10 when the factorisation fails, 0…12.
  public let escalations: Int
  /// Chooses each group's parameters when its first column is reached.
  public let groupOptimizer: any ParameterOptimizer
  /// Whether the group optimizer gets diag(H) as per-weight importance (a weight feeding an
  /// input with a large second moment matters more to the output).
  public let hessianImportance: Bool
  /// The order of the columns (natural by default).
  public let order: GPTQColumnOrder
  /// Whether each row's group parameters are refitted by least squares on GPTQ's objective
  /// once its codes are chosen (float-minimum groups only; see `GPTQRefit`).
  public let refitsParameters: Bool

  /// Creates the quantizer; throws `.invalidSetting` naming a value out of range.
  public init(
    blockSize: Int = 128, damping: Double = 0.01, escalations: Int = 4, groupOptimizer: any ParameterOptimizer = GridSearchOptimizer.standard,
    hessianImportance: Bool = false, order: GPTQColumnOrder = .natural, refitsParameters: Bool = false
  ) throws(OptimizationError) {
    try OptimizationError.require("block size", blockSize, in: 1...4096)
    guard damping.isFinite, damping > 0, damping <= 1e6 else {
      throw .invalidSetting(name: "damping", value: "\(damping)", expected: "a fraction of mean(diag H) in (0, 1e6]")
    }
    try OptimizationError.require("escalations", escalations, in: 0...12)
    self.init(
      validated: blockSize, damping: damping, escalations: escalations, groupOptimizer: groupOptimizer,
      hessianImportance: hessianImportance, order: order, refitsParameters: refitsParameters)
  }

  /// The same quantizer with the columns in `order`.
  public func ordered(_ order: GPTQColumnOrder) -> GPTQQuantizer { with(order: order, refitsParameters: refitsParameters) }

  /// The same quantizer with the least-squares refit of the group parameters on or off.
  public func refitting(_ refitsParameters: Bool) -> GPTQQuantizer { with(order: order, refitsParameters: refitsParameters) }

  private func with(order: GPTQColumnOrder, refitsParameters: Bool) -> GPTQQuantizer {
    GPTQQuantizer(
      validated: blockSize, damping: damping, escalations: escalations, groupOptimizer: groupOptimizer, hessianImportance: hessianImportance, order: order,
      refitsParameters: refitsParameters)
  }

  private init(
    validated blockSize: Int, damping: Double, escalations: Int, groupOptimizer: any ParameterOptimizer, hessianImportance: Bool, order: GPTQColumnOrder,
    refitsParameters: Bool
  ) {
    self.blockSize = blockSize
    self.damping = damping
    self.escalations = escalations
    self.groupOptimizer = groupOptimizer
    self.hessianImportance = hessianImportance
    self.order = order
    self.refitsParameters = refitsParameters
  }

  /// "gptq".
  public var name: String { "gptq" }

  /// Block size, damping, escalations, the group optimizer and its settings.
  public var settings: [String: String] {
    var result = [
      "block_size": "\(blockSize)", "damping": "\(damping)", "escalations": "\(escalations)",
      "group_optimizer": groupOptimizer.name, "hessian_importance": "\(hessianImportance)",
      "order": order.rawValue, "refits_parameters": "\(refitsParameters)",
    ]
    for (key, value) in groupOptimizer.settings { result["group_optimizer.\(key)"] = value }
    return result
  }

  /// Quantizes an array (see `quantize(_:shape:scheme:hessian:name:engine:)`).
  public func quantize(
    _ weights: [Float], shape: [Int], scheme: QuantizationScheme, hessian: GPTQHessian, name: String = "tensor", engine: Engine = .default
  ) throws(OptimizationError) -> GPTQResult {
    let result: Result<GPTQResult, OptimizationError> = weights.withUnsafeBufferPointer { buffer in
      Result { () throws(OptimizationError) in
        try quantize(buffer, shape: shape, scheme: scheme, hessian: hessian, name: name, engine: engine)
      }
    }
    return try result.get()
  }

  /// Quantizes the row-major matrix `weights` of `shape` (rows = output channels, columns =
  /// inputs, as `QuantizationLayout` reads any shape) under `scheme`, with the Hessian of
  /// its inputs.
  ///
  /// - Throws: `.shapeMismatch` when the counts disagree or the Hessian's order is not the
  ///   number of columns, `.nonFiniteValue` for NaN/±∞ weights, `.hessianNotPositiveDefinite`
  ///   after the damping escalation, `.quantization(.invalidParameters)` for a group whose
  ///   parameters cannot reconstruct it within Float32 (weights spanning more than ±3.4·10³⁸),
  ///   `.errorFeedbackOverflow` when the error feedback pushes a weight past the Float32
  ///   range, `.quantization` / `.engine` for what those layers refuse.
  public func quantize(
    _ weights: UnsafeBufferPointer<Float>, shape: [Int], scheme: QuantizationScheme, hessian: GPTQHessian, name: String = "tensor",
    engine: Engine = .default
  ) throws(OptimizationError) -> GPTQResult {
    let started = ThermodynamicOptimizer.now()
    let layout: QuantizationLayout
    do {
      layout = try scheme.layout(shape: shape, tensor: name)
    } catch {
      throw .quantization(error)
    }
    guard weights.count == layout.count, layout.count > 0 else {
      throw .shapeMismatch(tensor: name, expected: "\(layout.count) values for shape \(shape), at least one", actual: "\(weights.count) values")
    }
    let rows = layout.rows, columns = layout.columns
    guard hessian.order == columns else {
      throw .shapeMismatch(
        tensor: name, expected: "\(columns) columns (the Hessian's inputs) — X must be n × \(columns) for W of shape \(shape)",
        actual: "a Hessian of order \(hessian.order)")
    }
    if let index = weights.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteValue(tensor: name, index: index, value: weights[index]) }
    // The processing order: position a holds original column permutation[a].
    let diagonal = (0..<columns).map { hessian.matrix[$0, $0] }
    let permutation =
      order == .natural ? Array(0..<columns) : (0..<columns).sorted { diagonal[$0] != diagonal[$1] ? diagonal[$0] > diagonal[$1] : $0 < $1 }
    var position = [Int](repeating: 0, count: columns)
    for (a, c) in permutation.enumerated() { position[c] = a }
    let permuted = order == .natural ? nil : permutation
    let factor = try inverseFactor(hessian, permutation: permuted, name: name, engine: engine)
    let u = factor.u

    var work = Array(weights)
    if permuted != nil {
      for r in 0..<rows {
        for a in 0..<columns { work[r * columns + a] = weights[r * columns + permutation[a]] }
      }
    }
    var codes = [UInt8](repeating: 0, count: layout.count)
    var parameters = [AffineParameters](repeating: AffineParameters(scale: 0, offset: 0), count: layout.groupCount)
    let bits = scheme.bits, mode = scheme.mode, top = Float(scheme.maxCode)
    // Group geometry along a row: width G (per channel: the row; per tensor: chosen up front).
    let groupWidth: Int
    switch scheme.granularity {
    case .perGroup(let size): groupWidth = size
    case .perChannel, .perTensor: groupWidth = columns
    }
    if scheme.granularity == .perTensor {
      var low = Float.infinity, high = -Float.infinity
      for value in weights {
        low = min(low, value)
        high = max(high, value)
      }
      var chosen = groupOptimizer.parameters(for: weights, importance: nil, bits: bits, mode: mode, engine: engine)
      if !chosen.isStorable(bits: bits, mode: mode) { chosen = .minMax(minimum: low, maximum: high, bits: bits, mode: mode) }
      if let problem = chosen.storageProblem(bits: bits, mode: mode) ?? chosen.reconstructionProblem(bits: bits, mode: mode) {
        throw .quantization(.invalidParameters(tensor: name, group: 0, reason: problem))
      }
      parameters[0] = chosen
    }
    // Act-order: groups are scattered over the order, so blocks need not follow them.
    let blocks = Self.blocks(
      columns: columns, blockSize: blockSize, groupWidth: scheme.granularity == .perTensor || order != .natural ? columns : groupWidth)
    let groupsPerRow = (columns + groupWidth - 1) / groupWidth
    let staticSource = order == .actOrderStatic
    let single = engine.withThreads(1)
    let threads = rows * columns >= 1 << 14 ? engine.effectiveThreads : 1
    let failure = LockedValue<OptimizationError?>(nil)

    work.withUnsafeMutableBufferPointer { workBuffer in
      codes.withUnsafeMutableBufferPointer { codeBuffer in
        parameters.withUnsafeMutableBufferPointer { parameterBuffer in
          u.withUnsafeBufferPointer { uBuffer in
            let shared = UncheckedSendableBox((workBuffer, codeBuffer, parameterBuffer, uBuffer, weights))
            Parallel.forEachChunk(rows, threads: threads) { rowRange in
              let (w, q, p, u, weights) = shared.value
              let chunkRows = rowRange.count
              let maximumBlock = blocks.map(\.count).max() ?? 1
              var errors = [Float](repeating: 0, count: chunkRows * maximumBlock)
              var gathered = [Float](repeating: 0, count: chunkRows * groupWidth)
              var importance = [Float](repeating: 0, count: hessianImportance ? chunkRows * groupWidth : 0)
              var minimums = [Float](repeating: 0, count: chunkRows), maximums = [Float](repeating: 0, count: chunkRows)
              var scales = [Float](repeating: 0, count: chunkRows), offsets = [Float](repeating: 0, count: chunkRows)
              var groupChosen = [Bool](repeating: false, count: groupsPerRow)
              for block in blocks {
                let width = block.count
                for i in block {
                  let column = permutation[i]
                  // The first column of a group in this order: choose the group's parameters
                  // from its current weights (or, static, from the unmodified ones).
                  if scheme.granularity != .perTensor && !groupChosen[column / groupWidth] {
                    let group = column / groupWidth
                    groupChosen[group] = true
                    let first = group * groupWidth
                    let span = min(groupWidth, columns - first)
                    for (row, r) in rowRange.enumerated() {
                      var low = Float.infinity, high = -Float.infinity
                      for j in 0..<span {
                        let value = staticSource ? weights[r * columns + first + j] : w[r * columns + position[first + j]]
                        gathered[row * span + j] = value
                        low = min(low, value)
                        high = max(high, value)
                        if hessianImportance { importance[row * span + j] = diagonal[first + j] }
                      }
                      minimums[row] = low
                      maximums[row] = high
                    }
                    gathered.withUnsafeBufferPointer { values in
                      minimums.withUnsafeBufferPointer { lows in
                        maximums.withUnsafeBufferPointer { highs in
                          importance.withUnsafeBufferPointer { weightsOfImportance in
                            scales.withUnsafeMutableBufferPointer { s in
                              offsets.withUnsafeMutableBufferPointer { o in
                                let batch = GroupBatch(
                                  values: UnsafeBufferPointer(rebasing: values[0..<(chunkRows * span)]), groupSize: span, minimums: lows,
                                  maximums: highs,
                                  importance: hessianImportance ? UnsafeBufferPointer(rebasing: weightsOfImportance[0..<(chunkRows * span)]) : nil,
                                  engine: single)
                                groupOptimizer.chooseParameters(for: batch, bits: bits, mode: mode, scales: s, offsets: o)
                              }
                            }
                          }
                        }
                      }
                    }
                    for (row, r) in rowRange.enumerated() {
                      var chosen = AffineParameters(scale: scales[row], offset: offsets[row])
                      if !chosen.isStorable(bits: bits, mode: mode) {
                        chosen = .minMax(minimum: minimums[row], maximum: maximums[row], bits: bits, mode: mode)
                      }
                      let groupIndex = layout.group(row: r, column: column)
                      if let problem = chosen.storageProblem(bits: bits, mode: mode) ?? chosen.reconstructionProblem(bits: bits, mode: mode) {
                        failure.withLock {
                          $0 = $0 ?? OptimizationError.quantization(.invalidParameters(tensor: name, group: groupIndex, reason: problem))
                        }
                        return
                      }
                      p[groupIndex] = chosen
                    }
                  }
                  // Quantize column i of every row; push the error onto the block's later columns.
                  let d = u[i * columns + i]
                  let uRow = u.baseAddress! + i * columns
                  for (row, r) in rowRange.enumerated() {
                    let chosen = p[layout.group(row: r, column: column)]
                    let base = w.baseAddress! + r * columns
                    let value = base[i]
                    guard value.isFinite else {
                      failure.withLock { $0 = $0 ?? OptimizationError.errorFeedbackOverflow(tensor: name, row: r, column: column, value: value) }
                      return
                    }
                    let (code, approximation) = Self.quantize(value, chosen, mode: mode, top: top)
                    q[r * columns + column] = code
                    let error = (value - approximation) / d
                    errors[row * width + (i - block.lowerBound)] = error
                    var j = i + 1
                    while j < block.upperBound {
                      base[j] -= error * uRow[j]
                      j += 1
                    }
                  }
                }
                // The block's errors reach every later column in one gemm: W_rest −= E·U[block, rest].
                let rest = columns - block.upperBound
                guard rest > 0 else { continue }
                do {
                  try errors.withUnsafeBufferPointer { (e) throws(ArrowheadError) in
                    try single.gemm(
                      alpha: -1, a: UnsafeBufferPointer(rebasing: e[0..<(chunkRows * width)]), MatrixLayout(rows: chunkRows, columns: width),
                      b: UnsafeBufferPointer(rebasing: u[(block.lowerBound * columns + block.upperBound)..<u.count]),
                      MatrixLayout(rows: width, columns: rest, leadingDimension: columns), beta: 1,
                      c: UnsafeMutableBufferPointer(rebasing: w[(rowRange.lowerBound * columns + block.upperBound)..<(rowRange.upperBound * columns)]),
                      MatrixLayout(rows: chunkRows, columns: rest, leadingDimension: columns))
                  }
                } catch let error as ArrowheadError {
                  failure.withLock { $0 = OptimizationError.engine(error) }
                  return
                } catch {
                  failure.withLock { $0 = OptimizationError.invalidSetting(name: "gemm", value: "\(error)", expected: "no error") }
                  return
                }
              }
            }
          }
        }
      }
    }
    if let error = failure.withLock({ $0 }) { throw error }
    if refitsParameters && mode == .floatMinimum && scheme.granularity != .perTensor {
      // The damped H of the factorisation, in the natural order.
      var h = hessian.matrix.elements
      var diagonalSum = 0.0
      for i in 0..<columns {
        if h[i * columns + i] == 0 { h[i * columns + i] = 1 }
        diagonalSum += Double(h[i * columns + i])
      }
      let added = Float(factor.damping * diagonalSum / Double(columns))
      for i in 0..<columns { h[i * columns + i] += added }
      do {
        _ = try GPTQRefit.refit(
          weights: weights, codes: codes, parameters: &parameters, layout: layout, groupWidth: groupWidth, h: h, engine: engine)
      } catch {
        throw .engine(error)
      }
    }

    let tensor: QuantizedTensor
    do {
      tensor = try QuantizedTensor(shape: shape, scheme: scheme, codes: codes, parameters: parameters, name: name, engine: engine)
    } catch {
      throw .quantization(error)
    }
    let reconstructed = tensor.dequantized(engine: engine)
    var statistics = ErrorStatistics()
    reconstructed.withUnsafeBufferPointer { statistics.accumulate(original: weights, reconstructed: $0) }
    let outputError = try hessian.outputError(original: Array(weights), reconstructed: reconstructed, engine: engine)
    return GPTQResult(
      tensor: tensor, statistics: statistics, outputError: outputError, damping: factor.damping, dampingsTried: factor.tried,
      seconds: ThermodynamicOptimizer.now() - started)
  }

  /// One code and its reconstruction, exactly as the backend kernels compute them.
  @inline(__always)
  static func quantize(_ x: Float, _ p: AffineParameters, mode: QuantizationMode, top: Float) -> (UInt8, Float) {
    let magic: Float = 12_582_912
    switch mode {
    case .floatMinimum:
      guard p.scale != 0 else { return (0, p.offset) }
      let t = min(max((x - p.offset) / p.scale, -1), top + 1)
      let q = min(max((t + magic) - magic, 0), top)
      return (UInt8(q), q * p.scale + p.offset)
    case .zeroPoint, .symmetric:
      let z = p.offset
      var rounded: Float = 0
      if p.scale != 0 {
        let t = min(max(x / p.scale, -z - 1), top - z + 1)
        rounded = (t + magic) - magic
      }
      let q = min(max(rounded + z, 0), top)
      return (UInt8(q), (q - z) * p.scale)
    }
  }

  /// Column blocks of at most `blockSize`, cut short so that a group starting inside a
  /// block also ends inside it.
  static func blocks(columns: Int, blockSize: Int, groupWidth: Int) -> [Range<Int>] {
    var result: [Range<Int>] = []
    var start = 0
    while start < columns {
      var end = min(columns, start + blockSize)
      var groupStart = (start / groupWidth + 1) * groupWidth
      while groupStart < end {
        if groupStart + groupWidth > end && end < columns {
          end = groupStart
          break
        }
        groupStart += groupWidth
      }
      result.append(start..<end)
      start = end
    }
    return result
  }

  /// U (row-major, upper: H⁻¹ = UᵀU) of the damped Hessian — with its rows and columns in
  /// `permutation`'s order when given (H'[a, b] = H[π(a), π(b)]) — escalating the damping.
  func inverseFactor(
    _ hessian: GPTQHessian, permutation: [Int]? = nil, name: String, engine: Engine
  ) throws(OptimizationError) -> (u: [Float], damping: Double, tried: [Double]) {
    let n = hessian.order
    var h = hessian.matrix
    if let permutation {
      for a in 0..<n {
        for b in 0..<n { h[a, b] = hessian.matrix[permutation[a], permutation[b]] }
      }
    }
    var diagonalSum = 0.0
    for i in 0..<n {
      if h[i, i] == 0 { h[i, i] = 1 }  // a never-active input: its column is simply rounded
      diagonalSum += Double(h[i, i])
    }
    let meanDiagonal = diagonalSum / Double(n)
    var tried: [Double] = []
    var lastPivot = 0
    var lambda = damping
    for _ in 0...escalations {
      tried.append(lambda)
      var damped = h
      for i in 0..<n { damped[i, i] += Float(lambda * meanDiagonal) }
      do {
        let l = try engine.choleskyFactor(damped)
        var identity = try Matrix(rows: n, columns: n)
        for i in 0..<n { identity[i, i] = 1 }
        let inverseL = try engine.triangularSolve(.left, .normal, l: l, b: identity)
        var inverse = try engine.multiply(inverseL, inverseL, transposeA: .transposed)
        for i in 0..<n {
          for j in 0..<i {
            let average = 0.5 * (inverse[i, j] + inverse[j, i])
            inverse[i, j] = average
            inverse[j, i] = average
          }
        }
        let factor = try engine.choleskyFactor(inverse)
        var u = [Float](repeating: 0, count: n * n)
        var usable = true
        for i in 0..<n {
          for j in i..<n { u[i * n + j] = factor[j, i] }
          if !(u[i * n + i] > 0) || !u[i * n + i].isFinite { usable = false }
        }
        if usable { return (u, lambda, tried) }
      } catch {
        if case .notPositiveDefinite(_, _, let pivot) = error {
          lastPivot = pivot
        } else if case .nonFiniteValue = error {
          lastPivot = -1
        } else {
          throw .engine(error)
        }
      }
      lambda *= 10
    }
    throw .hessianNotPositiveDefinite(tensor: name, order: n, dampings: tried, pivot: lastPivot)
  }
}
