import ArrowheadCore

extension HNSWIndex {
  /// The k nearest live vectors of each query (approximately): greedy descent, then a
  /// layer-0 search keeping max(efSearch, k, rerankCandidates) candidates, filtered during
  /// the walk; with quantized storage and a Float32 copy, the best `rerankCandidates`
  /// (default 4·k) are re-scored exactly. Batches are split over `parameters.threads`.
  public func search(
    _ queries: UnsafeBufferPointer<Float>, k: Int, parameters: SearchParameters, filter: SearchFilter?
  ) throws(SearchError) -> [SearchResult] {
    let queryCount = try Validation.searchArguments(queries, k: k, parameters: parameters, dimension: dimension, usesEfSearch: true)
    try Validation.requireRepresentableDistances(queries, dimension: dimension, metric: metric, argument: "queries", kernels: store.kernels)
    return try lock.reading { () throws(SearchError) -> [SearchResult] in
      guard slots - deletedCount > 0 else { throw .emptyIndex }
      if queryCount == 0 { return [] }
      let prepared = metric == .cosine ? Validation.prepared(queries, dimension: dimension, metric: metric, kernels: store.kernels) : Array(queries)
      return prepared.withUnsafeBufferPointer { buffer in
        switch storage.encoding {
        case .float32: return run(Float32Space(store), buffer.baseAddress!, queryCount, k, parameters, filter)
        case .int8: return run(SQ8Space(store), buffer.baseAddress!, queryCount, k, parameters, filter)
        case .int4: return run(SQ4Space(store), buffer.baseAddress!, queryCount, k, parameters, filter)
        }
      }
    }
  }

  private func run<Space: DistanceSpace>(
    _ space: Space, _ queries: UnsafePointer<Float>, _ queryCount: Int, _ k: Int,
    _ parameters: SearchParameters, _ filter: SearchFilter?
  ) -> [SearchResult] {
    let rerank = store.isQuantized && store.keepsFloats ? (parameters.rerankCandidates ?? Validation.defaultRerankCandidates(k: k)) : 0
    // Never more candidates than slots: a huge k or efSearch must not size the search lists.
    let ef = min(max(parameters.efSearch ?? self.parameters.efSearch, k, rerank), max(slots, 1))
    // At most the logical cores: more only add switches (5 000 queries on 2 cores: 79–93 ms
    // with 2 threads, 97–128 ms with 256).
    let threads = min(Parallel.clampedThreads(parameters.threads ?? engine.effectiveThreads), queryCount, CPUInfo.current.logicalCores)
    let worker = HNSWWorker(
      space: space, graph: graph, slots: slots, locks: nil, parameters: self.parameters)
    let explicitIDs = ids.explicit
    let largerIsNearer = metric != .squaredL2
    var results = [SearchResult](repeating: SearchResult(neighbors: [], requested: k), count: queryCount)
    withOptionalIDs(explicitIDs) { idPointer in
      let accept = Acceptance(
        deleted: deletedCount > 0 ? UnsafePointer(deleted.words.pointer(UInt64.self)) : nil, ids: idPointer, filter: filter)
      results.withUnsafeMutableBufferPointer { output in
        let out = UncheckedSendableBox(output.baseAddress!)
        // Queries are handed out in blocks to whichever thread is free (not one fixed half
        // per thread): when the other core is busy with another process, or one half's
        // queries are slower, the free thread takes the next block instead of the caller
        // finishing early and waiting for the last half.
        let blocks = (queryCount + Self.queryBlock - 1) / Self.queryBlock
        Parallel.forEach(blocks, threads: threads) { block in
          let scratch = pool.take(slots: slots)
          defer { pool.give(scratch) }
          for q in block * Self.queryBlock..<min(queryCount, (block + 1) * Self.queryBlock) {
            let vector = queries + q * dimension
            searchOne(worker, vector, ef: ef, accept: accept, scratch)
            let neighbors: [Neighbor]
            if rerank > 0 {
              var ranked = (0..<min(rerank, scratch.keyCount)).map { i in
                (distance: store.exactDistance(vector, Int(CandidateKey.slot(scratch.keys[i]))), slot: CandidateKey.slot(scratch.keys[i]))
              }
              ranked.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.slot < $1.slot) }
              neighbors = ranked.prefix(k).map { neighbor($0.slot, $0.distance, idPointer, largerIsNearer) }
            } else {
              neighbors = (0..<min(k, scratch.keyCount)).map { i in
                neighbor(CandidateKey.slot(scratch.keys[i]), CandidateKey.distance(scratch.keys[i]), idPointer, largerIsNearer)
              }
            }
            out.value[q] = SearchResult(neighbors: neighbors, requested: k)
          }
        }
      }
    }
    return results
  }

  /// Queries per unit of work handed to a thread: small enough that two threads finish
  /// within a few queries of each other, large enough that claiming one costs nothing.
  static let queryBlock = 8

  /// One query: greedy descent to layer 1, layer-0 search with `ef`; leaves the results,
  /// nearest first, in `scratch.keys`.
  @inline(__always)
  private func searchOne<Space: DistanceSpace>(
    _ worker: HNSWWorker<Space>, _ vector: UnsafePointer<Float>, ef: Int, accept: Acceptance, _ scratch: SearchScratch
  ) {
    let query = worker.space.query(vector, scratch: scratch)
    var entry = graph.entryPoint
    // The entry's distance through the same batched kernel as every other distance of the
    // walk (one search-code dispatch for the whole search).
    query.distances(&entry, count: 1, into: scratch.pendingDistances)
    let (start, startDistance) = worker.greedy(
      query, entry: entry, entryDistance: scratch.pendingDistances[0], from: graph.maxLevel, downTo: 0, scratch)
    worker.searchLayer(query, entry: start, entryDistance: startDistance, level: 0, ef: ef, accept: accept, scratch)
    worker.sortedResults(scratch)
  }
}

@inline(__always)
private func neighbor(_ slot: UInt32, _ distance: Float, _ ids: UnsafePointer<Int>?, _ largerIsNearer: Bool) -> Neighbor {
  Neighbor(id: ids.map { $0[Int(slot)] } ?? Int(slot), score: largerIsNearer ? -distance : distance)
}

private func withOptionalIDs<R>(_ array: [Int]?, _ body: (UnsafePointer<Int>?) -> R) -> R {
  guard let array else { return body(nil) }
  return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
