import ArrowheadCore
import ArrowheadQuant

/// The second-moment matrix H = XᵀX of a layer's calibration inputs X (n rows × `order`
/// input features), shared by every weight matrix that reads the same inputs (the q, k, v
/// projections of one attention block, for instance).
///
/// H is the Hessian of the layer's output error ‖XWᵀ − XŴᵀ‖² with respect to each row of Ŵ
/// (up to the factor 2), so it also measures that error: for D = W − Ŵ,
/// ‖XDᵀ‖²_F = Σ_r d_r·H·d_rᵀ (`outputError`), without forming the n × rows products.
public struct GPTQHessian: Sendable {
  /// H = XᵀX (order × order, symmetric, undamped).
  public let matrix: Matrix
  /// The number of calibration rows n that built it (0 when given directly).
  public let sampleCount: Int

  /// The number of input features.
  public var order: Int { matrix.rows }

  /// H = XᵀX of `inputs`, row-major n × `columns` (one calibration input per row), through
  /// the engine's gemm. O(n·columns²).
  ///
  /// - Throws: `.emptyInput` without rows or columns, `.shapeMismatch` if the count is not
  ///   a multiple of `columns`, `.nonFiniteValue` naming the first NaN/±∞, `.invalidSetting`
  ///   naming the entry when finite inputs overflow XᵀX in Float32.
  public init(inputs: UnsafeBufferPointer<Float>, columns: Int, name: String = "inputs", engine: Engine = .default) throws(OptimizationError) {
    guard columns > 0, !inputs.isEmpty else { throw .emptyInput(what: "calibration inputs '\(name)'") }
    guard inputs.count % columns == 0 else {
      throw .shapeMismatch(tensor: name, expected: "a multiple of \(columns) values (rows × \(columns) features)", actual: "\(inputs.count) values")
    }
    if let index = inputs.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(tensor: name, index: index, value: inputs[index])
    }
    let rows = inputs.count / columns
    var h: Matrix
    do {
      h = try Matrix(rows: columns, columns: columns)
      let layout = MatrixLayout(rows: rows, columns: columns)
      let output = h.layout
      try h.elements.withUnsafeMutableBufferPointer { (c) throws(ArrowheadError) in
        try engine.gemm(transposeA: .transposed, a: inputs, layout, b: inputs, layout, c: c, output)
      }
    } catch {
      throw .engine(error)
    }
    // Finite inputs can still overflow XᵀX (values near 10¹⁹ and beyond): such a Hessian used
    // to reach the Cholesky escalation and be reported as degenerate. O(columns²), after the
    // O(n·columns²) product.
    if let index = h.elements.firstIndex(where: { !$0.isFinite }) {
      throw .invalidSetting(
        name: "H = XᵀX of '\(name)'", value: "\(h.elements[index]) at [\(index / columns), \(index % columns)]",
        expected: "finite entries: inputs whose column sums of squares stay within Float32 (scale them down)")
    }
    // Exact symmetry (a blocked gemm may round the two triangles differently).
    for i in 0..<columns {
      for j in 0..<i {
        let average = 0.5 * (h[i, j] + h[j, i])
        h[i, j] = average
        h[j, i] = average
      }
    }
    matrix = h
    sampleCount = rows
  }

  /// H = XᵀX of `inputs` (n × columns row-major).
  public init(inputs: [Float], columns: Int, name: String = "inputs", engine: Engine = .default) throws(OptimizationError) {
    let result: Result<GPTQHessian, OptimizationError> = inputs.withUnsafeBufferPointer { buffer in
      Result { () throws(OptimizationError) in try GPTQHessian(inputs: buffer, columns: columns, name: name, engine: engine) }
    }
    self = try result.get()
  }

  /// A Hessian given directly (e.g. accumulated elsewhere): square, finite, symmetric to
  /// 10⁻⁵ relative, with a non-negative diagonal; throws `.shapeMismatch` / `.nonFiniteValue`
  /// / `.invalidSetting` otherwise.
  public init(matrix: Matrix, name: String = "hessian") throws(OptimizationError) {
    guard matrix.rows == matrix.columns, matrix.rows > 0 else {
      throw .shapeMismatch(tensor: name, expected: "a non-empty square matrix", actual: "\(matrix.rows)×\(matrix.columns)")
    }
    if let index = matrix.elements.firstIndex(where: { !$0.isFinite }) {
      throw .nonFiniteValue(tensor: name, index: index, value: matrix.elements[index])
    }
    for i in 0..<matrix.rows {
      guard matrix[i, i] >= 0 else {
        throw .invalidSetting(name: "\(name)[\(i), \(i)]", value: "\(matrix[i, i])", expected: "a non-negative diagonal (H = XᵀX is positive semi-definite)")
      }
      for j in 0..<i where abs(matrix[i, j] - matrix[j, i]) > 1e-5 * max(abs(matrix[i, j]), abs(matrix[j, i]), 1e-30) {
        throw .invalidSetting(name: "\(name)[\(i), \(j)]", value: "\(matrix[i, j]) vs \(matrix[j, i])", expected: "a symmetric matrix")
      }
    }
    self.matrix = matrix
    sampleCount = 0
  }

  /// ‖XWᵀ − XŴᵀ‖_F / ‖XWᵀ‖_F for `original` W and `reconstructed` Ŵ (rows × order,
  /// row-major), computed as √(Σ_r d_r H d_rᵀ / Σ_r w_r H w_rᵀ) through the engine's gemm.
  /// O(rows·order²). Returns 0 when XWᵀ = 0. Where the Float32 product V·H overflows
  /// (weights or H beyond ~10¹⁸) or underflows (weights below ~10⁻¹⁹), both forms are
  /// computed again on operands scaled by powers of two (exact, and common to both, so the
  /// ratio is unchanged).
  public func outputError(original: [Float], reconstructed: [Float], engine: Engine = .default) throws(OptimizationError) -> Double {
    guard original.count == reconstructed.count, original.count % order == 0 else {
      throw .shapeMismatch(
        tensor: "reconstructed", expected: "\(original.count) values, a multiple of \(order)", actual: "\(reconstructed.count) values")
    }
    let rows = original.count / order
    var difference = original
    for i in 0..<difference.count { difference[i] -= reconstructed[i] }
    var signal = try quadraticForm(original, rows: rows, matrix: matrix, engine: engine)
    var noise = try quadraticForm(difference, rows: rows, matrix: matrix, engine: engine)
    if !signal.isFinite || !noise.isFinite || (signal < 0x1p-100 && original.contains { $0 != 0 }) {
      func unitScale(_ values: [Float]) -> Float {
        let largest = values.reduce(Float(0)) { max($0, abs($1)) }
        return largest.isNormal ? Float(sign: .plus, exponent: -largest.exponent, significand: 1) : 1
      }
      let scale = unitScale(original + difference), hScale = unitScale(matrix.elements)
      let h: Matrix
      do {
        h = try Matrix(rows: order, columns: order, elements: matrix.elements.map { $0 * hScale })
      } catch {
        throw .engine(error)
      }
      signal = try quadraticForm(original.map { $0 * scale }, rows: rows, matrix: h, engine: engine)
      noise = try quadraticForm(difference.map { $0 * scale }, rows: rows, matrix: h, engine: engine)
    }
    return signal > 0 ? (max(0, noise) / signal).squareRoot() : 0
  }

  /// Σ_r v_r M v_rᵀ for `rows` rows of `values` (Double accumulation of (V·M) ⊙ V), M = H
  /// or a scaled copy of it.
  func quadraticForm(_ values: [Float], rows: Int, matrix: Matrix, engine: Engine) throws(OptimizationError) -> Double {
    do {
      let v = try Matrix(rows: rows, columns: order, elements: values)
      let product = try engine.multiply(v, matrix)
      var total = 0.0
      for i in 0..<values.count { total += Double(product.elements[i]) * Double(values[i]) }
      return total
    } catch {
      throw .engine(error)
    }
  }
}
