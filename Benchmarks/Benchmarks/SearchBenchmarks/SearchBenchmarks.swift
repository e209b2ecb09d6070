// Nearest-neighbour search: the flat index's batch search on every runnable backend that
// accelerates distance matrices (it tiles through `Engine.distances`, so the backend
// matters), HNSW batch search at three efSearch values and with SQ8 storage, and one HNSW
// build. Data are clustered vectors generated in-process from fixed seeds (no downloads).
// One operation = one batch of queries; queries/s = batch size × calls/s.
import Arrowhead
import ArrowheadSearch
import Benchmark
import BenchmarkSupport

let k = 10

/// A flat index over `count` clustered vectors searched by `engine`, and `queryCount` queries.
func flatIndex(count: Int, queryCount: Int, dimension: Int, engine: Engine) throws -> (index: FlatIndex, queries: [Float]) {
  let data = Inputs.clustered(count: count, queryCount: queryCount, dimension: dimension, seed: 31)
  let index = try FlatIndex(dimension: dimension, metric: .squaredL2, engine: engine)
  try index.add(data.base)
  return (index, data.queries)
}

/// An HNSW index over `count` clustered vectors, and `queryCount` queries. Built on one
/// thread: a one-thread build is a deterministic function of the data and parameters, so
/// every run searches the same graph.
func hnswIndex(
  count: Int, queryCount: Int, dimension: Int, storage: VectorStorage, parameters: HNSWParameters
) throws -> (index: HNSWIndex, queries: [Float]) {
  let data = Inputs.clustered(count: count, queryCount: queryCount, dimension: dimension, seed: 41)
  var single = parameters
  single.buildThreads = 1
  let index = try HNSWIndex(dimension: dimension, metric: .squaredL2, storage: storage, parameters: single)
  try index.add(data.base)
  return (index, data.queries)
}

let benchmarks: @Sendable () -> Void = {
  let threads = Engine.default.threads

  // MARK: Flat (exact) search, squared L2, d = 128, k = 10: 2·q·b·d FLOP of distances per call.

  let dimension = 128
  for (queryCount, baseCount) in [(10, 10_000), (100, 10_000), (100, 100_000)] {
    for backend in benchmarkBackends(for: .distances) {
      guard let engine = engine(forcing: backend) else { continue }
      Benchmark("flat search l2 \(queryCount)q \(baseCount)x\(dimension) k=\(k) \(backend.name) \(threads)t",
                configuration: benchmarkConfiguration(maxDuration: .seconds(1), maxIterations: 1000)) { benchmark, input throws in
        let (index, queries) = input
        for _ in benchmark.scaledIterations { blackHole(try index.search(batch: queries, k: k)) }
      } setup: {
        try flatIndex(count: baseCount, queryCount: queryCount, dimension: dimension, engine: engine)
      }
    }
  }

  // MARK: HNSW search: 20 000 × 64 clustered vectors, M = 16, efConstruction = 200, built
  // once per benchmark in setup (a few seconds, outside the measured region); a call
  // searches 1000 queries for k = 10 on `threads` threads.

  let hnswCount = 20_000, hnswDimension = 64, hnswQueries = 1000
  let parameters = HNSWParameters(m: 16, efConstruction: 200, efSearch: 64, seed: 7)
  let cases: [(storage: VectorStorage, efSearch: Int)] = [(.float32, 16), (.float32, 64), (.float32, 256), (.int8, 64)]
  for (storage, efSearch) in cases {
    let label = storage.encoding == .float32 ? "f32" : "sq8"
    Benchmark("hnsw search \(label) \(hnswQueries)q \(hnswCount)x\(hnswDimension) M=16 ef=\(efSearch) k=\(k) \(threads)t",
              configuration: benchmarkConfiguration(maxDuration: .seconds(1), maxIterations: 1000)) { benchmark, input throws in
      let (index, queries) = input
      let search = SearchParameters(efSearch: efSearch)
      for _ in benchmark.scaledIterations { blackHole(try index.search(batch: queries, k: k, parameters: search)) }
    } setup: {
      try hnswIndex(count: hnswCount, queryCount: hnswQueries, dimension: hnswDimension, storage: storage, parameters: parameters)
    }
  }

  // MARK: HNSW build: 2000 × 64 vectors, M = 16, efConstruction = 200, on `threads` threads.

  let buildCount = 2000
  Benchmark("hnsw build f32 \(buildCount)x\(hnswDimension) M=16 efC=200 \(threads)t",
            configuration: benchmarkConfiguration(maxDuration: .seconds(2), maxIterations: 20, warmup: 1)) { benchmark, base throws in
    for _ in benchmark.scaledIterations {
      let index = try HNSWIndex(dimension: hnswDimension, metric: .squaredL2, parameters: parameters)
      try index.add(base)
      blackHole(index)
    }
  } setup: {
    Inputs.clustered(count: buildCount, queryCount: 0, dimension: hnswDimension, seed: 51).base
  }
}
