// swift-tools-version: 6.2
//
// Coverage-guided fuzz targets for every Arrowhead parser (libFuzzer, through
// `swiftc -sanitize=fuzzer`). A separate package, so that the library and its CI build
// never compile the fuzzing engine; it depends on the library by path.
//
//   ../scripts/fuzz.sh                     # every target, 20 s each, seed corpus in Corpus/
//   ../scripts/fuzz.sh --seconds 600 npy   # one target, longer
//
// Build by hand (one executable; the target is chosen by ARROWHEAD_FUZZ_TARGET):
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription

let package = Package(
  name: "ArrowheadFuzz",
  dependencies: [
    .package(name: "Arrowhead", path: ".."),
  ],
  targets: [
    .executableTarget(
      name: "ArrowheadFuzz",
      dependencies: [
        .product(name: "Arrowhead", package: "Arrowhead"),
        .product(name: "ArrowheadIO", package: "Arrowhead"),
        .product(name: "ArrowheadQuant", package: "Arrowhead"),
        .product(name: "ArrowheadSearch", package: "Arrowhead"),
        .product(name: "ArrowheadTokenizer", package: "Arrowhead"),
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)
