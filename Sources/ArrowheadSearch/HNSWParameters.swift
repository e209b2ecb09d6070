/// The parameters of an HNSW graph (Malkov & Yashunin, 2016), as hnswlib names them.
///
/// - `m`: links per node on the upper layers (2·M on layer 0). Memory grows by 8·M bytes
///   per vector; recall at a given speed improves up to M ≈ 16–48 for 50–1000-d data.
///   Default 16, the common choice (and hnswlib's benchmarks').
/// - `efConstruction`: candidate list size while inserting. Build time grows about
///   linearly with it; graph quality saturates around 100–400. Default 200.
/// - `efSearch`: default candidate list size on layer 0 at query time (raised to k when
///   smaller); overridable per call with `SearchParameters.efSearch`. Default 64.
/// - `seed`: the levels of nodes are drawn from a generator seeded with `seed` and the
///   insertion number, so a build on one thread is a deterministic function of (data,
///   order, parameters, seed). Multi-threaded builds draw the same levels, but the links
///   depend on the thread interleaving.
/// - `buildThreads`: threads for `add` (nil: the engine's thread count); at most the
///   logical cores this process may run on (`CPUInfo.current.logicalCores`) run: the
///   inserting workers take spin locks, which more threads than cores only make wait.
/// - `layer0InsertionLinks`: how many neighbours the heuristic may choose for a new node
///   on layer 0, 1 … 2·M (nil: ⌊3·M/2⌋). hnswlib chooses M, faiss 2·M (the layer's
///   capacity). Back-links, pruning and memory are the same for any value (every layer-0
///   record has room for 2·M links). More links raise recall at a given efSearch and cost
///   build time: on MiniLM 29 522 × 384 (M 16, efConstruction 200) recall@10 at ef 64 is
///   0.949 / 0.957 / 0.957 with 16 / 24 / 32, one-thread build CPU time 11–12 / 13 / 16–17 s
///   (module README). Stored in index files (since e9ee9b1; older files read as nil), so
///   later `add`s to a loaded index keep the rule it was built with.
/// - `reuseDeletedSlots`: when true, `add` first places new vectors into slots freed by
///   `remove` (relinking them and repairing their old neighbours, as hnswlib's
///   `replace_deleted`), so memory does not grow under churn. Default false, like hnswlib.
public struct HNSWParameters: Sendable, Hashable, Codable {
  /// Links per node above layer 0 (2·M on layer 0).
  public var m: Int
  /// Candidate list size while building.
  public var efConstruction: Int
  /// Default candidate list size while searching.
  public var efSearch: Int
  /// Seed of the level generator.
  public var seed: UInt64
  /// Threads used by `add` (nil: the engine's).
  public var buildThreads: Int?
  /// Whether `add` reuses slots of removed vectors.
  public var reuseDeletedSlots: Bool
  /// Neighbours chosen for a new node on layer 0 (nil: ⌊3·M/2⌋).
  public var layer0InsertionLinks: Int?

  /// Creates parameters; see the type's overview for the defaults.
  public init(
    m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 42,
    buildThreads: Int? = nil, reuseDeletedSlots: Bool = false, layer0InsertionLinks: Int? = nil
  ) {
    self.m = m
    self.efConstruction = efConstruction
    self.efSearch = efSearch
    self.seed = seed
    self.buildThreads = buildThreads
    self.reuseDeletedSlots = reuseDeletedSlots
    self.layer0InsertionLinks = layer0InsertionLinks
  }

  /// Throws `.invalidParameter` for values outside the supported ranges.
  public func validate() throws(SearchError) {
    guard m >= 2, m <= 2048 else {
      throw .invalidParameter(name: "m", value: "\(m)", expected: "2 … 2048")
    }
    guard efConstruction >= 1, efConstruction <= 1 << 20 else {
      throw .invalidParameter(name: "efConstruction", value: "\(efConstruction)", expected: "1 … 1048576")
    }
    guard efSearch >= 1, efSearch <= 1 << 20 else {
      throw .invalidParameter(name: "efSearch", value: "\(efSearch)", expected: "1 … 1048576")
    }
    if let layer0InsertionLinks, layer0InsertionLinks < 1 || layer0InsertionLinks > 2 * m {
      throw .invalidParameter(
        name: "layer0InsertionLinks", value: "\(layer0InsertionLinks)", expected: "1 … 2·M = \(2 * m)")
    }
    if let buildThreads, buildThreads < 1 {
      throw .invalidParameter(name: "buildThreads", value: "\(buildThreads)", expected: "≥ 1")
    }
  }

  /// The neighbours chosen for a new node on layer 0.
  public var layer0Links: Int { layer0InsertionLinks ?? 3 * m / 2 }

  /// 1/ln(M): the level multiplier (a node reaches level ≥ l with probability M^−l).
  var levelMultiplier: Double { 1 / log(Double(m)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
