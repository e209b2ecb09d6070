import ArrowheadIO
import Testing

/// Every defect of a corrupted or truncated file must be a `SafetensorsError` of the right
/// kind that names the file, and where it applies the tensor and the byte offset.
@Suite("Safetensors corrupted files")
struct SafetensorsCorruptionTests {
  let directory = safetensorsTemporaryDirectory()

  func open(_ bytes: [UInt8], _ name: String = "bad.safetensors") -> SafetensorsError? {
    let path = directory + "/" + name
    writeFixture(bytes, to: path)
    do {
      _ = try SafetensorsFile(path: path)
      return nil
    } catch {
      #expect(error.file == path)
      #expect(error.description.hasPrefix(path + ":"))
      return error
    }
  }

  let good = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

  @Test func aFileTooShortForTheLengthIsRejected() {
    let error = open([1, 2, 3])
    #expect(error?.kind == .headerLength && error?.offset == 0)
  }

  @Test func aZeroOrOversizedHeaderLengthIsRejected() {
    #expect(open([0, 0, 0, 0, 0, 0, 0, 0, 1])?.kind == .headerLength)
    // A length larger than the file (truncated header).
    var bytes = handMadeSafetensors(header: good, data: floatBytes([1, 2]))
    bytes.removeLast(bytes.count - 20)
    let truncated = open(bytes)
    #expect(truncated?.kind == .headerLength)
    #expect(truncated?.reason.contains("runs past the end") == true)
    // A length above the 100 MiB limit (random bytes are typically this).
    let huge = withUnsafeBytes(of: UInt64(1) << 40) { Array($0) } + [UInt8](repeating: 0x7B, count: 16)
    #expect(open(huge)?.kind == .headerLength)
  }

  @Test func malformedJSONNamesTheByteOffset() {
    // The stray '@' is at byte 5 of the header, i.e. byte 13 of the file.
    let error = open(handMadeSafetensors(header: #"{"w":@}"#, data: []))
    #expect(error?.kind == .malformedJSON)
    #expect(error?.offset == 8 + 5)
    #expect(open(handMadeSafetensors(header: "[1, 2]", data: []))?.kind == .malformedJSON)
    #expect(open(handMadeSafetensors(header: #"{"w": {"dtype": "F32",}}"#, data: []))?.kind == .malformedJSON)
  }

  @Test func anUnknownDTypeIsNamed() {
    let error = open(handMadeSafetensors(header: #"{"w":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2])))
    #expect(error?.kind == .unsupportedDType && error?.tensor == "w")
    #expect(error?.reason.contains("F12") == true)
  }

  @Test func missingOrMistypedFieldsAreInvalidEntries() {
    #expect(open(handMadeSafetensors(header: #"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, data: floatBytes([1, 2])))?.kind == .invalidEntry)
    #expect(open(handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: floatBytes([1, 2])))?.kind == .invalidEntry)
    #expect(open(handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: floatBytes([1, 2])))?.tensor == "w")
    #expect(open(handMadeSafetensors(header: #"{"__metadata__":{"a":1}}"#, data: []))?.kind == .invalidEntry)
  }

  @Test func offsetsOutsideTheDataSectionNameTensorAndOffset() {
    // Data section of 8 bytes but the tensor claims [4, 12].
    let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
    let error = open(handMadeSafetensors(header: header, data: floatBytes([1, 2])))
    #expect(error?.kind == .offsetOutOfRange && error?.tensor == "w")
    #expect(error?.offset == 8 + header.utf8.count + 4)
    // begin > end.
    #expect(open(handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: floatBytes([1, 2])))?.kind == .offsetOutOfRange)
    // A truncated data section: the header is intact but the data was cut.
    var bytes = handMadeSafetensors(header: good, data: floatBytes([1, 2]))
    bytes.removeLast(3)
    #expect(open(bytes)?.kind == .offsetOutOfRange)
  }

  @Test func overlappingTensorsNameBoth() {
    let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
    let error = open(handMadeSafetensors(header: header, data: floatBytes([1, 2, 3])))
    #expect(error?.kind == .overlappingTensors && error?.tensor == "b")
    #expect(error?.reason.contains("'a'") == true)
    #expect(error?.offset == 8 + header.utf8.count + 4)
  }

  @Test func aByteCountThatDisagreesWithShapeAndDTypeIsNamed() {
    let header = #"{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}}"#
    let error = open(handMadeSafetensors(header: header, data: floatBytes([1, 2])))
    #expect(error?.kind == .byteCountMismatch && error?.tensor == "w")
    #expect(error?.offset == 8 + header.utf8.count)
    #expect(error?.reason.contains("needs 6") == true)
  }

  @Test func aMissingFileIsAnIOError() {
    #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: directory + "/absent.safetensors") }
  }
}
