import ArrowheadIO

/// Activation statistics of one layer at one timestep.
public struct TimestepStatistics: Sendable, Hashable {
  /// The smallest activation seen.
  public var minimum: Float
  /// The largest activation seen.
  public var maximum: Float
  /// How many activations the statistics summarise.
  public var count: Int
  /// Raw samples, when the calibration gave them (empty for summary lines).
  public var samples: [Float]
  /// Percentiles given by summary lines: percent (0…100) → value.
  public var percentiles: [Double: Float]
  /// The channel count C when `samples` are rows of C channel values (channel-last: sample i
  /// belongs to channel i mod C), nil when the samples carry no channel layout.
  public var channels: Int?
  /// Exact values of the whole input at its low and high ends (for example its 32 smallest
  /// and 32 largest), when a samples line gives them (`tails`); empty otherwise. Each is a
  /// value the input certainly holds, which the held-out check charges a clipping range for.
  public var tails: [Float] = []
  /// Which input each sample row came from (one identifier ≥ 0 per row of `channels` samples,
  /// or per sample without a layout), when a samples line gives them (`sources`): the batch
  /// element — image, prompt — counted over the forward passes at this timestep. The held-out
  /// check then holds out whole inputs, so that a clipping range fitted on some images is judged
  /// on others. Empty otherwise.
  public var sources: [Int] = []

  /// Creates statistics (summary lines leave `samples` empty).
  public init(
    minimum: Float, maximum: Float, count: Int, samples: [Float] = [], percentiles: [Double: Float] = [:], channels: Int? = nil,
    tails: [Float] = [], sources: [Int] = []
  ) {
    self.tails = tails
    self.sources = sources
    self.minimum = minimum
    self.maximum = maximum
    self.count = count
    self.samples = samples
    self.percentiles = percentiles
    self.channels = channels
  }

  /// Merges another record of the same layer and timestep: extremes widen, counts and
  /// samples add up (the count saturates at `Int.max`); a percentile given by both keeps the more extreme value (the smaller
  /// below the median, the larger above), which keeps the range conservative. The channel
  /// layout is kept when both agree (or one has no samples) and dropped otherwise
  /// (`CalibrationSet.parse` refuses such files before merging). Row sources are kept only
  /// when every record with samples gives them (they would no longer match the rows otherwise).
  public mutating func merge(_ other: TimestepStatistics) {
    if samples.isEmpty {
      sources = other.sources
    } else if !other.samples.isEmpty {
      sources = sources.isEmpty || other.sources.isEmpty ? [] : sources + other.sources
    }
    if samples.isEmpty {
      channels = other.channels
    } else if !other.samples.isEmpty && other.channels != channels {
      channels = nil
    }
    minimum = Swift.min(minimum, other.minimum)
    maximum = Swift.max(maximum, other.maximum)
    // Counts come from files (any integer ≥ 1): saturate rather than overflow.
    let (sum, overflow) = count.addingReportingOverflow(other.count)
    count = overflow ? Int.max : sum
    samples += other.samples
    tails += other.tails
    for (percent, value) in other.percentiles {
      if let existing = percentiles[percent] {
        percentiles[percent] = percent < 50 ? Swift.min(existing, value) : Swift.max(existing, value)
      } else {
        percentiles[percent] = value
      }
    }
  }
}

