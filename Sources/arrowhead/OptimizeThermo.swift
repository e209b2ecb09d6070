import ArgumentParser
import Arrowhead
import ArrowheadOptimize
import ArrowheadQuant
import Foundation

/// `arrowhead optimize thermo`: the thermodynamic optimizer (analytic gradients) against a
/// finite-difference optimizer of the same loss, side by side on generated time-grouped
/// activations.
struct OptimizeThermo: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "thermo",
    abstract: "Time-aware activation parameters: analytic-gradient Adam vs a finite-difference oracle on the same loss.",
    discussion: """
      Data: SyntheticActivations (cosine-schedule noise levels, post-GELU activations with 2 % outliers), --samples \
      samples over --timesteps timesteps in --groups time groups. Both optimizers start from min-max and run the \
      same Adam schedule; ours takes the analytic gradient (one evaluation per step, on sorted samples), the \
      oracle takes central differences (4G + 1 evaluations per step, each re-quantizing every sample, as the \
      ancestor did). The oracle runs --oracle-iterations steps (default: as many as ours took); times per \
      iteration and in total, final losses and smoothness are reported.
      """
  )

  @Option(name: .long, help: "Time groups G.")
  var groups = 10

  @Option(name: .long, help: "Calibration samples in all.")
  var samples = 1_000_000

  @Option(name: .long, help: "Timesteps T.")
  var timesteps = 100

  @Option(name: .long, help: "Activation bits.")
  var bits = 8

  @Flag(name: .customLong("float-minimum"), help: "Float-minimum mode instead of an integer zero-point.")
  var floatMinimum = false

  @Option(name: .long, help: "λ₁ (divergence weight).")
  var lambda1 = 0.1

  @Option(name: .long, help: "λ₂ (smoothness weight).")
  var lambda2 = 0.01

  @Option(name: .long, help: "Adam's maximum iterations (ours); in zero-point mode (the default) a second phase (integral zero-points) runs up to a quarter as many more, and the report counts both.")
  var iterations = 300

  @Option(name: .customLong("oracle-iterations"), help: "Iterations of the finite-difference oracle per round (its time per iteration is what counts).")
  var oracleIterations = 5

  @Option(name: .long, help: "Rounds; each runs ours once and the oracle once, alternating.")
  var `repeat` = 3

  @Option(name: .long, help: "Generator seed.")
  var seed: UInt64 = 1

  @Option(name: .long, help: "Threads for ours (default 1, like the oracle; more for the parallel figure).")
  var threads = 1

  @Flag(name: .long, help: "Print the report as JSON.")
  var json = false

  struct Report: Codable {
    var groups: Int, samples: Int, timesteps: Int, bits: Int, mode: String
    var threads: Int
    var clock: String
    /// Ours, whole run (sorting included), seconds: best, median.
    var analyticSeconds: TimingSummary
    var analyticPreparationSeconds: Double
    var analyticIterations: Int
    var converged: Bool
    /// The oracle's seconds per iteration.
    var finiteDifferenceSecondsPerIteration: TimingSummary
    var finiteDifferenceIterationsPerRound: Int
    /// Oracle time for as many iterations as ours took, over ours: from the bests and the medians.
    var speedUpBest: Double, speedUpMedian: Double
    var initialLoss: Double, finalLoss: Double
    var initialSmoothness: Double, finalSmoothness: Double
    /// The oracle's loss after `finiteDifferenceIterationsPerRound` iterations (ours after as many: `analyticLossAtSameIterations`).
    var finiteDifferenceLoss: Double, analyticLossAtSameIterations: Double
  }

  func validate() throws {
    if groups < 1 || samples < groups || timesteps < groups { throw ValidationError("need samples ≥ timesteps ≥ groups ≥ 1") }
    if oracleIterations < 1 { throw ValidationError("--oracle-iterations must be ≥ 1") }
    try require(`repeat`, in: Limits.repeats, "--repeat")
    try require(samples, in: Limits.samples, "--samples")
    try require(timesteps, in: 1...TimeGrouping.maximumTimesteps, "--timesteps")
    try require(iterations, in: Limits.iterations, "--iterations")
    try require(oracleIterations, in: Limits.iterations, "--oracle-iterations")
    if threads < 1 { throw ValidationError("--threads must be ≥ 1") }
  }

  func run() throws {
    let mode: QuantizationMode = floatMinimum ? .floatMinimum : .zeroPoint
    let data: [[Float]]
    let optimizer: ThermodynamicOptimizer
    let loss: ThermodynamicLoss
    do {
      data = try SyntheticActivations.timeGrouped(count: samples, timesteps: timesteps, groups: groups, seed: seed)
      optimizer = try ThermodynamicOptimizer(
        divergenceWeight: lambda1, smoothnessWeight: lambda2, maximumIterations: iterations, start: .minMax)
      loss = try ThermodynamicLoss(groups: data, bits: bits, mode: mode, divergenceWeight: lambda1, smoothnessWeight: lambda2, layer: "synthetic", threads: 1)
    } catch let error as OptimizationError {
      throw CommandFailure(error.description)
    } catch {
      throw CommandFailure("\(error)")
    }
    // Single-threaded runs are timed on the calling thread's CPU clock (immune to other
    // tenants time-slicing this shared machine); multi-threaded ones on the wall clock.
    let clock: BenchClock = threads == 1 ? .thread : .wall
    let oracle = FiniteDifferenceThermodynamicOracle(loss: loss, learningRate: optimizer.learningRate)
    var ours: [Double] = [], perIteration: [Double] = []
    var result: ThermodynamicResult?
    var oracleLoss = 0.0
    for _ in 0..<`repeat` {
      var started = clock.now()
      do {
        result = try optimizer.optimize(groups: data, bits: bits, mode: mode, layer: "synthetic", threads: threads)
      } catch {
        throw CommandFailure(error.description)
      }
      ours.append(clock.now() - started)
      started = clock.now()
      oracleLoss = oracle.run(iterations: oracleIterations).loss
      perIteration.append((clock.now() - started) / Double(oracleIterations))
    }
    guard let result else { return }
    let oursSummary = TimingSummary(samples: ours), oracleSummary = TimingSummary(samples: perIteration)
    let steps = Double(result.iterations)
    let ourLossAtSame = result.lossHistory.prefix(oracleIterations + 1).min() ?? result.initial.total
    let report = Report(
      groups: groups, samples: samples, timesteps: timesteps, bits: bits, mode: mode.fileName, threads: threads, clock: clock.rawValue,
      analyticSeconds: oursSummary, analyticPreparationSeconds: result.preparationSeconds, analyticIterations: result.iterations,
      converged: result.converged, finiteDifferenceSecondsPerIteration: oracleSummary, finiteDifferenceIterationsPerRound: oracleIterations,
      speedUpBest: oracleSummary.best * steps / oursSummary.best, speedUpMedian: oracleSummary.median * steps / oursSummary.median,
      initialLoss: result.initial.total, finalLoss: result.final.total, initialSmoothness: result.initialSmoothness.score,
      finalSmoothness: result.smoothness.score, finiteDifferenceLoss: oracleLoss, analyticLossAtSameIterations: ourLossAtSame)
    if json {
      print(try jsonString(report))
      return
    }
    var table = TextTable(["method", "iterations", "best s", "median s", "best ms/iteration", "loss"])
    table.append([
      "analytic gradient (Adam, sorted samples)", "\(result.iterations)", String(format: "%.4f", oursSummary.best), String(format: "%.4f", oursSummary.median),
      String(format: "%.4f", 1000 * oursSummary.best / steps), String(format: "%.6g → %.6g", result.initial.total, result.final.total),
    ])
    table.append([
      "finite differences (Adam, re-quantizing)", "\(oracleIterations) per round", String(format: "%.4f", oracleSummary.best * Double(oracleIterations)),
      String(format: "%.4f", oracleSummary.median * Double(oracleIterations)), String(format: "%.3f", 1000 * oracleSummary.best),
      String(format: "%.6g (ours after %d: %.6g)", oracleLoss, oracleIterations, ourLossAtSame),
    ])
    print(table.render(), terminator: "")
    print("G = \(groups), \(samples) samples, T = \(timesteps), int\(bits) \(mode.fileName), λ₁ = \(lambda1), λ₂ = \(lambda2); \(threads) thread(s) for ours, 1 for the oracle; "
      + "\(clock == .thread ? "thread CPU" : "wall") time, \(`repeat`) alternating rounds")
    print(String(format: "ours: %.4f s preparing (sorting), then %d iterations, converged: %@; smoothness %.4f (min-max) → %.4f",
      result.preparationSeconds, result.iterations, result.converged ? "yes" : "no", result.initialSmoothness.score, result.smoothness.score))
    print(String(format: "speed-up for the same %d iterations (oracle time per iteration × %d / ours): best %.0f×, median %.0f×",
      result.iterations, result.iterations, report.speedUpBest, report.speedUpMedian))
  }
}

