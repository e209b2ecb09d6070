// swift-tools-version: 6.2
//
// Arrowhead: a SIMD/BLAS-accelerated numerical engine with plugin backends.
//
// Why 6.2: the per-ISA SIMD targets need `unsafeFlags(["-Xcc", "-march=…"])`, and SwiftPM
// accepts unsafe flags in a version-pinned dependency only from tools version 6.2 on.
//
// The manifest is grouped as: ISA table → products → public modules → backends →
// internal C modules → CLI → tests.
import PackageDescription

// MARK: - The ISA table of the pure-Swift SIMD backend
//
// ONE kernel source (Backends/SIMD) is compiled once per row of this table. Each row's
// folder holds symbolic links to the shared sources plus one `Variant.swift` naming its
// ISA and tuning; the module name makes every kernel symbol distinct, so the linker can
// never fold the AVX-512 kernel into the baseline one (or the reverse). Adding a level
// takes one row here and one folder. The x86 rows exist only when the manifest runs on
// x86-64: `-march=x86-64-v3` would break an arm64 build.
struct SIMDVariant {
  var target: String
  var folder: String
  var flags: [String]
  /// Compilation conditions of the variant's Swift sources (what the shared kernels test).
  var defines: [String] = []
}

var simdVariants: [SIMDVariant] = [
  // SSE2 on x86-64, NEON on arm64. Links libm; never uses FMA (it would become a libm
  // `fmaf` call per lane on baseline x86-64).
  SIMDVariant(target: "ArrowheadSIMDBaseline", folder: "Backends/SIMDBaseline", flags: []),
]
#if arch(x86_64)
simdVariants += [
  // AVX2 + FMA + F16C + BMI2 (Haswell, Zen 1 and later).
  SIMDVariant(target: "ArrowheadSIMDx86v3", folder: "Backends/SIMDx86v3", flags: ["-Xcc", "-march=x86-64-v3"]),
  // AVX-512 F/BW/CD/DQ/VL (Skylake-SP, Zen 4 and later).
  SIMDVariant(
    target: "ArrowheadSIMDx86v4", folder: "Backends/SIMDx86v4", flags: ["-Xcc", "-march=x86-64-v4"],
    defines: ["ARROWHEAD_SIMD_X86_64_V4"]),
]
#endif

/// Kernels and engines are compiled with optimisation even in debug builds: an
/// unoptimised SIMD kernel is ~100× slower, which would make the test suite crawl and a
/// debug CLI useless. The tests and the CLI themselves stay debuggable.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

let openBLASTrait = "OpenBLAS"

// MARK: - Targets

