import Arrowhead
import CArrowhead
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The engine, the probe and the two dense kernels of arrowhead.h. Every function is a
// `@c @implementation` of its declaration in the header: the compiler checks that the
// Swift signature matches the C one.

/// A C copy of a string that lives as long as the process: an immutable pointer, allocated
/// once and never freed by design (nil only if that allocation failed).
private final class StaticCString: Sendable {
  nonisolated(unsafe) let pointer: UnsafePointer<CChar>?

  init(_ text: String) { pointer = UnsafePointer(strdup(text)) }
}

private let versionString = StaticCString(ArrowheadVersion.string)

/// Implements `ah_version` of arrowhead.h: the library's version string
/// (`ArrowheadVersion.string`), copied once and never freed.
@c @implementation
public func ah_version() -> UnsafePointer<CChar>? {
  versionString.pointer
}

// MARK: - Engine

/// Implements `ah_engine_create` of arrowhead.h: an engine from the environment
/// (`Engine.fromEnvironment()`), forced to `backend` when it is not NULL and limited to
/// `threads` when it is above 0 (negative: `AH_ERROR_INVALID_ARGUMENT`).
@c @implementation
public func ah_engine_create(
  _ backend: UnsafePointer<CChar>?, _ threads: Int32, _ engine: UnsafeMutablePointer<OpaquePointer?>?
) -> ah_status {
  abiCall {
    let out = try Argument.required(engine, "engine")
    guard threads >= 0 else { throw ABIError(.invalidArgument, "threads = \(threads) is negative; 0 means the default") }
    var made = try Engine.fromEnvironment()
    if let backend { made = try made.forcing(String(cString: backend)) }
    if threads > 0 { made = made.withThreads(Int(threads)) }
    out.pointee = registry.handle(for: .engine(made))
  }
}

/// Implements `ah_engine_free` of arrowhead.h: releases an engine handle (NULL: `AH_OK`).
@c @implementation
public func ah_engine_free(_ engine: OpaquePointer?) -> ah_status {
  abiCall { try registry.free(engine, as: .engine) }
}

/// Implements `ah_engine_threads` of arrowhead.h: the thread count the engine's kernels use
/// (`Engine.effectiveThreads`).
@c @implementation
public func ah_engine_threads(_ engine: OpaquePointer?, _ threads: UnsafeMutablePointer<Int32>?) -> ah_status {
  abiCall {
    let value = try registry.engine(engine).effectiveThreads
    try Argument.required(threads, "threads").pointee = Int32(clamping: value)
  }
}

/// Implements `ah_probe_json` of arrowhead.h: the engine's `ProbeReport` as compact JSON with
/// sorted keys, in a `malloc`ed string the caller releases with `ah_string_free`.
@c @implementation
public func ah_probe_json(_ engine: OpaquePointer?, _ json: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> ah_status {
  abiCall {
    let report = ProbeReport(engine: try registry.engine(engine))
    let out = try Argument.required(json, "json")
    out.pointee = try mallocString(try encodeJSON(report))
  }
}

/// Compact JSON with sorted keys (the keys and values of the CLI's `--json` output).
func encodeJSON<T: Encodable>(_ value: T) throws -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  return String(decoding: try encoder.encode(value), as: UTF8.self)
}

// MARK: - Kernels

