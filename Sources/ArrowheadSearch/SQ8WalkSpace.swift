import ArrowheadCore

/// SQ8 codes of every slot for the insertion searches of a Float32 build to walk on
/// (`HNSWIndex.traversalCodes`), and, for squared L2, each code row's squared norm
/// Σ (c[j]·s[j])² (4 bytes per slot). Freed when the add ends.
final class TraversalCodes {
  let store: VectorStore
  /// Squared L2 only: per slot, ‖x̂ − m‖² = Σ (c[j]·s[j])²; nil for inner products.
  let norms: UnsafeMutablePointer<Float>?

  init(_ store: VectorStore, slots: Int) {
    self.store = store
    guard store.internalMetric == .squaredL2 else {
      norms = nil
      return
    }
    let dimension = store.dimension
    let codes = UnsafePointer(store.codes.pointer(UInt8.self))
    let scales = UnsafePointer(store.scalesBuffer)
    let norms = UnsafeMutablePointer<Float>.allocate(capacity: max(slots, 1))
    for slot in 0..<slots {
      let row = codes + slot * dimension
      var sum: Float = 0
      for j in 0..<dimension {
        let x = Float(row[j]) * scales[j]
        sum += x * x
      }
      norms[slot] = sum
    }
    self.norms = norms
  }

  deinit { norms?.deallocate() }
}

/// The insertion searches' walk over `TraversalCodes` with the query rounded to 16-bit
/// integers (`SearchCodeLayout.quantizeQuery`): one `sq8DotInt16Rows` call per visited
/// node, whose integer dot products (`vpdpwssd` on AVX-512 VNNI, `vpmaddwd` on AVX2) cost
/// a third of the instructions of the float × code kernel (`sq8DotRows`: widen, convert,
/// multiply–add per 8 or 16 dimensions). Distances:
///
///   inner product   −(σ·Σ w[j]·c[j] + Σ q[j]·m[j])               with w ≈ (q ⊙ s)/σ
///   squared L2      Σ a[j]² − 2σ·Σ w[j]·c[j] + ‖c ⊙ s‖²          with a = q − m, w ≈ (a ⊙ s)/σ
///
/// The rounding of the query adds at most σ/2·Σ c[j] (σ = max|q ⊙ s|/16 383) to the SQ8
/// distance, far below the codes' own step; the layer results are re-ranked exactly
/// before links are chosen (`HNSWWorker.rerankedResults`), as with the float walk.
struct SQ8WalkSpace {
  let codes: UnsafePointer<UInt8>
  let scales: UnsafePointer<Float>
  let offsets: UnsafePointer<Float>
  let norms: UnsafePointer<Float>?
  let dimension: Int
  let kernels: StoreKernels

  init(_ traversal: TraversalCodes) {
    let store = traversal.store
    codes = UnsafePointer(store.codes.pointer(UInt8.self))
    scales = UnsafePointer(store.scalesBuffer)
    offsets = UnsafePointer(store.offsetsBuffer)
    norms = traversal.norms.map { UnsafePointer($0) }
    dimension = store.dimension
    kernels = store.kernels
  }

  struct Query: SlotDistance {
    let weights: UnsafePointer<Int16>
    /// σ for an inner product, −2σ for squared L2.
    let scale: Float
    /// Σ q·m for an inner product, Σ a² for squared L2.
    let constant: Float
    let codes: UnsafePointer<UInt8>
    let norms: UnsafePointer<Float>?
    let dimension: Int
    let kernel: any Backend

    @inline(__always)
    func callAsFunction(_ slot: UInt32) -> Float {
      var slot = slot
      var out: Float = 0
      distances(&slot, count: 1, into: &out)
      return out
    }

    @inline(__always)
    func distances(_ slots: UnsafePointer<UInt32>, count: Int, into out: UnsafeMutablePointer<Float>) {
      kernel.sq8DotInt16Rows(dimension: dimension, weights: weights, codes: codes, stride: dimension, rows: slots, rowCount: count, out)
      if let norms {
        for i in 0..<count { out[i] = constant + scale * out[i] + norms[Int(slots[i])] }
      } else {
        for i in 0..<count { out[i] = -(scale * out[i] + constant) }
      }
    }

    @inline(__always)
    func prefetch(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension) }
    @inline(__always)
    func prefetchToL2(_ slot: UInt32) { prefetchLines(codes + Int(slot) * dimension, bytes: dimension, outerCachesOnly: true) }
  }

  /// Prepares `vector`: its transform goes to `scratch` (`dimension` floats), its integer
  /// weights to `integers`. nil when the transform is not finite (then walk exactly).
  @inline(__always)
  func query(_ vector: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, integers: UnsafeMutablePointer<Int16>) -> Query? {
    let scale: Float?
    let constant: Float
    if norms != nil {
      var squares: Float = 0
      for j in 0..<dimension {
        let a = vector[j] - offsets[j]
        squares += a * a
        scratch[j] = a * scales[j]
      }
      scale = SearchCodeLayout.quantizeQuery(scratch, count: dimension, into: integers).map { -2 * $0 }
      constant = squares
    } else {
      for j in 0..<dimension { scratch[j] = vector[j] * scales[j] }
      scale = SearchCodeLayout.quantizeQuery(scratch, count: dimension, into: integers)
      constant = kernels.dot.dot(count: dimension, vector, offsets)
    }
    guard let scale, constant.isFinite else { return nil }
    return Query(
      weights: integers, scale: scale, constant: constant, codes: codes, norms: norms, dimension: dimension,
      kernel: kernels.sq8DotInt16Rows)
  }
}
