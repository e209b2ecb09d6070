import ArrowheadCore
import ArrowheadQuant

/// Least-squares refit of the group parameters after GPTQ has chosen the codes.
///
/// With the codes q of a row fixed, its reconstruction ŵ = A·θ is linear in the row's
/// parameters θ = (s₁, m₁, …, s_G, m_G) (float minimum: ŵᵢ = qᵢ·s_g(i) + m_g(i)), so the
/// parameters that minimise GPTQ's objective (w − ŵ)·H·(w − ŵ)ᵀ are the solution of the
/// 2G × 2G normal equations AᵀHA·θ = AᵀH·w. The groups of a row are coupled through H's
/// off-diagonal blocks (which the per-group grid search cannot see), and the codes came
/// from a sequence that pushed errors onto later columns, so the parameters chosen before
/// the codes are no longer the best ones for them. The current parameters are a feasible
/// point, so the refit never increases the objective (on the damped H, which GPTQ uses).
enum GPTQRefit {
  /// Refits `parameters` (one per group, `layout`'s order) in place for float-minimum
  /// codes. `h` is the damped Hessian in the natural column order (columns × columns,
  /// row-major). A row whose solution has a negative or non-finite scale keeps its
  /// parameters. Returns the number of rows refitted.
  static func refit(
    weights: UnsafeBufferPointer<Float>, codes: [UInt8], parameters: inout [AffineParameters], layout: QuantizationLayout,
    groupWidth: Int, h: [Float], engine: Engine
  ) throws(ArrowheadError) -> Int {
    let rows = layout.rows, columns = layout.columns
    let groups = (columns + groupWidth - 1) / groupWidth
    let n = 2 * groups
    func span(_ g: Int) -> Range<Int> { (g * groupWidth)..<min(columns, (g + 1) * groupWidth) }
    // Q (codes as floats) and R₀ = W − Ŵ₀.
    var q = [Float](repeating: 0, count: rows * columns)
    var residual = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows {
      for c in 0..<columns {
        let p = parameters[layout.group(row: r, column: c)]
        let code = Float(codes[r * columns + c])
        q[r * columns + c] = code
        residual[r * columns + c] = weights[r * columns + c] - (code * p.scale + p.offset)
      }
    }
    let full = MatrixLayout(rows: rows, columns: columns)
    let square = MatrixLayout(rows: columns, columns: columns)
    // HR = R₀·H: b_s[g] = Σ_{i∈g} qᵢ·HRᵢ, b_m[g] = Σ_{i∈g} HRᵢ.
    var hr = [Float](repeating: 0, count: rows * columns)
    try residual.withUnsafeBufferPointer { (rb) throws(ArrowheadError) in
      try h.withUnsafeBufferPointer { (hb) throws(ArrowheadError) in
        try hr.withUnsafeMutableBufferPointer { (cb) throws(ArrowheadError) in
          try engine.gemm(a: rb, full, b: hb, square, c: cb, full)
        }
      }
    }
    // The shared block: M_mm[g][g'] = Σ_{i∈g, j∈g'} H_ij.
    var mm = [Double](repeating: 0, count: groups * groups)
    for g in 0..<groups {
      for i in span(g) {
        for g2 in 0..<groups {
          var sum = 0.0
          for j in span(g2) { sum += Double(h[i * columns + j]) }
          mm[g * groups + g2] += sum
        }
      }
    }
    // Per row: M_ss[g][g'] = Σ_{i∈g, j∈g'} qᵢ·H_ij·q_j and M_sm[g][g'] = Σ_{i∈g, j∈g'} qᵢ·H_ij,
    // from QH_g = Q[:, g]·H[g, :] (rows × columns) for one group g at a time.
    var ss = [Double](repeating: 0, count: rows * groups * groups)
    var sm = [Double](repeating: 0, count: rows * groups * groups)
    var qh = [Float](repeating: 0, count: rows * columns)
    for g in 0..<groups {
      let range = span(g)
      try q.withUnsafeBufferPointer { (qb) throws(ArrowheadError) in
        try h.withUnsafeBufferPointer { (hb) throws(ArrowheadError) in
          try qh.withUnsafeMutableBufferPointer { (cb) throws(ArrowheadError) in
            try engine.gemm(
              a: UnsafeBufferPointer(rebasing: qb[range.lowerBound..<qb.count]), MatrixLayout(rows: rows, columns: range.count, leadingDimension: columns),
              b: UnsafeBufferPointer(rebasing: hb[(range.lowerBound * columns)..<hb.count]), MatrixLayout(rows: range.count, columns: columns),
              c: cb, full)
          }
        }
      }
      for r in 0..<rows {
        for g2 in 0..<groups {
          var s = 0.0, m = 0.0
          for j in span(g2) {
            let value = Double(qh[r * columns + j])
            s += value * Double(q[r * columns + j])
            m += value
          }
          ss[(r * groups + g) * groups + g2] = s
          sm[(r * groups + g) * groups + g2] = m
        }
      }
    }
    var refitted = 0
    var matrix = [Double](repeating: 0, count: n * n)
    var rhs = [Double](repeating: 0, count: n)
    for r in 0..<rows {
      // θ index 2g: s_g, 2g + 1: m_g.
      for g in 0..<groups {
        for g2 in 0..<groups {
          matrix[(2 * g) * n + 2 * g2] = ss[(r * groups + g) * groups + g2]
          matrix[(2 * g) * n + 2 * g2 + 1] = sm[(r * groups + g) * groups + g2]
          matrix[(2 * g2 + 1) * n + 2 * g] = sm[(r * groups + g) * groups + g2]
          matrix[(2 * g + 1) * n + 2 * g2 + 1] = mm[g * groups + g2]
        }
        var bs = 0.0, bm = 0.0
        for i in span(g) {
          let value = Double(hr[r * columns + i])
          bs += value * Double(q[r * columns + i])
          bm += value
        }
        rhs[2 * g] = bs
        rhs[2 * g + 1] = bm
      }
      // A group whose codes are all equal makes s and m collinear: a small ridge keeps
      // the system definite (relative to its diagonal, far below the fit's own scale).
      var trace = 0.0
      for i in 0..<n { trace += matrix[i * n + i] }
      let ridge = 1e-9 * trace / Double(n) + 1e-30
      for i in 0..<n { matrix[i * n + i] += ridge }
      guard let delta = solveSymmetric(&matrix, rhs, n) else { continue }
      var updated: [AffineParameters] = []
      var usable = true
      for g in 0..<groups {
        let index = layout.group(row: r, column: g * groupWidth)
        let p = parameters[index]
        let s = Float(Double(p.scale) + delta[2 * g]), m = Float(Double(p.offset) + delta[2 * g + 1])
        if !(s.isFinite && s >= 0 && m.isFinite) { usable = false }
        updated.append(AffineParameters(scale: s, offset: m))
      }
      guard usable else { continue }
      for g in 0..<groups { parameters[layout.group(row: r, column: g * groupWidth)] = updated[g] }
      refitted += 1
    }
    return refitted
  }

  /// Solves the symmetric positive-definite system A·x = b (A n × n, overwritten by its
  /// Cholesky factor); nil when A is not positive definite.
  static func solveSymmetric(_ a: inout [Double], _ b: [Double], _ n: Int) -> [Double]? {
    for j in 0..<n {
      var d = a[j * n + j]
      for k in 0..<j { d -= a[j * n + k] * a[j * n + k] }
      guard d > 0, d.isFinite else { return nil }
      let l = d.squareRoot()
      a[j * n + j] = l
      for i in (j + 1)..<n {
        var s = a[i * n + j]
        for k in 0..<j { s -= a[i * n + k] * a[j * n + k] }
        a[i * n + j] = s / l
      }
    }
    var y = b
    for i in 0..<n {
      var s = y[i]
      for k in 0..<i { s -= a[i * n + k] * y[k] }
      y[i] = s / a[i * n + i]
    }
    for i in stride(from: n - 1, through: 0, by: -1) {
      var s = y[i]
      for k in (i + 1)..<n { s -= a[k * n + i] * y[k] }
      y[i] = s / a[i * n + i]
    }
    return y
  }
}
