import CArrowheadCPU

/// Which slots a graph search may return: not deleted, not `excluded`, and accepted by
/// the user's filter (on ids). Nodes that fail are still walked through.
struct Acceptance {
  /// Deleted bits, nil when nothing is deleted.
  let deleted: UnsafePointer<UInt64>?
  /// slot → id, nil for identity ids.
  let ids: UnsafePointer<Int>?
  let filter: SearchFilter?
  /// A slot never returned (the node being inserted), or UInt32.max.
  var excluded: UInt32 = .max

  @inline(__always)
  var acceptsAll: Bool { deleted == nil && filter == nil && excluded == .max }

  @inline(__always)
  func accepts(_ slot: UInt32) -> Bool {
    if slot == excluded { return false }
    if let deleted, deleted[Int(slot) >> 6] & (1 << UInt64(slot & 63)) != 0 { return false }
    if let filter { return filter(ids.map { $0[Int(slot)] } ?? Int(slot)) }
    return true
  }
}

/// Copies a link list (≤ 2·M words) with 8-word vector moves: a `memmove` call per
/// short list cost ~6 % of a build.
@inline(__always)
func copyLinks(_ source: UnsafePointer<UInt32>, _ count: Int, to destination: UnsafeMutablePointer<UInt32>) {
  var i = 0
  let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(destination)
  while i + 8 <= count {
    to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self), toByteOffset: i * 4, as: SIMD8<UInt32>.self)
    i += 8
  }
  while i < count {
    destination[i] = source[i]
    i += 1
  }
}

/// The entry point and top level while several threads insert.
final class EntryState: @unchecked Sendable {
  private let mutex = PlainMutex()
  private var entry: UInt32
  private var level: Int

  init(entry: UInt32, level: Int) {
    self.entry = entry
    self.level = level
  }

  var current: (entry: UInt32, level: Int) { mutex.locked { (entry, level) } }

  /// Makes `slot` the entry point unconditionally.
  func reset(_ slot: UInt32, level newLevel: Int) {
    mutex.locked {
      entry = slot
      level = newLevel
    }
  }

  /// Makes `slot` the entry point if its level is above the current top.
  func offer(_ slot: UInt32, level newLevel: Int) {
    mutex.locked {
      if newLevel > level || entry == HNSWGraph.none {
        entry = slot
        level = newLevel
      }
    }
  }
}

/// The HNSW algorithms (hnswlib's, re-derived from the paper and its code structure) over
/// one storage encoding `Space`, on a graph whose buffers do not grow while it runs.
///
/// When `locks` is set (building), every read of a link list copies it under the node's
/// lock and every write holds it, so that several workers may insert at once; searches of
/// a finished graph pass nil and read links directly.
struct HNSWWorker<Space: DistanceSpace> {
  let space: Space
  let graph: HNSWGraph
  let slots: Int
  let locks: LockStripes?
  let m: Int
  let efConstruction: Int
  /// Neighbours chosen for a new node on layer 0 (M on the others).
  let layer0Links: Int
  /// While building: per slot, how many leading links of its layer-0 list are what the
  /// last prune chose (nearest first, each kept by the heuristic against every one before
  /// it; links appended since follow them), so that the next prune skips the comparisons
  /// among those (see `pruneLayer0`). Read and written under the node's lock. nil: prune
  /// from scratch.
  let prunedLists: UnsafeMutablePointer<UInt16>?
  /// While building Float32 vectors of many dimensions: SQ8 codes of every slot (see
  /// `HNSWIndex.traversalCodes`) that the insertion searches walk on with the query
  /// rounded to 16-bit integers (`SQ8WalkSpace`), a quarter of the bytes per visited node
  /// and integer dot products; their results are re-ranked with exact distances before
  /// the heuristic chooses links. nil: insertion searches use exact distances.
  let coarse: SQ8WalkSpace?
  /// While building Float32 vectors: per slot, `graph.capacity(0)` floats, the distance
  /// from the node to each of its layer-0 links, in list order (NaN: not known, computed
  /// when needed), so that pruning a full list computes no distance from the node to its
  /// links and fetches a link's vector only for the heuristic's pair comparisons. Read and
  /// written under the node's lock. Exact distances are symmetric, so a cached value is
  /// what recomputing gives, up to the rounding of another kernel variant (the batched
  /// search kernel vs the pair kernel): on exactly representable data the graph is the
  /// one built without the cache (tested). nil: distances are recomputed (quantized
  /// storage, whose search distances are asymmetric).
  let linkDistances: UnsafeMutablePointer<Float>?

