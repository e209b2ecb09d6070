import Arrowhead
import ArrowheadEncoder
import ArrowheadQuant
import ArrowheadSearch

/// The kinds of objects a C handle can name. The raw value is the handle's top byte, so a
/// handle of one kind passed where another is expected is recognised and named.
///
/// Adding a kind takes a case here, a case in `HandleObject`, and a typed accessor in
/// `HandleRegistry` (see README.md).
enum HandleKind: UInt8, CaseIterable, Sendable {
  case engine = 0xA1
  case index = 0xA2
  case tensor = 0xA3
  case encoder = 0xA4
  case qmatrix = 0xA5

  var name: String {
    switch self {
    case .engine: "engine"
    case .index: "index"
    case .tensor: "quantized tensor"
    case .encoder: "encoder"
    case .qmatrix: "quantized matrix"
    }
  }

  /// The name with its article ("an engine", "a quantized tensor").
  var withArticle: String { (self == .tensor || self == .qmatrix ? "a " : "an ") + name }
}

/// An object a handle names.
enum HandleObject: Sendable {
  case engine(Engine)
  case index(any VectorIndex)
  case tensor(QuantizedTensor)
  case encoder(SentenceEncoder)
  case qmatrix(QuantizedMatrix)

  var kind: HandleKind {
    switch self {
    case .engine: .engine
    case .index: .index
    case .tensor: .tensor
    case .encoder: .encoder
    case .qmatrix: .qmatrix
    }
  }
}

/// The table behind every C handle: a handle is a 64-bit token
///
/// ```
/// bits 56…63  kind tag (HandleKind.rawValue: 0xA1 engine, 0xA2 index, 0xA3 tensor, 0xA4 encoder,
///             0xA5 quantized matrix)
/// bits 32…55  generation of the slot (24 bits, never 0)
/// bits  0…31  slot number + 1 (never 0)
/// ```
///
/// handed to C as an opaque pointer value that is never dereferenced. Freeing a handle
/// empties its slot and advances the slot's generation, so the freed token no longer
/// matches even after the slot is reused: a stale, foreign or garbage token is reported as
/// an invalid handle instead of reaching memory. (A random 64-bit value passes only if its
/// top byte is a kind tag, its slot is in use and its 24-bit generation matches: it cannot
/// crash, at worst it names a live object of that kind, as any stale integer handle could.)
///
/// All access goes through one lock (`LockedValue`, a POSIX mutex that ThreadSanitizer
/// sees); a lookup returns the object itself (a retained reference or a value), and the
/// lock is released before the caller works with it. So a handle freed on one thread while
/// another thread is inside a call with it is safe: the object lives until that call returns.
final class HandleRegistry: Sendable {
  private struct Slot {
    var generation: UInt32
    var object: HandleObject?
  }

  private struct Table {
    var slots: [Slot] = []
    var free: [Int] = []
  }

  /// Largest generation (24 bits); after it the generation wraps to 1.
  private static let generationMask: UInt64 = 0xFF_FFFF
  private let table = LockedValue(Table())

  /// Stores `object` and returns its handle token.
  func insert(_ object: HandleObject) -> UInt64 {
    table.withLock { table in
      let slot: Int
      if let reused = table.free.popLast() {
        slot = reused
        table.slots[slot].object = object
      } else {
        slot = table.slots.count
        table.slots.append(Slot(generation: 1, object: object))
      }
      return Self.token(kind: object.kind, generation: table.slots[slot].generation, slot: slot)
    }
  }

  /// The object named by `token`, which must be of `kind`.
  func lookup(_ token: UInt64, as kind: HandleKind) throws(ABIError) -> HandleObject {
    try table.withLock { (table) throws(ABIError) -> HandleObject in
      let slot = try Self.resolve(token, as: kind, in: table)
      // `resolve` checked the slot holds an object.
      guard let object = table.slots[slot].object else { throw Self.freed(kind) }
      return object
    }
  }

  /// Empties the slot named by `token` (of `kind`) and returns what it held; the slot's
  /// generation advances so the token is dead from now on.
  @discardableResult
  func remove(_ token: UInt64, as kind: HandleKind) throws(ABIError) -> HandleObject {
    try table.withLock { (table) throws(ABIError) -> HandleObject in
      let slot = try Self.resolve(token, as: kind, in: table)
      guard let object = table.slots[slot].object else { throw Self.freed(kind) }
      table.slots[slot].object = nil
      let next = (UInt64(table.slots[slot].generation) + 1) & Self.generationMask
      table.slots[slot].generation = UInt32(next == 0 ? 1 : next)
      table.free.append(slot)
      return object
    }
  }

