// Search-code kernels of the SIMD backend: distances between a float query and SQ8 / SQ4
// rows (see Sources/ArrowheadCore/Families/SearchCodeKernels.swift for the formats).
//
// ISA: whatever this module is compiled for. The loops work on 8 floats at a time
// (SIMD8<Float>: two SSE registers on baseline, one YMM register on x86-64-v3/v4), which
// matches the SQ4 block-16 layout: 8 packed bytes hold the 16 codes of one block, low
// nibbles the even dimensions, high nibbles the odd ones. Two accumulators; no FMA (mul
// then add), so results are the same on every ISA level.
import ArrowheadCore
import CArrowheadCPU

typealias F32x8 = SIMD8<Float>

@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> F32x8 {
  UnsafeRawPointer(pointer).loadUnaligned(as: F32x8.self)
}

/// Unsigned bytes to floats (exact: every UInt8 is a Float): the byte is placed in the
/// mantissa of 2²³ (bits 0x4B00_0000 | c = 2²³ + c exactly) and 2²³ subtracted. The
/// standard library's integer-to-float SIMD initialiser is generic: in the 8-lane tail of
/// these loops, and in a four-chain variant of `sq8Dot`, the optimizer called it out of
/// line (11 % of a MiniLM build's samples in that variant); this form compiles to
/// `vpmovzxbd` + `vpor` + `vsubps` wherever it is used.
@inline(__always)
func floats8(_ codes: SIMD8<UInt8>) -> F32x8 {
  let bits = SIMD8<UInt32>(truncatingIfNeeded: codes) | SIMD8<UInt32>(repeating: 0x4B00_0000)
  return unsafeBitCast(bits, to: F32x8.self) - F32x8(repeating: 8_388_608)
}

enum SIMDSearchCodes {
  @inline(__always)
  static func sq4Code(_ packed: UnsafePointer<UInt8>, _ j: Int) -> UInt8 {
    let byte = packed[j >> 1]
    return j & 1 == 0 ? byte & 0x0F : byte >> 4
  }

