// Arrowhead: the engine with every backend compiled into this binary. Applications import
// this module; engine modules (quantizer, optimizer, search) build against ArrowheadCore
// only and find these backends through `BackendRegistry.builtIn` at run time.
@_exported import ArrowheadCore
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

/// The built-in backends, handed to ArrowheadCore (`BackendRegistry.builtIn`) through the
/// C symbol it refers to weakly (see `arrowhead_builtin.h`). Not for direct use.
@_cdecl("arrowhead_builtin_backends")
public func arrowheadBuiltinBackends() -> UnsafeRawPointer {
  var backends: [any Backend] = [ReferenceBackend()]
  backends += compiledSIMDVariants.map { $0 as any Backend }
  #if OpenBLAS
  backends.append(OpenBLASBackend())
  #endif
  return UnsafeRawPointer(Unmanaged.passRetained(BuiltInBackends(backends)).toOpaque())
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
