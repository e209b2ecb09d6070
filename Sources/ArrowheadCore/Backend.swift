/// A provider of numerical kernels on contiguous Float32 (and code) buffers.
///
/// The kernels are grouped in families (`Families/`: `Level1Kernels`, `MatrixKernels`,
/// `DistanceKernels`, `QuantizationKernels`, `SearchCodeKernels`, `OptimizerKernels`,
/// `LinearAlgebraKernels`, `QuantizedMatmulKernels`, `TransformerKernels`). Every kernel has a default: the reference implementation
/// (`ReferenceKernels`, scalar, accumulated in Double). A backend implements only the
/// kernels it accelerates and says which in `preference(for:_:)`; nothing else needs a
/// line of code.
///
/// Arguments arrive **already validated** by `Engine` (shapes ≥ 0, leading dimensions ≥ row
/// lengths, buffers long enough), so a kernel may trust them. Matrices are row-major:
/// element (i, j) of a matrix with leading dimension `ld` is at `base[i * ld + j]`.
///
/// A minimal third-party backend:
///
/// ```swift
/// struct MyBackend: Backend {
///   var name: String { "my-dot" }
///   var compiledISA: String { "whatever it was built for" }
///   func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? {
///     operation == .dot ? Preference(score: 60, reason: "my dot") : nil
///   }
///   func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float { … }
/// }
/// ```
///
/// Checklist: make `requiredFeatures` honest (dispatch never runs a backend whose features
/// are missing), register it (`BackendRegistry.register(_:)`) and run the conformance
/// suite (`BackendConformance.check(_:)`, product `ArrowheadConformance`) against it.
public protocol Backend: Sendable, Level1Kernels, MatrixKernels, DistanceKernels, QuantizationKernels,
  SearchCodeKernels, OptimizerKernels, LinearAlgebraKernels, QuantizedMatmulKernels, TransformerKernels
{
  /// Unique, lower-case name used by `ARROWHEAD_BACKEND` (e.g. "simd-x86-64-v3").
  var name: String { get }
  /// The instruction set the backend's code was compiled for (e.g. "x86-64-v3 (AVX2, FMA)").
  var compiledISA: String { get }
  /// Features the CPU must have for this backend to run without faulting. Default: none.
  var requiredFeatures: Set<CPUFeature> { get }
  /// Extra facts for reports (library version, configuration, …). Default: none.
  var details: [String: String] { get }
  /// Whether this backend implements `operation` itself, and how much it wants to run it at
  /// `shape` when dispatch is static (`ARROWHEAD_DISPATCH=static`, or no measurement).
  /// `nil` (the default) means "not implemented here: the reference code runs".
  func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference?
  /// Whether the backend's worker threads keep running after a multi-threaded call returns
  /// (OpenBLAS's pthreads server yields in a loop for about 2²⁸ cycles before it sleeps),
  /// taking cores from whatever runs next. Calibration then times this backend's
  /// multi-threaded samples after every other backend's, so that none of those is measured
  /// on half a core. Default: false.
  var leavesSpinningThreads: Bool { get }
}

extension Backend {
  public var requiredFeatures: Set<CPUFeature> { [] }
  public var details: [String: String] { [:] }
  public func preference(for operation: KernelOperation, _ shape: ShapeClass) -> Preference? { nil }
  public var leavesSpinningThreads: Bool { false }

  /// Whether this backend can run on `cpu`.
  public func isRunnable(on cpu: CPUInfo = .current) -> Bool { cpu.supports(requiredFeatures) }

  /// Whether this backend implements `operation` itself (at some size class).
  public func implements(_ operation: KernelOperation) -> Bool {
    ShapeClass.allCases.contains { preference(for: operation, $0) != nil }
  }

  /// The kernels this backend implements itself.
  public var acceleratedOperations: [KernelOperation] {
    KernelOperation.allCases.filter { implements($0) }
  }
}
