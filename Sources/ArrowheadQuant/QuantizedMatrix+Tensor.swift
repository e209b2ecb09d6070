import ArrowheadCore

extension QuantizedMatrix {
  /// Repacks `tensor` (seen as rows × columns: output channels × inputs) into the layout of
  /// the quantized-matmul kernels (`QuantizedMatrixLayout`), once, so that
  /// `engine.quantizedMatmul` / `engine.multiply(_:_:bias:mode:)` compute x·Ŵᵀ on the codes.
  ///
  /// Per-tensor and per-channel schemes become one group per row (the per-tensor scale is
  /// repeated on every row); symmetric tensors become the zero-point form with z = 2ᵇ⁻¹.
  /// Cost: the codes are unpacked once (a temporary byte per weight) and scattered, O(weights);
  /// the packed matrix holds 4 bits per weight for INT2…INT4, 8 for INT8, and two Float32
  /// per (row, group). Throws `.engine` with the Core error (naming `name`) when the tensor's
  /// parameters are not finite.
  public init(_ tensor: QuantizedTensor, name: String = "tensor", engine: Engine = .default) throws(QuantizationError) {
    let source = tensor.layout
    let groupSize: Int
    if case .perGroup(let size) = tensor.scheme.granularity {
      groupSize = size
    } else {
      groupSize = max(1, source.columns)
    }
    do {
      let layout = try QuantizedMatrixLayout(
        rows: source.rows, columns: source.columns, bits: tensor.scheme.bits, groupSize: groupSize,
        form: tensor.scheme.mode.form)
      let groups = layout.groupsPerRow
      var scales = [Float](repeating: 0, count: source.rows * groups)
      var offsets = [Float](repeating: 0, count: source.rows * groups)
      for row in 0..<source.rows {
        for g in 0..<groups {
          let group = source.group(row: row, column: g * layout.groupSize)
          scales[row * groups + g] = tensor.scales[group]
          offsets[row * groups + g] = tensor.offsets[group]
        }
      }
      try self.init(layout: layout, codes: tensor.codes(engine: engine), scales: scales, offsets: offsets, name: name)
    } catch {
      throw .engine(error)
    }
  }
}

extension QuantizedModelFile {
  /// Loads quantized tensor `name` and repacks it for the quantized-matmul kernels (see
  /// `QuantizedMatrix.init(_:name:engine:)`); the file format is unchanged.
  public func matrix(_ name: String) throws(QuantizationError) -> QuantizedMatrix {
    try QuantizedMatrix(tensor(name), name: name, engine: engine)
  }
}
