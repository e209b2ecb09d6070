#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Running sums that compare a tensor W with its reconstruction Ŵ.
///
/// Sums are accumulated in Float32 over at most 1024 elements, then in Double, so that
/// the relative rounding error of each sum stays below ~1e-6 whatever the tensor's size.
/// A block whose Float32 sums overflow (values beyond ~10¹⁷) or underflow (a block whose
/// values are all below ~10⁻¹⁹, not all zero) is summed again in Double, so the statistics
/// stay finite, and scale-invariant, for every finite tensor.
/// Statistics of disjoint parts combine with `merge(_:)`.
public struct ErrorStatistics: Sendable, Hashable, Codable {
  /// Elements seen.
  public var count = 0
  /// Σ (w − ŵ)².
  public var sumSquaredError = 0.0
  /// Σ w².
  public var sumSquaresOriginal = 0.0
  /// Σ ŵ².
  public var sumSquaresReconstructed = 0.0
  /// Σ w·ŵ.
  public var sumProducts = 0.0
  /// max |w − ŵ|.
  public var maximumAbsoluteError: Float = 0

  /// Empty statistics.
  public init() {}

  /// Adds `original[i]` vs `reconstructed[i]` for every i (the buffers have equal counts).
  public mutating func accumulate(original: UnsafeBufferPointer<Float>, reconstructed: UnsafeBufferPointer<Float>) {
    let total = Swift.min(original.count, reconstructed.count)
    guard total > 0, let w = original.baseAddress, let r = reconstructed.baseAddress else { return }
    typealias Lane = SIMD8<Float>
    var maximum = Lane(repeating: 0)
    let zero = Lane()
    var start = 0
    while start < total {
      let end = Swift.min(total, start + 1024)
      var error = Lane(), original2 = Lane(), reconstructed2 = Lane(), product = Lane()
      var i = start
      while i + 8 <= end {
        let a = UnsafeRawPointer(w + i).loadUnaligned(as: Lane.self)
        let b = UnsafeRawPointer(r + i).loadUnaligned(as: Lane.self)
        let d = a - b
        error += d * d
        original2 += a * a
        reconstructed2 += b * b
        product += a * b
        // |d| and the running maximum by masked replacement: `pointwiseMax` compiles to a
        // per-lane scalar loop here (measured 8× slower than the rest of this loop).
        var magnitude = d
        magnitude.replace(with: -d, where: d .< zero)
        maximum.replace(with: magnitude, where: magnitude .> maximum)
        i += 8
      }
      var tailError: Float = 0, tailOriginal: Float = 0, tailReconstructed: Float = 0, tailProduct: Float = 0
      while i < end {
        let a = w[i], b = r[i], d = a - b
        tailError += d * d
        tailOriginal += a * a
        tailReconstructed += b * b
        tailProduct += a * b
        maximumAbsoluteError = Swift.max(maximumAbsoluteError, abs(d))
        i += 1
      }
      let e = error.sum(), o = original2.sum(), r2 = reconstructed2.sum(), p = product.sum()
      // Float32 suffices unless a sum overflowed (∞ − ∞ and NaN − NaN are NaN) or Σw² is
      // tiny for a block that is not all zeros (squares of |w| below ~10⁻¹⁹ underflow).
      let check = SIMD4<Float>(e, o, r2, p) + SIMD4(tailError, tailOriginal, tailReconstructed, tailProduct)
      if (check - check) == SIMD4<Float>() && (check[1] >= 0x1p-60 || !(start..<end).contains { w[$0] != 0 }) {
        sumSquaredError += Double(e) + Double(tailError)
        sumSquaresOriginal += Double(o) + Double(tailOriginal)
        sumSquaresReconstructed += Double(r2) + Double(tailReconstructed)
        sumProducts += Double(p) + Double(tailProduct)
      } else {
        // Values beyond ~10¹⁷ overflow a Float32 sum of squares, below ~10⁻¹⁹ they underflow:
        // this block again in Double.
        for j in start..<end {
          let a = Double(w[j]), b = Double(r[j]), d = a - b
          sumSquaredError += d * d
          sumSquaresOriginal += a * a
          sumSquaresReconstructed += b * b
          sumProducts += a * b
        }
      }
      start = end
    }
    maximumAbsoluteError = Swift.max(maximumAbsoluteError, maximum.max())  // NaN-free: inputs are finite
    count += total
  }

  /// Adds another part's sums.
  public mutating func merge(_ other: ErrorStatistics) {
    count += other.count
    sumSquaredError += other.sumSquaredError
    sumSquaresOriginal += other.sumSquaresOriginal
    sumSquaresReconstructed += other.sumSquaresReconstructed
    sumProducts += other.sumProducts
    maximumAbsoluteError = Swift.max(maximumAbsoluteError, other.maximumAbsoluteError)
  }