  static func sq8SquaredL2(
    _ shifted: UnsafePointer<Float>, _ scales: UnsafePointer<Float>, _ codes: UnsafePointer<UInt8>, _ count: Int
  ) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(codes)
    while i + 16 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
      let d0 = load8(shifted + i) - floats8(c.lowHalf) * load8(scales + i)
      let d1 = load8(shifted + i + 8) - floats8(c.highHalf) * load8(scales + i + 8)
      s0 += d0 * d0
      s1 += d1 * d1
      i += 16
    }
    if i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      let d0 = load8(shifted + i) - floats8(c) * load8(scales + i)
      s0 += d0 * d0
      i += 8
    }
    var total = foldSum(s0 + s1)
    while i < count {
      let d = shifted[i] - Float(codes[i]) * scales[i]
      total += d * d
      i += 1
    }
    return total
  }

  static func sq8Dot(_ weights: UnsafePointer<Float>, _ codes: UnsafePointer<UInt8>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(codes)
    while i + 16 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
      s0 += load8(weights + i) * floats8(c.lowHalf)
      s1 += load8(weights + i + 8) * floats8(c.highHalf)
      i += 16
    }
    if i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      s0 += load8(weights + i) * floats8(c)
      i += 8
    }
    var total = foldSum(s0 + s1)
    while i < count {
      total += weights[i] * Float(codes[i])
      i += 1
    }
    return total
  }

  static func sq8Decode(
    _ codes: UnsafePointer<UInt8>, _ scales: UnsafePointer<Float>, _ offsets: UnsafePointer<Float>,
    _ count: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    let raw = UnsafeRawPointer(codes)
    let destination = UnsafeMutableRawPointer(out)
    while i + 8 <= count {
      let c = raw.loadUnaligned(fromByteOffset: i, as: SIMD8<UInt8>.self)
      let product = floats8(c) * load8(scales + i)
      destination.storeBytes(of: product + load8(offsets + i), toByteOffset: i * 4, as: F32x8.self)
      i += 8
    }
    while i < count {
      out[i] = Float(codes[i]) * scales[i] + offsets[i]
      i += 1
    }
  }

  static func sq4SquaredL2(
    _ shifted: UnsafePointer<Float>, _ scales: UnsafePointer<Float>, _ packed: UnsafePointer<UInt8>, _ count: Int
  ) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(packed)
    let mask = SIMD8<UInt8>(repeating: 0x0F)
    while i + 16 <= count {
      let bytes = raw.loadUnaligned(fromByteOffset: i >> 1, as: SIMD8<UInt8>.self)
      let even = floats8(bytes & mask), odd = floats8(bytes &>> 4)
      let d0 = load8(shifted + i) - even * load8(scales + i)
      let d1 = load8(shifted + i + 8) - odd * load8(scales + i + 8)
      s0 += d0 * d0
      s1 += d1 * d1
      i += 16
    }
    var total = foldSum(s0 + s1)
    while i < count {
      let d = shifted[i] - Float(sq4Code(packed, i)) * scales[i]
      total += d * d
      i += 1
    }
    return total
  }

  static func sq4Dot(_ weights: UnsafePointer<Float>, _ packed: UnsafePointer<UInt8>, _ count: Int) -> Float {
    var s0 = F32x8(), s1 = F32x8()
    var i = 0
    let raw = UnsafeRawPointer(packed)
    let mask = SIMD8<UInt8>(repeating: 0x0F)
    while i + 16 <= count {
      let bytes = raw.loadUnaligned(fromByteOffset: i >> 1, as: SIMD8<UInt8>.self)
      s0 += load8(weights + i) * floats8(bytes & mask)
      s1 += load8(weights + i + 8) * floats8(bytes &>> 4)
      i += 16
    }
    var total = foldSum(s0 + s1)
    while i < count {
      total += weights[i] * Float(sq4Code(packed, i))
      i += 1
    }
    return total
  }

  static func sq4Decode(
    _ packed: UnsafePointer<UInt8>, _ scales: UnsafePointer<Float>, _ offsets: UnsafePointer<Float>,
    _ count: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    var i = 0
    let raw = UnsafeRawPointer(packed)
    let mask = SIMD8<UInt8>(repeating: 0x0F)
    while i + 16 <= count {
      // Bytes i/2 … i/2 + 7 hold dimensions i … i + 15: interleave low and high nibbles.
      let bytes = raw.loadUnaligned(fromByteOffset: i >> 1, as: SIMD8<UInt8>.self)
      let low = bytes & mask, high = bytes &>> 4
      let first = SIMD8<UInt8>(low[0], high[0], low[1], high[1], low[2], high[2], low[3], high[3])
      let second = SIMD8<UInt8>(low[4], high[4], low[5], high[5], low[6], high[6], low[7], high[7])
      UnsafeMutableRawPointer(out + i).storeBytes(of: floats8(first) * load8(scales + i) + load8(offsets + i), as: F32x8.self)
      UnsafeMutableRawPointer(out + i + 8).storeBytes(
        of: floats8(second) * load8(scales + i + 8) + load8(offsets + i + 8), as: F32x8.self)
      i += 16
    }
    while i < count {
      out[i] = Float(sq4Code(packed, i)) * scales[i] + offsets[i]
      i += 1
    }
  }
}

// MARK: - Exported kernels

extension SIMDKernels {
  public static func sq8SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    SIMDSearchCodes.sq8SquaredL2(shifted, scales, codes, count)
  }

  public static func sq8Dot(count: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>) -> Float {
    SIMDSearchCodes.sq8Dot(weights, codes, count)
  }

  public static func sq8Decode(
    count: Int, codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    SIMDSearchCodes.sq8Decode(codes, scales, offsets, count, out)
  }

  public static func sq4SquaredL2(count: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    SIMDSearchCodes.sq4SquaredL2(shifted, scales, packed, count)
  }

  public static func sq4Dot(count: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>) -> Float {
    SIMDSearchCodes.sq4Dot(weights, packed, count)
  }

  public static func sq4Decode(
    count: Int, packed: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, offsets: UnsafePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    SIMDSearchCodes.sq4Decode(packed, scales, offsets, count, out)
  }
}

// MARK: - Batches (one call per visited graph node)

