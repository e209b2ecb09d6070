import Foundation
import Testing

@testable import ArrowheadCore

/// The on-disk dispatch cache: round trips, and every way a file can be wrong is ignored
/// (the caller then measures again) — never trusted, never a crash.
@Suite struct DispatchCacheTests {
  static let key = "calibration 1; arrowhead test; cpu test; threads 2; backends a;b"
  static let contents = DispatchCache.Contents(
    timings: ["gemm/small": ["simd-x86-64-v4": 1.5e-8, "openblas": 3.25e-8], "dot/large": ["openblas": 1e-7]], load: 0.5)

  func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arrowhead-dispatch-\(UUID().uuidString)")
    return directory.appendingPathComponent(name).path
  }

  @Test func aStoredCacheReadsBackExactly() throws {
    let path = temporaryPath("dispatch.txt")
    guard case .success = DispatchCache.store(path: path, key: Self.key, contents: Self.contents) else {
      Issue.record("store failed")
      return
    }
    #expect(DispatchCache.load(path: path, key: Self.key) == Self.contents)
    // No temporary file is left beside it.
    let directory = (path as NSString).deletingLastPathComponent
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["dispatch.txt"])
  }

  @Test func aCacheForAnotherKeyIsNotUsed() {
    let path = temporaryPath("dispatch.txt")
    _ = DispatchCache.store(path: path, key: Self.key, contents: Self.contents)
    #expect(DispatchCache.load(path: path, key: Self.key.replacingOccurrences(of: "threads 2", with: "threads 1")) == nil)
    #expect(DispatchCache.load(path: path, key: Self.key + "x") == nil)
  }

  @Test(arguments: [
    "",  // empty
    "arrowhead-dispatch-cache 1\n",  // truncated after the header
    "arrowhead-dispatch-cache 2\nkey K\nload 0\nentry gemm/small a=1e-8\n",  // another format
    "arrowhead-dispatch-cache 1\nkey K\nentry gemm/small a=1e-8\n",  // no load line
    "arrowhead-dispatch-cache 1\nkey K\nload nan\nentry gemm/small a=1e-8\n",
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/huge a=1e-8\n",  // unknown entry
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry noSuchKernel/small a=1e-8\n",
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small a=-1\n",  // negative time
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small a=inf\n",
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small a=1e-8 a=2e-8\n",  // duplicate backend
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small a=1e-8\nentry gemm/small a=1e-8\n",  // duplicate entry
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small\n",  // no figures
    "arrowhead-dispatch-cache 1\nkey K\nload 0\nentry gemm/small a\n",  // no '='
    "arrowhead-dispatch-cache 1\nkey K\nload 0\ngarbage\n",
  ])
  func aMalformedFileIsIgnored(_ text: String) throws {
    let path = temporaryPath("dispatch.txt")
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    #expect(DispatchCache.load(path: path, key: "K") == nil)
  }

  @Test func aFileOfRandomBytesIsIgnored() throws {
    let path = temporaryPath("dispatch.txt")
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    var generator = SeededGenerator(seed: 3)
    for _ in 0..<50 {
      let bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      FileManager.default.createFile(atPath: path, contents: Data(bytes))
      #expect(DispatchCache.load(path: path, key: "K") == nil)
    }
  }

  @Test func figuresMeasuredOnABusyMachineAreRemeasuredWhenItQuietensDown() {
    let cpu = CPUInfo.current
    let busy = Double(cpu.logicalCores) * 3
    #expect(Calibration.measuredWhileBusy(busy, cpu: cpu, now: busy / 4))
    #expect(!Calibration.measuredWhileBusy(busy, cpu: cpu, now: busy * 0.9))  // still busy: keep them
    #expect(!Calibration.measuredWhileBusy(0.3, cpu: cpu, now: 0))  // measured quietly: keep them
  }

  /// ARROWHEAD_CACHE_DIR, then XDG_CACHE_HOME, then HOME name the directory.
  @Test func theCacheLocationFollowsTheEnvironment() throws {
    let directory = temporaryPath("cache")
    let key = DispatchCache.key(runnable: BackendRegistry.builtIn.runnable(), cpu: .current, threads: 1)
    let path = try #require(DispatchCache.path(for: key, environment: [DispatchCache.directoryVariable: directory]))
    #expect(path.hasPrefix(directory + "/dispatch-"))
    #expect(DispatchCache.directory(environment: ["XDG_CACHE_HOME": "/x"]) == "/x/arrowhead")
    #expect(DispatchCache.directory(environment: ["HOME": "/home/u"]) == "/home/u/.cache/arrowhead")
    #expect(DispatchCache.directory(environment: [:]) == nil)
  }
  /// Every rebuilt program has a key (and a file) of its own: `store` keeps the
  /// `filesKept` most recently used dispatch files of its directory, removes temporary files
  /// over an hour old, and leaves everything else alone.
  @Test func storingPrunesTheLeastRecentlyUsedFiles() throws {
    let directory = (temporaryPath("x") as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let now = Date().timeIntervalSince1970
    func write(_ name: String, age seconds: Double) throws {
      let path = directory + "/" + name
      try "x".write(toFile: path, atomically: false, encoding: .utf8)
      try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: now - seconds)], ofItemAtPath: path)
    }
    let extra = 5
    for index in 0..<(DispatchCache.filesKept + extra) {
      try write("dispatch-\(index).txt", age: Double(index) * 600 + 60)  // dispatch-0 newest
    }
    try write("dispatch-old.txt.tmp-12-34", age: 7200)
    try write("dispatch-fresh.txt.tmp-12-35", age: 10)
    try write("notes.txt", age: 1e6)
    try write("dispatch-notes.md", age: 1e6)
    // Reading a file marks it as used: the oldest one survives.
    let oldest = directory + "/dispatch-\(DispatchCache.filesKept + extra - 1).txt"
    DispatchCache.touch(path: oldest)
    guard case .success = DispatchCache.store(path: directory + "/dispatch-new.txt", key: Self.key, contents: Self.contents) else {
      Issue.record("store failed")
      return
    }
    let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
    var expected: Set<String> = ["dispatch-new.txt", "dispatch-fresh.txt.tmp-12-35", "notes.txt", "dispatch-notes.md"]
    expected.insert("dispatch-\(DispatchCache.filesKept + extra - 1).txt")
    for index in 0..<(DispatchCache.filesKept - 2) { expected.insert("dispatch-\(index).txt") }
    #expect(left == expected, "removed: \(expected.subtracting(left).sorted()), kept too: \(left.subtracting(expected).sorted())")
    #expect(DispatchCache.load(path: directory + "/dispatch-new.txt", key: Self.key) == Self.contents)
  }
}

