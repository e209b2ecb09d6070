import ArrowheadCore

/// Keeping every node of the graph reachable.
///
/// HNSW's neighbour selection can orphan a node: when a neighbour's list is full, the
/// heuristic re-chooses it and may drop the link to the node, and when every neighbour
/// drops it (or a small group of nodes only links to itself) no search can ever reach it,
/// at any efSearch — the vector is stored but lost to searches. hnswlib and faiss leave
/// this as is; graph libraries that fixed it (Milvus's knowhere, Lance, SparrowDB) check
/// reachability from the entry point after building and give each unreachable node
/// incoming links from its nearest reachable nodes. This index does the same after every
/// `add`:
///
/// 1. a breadth-first walk of layer 0 from the entry point marks what searches can reach
///    (deleted nodes included: searches walk through them);
/// 2. each unreachable live node u, in slot order, is searched for like a query
///    (greedy descent, then a layer-0 search with efConstruction candidates, which by
///    construction only meets reachable nodes); u is appended to the list of the nearest
///    candidate whose layer-0 list has room — no link is removed, so nothing that was
///    reachable stops being so. If every candidate's list is full, u replaces, in the
///    nearest candidate's list, the link to the node with the most incoming links from
///    reachable nodes (at least two, so it keeps one);
/// 3. the walk continues from u (what u links to becomes reachable too), and the whole
///    check repeats until nothing is unreachable (at most a few rounds).
///
/// Then the nodes just added (or pruned out of a list) that have few incoming links are
/// searched for with their own vectors; one a search misses gets links from its three
/// nearest found nodes (`ensureFindable`).
///
/// Cost: two O(n·M) passes per `add` call, a short search per node with few incoming
/// links, and one search per orphan (orphans are rare: of the order of 0.05 % of the
/// nodes). The passes dominate for small `add` calls on a large index; add in batches.
extension HNSWIndex {
  /// Makes every live node reachable from the entry point on layer 0 (see above) and
  /// returns how many nodes were relinked. Called by `add`; public for indexes built or
  /// loaded some other way (e.g. files written by older versions).
  @discardableResult
  public func repairReachability() -> Int {
    lock.writing { repairReachabilityLocked() }
  }

  /// `repairReachability()` for a caller that holds the write lock; `added` are the slots
  /// the caller just linked, checked for findability too (see `ensureFindable`).
  @discardableResult
  func repairReachabilityLocked(added: [UInt32] = []) -> Int {
    switch storage.encoding {
    case .float32: repair(Float32Space(store), added: added)
    case .int8: repair(SQ8Space(store), added: added)
    case .int4: repair(SQ4Space(store), added: added)
    }
  }

  /// Layer-0 reachability from the entry point (every slot when the graph is empty).
  func reachableSlots() -> [Bool] {
    var visited = [Bool](repeating: false, count: slots)
    guard slots > 0, graph.entryPoint != HNSWGraph.none else { return visited }
    visited[Int(graph.entryPoint)] = true
    var stack = [graph.entryPoint]
    walk(from: &stack, &visited)
    return visited
  }

  /// Marks everything reachable from `stack`'s nodes (already marked).
  private func walk(from stack: inout [UInt32], _ visited: inout [Bool]) {
    while let slot = stack.popLast() {
      let (links, count) = graph.links(slot, 0)
      for i in 0..<count where !visited[Int(links[i])] {
        visited[Int(links[i])] = true
        stack.append(links[i])
      }
    }
  }

  private func repair<Space: DistanceSpace>(_ space: Space, added: [UInt32]) -> Int {
    guard slots > 1, graph.entryPoint != HNSWGraph.none else { return 0 }
    var relinked = ensureFindable(space, added)
    for _ in 0..<4 {
      var visited = reachableSlots()
      let orphans = (0..<UInt32(slots)).filter { !visited[Int($0)] && !deleted.contains($0) }
      if orphans.isEmpty { break }
      // Incoming links from reachable nodes, for the rare replacement case.
      var inDegree = [Int32](repeating: 0, count: slots)
      for slot in 0..<slots where visited[slot] {
        let (links, count) = graph.links(UInt32(slot), 0)
        for i in 0..<count { inDegree[Int(links[i])] += 1 }
      }
      let worker = HNSWWorker(
        space: space, graph: graph, slots: slots, locks: nil, parameters: parameters)
      let scratch = pool.take(slots: slots)
      defer { pool.give(scratch) }
      var stack: [UInt32] = []
      for orphan in orphans where !visited[Int(orphan)] {
        guard attach(orphan, worker, scratch, inDegree: &inDegree, visited: visited) != nil else { continue }
        relinked += 1
        visited[Int(orphan)] = true
        stack.append(orphan)
        walk(from: &stack, &visited)
      }
    }
    return relinked
  }