/// Software pipelining of a batch: while row i is computed, the cache lines of the rows a
/// few places ahead are requested, so that their misses overlap the arithmetic instead of
/// all being issued up front (a node's 20–30 rows are 100+ lines: more misses than the
/// core can track, so the prefetch loop itself stalled — perf put a third of a GloVe
/// search's layer-0 walk on it).
/// (Free functions rather than a struct holding the batch: a struct of this size gets a
/// `__swift_memcpy…` value-witness helper, weak and shared between the ISA modules, whose
/// AVX code would then run inside the baseline variant — see ISAVariantTests.)
@inline(__always)
func rowsAhead(rowBytes: Int) -> Int { max(1, min(8, 1024 / max(rowBytes, 1))) }

/// Requests every line of the `rowBytes` bytes at `base + rows[i]·strideBytes`, into every
/// cache level, or with `outerCachesOnly` into L2 only (`prefetcht1`).
@inline(__always)
func prefetchRow(
  _ base: UnsafeRawPointer, _ rows: UnsafePointer<UInt32>, _ i: Int, rowBytes: Int, strideBytes: Int,
  outerCachesOnly: Bool = false
) {
  let row = base + Int(rows[i]) * strideBytes
  var offset = 0
  while offset < rowBytes {
    if outerCachesOnly { arrowhead_prefetch_to_l2(row + offset) } else { arrowhead_prefetch_for_read(row + offset) }
    offset += 64
  }
  if outerCachesOnly { arrowhead_prefetch_to_l2(row + (rowBytes - 1)) } else { arrowhead_prefetch_for_read(row + (rowBytes - 1)) }
}

/// Requests the first `lines` lines of row `rows[i]`, into every cache level or into L2 only.
@inline(__always)
func prefetchRowHead(
  _ base: UnsafeRawPointer, _ rows: UnsafePointer<UInt32>, _ i: Int, lines: Int, strideBytes: Int, outerCachesOnly: Bool
) {
  let row = base + Int(rows[i]) * strideBytes
  for line in 0..<lines {
    if outerCachesOnly { arrowhead_prefetch_to_l2(row + 64 * line) } else { arrowhead_prefetch_for_read(row + 64 * line) }
  }
}

/// Rows of 1 KiB or more two at a time: `pair(i)` computes rows i and i + 1 (their loads
/// interleaved, so twice the misses are in flight), `single(i)` a last odd row. Row i + 2 is
/// requested into every level and rows i + 3, i + 4 into L2 before the pair at i (rows i + 2
/// and i + 3 both into L1 measured slower). On MiniLM (384-d) HNSW, Zen 4, interleaved with
/// the one-row loop: inner product ahead in 5 of 6 rounds at 1 thread (median +14 %) and 6 of
/// 6 at 2; L2 even at ef 64, ahead in 5 of 6 at ef 128.
///
/// Where `arrowhead_search_prefetches_heads()` (Intel): only the first two lines of rows
/// i + 2 and i + 3 and the first line of rows i + 4 and i + 5 (into L2) are requested; the L2
/// streamer fetches the rest of each 1.5 KiB row once its head is asked for. On the Xeon 6/207
/// the full-row requests stalled the core (perf: the instructions after the `prefetcht1`s held
/// 45 % of the kernel's samples) and MiniLM HNSW ran 9 % faster with no requests at all; heads
/// only, with the search's look-ahead also reduced to heads (`Float32Space.prefetchToL2`):
/// 9 312–9 340 → 10 942–11 044 q/s at ef 64 (1 thread, 2 rounds). 1, 2 or 4 lines per head
/// and 2 or 4 rows ahead measured alike (± 2 %).
@inline(__always)
func pairedRows(
  _ base: UnsafeRawPointer, rowBytes: Int, strideBytes: Int, _ rows: UnsafePointer<UInt32>, _ rowCount: Int,
  _ pair: (Int) -> Void, single: (Int) -> Void
) {
  if arrowhead_search_prefetches_heads() != 0 {
    var i = 0
    while i + 2 <= rowCount {
      for ahead in 2...3 where i + ahead < rowCount {
        prefetchRowHead(base, rows, i + ahead, lines: 2, strideBytes: strideBytes, outerCachesOnly: false)
      }
      for ahead in 4...5 where i + ahead < rowCount {
        prefetchRowHead(base, rows, i + ahead, lines: 1, strideBytes: strideBytes, outerCachesOnly: true)
      }
      pair(i)
      i += 2
    }
    if i < rowCount { single(i) }
    return
  }
  for i in 0..<min(2, rowCount) { prefetchRow(base, rows, i, rowBytes: rowBytes, strideBytes: strideBytes) }
  var i = 0
  while i + 2 <= rowCount {
    if i + 2 < rowCount { prefetchRow(base, rows, i + 2, rowBytes: rowBytes, strideBytes: strideBytes) }
    if i + 3 < rowCount { prefetchRow(base, rows, i + 3, rowBytes: rowBytes, strideBytes: strideBytes, outerCachesOnly: true) }
    if i + 4 < rowCount { prefetchRow(base, rows, i + 4, rowBytes: rowBytes, strideBytes: strideBytes, outerCachesOnly: true) }
    pair(i)
    i += 2
  }
  if i < rowCount { single(i) }
}

