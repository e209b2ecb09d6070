/// The index of the first NaN or ±∞ in `values`, or nil. One vector pass (x·0 is 0 for
/// every finite x and NaN otherwise), then a scalar search only when that pass finds one:
/// the check the search module runs on every vector it is given and the encoder on every
/// weight it loads.
package func firstNonFiniteIndex(_ values: UnsafeBufferPointer<Float>) -> Int? {
  guard let base = values.baseAddress else { return nil }
  let count = values.count
  var probe = SIMD16<Float>()
  var i = 0
  while i + 16 <= count {
    probe += UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self) * 0
    i += 16
  }
  var tail: Float = 0
  while i < count {
    tail += base[i] * 0
    i += 1
  }
  if probe.sum() + tail == 0 { return nil }
  return (0..<count).first { !base[$0].isFinite }
}