/// Implements `ah_gemm` of arrowhead.h: C ← α·op(A)·op(B) + β·C on row-major matrices
/// (`Engine.gemm`), every count, leading dimension and buffer checked first.
@c @implementation
public func ah_gemm(
  _ engine: OpaquePointer?, _ transpose_a: Int32, _ transpose_b: Int32, _ m: Int64, _ n: Int64, _ k: Int64,
  _ alpha: Float, _ a: UnsafePointer<Float>?, _ lda: Int64, _ b: UnsafePointer<Float>?, _ ldb: Int64,
  _ beta: Float, _ c: UnsafeMutablePointer<Float>?, _ ldc: Int64
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let (rows, columns, depth) = (try Argument.count(m, "m"), try Argument.count(n, "n"), try Argument.count(k, "k"))
    let transposeA = try transpose(transpose_a, "transpose_a"), transposeB = try transpose(transpose_b, "transpose_b")
    let layoutA = try layout(stored: transposeA == .normal ? (rows, depth) : (depth, rows), lda, "lda")
    let layoutB = try layout(stored: transposeB == .normal ? (depth, columns) : (columns, depth), ldb, "ldb")
    let layoutC = try layout(stored: (rows, columns), ldc, "ldc")
    let bufferA = try Argument.buffer(a, count: layoutA.requiredCount, "a")
    let bufferB = try Argument.buffer(b, count: layoutB.requiredCount, "b")
    let bufferC = try Argument.output(c, capacity: Int64(layoutC.requiredCount), needed: layoutC.requiredCount, "c")
    try kernels.gemm(
      transposeA: transposeA, transposeB: transposeB, alpha: alpha, a: bufferA, layoutA, b: bufferB, layoutB,
      beta: beta, c: bufferC, layoutC)
  }
}

/// Implements `ah_distances` of arrowhead.h: out[i·ldo + j] = metric(query i, base row j) for
/// `queries` × `base` pairs (`Engine.distances`).
@c @implementation
public func ah_distances(
  _ engine: OpaquePointer?, _ metric: Int32, _ queries: Int64, _ base: Int64, _ dimension: Int64,
  _ q: UnsafePointer<Float>?, _ ldq: Int64, _ x: UnsafePointer<Float>?, _ ldx: Int64,
  _ out: UnsafeMutablePointer<Float>?, _ ldo: Int64
) -> ah_status {
  abiCall {
    let kernels = try registry.engine(engine)
    let kind = try Argument.metric(metric)
    let (queryCount, baseCount) = (try Argument.count(queries, "queries"), try Argument.count(base, "base"))
    let width = try Argument.count(dimension, "dimension")
    let layoutQ = try layout(stored: (queryCount, width), ldq, "ldq")
    let layoutX = try layout(stored: (baseCount, width), ldx, "ldx")
    let layoutOut = try layout(stored: (queryCount, baseCount), ldo, "ldo")
    try kernels.distances(
      kind, queries: try Argument.buffer(q, count: layoutQ.requiredCount, "q"), layoutQ,
      base: try Argument.buffer(x, count: layoutX.requiredCount, "x"), layoutX,
      out: try Argument.output(out, capacity: Int64(layoutOut.requiredCount), needed: layoutOut.requiredCount, "out"),
      layoutOut)
  }
}

private func transpose(_ flag: Int32, _ name: String) throws(ABIError) -> Transpose {
  switch flag {
  case 0: return .normal
  case 1: return .transposed
  default: throw ABIError(.invalidArgument, "'\(name)' = \(flag); expected 0 or 1")
  }
}

/// The layout of a stored rows × columns matrix with leading dimension `ld`, checked.
func layout(stored shape: (rows: Int, columns: Int), _ ld: Int64, _ name: String) throws(ABIError) -> MatrixLayout {
  let leading = try Argument.count(ld, name)
  guard leading >= shape.columns, leading >= 1 else {
    throw ABIError(.invalidArgument, "'\(name)' = \(ld) is smaller than the row length \(max(1, shape.columns))")
  }
  if shape.rows > 0 {
    // (rows − 1)·ld + columns elements: both steps must fit (the sum overflowed, and trapped,
    // where the product alone did not: 2 rows of 2⁶² + 1 columns).
    let offset = try Argument.product(shape.rows - 1, leading, "'\(name)'")
    guard !offset.addingReportingOverflow(shape.columns).overflow else {
      throw ABIError(.invalidArgument, "'\(name)': \(shape.rows) rows of \(shape.columns) columns \(leading) apart overflow the address space")
    }
  }
  return MatrixLayout(rows: shape.rows, columns: shape.columns, leadingDimension: leading)
}
