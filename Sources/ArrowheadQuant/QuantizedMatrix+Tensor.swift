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

extension QuantizedTensor {
  /// The weights of `matrix` as a rows × columns quantized tensor: the inverse of
  /// `QuantizedMatrix.init(_:name:engine:)` up to its two normalisations, so that
  /// `QuantizedMatrix(QuantizedTensor(m)) == m` for every matrix made from a tensor. The
  /// tensor holds the matrix's codes, scales and offsets: per group of `layout.groupSize`
  /// columns, or per channel when a group spans a whole row (what per-channel and
  /// per-tensor tensors became); float minimum, zero-point, or symmetric where every
  /// zero-point is 2ᵇ⁻¹ (what a symmetric tensor became; its scales may be negative). Every
  /// weight dequantizes to the value the matrix multiplies by.
  ///
  /// Used to save or send a matrix (Python pickles a `QuantizedMatrix` as this tensor's
  /// parts). Throws `.unsupportedBits` for code widths other than 2, 3, 4 and 8 and
  /// `.unsupportedGroupSize` for a group size outside 8…8192 that is not a whole row (both
  /// possible only for a matrix built from codes directly), and the checks of
  /// `init(shape:scheme:codes:parameters:name:engine:)`.
  public init(_ matrix: QuantizedMatrix, name: String = "matrix", engine: Engine = .default) throws(QuantizationError) {
    let layout = matrix.layout
    let granularity: QuantizationGranularity =
      layout.groupSize >= layout.columns ? .perChannel : .perGroup(layout.groupSize)
    // Zero-points that are all 2ᵇ⁻¹ are a symmetric tensor's (whose scales may be negative,
    // which the zero-point form does not allow).
    let middle = Float(1 << (layout.bits - 1))
    var symmetric = layout.form == .zeroPoint
    // Rows without groups (0 columns) hold nothing to walk, however many there are.
    let rowsWithGroups = layout.groupsPerRow > 0 ? layout.rows : 0
    for row in 0..<rowsWithGroups where symmetric {
      for g in 0..<layout.groupsPerRow where matrix.offsets[layout.parameterIndex(row: row, group: g)] != middle {
        symmetric = false
        break
      }
    }
    let mode: QuantizationMode = layout.form == .floatMinimum ? .floatMinimum : symmetric ? .symmetric : .zeroPoint
    let scheme = try QuantizationScheme(bits: layout.bits, granularity: granularity, mode: mode)
    var codes = [UInt8](repeating: 0, count: layout.rows * layout.columns)
    var parameters: [AffineParameters] = []
    parameters.reserveCapacity(layout.rows * layout.groupsPerRow)
    // The inverse of the matrix's scatter (`QuantizedMatrixLayout.codePosition`, walked
    // incrementally: a 4096 × 4096 matrix reads back in tens of milliseconds).
    let eightBit = layout.containerBits == 8
    matrix.codes.withUnsafeBufferPointer { packed in
      codes.withUnsafeMutableBufferPointer { unpacked in
        guard let source = packed.baseAddress, let target = unpacked.baseAddress else { return }
        for row in 0..<rowsWithGroups {
          let base = source + (row / QuantizedMatrixLayout.panelRows) * layout.panelByteCount + 4 * (row % QuantizedMatrixLayout.panelRows)
          let line = target + row * layout.columns
          for g in 0..<layout.groupsPerRow {
            let start = g * layout.groupSize, first = g * layout.paddedGroupSize
            for u in 0..<layout.groupLength(g) {
              let j = first + u
              line[start + u] = eightBit ? base[((j >> 2) << 6) + (j & 3)] : (base[((j >> 3) << 6) + (j & 3)] >> ((j & 4) == 0 ? 0 : 4)) & 0x0F
            }
            let index = layout.parameterIndex(row: row, group: g)
            parameters.append(AffineParameters(scale: matrix.scales[index], offset: matrix.offsets[index]))
          }
        }
      }
    }
    try self.init(shape: [layout.rows, layout.columns], scheme: scheme, codes: codes, parameters: parameters, name: name, engine: engine)
  }
}

extension QuantizedModelFile {
  /// Loads quantized tensor `name` and repacks it for the quantized-matmul kernels (see
  /// `QuantizedMatrix.init(_:name:engine:)`); the file format is unchanged.
  public func matrix(_ name: String) throws(QuantizationError) -> QuantizedMatrix {
    try QuantizedMatrix(tensor(name), name: name, engine: engine)
  }
}
