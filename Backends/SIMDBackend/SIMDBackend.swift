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
  /// Creates the backend for the kernel set `K`.
  public init() {}

  public var name: String { "\(K.name)" }
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
    ]
  }

  public func fusedMultiplyAddProbe(_ a: Float, _ b: Float, _ c: Float) -> Float { K.fusedMultiplyAddProbe(a, b, c) }
  public func peakLoop(iterations: Int) -> Float { K.peakLoop(iterations: iterations) }
  public func peakLoopFlops(iterations: Int) -> Double { Double(iterations) * 24 * Double(K.lanes) }

  /// Every kernel of every family is implemented here; the static scores (used when
  /// dispatch does not measure) are in `StaticPreferences.simd`.
  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
    StaticPreferences.simd(
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
}
