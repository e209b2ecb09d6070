import ArrowheadCore

/// One time group's calibration samples, sorted once, with prefix sums: the code sums of
/// any candidate then cost O(2ᵇ · log n) instead of a pass over the n samples.
///
/// Codes q(x) = clamp(round(x·a + b), 0, 2ᵇ − 1) are non-decreasing in x for a > 0 (every
/// Float32 step — product, sum, rounding, clamp — is monotone), so the samples with code ≥ k
/// form a suffix of the sorted array, starting at the boundary index βₖ. With weights wᵢ
/// (each sample's channel importance d_c, `ActivationCalibrationData`; 1 without them) and
/// prefix sums Pᵢ = Σ_{j<i} wⱼxⱼ, Ωᵢ = Σ_{j<i} wⱼ (in Double; Ωᵢ = i when unweighted):
///
///   Q = Σₖ (W − Ω_{βₖ}),  QQ = Σₖ (2k − 1)(W − Ω_{βₖ}),  XQ = Σₖ (X − P_{βₖ}),  k = 1…2ᵇ − 1,
///
/// the weighted sums Σwq, Σwq², Σwxq, because a sample with code c contributes
/// c = #{k ≤ c}, c² = Σ_{k≤c}(2k − 1) and x·c. Each
/// βₖ is located through a bucket index (the sorted values' positions at n/8 evenly spaced
/// values between min and max) from the approximate threshold (k − ½ − b)/a, then pinned
/// by bisection with the exact code function of the probed samples, and checked against
/// its neighbours (a gallop from βₖ₋₁ takes over if the check fails) — so the sums equal
/// those of a pass over every sample (up to the order of the Double additions).
struct SortedSamples: Sendable {
  /// The samples, ascending.
  let values: [Float]
  /// prefix[i] = Σ_{j<i} wⱼ·values[j] (n + 1 entries).
  let prefix: [Double]
  /// weightPrefix[i] = Σ_{j<i} wⱼ (n + 1 entries), empty when every weight is 1.
  let weightPrefix: [Double]
  /// n.
  var count: Int { values.count }
  /// W = Σw (n when unweighted), X = Σwx and XX = Σwx².
  let totalWeight: Double, sum: Double, sumOfSquares: Double
  /// Weighted mean μ = X/W and variance σ² (moments about the median).
  let mean: Double, variance: Double
  /// bucketStart[j] = the first index whose value is ≥ minimum + j·width (j = 0…buckets).
  let bucketStart: [Int32]
  let minimum: Double, bucketsPerUnit: Double

