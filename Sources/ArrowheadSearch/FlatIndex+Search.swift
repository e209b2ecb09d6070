import ArrowheadCore

extension FlatIndex {
  /// The k nearest live vectors of each query; see `VectorIndex.search` and the type's
  /// overview for the tiling and threading. `parameters.threads` caps the threads (nil:
  /// the engine's); `parameters.rerankCandidates` applies to quantized storage that keeps
  /// Float32 vectors (default 4·k; 0: no re-ranking). `efSearch` is ignored.
  public func search(
    _ queries: UnsafeBufferPointer<Float>, k: Int, parameters: SearchParameters, filter: SearchFilter?
  ) throws(SearchError) -> [SearchResult] {
    let queryCount = try Validation.searchArguments(queries, k: k, parameters: parameters, dimension: dimension)
    try Validation.requireRepresentableDistances(queries, dimension: dimension, metric: metric, argument: "queries", kernels: store.kernels)
    return try lock.reading { () throws(SearchError) -> [SearchResult] in
      guard slots > 0 else { throw .emptyIndex }
      if queryCount == 0 { return [] }
      let prepared = metric == .cosine ? Validation.prepared(queries, dimension: dimension, metric: metric, kernels: store.kernels) : Array(queries)
      return try prepared.withUnsafeBufferPointer { (buffer) throws(SearchError) -> [SearchResult] in
        try searchPrepared(buffer.baseAddress!, queryCount: queryCount, k: k, parameters: parameters, filter: filter)
      }
    }
  }

  private func searchPrepared(
    _ queries: UnsafePointer<Float>, queryCount: Int, k: Int, parameters: SearchParameters, filter: SearchFilter?
  ) throws(SearchError) -> [SearchResult] {
    let rerank = store.isQuantized && store.keepsFloats ? (parameters.rerankCandidates ?? Validation.defaultRerankCandidates(k: k)) : 0
    // No more candidates than vectors: a huge k must not allocate k entries per query.
    let collectK = min(max(k, rerank), max(slots, 1))
    // At most the logical cores (and 64): 2 000 queries over 20 000 × 64 on 2 cores took
    // 32–46 ms with 2 threads and 59–73 ms with 256.
    let threads = min(Parallel.clampedThreads(parameters.threads ?? engine.effectiveThreads), 64, CPUInfo.current.logicalCores)
    let kernelEngine = engine.withThreads(1)
    let largerIsNearer = metric != .squaredL2
    let queryNorms: [Float] = metric == .squaredL2
      ? (0..<queryCount).map { store.kernels.squaredNorm(queries + $0 * dimension, dimension) } : []
    let slotCount = slots
    let screen = screening(queryCount: queryCount, parameters: parameters)

    var collectors: [TopKCollector] = []
    var failure: SearchError?
    let explicitIDs = ids.explicit
    withOptionalPointer(explicitIDs) { idPointer in
      let context = ScanContext(
        index: self, engine: kernelEngine, queries: queries, queryNorms: queryNorms, largerIsNearer: largerIsNearer,
        ids: idPointer, filter: filter, screen: screen)
      // Split by queries when each thread gets enough of them to fill tiles; otherwise
      // by base ranges (each thread keeps top-k lists for all queries, merged after).
      if threads == 1 || queryCount >= threads * 32 {
        // One collector per query, each with its own heap storage: copies of one collector
        // would share a buffer that threads then copy-on-write concurrently (ThreadSanitizer
        // reports the unsynchronised uniqueness check).
        collectors = (0..<queryCount).map { _ in TopKCollector(k: collectK) }
        // Blocks of queries claimed by whichever thread is free (about four per thread, at
        // most one tile high): when the other core is busy with another process, the free
        // thread takes the next block instead of waiting for a fixed half to finish.
        let block = threads == 1 ? queryCount : min(Self.queryBlock, max(32, (queryCount + 4 * threads - 1) / (4 * threads)))
        let blocks = (queryCount + block - 1) / block
        let errors = UncheckedSendableBox(UnsafeMutablePointer<SearchError?>.allocate(capacity: blocks))
        errors.value.initialize(repeating: nil, count: blocks)
        defer { errors.value.deallocate() }
        collectors.withUnsafeMutableBufferPointer { buffer in
          let shared = UncheckedSendableBox(buffer.baseAddress!)
          Parallel.forEach(blocks, threads: threads) { index in
            let start = index * block
            let end = min(queryCount, start + block)
            do throws(SearchError) {
              try context.scan(queries: start..<end, base: 0..<slotCount, collectors: shared.value + start)
            } catch {
              errors.value[index] = error
            }
          }
        }
        failure = (0..<blocks).lazy.compactMap { errors.value[$0] }.first
      } else {
        let chunk = ((slotCount + threads - 1) / threads + Self.baseBlock - 1) / Self.baseBlock * Self.baseBlock
        let workers = (slotCount + chunk - 1) / chunk
        var perWorker = (0..<workers).map { _ in (0..<queryCount).map { _ in TopKCollector(k: collectK) } }
        let errors = UncheckedSendableBox(UnsafeMutablePointer<SearchError?>.allocate(capacity: workers))
        errors.value.initialize(repeating: nil, count: workers)
        defer { errors.value.deallocate() }
        perWorker.withUnsafeMutableBufferPointer { outer in
          let outerBox = UncheckedSendableBox(outer.baseAddress!)
          Parallel.forEach(workers, threads: threads) { worker in
            let start = worker * chunk
            let end = min(slotCount, start + chunk)
            outerBox.value[worker].withUnsafeMutableBufferPointer { inner in
              do throws(SearchError) {
                try context.scan(queries: 0..<queryCount, base: start..<end, collectors: inner.baseAddress!)
              } catch {
                errors.value[worker] = error
              }
            }
          }
        }
        failure = (0..<workers).lazy.compactMap { errors.value[$0] }.first
        collectors = perWorker[0]
        for worker in perWorker.indices.dropFirst() {
          for query in 0..<queryCount { collectors[query].merge(perWorker[worker][query]) }
        }
      }
    }
    if let failure { throw failure }

    var results: [SearchResult] = []
    results.reserveCapacity(queryCount)
    for query in 0..<queryCount {
      var ranked = collectors[query].sorted()
      if rerank > 0 {
        let q = queries + query * dimension
        for index in ranked.indices { ranked[index].distance = store.exactDistance(q, ranked[index].slot) }
        ranked.sort()
      }
      let neighbors = ranked.prefix(k).map { Neighbor(id: $0.id, score: largerIsNearer ? -$0.distance : $0.distance) }
      results.append(SearchResult(neighbors: neighbors, requested: k))
    }
    return results
  }
}

