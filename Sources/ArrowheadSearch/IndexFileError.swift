/// Why an index file could not be written or read back.
///
/// Loading checks, in order: the magic number, the format version, that the header fits
/// the file, the header checksum, that every section lies inside the file and has the
/// length the header's counts imply, each section's checksum, that the padding between
/// sections is zero and nothing follows the last one (so every byte of the file is
/// covered by a checksum or a fixed value), then what the checksums cannot vouch for (a
/// file written with valid checksums over bad contents): the Float32 rows (those `add`
/// would refuse — NaN, ∞, a squared norm whose distances overflow — with
/// `verifyChecksums`), quantizer parameters that decode to finite values, ids unique among
/// live vectors and below the next automatic id, and the structure of an HNSW graph (links
/// in range, counts ≤ capacity, free slots deleted and listed once). A file that passes is
/// safe to search: no corrupted byte can make a search read out of bounds.
public enum IndexFileError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file could not be opened or mapped.
  case cannotOpen(path: String, reason: String)
  /// The file does not start with the Arrowhead index magic ("AHINDEX\0").
  case badMagic(path: String)
  /// The file's format version is not one this build reads.
  case unsupportedVersion(path: String, found: UInt32, supported: [UInt32])
  /// The file ends before the data its header describes.
  case truncated(path: String, needed: Int, available: Int)
  /// A checksum does not match: the bytes of `section` were altered.
  case checksumMismatch(path: String, section: String, stored: UInt32, computed: UInt32)
  /// The header's values contradict each other or the file (a count that does not fit a
  /// section, an unknown enum value, a graph link out of range, a vector row that `add`
  /// would refuse …); `reason` names the row, slot or id.
  case inconsistent(path: String, reason: String)
  /// Writing failed (the previous file, if any, is untouched).
  case writeFailed(path: String, reason: String)
  /// The index cannot be saved in this format (e.g. an index type this writer does not know).
  case unsupported(reason: String)

  /// A one-line message naming the file and what is wrong with it.
  public var description: String {
    switch self {
    case let .cannotOpen(path, reason):
      return "cannot open index '\(path)': \(reason)"
    case let .badMagic(path):
      return "'\(path)' is not an Arrowhead index (bad magic number)"
    case let .unsupportedVersion(path, found, supported):
      return "'\(path)' has index format version \(found); this build reads \(supported.map(String.init).joined(separator: ", "))"
    case let .truncated(path, needed, available):
      return "index '\(path)' is truncated: needs \(needed) bytes, has \(available)"
    case let .checksumMismatch(path, section, stored, computed):
      return "index '\(path)' is corrupted: \(section) checksum \(hex(computed)) ≠ stored \(hex(stored))"
    case let .inconsistent(path, reason):
      return "index '\(path)' is inconsistent: \(reason)"
    case let .writeFailed(path, reason):
      return "cannot write index '\(path)': \(reason)"
    case let .unsupported(reason):
      return "cannot save the index: \(reason)"
    }
  }
}

private func hex(_ value: UInt32) -> String {
  let digits = String(value, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
