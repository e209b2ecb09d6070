// The libFuzzer entry points. One binary holds every target; `ARROWHEAD_FUZZ_TARGET`
// chooses which parser each input goes to (see `FuzzTarget`).
#if canImport(Glibc)
import Glibc
#endif

/// The target chosen at start-up (libFuzzer calls `LLVMFuzzerInitialize` once).
nonisolated(unsafe) var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
  let name = getenv("ARROWHEAD_FUZZ_TARGET").map { String(cString: $0) } ?? ""
  if name == "list" {
    print(FuzzTarget.allCases.map(\.rawValue).joined(separator: "\n"))
    exit(0)
  }
  guard let target = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: " ")
    fputs("ArrowheadFuzz: set ARROWHEAD_FUZZ_TARGET to one of: \(names)\n", stderr)
    exit(2)
  }
  selectedTarget = target
  FuzzScratch.shared.prepare()
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  let bytes = UnsafeRawBufferPointer(start: data, count: count)
  selectedTarget?.run(bytes)
  return 0
}
