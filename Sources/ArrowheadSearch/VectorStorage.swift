import ArrowheadCore

/// How an index stores its vectors: Float32, or scalar-quantized codes (SQ8 / SQ4) with an
/// optional Float32 copy for exact re-ranking.
///
/// Quantized storage uses one affine map per dimension j, trained on the first batch
/// added (its per-dimension minimum mⱼ and maximum Mⱼ):
///   sⱼ = (Mⱼ − mⱼ) / (2^bits − 1),  code = clamp(round_half_even((x − mⱼ) / sⱼ)),
///   x̂ = code·sⱼ + mⱼ,
/// exactly the engine's `.quantize` / `.dequantize` kernels with one group per value
/// (`AffineForm.floatMinimum`), so codes are bit-identical on every backend. Values of
/// later batches outside the trained range are clamped (as faiss' trained scalar
/// quantizer does); train on a representative first batch.
///
/// | encoding | bytes per vector      | typical recall@10 alone (unit vectors) |
/// |----------|-----------------------|----------------------------------------|
/// | float32  | 4·d                   | exact                                  |
/// | int8     | d                     | ~0.9–0.99                              |
/// | int4     | ⌈d/2⌉ (4-bit packed)  | ~0.5–0.8                               |
///
/// With `keepsFloat32ForReranking`, the index also keeps the Float32 vectors and
/// re-scores the best `rerankCandidates` (default 4·k) approximate candidates exactly.
/// Those floats are only read for the few re-ranked candidates; an index loaded from a
/// file keeps them memory-mapped, so they cost page cache touched on demand rather than
/// resident memory (`MemoryUsage.rerankFloat32Bytes` reports them separately).
public struct VectorStorage: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The element encoding.
  public enum Encoding: String, Sendable, Hashable, Codable, CaseIterable {
    /// 4 bytes per value, exact.
    case float32
    /// SQ8: one byte per value, per-dimension scale and offset.
    case int8
    /// SQ4: four bits per value (two per byte, little-endian nibble order), per-dimension
    /// scale and offset.
    case int4

    /// Bits per value.
    public var bits: Int {
      switch self {
      case .float32: 32
      case .int8: 8
      case .int4: 4
      }
    }
  }

  /// The element encoding.
  public var encoding: Encoding
  /// Whether Float32 copies are kept for exact re-ranking (always true for `.float32`).
  public var keepsFloat32ForReranking: Bool

  /// Creates a storage description. `.float32` always keeps its floats.
  public init(_ encoding: Encoding, keepsFloat32ForReranking: Bool = false) {
    self.encoding = encoding
    self.keepsFloat32ForReranking = encoding == .float32 ? true : keepsFloat32ForReranking
  }

  /// Float32 vectors.
  public static let float32 = VectorStorage(.float32)
  /// SQ8 codes only.
  public static let int8 = VectorStorage(.int8)
  /// SQ4 codes only.
  public static let int4 = VectorStorage(.int4)

  /// Whether the vectors are quantized.
  public var isQuantized: Bool { encoding != .float32 }

  /// Bytes of code per vector of `dimension` values (0 for float32).
  ///
  /// - Precondition: `dimension ≥ 0` (a negative one traps: it returned −1 for int8). Index
  ///   initialisers check their dimension (1 … 65 536) with a typed error before using this.
  public func codeBytes(dimension: Int) -> Int {
    precondition(dimension >= 0, "VectorStorage.codeBytes(dimension:): dimension \(dimension) is negative")
    switch encoding {
    case .float32: return 0
    case .int8: return dimension
    case .int4: return dimension / 2 + dimension % 2  // ⌈d/2⌉ without overflow at Int.max
    }
  }

  /// "float32", "int8", "int8+rerank", "int4" …
  public var description: String {
    encoding == .float32 ? "float32" : encoding.rawValue + (keepsFloat32ForReranking ? "+rerank" : "")
  }
}

/// Bytes an index holds, by part.
public struct MemoryUsage: Sendable, Hashable, Codable {
  /// Float32 vectors searched directly (float32 storage).
  public var float32Bytes: Int = 0
  /// Float32 vectors kept only for re-ranking quantized storage.
  public var rerankFloat32Bytes: Int = 0
  /// Quantized codes and their per-dimension parameters.
  public var codeBytes: Int = 0
  /// Graph links and per-node headers (HNSW), norms (flat).
  public var structureBytes: Int = 0
  /// Id tables (empty when ids are the insertion order).
  public var idBytes: Int = 0
  /// Of all the above, the bytes that are views of a memory-mapped index file: paged in
  /// from disk on demand rather than allocated (a loaded index's re-rank copy, or
  /// everything when loaded with `memoryMap`).
  public var mappedBytes: Int = 0

  /// Creates an empty usage record.
  public init() {}

  /// Everything.
  public var total: Int { float32Bytes + rerankFloat32Bytes + codeBytes + structureBytes + idBytes }

  /// The bytes the search itself scans: everything but the re-rank copy.
  public var searchBytes: Int { total - rerankFloat32Bytes }

  /// The bytes allocated in memory (not file mappings).
  public var allocatedBytes: Int { total - mappedBytes }
}