/// Calibration statistics of layer activations over diffusion timesteps.
///
/// ## File format (JSON Lines)
/// One JSON object per line (blank lines are skipped; unknown keys are ignored):
///
/// ```
/// {"layer": "down.0.attn.to_q", "timestep": 0, "samples": [0.12, -1.5, 0.33]}
/// {"layer": "down.0.attn.to_q", "timestep": 1, "min": -2.5, "max": 3.1, "count": 4096,
///  "percentiles": {"0.1": -2.2, "99.9": 2.9}}
/// {"layer": "up.1.conv1", "weight": "up.1.conv1.weight", "timestep": 7, "channels": 2,
///  "samples": [0.5, -0.1, 0.7, 0.0]}
/// ```
/// - `layer` (string, required): the layer whose *input* activations these are; it names a
///   weight `layer` or `layer.weight` of the model being quantized.
/// - `timestep` (integer in 0 … `TimeGrouping.maximumTimesteps` − 1, required).
/// - Either `samples` (non-empty array of finite numbers), or `min` and `max` (finite,
///   min ≤ max) with optional `count` (integer ≥ 1, default 1) and optional `percentiles`
///   (object: percent in [0, 100] written as a string → finite value within [min, max]).
/// - A `samples` line may also give the **exact extremes** of the whole input its samples
///   were drawn from: `min` and `max` (both, finite, min ≤ every sample ≤ max) and optionally
///   `count` (the number of values they summarise, ≥ the sample count; default the sample
///   count). Min-max ranges then span the true extremes, not just the sampled ones, and the
///   held-out check (`ActivationGuard`) charges a candidate range for clipping them. With
///   them, `tails` (array of finite numbers within [min, max]) may list more exact values of
///   the whole input at its two ends — the k smallest and k largest, each value once — which
///   the check charges too (what a clipping range cuts beyond the sampled rows). The
///   collector (`python/arrowhead/calibration.py`) writes them; lines without them read as
///   before (extremes = the samples' own, count = the sample count).
/// - `channels` (optional, integer ≥ 1, with `samples` only): the samples are whole rows of
///   that many input channels, channel-last (a Linear layer's input vectors; a convolution's
///   input at sampled pixels, N·H·W rows of C). The sample count must be a multiple of it,
///   and every sample line of a layer must give the same value (or none). With it the
///   activation optimizers weigh each channel's quantization error by what the layer's
///   weights make of it (its output error).
/// - `sources` (optional, with `samples` only): an array of integers ≥ 0, one per sample row
///   (per `channels` samples, or per sample without a layout), naming the input each row came
///   from — the batch element (image, prompt) of the forward passes at that timestep. With
///   them the held-out check holds out whole inputs (the rows of the same inputs at every
///   timestep) instead of single rows, so a clipping range is judged on images it was not
///   fitted on (`ActivationCalibrationData`). The collector writes them.
/// - `weight` (optional, non-empty string): the weight tensor whose output error judges this
///   layer's input (default: `layer`, else `layer.weight`); one value per layer.
/// Several lines for the same layer and timestep are merged (`TimestepStatistics.merge`).
/// Files without the optional keys read as before.
public struct CalibrationSet: Sendable {
  /// Layer names in order of first appearance.
  public private(set) var layers: [String] = []
  /// Statistics per layer, per timestep.
  public private(set) var statistics: [String: [Int: TimestepStatistics]] = [:]
  /// The weight tensor named by a layer's `weight` key, for layers whose lines give one.
  public private(set) var weightNames: [String: String] = [:]

  /// The channel count of a layer's sample rows (the `channels` its sample lines give), or
  /// nil when they give none or the layer has no samples.
  public func channels(ofLayer layer: String) -> Int? {
    statistics[layer]?.values.first(where: { !$0.samples.isEmpty })?.channels
  }

  /// Records that `layer`'s output error is judged through the weight tensor `weight`.
  public mutating func setWeightName(_ weight: String, forLayer layer: String) {
    weightNames[layer] = weight
  }

  /// An empty set.
  public init() {}

  /// Adds (merges) statistics of `layer` at `timestep`.
  public mutating func add(layer: String, timestep: Int, _ record: TimestepStatistics) {
    if statistics[layer] == nil { layers.append(layer) }
    if var existing = statistics[layer]?[timestep] {
      existing.merge(record)
      statistics[layer, default: [:]][timestep] = existing
    } else {
      statistics[layer, default: [:]][timestep] = record
    }
  }

