import CArrowheadCPU

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An instruction-set feature that a kernel may depend on.
///
/// On x86-64 a feature counts as present only when the CPU reports it *and* the operating
/// system saves the registers it uses (checked with XGETBV), so a feature set never
/// promises an instruction that would fault.
public enum CPUFeature: String, CaseIterable, Sendable, Codable, Comparable {
  /// x86-64 extensions up to the AVX2 generation (Haswell, Zen 1): SSE2 (every x86-64 CPU),
  /// SSE4.2, AVX, AVX2, FMA (FMA3), F16C (half-precision conversion) and BMI2.
  case sse2 = "SSE2", sse42 = "SSE4.2", avx = "AVX", avx2 = "AVX2", fma = "FMA", f16c = "F16C", bmi2 = "BMI2"
  /// AVX-512 Foundation and its byte/word (BW), vector-length (VL) and doubleword/quadword
  /// (DQ) extensions.
  case avx512f = "AVX512F", avx512bw = "AVX512BW", avx512vl = "AVX512VL", avx512dq = "AVX512DQ"
  /// AVX-512 conflict detection (CD), int8 dot products (VNNI, `vpdpbusd`) and bfloat16
  /// conversions and dot products (BF16).
  case avx512cd = "AVX512CD", avx512vnni = "AVX512VNNI", avx512bf16 = "AVX512BF16"
  /// VEX-encoded VNNI (`vpdpbusd` on YMM without AVX-512: Alder Lake, Sapphire Rapids, Zen 5).
  case avxvnni = "AVX-VNNI"
  /// AMX tiles with int8 dot products (`tdpbsud`: Sapphire Rapids and later Xeons). Counts as
  /// present only when the OS saves the tile state and, on Linux, grants it to the process:
  /// detection asks for it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which enlarges this process's
  /// signal frames by the 8 KiB tile state. Counted as building on AVX512F (disabling that
  /// disables it).
  case amxInt8 = "AMX-INT8"
  /// arm64 features: NEON (Advanced SIMD, present on every arm64 CPU), int8 dot products
  /// (DOTPROD, `sdot`/`udot`), half-precision arithmetic (FP16), bfloat16 (BF16), int8
  /// matrix multiplication (I8MM) and SVE.
  case neon = "NEON", dotprod = "DOTPROD", fp16 = "FP16", bf16 = "BF16", i8mm = "I8MM", sve = "SVE"

  /// The features whose bits are set in `mask` (bits as `arrowhead_cpu_features()` and
  /// `CPUFeature.bit` define them).
  public static func features(inMask mask: UInt64) -> Set<CPUFeature> {
    Set(allCases.filter { mask & $0.bit != 0 })
  }

  /// The bit of this feature in `arrowhead_cpu_features()` (the C enum `ARROWHEAD_CPU_*`).
  public var bit: UInt64 {
    switch self {
    case .sse2: UInt64(ARROWHEAD_CPU_SSE2)
    case .sse42: UInt64(ARROWHEAD_CPU_SSE42)
    case .avx: UInt64(ARROWHEAD_CPU_AVX)
    case .avx2: UInt64(ARROWHEAD_CPU_AVX2)
    case .fma: UInt64(ARROWHEAD_CPU_FMA)
    case .f16c: UInt64(ARROWHEAD_CPU_F16C)
    case .bmi2: UInt64(ARROWHEAD_CPU_BMI2)
    case .avx512f: UInt64(ARROWHEAD_CPU_AVX512F)
    case .avx512bw: UInt64(ARROWHEAD_CPU_AVX512BW)
    case .avx512vl: UInt64(ARROWHEAD_CPU_AVX512VL)
    case .avx512dq: UInt64(ARROWHEAD_CPU_AVX512DQ)
    case .avx512cd: UInt64(ARROWHEAD_CPU_AVX512CD)
    case .avx512vnni: UInt64(ARROWHEAD_CPU_AVX512VNNI)
    case .avx512bf16: UInt64(ARROWHEAD_CPU_AVX512BF16)
    case .avxvnni: UInt64(ARROWHEAD_CPU_AVXVNNI)
    case .amxInt8: UInt64(ARROWHEAD_CPU_AMXINT8)
    case .neon: UInt64(ARROWHEAD_CPU_NEON)
    case .dotprod: UInt64(ARROWHEAD_CPU_DOTPROD)
    case .fp16: UInt64(ARROWHEAD_CPU_FP16)
    case .bf16: UInt64(ARROWHEAD_CPU_BF16)
    case .i8mm: UInt64(ARROWHEAD_CPU_I8MM)
    case .sve: UInt64(ARROWHEAD_CPU_SVE)
    }
  }

