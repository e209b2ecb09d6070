import Arrowhead
import Foundation

/// A progress bar on standard error for long work (quantizing a model, building an index).
///
/// Redraws at most ~10 times a second; on a terminal it rewrites one line, otherwise it
/// prints a line at every 10 % so that logs stay readable. `finish()` prints the total time.
/// Thread-safe: `advance` may be called from parallel workers.
final class ProgressBar: @unchecked Sendable {
  private let total: Int
  private let label: String
  private let enabled: Bool
  private let isTerminal: Bool
  private let start = Date()
  private let lock = NSLock()
  private var done = 0
  private var lastDraw = Date.distantPast
  private var lastDecile = -1

  /// A bar for `total` units of work; `enabled: false` silences it (e.g. `--quiet`).
  init(total: Int, label: String, enabled: Bool = true) {
    self.total = max(total, 1)
    self.label = label
    self.enabled = enabled
    self.isTerminal = isatty(2) != 0
  }

  /// Records `units` more units of work done, with an optional note (e.g. a tensor name).
  func advance(by units: Int = 1, note: String = "") {
    guard enabled else { return }
    lock.lock()
    defer { lock.unlock() }
    done = min(total, done + units)
    let now = Date()
    let fraction = Double(done) / Double(total)
    if isTerminal {
      guard now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
      lastDraw = now
      let width = 30
      let filled = Int(fraction * Double(width))
      let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
      let elapsed = now.timeIntervalSince(start)
      let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
      let shortNote = note.count > 40 ? "…" + note.suffix(39) : note
      StandardError.write(
        "\r\u{1B}[2K\(label) \(bar) \(String(format: "%5.1f", fraction * 100))% \(done)/\(total) "
          + "\(String(format: "%.1f", elapsed))s eta \(String(format: "%.1f", eta))s \(shortNote)")
    } else {
      let decile = Int(fraction * 10)
      guard decile > lastDecile else { return }
      lastDecile = decile
      StandardError.write("\(label): \(decile * 10)% (\(done)/\(total)) \(note)\n")
    }
  }

  /// Ends the bar and prints the elapsed time.
  func finish(_ message: String = "done") {
    guard enabled else { return }
    let elapsed = Date().timeIntervalSince(start)
    if isTerminal { StandardError.write("\r\u{1B}[2K") }
    StandardError.write("\(label): \(message) in \(String(format: "%.2f", elapsed)) s\n")
  }
}