extension FlatIndex {
  /// The int8 screen for this search, or nil for the Float32 tiles.
  fileprivate func screening(queryCount: Int, parameters: SearchParameters) -> Screen? {
    guard !store.isQuantized, slots > 0 else { return nil }
    let kernel = engine.backend(for: .quantizedMatmulInt8, .large)
    if let requested = parameters.int8Screening {
      if !requested { return nil }
    } else {
      // Automatic: only where the int8 product is an integer-dot-product kernel (the
      // portable build's is slower than its Float32 gemm), over at least 1 024 vectors.
      let fast: Set<CPUFeature> = [.avx2, .avx512f, .avx512vnni, .avxvnni, .dotprod]
      guard slots >= 1024, (kernel.preference(for: .quantizedMatmulInt8, .large)?.score ?? 0) > 0,
        !kernel.requiredFeatures.isDisjoint(with: fast)
      else { return nil }
      let (seen, built) = prefilterCache.noteQueries(queryCount)
      // A batch of 16 queries or more of ≥ 64 dimensions pays for the codes itself. Smaller
      // batches once the codes exist, or once the index has served `screeningWarmQueries`
      // queries since its vectors last changed (so a one-off query, or a workload that adds
      // between single queries, never pays for them): where the int8 product runs AVX-512
      // VNNI from 24 dimensions, elsewhere from 256 (see `screeningWarmQueries`).
      let integerDots = kernel.requiredFeatures.contains(.avx512f) && CPUInfo.current.features.contains(.avx512vnni)
      let smallBatches = (integerDots ? dimension >= 24 : dimension >= 256) && (built || seen >= FlatIndex.screeningWarmQueries)
      guard (queryCount >= 16 && dimension >= 64) || smallBatches else { return nil }
    }
    let vectors = UnsafePointer(store.floats.pointer(Float.self))
    let rows = slots, dimension = dimension, bits = min(8, max(7, kernel.int8FullRateCodeBits))
    guard let prefilter = prefilterCache.prefilter({ FlatPrefilter(rows: rows, dimension: dimension, vectors: vectors, bits: bits) })
    else { return nil }
    return Screen(prefilter: prefilter, kernel: kernel)
  }
}

