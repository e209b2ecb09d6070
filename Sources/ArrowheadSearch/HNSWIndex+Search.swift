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
    let rerank = store.isQuantized && store.keepsFloats ? (parameters.rerankCandidates ?? 4 * k) : 0
    // Never more candidates than slots: a huge k or efSearch must not size the search lists.
    let ef = min(max(parameters.efSearch ?? self.parameters.efSearch, k, rerank), max(slots, 1))
    let threads = max(1, min(parameters.threads ?? engine.effectiveThreads, queryCount))
    let worker = HNSWWorker(
      space: space, graph: graph, slots: slots, locks: nil, m: self.parameters.m, efConstruction: self.parameters.efConstruction)
    let explicitIDs = ids.explicit
    let largerIsNearer = metric != .squaredL2
    var results = [SearchResult](repeating: SearchResult(neighbors: [], requested: k), count: queryCount)
    withOptionalIDs(explicitIDs) { idPointer in
      let accept = Acceptance(
        deleted: deletedCount > 0 ? UnsafePointer(deleted.words.pointer(UInt64.self)) : nil, ids: idPointer, filter: filter)
      results.withUnsafeMutableBufferPointer { output in
        let out = UncheckedSendableBox(output.baseAddress!)
        let chunk = (queryCount + threads - 1) / threads
        Parallel.forEach(threads, threads: threads) { w in
          let scratch = pool.take(slots: slots)
          defer { pool.give(scratch) }
          for q in w * chunk..<min(queryCount, (w + 1) * chunk) {
            let vector = queries + q * dimension
            var ranked = searchOne(worker, vector, ef: ef, accept: accept, scratch)
            if rerank > 0 {
              ranked = Array(ranked.prefix(rerank))
              for i in ranked.indices { ranked[i].distance = store.exactDistance(vector, Int(ranked[i].slot)) }
              ranked.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.slot < $1.slot) }
            }
            let neighbors = ranked.prefix(k).map { candidate in
              Neighbor(
                id: idPointer.map { $0[Int(candidate.slot)] } ?? Int(candidate.slot),
                score: largerIsNearer ? -candidate.distance : candidate.distance)
            }
            out.value[q] = SearchResult(neighbors: neighbors, requested: k)
          }
        }
      }
    }
    return results
  }

  /// One query: greedy descent to layer 1, layer-0 search with `ef`; nearest first.
  @inline(__always)
  private func searchOne<Space: DistanceSpace>(
    _ worker: HNSWWorker<Space>, _ vector: UnsafePointer<Float>, ef: Int, accept: Acceptance, _ scratch: SearchScratch
  ) -> [(distance: Float, slot: UInt32)] {
    let query = worker.space.query(vector, scratch: scratch.row(0))
    let entry = graph.entryPoint
    let (start, startDistance) = worker.greedy(
      query, entry: entry, entryDistance: query(entry), from: graph.maxLevel, downTo: 0, scratch)
    worker.searchLayer(query, entry: start, entryDistance: startDistance, level: 0, ef: ef, accept: accept, scratch)
    worker.sortedResults(scratch)
    return (0..<scratch.keyCount).map { (CandidateKey.distance(scratch.keys[$0]), CandidateKey.slot(scratch.keys[$0])) }
  }
}

private func withOptionalIDs<R>(_ array: [Int]?, _ body: (UnsafePointer<Int>?) -> R) -> R {
  guard let array else { return body(nil) }
  return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
