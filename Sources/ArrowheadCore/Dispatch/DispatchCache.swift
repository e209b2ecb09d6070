#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The library's version, part of every cache key (a new version measures again).
public enum ArrowheadVersion {
  /// "major.minor.patch".
  public static let string = "0.2.0"
}

/// The on-disk cache of dispatch measurements.
///
/// One small text file per key, in `$ARROWHEAD_CACHE_DIR`, else `$XDG_CACHE_HOME/arrowhead`,
/// else `$HOME/.cache/arrowhead`. The key names everything the figures depend on: the
/// calibration format, the library version, the CPU (vendor, brand string, family, model,
/// stepping, features), the thread count and every runnable backend with its ISA and
/// details (e.g. OpenBLAS's version and kernel family). The file repeats the full key, and
/// a file is used only if it parses completely, its key matches exactly, and every figure
/// is a finite positive number for a known kernel; anything else (a corrupted, truncated,
/// stale or foreign file) is ignored and replaced by a new measurement. Files are written
/// to a temporary name and renamed, so a reader never sees half a file. A write keeps the
/// `filesKept` most recently used (written or read) files of the directory and removes the
/// others (`prune`).
///
/// Figures measured while the machine was oversubscribed (1-minute load average above the
/// logical core count) are kept but marked: a later process that finds the machine at most
/// half as loaded measures again and replaces them, so a first run on a busy machine does not
/// decide dispatch for good. `arrowhead probe --recalibrate` (or `ARROWHEAD_DISPATCH=remeasure`)
/// measures again at any time.
///
/// Format:
/// ```
/// arrowhead-dispatch-cache 1
/// key <the key>
/// load 0.42
/// entry gemm/small simd-x86-64-v4=1.2e-08 openblas=3.4e-08
/// ```
public enum DispatchCache {
  /// Overrides the cache directory.
  public static let directoryVariable = "ARROWHEAD_CACHE_DIR"
  static let header = "arrowhead-dispatch-cache 1"

  /// The directory the cache lives in, from `environment`, or nil when none can be named.
  public static func directory(environment: [String: String] = ProcessEnvironment.current) -> String? {
    if let explicit = environment[directoryVariable], !explicit.isEmpty { return explicit }
    if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/arrowhead" }
    if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/arrowhead" }
    return nil
  }

  /// The key of a measurement: everything the figures depend on.
  static func key(runnable: [any Backend], cpu: CPUInfo, threads: Int) -> String {
    let features = cpu.features.map(\.rawValue).sorted().joined(separator: ",")
    let backends = runnable.map { backend in
      let details = backend.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
      return "\(backend.name)[\(backend.compiledISA)|\(details)]"
    }.joined(separator: ";")
    // "calibration 2": the gemv size classes and their problems changed (small up to 256 × 256).
    // "calibration 3": the key names the build (configuration and executable), see `buildIdentity`.
    // "calibration 4": level-1 and float-row problems at explicit cache-line placements.
    // "calibration 5": the large gemv classes also time a 768 × 768 problem (past L2).
    // "calibration 6": `scale` is timed with α = −1 (α = 1 let OpenBLAS skip the work).
    let text = "calibration 6; arrowhead \(ArrowheadVersion.string); build \(buildIdentity); cpu \(cpu.vendor) \(cpu.model) "
      + "\(cpu.family)/\(cpu.modelNumber)/\(cpu.stepping) \(features); threads \(threads); backends \(backends)"
    return String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
  }

  /// The build whose kernels were timed: its configuration and the running executable's
  /// size and modification time.
  ///
  /// Without it, figures measured by a debug build (whose Swift kernels run 7–25× slower
  /// than in release, while OpenBLAS runs at full speed either way) were read back by a
  /// release build of the same version on the same CPU and sent its `dot` and `distances`
  /// to OpenBLAS. Rebuilding the executable measures again (well under a second).
  static let buildIdentity: String = {
    #if DEBUG
      let configuration = "debug"
    #else
      let configuration = "release"
    #endif
    return "\(configuration) \(executableIdentity() ?? "executable unknown")"
  }()

  /// "executable <bytes>/<mtime seconds>.<nanoseconds>" of the running program, or nil
  /// where it cannot be read.
  static func executableIdentity() -> String? {
    #if os(Linux)
      var status = stat()
      guard stat("/proc/self/exe", &status) == 0 else { return nil }
      return "executable \(status.st_size)/\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
    #else
      return nil
    #endif
  }

  /// The cache file of `key` (nil when there is no cache directory).
  static func path(for key: String, environment: [String: String] = ProcessEnvironment.current) -> String? {
    guard let directory = directory(environment: environment) else { return nil }
    return "\(directory)/dispatch-\(fnv1a(key)).txt"
  }

  /// What a valid cache file holds.
  struct Contents: Equatable {
    /// Seconds per call by entry and backend.
    var timings: [String: [String: Double]]
    /// The 1-minute load average when they were measured.
    var load: Double
  }

