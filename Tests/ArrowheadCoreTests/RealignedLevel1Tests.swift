import Arrowhead
@testable import ArrowheadSIMDx86v4
import Foundation
import Testing

/// The x86-64-v4 variant's `dot` and `squaredDistance` run `realigned_level1.c` for long
/// vectors with an operand off a 64-byte line (aligned loads permuted into place) and its
/// Swift loop otherwise. The two must give the same bits: a result may not depend on where
/// the caller's arrays happen to start. Each operand is placed at every float offset from a
/// line (0…15) and ends exactly at the end of its allocation (an over-read shows under
/// `scripts/sanitize.sh asan`). The C kernels are also called directly, so that they are
/// checked on AVX-512 CPUs where the backend does not take them (`realignsOffLineOperands`).
@Suite("AVX-512 dot and squared L2 off a cache line")
struct RealignedLevel1Tests {
  static let backend = BackendRegistry.builtIn.runnable().first { $0.name == "simd-x86-64-v4" }

  /// Short ones (the C kernels called directly), around the backend's threshold (4 096),
  /// every tail length of the 64- and 128-float steps, the unchecked/checked loop boundaries
  /// (count mod 64 ≥ 48 for the dot, count mod 128 ≥ 112 for squared L2), a long vector.
  static let counts = [
    16, 17, 79, 80, 143, 144, 1023, 1087, 4095, 4096, 4097, 4103, 4111, 4112, 4119, 4144, 4159, 4160, 4172, 4207,
    4223, 4224, 4239, 4351, 8192 + 77,
  ]

  /// `count` floats starting `shift` floats past a 64-byte line, the allocation ending with
  /// the last one.
  final class Placed {
    let raw: UnsafeMutableRawPointer
    let pointer: UnsafeMutablePointer<Float>

    init(_ values: [Float], shift: Int) {
      raw = .allocate(byteCount: (values.count + shift) * 4, alignment: 64)
      let all = raw.bindMemory(to: Float.self, capacity: values.count + shift)
      all.initialize(repeating: 0, count: shift)
      pointer = all + shift
      pointer.initialize(from: values, count: values.count)
    }

    deinit { raw.deallocate() }
  }

  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(Int64(bitPattern: state >> 11) % 20_001 - 10_000) / 9_973
    }
  }

  typealias Kernel = (Int, UnsafePointer<Float>, UnsafePointer<Float>) -> Float

  /// For each count: `kernel` through the backend with both operands on a line (the Swift
  /// loop) is within `bound` of the exact value, and the backend and the C kernel called
  /// directly give its bits at all 16 × 16 placements.
  func checkEveryPlacement(
    _ name: String, seeds: (UInt64, UInt64), backend: Kernel, direct: Kernel,
    exactAndBound: ([Float], [Float]) -> (exact: Double, bound: Double)
  ) {
    for count in Self.counts {
      let x = Self.values(count, seed: UInt64(count) + seeds.0), y = Self.values(count, seed: UInt64(count) + seeds.1)
      let onLine = (Placed(x, shift: 0), Placed(y, shift: 0))
      let expected = backend(count, onLine.0.pointer, onLine.1.pointer)
      let (exact, bound) = exactAndBound(x, y)
      #expect(abs(Double(expected) - exact) <= bound, "\(name), count \(count)")
      for xShift in 0..<16 {
        let placedX = Placed(x, shift: xShift)
        for yShift in 0..<16 {
          let placedY = Placed(y, shift: yShift)
          let got = backend(count, placedX.pointer, placedY.pointer)
          let viaC = direct(count, placedX.pointer, placedY.pointer)
          #expect(got.bitPattern == expected.bitPattern, "\(name), count \(count), shifts \(xShift)/\(yShift): \(got) vs \(expected)")
          #expect(viaC.bitPattern == expected.bitPattern, "\(name) in C, count \(count), shifts \(xShift)/\(yShift)")
        }
      }
    }
  }

  @Test("dot: the same bits at every placement of both operands", .enabled(if: backend != nil))
  func dotAtEveryPlacement() throws {
    let backend = try #require(Self.backend)
    // Within the error bound of a sum of `count` rounded products (a wrong lane or a
    // missing element would be far outside it).
    checkEveryPlacement("dot", seeds: (0, 99), backend: { backend.dot(count: $0, $1, $2) }, direct: realignedDot) { x, y in
      (zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) },
       Double(x.count) * Double(Float.ulpOfOne) * zip(x, y).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) })
    }
  }

  @Test("squared L2: the same bits at every placement of both operands", .enabled(if: backend != nil))
  func squaredDistanceAtEveryPlacement() throws {
    let backend = try #require(Self.backend)
    checkEveryPlacement(
      "squared L2", seeds: (7, 1_000), backend: { backend.squaredDistance(count: $0, $1, $2) },
      direct: realignedSquaredDistance
    ) { q, x in
      let exact = zip(q, x).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
      return (exact, Double(q.count + 1) * Double(Float.ulpOfOne) * exact)
    }
  }

  @Test("non-finite values propagate as on the aligned path", .enabled(if: backend != nil))
  func nonFiniteValues() throws {
    let backend = try #require(Self.backend)
    let count = 4_100
    for (index, value) in [(0, Float.nan), (4_099, Float.infinity), (517, -Float.infinity)] {
      var x = Self.values(count, seed: 5)
      x[index] = value
      let y = Self.values(count, seed: 6)
      let aligned = (Placed(x, shift: 0), Placed(y, shift: 0)), off = (Placed(x, shift: 3), Placed(y, shift: 13))
      let dots = (backend.dot(count: count, aligned.0.pointer, aligned.1.pointer),
                  backend.dot(count: count, off.0.pointer, off.1.pointer))
      let distances = (backend.squaredDistance(count: count, aligned.0.pointer, aligned.1.pointer),
                       backend.squaredDistance(count: count, off.0.pointer, off.1.pointer))
      #expect(dots.0.isNaN == dots.1.isNaN && (dots.0.isNaN || dots.0 == dots.1), "dot with \(value) at \(index)")
      #expect(distances.0.isNaN == distances.1.isNaN && (distances.0.isNaN || distances.0 == distances.1),
              "squared L2 with \(value) at \(index)")
      #expect(!distances.1.isFinite)
    }
  }
}