/// The cache key holds only what does not change while a process runs: running kernels
/// (OpenBLAS resets its thread count per call) must not change it, or every process would
/// miss the cache.
@Test func theCacheKeyIsStableAcrossKernelCalls() throws {
  let runnable = BackendRegistry.builtIn.runnable()
  let before = DispatchCache.key(runnable: runnable, cpu: .current, threads: 2)
  for name in runnable.map(\.name) {
    for threads in [1, 2] {
      let engine = try Engine(registry: .builtIn, threads: threads, forcing: name)
      _ = try engine.multiply(try Matrix(rows: 64, columns: 64, repeating: 1), try Matrix(rows: 64, columns: 64, repeating: 2))
    }
  }
  #expect(DispatchCache.key(runnable: runnable, cpu: .current, threads: 2) == before)
}

/// Figures timed by a debug build must never be read by a release build (or by another
/// executable): the key names the configuration this test was compiled in and the running
/// executable's size and modification time.
@Test func theCacheKeyNamesTheBuild() throws {
  let key = DispatchCache.key(runnable: BackendRegistry.builtIn.runnable(), cpu: .current, threads: 1)
  #if DEBUG
    #expect(key.contains("build debug "), "\(key)")
  #else
    #expect(key.contains("build release "), "\(key)")
  #endif
  #if os(Linux)
    let identity = try #require(DispatchCache.executableIdentity())
    #expect(key.contains(identity), "\(key)")
    #expect(identity.range(of: #"^executable [0-9]+/[0-9]+\.[0-9]+$"#, options: .regularExpression) != nil, "\(identity)")
  #endif
}