  init(
    space: Space, graph: HNSWGraph, slots: Int, locks: LockStripes?, parameters: HNSWParameters,
    prunedLists: UnsafeMutablePointer<UInt16>? = nil, coarse: SQ8WalkSpace? = nil,
    linkDistances: UnsafeMutablePointer<Float>? = nil
  ) {
    self.space = space
    self.graph = graph
    self.slots = slots
    self.locks = locks
    self.m = parameters.m
    self.efConstruction = parameters.efConstruction
    self.layer0Links = parameters.layer0Links
    self.prunedLists = prunedLists
    self.coarse = coarse
    self.linkDistances = linkDistances
  }

  /// The cached distances of `slot`'s layer-0 links (see `linkDistances`), or nil.
  @inline(__always)
  func knownDistances(_ slot: UInt32, _ level: Int) -> UnsafeMutablePointer<Float>? {
    guard level == 0, let linkDistances else { return nil }
    return linkDistances + Int(slot) * graph.capacity(0)
  }

  /// Records how many leading links of `slot`'s layer-0 list a prune chose (caller holds
  /// its lock).
  @inline(__always)
  func setPrunedPrefix(_ slot: UInt32, _ level: Int, _ count: Int) {
    if level == 0, let prunedLists { prunedLists[Int(slot)] = UInt16(count) }
  }

  // MARK: Reading links

  /// The links of `slot` at `level`: a copy made under the node's lock when building.
  @inline(__always)
  func neighbours(_ slot: UInt32, _ level: Int, _ scratch: SearchScratch) -> (UnsafePointer<UInt32>, Int) {
    guard let locks else {
      let (links, count) = graph.links(slot, level)
      return (UnsafePointer(links), count)
    }
    locks.lock(slot)
    let (links, count) = graph.links(slot, level)
    copyLinks(links, count, to: scratch.linkCopy)
    locks.unlock(slot)
    if count == 0 && level == 0 { scratch.emptyLayer0Reads += 1 }
    return (UnsafePointer(scratch.linkCopy), count)
  }

  // MARK: Searching

  /// Greedy descent from `entry` through levels `top` down to `bottom + 1` (nearest
  /// neighbour walk on each), returning the nearest node found and its distance.
  @inline(__always)
  func greedy<D: SlotDistance>(
    _ distance: D, entry: UInt32, entryDistance: Float, from top: Int, downTo bottom: Int, _ scratch: SearchScratch
  ) -> (UInt32, Float) {
    var current = entry
    var currentDistance = entryDistance
    var level = top
    while level > bottom {
      var changed = true
      while changed {
        changed = false
        let (links, count) = neighbours(current, level, scratch)
        // All the links' distances in one batched call (the kernel prefetches ahead);
        // taking the first strict minimum in link order is what a sequential scan that
        // moves on every improvement ends at.
        let distances = scratch.pendingDistances
        distance.distances(links, count: count, into: distances)
        for i in 0..<count where distances[i] < currentDistance {
          currentDistance = distances[i]
          current = links[i]
          changed = true
        }
      }
      level -= 1
    }
    return (current, currentDistance)
  }