var targets: [Target] = [
  // Public API ---------------------------------------------------------------------------
  .target(
    name: "ArrowheadCore",
    dependencies: ["CArrowheadCPU"],
    exclude: ["README.md"],
    swiftSettings: optimized,
    // Core refers weakly to `arrowhead_builtin_backends`, defined by the `Arrowhead` module
    // when an application links it (see arrowhead_builtin.h). ELF linkers accept an
    // unresolved weak reference; Apple's needs to be told.
    linkerSettings: [
      .unsafeFlags(["-Xlinker", "-U", "-Xlinker", "_arrowhead_builtin_backends"], .when(platforms: [.macOS, .iOS]))
    ]
  ),
  .target(
    name: "ArrowheadIO",
    dependencies: ["ArrowheadCore", "CArrowheadCPU"],
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadQuant",
    dependencies: ["ArrowheadCore", "ArrowheadIO"],
    exclude: ["README.md"],
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadOptimize",
    dependencies: ["ArrowheadCore", "ArrowheadQuant"],
    exclude: ["README.md"],
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadSearch",
    dependencies: [
      "ArrowheadCore", "ArrowheadQuant", "ArrowheadIO", "CArrowheadCPU",
      .product(name: "HeapModule", package: "swift-collections"),
    ],
    exclude: ["README.md"],
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadTokenizer",
    dependencies: ["ArrowheadCore", "ArrowheadIO"],
    exclude: ["README.md"],
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadEncoder",
    dependencies: ["ArrowheadCore", "ArrowheadIO", "ArrowheadTokenizer", "ArrowheadQuant", "ArrowheadOptimize"],
    exclude: ["README.md"],
    swiftSettings: optimized
  ),
  .target(
    name: "Arrowhead",
    dependencies: [
      "ArrowheadCore",
      "ArrowheadSIMD",
      .target(name: "ArrowheadOpenBLAS", condition: .when(traits: [openBLASTrait])),
    ] + simdVariants.map { .target(name: $0.target) },
    swiftSettings: optimized
  ),

  // The conformance suite as a product: third-party backends run the checks ours pass.
  .target(
    name: "ArrowheadConformance",
    dependencies: ["ArrowheadCore"]
  ),

  // Backends -----------------------------------------------------------------------------
  .target(
    name: "ArrowheadSIMD",
    dependencies: ["ArrowheadCore", "CArrowheadQMatmul"],
    path: "Backends/SIMDBackend",
    swiftSettings: optimized
  ),
  .target(
    name: "ArrowheadOpenBLAS",
    dependencies: ["ArrowheadCore", "COpenBLAS"],
    path: "Backends/OpenBLAS/Backend",
    swiftSettings: optimized
  ),

  // Internal C modules (no API stability promise) ------------------------------------------
  .target(name: "CArrowheadCPU", path: "Sources/CArrowheadCPU"),
  // The quantized-matmul inner loops: one C file per ISA (`target` attributes), chosen at
  // run time by the SIMD backend. Optimised in debug builds too; no FP contraction, so that
  // "mul then add" stays two roundings where the dequantize semantics require it.
  .target(
    name: "CArrowheadQMatmul",
    path: "Sources/CArrowheadQMatmul",
    exclude: ["README.md"],
    cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]
  ),
  .systemLibrary(
    name: "COpenBLAS",
    path: "Backends/OpenBLAS/COpenBLAS",
    pkgConfig: "openblas",
    providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
  ),

  // CLI ----------------------------------------------------------------------------------
  .executableTarget(
    name: "arrowhead",
    dependencies: [
      "Arrowhead", "ArrowheadIO", "ArrowheadQuant", "ArrowheadOptimize", "ArrowheadSearch",
      "ArrowheadTokenizer", "ArrowheadEncoder",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]
  ),

  // Tests --------------------------------------------------------------------------------
  .testTarget(
    name: "ArrowheadCoreTests",
    dependencies: ["Arrowhead", "ArrowheadConformance"]
  ),
  .testTarget(
    name: "ArrowheadIOTests",
    dependencies: ["ArrowheadIO", "Arrowhead", "ArrowheadTestSupport"]
  ),
  .target(
    name: "ArrowheadTestSupport",
    dependencies: ["ArrowheadCore", "ArrowheadIO"],
    path: "Tests/Support"
  ),
  .testTarget(
    name: "ArrowheadQuantTests",
    dependencies: ["ArrowheadQuant", "Arrowhead", "ArrowheadTestSupport"]
  ),
  .testTarget(
    name: "ArrowheadOptimizeTests",
    dependencies: ["ArrowheadOptimize", "Arrowhead", "ArrowheadTestSupport"]
  ),
  .testTarget(
    name: "ArrowheadSearchTests",
    dependencies: ["ArrowheadSearch", "Arrowhead", "ArrowheadTestSupport"]
  ),
  // Replays Fuzz/Corpus and Fuzz/Regressions through the fuzz harness (symbolic links to
  // Fuzz/Sources/ArrowheadFuzz; the fuzzers themselves are the separate Fuzz/ package).
  .testTarget(
    name: "ArrowheadFuzzReplayTests",
    dependencies: ["Arrowhead", "ArrowheadIO", "ArrowheadQuant", "ArrowheadSearch", "ArrowheadTokenizer"]
  ),
  .testTarget(
    name: "ArrowheadTokenizerTests",
    dependencies: ["ArrowheadTokenizer", "ArrowheadIO", "ArrowheadTestSupport"],
    exclude: ["Fixtures"]
  ),
  .testTarget(
    name: "ArrowheadEncoderTests",
    dependencies: [
      "ArrowheadEncoder", "ArrowheadTokenizer", "Arrowhead", "ArrowheadIO", "ArrowheadTestSupport", "ArrowheadQuant",
      "ArrowheadOptimize",
    ],
    exclude: ["Golden"]
  ),
  .testTarget(
    name: "ArrowheadCLITests",
    dependencies: ["arrowhead", "ArrowheadTestSupport"]
  ),
]

