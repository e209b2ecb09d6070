import ArgumentParser
import Arrowhead
import ArrowheadIO

/// `arrowhead`: probe the hardware, benchmark backends, quantize models, build and search
/// vector indexes. One subcommand per task; shared options live in `Support/`.
@main
struct ArrowheadCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "arrowhead",
    abstract: "SIMD/BLAS-accelerated numerics: hardware probe, backend benchmarks, quantization, vector search.",
    discussion: """
      Environment: ARROWHEAD_BACKEND=<name> forces one backend for every operation; \
      ARROWHEAD_THREADS=<n> caps the threads (default: all logical cores); \
      ARROWHEAD_DISPATCH=measured|remeasure|static chooses how dispatch decides (default: measured, \
      cached in ARROWHEAD_CACHE_DIR, else $XDG_CACHE_HOME/arrowhead or ~/.cache/arrowhead).
      """,
    version: arrowheadVersion,
    subcommands: [
      Probe.self, Bench.self, Quantize.self, Dequantize.self, Inspect.self, Optimize.self, Index.self,
      Tokenize.self, Embed.self,
    ]
  )

  /// Parses and runs the command line, with negative option values attached to their option
  /// first (`NegativeValues`), so that `--threads -1` is refused by the option's own check.
  /// Ctrl-C, SIGTERM or SIGHUP during a write removes its temporary file before the process
  /// ends (`AtomicFile.removeTemporaryFilesOnTermination`): the output keeps its previous
  /// content and nothing is left beside it.
  static func main() {
    AtomicFile.removeTemporaryFilesOnTermination()
    main(NegativeValues.attached(Array(CommandLine.arguments.dropFirst())))
  }
}

/// The version printed by `arrowhead --version`.
let arrowheadVersion = ArrowheadVersion.string