/// The finite-difference optimizer of the thermodynamic loss, kept as a benchmark oracle
/// only: the same Adam schedule as `ThermodynamicOptimizer`, but each step estimates the
/// gradient by central differences (h = 10⁻⁴ on log s, 10⁻³ codes on z), i.e. 4G + 1
/// evaluations, each re-quantizing every sample (`ThermodynamicLoss.requantizedTerms`) —
/// the ancestor's O(iterations·G²·N) scheme.
struct FiniteDifferenceThermodynamicOracle {
  let loss: ThermodynamicLoss
  let learningRate: Double

  func run(iterations: Int) -> (point: [ContinuousParameters], loss: Double) {
    var point = loss.minMaxParameters()
    let count = point.count, top = Double(loss.top), mode = loss.mode
    var first = [Double](repeating: 0, count: 2 * count), second = first
    var best = (point: point, loss: loss.requantizedTerms(point).total)
    for step in 1...iterations {
      let current = loss.requantizedTerms(point).total
      if current < best.loss { best = (point, current) }
      var gradient = [Double](repeating: 0, count: 2 * count)
      for group in 0..<count {
        let h = 1e-4
        var plus = point, minus = point
        plus[group].scale *= exp(h)
        minus[group].scale *= exp(-h)
        gradient[group] = (loss.requantizedTerms(plus).total - loss.requantizedTerms(minus).total) / (2 * h)
        let hz = 1e-3
        plus = point
        minus = point
        plus[group].zeroPoint += hz
        minus[group].zeroPoint -= hz
        gradient[count + group] = (loss.requantizedTerms(plus).total - loss.requantizedTerms(minus).total) / (2 * hz)
      }
      let rate = learningRate / (1 + Double(step) / 50).squareRoot()
      for slot in 0..<(2 * count) {
        first[slot] = 0.9 * first[slot] + 0.1 * gradient[slot]
        second[slot] = 0.999 * second[slot] + 0.001 * gradient[slot] * gradient[slot]
        let direction = (first[slot] / (1 - pow(0.9, Double(step)))) / ((second[slot] / (1 - pow(0.999, Double(step)))).squareRoot() + 1e-30)
        let group = slot % count
        if slot < count {
          point[group].scale *= exp(-rate * direction)
        } else if mode != .symmetric {
          var zero = point[group].zeroPoint - rate * top / 2 * direction
          if mode == .zeroPoint { zero = min(max(zero, 0), top) }
          point[group].zeroPoint = zero
        }
      }
    }
    return best
  }
}
