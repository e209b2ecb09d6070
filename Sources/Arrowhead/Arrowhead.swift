// Arrowhead: the engine with every backend compiled into this binary.
@_exported import ArrowheadCore
@_exported import ArrowheadReference
@_exported import ArrowheadSIMD
import ArrowheadSIMDBaseline
#if canImport(ArrowheadSIMDx86v3)
import ArrowheadSIMDx86v3
#endif
#if canImport(ArrowheadSIMDx86v4)
import ArrowheadSIMDx86v4
#endif
#if OpenBLAS
import ArrowheadOpenBLAS
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension BackendRegistry {
  /// Every backend compiled into this binary, runnable here or not: `reference`, the SIMD
  /// variants (`simd-baseline`, and on x86-64 `simd-x86-64-v3`, `simd-x86-64-v4`) and, with
  /// the `OpenBLAS` trait, `openblas`.
  public static var builtIn: BackendRegistry {
    var backends: [any Backend] = [ReferenceBackend()]
    backends += compiledSIMDVariants.map { $0 as any Backend }
    #if OpenBLAS
    backends.append(OpenBLASBackend())
    #endif
    // Built-in names are distinct by construction.
    return (try? BackendRegistry(backends)) ?? BackendRegistry.empty
  }

  static var empty: BackendRegistry {
    (try? BackendRegistry([])) ?? BackendRegistry.empty
  }
}

/// The ISA variants of the SIMD backend compiled into this binary, lowest level first.
/// Each is a distinct module with its own kernel symbols (see Package.swift).
public var compiledSIMDVariants: [any SIMDVariantBackend] {
  var variants: [any SIMDVariantBackend] = [SIMDBackend<ArrowheadSIMDBaseline.SIMDKernels>()]
  #if canImport(ArrowheadSIMDx86v3)
  variants.append(SIMDBackend<ArrowheadSIMDx86v3.SIMDKernels>())
  #endif
  #if canImport(ArrowheadSIMDx86v4)
  variants.append(SIMDBackend<ArrowheadSIMDx86v4.SIMDKernels>())
  #endif
  return variants
}

#if OpenBLAS
/// Facts about the linked OpenBLAS (nil when the `OpenBLAS` trait is off).
public var openBLASInfo: [String: String]? { OpenBLASBackend().details }
#else
/// Facts about the linked OpenBLAS (nil when the `OpenBLAS` trait is off).
public var openBLASInfo: [String: String]? { nil }
#endif

extension Engine {
  /// The process-wide engine: built-in backends, configured from `ARROWHEAD_BACKEND` and
  /// `ARROWHEAD_THREADS`. Created once. If the environment is invalid (unknown backend,
  /// one this CPU cannot run, a bad thread count) it falls back to automatic selection on
  /// all cores, prints the error once on stderr and records it in `environmentError`;
  /// call `Engine.fromEnvironment()` to get the error thrown instead.
  public static let `default`: Engine = {
    switch makeFromEnvironment() {
    case .success(let engine):
      return engine
    case .failure(let error):
      StandardError.write("arrowhead: ignoring invalid environment: \(error)\n")
      // Automatic selection over the built-in registry cannot fail: reference always runs.
      return (try? Engine(registry: .builtIn)) ?? fallbackEngine()
    }
  }()

  /// The error that made `Engine.default` ignore the environment, if any.
  public static var environmentError: ArrowheadError? {
    if case .failure(let error) = makeFromEnvironment() { return error }
    return nil
  }

  /// The engine configured from the process environment over the built-in backends.
  public static func fromEnvironment() throws(ArrowheadError) -> Engine {
    try makeFromEnvironment().get()
  }

  private static func makeFromEnvironment() -> Result<Engine, ArrowheadError> {
    do {
      return .success(try Engine.fromEnvironment(registry: .builtIn))
    } catch {
      return .failure(error)
    }
  }

  private static func fallbackEngine() -> Engine {
    // Reached only if the built-in registry were empty, which the package forbids.
    // swiftlint:disable:next force_try
    return try! Engine(registry: BackendRegistry([ReferenceBackend()]))
  }
}