  /// Best-first search of one layer with a dynamic list of `ef` results (Algorithm 2 of
  /// the paper). Leaves the results in `scratch.results` as a max-heap of `~key`.
  /// Nodes that `accept` rejects are walked through but not returned; with rejections the
  /// walk goes on until `ef` accepted results are found or the candidates run out.
  func searchLayer<D: SlotDistance>(
    _ distance: D, entry: UInt32, entryDistance: Float, level: Int, ef: Int,
    accept: Acceptance, _ scratch: SearchScratch
  ) {
    scratch.beginSearch(slots: slots)
    let visited = scratch.visitedBits
    var candidates = scratch.candidates
    var results = scratch.results
    candidates.clear()
    results.clear()
    defer {
      scratch.candidates = candidates
      scratch.results = results
      scratch.endSearch()
    }
    let acceptsAll = accept.acceptsAll
    visited[Int(entry >> 6)] |= 1 << UInt64(entry & 63)
    scratch.reserveVisitedLog(1)
    scratch.visitedLog[0] = entry
    scratch.visitedLogCount = 1
    var lowerBound = Float.greatestFiniteMagnitude
    if acceptsAll || accept.accepts(entry) {
      results.push(~CandidateKey.make(entryDistance, entry))
      lowerBound = entryDistance
    }
    candidates.push(CandidateKey.make(entryDistance, entry))
    var speculated = HNSWGraph.none
    while !candidates.isEmpty {
      let currentKey = candidates.top
      if CandidateKey.distance(currentKey) > lowerBound && (results.count >= ef || acceptsAll) { break }
      candidates.pop()
      let (links, count) = neighbours(CandidateKey.slot(currentKey), level, scratch)
      // The next node to expand is probably the new top, and the one after it probably the
      // smaller of the top's children (`second`). Its link record was requested one expansion
      // ago when it was that second node: request now, into L2, the rows of its unvisited
      // neighbours, so that their misses overlap this node's distance computations instead
      // of the next expansion waiting for them. Otherwise request its link record (all its
      // lines: 8 + 8·M bytes span 2–3 of them). Then request the second node's record.
      // A wrong guess costs requests, never a result: the walk is the same.
      if !candidates.isEmpty {
        let next = CandidateKey.slot(candidates.top)
        if next == speculated {
          prefetchUnvisitedRows(of: next, level, distance, visited: visited)
        } else {
          prefetchLines(graph.node(next), bytes: graph.nodeBytes)
        }
        if let second = candidates.second {
          speculated = CandidateKey.slot(second)
          prefetchLines(graph.node(speculated), bytes: graph.nodeBytes)
        } else {
          speculated = HNSWGraph.none
        }
      }
      // Collect the unvisited neighbours without a branch per neighbour: whether a
      // neighbour was visited is a coin toss for the branch predictor, and its
      // mispredictions serialised the visited-table loads (perf: a seventh of the walk).
      // Each link is written to `pending` unconditionally and kept by advancing the count
      // only when it was unvisited.
      let pending = scratch.pending
      var pendingCount = 0
      for i in 0..<count {
        let candidate = links[i]
        let word = Int(candidate >> 6), shift = UInt64(candidate & 63)
        let bits = visited[word]
        visited[word] = bits | (1 << shift)
        pending[pendingCount] = candidate
        pendingCount &+= Int(truncatingIfNeeded: (~bits >> shift) & 1)  // arithmetic, not a branch
      }
      scratch.reserveVisitedLog(pendingCount)
      (scratch.visitedLog + scratch.visitedLogCount).update(from: pending, count: pendingCount)
      scratch.visitedLogCount += pendingCount
      // The batched kernel requests the vectors' cache lines a few rows ahead of the row it
      // computes (see the search-code family), so misses overlap the arithmetic.
      // One batched kernel call for all of them (one dispatch instead of one per neighbour).
      let pendingDistances = scratch.pendingDistances
      distance.distances(pending, count: pendingCount, into: pendingDistances)
      for i in 0..<pendingCount {
        let candidate = pending[i]
        let d = pendingDistances[i]
        if results.count < ef || d < lowerBound {
          candidates.push(CandidateKey.make(d, candidate))
          if acceptsAll || accept.accepts(candidate) {
            let key = ~CandidateKey.make(d, candidate)
            if results.count >= ef {
              // Valid: d < lowerBound, the distance of the top being replaced.
              results.replaceTop(key)
            } else {
              results.push(key)
            }
            lowerBound = CandidateKey.distance(~results.top)
          }
        }
      }
    }
  }

  /// Asks L2 for the rows of `slot`'s neighbours at `level` that `visited` does not hold
  /// (under the node's lock when building, like `neighbours`).
  @inline(__always)
  func prefetchUnvisitedRows<D: SlotDistance>(
    of slot: UInt32, _ level: Int, _ distance: D, visited: UnsafeMutablePointer<UInt64>
  ) {
    locks?.lock(slot)
    let (links, count) = graph.links(slot, level)
    for i in 0..<count {
      let candidate = links[i]
      if visited[Int(candidate >> 6)] & (1 << UInt64(candidate & 63)) == 0 { distance.prefetchToL2(candidate) }
    }
    locks?.unlock(slot)
  }

  /// The results of the last `searchLayer` as keys, nearest first, into `scratch.keys`.
  @inline(__always)
  func sortedResults(_ scratch: SearchScratch) {
    let results = scratch.results.unordered
    scratch.reserveKeys(results.count)
    let keys = scratch.keys
    for i in 0..<results.count { keys[i] = ~results[i] }
    var sorted = UnsafeMutableBufferPointer(start: keys, count: results.count)
    sorted.sort()
    scratch.keyCount = results.count
  }

