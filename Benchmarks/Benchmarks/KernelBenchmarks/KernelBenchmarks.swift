// Dense kernels (gemm, gemv, dot, distance matrices, Cholesky) on every runnable
// non-reference backend at small / medium / large shapes. One operation = one kernel call;
// the FLOP or byte count of a call is in the name, so GFLOP/s or GB/s follows from the
// printed time. Names end in "Nt" when the kernel is given N threads.
import Arrowhead
import Benchmark
import BenchmarkSupport

let benchmarks: @Sendable () -> Void = {
  let threads = Engine.default.threads

  // gemm, C ← A·B with square n × n operands: 2n³ FLOP per call.
  for n in [32, 256, 1024] {
    for backend in benchmarkBackends(for: .gemm) {
      Benchmark("gemm n=\(n) (\(2 * n * n * n) FLOP) \(backend.name) \(threads)t",
                configuration: benchmarkConfiguration(calls: n <= 32 ? .kilo : .one)) { benchmark, input in
        let (a, b, c) = input
        for _ in benchmark.scaledIterations {
          backend.gemm(.normal, .normal, rows: n, columns: n, depth: n, alpha: 1, a, lda: n, b, ldb: n,
                       beta: 0, c.pointer, ldc: n, threads: threads)
        }
        blackHole(c.pointer[0])
      } setup: {
        (Inputs.floats(n * n, seed: 1), Inputs.floats(n * n, seed: 2), OutputBuffer<Float>(count: n * n))
      }
    }
  }

  // gemv, y ← A·x with n × n A: 4n² bytes of A read per call (L2-, L3- and DRAM-resident).
  for n in [256, 2048, 4096] {
    for backend in benchmarkBackends(for: .gemv) {
      Benchmark("gemv n=\(n) (\(n * n * 4) B) \(backend.name) \(threads)t",
                configuration: benchmarkConfiguration(calls: n <= 256 ? .kilo : .one)) { benchmark, input in
        let (a, x, y) = input
        for _ in benchmark.scaledIterations {
          backend.gemv(.normal, rows: n, columns: n, alpha: 1, a, lda: n, x, beta: 0, y.pointer, threads: threads)
        }
        blackHole(y.pointer[0])
      } setup: {
        (Inputs.floats(n * n, seed: 3), Inputs.floats(n, seed: 4), OutputBuffer<Float>(count: n))
      }
    }
  }

  // dot: 2n FLOP per call, one thread.
  for n in [256, 4096, 65536] {
    for backend in benchmarkBackends(for: .dot) {
      Benchmark("dot n=\(n) \(backend.name)",
                configuration: benchmarkConfiguration(calls: n <= 4096 ? .kilo : .one)) { benchmark, input in
        let (x, y) = input
        for _ in benchmark.scaledIterations { blackHole(backend.dot(count: n, x, y)) }
      } setup: {
        (Inputs.floats(n, seed: 5), Inputs.floats(n, seed: 6))
      }
    }
  }

  // Squared-L2 distance matrix of q queries × b base vectors of d floats: 2·q·b·d FLOP per call.
  for (q, b, d) in [(4, 10_000, 128), (64, 4096, 128), (1000, 20_000, 128)] {
    for backend in benchmarkBackends(for: .distances) {
      Benchmark("distances l2 \(q)x\(b)x\(d) \(backend.name) \(threads)t",
                configuration: benchmarkConfiguration(maxDuration: .seconds(1))) { benchmark, input in
        let (queries, base, out) = input
        for _ in benchmark.scaledIterations {
          backend.distances(.squaredL2, queryCount: q, baseCount: b, dimension: d, queries: queries, ldq: d,
                            base: base, ldb: d, queryNorms: nil, baseNorms: nil, out.pointer, ldo: b, threads: threads)
        }
        blackHole(out.pointer[0])
      } setup: {
        (Inputs.floats(q * d, seed: 7), Inputs.floats(b * d, seed: 8), OutputBuffer<Float>(count: q * b))
      }
    }
  }

  // Cholesky factor of an n × n SPD matrix: n³/3 FLOP per call (plus an n² copy of the input).
  for n in [64, 256, 1024] {
    for backend in benchmarkBackends(for: .cholesky) {
      Benchmark("cholesky n=\(n) \(backend.name)",
                configuration: benchmarkConfiguration(calls: n <= 64 ? .kilo : .one)) { benchmark, input in
        let (matrix, factor) = input
        for _ in benchmark.scaledIterations {
          matrix.withUnsafeBufferPointer { factor.pointer.update(from: $0.baseAddress!, count: n * n) }
          try? backend.choleskyFactor(order: n, factor.pointer, lda: n)
        }
        blackHole(factor.pointer[0])
      } setup: {
        (Inputs.symmetricPositiveDefinite(order: n, seed: 9), OutputBuffer<Float>(count: n * n))
      }
    }
  }
}
