import ArrowheadIO
import Testing

@Suite("Safetensors reading and writing")
struct SafetensorsFileTests {
  @Test func writtenFilesReadBackExactlyWithMetadataAndAlignment() throws {
    let path = safetensorsTemporaryDirectory() + "/model.safetensors"
    let writer = try SafetensorsWriter(path: path, metadata: ["format": "pt", "note": "ünïcode \"quoted\""])
    let weights: [Float] = [1.5, -2.25, 3, 0, -0.0, 1e-30]
    try writer.add("codes", dtype: .u8, shape: [3], values: [7, 8, 9] as [UInt8])  // 1-byte, added first
    try writer.add("w", dtype: .f32, shape: [2, 3], values: weights)
    try writer.add("ids", dtype: .i64, shape: [2], values: [Int64(-1), Int64(1 << 40)])
    try weights.withUnsafeBufferPointer { try writer.add("half", shape: [6], floats: $0, as: .f16) }
    try weights.withUnsafeBufferPointer { try writer.add("brain", shape: [2, 3], floats: $0, as: .bf16) }
    try writer.finish()

    let file = try SafetensorsFile(path: path)
    #expect(file.metadata == ["format": "pt", "note": "ünïcode \"quoted\""])
    #expect((8 + file.headerLength) % 8 == 0)
    // Decreasing element size, no holes: I64, F32, F16, BF16, U8.
    #expect(file.tensors.map(\.name) == ["ids", "w", "half", "brain", "codes"])
    var expectedStart = 0
    for tensor in file.tensors {
      #expect(tensor.dataOffsets.lowerBound == expectedStart)
      #expect(tensor.fileOffset % tensor.dtype.size == 0, "\(tensor.name) is not aligned")
      expectedStart = tensor.dataOffsets.upperBound
    }
    #expect(try file.floats("w") == weights)
    // All six values are exactly representable in binary16 and bfloat16 except 1e-30
    // (below both formats' ranges for F16: flushes to 0; representable magnitude-wise in BF16).
    #expect(try file.floats("half") == [1.5, -2.25, 3, 0, -0.0, 0])
    let brain = try file.floats("brain")
    #expect(Array(brain[0..<5]) == [1.5, -2.25, 3, 0, -0.0])
    #expect(abs(brain[5] - 1e-30) <= 1e-30 * 0x1p-8)  // bfloat16 keeps 8 significant bits
    let ids = try file.requireInfo("ids")
    #expect(Array(file.bytes(of: ids)) == [UInt8](repeating: 0xFF, count: 8) + [0, 0, 0, 0, 0, 1, 0, 0])
    #expect(Array(file.bytes(of: try file.requireInfo("codes"))) == [7, 8, 9])
    #expect(file.tensors.first { $0.name == "w" }?.shape == [2, 3])
  }

  @Test func anUnalignedFloat32TensorIsCopiedAndAnIntegerTensorIsRefusedAsFloats() throws {
    let directory = safetensorsTemporaryDirectory()
    let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"i":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}"#
    let data = floatBytes([3.25, -7]) + [1, 0, 0, 0]
    // One trailing space (allowed by the format) makes 8 + N odd.
    let bytes = handMadeSafetensors(header: header + " ", data: data)
    writeFixture(bytes, to: directory + "/odd.safetensors")
    let file = try SafetensorsFile(path: directory + "/odd.safetensors")
    #expect((8 + file.headerLength) % 4 != 0)
    #expect(try file.floats("a") == [3.25, -7])
    #expect {
      try file.floats("i")
    } throws: { error in
      guard let failure = error as? SafetensorsError else { return false }
      return failure.kind == .unsupportedDType && failure.tensor == "i" && failure.offset == file.requireInfoOffset("i")
    }
  }

  @Test func evictingPagesKeepsTheDataReadable() throws {
    let path = safetensorsTemporaryDirectory() + "/big.safetensors"
    let values = (0..<100_000).map { Float($0) * 0.5 }
    let writer = try SafetensorsWriter(path: path)
    try writer.add("v", dtype: .f32, shape: [values.count], values: values)
    try writer.finish()
    let file = try SafetensorsFile(path: path)
    let info = try file.requireInfo("v")
    #expect(try file.floats("v") == values)
    file.evictPages(of: info)
    #expect(try file.floats("v") == values)
  }

  @Test func theWriterRejectsDuplicateNamesAndWrongByteCounts() throws {
    let path = safetensorsTemporaryDirectory() + "/x.safetensors"
    let writer = try SafetensorsWriter(path: path)
    try writer.add("a", dtype: .f32, shape: [1], values: [Float(1)])
    #expect(throws: SafetensorsError.self) { try writer.add("a", dtype: .f32, shape: [1], values: [Float(2)]) }
    do {
      try writer.add("b", dtype: .f32, shape: [2, 2], values: [Float(1), 2, 3])
      Issue.record("expected a byte count error")
    } catch {
      #expect(error.kind == .byteCountMismatch && error.tensor == "b")
      #expect(error.description.contains("12 bytes given but F32 [2, 2] needs 16"))
    }
    #expect(throws: SafetensorsError.self) { try writer.add("__metadata__", dtype: .u8, shape: [0], values: [UInt8]()) }
  }

  @Test func anUnfinishedWriterLeavesNoFileBehind() throws {
    let directory = safetensorsTemporaryDirectory()
    do {
      let writer = try SafetensorsWriter(path: directory + "/never.safetensors")
      try writer.add("a", dtype: .f32, shape: [1000], values: [Float](repeating: 1, count: 1000))
    }
    #expect(directoryListing(directory) == [])
  }

  @Test func aFinishedFileReplacesThePreviousOneAtomically() throws {
    let directory = safetensorsTemporaryDirectory()
    let path = directory + "/m.safetensors"
    for round in 0..<2 {
      let writer = try SafetensorsWriter(path: path)
      try writer.add("round", dtype: .f32, shape: [1], values: [Float(round)])
      try writer.finish()
    }
    #expect(try SafetensorsFile(path: path).floats("round") == [1])
    #expect(directoryListing(directory) == ["m.safetensors"])
  }

  @Test func anUnwritableDestinationFailsBeforeAnyWork() {
    #expect(throws: SafetensorsError.self) { try SafetensorsWriter(path: "/nonexistent-directory/x.safetensors") }
  }
}

extension SafetensorsFile {
  func requireInfoOffset(_ name: String) -> Int? { info(name)?.fileOffset }
}
