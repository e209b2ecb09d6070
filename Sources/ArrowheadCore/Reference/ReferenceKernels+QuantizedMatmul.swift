// The reference quantized matmul: dequantize-then-multiply, one weight at a time.
//
// Each weight is reconstructed exactly as the quantizer's `dequantize` does it (Float32,
// q·s + m or (q − z)·s, mul then add) and the products are summed in Double, so the weight-
// only result is Ŵ·x with a single final rounding — the oracle the fast kernels are held
// to. The int8 variant first quantizes x by the `ActivationQuantization` rule and sums
// ŵ·(t·a) the same way; the int16 variant sums ŵ·(t·a + (t/254)·b).

extension ReferenceKernels {
  /// y[i·ldy + n] = Σⱼ Ŵ[n, j]·x̂[j] (+ bias[n] when given) for each of the `rows` rows of x
  /// (leading dimension `ldx`), Ŵ dequantized weight by weight as `dequantize` does, the sum in
  /// Double and rounded once. x̂ is the row of x itself (`.weightOnly`), or per group t·a by
  /// `ActivationQuantization.quantizeGroup` (`.int8`) or t·a + (t/254)·b by
  /// `quantizeGroupTwoDigits` (`.int16`).
  public static func quantizedMatmul(
    _ mode: QuantizedMatmulMode, rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ weights: QuantizedMatrixOperand,
    bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let layout = weights.layout
    let k = layout.columns
    let activations = UnsafeMutablePointer<Double>.allocate(capacity: max(1, k))
    let codes = UnsafeMutablePointer<Int8>.allocate(capacity: max(1, k))
    let lowCodes = UnsafeMutablePointer<Int8>.allocate(capacity: max(1, k))
    defer {
      activations.deallocate()
      codes.deallocate()
      lowCodes.deallocate()
    }
    for i in 0..<rows {
      let row = x + i * ldx
      // The activations the kernel multiplies by: x itself, or t·a per group.
      for g in 0..<layout.groupsPerRow {
        let start = g * layout.groupSize, length = layout.groupLength(g)
        switch mode {
        case .weightOnly:
          for j in start..<start + length { activations[j] = Double(row[j]) }
        case .int8:
          let (scale, _) = ActivationQuantization.quantizeGroup(row + start, length: length, into: codes + start)
          for j in start..<start + length { activations[j] = Double(scale) * Double(codes[j]) }
        case .int16:
          let digits = ActivationQuantization.quantizeGroupTwoDigits(
            row + start, length: length, high: codes + start, low: lowCodes + start)
          for j in start..<start + length {
            activations[j] = Double(digits.scale) * Double(codes[j]) + Double(digits.lowScale) * Double(lowCodes[j])
          }
        }
      }
      for n in 0..<layout.rows {
        var sum = 0.0
        for j in 0..<k { sum += Double(weight(weights, row: n, column: j)) * activations[j] }
        if let bias { sum += Double(bias[n]) }
        y[i * ldy + n] = Float(sum)
      }
    }
  }

  /// Ŵ[row, column] from the packed operand, as `dequantize` computes it.
  @inline(__always)
  static func weight(_ weights: QuantizedMatrixOperand, row: Int, column: Int) -> Float {
    let layout = weights.layout
    let (byte, shift) = layout.codePosition(row: row, column: column)
    let raw = weights.codes[byte]
    let q = Float(layout.containerBits == 8 ? raw : (raw >> UInt8(shift)) & 0x0F)
    let index = layout.parameterIndex(row: row, group: column / layout.groupSize)
    let s = weights.scales[index], o = weights.offsets[index]
    return layout.form == .floatMinimum ? q * s + o : (q - o) * s
  }
}
