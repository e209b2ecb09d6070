import Arrowhead
import Foundation
import Testing

/// Proof that each ISA variant of the SIMD backend runs its own code.
@Suite struct ISAVariantTests {
  /// a = b = 1 + 2⁻¹², c = −(1 + 2⁻¹¹): a·b = 1 + 2⁻¹¹ + 2⁻²⁴ exactly. A fused multiply-add
  /// returns 2⁻²⁴; mul-then-add first rounds a·b (a tie, to even) to 1 + 2⁻¹¹ and returns 0.
  @Test func eachVariantComputesWithItsOwnMultiplyAdd() {
    let a = Float(1) + 0x1p-12, c = -(Float(1) + 0x1p-11)
    var seen: [Int: Float] = [:]
    for variant in compiledSIMDVariants where variant.isRunnable() {
      let probe = variant.fusedMultiplyAddProbe(a, a, c)
      let fused = variant.details["fusedMultiplyAdd"] == "yes"
      #expect(probe == (fused ? 0x1p-24 : 0), "\(variant.name) (\(variant.compiledISA)) gave \(probe)")
      seen[variant.level] = probe
    }
    // Baseline code never uses FMA; if the AVX2 variant runs here, its result differs, so
    // the two cannot be one folded copy of the same code.
    if let baseline = seen[1], let v3 = seen[3] { #expect(baseline != v3) }
  }

  @Test func variantsReportDistinctNamesLevelsAndISAs() {
    let variants = compiledSIMDVariants
    #expect(Set(variants.map(\.name)).count == variants.count)
    #expect(Set(variants.map(\.level)).count == variants.count)
    #expect(Set(variants.map(\.compiledISA)).count == variants.count)
    #if arch(x86_64)
    #expect(variants.map(\.name) == ["simd-baseline", "simd-x86-64-v3", "simd-x86-64-v4"])
    #expect(variants[1].requiredFeatures.isSuperset(of: [.avx2, .fma]))
    #expect(variants[2].requiredFeatures.isSuperset(of: [.avx512f, .avx512bw, .avx512vl]))
    #endif
  }

  /// A weak (link-once) function defined by two ISA modules is kept once by the linker, so
  /// AVX-512 code could run inside the baseline variant (SIGILL on older CPUs) or baseline
  /// code inside the AVX-512 one (silently slow). The only ones allowed are compiler helpers
  /// whose code, in every module, uses no instruction beyond baseline x86-64 (checked by
  /// disassembly): no VEX/EVEX mnemonic, no YMM/ZMM/mask register.
  @Test(.enabled(if: ISAObjects.available, "needs readelf, objdump and the object files of this build"))
  func isaModulesShareOnlyISANeutralWeakFunctions() throws {
    let modules = try ISAObjects.weakFunctionsByModule()
    #expect(modules.count == compiledSIMDVariants.count, "found object files for \(modules.keys.sorted())")
    let names = modules.keys.sorted()
    var shared: Set<String> = []
    for (index, first) in names.enumerated() {
      for second in names[(index + 1)...] {
        shared.formUnion(modules[first, default: []].intersection(modules[second, default: []]))
      }
    }
    // Kernel code must never be shared; only runtime helpers may be.
    for symbol in shared {
      #expect(symbol.hasPrefix("__swift_"), "ISA modules share the weak function \(symbol)")
      for module in names where modules[module, default: []].contains(symbol) {
        let instructions = try ISAObjects.disassemble(symbol, in: module)
        let extended = instructions.filter { line in
          let mnemonic = line.split(separator: " ").first.map(String.init) ?? ""
          return mnemonic.hasPrefix("v") || line.contains("%ymm") || line.contains("%zmm") || line.contains("%k")
        }
        #expect(extended.isEmpty, "\(symbol) in \(module) uses \(extended.prefix(3)): not ISA-neutral")
      }
    }
  }
}

/// The object files of the per-ISA modules in this build, read with `readelf`.
enum ISAObjects {
  static let moduleNames = ["ArrowheadSIMDBaseline", "ArrowheadSIMDx86v3", "ArrowheadSIMDx86v4"]

  /// The build directory holding this test binary (…/.build/<triple>/debug).
  static var buildDirectory: URL? {
    guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
    while url.path != "/" {
      if FileManager.default.fileExists(atPath: url.appendingPathComponent("ArrowheadSIMDBaseline.build").path) { return url }
      url.deleteLastPathComponent()
    }
    return nil
  }

  static var readelf: String? {
    ["/usr/bin/readelf", "/bin/readelf", "/usr/local/bin/readelf"].first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static var objdump: String? {
    ["/usr/bin/objdump", "/bin/objdump", "/usr/local/bin/objdump"].first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static var available: Bool {
    #if arch(x86_64) && os(Linux)
    return buildDirectory != nil && readelf != nil && objdump != nil
    #else
    return false
    #endif
  }

  static func run(_ tool: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return output
  }

  /// The instructions ("mnemonic operands") of `symbol` in every object file of `module`.
  static func disassemble(_ symbol: String, in module: String) throws -> [String] {
    var instructions: [String] = []
    for object in try objectFiles(of: module) {
      let output = try run(objdump ?? "objdump", ["-d", "--no-show-raw-insn", "--disassemble=\(symbol)", object])
      for line in output.split(separator: "\n") {
        // "  340:\tvmovups (%rsi),%ymm0"
        let parts = line.split(separator: "\t", maxSplits: 1)
        if parts.count == 2, parts[0].hasSuffix(":") { instructions.append(String(parts[1])) }
      }
    }
    return instructions
  }

  /// Object files listed in a module's output-file-map.json (so stale objects are ignored).
  static func objectFiles(of module: String) throws -> [String] {
    guard let directory = buildDirectory else { return [] }
    let map = directory.appendingPathComponent("\(module).build/output-file-map.json")
    guard let data = FileManager.default.contents(atPath: map.path) else { return [] }
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    return json.values.compactMap { ($0 as? [String: Any])?["object"] as? String }
      .filter { FileManager.default.fileExists(atPath: $0) }
  }

  static func weakFunctionsByModule() throws -> [String: Set<String>] {
    var result: [String: Set<String>] = [:]
    for module in moduleNames {
      let objects = try objectFiles(of: module)
      if objects.isEmpty { continue }
      var symbols: Set<String> = []
      for object in objects {
        let output = try run(readelf ?? "readelf", ["-sW", object])
        for line in output.split(separator: "\n") {
          let fields = line.split(separator: " ", omittingEmptySubsequences: true)
          // Num: Value Size Type Bind Vis Ndx Name
          if fields.count >= 8, fields[3] == "FUNC", fields[4] == "WEAK", fields[6] != "UND" {
            symbols.insert(String(fields[7]))
          }
        }
      }
      result[module] = symbols
    }
    return result
  }
}
