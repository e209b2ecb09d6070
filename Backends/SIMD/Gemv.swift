// gemv of the SIMD backend. Memory-bound: each element of A is read once.
// op(A) = A: four rows at a time, each a dot product with x (x is reused from L1).
// op(A) = Aᵀ: y accumulates rows of A scaled by x[i] (four rows per pass over y).
import ArrowheadCore

enum SIMDGemv {
  /// Elements of A below which one thread does the whole product (1 MiB of A).
  static let parallelThreshold = 1 << 18

  /// Splits the output over threads: rows of A (op = A) or columns of A (op = Aᵀ), so each
  /// worker writes its own part of y and reads its own part of A.
  static func run(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>,
    beta: Float, _ y: UnsafeMutablePointer<Float>, threads: Int
  ) {
    let workers = rows * columns >= parallelThreshold ? threads : 1
    let output = UncheckedSendableBox(y)
    if transpose == .normal {
      Parallel.forEachChunk(rows, granularity: 64, threads: workers) { range in
        normal(rows: range.count, columns: columns, alpha: alpha, a + range.lowerBound * lda, lda: lda, x,
               beta: beta, output.value + range.lowerBound)
      }
    } else {
      Parallel.forEachChunk(columns, granularity: 64, threads: workers) { range in
        transposed(rows: rows, columns: range.count, alpha: alpha, a + range.lowerBound, lda: lda, x,
                   beta: beta, output.value + range.lowerBound)
      }
    }
  }

  @inline(__always)
  static func combine(_ sum: Float, alpha: Float, beta: Float, _ y: UnsafeMutablePointer<Float>) {
    y.pointee = beta == 0 ? alpha * sum : alpha * sum + beta * y.pointee
  }

  static func normal(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    while i + 4 <= rows {
      let r0 = a + i * lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda
      var s0 = VectorF32(), s1 = VectorF32(), s2 = VectorF32(), s3 = VectorF32()
      var j = 0
      while j + lanes <= columns {
        let xv = loadVector(x + j)
        s0 = multiplyAdd(loadVector(r0 + j), xv, s0)
        s1 = multiplyAdd(loadVector(r1 + j), xv, s1)
        s2 = multiplyAdd(loadVector(r2 + j), xv, s2)
        s3 = multiplyAdd(loadVector(r3 + j), xv, s3)
        j += lanes
      }
      var t0 = horizontalSum(s0), t1 = horizontalSum(s1), t2 = horizontalSum(s2), t3 = horizontalSum(s3)
      while j < columns {
        t0 = multiplyAdd(r0[j], x[j], t0)
        t1 = multiplyAdd(r1[j], x[j], t1)
        t2 = multiplyAdd(r2[j], x[j], t2)
        t3 = multiplyAdd(r3[j], x[j], t3)
        j += 1
      }
      combine(t0, alpha: alpha, beta: beta, y + i)
      combine(t1, alpha: alpha, beta: beta, y + i + 1)
      combine(t2, alpha: alpha, beta: beta, y + i + 2)
      combine(t3, alpha: alpha, beta: beta, y + i + 3)
      i += 4
    }
    while i < rows {
      combine(SIMDLevel1.dot(columns, a + i * lda, x), alpha: alpha, beta: beta, y + i)
      i += 1
    }
  }

  static func transposed(
    rows: Int, columns: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
    _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>
  ) {
    // y ← β·y first (β = 0: overwrite, so NaN in y does not propagate).
    if beta == 0 {
      y.update(repeating: 0, count: columns)
    } else if beta != 1 {
      SIMDLevel1.scale(columns, beta, y)
    }
    var i = 0
    while i + 4 <= rows {
      let r0 = a + i * lda, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda
      let x0 = alpha * x[i], x1 = alpha * x[i + 1], x2 = alpha * x[i + 2], x3 = alpha * x[i + 3]
      let v0 = VectorF32(repeating: x0), v1 = VectorF32(repeating: x1)
      let v2 = VectorF32(repeating: x2), v3 = VectorF32(repeating: x3)
      var j = 0
      while j + lanes <= columns {
        var acc = loadVector(y + j)
        acc = multiplyAdd(v0, loadVector(r0 + j), acc)
        acc = multiplyAdd(v1, loadVector(r1 + j), acc)
        acc = multiplyAdd(v2, loadVector(r2 + j), acc)
        acc = multiplyAdd(v3, loadVector(r3 + j), acc)
        storeVector(acc, y + j)
        j += lanes
      }
      while j < columns {
        var acc = y[j]
        acc = multiplyAdd(x0, r0[j], acc)
        acc = multiplyAdd(x1, r1[j], acc)
        acc = multiplyAdd(x2, r2[j], acc)
        acc = multiplyAdd(x3, r3[j], acc)
        y[j] = acc
        j += 1
      }
      i += 4
    }
    while i < rows {
      SIMDLevel1.axpy(columns, alpha * x[i], a + i * lda, y)
      i += 1
    }
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func gemv(
    _ transpose: Transpose, rows: Int, columns: Int, alpha: Float,
    _ a: UnsafePointer<Float>, lda: Int, _ x: UnsafePointer<Float>, beta: Float, _ y: UnsafeMutablePointer<Float>,
    threads: Int
  ) {
    SIMDGemv.run(transpose, rows: rows, columns: columns, alpha: alpha, a, lda: lda, x, beta: beta, y, threads: threads)
  }
}
