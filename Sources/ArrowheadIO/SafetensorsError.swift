/// An error reading or writing a safetensors file (or a sharded model's index).
///
/// Every error names the file, and where it applies the tensor and the absolute byte
/// offset in the file, e.g.
/// `model.safetensors: tensor 'encoder.w' at byte 4104: data_offsets [0, 4096] hold 4096 bytes but F32 [32, 33] needs 4224`.
public struct SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
  /// What kind of problem it is.
  public enum Kind: String, Sendable, Equatable, CaseIterable {
    /// The file could not be opened, read, mapped or written.
    case io
    /// The 8-byte header length is missing, zero or larger than the file.
    case headerLength
    /// The header (or index) is not valid JSON.
    case malformedJSON
    /// A header entry lacks a field or has one of the wrong type or value.
    case invalidEntry
    /// The dtype is unknown, or cannot be converted as asked.
    case unsupportedDType
    /// A tensor's byte range does not lie inside the data section.
    case offsetOutOfRange
    /// Two tensors' byte ranges overlap.
    case overlappingTensors
    /// The byte range's length differs from what the shape and dtype need.
    case byteCountMismatch
    /// A tensor that was asked for (or that an index names) is absent.
    case missingTensor
    /// A tensor name occurs twice (in one writer, or in two shards).
    case duplicateTensor
    /// A sharded model's index file is unusable.
    case invalidIndex
  }

  /// The kind of problem.
  public var kind: Kind
  /// The file concerned.
  public var file: String
  /// The tensor concerned, if any.
  public var tensor: String?
  /// The absolute byte offset in `file` where the problem lies, if known.
  public var offset: Int?
  /// A sentence saying what was wrong.
  public var reason: String

  /// Creates an error.
  public init(_ kind: Kind, file: String, tensor: String? = nil, offset: Int? = nil, reason: String) {
    self.kind = kind
    self.file = file
    self.tensor = tensor
    self.offset = offset
    self.reason = reason
  }

  /// "file: tensor 'name' at byte N: reason" (the parts that apply).
  public var description: String {
    var text = file
    if let tensor { text += ": tensor '\(tensor)'" }
    if let offset { text += (tensor == nil ? ": " : " ") + "at byte \(offset)" }
    return text + ": " + reason
  }
}
