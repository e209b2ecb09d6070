/// The scalar, obviously-correct backend: every kernel is its family's default
/// (`ReferenceKernels`). It runs on every CPU and is never chosen by dispatch when a
/// backend that implements the kernel can run; forcing it (`ARROWHEAD_BACKEND=reference`)
/// runs everything on the oracle.
public struct ReferenceBackend: Backend {
  /// Creates the reference backend.
  public init() {}

  public var name: String { "reference" }
  public var compiledISA: String { "scalar (portable Swift, Double accumulation)" }
}
