import Arrowhead
import Foundation
import Testing

@Suite struct CPUInfoTests {
  @Test func cacheSizesParseAsSysfsWritesThem() {
    #expect(CPUInfo.parseCacheSizeForTesting("32K") == 32768)
    #expect(CPUInfo.parseCacheSizeForTesting("1024K") == 1_048_576)
    #expect(CPUInfo.parseCacheSizeForTesting("8M") == 8_388_608)
    #expect(CPUInfo.parseCacheSizeForTesting("512") == 512)
    #expect(CPUInfo.parseCacheSizeForTesting("") == nil)
    #expect(CPUInfo.parseCacheSizeForTesting("xK") == nil)
  }

  #if os(Linux) && arch(x86_64)
  /// The kernel's /proc/cpuinfo flags already account for OS support (XSAVE state), so the
  /// detected feature set must match them flag for flag.
  @Test func featuresMatchTheKernelsView() throws {
    let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    let flagsLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("flags") })
    let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
    let mapping: [(String, CPUFeature)] = [
      ("sse2", .sse2), ("sse4_2", .sse42), ("avx", .avx), ("avx2", .avx2), ("fma", .fma), ("f16c", .f16c),
      ("bmi2", .bmi2), ("avx512f", .avx512f), ("avx512bw", .avx512bw), ("avx512vl", .avx512vl),
      ("avx512dq", .avx512dq), ("avx512cd", .avx512cd), ("avx512_vnni", .avx512vnni), ("avx512_bf16", .avx512bf16),
      ("avx_vnni", .avxvnni), ("amx_int8", .amxInt8),
    ]
    // Under ARROWHEAD_CPU_DISABLE (the suite run as on an older CPU) the removed features
    // are the rest of what the kernel reports, and none of them is usable.
    let cpu = CPUInfo.current
    let detected = cpu.features.union(cpu.featuresDisabledByEnvironment)
    #expect(cpu.features.isDisjoint(with: cpu.featuresDisabledByEnvironment))
    for (flag, feature) in mapping {
      #expect(flags.contains(flag) == detected.contains(feature), "\(flag) vs \(feature)")
    }
    #expect(!cpu.vendor.isEmpty)
  }

  @Test func cachesComeFromSysfsAndCoresFromTheAffinityMask() throws {
    let cpu = CPUInfo.current
    #expect(cpu.caches.l1Data > 0 && cpu.caches.l2 > cpu.caches.l1Data)
    if let l3 = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/cache/index3/size", encoding: .utf8) {
      #expect(cpu.caches.l3 == CPUInfo.parseCacheSizeForTesting(l3.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
    #expect(cpu.logicalCores >= 1 && cpu.logicalCores <= ProcessInfo.processInfo.processorCount)
  }
  #endif
}
