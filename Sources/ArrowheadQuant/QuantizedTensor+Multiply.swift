import ArrowheadCore

extension QuantizedTensor {
  /// y = Ŵ·x for the tensor seen as a rows × columns matrix, without materialising Ŵ.
  ///
  /// Each row is unpacked and dequantized into a row-sized scratch buffer (L1-resident)
  /// and dotted with x by the backend's `dot` kernel; rows are split across threads. Peak
  /// extra memory is one row per thread, against rows·columns floats for a dense Ŵ.
  /// The result equals `engine.gemv` on `dequantized()` up to the summation order of the
  /// dot products (same products, exactly).
  ///
  /// Throws `.shapeMismatch` if `x` does not have `columns` elements. O(rows·columns).
  public func multiply(_ x: [Float], engine: Engine = .default) throws(QuantizationError) -> [Float] {
    let layout = self.layout
    guard x.count == layout.columns else {
      throw .shapeMismatch(tensor: "x", expected: "\(layout.columns) elements (columns of \(shape))", actual: "\(x.count) elements")
    }
    var y = [Float](repeating: 0, count: layout.rows)
    guard layout.columns > 0 else { return y }
    let dotKernel = engine.backend(for: .dot, .vector(count: layout.columns))
    x.withUnsafeBufferPointer { input in
      y.withUnsafeMutableBufferPointer { output in
        let target = UncheckedSendableBox(output.baseAddress!)
        let source = UncheckedSendableBox(input.baseAddress!)
        forEachRowBlock(engine: engine) { rows, codes in
          let row = UnsafeMutablePointer<Float>.allocate(capacity: layout.columns)
          defer { row.deallocate() }
          for index in rows {
            dequantizeRow(index, codes: codes, into: row, engine: engine)
            target.value[index] = dotKernel.dot(count: layout.columns, row, source.value)
          }
        }
      }
    }
    return y
  }
}
