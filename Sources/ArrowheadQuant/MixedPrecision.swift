import ArrowheadIO

/// What the model quantizer does with one tensor.
public enum TensorDecision: Sendable, Hashable {
  /// Quantize it.
  case quantize
  /// Keep it in floating point (embeddings, norms, heads, 1-D tensors …), with the reason.
  case keepFloat(String)
  /// Copy it untouched: not a floating-point tensor Arrowhead converts (e.g. I64 ids).
  case passThrough(String)
}

/// Which tensors a model quantization touches.
///
/// A tensor is passed through untouched if its dtype is not F32/F16/BF16/F64; kept in
/// floating point if it has fewer than `minimumDimensions` dimensions (biases, norm
/// weights: tiny, and sensitive) or its name matches a keep pattern; quantized otherwise.
///
/// Patterns are globs matched case-insensitively against the whole name: `*` matches any
/// run of characters (including dots), `?` one character. The defaults keep embeddings
/// (`*embed*`: token tables are looked up, not multiplied, and dominate error when
/// quantized), normalisation layers (`*norm*`) and output heads (`*lm_head*`).
public struct TensorSelection: Sendable, Hashable {
  /// The default keep patterns.
  public static let defaultKeepPatterns = ["*embed*", "*norm*", "*lm_head*"]

  /// Names matching any of these stay in floating point.
  public var keepPatterns: [String]
  /// Tensors with fewer dimensions stay in floating point (default 2).
  public var minimumDimensions: Int

  /// Creates a selection.
  public init(keepPatterns: [String] = TensorSelection.defaultKeepPatterns, minimumDimensions: Int = 2) {
    self.keepPatterns = keepPatterns
    self.minimumDimensions = minimumDimensions
  }

  /// The decision for a tensor.
  public func decision(name: String, dtype: SafetensorsDType, shape: [Int]) -> TensorDecision {
    guard dtype.isConvertibleToFloat else { return .passThrough("\(dtype.rawValue) is not a float type") }
    if let pattern = keepPatterns.first(where: { Self.matches(name, pattern: $0) }) {
      return .keepFloat("matches --keep '\(pattern)'")
    }
    if shape.count < minimumDimensions { return .keepFloat("only \(shape.count) dimension\(shape.count == 1 ? "" : "s")") }
    return .quantize
  }

  /// Whether `name` matches the glob `pattern` (case-insensitive; `*` any run, `?` one
  /// character). O(|name|·|pattern|).
  public static func matches(_ name: String, pattern: String) -> Bool {
    let text = Array(name.lowercased().unicodeScalars), glob = Array(pattern.lowercased().unicodeScalars)
    var t = 0, g = 0, starG = -1, starT = 0
    while t < text.count {
      if g < glob.count && (glob[g] == "?" || glob[g] == text[t]) {
        t += 1
        g += 1
      } else if g < glob.count && glob[g] == "*" {
        starG = g
        starT = t
        g += 1
      } else if starG >= 0 {
        g = starG + 1
        starT += 1
        t = starT
      } else {
        return false
      }
    }
    while g < glob.count && glob[g] == "*" { g += 1 }
    return g == glob.count
  }
}

/// The INT2 → INT4 → INT8 fall-back: a tensor whose cosine similarity to its
/// reconstruction is below its width's threshold is re-quantized at the next width up, and
/// kept in floating point if even 8 bits fall short.
///
/// Defaults: 0.70 at 2 bits, 0.80 at 3, 0.90 at 4, 0.95 at 8 — below these the layer's
/// output direction is visibly wrong (cos 0.9 ≈ 26° off).
public struct FallbackPolicy: Sendable, Hashable {
  /// The minimum cosine similarity per bit width.
  public var minimumCosine: [Int: Double]

  /// Creates a policy; thresholds must lie in [−1, 1], for widths the quantizer makes
  /// (`QuantizationScheme.supportedBits`: a threshold for another width would never apply).
  public init(minimumCosine: [Int: Double] = [2: 0.70, 3: 0.80, 4: 0.90, 8: 0.95]) throws(QuantizationError) {
    for bits in minimumCosine.keys.sorted() where !QuantizationScheme.supportedBits.contains(bits) {
      throw .unsupportedBits(bits, supported: QuantizationScheme.supportedBits)
    }
    for (bits, threshold) in minimumCosine where !(threshold >= -1 && threshold <= 1) {
      throw .invalidOption(name: "fallback threshold for \(bits) bits", value: "\(threshold)", expected: "a cosine in [−1, 1]")
    }
    self.minimumCosine = minimumCosine
  }

  /// The default thresholds.
  public static let standard = FallbackPolicy(unchecked: [2: 0.70, 3: 0.80, 4: 0.90, 8: 0.95])

  init(unchecked thresholds: [Int: Double]) { minimumCosine = thresholds }

  /// The next width up the ladder 2 → 4 → 8 (3 → 4), nil after 8.
  public static func nextBits(after bits: Int) -> Int? {
    switch bits {
    case ..<4: 4
    case 4..<8: 8
    default: nil
    }
  }

  /// Whether `cosine` is acceptable at `bits` (widths without a threshold always are).
  public func accepts(cosine: Double, bits: Int) -> Bool {
    guard let threshold = minimumCosine[bits] else { return true }
    return cosine >= threshold
  }
}

