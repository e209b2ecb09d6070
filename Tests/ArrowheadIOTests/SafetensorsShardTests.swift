import ArrowheadIO
import Testing

@Suite("Sharded safetensors models")
struct SafetensorsShardTests {
  /// Two shards and an index, as Hugging Face writes them.
  func makeShardedModel(indexJSON: String? = nil) throws -> String {
    let directory = safetensorsTemporaryDirectory()
    let first = try SafetensorsWriter(path: directory + "/model-00001-of-00002.safetensors")
    try first.add("a", dtype: .f32, shape: [2], values: [Float(1), 2])
    try first.add("b", dtype: .f32, shape: [1], values: [Float(3)])
    try first.finish()
    let second = try SafetensorsWriter(path: directory + "/model-00002-of-00002.safetensors")
    try second.add("c", dtype: .f16, shape: [2], values: [UInt16(0x3C00), 0xC000])  // 1, -2
    try second.finish()
    let index = indexJSON ?? """
      {"metadata": {"total_size": 18}, "weight_map": {"a": "model-00001-of-00002.safetensors",
       "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
      """
    writeFixture(Array(index.utf8), to: directory + "/model.safetensors.index.json")
    return directory
  }

  @Test func aShardedModelListsEveryTensorFromItsShard() throws {
    let directory = try makeShardedModel()
    for path in [directory, directory + "/model.safetensors.index.json"] {
      let model = try SafetensorsModel(path: path)
      #expect(model.files.count == 2)
      #expect(model.entries.map(\.name) == ["a", "b", "c"])
      #expect(model.metadata["total_size"] == "18")
      let c = try #require(model.entry("c"))
      #expect(try c.file.floats("c") == [1, -2])
      #expect(model.dataByteCount == 8 + 4 + 4)
    }
  }

  @Test func anIndexPointingAtTheWrongShardIsAnError() throws {
    let directory = try makeShardedModel(indexJSON: """
      {"weight_map": {"a": "model-00002-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
       "c": "model-00002-of-00002.safetensors"}}
      """)
    do {
      _ = try SafetensorsModel(path: directory)
      Issue.record("expected an error")
    } catch {
      #expect(error.tensor == "a")
      #expect(error.kind == .missingTensor || error.kind == .invalidIndex)
    }
  }

  @Test func aMissingShardOrAMalformedIndexIsAnError() throws {
    let directory = try makeShardedModel(indexJSON: #"{"weight_map": {"a": "model-00009-of-00009.safetensors"}}"#)
    #expect(throws: SafetensorsError.self) { try SafetensorsModel(path: directory) }
    let broken = try makeShardedModel(indexJSON: #"{"weight_map": {"a": }"#)
    do {
      _ = try SafetensorsModel(path: broken)
      Issue.record("expected an error")
    } catch {
      #expect(error.kind == .malformedJSON)
      #expect(error.offset == 21)  // the '}' where a value was expected
    }
    let escaping = try makeShardedModel(indexJSON: #"{"weight_map": {"a": "../../etc/passwd"}}"#)
    #expect(throws: SafetensorsError.self) { try SafetensorsModel(path: escaping) }
  }

  @Test func aTensorInTwoShardsIsADuplicate() throws {
    let directory = safetensorsTemporaryDirectory()
    for shard in ["s1.safetensors", "s2.safetensors"] {
      let writer = try SafetensorsWriter(path: directory + "/" + shard)
      try writer.add("same", dtype: .f32, shape: [1], values: [Float(1)])
      try writer.finish()
    }
    writeFixture(Array(#"{"weight_map": {"same": "s1.safetensors", "x": "s2.safetensors"}}"#.utf8), to: directory + "/model.safetensors.index.json")
    do {
      _ = try SafetensorsModel(path: directory)
      Issue.record("expected an error")
    } catch {
      #expect(error.kind == .duplicateTensor && error.tensor == "same")
    }
  }

  @Test func aDirectoryWithASingleFileOpensIt() throws {
    let directory = safetensorsTemporaryDirectory()
    let writer = try SafetensorsWriter(path: directory + "/model.safetensors")
    try writer.add("only", dtype: .f32, shape: [], values: [Float(42)])
    try writer.finish()
    let model = try SafetensorsModel(path: directory)
    #expect(model.entries.map(\.name) == ["only"])
    #expect(model.entries[0].info.elementCount == 1)
    #expect(throws: SafetensorsError.self) { try SafetensorsModel(path: safetensorsTemporaryDirectory()) }
  }
}