  /// Reachable is not always enough: a parallel build can leave a small group of nodes that
  /// link mostly to each other, reachable only through one far link, which a search finds
  /// only with a very large ef. So every node just added is searched for with its own
  /// vector, first with a small list (16 candidates: cheap, and what is found there is
  /// found at any larger ef), then, if missed, with the index's efSearch; a node missed
  /// both times gets an incoming link from its nearest found node (`attach`). The
  /// searches run in parallel over the build threads. Returns the nodes relinked.
  private func ensureFindable<Space: DistanceSpace>(_ space: Space, _ added: [UInt32]) -> Int {
    guard !added.isEmpty else { return 0 }
    // Incoming layer-0 links of every node (one pass over the link lists).
    var inDegree = [Int32](repeating: 0, count: slots)
    for slot in 0..<slots {
      let (links, count) = graph.links(UInt32(slot), 0)
      for i in 0..<count { inDegree[Int(links[i])] += 1 }
    }
    // Hard-to-find nodes have few incoming links (the members of a small island link to
    // each other only: in a 2 000 × 32 build they had 3 each, against a median of 19), so
    // only nodes with at most M are searched for: about a third of the nodes of a GloVe or
    // random build, which keeps the check to a few percent of the build time. (M/2 missed
    // some in the tests below.)
    let threshold = Int32(parameters.m)
    let live = added.filter { !deleted.contains($0) && $0 != graph.entryPoint && inDegree[Int($0)] <= threshold }
    guard !live.isEmpty else { return 0 }
    let worker = HNSWWorker(
      space: space, graph: graph, slots: slots, locks: nil, parameters: parameters)
    let threads = min(buildThreads, live.count / 256 + 1)
    let missed = UncheckedSendableBox(UnsafeMutablePointer<Bool>.allocate(capacity: live.count))
    missed.value.initialize(repeating: false, count: live.count)
    defer { missed.value.deallocate() }
    let chunk = (live.count + threads - 1) / threads
    Parallel.forEach(threads, threads: threads) { w in
      let scratch = pool.take(slots: slots)
      defer { pool.give(scratch) }
      for i in (w * chunk)..<min(live.count, (w + 1) * chunk) {
        missed.value[i] = !finds(live[i], worker, scratch, ef: 16) && !finds(live[i], worker, scratch, ef: parameters.efSearch)
      }
    }
    let lost = (0..<live.count).filter { missed.value[$0] }.map { live[$0] }
    guard !lost.isEmpty else { return 0 }
    let everywhere = [Bool](repeating: true, count: slots)
    let scratch = pool.take(slots: slots)
    defer { pool.give(scratch) }
    var relinked = 0
    for node in lost where attach(node, worker, scratch, inDegree: &inDegree, visited: everywhere, hosts: 3) != nil {
      relinked += 1
    }
    return relinked
  }

  /// Whether a search for `slot`'s own vector with `ef` candidates returns it.
  private func finds<Space: DistanceSpace>(_ slot: UInt32, _ worker: HNSWWorker<Space>, _ scratch: SearchScratch, ef: Int) -> Bool {
    let vector = worker.space.vector(slot, scratch: scratch.row(2))
    let query = worker.space.query(vector, scratch: scratch)
    let entry = graph.entryPoint
    let (start, startDistance) = worker.greedy(
      query, entry: entry, entryDistance: query(entry), from: graph.maxLevel, downTo: 0, scratch)
    worker.searchLayer(
      query, entry: start, entryDistance: startDistance, level: 0, ef: ef, accept: Acceptance(deleted: nil, ids: nil, filter: nil), scratch)
    let results = scratch.results.unordered
    return (0..<results.count).contains { CandidateKey.slot(~results[$0]) == slot }
  }

  /// Gives `orphan` an incoming layer-0 link from the nearest reachable node(s) (up to
  /// `hosts` of those with room); returns the nearest host.
  private func attach<Space: DistanceSpace>(
    _ orphan: UInt32, _ worker: HNSWWorker<Space>, _ scratch: SearchScratch, inDegree: inout [Int32], visited: [Bool],
    hosts: Int = 1
  ) -> UInt32? {
    let vector = worker.space.vector(orphan, scratch: scratch.row(2))
    let query = worker.space.query(vector, scratch: scratch)
    let entry = graph.entryPoint
    let (start, startDistance) = worker.greedy(
      query, entry: entry, entryDistance: query(entry), from: graph.maxLevel, downTo: 0, scratch)
    var accept = Acceptance(deleted: nil, ids: nil, filter: nil)
    accept.excluded = orphan
    worker.searchLayer(
      query, entry: start, entryDistance: startDistance, level: 0, ef: max(parameters.efConstruction, 2 * parameters.m),
      accept: accept, scratch)
    worker.sortedResults(scratch)
    let candidates = (0..<scratch.keyCount).map { CandidateKey.slot(scratch.keys[$0]) }.filter { visited[Int($0)] }
    let capacity = graph.capacity(0)
    // Nearest candidates with room: append (to up to `hosts` of them).
    var first: UInt32?
    var linked = 0
    for host in candidates where linked < hosts {
      let (links, count) = graph.links(host, 0)
      if (0..<count).contains(where: { links[$0] == orphan }) { continue }
      if count < capacity {
        links[count] = orphan
        graph.setCount(host, 0, count + 1)
        inDegree[Int(orphan)] += 1
        first = first ?? host
        linked += 1
      }
    }
    if let first { return first }
    // Every list is full: replace, in the nearest candidate's list that has one, the link
    // to the node with the most incoming links (≥ 2, so that it keeps one).
    for host in candidates {
      let (links, count) = graph.links(host, 0)
      var best = -1
      for i in 0..<count where inDegree[Int(links[i])] >= 2 && (best < 0 || inDegree[Int(links[i])] > inDegree[Int(links[best])]) {
        best = i
      }
      guard best >= 0 else { continue }
      inDegree[Int(links[best])] -= 1
      links[best] = orphan
      inDegree[Int(orphan)] += 1
      return host
    }
    return nil
  }
}