  /// Live handles of each kind (for tests and leak checks).
  func liveCount(of kind: HandleKind) -> Int {
    table.withLock { table in table.slots.count { $0.object?.kind == kind } }
  }

  private static func token(kind: HandleKind, generation: UInt32, slot: Int) -> UInt64 {
    UInt64(kind.rawValue) << 56 | (UInt64(generation) & generationMask) << 32 | UInt64(slot + 1)
  }

  private static func resolve(_ token: UInt64, as kind: HandleKind, in table: Table) throws(ABIError) -> Int {
    guard token != 0 else { throw ABIError(.invalidHandle, "the \(kind.name) handle is NULL") }
    let tag = UInt8(truncatingIfNeeded: token >> 56)
    guard tag == kind.rawValue else {
      if let other = HandleKind(rawValue: tag) {
        throw ABIError(.invalidHandle, "expected \(kind.withArticle) handle but got \(other.withArticle) handle")
      }
      throw ABIError(.invalidHandle, "\(hex(token)) is not an Arrowhead \(kind.name) handle")
    }
    let slotNumber = token & 0xFFFF_FFFF
    guard slotNumber >= 1, slotNumber <= UInt64(table.slots.count) else {
      throw ABIError(.invalidHandle, "\(hex(token)) is not a live Arrowhead \(kind.name) handle")
    }
    let slot = Int(slotNumber - 1)
    let generation = (token >> 32) & generationMask
    guard generation == UInt64(table.slots[slot].generation), table.slots[slot].object != nil else {
      throw freed(kind)
    }
    return slot
  }

  private static func freed(_ kind: HandleKind) -> ABIError {
    ABIError(.invalidHandle, "the \(kind.name) handle was freed (or is stale)")
  }

  private static func hex(_ token: UInt64) -> String {
    let digits = String(token, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }
}

/// The process-wide handle table (immutable reference; its state is behind a lock).
let registry = HandleRegistry()

// MARK: - Typed access

extension HandleRegistry {
  /// The engine named by `handle`; NULL is an invalid handle.
  func engine(_ handle: OpaquePointer?) throws(ABIError) -> Engine {
    guard case .engine(let engine) = try lookup(token(handle), as: .engine) else { throw Self.freed(.engine) }
    return engine
  }

  /// The index named by `handle`.
  func index(_ handle: OpaquePointer?) throws(ABIError) -> any VectorIndex {
    guard case .index(let index) = try lookup(token(handle), as: .index) else { throw Self.freed(.index) }
    return index
  }

  /// The quantized tensor named by `handle`.
  func tensor(_ handle: OpaquePointer?) throws(ABIError) -> QuantizedTensor {
    guard case .tensor(let tensor) = try lookup(token(handle), as: .tensor) else { throw Self.freed(.tensor) }
    return tensor
  }

  /// The text encoder named by `handle`.
  func encoder(_ handle: OpaquePointer?) throws(ABIError) -> SentenceEncoder {
    guard case .encoder(let encoder) = try lookup(token(handle), as: .encoder) else { throw Self.freed(.encoder) }
    return encoder
  }

  /// The quantized matrix named by `handle`.
  func qmatrix(_ handle: OpaquePointer?) throws(ABIError) -> QuantizedMatrix {
    guard case .qmatrix(let matrix) = try lookup(token(handle), as: .qmatrix) else { throw Self.freed(.qmatrix) }
    return matrix
  }

  /// Stores `object` and returns its handle as the opaque pointer C sees.
  func handle(for object: HandleObject) -> OpaquePointer? {
    OpaquePointer(bitPattern: UInt(insert(object)))
  }

  /// Frees `handle` of `kind`; NULL is a no-op.
  func free(_ handle: OpaquePointer?, as kind: HandleKind) throws(ABIError) {
    guard handle != nil else { return }
    try remove(token(handle), as: kind)
  }

  private func token(_ handle: OpaquePointer?) -> UInt64 {
    UInt64(UInt(bitPattern: handle))
  }
}