  /// Sorts `samples`; with `importance`, sample i weighs importance[i mod channels].
  init(_ samples: [Float], channels: Int? = nil, importance: [Float]? = nil) {
    let n = samples.count
    let weighted = importance != nil && (channels ?? 0) >= 1
    let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: max(1, weighted ? 3 * n : n))
    defer { scratch.deallocate() }
    var sortedChannels = [UInt32]()
    let sorted = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
      samples.withUnsafeBufferPointer { source in
        if let input = source.baseAddress, let output = buffer.baseAddress {
          if weighted, let channels {
            sortedChannels = [UInt32](unsafeUninitializedCapacity: n) { channelBuffer, written in
              RadixSort.sort(input, count: n, channels: channels, into: output, channelsOut: channelBuffer.baseAddress!, scratch: scratch)
              written = n
            }
          } else {
            RadixSort.sort(input, count: n, into: output, scratch: scratch)
          }
        }
      }
      initialized = n
    }
    values = sorted
    let low = Double(sorted.first ?? 0), high = Double(sorted.last ?? 0)
    let buckets = max(1, min(n / 8, 1 << 20))
    let perUnit = high > low ? Double(buckets) / (high - low) : 0
    minimum = low
    bucketsPerUnit = perUnit
    // One pass: prefix sums, Σwx², the bucket index (bucket j starts at the first value
    // ≥ low + j/perUnit, i.e. whose bucket position (x − low)·perUnit is ≥ j), and the
    // moments about the median c (Σw(x − c), Σw(x − c)²: a one-pass variance without the
    // cancellation of Σx² − (Σx)²/n, since c is close to the mean).
    var running = 0.0, runningWeight = 0.0, squares = 0.0, shifted = 0.0, shiftedSquares = 0.0
    let centre = n == 0 ? 0 : Double(sorted[n / 2])
    var starts = [Int32](repeating: Int32(n), count: buckets + 1)
    var weights = [Double]()
    if weighted, let importance {
      weights = [Double](unsafeUninitializedCapacity: n + 1) { buffer, initialized in
        buffer[0] = 0
        for i in 0..<n {
          runningWeight += Double(importance[Int(sortedChannels[i])])
          buffer[i + 1] = runningWeight
        }
        initialized = n + 1
      }
    }
    prefix = [Double](unsafeUninitializedCapacity: n + 1) { buffer, initialized in
      buffer[0] = 0
      sorted.withUnsafeBufferPointer { v in
        starts.withUnsafeMutableBufferPointer { bucketStarts in
          var nextBucket = 0
          for i in 0..<n {
            let x = Double(v[i])
            if perUnit > 0 {
              let position = (x - low) * perUnit
              while nextBucket <= buckets && Double(nextBucket) <= position {
                bucketStarts[nextBucket] = Int32(i)
                nextBucket += 1
              }
            } else if nextBucket == 0 {
              bucketStarts[0] = 0
              nextBucket = 1
            }
            let w = weighted ? weights[i + 1] - weights[i] : 1
            running += w * x
            squares += w * x * x
            let d = x - centre
            shifted += w * d
            shiftedSquares += w * d * d
            buffer[i + 1] = running
          }
        }
      }
      initialized = n + 1
    }
    weightPrefix = weights
    bucketStart = starts
    sum = running
    sumOfSquares = squares
    let total = weighted ? runningWeight : Double(n)
    totalWeight = total
    let divisor = max(total, .leastNormalMagnitude)
    mean = n == 0 ? 0 : running / divisor
    variance = n == 0 || !(total > 0) ? 0 : max(0, shiftedSquares / divisor - (shifted / divisor) * (shifted / divisor))
  }

  /// Σw of the samples from sorted index `index` on.
  @inline(__always)
  func weight(from index: Int) -> Double {
    weightPrefix.isEmpty ? Double(values.count - index) : totalWeight - weightPrefix[index]
  }

  /// Q, QQ, XQ (weighted: Σwq, Σwq², Σwxq) of the codes clamp(round(x·a + b), 0, top) of
  /// every sample (a > 0).
  func codeSums(a: Float, b: Float, top: Int) -> CodeSums {
    var result = CodeSums()
    let n = values.count
    guard n > 0 else { return result }
    let topValue = Float(top)
    values.withUnsafeBufferPointer { v in
      prefix.withUnsafeBufferPointer { p in
        bucketStart.withUnsafeBufferPointer { starts in
          let buckets = starts.count - 1
          // value(k) = (k − ½ − b)·s in bucket units: position(k) = origin + k·slope.
          let slope = bucketsPerUnit / Double(a)
          let origin = (-0.5 - Double(b)) * slope - minimum * bucketsPerUnit
          let lastBucket = Double(buckets - 1)
          var lower = 0
          for k in 1...top {
            let threshold = Float(k)
            // The boundary's bucket from the approximate threshold value, one bucket of margin.
            var found = -1
            if bucketsPerUnit > 0 {
              let position = origin + Double(k) * slope
              // Truncation is the floor here: negative positions are clamped first.
              let bucket = position < 0 ? 0 : (position >= lastBucket ? buckets - 1 : Int(position))
              // (Independent of the previous boundary, so that the loads of successive
              // boundaries overlap; the neighbour check below makes the result exact.)
              var low = Int(starts[max(0, bucket - 1)]), high = Int(starts[min(buckets, bucket + 2)])
              while low < high {
                let middle = (low + high) >> 1
                if OptimizerCode.code(v[middle], a: a, b: b, top: topValue) >= threshold { high = middle } else { low = middle + 1 }
              }
              let before = low == 0 || OptimizerCode.code(v[low - 1], a: a, b: b, top: topValue) < threshold
              let at = low == n || OptimizerCode.code(v[low], a: a, b: b, top: topValue) >= threshold
              if before && at { found = low }
            }
            if found < 0 {
              // Gallop from the previous boundary, then bisect.
              var low = lower, high = lower, step = 1
              while high < n && OptimizerCode.code(v[high], a: a, b: b, top: topValue) < threshold {
                low = high + 1
                high += step
                step <<= 1
              }
              high = min(high, n)
              while low < high {
                let middle = (low + high) >> 1
                if OptimizerCode.code(v[middle], a: a, b: b, top: topValue) >= threshold { high = middle } else { low = middle + 1 }
              }
              found = low
            }
            lower = found
            if lower == n { break }
            let above = weight(from: lower)
            result.q += above
            result.qq += Double(2 * k - 1) * above
            result.xq += sum - p[lower]
          }
        }
      }
    }
    return result
  }
}
