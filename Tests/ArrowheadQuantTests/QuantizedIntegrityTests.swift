import Arrowhead
import ArrowheadIO
import ArrowheadQuant
import Foundation
import Testing

/// Issue 15: checksums, parameter checks on load, finite output, old versions.
@Suite("Quantized file integrity")
struct QuantizedIntegrityTests {
  let directory = quantTemporaryDirectory()

  /// The committed fixtures (Tests/Fixtures/quantized-v1; see its README).
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/quantized-v1").path

  /// A version 2 file holding tensor `w` (4 × 40, INT4 groups of 16) in `mode`.
  func quantizedFile(_ name: String = "q.safetensors", mode: QuantizationMode = .floatMinimum) throws -> String {
    let path = directory + "/" + name
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: mode)
    let tensor = try Quantizer(scheme: scheme).quantize(weightLikeValues(4 * 40, seed: 5), shape: [4, 40])
    let writer = try QuantizedModelWriter(path: path, metadata: ["source": "test"])
    try writer.add("w", tensor)
    try writer.finish()
    return path
  }

  func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
  func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

  /// `path` with the byte at `offset` XOR-ed with `mask`, as a new file.
  func flipped(_ path: String, at offset: Int, mask: UInt8 = 0x10) throws -> String {
    var content = try bytes(path)
    content[offset] ^= mask
    let copy = path + ".flipped-\(offset)"
    try write(content, copy)
    return copy
  }

  @Test func aVersion2FileCarriesChecksumsThatVerify() throws {
    let path = try quantizedFile()
    let file = try QuantizedModelFile(path: path)
    #expect(file.formatVersion == 2)
    #expect(file.userMetadata == ["source": "test"])
    let raw = try SafetensorsFile(path: path)
    let checksums = try #require(raw.metadata[QuantizedModelFormat.checksumsKey])
    #expect(checksums.contains("\"algorithm\":\"crc32\""))
    for info in raw.tensors {
      let expected = SafetensorsChecksum.hex(
        SafetensorsChecksum.tensor(name: info.name, dtype: info.dtype, shape: info.shape, bytes: raw.bytes(of: info)))
      #expect(checksums.contains("\"\(info.name)\":\"\(expected)\""))
    }
  }

  @Test func everyFlippedBodyByteIsDetectedNamingTheTensor() throws {
    let path = try quantizedFile()
    let raw = try SafetensorsFile(path: path)
    let original = try bytes(path)
    // Every byte of every tensor: one flipped bit must be caught (CRC-32 detects all
    // single-bit errors).
    for info in raw.tensors {
      for offset in info.fileOffset..<(info.fileOffset + info.byteCount) {
        var content = original
        content[offset] ^= 0x01
        let copy = directory + "/flip.safetensors"
        try write(content, copy)
        do {
          _ = try QuantizedModelFile(path: copy)
          Issue.record("flipped byte \(offset) of \(info.name) accepted")
        } catch {
          guard case .invalidQuantizedFile(_, let tensor, let reason) = error else { Issue.record("\(error)"); continue }
          #expect(tensor == info.name && reason.contains("checksum"), "\(reason)")
        }
      }
    }
    // Without verification the flipped file opens (what `verifyChecksums: false` trades).
    let flipped = try flipped(path, at: raw.tensors[0].fileOffset)
    #expect(throws: Never.self) { _ = try QuantizedModelFile(path: flipped, verifyChecksums: false) }
  }

  @Test func anAlteredHeaderValueIsDetected() throws {
    let path = try quantizedFile()
    var content = try bytes(path)
    // Change the user metadata value "test" to "tEst": still valid JSON, same length.
    let needle = Array("\"test\"".utf8)
    let at = try #require((0..<(content.count - needle.count)).first { Array(content[$0..<($0 + needle.count)]) == needle })
    content[at + 2] = UInt8(ascii: "E")
    let altered = directory + "/altered.safetensors"
    try write(content, altered)
    do {
      _ = try QuantizedModelFile(path: altered)
      Issue.record("an altered metadata value was accepted")
    } catch {
      #expect(error.description.contains("metadata checksum"), "\(error)")
    }
  }

  @Test func theVersion1GoldenFileStillReadsAndDequantizesAsBefore() throws {
    let v1 = Self.fixtures + "/v1.safetensors"
    let file = try QuantizedModelFile(path: v1)
    #expect(file.formatVersion == 1)
    #expect(file.entries.count == 6)  // 2 quantized, embed kept, bias, position_ids, 1 activation set
    let activations = try file.activationParameters("layer.a")
    #expect(activations.grouping.timesteps == 10 && activations.grouping.groups == 2)
    // Dequantizing it now gives exactly what the version 1 reader wrote.
    let output = directory + "/v1.f32.safetensors"
    let report = try ModelDequantizer.dequantize(input: v1, output: output)
    #expect(report.dequantized == 2 && report.copied == 3 && report.droppedActivations == 1)
    let now = try SafetensorsFile(path: output)
    let then = try SafetensorsFile(path: Self.fixtures + "/v1.dequantized.safetensors")
    #expect(now.tensors.map(\.name).sorted() == then.tensors.map(\.name).sorted())
    for info in then.tensors {
      let mine = try #require(now.tensors.first { $0.name == info.name })
      #expect(Array(now.bytes(of: mine)) == Array(then.bytes(of: info)), "\(info.name)")
    }
  }

  /// Stored activation parameters get the weights' checks on load: supported bits, storable
  /// parameters, every code finite (the version 1 fixture has no checksums, so its bytes can
  /// be edited as a wrong writer would have written them). They were returned unchecked:
  /// `bits` 9 and a NaN scale reached the caller.
  @Test func activationParametersAreCheckedOnLoad() throws {
    let v1 = try bytes(Self.fixtures + "/v1.safetensors")
    let raw = try SafetensorsFile(path: Self.fixtures + "/v1.safetensors")
    func loadError(_ content: [UInt8], _ name: String) throws -> String? {
      let path = directory + "/" + name
      try write(content, path)
      do {
        _ = try QuantizedModelFile(path: path).activationParameters("layer.a")
        return nil
      } catch {
        return error.description
      }
    }
    #expect(try loadError(v1, "unchanged.safetensors") == nil)
    for (tensor, index, value, expected) in [
      ("layer.a.__act_scales", 1, Float.nan, "activation time group 1: scale nan is not finite"),
      ("layer.a.__act_timestep_scales", 7, Float.greatestFiniteMagnitude, "activation timestep 7: scale"),
      ("layer.a.__act_offsets", 0, Float(2.5), "activation time group 0: zero-point 2.5"),
    ] {
      let info = try #require(raw.tensors.first { $0.name == tensor })
      var content = v1
      withUnsafeBytes(of: value) { for i in 0..<4 { content[info.fileOffset + 4 * index + i] = $0[i] } }
      let error = try #require(try loadError(content, "\(tensor)-\(index).safetensors"), "\(tensor) \(value) accepted")
      #expect(error.contains(expected) && error.contains("layer.a"), "\(error)")
    }
    // The metadata value `{"timesteps":10,"groups":2,"bits":8,…}` sits JSON-escaped in the header.
    let pattern = Array(#"\"bits\":8"#.utf8)
    let at = try #require((0...(v1.count - pattern.count)).first { Array(v1[$0..<($0 + pattern.count)]) == pattern })
    var nine = v1
    nine[at + pattern.count - 1] = UInt8(ascii: "9")
    let error = try #require(try loadError(nine, "bits9.safetensors"), "bits 9 accepted")
    #expect(error.contains("activation bits 9 is not one of 2, 3, 4, 8"), "\(error)")
  }

  /// The file with `w`'s scale `group` replaced by `value` (checksums off: they would catch
  /// the change first; this is about files written wrongly, not corrupted).
  func withScale(_ value: Float, group: Int, mode: QuantizationMode = .floatMinimum) throws -> String {
    let path = try quantizedFile("s-\(value)-\(mode).safetensors", mode: mode)
    let raw = try SafetensorsFile(path: path)
    let scales = try #require(raw.tensors.first { $0.name == QuantizedModelFormat.scalesName("w") })
    var content = try bytes(path)
    withUnsafeBytes(of: value) { for i in 0..<4 { content[scales.fileOffset + 4 * group + i] = $0[i] } }
    let copy = path + ".scaled"
    try write(content, copy)
    return copy
  }

  @Test(arguments: QuantizationMode.allCases)
  func aScaleThatOverflowsTheReconstructionIsRefused(_ mode: QuantizationMode) throws {
    let path = try withScale(3e38, group: 2, mode: mode)
    do {
      _ = try QuantizedModelFile(path: path, verifyChecksums: false).tensor("w")
      Issue.record("scale 3e38 accepted")
    } catch {
      guard case .invalidParameters(let tensor, let group, let reason) = error else { Issue.record("\(error)"); return }
      #expect(tensor == "w" && group == 2 && reason.contains("beyond the Float32 range"), "\(reason)")
    }
  }

  @Test func aZeroScaleIsAcceptedOnlyWithTheCodeTheQuantizerWrites() throws {
    // Group 1 holds varied weights, so its codes are not all 0: scale 0 there is refused.
    let path = try withScale(0, group: 1)
    do {
      _ = try QuantizedModelFile(path: path, verifyChecksums: false).tensor("w")
      Issue.record("scale 0 with varied codes accepted")
    } catch {
      guard case .invalidParameters(_, let group, let reason) = error else { Issue.record("\(error)"); return }
      #expect(group == 1 && reason.contains("scale 0 but code"), "\(reason)")
    }
    // A constant group quantizes to scale 0 with code 0: that file loads.
    let constant = directory + "/constant.safetensors"
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: .floatMinimum)
    var values = weightLikeValues(2 * 32, seed: 9)
    for i in 0..<16 { values[i] = 0.25 }
    let tensor = try Quantizer(scheme: scheme).quantize(values, shape: [2, 32])
    #expect(tensor.scales[0] == 0)
    let writer = try QuantizedModelWriter(path: constant)
    try writer.add("w", tensor)
    try writer.finish()
    let loaded = try QuantizedModelFile(path: constant).tensor("w")
    #expect(Array(loaded.dequantized()[0..<16]) == [Float](repeating: 0.25, count: 16))
  }

  @Test func dequantizeRefusesValuesThatOverflowTheOutputDType() throws {
    // A kept F32 tensor holding 1e5 does not fit F16 (largest 65504).
    let input = directory + "/big.safetensors"
    let writer = try SafetensorsWriter(path: input)
    try writer.add("embed.weight", dtype: .f32, shape: [2, 2], values: [1, 2, 1e5, 3] as [Float])
    try writer.add("layer.weight", dtype: .f32, shape: [8, 16], values: weightLikeValues(128, seed: 2))
    try writer.finish()
    let quantized = directory + "/big.q.safetensors"
    let scheme = try QuantizationScheme(bits: 8, granularity: .perGroup(16), mode: .floatMinimum)
    _ = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme)).quantize(input: input, output: quantized)
    let output = directory + "/big.f16.safetensors"
    #expect(throws: QuantizationError.nonFiniteOutput(tensor: "embed.weight", index: 2, value: 1e5, dtype: "F16")) {
      try ModelDequantizer.dequantize(input: quantized, output: output, dtype: .f16)
    }
    #expect(!FileManager.default.fileExists(atPath: output))
    // Asked explicitly, it is written (as +∞).
    _ = try ModelDequantizer.dequantize(input: quantized, output: output, dtype: .f16, allowNonFinite: true)
    let half = try SafetensorsFile(path: output).floats("embed.weight")
    #expect(half[2] == .infinity)
    // F32 keeps it.
    _ = try ModelDequantizer.dequantize(input: quantized, output: directory + "/big.f32.safetensors")
  }

  @Test func anOutputThatIsTheInputIsRefusedBeforeAnyWork() throws {
    let path = try quantizedFile()
    let before = try bytes(path)
    #expect(throws: QuantizationError.self) { try ModelDequantizer.dequantize(input: path, output: path) }
    let model = directory + "/m.safetensors"
    let writer = try SafetensorsWriter(path: model)
    try writer.add("layer.weight", dtype: .f32, shape: [8, 16], values: weightLikeValues(128, seed: 2))
    try writer.finish()
    let modelBytes = try bytes(model)
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: .floatMinimum)
    do {
      _ = try ModelQuantizer(options: ModelQuantizationOptions(scheme: scheme)).quantize(input: model, output: directory + "/./m.safetensors")
      Issue.record("quantize overwrote its input")
    } catch {
      #expect(error.description.contains("is the input"), "\(error)")
    }
    #expect(try bytes(path) == before && bytes(model) == modelBytes)
  }
}

