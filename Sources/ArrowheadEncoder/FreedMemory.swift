// Gives the allocator's free pages back to the kernel after the encoder drops large
// allocations in the middle of the heap.
#if canImport(Glibc)
import Glibc
#endif

/// The C allocator's free memory, returned to the kernel at the points where the encoder
/// has just freed a lot of it.
///
/// glibc's `free` returns memory to the kernel only from the top of the heap (and whole
/// blocks it mapped on its own): what is freed below a live allocation stays resident
/// until reused. Two such moments in `SentenceEncoder`: the end of loading (the Float32
/// copies the quantizer worked from, allocated before the quantized layers that follow
/// them) and the end of tokenizing in the streaming `encode` (the texts, read before the
/// model was loaded, so below its weights). Measured on the 10 000-text corpus at 1
/// thread, INT8: without this the heap kept ~3 MiB of freed texts and load transients
/// resident through the run. `malloc_trim(0)` releases the free pages of every arena
/// (`madvise(MADV_DONTNEED)` on whole free pages), milliseconds for a heap of this size.
enum FreedMemory {
  /// Asks the allocator to give its free pages back; returns whether it released any
  /// (false where the C library has no `malloc_trim`).
  @discardableResult
  static func giveBack() -> Bool {
    #if canImport(Glibc)
    typealias Trim = @convention(c) (Int) -> Int32
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return false }
    defer { dlclose(handle) }
    return unsafeBitCast(symbol, to: Trim.self)(0) == 1
    #else
    return false
    #endif
  }
}
