import ArrowheadQuant
import ArrowheadTestSupport
import Foundation
import Testing

/// The committed calibration golden (Tests/Fixtures/golden, see its README): parsing
/// `calibration.jsonl` gives exactly `calibration.expected.json`, which `make_inputs.py`
/// computed from the documented rules with Python's own JSON parser (numbers rounded to
/// float32, records of one layer and timestep merged). A change in how calibration files
/// are read shows up here and must be made on purpose.
@Suite("Golden files: calibration")
struct GoldenCalibrationTests {
  static let folder = goldenFolder

  /// A number of the expected JSON as the float32 it stands for (every value there is one,
  /// printed by Python as the shortest decimal of that float32 widened to Double).
  /// swift-corelibs-foundation's JSON parser is not correctly rounded: it may land an ulp or
  /// two of Double away from that Double, so the number is checked to lie within 2⁻⁴⁰
  /// (relative) of a float32 and rounded to it. Neighbouring float32s are 2⁻²⁴ apart, so
  /// the rounding cannot pick the wrong one.
  static func float(_ value: Any?) throws -> Float {
    let number = try #require(value as? NSNumber)
    let single = Float(number.doubleValue)
    #expect(abs(Double(single) - number.doubleValue) <= 0x1p-40 * abs(number.doubleValue), "\(number) is not a float32")
    return single
  }

  @Test func parsingGivesTheExpectedStatistics() throws {
    let set = try CalibrationSet.load(path: Self.folder + "/calibration.jsonl")
    let data = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/calibration.expected.json"))
    let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(set.layers == expected["layers"] as? [String])
    let statistics = try #require(expected["statistics"] as? [String: [[String: Any]]])
    #expect(Set(set.statistics.keys) == Set(statistics.keys))
    var records = 0
    for (layer, timesteps) in statistics {
      let parsed = try #require(set.statistics[layer])
      #expect(parsed.keys.sorted() == timesteps.compactMap { $0["timestep"] as? Int }, "\(layer)")
      for record in timesteps {
        let timestep = try #require(record["timestep"] as? Int)
        let got = try #require(parsed[timestep])
        let context = "\(layer) at \(timestep)"
        #expect(got.minimum == (try Self.float(record["min"])), "\(context)")
        #expect(got.maximum == (try Self.float(record["max"])), "\(context)")
        #expect(got.count == record["count"] as? Int, "\(context)")
        let samples = try #require(record["samples"] as? [Any])
        #expect(got.samples.map(\.bitPattern) == (try samples.map { try Self.float($0).bitPattern }), "\(context)")
        let percentiles = try #require(record["percentiles"] as? [[Any]])
        var expectedPercentiles: [Double: Float] = [:]
        for pair in percentiles {
          expectedPercentiles[try #require((pair.first as? NSNumber)?.doubleValue)] = try Self.float(pair.last)
        }
        #expect(got.percentiles == expectedPercentiles, "\(context)")
        records += 1
      }
    }
    #expect(records == 11, "the golden file's eleven (layer, timestep) records")
  }
}