  /// The features this one builds on, itself included (AVX-512 VNNI: AVX512F, AVX2, AVX,
  /// SSE4.2, SSE2, FMA and itself): disabling any of them disables this one.
  public var foundations: Set<CPUFeature> {
    let direct: [CPUFeature]
    switch self {
    case .sse2, .bmi2, .neon: direct = []
    case .sse42: direct = [.sse2]
    case .avx: direct = [.sse42]
    case .avx2, .fma, .f16c: direct = [.avx]
    case .avx512f: direct = [.avx2, .fma]
    // AMX is not an AVX-512 extension, but every CPU with it has AVX-512 and Arrowhead's tile
    // kernels rescale with it: disabling AVX512F leaves the kernels of an AVX2-only CPU.
    case .avx512bw, .avx512vl, .avx512dq, .avx512cd, .avx512vnni, .avx512bf16, .amxInt8: direct = [.avx512f]
    case .avxvnni: direct = [.avx2]
    case .dotprod, .fp16, .bf16, .i8mm, .sve: direct = [.neon]
    }
    return direct.reduce(into: [self]) { $0.formUnion($1.foundations) }
  }

  /// Whether the feature belongs to the x86-64 family (as opposed to arm64).
  public var isX86: Bool {
    switch self {
    case .neon, .dotprod, .fp16, .bf16, .i8mm, .sve: false
    default: true
    }
  }

  public static func < (lhs: CPUFeature, rhs: CPUFeature) -> Bool {
    allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
  }
}

/// The processor architecture this binary was compiled for.
public enum Architecture: String, Sendable, Codable {
  /// x86-64 (raw value "x86-64"), arm64, or any other architecture.
  case x86_64 = "x86-64", arm64, other

  /// The architecture of the running binary.
  public static var current: Architecture {
    #if arch(x86_64)
    return .x86_64
    #elseif arch(arm64)
    return .arm64
    #else
    return .other
    #endif
  }
}

/// Cache sizes in bytes (0 when unknown), per core for L1d/L2 and shared for L3.
public struct CacheSizes: Sendable, Codable, Equatable {
  /// Level-1 data cache of one core.
  public var l1Data: Int
  /// Level-2 cache of one core.
  public var l2: Int
  /// Level-3 cache (shared by the cores of one complex).
  public var l3: Int

  /// Creates a description of the cache sizes.
  public init(l1Data: Int, l2: Int, l3: Int) {
    self.l1Data = l1Data
    self.l2 = l2
    self.l3 = l3
  }
}

/// What the CPU this process runs on can do: vendor, model, cores, caches and
/// instruction-set features (OS support included).
///
/// Detection runs once per process (`CPUInfo.current` is a cached constant). Caches come
/// from `/sys/devices/system/cpu/cpu0/cache` on Linux, because `sysconf`'s L3 figure is
/// wrong on these virtual machines.
public struct CPUInfo: Sendable, Codable, Equatable {
  /// The CPU vendor ("AuthenticAMD", "GenuineIntel", "ARM").
  public var vendor: String
  /// The brand string ("AMD EPYC 9R14 …"); may be empty on arm64 Linux.
  public var model: String
  /// Family / model / stepping as x86 reports them (0 elsewhere).
  public var family: Int, modelNumber: Int, stepping: Int
  /// The architecture the running binary was compiled for.
  public var architecture: Architecture
  /// Logical processors this process may run on.
  public var logicalCores: Int
  /// Cache sizes.
  public var caches: CacheSizes
  /// Features usable by this process (CPU and OS both support them).
  public var features: Set<CPUFeature>
  /// Features the CPU reports whose register state the OS does not save (unusable).
  public var featuresDisabledByOS: Set<CPUFeature>
  /// Features the CPU and OS support that `ARROWHEAD_CPU_DISABLE` (or `disabling(_:)`)
  /// removed, with every feature that builds on them.
  public var featuresDisabledByEnvironment: Set<CPUFeature> = []

