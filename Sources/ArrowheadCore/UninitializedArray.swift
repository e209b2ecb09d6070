extension Array {
  /// `Array(unsafeUninitializedCapacity:initializingWith:)` that returns `[]` without running
  /// `initializer` when `count` is 0.
  ///
  /// The standard library's initializer stores the initialized count even for an empty result,
  /// and an empty result is the storage every empty array shares: two threads making or
  /// reading empty arrays at the same time race on it (ThreadSanitizer reported it in
  /// parallel index loads). Every package-internal use goes through this.
  @inlinable
  package init(
    uninitializedCount count: Int,
    initializingWith initializer: (inout UnsafeMutableBufferPointer<Element>, inout Int) throws -> Void
  ) rethrows {
    if count == 0 {
      self = []
    } else {
      self = try Array(unsafeUninitializedCapacity: count, initializingWith: initializer)
    }
  }
}
