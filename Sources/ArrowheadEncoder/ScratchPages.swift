// Scratch of the forward passes mapped straight from the kernel, so that it never sits in
// the allocator's free lists once it is given back.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `count` floats of anonymous pages (zero-filled by the kernel), unmapped when the value
/// ends.
///
/// Why not `UnsafeMutablePointer.allocate`: glibc serves a request of ≥ 128 KiB with its
/// own mapping, but raises that threshold to the size of every such block freed, so from
/// the second batch on the ~3 MiB scratch of a pass came from the heap, and the heap kept
/// it (and its neighbours' holes) resident after it was freed: measured on the 10 000-text
/// corpus, INT8 at 2 threads, ~12 MB of free but resident heap at the end of the run, the
/// peak creeping by ~2 MiB over the run. A mapping is given back whole by `munmap`.
struct ScratchPages: ~Copyable {
  /// The first float.
  let base: UnsafeMutablePointer<Float>
  /// Floats available.
  let count: Int
  /// Bytes mapped (0: `base` came from the allocator because mapping failed).
  private let mappedBytes: Int

  /// Maps room for `count` floats (at least one); falls back to the allocator when the
  /// kernel refuses the mapping.
  init(count: Int) {
    let count = Swift.max(count, 1)
    let bytes = count * MemoryLayout<Float>.stride
    let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if let address, address != MAP_FAILED {
      base = address.bindMemory(to: Float.self, capacity: count)
      mappedBytes = bytes
    } else {
      base = UnsafeMutablePointer<Float>.allocate(capacity: count)
      mappedBytes = 0
    }
    self.count = count
  }

  /// Whether the floats are a mapping of their own (not the allocator's memory).
  var isMapped: Bool { mappedBytes > 0 }

  deinit {
    if mappedBytes > 0 {
      _ = munmap(UnsafeMutableRawPointer(base), mappedBytes)
    } else {
      base.deallocate()
    }
  }
}