  /// Creates a CPU description by hand (tests use it to simulate other processors).
  public init(
    vendor: String, model: String, family: Int = 0, modelNumber: Int = 0, stepping: Int = 0,
    architecture: Architecture, logicalCores: Int, caches: CacheSizes,
    features: Set<CPUFeature>, featuresDisabledByOS: Set<CPUFeature> = []
  ) {
    self.vendor = vendor
    self.model = model
    self.family = family
    self.modelNumber = modelNumber
    self.stepping = stepping
    self.architecture = architecture
    self.logicalCores = logicalCores
    self.caches = caches
    self.features = features
    self.featuresDisabledByOS = featuresDisabledByOS
  }

  /// The CPU of this process, detected once, without the features `ARROWHEAD_CPU_DISABLE`
  /// names (an invalid value is ignored here; `Engine.fromEnvironment` reports it).
  public static let current: CPUInfo = {
    let detected = detect()
    guard let text = ProcessEnvironment.current[disableVariable], !text.isEmpty,
      let disabled = try? features(toDisable: text)
    else { return detected }
    return detected.disabling(disabled)
  }()

  /// The environment variable listing CPU features to treat as absent, e.g.
  /// `ARROWHEAD_CPU_DISABLE=AVX512F` (every AVX-512 kernel off: the process runs the AVX2
  /// variants, as on an AVX2-only CPU) or `AVX512VNNI,AVX-VNNI`. Names as `CPUFeature`
  /// spells them, case, `-`, `.` and `_` ignored; `AVX512` means `AVX512F`. A feature
  /// takes with it every feature that builds on it (`AVX2` removes AVX-512 and AVX-VNNI).
  /// Like `OPENBLAS_CORETYPE`, it is for comparing code paths and testing on one machine;
  /// `arrowhead probe` lists what it removed.
  public static let disableVariable = "ARROWHEAD_CPU_DISABLE"

