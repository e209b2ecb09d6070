import ArrowheadCore

/// The backends that per-backend tests run on: `@Test(arguments: BackendsUnderTest.names)`
/// with `try BackendsUnderTest.engine(name)` inside.
///
/// Every backend this CPU runs, so that the quantizer, optimizer and search engines are
/// tested on each (results are bit-identical across backends where the design says so,
/// within the stated tolerances elsewhere). When `ARROWHEAD_BACKEND` forces one backend
/// (CI's reference pass), only that one: such a pass runs each test once, on that backend.
public enum BackendsUnderTest {
  /// The names, in the registry's order.
  public static let names: [String] = {
    let engine = Engine.default
    if let forced = engine.forcedBackend { return [forced] }
    return engine.runnableBackends.map(\.name)
  }()

  /// The process engine with every operation forced onto `name`.
  public static func engine(_ name: String) throws -> Engine {
    try Engine.default.forcing(name)
  }
}