  /// Adds raw activation samples of `layer` at `timestep` (all finite, at least one); with
  /// `channels`, the samples are rows of that many channel values (channel-last), their count
  /// a multiple of it, and the layer's other sample records must have the same layout.
  /// `extremes`, when given, are the exact minimum and maximum of the whole input the samples
  /// were drawn from (they must contain every sample), and `count` the number of values of
  /// that input (≥ the sample count; default the sample count); without them the record's
  /// extremes are the samples' own. `tails` are further exact values of that input at its
  /// ends (each within `extremes`, which they need), as `TimestepStatistics.tails`.
  /// `sources`, when given, name the input each sample row came from (one identifier ≥ 0 per
  /// row), as `TimestepStatistics.sources`.
  public mutating func add(
    layer: String, timestep: Int, samples: [Float], channels: Int? = nil, extremes: ActivationRange? = nil, count: Int? = nil,
    tails: [Float] = [], sources: [Int] = []
  ) throws(QuantizationError) {
    guard let first = samples.first else {
      throw .invalidOption(name: "samples of \(layer) at timestep \(timestep)", value: "[]", expected: "at least one sample")
    }
    if let bad = samples.firstIndex(where: { !$0.isFinite }) {
      throw .invalidOption(name: "samples of \(layer) at timestep \(timestep)", value: "\(samples[bad]) at index \(bad)", expected: "finite values")
    }
    if let channels {
      guard channels >= 1, samples.count % channels == 0 else {
        throw .invalidOption(
          name: "channels of \(layer) at timestep \(timestep)", value: "\(channels)",
          expected: "a divisor ≥ 1 of the sample count \(samples.count) (rows of that many channels)")
      }
    }
    if let existing = statistics[layer]?.values.first(where: { !$0.samples.isEmpty }), existing.channels != channels {
      throw .invalidOption(
        name: "channels of \(layer) at timestep \(timestep)", value: channels.map(String.init) ?? "none",
        expected: "the layout of the layer's other sample lines (\(existing.channels.map(String.init) ?? "none"))")
    }
    var low = first, high = first
    for value in samples {
      low = Swift.min(low, value)
      high = Swift.max(high, value)
    }
    if let extremes {
      guard extremes.lower.isFinite, extremes.upper.isFinite, extremes.lower <= low, high <= extremes.upper else {
        throw .invalidOption(
          name: "exact extremes of \(layer) at timestep \(timestep)", value: "[\(extremes.lower), \(extremes.upper)]",
          expected: "finite bounds containing every sample (the samples span [\(low), \(high)])")
      }
      low = extremes.lower
      high = extremes.upper
    }
    if !tails.isEmpty {
      guard extremes != nil, tails.allSatisfy({ $0 >= low && $0 <= high }) else {
        throw .invalidOption(
          name: "tails of \(layer) at timestep \(timestep)", value: "\(tails.count) values",
          expected: "exact extremes given with them, and every tail value within them [\(low), \(high)]")
      }
    }
    if let count, count < samples.count {
      throw .invalidOption(
        name: "count of \(layer) at timestep \(timestep)", value: "\(count)",
        expected: "at least the \(samples.count) samples drawn from the values it counts")
    }
    if !sources.isEmpty {
      let rows = samples.count / (channels ?? 1)
      guard sources.count == rows, sources.allSatisfy({ $0 >= 0 }) else {
        throw .invalidOption(
          name: "sources of \(layer) at timestep \(timestep)", value: "\(sources.count) values",
          expected: "one identifier ≥ 0 per sample row (\(rows) rows)")
      }
    }
    add(
      layer: layer, timestep: timestep,
      TimestepStatistics(
        minimum: low, maximum: high, count: count ?? samples.count, samples: samples, percentiles: [:], channels: channels, tails: tails,
        sources: sources))
  }

  /// The largest timestep recorded for any layer, or nil when empty.
  public var maximumTimestep: Int? { statistics.values.flatMap(\.keys).max() }

  /// Reads a JSON Lines calibration file (see the type's documentation).
  public static func load(path: String) throws(QuantizationError) -> CalibrationSet {
    let bytes: [UInt8]
    do {
      bytes = try SafetensorsModel.readWholeFile(path)
    } catch {
      throw .file(error)
    }
    return try parse(jsonLines: bytes, file: path)
  }

