import Arrowhead
import ArrowheadQuant
import Testing

@Suite("Quantized file format and bit allocation")
struct QuantizedFileTests {
  let directory = quantTemporaryDirectory()

  /// Writes a quantized file holding one tensor `w`, then lets `tamper` rewrite metadata or
  /// companions through a second writer (which keeps the original checksums: open the
  /// result with `verifyChecksums: false` to reach the structural checks).
  func writeFile(
    mode: QuantizationMode = .zeroPoint, metadata: (inout [String: String]) -> Void = { _ in },
    replace: [String: (SafetensorsDType, [Int], [UInt8])] = [:]
  ) throws -> String {
    let good = directory + "/good-\(mode).safetensors"
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(16), mode: mode)
    let tensor = try Quantizer(scheme: scheme).quantize(weightLikeValues(4 * 40, seed: 3), shape: [4, 40])
    let writer = try QuantizedModelWriter(path: good)
    try writer.add("w", tensor)
    try writer.finish()
    let source = try SafetensorsFile(path: good)
    var newMetadata = source.metadata
    metadata(&newMetadata)
    let path = directory + "/tampered-\(mode).safetensors"
    let tampered = try SafetensorsWriter(path: path, metadata: newMetadata)
    for info in source.tensors {
      if let (dtype, shape, bytes) = replace[info.name] {
        try tampered.add(info.name, dtype: dtype, shape: shape, values: bytes)
      } else {
        try tampered.addCopy(of: info, from: source)
      }
    }
    try tampered.finish()
    return path
  }

  @Test(arguments: QuantizationMode.allCases)
  func anUntamperedFileReadsBack(_ mode: QuantizationMode) throws {
    let file = try QuantizedModelFile(path: try writeFile(mode: mode))
    let tensor = try file.tensor("w")
    #expect(tensor.shape == [4, 40] && tensor.scheme.mode == mode)
    #expect(file.entries.count == 1)
  }

  @Test func anotherVersionOrAPlainFileIsRefused() throws {
    let newer = try writeFile { $0[QuantizedModelFormat.versionKey] = "3" }
    #expect(throws: QuantizationError.self) { try QuantizedModelFile(path: newer, verifyChecksums: false) }
    let plain = try writeFile { $0[QuantizedModelFormat.formatKey] = nil }
    do {
      _ = try QuantizedModelFile(path: plain, verifyChecksums: false)
      Issue.record("plain file accepted")
    } catch {
      #expect("\(error)".contains("not an Arrowhead quantized file"))
    }
  }

  @Test func malformedDescriptionsAndCompanionsNameTheTensor() throws {
    let badJSON = try writeFile { $0[QuantizedModelFormat.tensorKeyPrefix + "w"] = "{\"bits\": 4," }
    #expect(throws: QuantizationError.self) { try QuantizedModelFile(path: badJSON, verifyChecksums: false) }
    let badBits = try writeFile { $0[QuantizedModelFormat.tensorKeyPrefix + "w"] = #"{"bits":5,"granularity":"group","group_size":16,"mode":"zero_point","shape":[4,40],"dtype":"F32"}"# }
    #expect(throws: QuantizationError.self) { try QuantizedModelFile(path: badBits, verifyChecksums: false) }
    // Codes of the wrong shape: the file opens (lazy), loading the tensor fails naming it.
    let wrongShape = try writeFile(replace: ["w.__codes": (.u8, [4, 19], [UInt8](repeating: 0, count: 76))])
    do {
      _ = try QuantizedModelFile(path: wrongShape, verifyChecksums: false).tensor("w")
      Issue.record("wrong companion shape accepted")
    } catch {
      guard case .invalidQuantizedFile(_, let tensor, let reason) = error else { Issue.record("\(error)"); return }
      #expect(tensor == "w" && reason.contains("w.__codes"))
    }
    // A non-finite scale is refused with the group index.
    var scales = [UInt8]()
    for index in 0..<12 { scales += withUnsafeBytes(of: index == 5 ? Float.nan : Float(0.1)) { Array($0) } }
    let nanScale = try writeFile(replace: ["w.__scales": (.f32, [4, 3], scales)])
    #expect(throws: QuantizationError.invalidParameters(tensor: "w", group: 5, reason: "scale nan is not finite")) {
      try QuantizedModelFile(path: nanScale, verifyChecksums: false).tensor("w")
    }
  }

  @Test func theAllocationTakesTheCheapestStepsDown() throws {
    // A: 8→4 saves 400 bits for +1.0 error (0.0025/bit); B: 8→4 saves 400 for +0.1
    // (0.00025/bit), B: 4→2 saves 200 for +0.2 (0.001/bit). Budget 5 × 200 weights = 1000
    // bits from 1600: B→4 (1200), then B→2 (1000) — A stays at 8.
    let a = BitAllocation.Candidate(name: "a", count: 100, options: [
      .init(bits: 8, storedBytes: 100, weightedSquaredError: 0), .init(bits: 4, storedBytes: 50, weightedSquaredError: 1),
      .init(bits: 2, storedBytes: 25, weightedSquaredError: 10),
    ])
    let b = BitAllocation.Candidate(name: "b", count: 100, options: [
      .init(bits: 2, storedBytes: 25, weightedSquaredError: 0.3), .init(bits: 8, storedBytes: 100, weightedSquaredError: 0),
      .init(bits: 4, storedBytes: 50, weightedSquaredError: 0.1),
    ])
    #expect(try BitAllocation.allocate([a, b], budget: 5) == [8, 2])
    #expect(try BitAllocation.allocate([a, b], budget: 8) == [8, 8])
    #expect(try BitAllocation.allocate([a, b], budget: 2) == [2, 2])
    #expect(throws: QuantizationError.self) { try BitAllocation.allocate([a, b], budget: 1.9) }
  }
}
