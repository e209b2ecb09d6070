import CArrowheadCPU

/// The backends one binary holds, in registration order.
///
/// The built-in registry (`BackendRegistry.builtIn`, module `Arrowhead`) lists the
/// reference, SIMD and OpenBLAS backends compiled into this binary; a third party adds its
/// own with `register(_:)` and builds an `Engine` from the result.
///
/// ```swift
/// var registry = BackendRegistry.builtIn
/// try registry.register(MyAccelerateBackend())
/// let engine = try Engine(registry: registry)
/// ```
public struct BackendRegistry: Sendable {
  /// Every registered backend, compiled in, whether or not this CPU can run it.
  public private(set) var backends: [any Backend]

  /// Creates a registry holding `backends` (names must be unique).
  public init(_ backends: [any Backend] = []) throws(ArrowheadError) {
    self.backends = []
    for backend in backends { try register(backend) }
  }

  /// Adds a backend. Throws `.invalidParameter` if its name is already taken or empty.
  public mutating func register(_ backend: any Backend) throws(ArrowheadError) {
    guard !backend.name.isEmpty else {
      throw .invalidParameter(name: "backend.name", value: "\"\"", expected: "a non-empty name")
    }
    guard !backends.contains(where: { $0.name == backend.name }) else {
      throw .invalidParameter(name: "backend.name", value: backend.name, expected: "a name not already registered")
    }
    backends.append(backend)
  }

  /// Names of every registered backend.
  public var names: [String] { backends.map(\.name) }

  /// The backend called `name`, if registered.
  public func backend(named name: String) -> (any Backend)? {
    backends.first { $0.name == name }
  }

  /// The backends `cpu` can run.
  public func runnable(on cpu: CPUInfo = .current) -> [any Backend] {
    backends.filter { $0.isRunnable(on: cpu) }
  }
}

extension BackendRegistry {
  /// A registry of `backends` whose names the caller knows to be unique and non-empty.
  init(unchecked backends: [any Backend]) {
    self.backends = backends
  }

  /// Every backend compiled into this binary, runnable here or not: `reference`, the SIMD
  /// variants (`simd-baseline`, and on x86-64 `simd-x86-64-v3`, `simd-x86-64-v4`) and, with
  /// the `OpenBLAS` trait, `openblas` — when the application links the `Arrowhead` module,
  /// which bundles them. A program that links only engine modules gets `reference` alone.
  public static var builtIn: BackendRegistry {
    guard let raw = arrowhead_builtin_backends_if_linked() else {
      return BackendRegistry(unchecked: [ReferenceBackend()])
    }
    let list = Unmanaged<BuiltInBackends>.fromOpaque(raw).takeRetainedValue()
    return BackendRegistry(unchecked: list.backends)
  }
}

/// The list of built-in backends that the `Arrowhead` module hands to ArrowheadCore through
/// `arrowhead_builtin_backends` (see `BackendRegistry.builtIn`). Not for other uses.
package final class BuiltInBackends: Sendable {
  /// The backends, reference first.
  package let backends: [any Backend]
  /// Wraps `backends` (names must be unique).
  package init(_ backends: [any Backend]) { self.backends = backends }
}