@Suite("Time-aware limits")
struct TimeAwareLimitTests {
  @Test func aHugeCalibrationTimestepIsRefusedAtItsLine() throws {
    let text = """
      {"layer": "a", "timestep": 0, "min": -1, "max": 1}
      {"layer": "a", "timestep": 1000000000000, "min": -1, "max": 1}
      """
    do {
      _ = try CalibrationSet.parse(jsonLines: Array(text.utf8), file: "c.jsonl")
      Issue.record("timestep 1e12 accepted")
    } catch {
      guard case .invalidCalibration(let file, let line, let reason) = error else { Issue.record("\(error)"); return }
      #expect(file == "c.jsonl" && line == 2 && reason.contains("0…1048575"), "\(reason)")
    }
  }

  @Test func timestepsAboveTheLimitAreRefused() {
    #expect(throws: QuantizationError.self) { try TimeGrouping(timesteps: Int.max, groups: 2) }
    #expect(throws: QuantizationError.self) { try TimeGrouping(timesteps: TimeGrouping.maximumTimesteps + 1, groups: 2) }
    #expect(throws: Never.self) { try TimeGrouping(timesteps: TimeGrouping.maximumTimesteps, groups: 2) }
  }

  @Test func calibratingALargeTAndFewRecordsDoesNotVisitEveryTimestep() throws {
    // T = 2²⁰ with records at 3 timesteps: the groups are found from the records (not by
    // visiting every timestep of every group, which made the work grow with T).
    var set = CalibrationSet()
    for t in [0, 600_000, 1_048_575] {
      set.add(layer: "a", timestep: t, TimestepStatistics(minimum: -Float(t + 1) / 1e6, maximum: 1, count: 1))
    }
    let grouping = try TimeGrouping(timesteps: TimeGrouping.maximumTimesteps, groups: 2)
    let configuration = try TimeAwareConfiguration(grouping: grouping, bits: 8, estimator: .minMax, smoothing: nil)
    let layer = try TimeAwareCalibrator.parameters(forLayer: "a", in: set, configuration: configuration)
    #expect(layer.groupRanges.map(\.lower) == [-1e-6, -1.048576])
  }
}
