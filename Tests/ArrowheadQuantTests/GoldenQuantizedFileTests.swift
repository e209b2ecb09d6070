import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Foundation
import Testing

/// The committed quantized-model golden files (Tests/Fixtures/golden, see its README),
/// written by `arrowhead quantize` from `model.safetensors`: decoded here from the
/// safetensors specification (Foundation's JSON parser, not ArrowheadIO's) and the
/// documented quantized layout (QuantizedModelFormat), and checked against values computed
/// here: the scalar model's codes and parameters, the source's bytes for kept tensors,
/// min-max activation parameters of the calibration's time groups. `QuantizedModelFile`
/// must read them back to the same values. The CLI tests write them again byte for byte.
/// A format change fails these tests and must come with a version bump and new files.
@Suite("Golden files: quantized models")
struct GoldenQuantizedFileTests {
  static let folder = goldenFolder

  /// A safetensors file decoded by hand: tensors by name (dtype, shape, bytes) and metadata.
  struct Decoded {
    var tensors: [String: (dtype: String, shape: [Int], bytes: [UInt8])] = [:]
    var metadata: [String: String] = [:]
  }

  static func decode(_ name: String) throws -> Decoded {
    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
    let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * $1) })
    try #require(8 + length <= bytes.count)
    let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
    let data = Array(bytes[(8 + length)...])
    var decoded = Decoded()
    var ranges: [Range<Int>] = []
    for (key, value) in header {
      let entry = try #require(value as? [String: Any], "\(name): \(key)")
      if key == "__metadata__" {
        decoded.metadata = try #require(entry as? [String: String])
        continue
      }
      let offsets = try #require(entry["data_offsets"] as? [Int])
      let range = offsets[0]..<offsets[1]
      ranges.append(range)
      decoded.tensors[key] = (try #require(entry["dtype"] as? String), try #require(entry["shape"] as? [Int]), Array(data[range]))
    }
    // The tensors tile the data section: no gap, no overlap, nothing after.
    ranges.sort { $0.lowerBound < $1.lowerBound }
    #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound } && ranges.first?.lowerBound == 0)
    #expect(ranges.last?.upperBound == data.count, "\(name): data section fully used")
    return decoded
  }

  static func floats(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count, by: 4).map { at in Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }) }
  }

  /// The source's values of a float tensor (F32, or F16 widened exactly).
  static func sourceValues(_ source: Decoded, _ name: String) throws -> [Float] {
    let tensor = try #require(source.tensors[name])
    switch tensor.dtype {
    case "F32": return floats(tensor.bytes)
    case "F16": return stride(from: 0, to: tensor.bytes.count, by: 2).map { Float(Float16(bitPattern: UInt16(tensor.bytes[$0]) | UInt16(tensor.bytes[$0 + 1]) << 8)) }
    default: throw SourceError(description: "\(name) is \(tensor.dtype)")
    }
  }

  struct SourceError: Error, CustomStringConvertible { var description: String }

  /// Each row of codes a little-endian bit stream (code i at bits i·b …), padded to a byte.
  static func packedRows(_ codes: [UInt8], rows: Int, bits: Int) -> [UInt8] {
    let columns = codes.count / rows
    var packed: [UInt8] = []
    for row in 0..<rows {
      var bytes = [UInt8](repeating: 0, count: (columns * bits + 7) / 8)
      for (i, code) in codes[(row * columns)..<((row + 1) * columns)].enumerated() {
        for bit in 0..<bits where (Int(code) >> bit) & 1 == 1 { bytes[(i * bits + bit) / 8] |= 1 << ((i * bits + bit) % 8) }
      }
      packed += bytes
    }
    return packed
  }

  static let quantized = ["layer.a.weight": [6, 24], "layer.b.weight": [5, 20]]

  /// Format version 2's `arrowhead.checksums`, recomputed with the tests' own bitwise CRC-32
  /// from the documented rule: per tensor CRC-32 of name, 0, dtype, 0, the shape's decimal
  /// dimensions joined by commas, 0, then its bytes; for the metadata CRC-32 of every other
  /// entry in key order as key, 0, value, 0. Each as eight lowercase hex digits, every
  /// tensor listed.
  static func checkChecksums(_ golden: Decoded, _ name: String) throws {
    let text = try #require(golden.metadata["arrowhead.checksums"], "\(name): no checksums")
    let checksums = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    func hex(_ value: UInt32) -> String { String(format: "%08x", value) }
    #expect(checksums["algorithm"] as? String == "crc32")
    var metadataBytes: [UInt8] = []
    for (key, value) in golden.metadata.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) })
    where key != "arrowhead.checksums" {
      metadataBytes += Array(key.utf8) + [0] + Array(value.utf8) + [0]
    }
    #expect(checksums["metadata"] as? String == hex(testCRC32(metadataBytes)), "\(name): metadata checksum")
    let tensors = try #require(checksums["tensors"] as? [String: String])
    #expect(Set(tensors.keys) == Set(golden.tensors.keys), "\(name): one checksum per tensor")
    for (tensor, stored) in golden.tensors {
      let prefix = Array(tensor.utf8) + [0] + Array(stored.dtype.utf8) + [0] + Array(stored.shape.map(String.init).joined(separator: ",").utf8) + [0]
      #expect(tensors[tensor] == hex(testCRC32(prefix + stored.bytes)), "\(name): checksum of \(tensor)")
    }
  }

  /// The golden files: name, scheme, and the scheme's fields in a tensor's description.
  static func file(_ index: Int) throws -> (name: String, scheme: QuantizationScheme, fields: String) {
    index == 0
      ? ("model.int4-g8.safetensors", try QuantizationScheme(bits: 4, granularity: .perGroup(8), mode: .floatMinimum),
         #""bits":4,"granularity":"group","group_size":8,"mode":"float_minimum""#)
      : ("model.int3-channel-symmetric.safetensors", try QuantizationScheme(bits: 3, granularity: .perChannel, mode: .symmetric),
         #""bits":3,"granularity":"channel","mode":"symmetric""#)
  }

  @Test(arguments: 0..<2)
  func theFileHoldsTheDocumentedContents(file index: Int) throws {
    let (name, scheme, fields) = try Self.file(index)
    let golden = try Self.decode(name)
    let source = try Self.decode("model.safetensors")
    // Metadata: the format keys, the source's own, one description per quantized tensor.
    var expected = ["arrowhead.format": "quantized", "arrowhead.format_version": "2", "format": "pt"]
    for (tensor, shape) in Self.quantized {
      let dtype = try #require(source.tensors[tensor]).dtype
      expected["arrowhead.q." + tensor] = #"{\#(fields),"shape":[\#(shape[0]),\#(shape[1])],"dtype":"\#(dtype)","optimizer":"minmax"}"#
    }
    let activations = golden.metadata.filter { $0.key.hasPrefix("arrowhead.act.") }
    #expect(golden.metadata.filter { !$0.key.hasPrefix("arrowhead.act.") && $0.key != "arrowhead.checksums" } == expected)
    try Self.checkChecksums(golden, name)
    // Kept and passed-through tensors: the source's bytes, dtype and shape.
    for kept in ["embed.weight", "layer.a.bias", "position_ids"] {
      let original = try #require(source.tensors[kept]), stored = try #require(golden.tensors[kept], "\(kept)")
      #expect(stored.dtype == original.dtype && stored.shape == original.shape && stored.bytes == original.bytes, "\(kept)")
    }
    // Quantized tensors: codes, scales and minima of the scalar model (written from the
    // documented formulas), in the documented companions.
    var companions = 0
    for (tensor, shape) in Self.quantized {
      let model = scalarModel(try Self.sourceValues(source, tensor), shape: shape, scheme: scheme)
      let groups = model.parameters.count / shape[0]
      let codes = try #require(golden.tensors[tensor + ".__codes"])
      #expect(codes.dtype == "U8" && codes.shape == [shape[0], (shape[1] * scheme.bits + 7) / 8])
      #expect(codes.bytes == Self.packedRows(model.codes, rows: shape[0], bits: scheme.bits), "\(tensor) codes")
      let scales = try #require(golden.tensors[tensor + ".__scales"])
      #expect(scales.dtype == "F32" && scales.shape == [shape[0], groups])
      #expect(Self.floats(scales.bytes) == model.parameters.map(\.scale), "\(tensor) scales")
      companions += 2
      if scheme.mode == .floatMinimum {
        let minimums = try #require(golden.tensors[tensor + ".__minimums"])
        #expect(minimums.dtype == "F32" && minimums.shape == [shape[0], groups])
        #expect(Self.floats(minimums.bytes) == model.parameters.map(\.offset), "\(tensor) minima")
        companions += 1
      }
    }
    // Activation parameters (only the time-aware file): per layer, zero-point 8-bit min-max
    // parameters of each time group's range, computed from the calibration golden's
    // expected statistics; timesteps 0 … 7 in two groups of four.
    var activationTensors = 0
    if name == "model.int4-g8.safetensors" {
      let calibration = try #require(try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: Self.folder + "/calibration.expected.json"))) as? [String: Any])
      let statistics = try #require(calibration["statistics"] as? [String: [[String: Any]]])
      #expect(Set(activations.keys) == ["arrowhead.act.layer.a", "arrowhead.act.layer.b"])
      for layer in ["layer.a", "layer.b"] {
        let text = try #require(activations["arrowhead.act." + layer])
        let description = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(description["timesteps"] as? Int == 8 && description["groups"] as? Int == 2 && description["bits"] as? Int == 8)
        #expect(description["mode"] as? String == "zero_point" && description["range"] as? String == "minmax")
        #expect(description["smoothing"] as? String == "linear" && description["window"] as? Int == 1)
        var scales: [Float] = [], offsets: [Float] = []
        for group in 0..<2 {
          let records = try #require(statistics[layer]).filter { (($0["timestep"] as? Int) ?? -1) / 4 == group }
          // Each extreme rounded to the float32 it stands for (see GoldenCalibrationTests.float).
          let low = try records.map { Float(try #require($0["min"] as? Double)) }.min()!
          let high = try records.map { Float(try #require($0["max"] as? Double)) }.max()!
          let lo = min(low, 0), s = (max(high, 0) - lo) / 255
          scales.append(s)
          offsets.append(min(max((-lo / s).rounded(.toNearestOrEven), 0), 255))
        }
        #expect(Self.floats(try #require(golden.tensors[layer + ".__act_scales"]).bytes) == scales, "\(layer)")
        #expect(Self.floats(try #require(golden.tensors[layer + ".__act_offsets"]).bytes) == offsets, "\(layer)")
        #expect(try #require(golden.tensors[layer + ".__act_group_starts"]).bytes == [0, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0])
        // Linear smoothing over a window of 1 blends only the two timesteps at the boundary
        // (3 and 4); every other timestep keeps its group's parameters.
        let timestepScales = Self.floats(try #require(golden.tensors[layer + ".__act_timestep_scales"]).bytes)
        let timestepOffsets = Self.floats(try #require(golden.tensors[layer + ".__act_timestep_offsets"]).bytes)
        for t in [0, 1, 2, 5, 6, 7] {
          #expect(timestepScales[t] == scales[t / 4] && timestepOffsets[t] == offsets[t / 4], "\(layer) timestep \(t)")
        }
        activationTensors += 5
      }
    } else {
      #expect(activations.isEmpty)
    }
    #expect(golden.tensors.count == 3 + companions + activationTensors, "no other tensors")
    // The library reads the file back to the same values.
    let file = try QuantizedModelFile(path: Self.folder + "/" + name)
    for (tensor, shape) in Self.quantized {
      let model = scalarModel(try Self.sourceValues(source, tensor), shape: shape, scheme: scheme)
      let read = try file.tensor(tensor)
      #expect(read.scheme == scheme && read.shape == shape && read.codes() == model.codes)
      #expect(read.dequantized().map(\.bitPattern) == model.reconstruction.map(\.bitPattern))
    }
  }
}
