/// A group of related kernels, declared together in one file of `Families/`.
///
/// A family file holds, for its kernels: the protocol requirements (with their default, the
/// reference implementation), the `KernelOperation` constants, the checked `Engine` entry
/// points and the calibration problems dispatch measures. A backend accelerates whole
/// families or single kernels; everything it does not implement runs the reference code.
public enum KernelFamily: Int, Sendable, Codable, CaseIterable, CustomStringConvertible {
  /// dot, squared distance, axpy, scale, sum of squares, index of max magnitude.
  case level1
  /// gemv and gemm.
  case matrix
  /// Queries × base distance matrices.
  case distances
  /// Group min/max, affine quantize/dequantize, bit packing, integer dots.
  case quantization
  /// Asymmetric distances between a float query and SQ8/SQ4 codes (vector search).
  case searchCodes
  /// The inner loops of the quantization-parameter optimizers.
  case optimizer
  /// Cholesky, triangular solve, symmetric eigen-decomposition.
  case linearAlgebra
  /// y = x·Ŵᵀ with Ŵ quantized (weight-only and int8 activations).
  case quantizedMatmul
  /// The element-wise and row-wise steps of a transformer layer (bias, GELU, LayerNorm,
  /// softmax's exponentials).
  case transformer

  /// Most kernels one family may hold (dispatch tables reserve this many slots per family).
  public static let capacity = 16

  /// The family's kernels, in slot order (`KernelOperation.index`).
  public var operations: [KernelOperation] {
    switch self {
    case .level1: Self.level1Operations
    case .matrix: Self.matrixOperations
    case .distances: Self.distanceOperations
    case .quantization: Self.quantizationOperations
    case .searchCodes: Self.searchCodeOperations
    case .optimizer: Self.optimizerOperations
    case .linearAlgebra: Self.linearAlgebraOperations
    case .quantizedMatmul: Self.quantizedMatmulOperations
    case .transformer: Self.transformerOperations
    }
  }

  public var description: String {
    switch self {
    case .level1: "level 1"
    case .matrix: "matrix"
    case .distances: "distances"
    case .quantization: "quantization"
    case .searchCodes: "search codes"
    case .optimizer: "optimizer"
    case .linearAlgebra: "linear algebra"
    case .quantizedMatmul: "quantized matmul"
    case .transformer: "transformer"
    }
  }
}

/// One kernel: the unit of dispatch. The constants live with their family
/// (`KernelOperation.gemm`, `.sq8SquaredL2`, …); `allCases` lists every one.
public struct KernelOperation: Sendable, Hashable, CustomStringConvertible {
  /// The family that declares the kernel.
  public let family: KernelFamily
  /// Position in `family.operations` (`< KernelFamily.capacity`).
  public let index: Int
  /// The kernel's name as reports and the dispatch cache spell it (`"gemm"`).
  public let name: String

  /// Declares a kernel (used by the family files).
  init(_ family: KernelFamily, _ index: Int, _ name: String) {
    self.family = family
    self.index = index
    self.name = name
  }

  /// Every kernel of every family, family by family.
  public static var allCases: [KernelOperation] { KernelFamily.allCases.flatMap(\.operations) }

  /// The kernel called `name`, if any.
  public init?(named name: String) {
    guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
    self = found
  }

  /// Position of (this kernel, `shape`) in a dispatch table.
  @inline(__always)
  public func slot(_ shape: ShapeClass) -> Int {
    Self.slot(family: family.rawValue, index: index, shape: shape.ordinal)
  }

  /// The slot arithmetic, on plain integers so that hot entry points fold it to a constant.
  @inline(__always)
  static func slot(family: Int, index: Int, shape: Int) -> Int {
    (family &* KernelFamily.capacity &+ index) &* 2 &+ shape
  }

  /// Size of a dispatch table.
  static var tableSize: Int { KernelFamily.allCases.count * KernelFamily.capacity * 2 }

  public var description: String { name }

  public static func == (lhs: KernelOperation, rhs: KernelOperation) -> Bool {
    lhs.family == rhs.family && lhs.index == rhs.index
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(family)
    hasher.combine(index)
  }
}