  // MARK: Building

  /// Chooses at most `limit` neighbours from the `count` keys at `keys` (nearest first,
  /// distances to the base node) by the paper's heuristic (Algorithm 4, as hnswlib's
  /// getNeighborsByHeuristic2): a candidate is kept only if it is nearer to the base than
  /// to every neighbour kept before it, which spreads links over directions and keeps
  /// the graph navigable. Fewer than `limit` candidates are all kept. Writes the chosen
  /// slots to `out` (their distances to `distances`) and returns how many.
  func selectNeighbours(
    _ keys: UnsafePointer<UInt64>, count: Int, limit: Int, into out: UnsafeMutablePointer<UInt32>,
    distances: UnsafeMutablePointer<Float>, _ scratch: SearchScratch
  ) -> Int {
    if count < limit {
      for i in 0..<count {
        out[i] = CandidateKey.slot(keys[i])
        distances[i] = CandidateKey.distance(keys[i])
      }
      return count
    }
    let kept = scratch.kept
    var keptCount = 0
    for i in 0..<count {
      let candidate = CandidateKey.slot(keys[i])
      let d = CandidateKey.distance(keys[i])
      // Decoded (quantized) vectors land in the row they keep if selected.
      let vector = space.vector(candidate, scratch: scratch.row(4 + keptCount))
      var good = true
      for j in 0..<keptCount where space.distance(vector, kept[j]) < d {
        good = false
        break
      }
      if good {
        kept[keptCount] = vector
        out[keptCount] = candidate
        distances[keptCount] = d
        keptCount += 1
        if keptCount >= limit { break }
      }
    }
    return keptCount
  }

  /// Re-chooses the links of `target` at `level` among `others` (its links, plus a new
  /// node…) with the heuristic, capacity `graph.capacity(level)`; `known[i]`, when given,
  /// is the distance from `target` to `others[i]` or NaN. The caller holds the node's lock
  /// when building.
  func prune(
    _ target: UInt32, level: Int, candidates others: UnsafePointer<UInt32>, count: Int,
    known: UnsafePointer<Float>? = nil, _ scratch: SearchScratch
  ) {
    let base = space.vector(target, scratch: scratch.row(2))
    scratch.reserveKeys(count)
    let keys = scratch.keys
    // All candidates' vectors in flight at once before the distances (see `prefetch`).
    for i in 0..<count where known?[i].isNaN ?? true { space.prefetch(others[i]) }
    for i in 0..<count {
      let other = others[i]
      let d = known.map { $0[i] } ?? .nan
      keys[i] = CandidateKey.make(d.isNaN ? space.distance(base, space.vector(other, scratch: scratch.row(3))) : d, other)
    }
    var sorted = UnsafeMutableBufferPointer(start: keys, count: count)
    sorted.sort()
    let kept = selectNeighbours(
      keys, count: count, limit: graph.capacity(level), into: scratch.pruned, distances: scratch.prunedDistances, scratch)
    knownDistances(target, level)?.update(from: scratch.prunedDistances, count: kept)
    if level == 0 {
      for i in 0..<count where !(0..<kept).contains(where: { scratch.pruned[$0] == others[i] }) {
        scratch.dropped.append(others[i])
      }
    }
    let (links, _) = graph.links(target, level)
    links.update(from: scratch.pruned, count: kept)
    graph.setCount(target, level, kept)
    // When the heuristic ran (count ≥ capacity), every kept link passed it.
    setPrunedPrefix(target, level, count >= graph.capacity(level) ? kept : 0)
  }