/// A per-tensor choice of bit widths that meets a bits-per-weight budget.
///
/// Each tensor k offers options (bits, stored bytes, squared relative error eₖ²(bits)).
/// The allocation starts every tensor at its widest option and, while the average stored
/// bits per weight (parameters included) exceeds the budget, applies the cheapest step
/// down: the one with the smallest *sensitivity*
///
///     Δ(nₖ·eₖ²) / Δbits  — model error added per stored bit saved,
///
/// where nₖ·eₖ² is the tensor's share of the size-weighted relative error² (the model
/// metric). This greedy is optimal when each tensor's error curve is convex in its bits
/// (it is, in practice, for 2/3/4/8). O(K² · options) for K tensors.
public enum BitAllocation {
  /// One quantization option of one tensor.
  public struct Option: Sendable, Hashable {
    /// Bit width.
    public var bits: Int
    /// Stored bytes at this width, parameters included.
    public var storedBytes: Int
    /// nₖ·eₖ² at this width.
    public var weightedSquaredError: Double
    /// Creates an option.
    public init(bits: Int, storedBytes: Int, weightedSquaredError: Double) {
      self.bits = bits
      self.storedBytes = storedBytes
      self.weightedSquaredError = weightedSquaredError
    }
  }

  /// A tensor to allocate.
  public struct Candidate: Sendable, Hashable {
    /// Its name (for errors).
    public var name: String
    /// Its weights.
    public var count: Int
    /// Its acceptable options (any order; at least one).
    public var options: [Option]
    /// Creates a candidate.
    public init(name: String, count: Int, options: [Option]) {
      self.name = name
      self.count = count
      self.options = options
    }
  }

  /// The chosen bit width for each candidate (same order).
  /// Throws `.invalidOption` when even the narrowest options exceed the budget, saying
  /// what the smallest achievable average is; for a budget that is not a positive number;
  /// and, naming the candidate, for a candidate without options, a negative weight count
  /// (or counts whose sum overflows), an option's stored bytes outside 0…`Int.max`/8, or an
  /// error that is negative or not finite (such candidates used to trap on overflow, or to
  /// steer the allocation silently: a NaN sensitivity never compares smaller).
  public static func allocate(_ candidates: [Candidate], budget: Double) throws(QuantizationError) -> [Int] {
    guard budget > 0, budget.isFinite else {
      throw .invalidOption(name: "--budget", value: "\(budget)", expected: "a positive number of bits per weight")
    }
    let sorted = candidates.map { $0.options.sorted { $0.bits > $1.bits } }
    if let empty = candidates.indices.first(where: { sorted[$0].isEmpty }) {
      throw .invalidOption(name: "bit allocation", value: candidates[empty].name, expected: "at least one acceptable width")
    }
    var weights = 0
    for candidate in candidates {
      let name = "bit allocation of '\(candidate.name)'"
      guard candidate.count >= 0 else { throw .invalidOption(name: name, value: "count \(candidate.count)", expected: "a weight count ≥ 0") }
      let (sum, overflow) = weights.addingReportingOverflow(candidate.count)
      guard !overflow else {
        throw .invalidOption(name: name, value: "count \(candidate.count)", expected: "weight counts whose sum is at most \(Int.max)")
      }
      weights = sum
      for option in candidate.options {
        guard option.storedBytes >= 0, option.storedBytes <= Int.max / 8 else {
          throw .invalidOption(name: name, value: "\(option.storedBytes) stored bytes at \(option.bits) bits", expected: "0…\(Int.max / 8) bytes")
        }
        guard option.weightedSquaredError.isFinite, option.weightedSquaredError >= 0 else {
          throw .invalidOption(
            name: name, value: "weighted squared error \(option.weightedSquaredError) at \(option.bits) bits", expected: "a finite value ≥ 0")
        }
      }
    }
    guard weights > 0 else { return sorted.map { $0[0].bits } }
    let target = budget * Double(weights)
    var chosen = [Int](repeating: 0, count: candidates.count)
    var bits = sorted.reduce(0.0) { $0 + Double(8 * $1[0].storedBytes) }
    while bits > target {
      var best: (index: Int, sensitivity: Double)?
      for index in candidates.indices where chosen[index] + 1 < sorted[index].count {
        let current = sorted[index][chosen[index]], next = sorted[index][chosen[index] + 1]
        let saved = Double(8 * (current.storedBytes - next.storedBytes))
        guard saved > 0 else { continue }
        let sensitivity = (next.weightedSquaredError - current.weightedSquaredError) / saved
        if best.map({ sensitivity < $0.sensitivity }) ?? true { best = (index, sensitivity) }
      }
      guard let step = best else {
        throw .invalidOption(
          name: "--budget", value: "\(budget)",
          expected: "at least \(String(format2: bits / Double(weights))) bits per weight (every tensor at its narrowest acceptable width, parameters included)")
      }
      let current = sorted[step.index][chosen[step.index]], next = sorted[step.index][chosen[step.index] + 1]
      bits -= Double(8 * (current.storedBytes - next.storedBytes))
      chosen[step.index] += 1
    }
    return candidates.indices.map { sorted[$0][chosen[$0]].bits }
  }
}

extension String {
  /// A number with two decimals, without Foundation.
  init(format2 value: Double) {
    let scaled = (value * 100).rounded()
    let whole = Int(scaled) / 100, fraction = abs(Int(scaled) % 100)
    self = "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
  }
}
