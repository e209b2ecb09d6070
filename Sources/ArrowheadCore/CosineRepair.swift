/// Cosine entries that Float32 row norms cannot give, recomputed in Double.
///
/// The backends compute cosine as (q·x)·(1/‖q‖)·(1/‖x‖) with Float32 norms. The sum of
/// squares of a row overflows when its elements reach about 10¹⁹ and underflows when they
/// all stay below about 10⁻¹⁹; the inverse norm was then 0 and the row had cosine 0 with
/// everything, where the Reference backend (Double) gives its true cosine. Cosine does not
/// depend on scale, so the backends now agree with it for every finite input: the entries
/// of rows whose norm lies outside 2⁻⁶⁰ … 2⁶⁰ are recomputed with the Reference formula
/// (a zero row keeps its 0 without that). Between those bounds |q·x| ≤ ‖q‖·‖x‖ ≤ 2¹²⁰
/// cannot overflow, and a product that underflows is below 2⁻¹²⁶ against a norm product of
/// at least 2⁻¹²⁰: the Float32 path keeps its bound. Ordinary data costs one comparison per
/// row.
package enum CosineRepair {
  /// Whether a norm or inverse norm (the range is symmetric) is outside 2⁻⁶⁰ … 2⁶⁰: its
  /// square may have overflowed or underflowed. 0 and ∞ are; NaN is not (it propagates).
  @inline(__always)
  package static func isOutOfRange(_ norm: Float) -> Bool {
    !(norm >= 0x1p-60 && norm <= 0x1p60) && !norm.isNaN
  }

  /// Recomputes, in Double, the rows of `out` whose query and the columns whose base vector
  /// has an out-of-range norm (`inverseNorm(i)`: 1/‖row i‖ as the kernel used it, 0 for a
  /// zero or overflowed norm, or ‖row i‖ itself: the range is symmetric). `checkBase`
  /// false: the kernel saw no base row out of range, so only queries are checked. Rows that
  /// are exactly zero are left alone (their 0 is right). (The closures are not optional: an
  /// optional closure parameter made the compiler emit a weak helper shared by the ISA
  /// modules, which `ISAVariantTests` forbids.)
  package static func repair(
    queryCount: Int, baseCount: Int, dimension: Int,
    queries: UnsafePointer<Float>, ldq: Int, base: UnsafePointer<Float>, ldb: Int,
    queryInverseNorm: (Int) -> Float, baseInverseNorm: (Int) -> Float, checkBase: Bool = true,
    _ out: UnsafeMutablePointer<Float>, ldo: Int
  ) {
    func flagged(_ count: Int, _ rows: UnsafePointer<Float>, _ ld: Int, _ inverse: (Int) -> Float) -> [Int] {
      var result: [Int] = []
      for i in 0..<count where isOutOfRange(inverse(i)) {
        let row = rows + i * ld
        if (0..<dimension).contains(where: { row[$0] != 0 }) { result.append(i) }
      }
      return result
    }
    for i in flagged(queryCount, queries, ldq, queryInverseNorm) {
      ReferenceKernels.distances(
        .cosine, queryCount: 1, baseCount: baseCount, dimension: dimension, queries: queries + i * ldq, ldq: ldq,
        base: base, ldb: ldb, out + i * ldo, ldo: ldo)
    }
    guard checkBase else { return }
    for j in flagged(baseCount, base, ldb, baseInverseNorm) {
      ReferenceKernels.distances(
        .cosine, queryCount: queryCount, baseCount: 1, dimension: dimension, queries: queries, ldq: ldq,
        base: base + j * ldb, ldb: ldb, out + j, ldo: ldo)
    }
  }
}