  /// Parses JSON Lines calibration text; errors name `file` and the 1-based line.
  public static func parse(jsonLines bytes: [UInt8], file: String = "calibration") throws(QuantizationError) -> CalibrationSet {
    var set = CalibrationSet()
    var lineNumber = 0
    var start = 0
    while start < bytes.count {
      var end = start
      while end < bytes.count && bytes[end] != 0x0A { end += 1 }
      lineNumber += 1
      let line = bytes[start..<end]
      start = end + 1
      if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
      let value: JSONValue
      do {
        value = try line.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) in try JSONValue.parse(buffer) }
      } catch {
        throw .invalidCalibration(file: file, line: lineNumber, reason: "invalid JSON at column \(error.offset + 1): \(error.reason)")
      }
      try set.addRecord(value, file: file, line: lineNumber)
    }
    return set
  }

  mutating func addRecord(_ value: JSONValue, file: String, line: Int) throws(QuantizationError) {
    func invalid(_ reason: String) -> QuantizationError { .invalidCalibration(file: file, line: line, reason: reason) }
    guard value.members != nil else { throw invalid("expected a JSON object, found a \(value.typeName)") }
    guard let layer = value["layer"]?.string, !layer.isEmpty else { throw invalid("missing or empty \"layer\" string") }
    guard let timestep = value["timestep"]?.integer, timestep >= 0, timestep < TimeGrouping.maximumTimesteps else {
      throw invalid("\"timestep\" must be an integer in 0…\(TimeGrouping.maximumTimesteps - 1) (layer \(layer))")
    }
    let samplesValue = value["samples"]
    let hasSummary = value["min"] != nil || value["max"] != nil
    if samplesValue != nil && value["percentiles"] != nil {
      throw invalid("\"percentiles\" belong to summary lines; a \"samples\" line cannot give them (layer \(layer), timestep \(timestep))")
    }
    if let weightValue = value["weight"] {
      guard let weight = weightValue.string, !weight.isEmpty else {
        throw invalid("\"weight\" must be a non-empty string naming a tensor (layer \(layer))")
      }
      if let earlier = weightNames[layer], earlier != weight {
        throw invalid("layer \(layer) names weight \"\(weight)\" here but \"\(earlier)\" on an earlier line")
      }
      weightNames[layer] = weight
    }
    if value["sources"] != nil && samplesValue == nil {
      throw invalid("\"sources\" name the inputs of sample rows; a summary line cannot give them (layer \(layer), timestep \(timestep))")
    }
    var channels: Int?
    if let channelsValue = value["channels"] {
      guard samplesValue != nil else { throw invalid("\"channels\" describes \"samples\"; a summary line cannot give it (layer \(layer))") }
      guard let given = channelsValue.integer, given >= 1 else {
        throw invalid("\"channels\" must be an integer ≥ 1 (layer \(layer), timestep \(timestep))")
      }
      channels = given
    }
    if let samplesValue {
      guard let elements = samplesValue.array, !elements.isEmpty else {
        throw invalid("\"samples\" must be a non-empty array of numbers (layer \(layer), timestep \(timestep))")
      }
      var samples: [Float] = []
      samples.reserveCapacity(elements.count)
      for (index, element) in elements.enumerated() {
        guard let number = element.double, Float(number).isFinite else {
          throw invalid("samples[\(index)] is not a finite number (layer \(layer), timestep \(timestep))")
        }
        samples.append(Float(number))
      }
      var extremes: ActivationRange?
      var population: Int?
      if hasSummary {
        guard let low = value["min"]?.double.map(Float.init), let high = value["max"]?.double.map(Float.init),
          low.isFinite, high.isFinite, low <= high
        else {
          throw invalid("a \"samples\" line with exact extremes needs finite \"min\" ≤ \"max\" (layer \(layer), timestep \(timestep))")
        }
        extremes = ActivationRange(lower: low, upper: high)
      }
      var tails: [Float] = []
      if let tailsValue = value["tails"] {
        guard let extremes, let elements = tailsValue.array else {
          throw invalid("\"tails\" must be an array of numbers on a \"samples\" line with \"min\" and \"max\" (layer \(layer), timestep \(timestep))")
        }
        for (index, element) in elements.enumerated() {
          guard let number = element.double, Float(number).isFinite, Float(number) >= extremes.lower, Float(number) <= extremes.upper else {
            throw invalid("tails[\(index)] is not a finite number within [min, max] (layer \(layer), timestep \(timestep))")
          }
          tails.append(Float(number))
        }
      }
      var sources: [Int] = []
      if let sourcesValue = value["sources"] {
        guard let elements = sourcesValue.array else {
          throw invalid("\"sources\" must be an array of integers ≥ 0, one per sample row (layer \(layer), timestep \(timestep))")
        }
        sources.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
          guard let identifier = element.integer, identifier >= 0 else {
            throw invalid("sources[\(index)] is not an integer ≥ 0 (layer \(layer), timestep \(timestep))")
          }
          sources.append(identifier)
        }
      }
      if let countValue = value["count"] {
        guard hasSummary else {
          throw invalid("\"count\" on a \"samples\" line goes with the exact \"min\" and \"max\" it counts (layer \(layer), timestep \(timestep))")
        }
        guard let given = countValue.integer, given >= 1 else { throw invalid("\"count\" must be an integer ≥ 1") }
        population = given
      }
      do {
        try add(
          layer: layer, timestep: timestep, samples: samples, channels: channels, extremes: extremes, count: population, tails: tails,
          sources: sources)
      } catch {
        throw invalid(error.description)
      }
      return
    }
    guard let minimum = value["min"]?.double.map(Float.init), let maximum = value["max"]?.double.map(Float.init),
      minimum.isFinite, maximum.isFinite, minimum <= maximum
    else {
      throw invalid("need \"samples\", or finite \"min\" ≤ \"max\" (layer \(layer), timestep \(timestep))")
    }
    var count = 1
    if let countValue = value["count"] {
      guard let given = countValue.integer, given >= 1 else { throw invalid("\"count\" must be an integer ≥ 1") }
      count = given
    }
    var percentiles: [Double: Float] = [:]
    if let given = value["percentiles"] {
      guard let members = given.members else { throw invalid("\"percentiles\" must be an object of percent → value") }
      for (key, entry) in members {
        guard let percent = Double(key), percent >= 0, percent <= 100 else {
          throw invalid("percentile key \"\(key)\" is not a number in [0, 100]")
        }
        guard let number = entry.double, Float(number).isFinite else { throw invalid("percentile \"\(key)\" is not a finite number") }
        let value = Float(number)
        guard value >= minimum, value <= maximum else {
          throw invalid("percentile \"\(key)\" = \(value) lies outside [min, max] = [\(minimum), \(maximum)]")
        }
        percentiles[percent] = value
      }
    }
    add(layer: layer, timestep: timestep, TimestepStatistics(minimum: minimum, maximum: maximum, count: count, samples: [], percentiles: percentiles))
  }
}