/// The int8 screen of one search: the base codes and the kernel that multiplies them.
struct Screen: @unchecked Sendable {
  let prefilter: FlatPrefilter
  let kernel: any Backend
}

private func withOptionalPointer<R>(_ array: [Int]?, _ body: (UnsafePointer<Int>?) -> R) -> R {
  guard let array else { return body(nil) }
  return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Everything a worker needs to scan tiles; shared read-only between workers.
private struct ScanContext: @unchecked Sendable {
  let index: FlatIndex
  let engine: Engine
  let queries: UnsafePointer<Float>
  let queryNorms: [Float]
  let largerIsNearer: Bool
  let ids: UnsafePointer<Int>?
  let filter: SearchFilter?
  let screen: Screen?

  /// Offers every (query, base) pair of the ranges to `collectors[query − queries.lowerBound]`.
  func scan(queries queryRange: Range<Int>, base baseRange: Range<Int>, collectors: UnsafeMutablePointer<TopKCollector>) throws(SearchError) {
    if let screen {
      scanScreened(screen, queries: queryRange, base: baseRange, collectors: collectors)
      return
    }
    let dimension = index.dimension
    let store = index.store
    // Up to `fewQueries` queries over Float32 storage: 1 MiB of distances per block (see
    // `fewQueriesBaseBlock`).
    let baseBlock = queryRange.count <= FlatIndex.fewQueries && !store.isQuantized
      ? max(1, min(FlatIndex.fewQueriesBaseBlock / queryRange.count, baseRange.count)) : FlatIndex.baseBlock
    let queryBlock = min(FlatIndex.queryBlock, queryRange.count)
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * baseBlock)
    defer { tile.deallocate() }
    let decoded = store.isQuantized ? UnsafeMutablePointer<Float>.allocate(capacity: baseBlock * dimension) : nil
    defer { decoded?.deallocate() }
    let blockNorms = UnsafeMutablePointer<Float>.allocate(capacity: baseBlock)
    defer { blockNorms.deallocate() }
    let metric: Metric = largerIsNearer ? .innerProduct : .squaredL2

    var baseStart = baseRange.lowerBound
    while baseStart < baseRange.upperBound {
      let baseCount = min(baseBlock, baseRange.upperBound - baseStart)
      let baseRows: UnsafePointer<Float>
      var norms: UnsafePointer<Float>? = nil
      if let decoded {
        for row in 0..<baseCount { store.decode(baseStart + row, into: decoded + row * dimension) }
        baseRows = UnsafePointer(decoded)
        if metric == .squaredL2 {
          for row in 0..<baseCount {
            let x = decoded + row * dimension
            blockNorms[row] = index.store.kernels.squaredNorm(x, dimension)
          }
          norms = UnsafePointer(blockNorms)
        }
      } else {
        baseRows = UnsafePointer(store.floats.pointer(Float.self) + baseStart * dimension)
        if metric == .squaredL2 { norms = UnsafePointer(index.norms.pointer(Float.self) + baseStart) }
      }

      var queryStart = queryRange.lowerBound
      while queryStart < queryRange.upperBound {
        let count = min(queryBlock, queryRange.upperBound - queryStart)
        do {
          try queryNorms.withUnsafeBufferPointer { (qn) throws(ArrowheadError) in
            try engine.distances(
              metric,
              queries: UnsafeBufferPointer(start: queries + queryStart * dimension, count: count * dimension),
              MatrixLayout(rows: count, columns: dimension),
              base: UnsafeBufferPointer(start: baseRows, count: baseCount * dimension),
              MatrixLayout(rows: baseCount, columns: dimension),
              queryNorms: qn.isEmpty ? nil : UnsafeBufferPointer(rebasing: qn[queryStart..<queryStart + count]),
              baseNorms: norms.map { UnsafeBufferPointer(start: $0, count: baseCount) },
              out: UnsafeMutableBufferPointer(start: tile, count: count * baseCount),
              MatrixLayout(rows: count, columns: baseCount))
          }
        } catch {
          throw .kernel(error)
        }
        for row in 0..<count {
          scanRow(
            tile + row * baseCount, count: baseCount, firstSlot: baseStart,
            collector: &collectors[queryStart - queryRange.lowerBound + row])
        }
        queryStart += count
      }
      baseStart += baseCount
    }
  }

  /// Offers the values of one tile row that can enter the collector.
  @inline(__always)
  private func scanRow(_ row: UnsafeMutablePointer<Float>, count: Int, firstSlot: Int, collector: inout TopKCollector) {
    // Internally smaller is nearer: for inner product the candidate distance is −value,
    // and it can enter when −value ≤ threshold, i.e. value ≥ −threshold.
    let sign: Float = largerIsNearer ? -1 : 1
    var limit = collector.threshold
    var j = 0
    // 32 values per test while none can enter (once the collector is full, nearly all):
    // one branch where four took one each. Flat GloVe 399 000 × 50, 1 000 queries, AMD Zen 4,
    // 1 thread: inner products 2 077–2 120 → 1 987–2 264 q/s (AVX-512 variant), 1 823–1 868
    // → 1 916–1 963 (AVX2), squared L2 +2–3 %; the scan was 13 % of the time.
    if largerIsNearer {
      var bound = SIMD8<Float>(repeating: -limit)
      while j + 8 <= count {
        if j + 32 <= count {
          let p = UnsafeRawPointer(row + j)
          let hit = (p.loadUnaligned(as: SIMD8<Float>.self) .>= bound)
            .| (p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) .>= bound)
            .| (p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) .>= bound)
            .| (p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) .>= bound)
          if !any(hit) {
            j += 32
            continue
          }
        }
        let values = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
        if any(values .>= bound) {
          for lane in 0..<8 where values[lane] >= -limit {
            offer(-values[lane], slot: firstSlot + j + lane, &collector)
            limit = collector.threshold
          }
          bound = SIMD8<Float>(repeating: -limit)
        }
        j += 8
      }
    } else {
      var bound = SIMD8<Float>(repeating: limit)
      while j + 8 <= count {
        if j + 32 <= count {
          let p = UnsafeRawPointer(row + j)
          let hit = (p.loadUnaligned(as: SIMD8<Float>.self) .<= bound)
            .| (p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) .<= bound)
            .| (p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) .<= bound)
            .| (p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) .<= bound)
          if !any(hit) {
            j += 32
            continue
          }
        }
        let values = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
        if any(values .<= bound) {
          for lane in 0..<8 where values[lane] <= limit {
            offer(values[lane], slot: firstSlot + j + lane, &collector)
            limit = collector.threshold
          }
          bound = SIMD8<Float>(repeating: limit)
        }
        j += 8
      }
    }
    while j < count {
      let distance = sign * row[j]
      if distance <= limit {
        offer(distance, slot: firstSlot + j, &collector)
        limit = collector.threshold
      }
      j += 1
    }
  }

  @inline(__always)
  private func offer(_ distance: Float, slot: Int, _ collector: inout TopKCollector) {
    let id = ids?[slot] ?? slot
    if let filter, !filter(id) { return }
    collector.offer(RankedCandidate(distance: distance, id: id, slot: slot))
  }
}