  /// The features named in `text` (an `ARROWHEAD_CPU_DISABLE` value: names separated by
  /// commas or spaces), each with the features that build on it. Throws
  /// `.invalidEnvironment` listing the valid names for a name it does not know.
  public static func features(toDisable text: String) throws(ArrowheadError) -> Set<CPUFeature> {
    func normalized(_ name: String) -> String {
      String(name.uppercased().unicodeScalars.filter { !"-._".unicodeScalars.contains($0) })
    }
    var named: Set<CPUFeature> = []
    for name in text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) {
      let key = normalized(name)
      if key == "AVX512" {
        named.insert(.avx512f)
      } else if let feature = CPUFeature.allCases.first(where: { normalized($0.rawValue) == key }) {
        named.insert(feature)
      } else {
        throw .invalidEnvironment(
          variable: disableVariable, value: text,
          expected: "CPU feature names separated by commas: \(CPUFeature.allCases.map(\.rawValue).joined(separator: ", ")) or AVX512")
      }
    }
    return CPUFeature.allCases.reduce(into: Set<CPUFeature>()) { result, feature in
      if !feature.foundations.isDisjoint(with: named) { result.insert(feature) }
    }
  }

  /// This CPU as if it lacked `disabled` (and every feature that builds on one of them):
  /// what `ARROWHEAD_CPU_DISABLE` does. The removed usable features are recorded in
  /// `featuresDisabledByEnvironment`.
  public func disabling(_ disabled: Set<CPUFeature>) -> CPUInfo {
    let removed = features.filter { !$0.foundations.isDisjoint(with: disabled) }
    var copy = self
    copy.features.subtract(removed)
    copy.featuresDisabledByEnvironment.formUnion(removed)
    return copy
  }

  /// Whether every feature in `required` is usable.
  public func supports(_ required: Set<CPUFeature>) -> Bool { required.isSubset(of: features) }

  /// The features in `required` that this CPU lacks, sorted.
  public func missing(_ required: Set<CPUFeature>) -> [CPUFeature] { required.subtracting(features).sorted() }

  static func detect() -> CPUInfo {
    var vendorBuffer = [CChar](repeating: 0, count: 64)
    var brandBuffer = [CChar](repeating: 0, count: 128)
    arrowhead_cpu_vendor(&vendorBuffer, Int32(vendorBuffer.count))
    arrowhead_cpu_brand(&brandBuffer, Int32(brandBuffer.count))
    var family: Int32 = 0, model: Int32 = 0, stepping: Int32 = 0
    arrowhead_cpu_signature(&family, &model, &stepping)
    let usable = arrowhead_cpu_features()
    let raw = arrowhead_cpu_features_without_os_check()
    let features = Set(CPUFeature.allCases.filter { usable & $0.bit != 0 })
    let disabled = Set(CPUFeature.allCases.filter { raw & $0.bit != 0 && usable & $0.bit == 0 })
    return CPUInfo(
      vendor: string(from: vendorBuffer), model: string(from: brandBuffer).trimmingSpaces(),
      family: Int(family), modelNumber: Int(model), stepping: Int(stepping),
      architecture: .current, logicalCores: availableCores(), caches: detectCaches(),
      features: features, featuresDisabledByOS: disabled)
  }

  private static func string(from buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Logical cores this process may use: the affinity mask on Linux, else the online count.
  static func availableCores() -> Int {
    let affinity = Int(arrowhead_cpu_affinity_count())
    if affinity > 0 { return affinity }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }

  static func detectCaches() -> CacheSizes {
    var sizes = CacheSizes(l1Data: 0, l2: 0, l3: 0)
    #if os(Linux)
    for index in 0..<8 {
      let directory = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
      guard let level = readSmallFile(directory + "/level").flatMap({ Int($0) }),
        let type = readSmallFile(directory + "/type"),
        let sizeText = readSmallFile(directory + "/size"),
        let bytes = parseCacheSize(sizeText)
      else { continue }
      switch (level, type) {
      case (1, "Data"), (1, "Unified"): sizes.l1Data = bytes
      case (2, _): sizes.l2 = bytes
      case (3, _): sizes.l3 = bytes
      default: break
      }
    }
    #endif
    if sizes.l1Data == 0 { sizes.l1Data = max(0, Int(sysconf(Int32(_SC_LEVEL1_DCACHE_SIZE_VALUE)))) }
    if sizes.l2 == 0 { sizes.l2 = max(0, Int(sysconf(Int32(_SC_LEVEL2_CACHE_SIZE_VALUE)))) }
    return sizes
  }

  /// `parseCacheSize`, visible to tests.
  public static func parseCacheSizeForTesting(_ text: String) -> Int? { parseCacheSize(text) }

  /// Parses "32K", "1024K", "32768K", "8M" as written in /sys cache files.
  static func parseCacheSize(_ text: String) -> Int? {
    guard let last = text.last else { return nil }
    let multiplier: Int
    var digits = Substring(text)
    switch last {
    case "K", "k": multiplier = 1024; digits = digits.dropLast()
    case "M", "m": multiplier = 1024 * 1024; digits = digits.dropLast()
    case "G", "g": multiplier = 1024 * 1024 * 1024; digits = digits.dropLast()
    default: multiplier = 1
    }
    return Int(digits).map { $0 * multiplier }
  }
}

#if os(Linux)
private let _SC_LEVEL1_DCACHE_SIZE_VALUE = 190  // _SC_LEVEL1_DCACHE_SIZE in glibc
private let _SC_LEVEL2_CACHE_SIZE_VALUE = 193   // _SC_LEVEL2_CACHE_SIZE in glibc
#else
private let _SC_LEVEL1_DCACHE_SIZE_VALUE = -1
private let _SC_LEVEL2_CACHE_SIZE_VALUE = -1
#endif

/// Reads a small text file (sysfs, procfs) and trims whitespace; nil if unreadable.
func readSmallFile(_ path: String) -> String? {
  guard let file = fopen(path, "r") else { return nil }
  defer { fclose(file) }
  var buffer = [CChar](repeating: 0, count: 256)
  guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
  let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
  return String(decoding: bytes, as: UTF8.self).trimmingSpaces()
}

extension String {
  func trimmingSpaces() -> String {
    var scalars = Substring(self)
    while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
    while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
    return String(scalars)
  }
}
