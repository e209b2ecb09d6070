// Every backend operation on every runnable backend at small / medium / large shapes.
// Throughput is reported as operations per second (one operation = one kernel call); the
// FLOP or byte count of each call is in the benchmark's name so GFLOP/s follows directly.
import Arrowhead
import Benchmark

/// Deterministic inputs (SplitMix64).
struct Inputs {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(z >> 40) / Float(1 << 24) * 2 - 1
  }
  mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// Regression thresholds: wall clock may not get 25 % worse (the machines are noisy).
func thresholds() -> [BenchmarkMetric: BenchmarkThresholds] {
  [.wallClock: .init(relative: [.p50: 25]), .throughput: .init(relative: [.p50: 25])]
}

func configuration(_ seconds: Int = 1) -> Benchmark.Configuration {
  .init(metrics: [.wallClock, .throughput], warmupIterations: 3,
        maxDuration: .seconds(seconds), maxIterations: 100_000, thresholds: thresholds())
}

let benchmarks: @Sendable () -> Void = {
  let engine = Engine.default
  let backends = engine.runnableBackends.filter { $0.name != "reference" }
  let threads = engine.threads
  var inputs = Inputs(seed: 7)

  // gemm: n³·2 FLOP per call.
  for n in [32, 256, 1024] {
    let a = inputs.floats(n * n), b = inputs.floats(n * n)
    for backend in backends {
      Benchmark("gemm n=\(n) (\(2 * n * n * n) FLOP) \(backend.name) \(threads)t", configuration: configuration()) { benchmark in
        var c = [Float](repeating: 0, count: n * n)
        for _ in benchmark.scaledIterations {
          backend.gemm(.normal, .normal, rows: n, columns: n, depth: n, alpha: 1, a, lda: n, b, ldb: n,
                       beta: 0, &c, ldc: n, threads: threads)
        }
        blackHole(c)
      }
    }
  }

  // gemv: n²·4 bytes of A per call.
  for n in [256, 2048] {
    let a = inputs.floats(n * n), x = inputs.floats(n)
    for backend in backends {
      Benchmark("gemv n=\(n) (\(n * n * 4) B) \(backend.name)", configuration: configuration()) { benchmark in
        var y = [Float](repeating: 0, count: n)
        for _ in benchmark.scaledIterations {
          backend.gemv(.normal, rows: n, columns: n, alpha: 1, a, lda: n, x, beta: 0, &y, threads: threads)
        }
        blackHole(y)
      }
    }
  }

  // dot: 2n FLOP per call.
  for n in [256, 4096, 65536] {
    let x = inputs.floats(n), y = inputs.floats(n)
    for backend in backends {
      Benchmark("dot n=\(n) \(backend.name)", configuration: configuration()) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(backend.dot(count: n, x, y)) }
      }
    }
  }

  // Squared-L2 distance matrix: 2·q·b·d FLOP per call.
  for (q, b, d) in [(4, 10_000, 128), (64, 4096, 128), (1000, 20_000, 128)] {
    let queries = inputs.floats(q * d), base = inputs.floats(b * d)
    for backend in backends {
      Benchmark("distances l2 \(q)x\(b)x\(d) \(backend.name) \(threads)t", configuration: configuration(2)) { benchmark in
        var out = [Float](repeating: 0, count: q * b)
        for _ in benchmark.scaledIterations {
          backend.distances(.squaredL2, queryCount: q, baseCount: b, dimension: d, queries: queries, ldq: d,
                            base: base, ldb: d, queryNorms: nil, baseNorms: nil, &out, ldo: b, threads: threads)
        }
        blackHole(out)
      }
    }
  }

  // Quantization: INT4, G = 64, floatMinimum; 4·count bytes of Float32 per call.
  for count in [4096, 1 << 20] {
    let x = inputs.floats(count)
    let groups = count / 64
    let scales = [Float](repeating: 2.0 / 15, count: groups), minimums = [Float](repeating: -1, count: groups)
    for backend in backends {
      Benchmark("quantize int4 G=64 n=\(count) \(backend.name)", configuration: configuration()) { benchmark in
        var codes = [UInt8](repeating: 0, count: count)
        for _ in benchmark.scaledIterations {
          backend.quantize(count: count, groupSize: 64, x, scales: scales, offsets: minimums, form: .floatMinimum,
                           maxCode: 15, &codes)
        }
        blackHole(codes)
      }
      Benchmark("pack+unpack int4 n=\(count) \(backend.name)", configuration: configuration()) { benchmark in
        let codes = (0..<count).map { UInt8($0 & 15) }
        var packed = [UInt8](repeating: 0, count: count / 2), unpacked = [UInt8](repeating: 0, count: count)
        for _ in benchmark.scaledIterations {
          backend.pack(count: count, bits: 4, codes, &packed)
          backend.unpack(count: count, bits: 4, packed, &unpacked)
        }
        blackHole(unpacked)
      }
      Benchmark("dequantize int4 G=64 n=\(count) \(backend.name)", configuration: configuration()) { benchmark in
        let codes = (0..<count).map { UInt8($0 & 15) }
        var values = [Float](repeating: 0, count: count)
        for _ in benchmark.scaledIterations {
          backend.dequantize(count: count, groupSize: 64, codes, scales: scales, offsets: minimums, form: .floatMinimum, &values)
        }
        blackHole(values)
      }
    }
  }

  // Cholesky: n³/3 FLOP per call.
  for n in [64, 512] {
    var spd = [Float](repeating: 0, count: n * n)
    let random = inputs.floats(n * n)
    for i in 0..<n {
      for j in 0...i {
        var sum: Float = 0
        for p in 0..<n { sum += random[p * n + i] * random[p * n + j] }
        spd[i * n + j] = sum / Float(n) + (i == j ? 1 : 0)
        spd[j * n + i] = spd[i * n + j]
      }
    }
    let matrix = spd
    for backend in backends {
      Benchmark("cholesky n=\(n) \(backend.name)", configuration: configuration()) { benchmark in
        var factor = matrix
        for _ in benchmark.scaledIterations {
          factor = matrix
          try? backend.choleskyFactor(order: n, &factor, lda: n)
        }
        blackHole(factor)
      }
    }
  }
}
