import ArgumentParser
import Arrowhead
import Foundation

/// How a command prints its report.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
  case table, json, csv
}

/// Shared `--json` / `--csv` flags.
struct OutputOptions: ParsableArguments {
  @Flag(name: .long, help: "Print the report as JSON.")
  var json = false

  @Flag(name: .long, help: "Print the report as CSV.")
  var csv = false

  var format: OutputFormat { json ? .json : (csv ? .csv : .table) }

  func validate() throws {
    if json && csv { throw ValidationError("--json and --csv are exclusive") }
  }
}

/// A plain-text table with aligned columns (numbers right-aligned).
struct TextTable {
  var headers: [String]
  var rows: [[String]] = []

  init(_ headers: [String]) { self.headers = headers }

  mutating func append(_ row: [String]) { rows.append(row) }

  func render() -> String {
    var widths = headers.map(\.count)
    for row in rows {
      for (index, cell) in row.enumerated() where index < widths.count {
        widths[index] = max(widths[index], cell.count)
      }
    }
    /// Numbers (optionally with a trailing × or %) are right-aligned.
    func isNumeric(_ text: String) -> Bool {
      var body = Substring(text)
      if body.hasSuffix("×") || body.hasSuffix("%") { body = body.dropLast() }
      return !body.isEmpty && Double(body) != nil
    }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { index, cell in
        let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
        return isNumeric(cell) ? padding + cell : cell + padding
      }.joined(separator: "  ")
    }
    var output = line(headers) + "\n"
    output += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
    for row in rows { output += line(row + Array(repeating: "", count: max(0, headers.count - row.count))) + "\n" }
    return output
  }

  func renderCSV() -> String {
    func escape(_ cell: String) -> String {
      cell.contains(",") || cell.contains("\"") ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
    }
    return ([headers] + rows).map { $0.map(escape).joined(separator: ",") }.joined(separator: "\n") + "\n"
  }
}

/// Encodes a report as pretty-printed JSON with sorted keys.
func jsonString<T: Encodable>(_ value: T) throws -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Formats a number with a fixed count of decimals.
func formatted(_ value: Double, decimals: Int = 1) -> String {
  String(format: "%.\(decimals)f", value)
}

/// Formats a byte count as KiB / MiB / GiB.
func formattedBytes(_ bytes: Int) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(bytes)
  var unit = 0
  while value >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// Turns an `ArrowheadError` (or any error) into a clean CLI failure message.
struct CommandFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The engine for a command: the environment's, failing loudly on a bad
/// `ARROWHEAD_BACKEND` / `ARROWHEAD_THREADS` instead of silently ignoring it.
func commandEngine(threads: Int? = nil, dispatch: DispatchMode? = nil) throws -> Engine {
  do {
    // A thread count given on the command line is the engine's own (dispatch is measured
    // for the thread count kernels will really get), as if ARROWHEAD_THREADS said it.
    var environment = ProcessEnvironment.current
    if let threads { environment[ThreadPolicy.environmentVariable] = String(threads) }
    if let dispatch { environment[DispatchMode.environmentVariable] = dispatch.rawValue }
    return try Engine.fromEnvironment(registry: .builtIn, environment: environment)
  } catch {
    throw CommandFailure("\(error)")
  }
}