/// Runs `body(i)` for i in 0..<rowCount, requesting row i + ahead before computing row i
/// (rows 0..<ahead up front). Rows of 1 KiB or more (256-d floats and up) also have the row
/// after that requested into L2 only (`prefetcht1`): two whole rows into L1 ahead (48 lines
/// for 384-d) exceeded the core's L1 miss buffers and gained nothing on Zen 4, while the L2
/// request gave MiniLM HNSW searches 4–13 % (17 of 20 interleaved rounds ahead).
@inline(__always)
func pipelinedRows(
  _ base: UnsafeRawPointer, rowBytes: Int, strideBytes: Int, _ rows: UnsafePointer<UInt32>, _ rowCount: Int,
  _ body: (Int) -> Void
) {
  let ahead = rowsAhead(rowBytes: rowBytes)
  for i in 0..<min(ahead, rowCount) { prefetchRow(base, rows, i, rowBytes: rowBytes, strideBytes: strideBytes) }
  let far = rowBytes >= 1024 ? ahead + 1 : rowCount
  for i in 0..<rowCount {
    if i + ahead < rowCount { prefetchRow(base, rows, i + ahead, rowBytes: rowBytes, strideBytes: strideBytes) }
    if i + far < rowCount {
      prefetchRow(base, rows, i + far, rowBytes: rowBytes, strideBytes: strideBytes, outerCachesOnly: true)
    }
    body(i)
  }
}

/// Rows under 1 KiB (fewer than 256 floats) two at a time, as `pairedRows` takes long
/// ones: `pair(i)` computes rows i and i + 1 with their loads and their final folds
/// interleaved, `single(i)` a last odd row; rows i + ahead and i + ahead + 1 (`rowsAhead`,
/// 5 rows of GloVe's 200 bytes) are requested into every level before the pair at i.
/// Inner products stay bit-identical to `dot` (`dotPair`). On the Xeon 6/207, GloVe
/// 399 000 × 50 HNSW, 1 thread, old and new binaries interleaved on one index: inner product
/// +6–8 % (ef 64 29 840–30 485 → 32 361–32 406 q/s), squared L2 +3–4 %; the two-thread build
/// 24.6 → 23.6 s (Search README). Four rows at a time measured the same as two.
@inline(__always)
func pipelinedPairs(
  _ base: UnsafeRawPointer, rowBytes: Int, strideBytes: Int, _ rows: UnsafePointer<UInt32>, _ rowCount: Int,
  _ pair: (Int) -> Void, single: (Int) -> Void
) {
  let ahead = rowsAhead(rowBytes: rowBytes)
  for i in 0..<min(ahead, rowCount) { prefetchRow(base, rows, i, rowBytes: rowBytes, strideBytes: strideBytes) }
  var i = 0
  while i + 2 <= rowCount {
    if i + ahead < rowCount { prefetchRow(base, rows, i + ahead, rowBytes: rowBytes, strideBytes: strideBytes) }
    if i + ahead + 1 < rowCount { prefetchRow(base, rows, i + ahead + 1, rowBytes: rowBytes, strideBytes: strideBytes) }
    pair(i)
    i += 2
  }
  if i < rowCount { single(i) }
}

