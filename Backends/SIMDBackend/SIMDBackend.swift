// The `Backend` formed by one ISA level's kernels. Compiled for the baseline ISA only.
import ArrowheadCore

/// The pure-Swift SIMD backend of one instruction-set level.
///
/// `K` is the `SIMDKernels` enum of a per-ISA module (`ArrowheadSIMDBaseline`,
/// `ArrowheadSIMDx86v3`, `ArrowheadSIMDx86v4`), each compiled from the same source with its
/// own `-march`. The backend is safe to create on any CPU; dispatch only runs it where
/// `isRunnable()` holds. `fusedMultiplyAddProbe` proves which module's code runs: a fused
/// multiply-add rounds once, mul + add twice. The kernels are forwarded family by family
/// (`SIMDBackend+<Family>.swift`).
public struct SIMDBackend<K: SIMDKernelSet>: Backend, SIMDVariantBackend {
  /// The C kernels the quantized-matmul family runs (see `QuantizedMatmulPath`).
  public let quantizedMatmulPath: QuantizedMatmulPath
  private let pathIsForced: Bool

  /// Creates the backend for the kernel set `K`; the quantized matmul takes the fastest path
  /// this ISA level allows on this CPU.
  public init() {
    quantizedMatmulPath = QuantizedMatmulPath.best(level: K.level)
    pathIsForced = false
  }

  /// The backend for `K` with the quantized matmul forced onto `path` (to test or measure a
  /// path the CPU would not choose, e.g. AVX2 where AVX-VNNI exists). Nil when this ISA level
  /// may not use it or this CPU cannot run it. Its name gets a `+path` suffix.
  public init?(quantizedMatmulPath path: QuantizedMatmulPath) {
    guard path.allowed(atLevel: K.level), path.isRunnable() else { return nil }
    quantizedMatmulPath = path
    pathIsForced = path != QuantizedMatmulPath.best(level: K.level)
  }

  public var name: String { pathIsForced ? "\(K.name)+\(quantizedMatmulPath.rawValue)" : "\(K.name)" }
  public var compiledISA: String { "\(K.compiledISA)" }
  public var requiredFeatures: Set<CPUFeature> { CPUFeature.features(inMask: K.requiredFeatureMask) }
  public var level: Int { K.level }
  public var details: [String: String] {
    let tile = K.gemmTile, blocking = K.gemmBlocking
    return [
      "vector": "\(K.lanes) × Float32",
      "gemmMicroTile": "\(tile.rows)×\(tile.columns)",
      "gemmBlocking": "mc \(blocking.mc), kc \(blocking.kc), nc \(blocking.nc), unroll \(blocking.unroll)",
      "fusedMultiplyAdd": K.fusedMultiplyAdd ? "yes" : "no",
      "quantizedMatmul": quantizedMatmulPath.summary,
    ]
  }

  public func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float { K.fusedMultiplyAddProbe(a, b, c) }
  public func peakLoop(iterations: Int) -> Float { K.peakLoop(iterations: iterations) }
  public func peakLoopFlops(iterations: Int) -> Double { Double(iterations) * 24 * Double(K.lanes) }

  /// Every kernel of every family is implemented here; the static scores (used when
  /// dispatch does not measure) are in `StaticPreferences.simd`.
  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    if operation.family == .quantizedMatmul || operation == .sq8DotInt16Rows {
      return StaticPreferences.simdQuantizedMatmul(operation, shape, level: K.level, path: quantizedMatmulPath.summary)
    }
    return StaticPreferences.simd(
      operation, shape, level: K.level, fusedMultiplyAdd: K.fusedMultiplyAdd, lanes: K.lanes,
      tile: "\(K.gemmTile.rows)×\(K.gemmTile.columns)")
  }
}

/// A per-ISA variant of the SIMD backend.
public protocol SIMDVariantBackend: Backend {
  /// The ISA level (1 baseline, 3 x86-64-v3, 4 x86-64-v4).
  var level: Int { get }
  /// a·b + c through this variant's vector multiply-add (lane 0): one rounding when fused.
  func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float
  /// A register-only loop of independent multiply-adds, for measuring the peak FLOP rate.
  func peakLoop(iterations: Int) -> Float
  /// FLOP executed by `peakLoop(iterations:)`.
  func peakLoopFlops(iterations: Int) -> Double
  /// The C kernels its quantized matmul runs.
  var quantizedMatmulPath: QuantizedMatmulPath { get }
  /// The same variant with the quantized matmul on `path` (nil if not allowed or not runnable).
  func withQuantizedMatmulPath(_ path: QuantizedMatmulPath) -> (any SIMDVariantBackend)?
}

extension SIMDBackend {
  public func withQuantizedMatmulPath(_ path: QuantizedMatmulPath) -> (any SIMDVariantBackend)? {
    SIMDBackend(quantizedMatmulPath: path)
  }
}
