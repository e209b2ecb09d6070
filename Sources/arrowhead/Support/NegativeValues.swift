/// Negative numbers given as option values.
///
/// swift-argument-parser reads a token that starts with `-` as an option name, so
/// `--threads -1` or `-k -3` fails with "Missing value for '--threads'" — a message that
/// hides the real mistake (a negative count) behind a wrong one. Before parsing, a token
/// that is a negative number (`-1`, `-0.5`, `-1e3`, `-.5`, `-1,2`, `-inf`, `-nan`) right after
/// an option name is attached to it as `--threads=-1` / `-k=-3`, which the parser reads as
/// that option's value; the option's own validation then names what is wrong ("--threads
/// must be ≥ 1"). Nothing after a `--` terminator and no option written as `name=value` is
/// touched.
enum NegativeValues {
  /// `arguments` (without the program name) with each negative number that follows an
  /// option name joined to it by `=`.
  static func attached(_ arguments: [String]) -> [String] {
    var result: [String] = []
    result.reserveCapacity(arguments.count)
    var terminated = false
    for argument in arguments {
      if !terminated, isNegativeNumber(argument), let previous = result.last, takesAttachedValue(previous) {
        result[result.count - 1] = previous + "=" + argument
        continue
      }
      if argument == "--" { terminated = true }
      result.append(argument)
    }
    return result
  }

  /// True for a token that reads as a negative number or a comma-separated list starting
  /// with one: a `-` followed by a digit, `.digit`, or `inf` / `infinity` / `nan` (any case).
  static func isNegativeNumber(_ token: String) -> Bool {
    let characters = Array(token.utf8)
    guard characters.count >= 2, characters[0] == UInt8(ascii: "-") else { return false }
    let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
    if digits.contains(characters[1]) { return true }
    if characters[1] == UInt8(ascii: "."), characters.count >= 3, digits.contains(characters[2]) { return true }
    let word = token.dropFirst().lowercased()
    return word == "inf" || word == "infinity" || word == "nan"
  }

  /// True for an option name without an attached value: `--name` or `-x` (not `--`, not a
  /// negative number, not `--name=value`).
  static func takesAttachedValue(_ token: String) -> Bool {
    token.hasPrefix("-") && token != "--" && token != "-" && !token.contains("=") && !isNegativeNumber(token)
  }
}
