// swift-tools-version: 6.2
//
// Arrowhead's benchmarks: a separate package so that library consumers never resolve the
// benchmark dependency. It depends on the library by path.
//
//   cd Benchmarks
//   swift package benchmark                                  # run everything
//   swift package benchmark --filter "gemm.*"                # a subset
//   swift package benchmark --target SearchBenchmarks        # one target
//   swift package --allow-writing-to-package-directory benchmark baseline update main
//   swift package benchmark baseline check main              # fails on a regression
//
// Peer comparisons (numpy, faiss, hnswlib, usearch, gguf) live in peers/ (see run.sh).
import PackageDescription

let package = Package(
  name: "ArrowheadBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "Arrowhead", path: ".."),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    // Deterministic data, buffers and the shared configuration/thresholds (see README.md).
    .target(
      name: "BenchmarkSupport",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Arrowhead", package: "Arrowhead"),
      ],
      path: "Sources/BenchmarkSupport"
    ),
    // gemm, gemv, dot, distance matrices, Cholesky on every runnable backend.
    .executableTarget(
      name: "KernelBenchmarks",
      dependencies: [
        "BenchmarkSupport",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Arrowhead", package: "Arrowhead"),
      ],
      path: "Benchmarks/KernelBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // Backend groupMinMax / quantize / dequantize / pack / unpack kernels, the Quantizer and
    // the quantized matrix-vector product.
    .executableTarget(
      name: "QuantBenchmarks",
      dependencies: [
        "BenchmarkSupport",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Arrowhead", package: "Arrowhead"),
        .product(name: "ArrowheadQuant", package: "Arrowhead"),
      ],
      path: "Benchmarks/QuantBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // Flat index batch search per backend, HNSW search and build.
    .executableTarget(
      name: "SearchBenchmarks",
      dependencies: [
        "BenchmarkSupport",
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Arrowhead", package: "Arrowhead"),
        .product(name: "ArrowheadSearch", package: "Arrowhead"),
      ],
      path: "Benchmarks/SearchBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
  ],
  swiftLanguageModes: [.v6]
)