  /// Mean squared error Σ(w − ŵ)²/n (0 for an empty tensor).
  public var meanSquaredError: Double { count == 0 ? 0 : sumSquaredError / Double(count) }

  /// Relative Frobenius error ‖W − Ŵ‖/‖W‖; 0 when both are zero, +∞ when only W is zero.
  public var relativeError: Double {
    if sumSquaredError == 0 { return 0 }
    return sumSquaresOriginal == 0 ? .infinity : (sumSquaredError / sumSquaresOriginal).squareRoot()
  }

  /// Signal-to-quantization-noise ratio 10·log₁₀(Σw² / Σ(w − ŵ)²) in dB; nil when the
  /// reconstruction is exact (infinite SQNR, which JSON cannot carry).
  public var signalToNoiseDecibels: Double? {
    sumSquaredError == 0 ? nil : 10 * log10(sumSquaresOriginal / sumSquaredError)
  }

  /// Cosine similarity Σw·ŵ / (‖W‖·‖Ŵ‖): 1 when both are zero, 0 when only one is.
  public var cosineSimilarity: Double {
    let denominator = (sumSquaresOriginal * sumSquaresReconstructed).squareRoot()
    if denominator == 0 { return sumSquaresOriginal == sumSquaresReconstructed ? 1 : 0 }
    return Swift.min(1, Swift.max(-1, sumProducts / denominator))
  }
}

/// The quality and size of one quantized tensor.
public struct QuantizationMetrics: Sendable, Hashable, Codable {
  /// Weights.
  public var count: Int
  /// Mean squared error.
  public var meanSquaredError: Double
  /// SQNR in dB (nil when the reconstruction is exact).
  public var signalToNoiseDecibels: Double?
  /// ‖W − Ŵ‖/‖W‖.
  public var relativeError: Double
  /// Cosine similarity of W and Ŵ.
  public var cosineSimilarity: Double
  /// max |w − ŵ|.
  public var maximumAbsoluteError: Double
  /// Stored bits per weight, parameters included.
  public var bitsPerWeight: Double
  /// Original bits per weight (32 for F32, 16 for F16/BF16) over `bitsPerWeight`.
  public var compressionRatio: Double

  /// Metrics from error statistics and the storage cost.
  public init(_ statistics: ErrorStatistics, bitsPerWeight: Double, originalBitsPerWeight: Double) {
    count = statistics.count
    meanSquaredError = statistics.meanSquaredError
    signalToNoiseDecibels = statistics.signalToNoiseDecibels
    relativeError = statistics.relativeError
    cosineSimilarity = statistics.cosineSimilarity
    maximumAbsoluteError = Double(statistics.maximumAbsoluteError)
    self.bitsPerWeight = bitsPerWeight
    compressionRatio = bitsPerWeight > 0 ? originalBitsPerWeight / bitsPerWeight : 0
  }
}

/// Model-level error: the size-weighted relative error over quantized tensors,
///
///     √( Σₖ nₖ·eₖ² / Σₖ nₖ ),  eₖ = ‖Wₖ − Ŵₖ‖/‖Wₖ‖,  nₖ = elements of tensor k,
///
/// i.e. the root mean of the per-tensor relative errors weighted by size: every weight
/// counts the same, yet a tensor with small weights is judged relative to its own scale.
public struct ModelErrorSummary: Sendable, Hashable, Codable {
  /// Tensors added.
  public var tensorCount = 0
  /// Σ nₖ.
  public var weightCount = 0
  /// Σ nₖ·eₖ².
  public var weightedSquaredRelativeError = 0.0
  /// Σ stored bytes of the tensors added.
  public var storedByteCount = 0
  /// Σ original bytes of the tensors added.
  public var originalByteCount = 0

  /// An empty summary.
  public init() {}

  /// Adds a tensor of `count` weights with relative error `relativeError`.
  public mutating func add(count: Int, relativeError: Double, storedBytes: Int = 0, originalBytes: Int = 0) {
    tensorCount += 1
    weightCount += count
    weightedSquaredRelativeError += Double(count) * relativeError * relativeError
    storedByteCount += storedBytes
    originalByteCount += originalBytes
  }

  /// √(Σ nₖ·eₖ² / Σ nₖ); 0 when nothing was added.
  public var sizeWeightedRelativeError: Double {
    weightCount == 0 ? 0 : (weightedSquaredRelativeError / Double(weightCount)).squareRoot()
  }

  /// Average stored bits per weight of the tensors added.
  public var bitsPerWeight: Double { weightCount == 0 ? 0 : Double(8 * storedByteCount) / Double(weightCount) }
}

/// Monotonic seconds, for timings in reports.
enum MonotonicClock {
  static func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
  }
}