// MARK: - Int8 screening

extension ScanContext {
  /// `scan` through the int8 screen (see FlatPrefilter.swift for the bound): each tile of
  /// int8 scores is compared, 8 at a time, with the lower bound that makes a pair worth
  /// re-scoring; the few that pass are re-scored exactly and offered.
  func scanScreened(_ screen: Screen, queries queryRange: Range<Int>, base baseRange: Range<Int>, collectors: UnsafeMutablePointer<TopKCollector>) {
    let dimension = index.dimension
    let store = index.store
    let prefilter = screen.prefilter
    let baseBlock = FlatIndex.baseBlock
    let queryBlock = min(FlatIndex.queryBlock, queryRange.count)
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * baseBlock)
    defer { tile.deallocate() }
    let scratch = UnsafeMutablePointer<Int8>.allocate(capacity: dimension)
    defer { scratch.deallocate() }
    // Per query: e_q and ‖q‖ (rounded up).
    let bounds = queryRange.map { FlatPrefilter.queryBounds(queries + $0 * dimension, dimension: dimension, scratch: scratch) }
    let slack = FlatPrefilter.slack(dimension: dimension)
    let vectors = UnsafePointer(store.floats.pointer(Float.self))
    prefilter.norms.withUnsafeBufferPointer { normBuffer in
      prefilter.errors.withUnsafeBufferPointer { errorBuffer in
        let norms = normBuffer.baseAddress!, errors = errorBuffer.baseAddress!
        var baseStart = baseRange.lowerBound
        while baseStart < baseRange.upperBound {
          let baseCount = min(baseBlock, baseRange.upperBound - baseStart)
          var queryStart = queryRange.lowerBound
          while queryStart < queryRange.upperBound {
            let count = min(queryBlock, queryRange.upperBound - queryStart)
            prefilter.withOperand(rows: baseStart, count: baseCount) { operand in
              screen.kernel.quantizedMatmulInt8(
                rows: count, queries + queryStart * dimension, ldx: dimension, operand, bias: nil,
                tile, ldy: baseCount, threads: 1)
            }
            for row in 0..<count {
              let query = queryStart + row
              let (queryError, queryNorm) = bounds[query - queryRange.lowerBound]
              scanScreenedRow(
                tile + row * baseCount, count: baseCount, firstSlot: baseStart,
                query: queries + query * dimension, queryError: queryError, queryNorm: queryNorm, slack: slack,
                norms: norms + baseStart, errors: errors + baseStart, vectors: vectors,
                collector: &collectors[query - queryRange.lowerBound])
            }
            queryStart += count
          }
          baseStart += baseCount
        }
      }
    }
  }

  /// Offers the pairs of one tile row whose lower bound does not exceed the collector's
  /// threshold, re-scored exactly. lower = −y − (a·‖x‖ + b·e_x) (inner product) or
  /// c + ‖x‖·((1 − σ)‖x‖ − 2a) − 2(y + b·e_x) (squared L2), with a = e_q + σ(‖q‖ + e_q),
  /// b = (‖q‖ + e_q)(1 + σ), c = (1 − σ)‖q‖², σ the slack.
  @inline(__always)
  private func scanScreenedRow(
    _ row: UnsafeMutablePointer<Float>, count: Int, firstSlot: Int, query: UnsafePointer<Float>,
    queryError: Float, queryNorm: Float, slack: Float, norms: UnsafePointer<Float>, errors: UnsafePointer<Float>,
    vectors: UnsafePointer<Float>, collector: inout TopKCollector
  ) {
    let dimension = index.dimension
    let store = index.store
    let a = queryError + slack * (queryNorm + queryError)
    let b = (queryNorm + queryError) * (1 + slack)
    let c = (1 - slack) * queryNorm * queryNorm
    let l2 = !largerIsNearer
    @inline(__always)
    func lower(_ y: Float, _ norm: Float, _ error: Float) -> Float {
      l2 ? (c + norm * ((1 - slack) * norm - 2 * a)) - 2 * (y + b * error) : (0 - y) - (a * norm + b * error)
    }
    @inline(__always)
    func consider(_ j: Int) {
      let slot = firstSlot + j
      let id = ids?[slot] ?? slot
      if let filter, !filter(id) { return }
      let distance = store.distance(query, vectors + slot * dimension)
      collector.offer(RankedCandidate(distance: distance, id: id, slot: slot))
    }
    var limit = collector.threshold
    var bound = SIMD8<Float>(repeating: limit)
    let vc = SIMD8<Float>(repeating: c), va = SIMD8<Float>(repeating: a), vb = SIMD8<Float>(repeating: b)
    let vKeep = SIMD8<Float>(repeating: 1 - slack), twoA = SIMD8<Float>(repeating: 2 * a)
    var j = 0
    while j + 8 <= count {
      let y = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
      let norm = UnsafeRawPointer(norms + j).loadUnaligned(as: SIMD8<Float>.self)
      let error = UnsafeRawPointer(errors + j).loadUnaligned(as: SIMD8<Float>.self)
      let lowers: SIMD8<Float>
      if l2 {
        let inner: SIMD8<Float> = vKeep * norm - twoA
        let normTerm: SIMD8<Float> = vc + norm * inner
        let dotTerm: SIMD8<Float> = y + vb * error
        lowers = normTerm - 2 * dotTerm
      } else {
        let spread: SIMD8<Float> = va * norm + vb * error
        lowers = SIMD8<Float>() - y - spread
      }
      // `!(lower > limit)`: a bound that overflowed to NaN (|x| near 10¹⁹) excludes nothing.
      if any(.!(lowers .> bound)) {
        for lane in 0..<8 where !(lowers[lane] > limit) {
          consider(j + lane)
          limit = collector.threshold
        }
        bound = SIMD8<Float>(repeating: limit)
      }
      j += 8
    }
    while j < count {
      if !(lower(row[j], norms[j], errors[j]) > limit) {
        consider(j)
        limit = collector.threshold
      }
      j += 1
    }
  }
}
