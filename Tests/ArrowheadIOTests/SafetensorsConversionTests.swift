import ArrowheadIO
import Testing

@Suite("F16 / BF16 conversions and JSON")
struct SafetensorsConversionTests {
  #if arch(x86_64) || arch(arm64)
  /// Every binary16 pattern converts exactly like Swift's own `Float16` (which is IEEE
  /// conversion), and converting back gives the same pattern (NaNs stay NaN).
  @Test func everyHalfPatternConvertsExactlyAndBack() {
    for pattern in 0...UInt16.max {
      let ours = HalfConversion.float(fromHalf: pattern)
      let swift = Float(Float16(bitPattern: pattern))
      if swift.isNaN {
        #expect(ours.isNaN)
        #expect(Float16(bitPattern: HalfConversion.half(from: ours)).isNaN)
      } else {
        #expect(ours.bitPattern == swift.bitPattern, "pattern \(pattern)")
        #expect(HalfConversion.half(from: ours) == pattern, "pattern \(pattern)")
      }
    }
  }

  /// Float32 → binary16 rounds to nearest even exactly as Swift's `Float16(_:)`: checked on
  /// every value halfway between two halves (the hard cases), their neighbours one ulp
  /// away, and a sweep of ordinary values.
  @Test func floatToHalfRoundsToNearestEven() {
    var checked = 0
    for pattern in UInt16(0)..<0x7C00 {  // positive finite halves
      let low = HalfConversion.float(fromHalf: pattern)
      let high = HalfConversion.float(fromHalf: pattern + 1)
      let middle = low + (high - low) / 2  // exact in Float32
      for value in [middle, middle.nextDown, middle.nextUp, -middle] {
        #expect(HalfConversion.half(from: value) == Float16(value).bitPattern, "value \(value)")
        checked += 1
      }
    }
    var value: Float = 1e-9
    while value < 1e6 {
      #expect(HalfConversion.half(from: value) == Float16(value).bitPattern)
      value *= 1.0007
      checked += 1
    }
    #expect(HalfConversion.half(from: 70000) == 0x7C00)  // overflow → +∞
    #expect(HalfConversion.half(from: 65519) == 0x7BFF)  // just below the halfway point to ∞
    #expect(checked > 100_000)
  }
  #endif

  @Test func bfloat16RoundsToNearestEvenAndConvertsBackExactly() {
    // 1 + 2⁻⁸ is exactly halfway between bfloat16 1 and 1 + 2⁻⁷: ties to even (1).
    #expect(HalfConversion.bfloat16(from: 1 + 0x1p-8) == 0x3F80)
    // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: ties to even (up).
    #expect(HalfConversion.bfloat16(from: 1 + 3 * 0x1p-8) == 0x3F82)
    #expect(HalfConversion.bfloat16(from: 1 + 0x1p-8 + 0x1p-20) == 0x3F81)
    #expect(HalfConversion.bfloat16(from: .infinity) == 0x7F80)
    #expect(HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: .nan)).isNaN)
    for pattern in stride(from: UInt16(0), to: 0x7F80, by: 7) {
      let value = HalfConversion.float(fromBFloat16: pattern)
      #expect(HalfConversion.bfloat16(from: value) == pattern)
      #expect(value.bitPattern == UInt32(pattern) << 16)
    }
  }

  @Test func jsonParsesKeepsOrderAndExactIntegersAndRoundTrips() throws {
    let text = #"{"z": [1, -2, 3.5e2, 1e-3, true, null], "a": {"s": "tab\t\"q\" \u00e9 \ud83d\ude00"}, "big": 123456789012345678}"#
    let value = try JSONValue.parse(Array(text.utf8))
    #expect(value.members?.map(\.key) == ["z", "a", "big"])
    #expect(value["big"]?.integer == 123_456_789_012_345_678)
    #expect(value["z"]?.array?.map(\.typeName) == ["integer", "integer", "number", "number", "boolean", "null"])
    #expect(value["z"]?.array?[2].double == 350)
    #expect(value["a"]?["s"]?.string == "tab\t\"q\" é 😀")
    #expect(try JSONValue.parse(Array(value.serialized.utf8)) == value)
  }

  @Test func jsonErrorsNameTheirOffset() {
    let cases: [(String, Int)] = [
      (#"{"a": 1,}"#, 8), (#"{"a" 1}"#, 5), ("[1, 2", 5), (#"{"a": 01}"#, 6), (#""abc"#, 0),
      (#"{"a": 1, "a": 2}"#, 9), ("[1] x", 4), ("nul", 0),
    ]
    for (text, offset) in cases {
      do {
        _ = try JSONValue.parse(Array(text.utf8))
        Issue.record("\(text) parsed")
      } catch {
        #expect(error.offset == offset, "\(text): \(error)")
      }
    }
    let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
    #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(deep.utf8)) }
  }
}
