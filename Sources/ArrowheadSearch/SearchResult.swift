import ArrowheadCore

/// One neighbour found by a search: the vector's id and its metric value.
///
/// `score` is the raw metric value, as `Metric` defines it: the squared Euclidean
/// distance for `.squaredL2` (smaller is nearer), q·x for `.innerProduct` and the cosine
/// similarity for `.cosine` (larger is nearer).
public struct Neighbor: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The id the vector was added with.
  public var id: Int
  /// The metric value between the query and the vector.
  public var score: Float

  /// Creates a neighbour.
  public init(id: Int, score: Float) {
    self.id = id
    self.score = score
  }

  /// "id: score".
  public var description: String { "\(id): \(score)" }
}

/// The neighbours of one query, nearest first (ties broken by the lower id for the flat
/// index; by insertion slot for HNSW).
///
/// A search never invents neighbours: when fewer than `k` live vectors exist (or pass
/// the filter), the result holds what exists and `isComplete` is false, so that a caller
/// asking for 100 neighbours of a 40-vector index sees the shortfall instead of padding.
public struct SearchResult: Sendable, Hashable, Codable {
  /// The neighbours found, nearest first; at most `requested`.
  public var neighbors: [Neighbor]
  /// The `k` that was asked for.
  public var requested: Int

  /// Creates a result.
  public init(neighbors: [Neighbor], requested: Int) {
    self.neighbors = neighbors
    self.requested = requested
  }

  /// Whether `requested` neighbours were found.
  public var isComplete: Bool { neighbors.count >= requested }

  /// The ids, nearest first.
  public var ids: [Int] { neighbors.map(\.id) }

  /// The scores, nearest first.
  public var scores: [Float] { neighbors.map(\.score) }
}

/// Per-call search settings. Every field has a default that the index fills in, so
/// `SearchParameters()` means "the index's defaults".
///
/// Parameters are per call (not index state) so that concurrent searches with different
/// settings never interfere.
public struct SearchParameters: Sendable {
  /// HNSW only: the size of the dynamic candidate list on layer 0 (hnswlib's `ef`);
  /// raised to `k` when smaller. nil: the index's `HNSWParameters.efSearch`. Higher
  /// means better recall and slower queries.
  public var efSearch: Int?
  /// For quantized storage that keeps Float32 vectors: how many approximate candidates
  /// are re-scored exactly before the best `k` are returned. nil: `4·k` (see
  /// `VectorStorage`); 0 turns re-ranking off.
  public var rerankCandidates: Int?
  /// Threads for a batch search; nil: the engine's thread count. At most the logical
  /// cores this process may run on are used (more only add thread switches). Single-query
  /// searches run on the calling thread.
  public var threads: Int?
  /// Flat indexes with Float32 storage: whether a batch search first scores every pair
  /// with int8 dot products and re-scores in Float32 only the pairs that a proven error
  /// bound does not exclude (see `FlatIndex`). The results are exact either way. nil:
  /// automatic: on when the engine's int8 product is compiled for AVX2 or newer, over at
  /// least 1 024 vectors, for batches of at least 16 queries of 64 or more dimensions, and
  /// for smaller batches once the index has served 256 queries since its vectors last
  /// changed (24 or more dimensions where that product runs AVX-512 VNNI, 256 or more
  /// elsewhere).
  public var int8Screening: Bool?

  /// Creates parameters; every nil means "the index's default".
  public init(efSearch: Int? = nil, rerankCandidates: Int? = nil, threads: Int? = nil, int8Screening: Bool? = nil) {
    self.efSearch = efSearch
    self.rerankCandidates = rerankCandidates
    self.threads = threads
    self.int8Screening = int8Screening
  }
}

/// A predicate on ids that a search applies while it runs: vectors whose id fails it are
/// never returned (HNSW still walks through them, so the graph stays connected).
public typealias SearchFilter = @Sendable (Int) -> Bool
