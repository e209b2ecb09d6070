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

  /// Creates statistics (summary lines leave `samples` empty).
  public init(minimum: Float, maximum: Float, count: Int, samples: [Float] = [], percentiles: [Double: Float] = [:]) {
    self.minimum = minimum
    self.maximum = maximum
    self.count = count
    self.samples = samples
    self.percentiles = percentiles
  }

  /// Merges another record of the same layer and timestep: extremes widen, counts and
  /// samples add up (the count saturates at `Int.max`); a percentile given by both keeps the more extreme value (the smaller
  /// below the median, the larger above), which keeps the range conservative.
  public mutating func merge(_ other: TimestepStatistics) {
    minimum = Swift.min(minimum, other.minimum)
    maximum = Swift.max(maximum, other.maximum)
    // Counts come from files (any integer ≥ 1): saturate rather than overflow.
    let (sum, overflow) = count.addingReportingOverflow(other.count)
    count = overflow ? Int.max : sum
    samples += other.samples
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
/// ```
/// - `layer` (string, required): the layer whose *input* activations these are; it names a
///   weight `layer` or `layer.weight` of the model being quantized.
/// - `timestep` (integer in 0 … `TimeGrouping.maximumTimesteps` − 1, required).
/// - Either `samples` (non-empty array of finite numbers), or `min` and `max` (finite,
///   min ≤ max) with optional `count` (integer ≥ 1, default 1) and optional `percentiles`
///   (object: percent in [0, 100] written as a string → finite value within [min, max]).
/// Several lines for the same layer and timestep are merged (`TimestepStatistics.merge`).
public struct CalibrationSet: Sendable {
  /// Layer names in order of first appearance.
  public private(set) var layers: [String] = []
  /// Statistics per layer, per timestep.
  public private(set) var statistics: [String: [Int: TimestepStatistics]] = [:]

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

  /// Adds raw activation samples of `layer` at `timestep` (all finite, at least one).
  public mutating func add(layer: String, timestep: Int, samples: [Float]) throws(QuantizationError) {
    guard let first = samples.first else {
      throw .invalidOption(name: "samples of \(layer) at timestep \(timestep)", value: "[]", expected: "at least one sample")
    }
    if let bad = samples.firstIndex(where: { !$0.isFinite }) {
      throw .invalidOption(name: "samples of \(layer) at timestep \(timestep)", value: "\(samples[bad]) at index \(bad)", expected: "finite values")
    }
    var low = first, high = first
    for value in samples {
      low = Swift.min(low, value)
      high = Swift.max(high, value)
    }
    add(layer: layer, timestep: timestep, TimestepStatistics(minimum: low, maximum: high, count: samples.count, samples: samples, percentiles: [:]))
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
    if samplesValue != nil && hasSummary {
      throw invalid("give either \"samples\" or \"min\"/\"max\", not both (layer \(layer), timestep \(timestep))")
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
      do {
        try add(layer: layer, timestep: timestep, samples: samples)
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
