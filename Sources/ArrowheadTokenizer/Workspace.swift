/// Scratch buffers of one encoding pass, reused from text to text so that encoding a
/// batch allocates only the output arrays.
struct Workspace {
  /// The text's Unicode scalars.
  var input: [UInt32] = []
  /// The normalised scalars of the current segment.
  var normalized: [UInt32] = []
  /// For each normalised scalar, the index of the input scalar it came from.
  var origin: [Int32] = []
  /// Combining marks waiting for canonical reordering (NFD): scalar, class, whether it
  /// is the first scalar of its input character's decomposition, input index.
  var pendingScalars: [UInt32] = []
  var pendingClasses: [UInt8] = []
  var pendingFirst: [Bool] = []
  var pendingOrigins: [Int32] = []
  /// The origin of the last input character NFD consumed (alignment of inserted scalars).
  var lastOrigin: Int32 = 0
  /// Incremental hashes of the current WordPiece candidates.
  var hashes: [UInt64] = []
  /// The text's tokens before truncation and the template.
  var ids: [Int32] = []
  var offsets: [TokenOffset] = []

  init() {}

  /// Decodes `text` into `input`, one element per Unicode scalar.
  mutating func load(_ text: String) {
    input.removeAll(keepingCapacity: true)
    var text = text
    text.withUTF8 { bytes in
      input.reserveCapacity(bytes.count)
      var i = 0
      let count = bytes.count
      while i < count {
        let lead = UInt32(bytes[i])
        if lead < 0x80 {
          input.append(lead)
          i += 1
        } else if lead < 0xE0 {
          input.append((lead & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))
          i += 2
        } else if lead < 0xF0 {
          input.append((lead & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
          i += 3
        } else {
          input.append((lead & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                       | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F))
          i += 4
        }
      }
    }
  }
}
