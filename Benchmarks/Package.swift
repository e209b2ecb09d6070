// swift-tools-version: 6.2
//
// Arrowhead's benchmarks: a separate package so that library consumers never resolve the
// benchmark dependency. It depends on the library by path.
//
//   cd Benchmarks
//   swift package benchmark                                  # run everything
//   swift package benchmark --filter "gemm.*"                # a subset
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
    .executableTarget(
      name: "KernelBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Arrowhead", package: "Arrowhead"),
      ],
      path: "Benchmarks/KernelBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
  ],
  swiftLanguageModes: [.v6]
)