// `squaredL2Rows` and `dotRows` spell out their pair and single bodies once per walker
// (`pairedRows`, `pipelinedPairs`) on purpose: passed once through a shared walker that
// chose between the two, the bodies were no longer inlined into each loop and MiniLM HNSW
// ran 2–3 % slower (Xeon 6/207, 3 interleaved rounds, ef 56 and 64).
extension SIMDKernels {
  public static func squaredL2Rows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    if dimension >= 256 {
      pairedRows(UnsafeRawPointer(base), rowBytes: dimension * 4, strideBytes: stride * 4, rows, rowCount) { i in
        let (a, b) = SIMDDistances.squaredDistancePair(
          dimension, query, base + Int(rows[i]) * stride, base + Int(rows[i + 1]) * stride)
        out[i] = a
        out[i + 1] = b
      } single: { i in
        // The pair kernel again (the row's second read hits L1): every row of the batch gets
        // the same summation order, whichever position it has.
        let row = base + Int(rows[i]) * stride
        out[i] = SIMDDistances.squaredDistancePair(dimension, query, row, row).0
      }
      return
    }
    pipelinedPairs(UnsafeRawPointer(base), rowBytes: dimension * 4, strideBytes: stride * 4, rows, rowCount) { i in
      let (a, b) = SIMDDistances.squaredDistancePair(
        dimension, query, base + Int(rows[i]) * stride, base + Int(rows[i + 1]) * stride)
      out[i] = a
      out[i + 1] = b
    } single: { i in
      let row = base + Int(rows[i]) * stride
      out[i] = SIMDDistances.squaredDistancePair(dimension, query, row, row).0
    }
  }

  public static func dotRows(
    dimension: Int, query: UnsafePointer<Float>, base: UnsafePointer<Float>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    if dimension >= 256 {
      pairedRows(UnsafeRawPointer(base), rowBytes: dimension * 4, strideBytes: stride * 4, rows, rowCount) { i in
        let (a, b) = SIMDDistances.dotPair(dimension, query, base + Int(rows[i]) * stride, base + Int(rows[i + 1]) * stride)
        out[i] = a
        out[i + 1] = b
      } single: { i in
        out[i] = SIMDLevel1.dot(dimension, query, base + Int(rows[i]) * stride)
      }
      return
    }
    pipelinedPairs(UnsafeRawPointer(base), rowBytes: dimension * 4, strideBytes: stride * 4, rows, rowCount) { i in
      let (a, b) = SIMDDistances.dotPair(dimension, query, base + Int(rows[i]) * stride, base + Int(rows[i + 1]) * stride)
      out[i] = a
      out[i + 1] = b
    } single: { i in
      out[i] = SIMDLevel1.dot(dimension, query, base + Int(rows[i]) * stride)
    }
  }

  public static func sq8SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    pipelinedRows(UnsafeRawPointer(codes), rowBytes: dimension, strideBytes: stride, rows, rowCount) { i in
      out[i] = SIMDSearchCodes.sq8SquaredL2(shifted, scales, codes + Int(rows[i]) * stride, dimension)
    }
  }

  public static func sq8DotRows(
    dimension: Int, weights: UnsafePointer<Float>, codes: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    pipelinedRows(UnsafeRawPointer(codes), rowBytes: dimension, strideBytes: stride, rows, rowCount) { i in
      out[i] = SIMDSearchCodes.sq8Dot(weights, codes + Int(rows[i]) * stride, dimension)
    }
  }

  public static func sq4SquaredL2Rows(
    dimension: Int, shifted: UnsafePointer<Float>, scales: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    pipelinedRows(UnsafeRawPointer(packed), rowBytes: (dimension + 1) / 2, strideBytes: stride, rows, rowCount) { i in
      out[i] = SIMDSearchCodes.sq4SquaredL2(shifted, scales, packed + Int(rows[i]) * stride, dimension)
    }
  }

  public static func sq4DotRows(
    dimension: Int, weights: UnsafePointer<Float>, packed: UnsafePointer<UInt8>, stride: Int,
    rows: UnsafePointer<UInt32>, rowCount: Int, _ out: UnsafeMutablePointer<Float>
  ) {
    pipelinedRows(UnsafeRawPointer(packed), rowBytes: (dimension + 1) / 2, strideBytes: stride, rows, rowCount) { i in
      out[i] = SIMDSearchCodes.sq4Dot(weights, packed + Int(rows[i]) * stride, dimension)
    }
  }
}