  /// Re-chooses a full layer-0 list of `target` plus `node` by the heuristic, knowing that
  /// the first `prunedLists[target]` links are what the last prune chose (nearest first,
  /// each kept against every one before it). The heuristic over the merged candidates then
  /// needs no comparison between two such links: a prefix link L_i meets, as kept
  /// predecessors, a subset of L₀ … L_{i−1} plus new candidates, and it passed against
  /// all of L₀ … L_{i−1} with the same distance calls before. So only pairs with a new
  /// candidate (appended links and `node`) are computed — about 2·M·(new ones) distances
  /// instead of up to M·(2·M + 1) — and the result is exactly `prune`'s (tested).
  ///
  /// With `linkDistances`, the distances from `target` to its links come from there and
  /// `nodeDistance` (NaN: unknown) is the one to `node`: no vector is fetched before the
  /// heuristic, which fetches only those it compares.
  func pruneLayer0(
    _ target: UInt32, adding node: UInt32, nodeDistance: Float, prunedLists: UnsafeMutablePointer<UInt16>,
    _ scratch: SearchScratch
  ) {
    let (links, count) = graph.links(target, 0)
    let capacity = graph.capacity(0)
    let base = space.vector(target, scratch: scratch.row(2))
    scratch.reserveKeys(count + 1)
    let keys = scratch.keys
    let known = knownDistances(target, 0)
    for i in 0..<count where known?[i].isNaN ?? true { space.prefetch(links[i]) }
    if nodeDistance.isNaN { space.prefetch(node) }
    for i in 0..<count {
      let d = known.map { $0[i] } ?? .nan
      keys[i] = CandidateKey.make(d.isNaN ? space.distance(base, space.vector(links[i], scratch: scratch.row(3))) : d, links[i])
    }
    let d = nodeDistance.isNaN ? space.distance(base, space.vector(node, scratch: scratch.row(3))) : nodeDistance
    keys[count] = CandidateKey.make(d, node)
    var closed = min(Int(prunedLists[Int(target)]), count)
    for i in 1..<max(closed, 1) where keys[i] < keys[i - 1] {
      closed = 0  // not in the stored order: prune from scratch
      break
    }
    var open = UnsafeMutableBufferPointer(start: keys + closed, count: count + 1 - closed)
    open.sort()
    // With cached distances no vector was fetched yet: start on the new candidate's and on
    // the nearest links', which it is compared with first (the loop below keeps
    // `prefetchAhead` links in flight).
    if known != nil {
      space.prefetch(node)
      for i in 0..<min(Self.prefetchAhead, count + 1) { space.prefetch(CandidateKey.slot(keys[i])) }
    }
    let kept = scratch.kept
    let out = scratch.pruned
    var keptCount = 0
    // A local copy for the closure: read through the captured `self`, the space (whose
    // kernel is an existential) was copied and destroyed around every distance call (perf,
    // GloVe two-thread build: 2.5 % of the samples in its outlined copy and destroy).
    let space = self.space
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: count + 1) { keptOpen in
      var keptOpenCount = 0
      var a = 0, b = closed
      while a < closed || b <= count {
        let fromPrefix = b > count || (a < closed && keys[a] < keys[b])
        let key = fromPrefix ? keys[a] : keys[b]
        if fromPrefix { a += 1 } else { b += 1 }
        let candidate = CandidateKey.slot(key)
        guard keptCount < capacity else {
          scratch.dropped.append(candidate)
          continue
        }
        let d = CandidateKey.distance(key)
        let vector = space.vector(candidate, scratch: scratch.row(4 + keptCount))
        var good = true
        if fromPrefix {
          for j in 0..<keptOpenCount where space.distance(vector, keptOpen[j]) < d {
            good = false
            break
          }
        } else {
          for j in 0..<keptCount {
            if j + Self.prefetchAhead < keptCount { space.prefetch(out[j + Self.prefetchAhead]) }
            if space.distance(vector, kept[j]) < d {
              good = false
              break
            }
          }
        }
        if good {
          kept[keptCount] = vector
          out[keptCount] = candidate
          scratch.prunedDistances[keptCount] = d
          keptCount += 1
          if !fromPrefix {
            keptOpen[keptOpenCount] = vector
            keptOpenCount += 1
          }
        } else {
          scratch.dropped.append(candidate)
        }
      }
    }
    links.update(from: out, count: keptCount)
    known?.update(from: scratch.prunedDistances, count: keptCount)
    graph.setCount(target, 0, keptCount)
    prunedLists[Int(target)] = UInt16(keptCount)
  }

  /// How many vectors ahead `pruneLayer0` requests while comparing a new link with the kept
  /// ones (384-d rows are 24 lines each; 3 rows keep ~70 lines in flight).
  static var prefetchAhead: Int { 3 }

  /// Links `node` to the `scratch.chosenCount` slots in `scratch.chosen` at `level`, and
  /// each of them back to `node` (pruning a full list with the heuristic).
  func connect(_ node: UInt32, level: Int, _ scratch: SearchScratch) {
    let chosen = scratch.chosen
    let chosenCount = scratch.chosenCount
    // Exact distances from `node` to the chosen (see `linkDistances`), else NaN.
    let chosenDistances = scratch.chosenDistances
    locks?.lock(node)
    let (own, _) = graph.links(node, level)
    own.update(from: chosen, count: chosenCount)
    knownDistances(node, level)?.update(from: chosenDistances, count: chosenCount)
    graph.setCount(node, level, chosenCount)
    setPrunedPrefix(node, level, 0)
    locks?.unlock(node)

    let capacity = graph.capacity(level)
    let merged = scratch.linkCopy
    for index in 0..<chosenCount {
      let neighbour = chosen[index]
      locks?.lock(neighbour)
      defer { locks?.unlock(neighbour) }
      let (links, count) = graph.links(neighbour, level)
      var present = false
      for i in 0..<count where links[i] == node {
        present = true
        break
      }
      if present { continue }
      let known = knownDistances(neighbour, level)
      if count < capacity {
        links[count] = node
        known?[count] = chosenDistances[index]
        graph.setCount(neighbour, level, count + 1)
        continue
      }
      if level == 0, let prunedLists {
        pruneLayer0(
          neighbour, adding: node, nodeDistance: known == nil ? .nan : chosenDistances[index], prunedLists: prunedLists,
          scratch)
        continue
      }
      // Full: keep the best `capacity` of its links plus `node` by the heuristic.
      merged.update(from: links, count: count)
      merged[count] = node
      if let known {
        let mergedDistances = scratch.mergedDistances
        mergedDistances.update(from: known, count: count)
        mergedDistances[count] = chosenDistances[index]
        prune(neighbour, level: level, candidates: merged, count: count + 1, known: mergedDistances, scratch)
      } else {
        prune(neighbour, level: level, candidates: merged, count: count + 1, scratch)
      }
    }
  }

  /// Inserts `node` (level `level`, vector already stored) into the graph (Algorithm 1).
  /// `vector` is the exact float vector, used as the query.
  func insert(
    _ node: UInt32, level: Int, vector: UnsafePointer<Float>, entryState: EntryState, accept: Acceptance,
    _ scratch: SearchScratch
  ) {
    let (entry, top) = entryState.current
    if entry == HNSWGraph.none {
      entryState.offer(node, level: level)
      return
    }
    let query = space.query(vector, scratch: scratch)
    var acceptance = accept
    acceptance.excluded = node
    if let coarse, let coarseQuery = coarse.query(vector, scratch: scratch.row(scratch.rows - 1), integers: scratch.integerQuery) {
      link(node, level: level, entry: entry, top: top, walk: coarseQuery, exact: query, accept: acceptance, scratch)
    } else {
      link(node, level: level, entry: entry, top: top, walk: query, exact: nil, accept: acceptance, scratch)
    }
    if level > top { entryState.offer(node, level: level) }
  }

  /// Algorithm 1's descent and linking for `node`, with the searches ranking by `walk`.
  /// When `exact` is given (`walk` is approximate), each layer's results are re-ranked by
  /// `exact` before the heuristic, so links are chosen on exact distances.
  ///
  /// The layers are searched top-down but linked bottom-up, once every layer's neighbours
  /// are chosen: `node` becomes reachable on a layer (its neighbours' back-links) only when
  /// its lists on every layer below are complete. Linked top-down, as Algorithm 1 reads, a
  /// node of level ≥ 1 was reachable on its upper layers while its own lower layers were
  /// still being searched; another build thread that descended through it there met an
  /// empty list and started its lower layers from `node` alone, linking its own new node to
  /// little but `node` (hnswlib avoids this by holding the new node's lock for the whole
  /// insertion). One thread: the same graph either way (a layer's search reads only that
  /// layer's lists, and linking a layer writes only that layer's).
  private func link<Walk: SlotDistance>(
    _ node: UInt32, level: Int, entry: UInt32, top: Int, walk: Walk, exact: Space.Query?, accept: Acceptance,
    _ scratch: SearchScratch
  ) {
    var current = entry
    var currentDistance = walk(entry)
    if level < top {
      (current, currentDistance) = greedy(walk, entry: current, entryDistance: currentDistance, from: top, downTo: level, scratch)
    }
    // The neighbours chosen on layers ≥ 1 (with their distances), linked after layer 0.
    var upper: [(layer: Int, chosen: [UInt32], distances: [Float])] = []
    var layer = min(level, top)
    while layer >= 0 {
      searchLayer(walk, entry: current, entryDistance: currentDistance, level: layer, ef: efConstruction, accept: accept, scratch)
      if let exact {
        rerankedResults(exact, scratch)
      } else {
        sortedResults(scratch)
      }
      if scratch.keyCount > 0 {
        current = CandidateKey.slot(scratch.keys[0])
        currentDistance = exact == nil ? CandidateKey.distance(scratch.keys[0]) : walk(current)
        scratch.chosenCount = selectNeighbours(
          scratch.keys, count: scratch.keyCount, limit: layer == 0 ? layer0Links : m, into: scratch.chosen,
          distances: scratch.chosenDistances, scratch)
        if layer == 0 {
          connect(node, level: 0, scratch)
        } else {
          upper.append((
            layer, Array(UnsafeBufferPointer(start: scratch.chosen, count: scratch.chosenCount)),
            Array(UnsafeBufferPointer(start: scratch.chosenDistances, count: scratch.chosenCount))))
        }
      }
      layer -= 1
    }
    for (layer, chosen, distances) in upper.reversed() {
      scratch.chosen.update(from: chosen, count: chosen.count)
      scratch.chosenDistances.update(from: distances, count: distances.count)
      scratch.chosenCount = chosen.count
      connect(node, level: layer, scratch)
    }
  }

  /// The results of the last `searchLayer` with their distances recomputed by `exact`
  /// (one batched kernel call), nearest first, into `scratch.keys`.
  func rerankedResults<D: SlotDistance>(_ exact: D, _ scratch: SearchScratch) {
    let results = scratch.results.unordered
    let count = results.count
    scratch.reserveKeys(count)
    scratch.reserveRerank(count)
    let slots = scratch.rerankSlots
    let distances = scratch.rerankDistances
    for i in 0..<count { slots[i] = CandidateKey.slot(~results[i]) }
    exact.distances(slots, count: count, into: distances)
    let keys = scratch.keys
    for i in 0..<count { keys[i] = CandidateKey.make(distances[i], slots[i]) }
    var sorted = UnsafeMutableBufferPointer(start: keys, count: count)
    sorted.sort()
    scratch.keyCount = count
  }

  /// Re-links a reused slot whose vector was just replaced (hnswlib's updatePoint): the
  /// old neighbours, which mostly link back to it, get their lists re-chosen from their
  /// one- and two-hop neighbourhood (which includes the slot, now at its new place), then
  /// the slot is linked like a fresh insertion at its old level.
  func relink(
    _ node: UInt32, vector: UnsafePointer<Float>, entryState: EntryState, accept: Acceptance, _ scratch: SearchScratch
  ) {
    let level = graph.level(node)
    let (entry, _) = entryState.current
    for layer in 0...level {
      let (links, count) = graph.links(node, layer)
      let oneHop = Array(UnsafeBufferPointer(start: links, count: count))
      var pool = Set(oneHop)
      pool.insert(node)
      for neighbour in oneHop {
        let (second, secondCount) = graph.links(neighbour, layer)
        for i in 0..<secondCount { pool.insert(second[i]) }
      }
      let poolList = pool.sorted().filter { other in
        if graph.level(other) < layer { return false }
        if let deleted = accept.deleted, deleted[Int(other) >> 6] & (1 << UInt64(other & 63)) != 0 { return false }
        return true
      }
      for neighbour in oneHop {
        let others = poolList.filter { $0 != neighbour }
        others.withUnsafeBufferPointer { buffer in
          prune(neighbour, level: layer, candidates: buffer.baseAddress!, count: buffer.count, scratch)
        }
      }
      graph.setCount(node, layer, 0)
      setPrunedPrefix(node, layer, 0)
    }
    if entry == node {
      // The entry point itself moved: enter through the highest other live node (the
      // node's own level is restored as the top by `insert` if it is higher).
      var best: UInt32 = HNSWGraph.none
      var bestLevel = -1
      for slot in 0..<UInt32(slots) where slot != node && accept.accepts(slot) && graph.level(slot) > bestLevel {
        best = slot
        bestLevel = graph.level(slot)
      }
      guard best != HNSWGraph.none else {
        entryState.reset(node, level: level)
        return
      }
      entryState.reset(best, level: bestLevel)
    }
    insert(node, level: level, vector: vector, entryState: entryState, accept: accept, scratch)
  }
}
