import ArrowheadCore
import CArrowhead

/// Forwards progress to a C callback: one call at a time (under a lock), `done` increasing,
/// about every 0.5 % of the total, and once at the end with done == total.
final class ProgressReporter: @unchecked Sendable {
  private struct State {
    var done = 0
    var reported = 0
  }

  private let total: Int
  private let step: Int
  private let callback: ah_progress_fn
  private let context: UnsafeMutableRawPointer?
  private let state = LockedValue(State())

  init(total: Int, _ callback: ah_progress_fn, _ context: UnsafeMutableRawPointer?) {
    self.total = total
    self.step = max(1, total / 200)
    self.callback = callback
    self.context = context
  }

  func advance(by count: Int) {
    state.withLock { state in
      state.done = min(total, state.done + count)
      guard state.done - state.reported >= step, state.done < total else { return }
      state.reported = state.done
      callback(Int64(state.done), Int64(total), context)
    }
  }

  /// The final report (done == total), after a successful add.
  func finish() {
    state.withLock { state in
      state.done = total
      state.reported = total
      callback(Int64(total), Int64(total), context)
    }
  }
}