  /// The contents stored under `key` at `path`, or nil if the file is missing or not
  /// entirely valid.
  static func load(path: String, key: String) -> Contents? {
    guard let text = readSmallFile(path) else { return nil }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    guard lines.count >= 3, lines[0] == header, lines[1] == "key " + key, lines[2].hasPrefix("load "),
      let load = Double(lines[2].dropFirst(5)), load.isFinite, load >= 0
    else { return nil }
    let knownEntries = Set(KernelOperation.allCases.flatMap { op in ShapeClass.allCases.map { Calibration.entryName(op, $0) } })
    var timings: [String: [String: Double]] = [:]
    for line in lines.dropFirst(3) {
      let fields = line.split(separator: " ").map(String.init)
      guard fields.count >= 2, fields[0] == "entry", knownEntries.contains(fields[1]), timings[fields[1]] == nil else { return nil }
      var entry: [String: Double] = [:]
      for field in fields.dropFirst(2) {
        let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Double(parts[1]), value.isFinite, value > 0, entry[parts[0]] == nil else {
          return nil
        }
        entry[parts[0]] = value
      }
      guard !entry.isEmpty else { return nil }
      timings[fields[1]] = entry
    }
    return Contents(timings: timings, load: load)
  }

  /// Why the cache could not be written.
  struct WriteFailure: Error {
    var reason: String
  }

  /// Writes `timings` under `key` to `path` atomically (temporary file, then rename),
  /// creating the directory if needed.
  static func store(path: String, key: String, contents: Contents) -> Result<Void, WriteFailure> {
    let timings = contents.timings
    var text = header + "\nkey " + key + "\nload \(contents.load)\n"
    for name in timings.keys.sorted() {
      let entry = timings[name] ?? [:]
      text += "entry \(name)" + entry.keys.sorted().map { " \($0)=\(entry[$0] ?? 0)" }.joined() + "\n"
    }
    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    if !directory.isEmpty { makeDirectories(directory) }
    let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard descriptor >= 0 else {
      return .failure(WriteFailure(reason: "cannot create \(temporary): \(String(cString: strerror(errno)))"))
    }
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
      let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
      if result <= 0 { break }
      written += result
    }
    close(descriptor)
    guard written == bytes.count, rename(temporary, path) == 0 else {
      unlink(temporary)
      return .failure(WriteFailure(reason: "cannot write \(path)"))
    }
    if !directory.isEmpty { prune(directory: directory, keeping: filesKept) }
    return .success(())
  }

  /// How many cache files a directory keeps (`prune`): one per build of each program, thread
  /// count and CPU, so a handful in use; at ~13 KB each, 32 files are under half a MiB.
  static let filesKept = 32

  /// Marks the cache file at `path` as just used (its modification time, which `prune`
  /// keeps the newest of). Failures are ignored: the file is then only pruned sooner.
  static func touch(path: String) {
    _ = utimensat(AT_FDCWD, path, nil, 0)
  }

  /// Removes all but the `keeping` most recently used `dispatch-*.txt` files of
  /// `directory`, and temporary files (`dispatch-*.txt.tmp-*`) older than an hour (left by a
  /// process killed while writing). Every rebuilt executable has a key of its own (see
  /// `buildIdentity`), so without this the directory would grow by one file per build for
  /// good. A pruned key that is used again is measured again (under a second). Other files
  /// are never touched; failures are ignored.
  static func prune(directory: String, keeping: Int, now: Double? = nil) {
    guard let handle = opendir(directory) else { return }
    var files: [(path: String, modified: Double)] = []
    var stale: [String] = []
    var nowSeconds = timespec()
    clock_gettime(CLOCK_REALTIME, &nowSeconds)
    let current = now ?? Double(nowSeconds.tv_sec)
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      guard name.hasPrefix("dispatch-") else { continue }
      let path = directory + "/" + name
      var status = stat()
      guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
      #if canImport(Darwin)
        let modified = Double(status.st_mtimespec.tv_sec) + Double(status.st_mtimespec.tv_nsec) * 1e-9
      #else
        let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) * 1e-9
      #endif
      if name.hasSuffix(".txt") {
        files.append((path, modified))
      } else if name.contains(".txt.tmp-"), current - modified > 3600 {
        stale.append(path)
      }
    }
    closedir(handle)
    for path in stale { unlink(path) }
    guard files.count > keeping else { return }
    files.sort { $0.modified > $1.modified }
    for file in files[max(0, keeping)...] { unlink(file.path) }
  }

  /// The contents of a UTF-8 file under 1 MiB, or nil.
  static func readSmallFile(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < 1 << 20 {
      let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
      if count < 0 { return nil }
      if count == 0 { break }
      bytes += chunk[0..<count]
    }
    guard bytes.count < 1 << 20 else { return nil }
    return String(validating: bytes, as: UTF8.self)
  }

  /// `mkdir -p`, ignoring failures (the write that follows reports them).
  private static func makeDirectories(_ path: String) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
      prefix += component
      mkdir(prefix, 0o755)
      prefix += "/"
    }
  }

  /// 64-bit FNV-1a of `text`, in hex.
  static func fnv1a(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01b3
    }
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}

/// The 1-minute load average (0 where the system does not say).
func currentLoadAverage() -> Double {
  var loads = [Double](repeating: 0, count: 3)
  #if canImport(Glibc) || canImport(Darwin)
  if getloadavg(&loads, 3) >= 1 { return loads[0] }
  #endif
  return 0
}