for variant in simdVariants {
  targets.append(
    .target(
      name: variant.target,
      dependencies: ["ArrowheadCore", "ArrowheadSIMD", "CArrowheadCPU", "CArrowheadQMatmul"],
      path: variant.folder,
      swiftSettings: optimized + (variant.flags.isEmpty ? [] : [.unsafeFlags(variant.flags)])
        + variant.defines.map { .define($0) },
      linkerSettings: [.linkedLibrary("m")]
    )
  )
}

// MARK: - C ABI (libArrowheadC; the Python package in python/ loads it)
//
// The header lives in the C target; the Swift target implements each declaration with
// `@c @implementation` (Swift 6.3), so the compiler checks every signature against
// arrowhead.h. Older compilers build everything else.
var cABIProducts: [Product] = []
#if compiler(>=6.3)
targets += [
  .target(name: "CArrowhead", path: "Sources/CArrowhead"),
  .target(
    name: "ArrowheadC",
    dependencies: [
      "Arrowhead", "ArrowheadIO", "ArrowheadQuant", "ArrowheadOptimize", "ArrowheadSearch", "ArrowheadEncoder",
      "ArrowheadTokenizer", "CArrowhead",
    ],
    exclude: ["README.md", "exports.map"],
    swiftSettings: optimized,
    // Only the header's ah_* functions leave libArrowheadC (exports.map); the Swift modules
    // linked into it stay local to it.
    linkerSettings: [
      .unsafeFlags(
        ["-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/ArrowheadC/exports.map"],
        .when(platforms: [.linux])
      )
    ]
  ),
  .testTarget(
    name: "ArrowheadCTests",
    dependencies: ["ArrowheadC", "CArrowhead", "ArrowheadTestSupport"]
  ),
]
cABIProducts.append(.library(name: "ArrowheadC", type: .dynamic, targets: ["ArrowheadC"]))
#endif

let package = Package(
  name: "Arrowhead",
  products: [
    .library(name: "Arrowhead", targets: ["Arrowhead"]),
    .library(name: "ArrowheadIO", targets: ["ArrowheadIO"]),
    .library(name: "ArrowheadQuant", targets: ["ArrowheadQuant"]),
    .library(name: "ArrowheadOptimize", targets: ["ArrowheadOptimize"]),
    .library(name: "ArrowheadSearch", targets: ["ArrowheadSearch"]),
    .library(name: "ArrowheadConformance", targets: ["ArrowheadConformance"]),
    .library(name: "ArrowheadTokenizer", targets: ["ArrowheadTokenizer"]),
    .library(name: "ArrowheadEncoder", targets: ["ArrowheadEncoder"]),
    .executable(name: "arrowhead", targets: ["arrowhead"]),
  ] + cABIProducts,
  traits: [
    .trait(
      name: openBLASTrait,
      description: "The OpenBLAS + LAPACKE backend (needs libopenblas-dev and liblapacke-dev)."
    ),
    .default(enabledTraits: [openBLASTrait]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
  ],
  targets: targets,
  swiftLanguageModes: [.v6]
)
