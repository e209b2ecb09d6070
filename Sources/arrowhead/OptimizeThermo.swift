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
      Data: SyntheticActivations (cosine-schedule noise levels, post-GELU activations with 2 % outliers), --samples
      samples over --timesteps timesteps in --groups time groups. Both optimizers start from min-max and run the
      same Adam schedule; ours takes the analytic gradient (one evaluation per step, on sorted samples), the
      oracle takes central differences (4G + 1 evaluations per step, each re-quantizing every sample, as the
      ancestor did). The oracle runs --oracle-iterations steps (default: as many as ours took); times per
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

  @Option(name: .long, help: "Adam's maximum iterations (ours).")
  var iterations = 300

  @Option(name: .customLong("oracle-iterations"), help: "Iterations of the finite-difference oracle (default: as many as ours took).")
  var oracleIterations: Int?

  @Option(name: .long, help: "Generator seed.")
  var seed: UInt64 = 1

  @Option(name: .long, help: "Threads for ours (default: ARROWHEAD_THREADS or all cores); the oracle uses one.")
  var threads: Int?

  @Flag(name: .long, help: "Print the report as JSON.")
  var json = false

  struct Run: Codable {
    var method: String
    var iterations: Int
    var seconds: Double
    var secondsPerIteration: Double
    var initialLoss: Double
    var finalLoss: Double
    var smoothness: Double
    var initialSmoothness: Double
    var converged: Bool?
  }

  struct Report: Codable {
    var groups: Int, samples: Int, timesteps: Int, bits: Int, mode: String
    var threads: Int
    var analytic: Run
    var finiteDifference: Run
    var speedUpTotal: Double
    var speedUpPerIteration: Double
  }

  func validate() throws {
    if groups < 1 || samples < groups || timesteps < groups { throw ValidationError("need samples ≥ timesteps ≥ groups ≥ 1") }
    if let oracleIterations, oracleIterations < 1 { throw ValidationError("--oracle-iterations must be ≥ 1") }
  }

  func run() throws {
    let engine = try commandEngine(threads: threads)
    let mode: QuantizationMode = floatMinimum ? .floatMinimum : .zeroPoint
    let data: [[Float]]
    let optimizer: ThermodynamicOptimizer
    do {
      data = try SyntheticActivations.timeGrouped(count: samples, timesteps: timesteps, groups: groups, seed: seed)
      optimizer = try ThermodynamicOptimizer(divergenceWeight: lambda1, smoothnessWeight: lambda2, maximumIterations: iterations)
    } catch let error as OptimizationError {
      throw CommandFailure(error.description)
    } catch {
      throw CommandFailure("\(error)")
    }
    // Ours: sorting included in the time.
    let result: ThermodynamicResult
    do {
      result = try optimizer.optimize(groups: data, bits: bits, mode: mode, layer: "synthetic", threads: engine.effectiveThreads)
    } catch {
      throw CommandFailure(error.description)
    }
    let loss: ThermodynamicLoss
    do {
      loss = try ThermodynamicLoss(
        groups: data, bits: bits, mode: mode, divergenceWeight: lambda1, smoothnessWeight: lambda2, layer: "synthetic", threads: 1)
    } catch {
      throw CommandFailure(error.description)
    }
    let steps = oracleIterations ?? result.iterations
    let oracle = FiniteDifferenceThermodynamicOracle(loss: loss, learningRate: optimizer.learningRate)
    let started = monotonicSeconds()
    let oracleResult = oracle.run(iterations: steps)
    let oracleSeconds = monotonicSeconds() - started
    let analytic = Run(
      method: "analytic (Adam, sorted samples)", iterations: result.iterations, seconds: result.seconds,
      secondsPerIteration: result.seconds / Double(result.iterations), initialLoss: result.initial.total, finalLoss: result.final.total,
      smoothness: result.smoothness.score, initialSmoothness: result.initialSmoothness.score, converged: result.converged)
    let parameters = oracleResult.point.map { $0.affine(bits: bits, mode: mode) }
    let finite = Run(
      method: "finite differences (Adam, re-quantizing)", iterations: steps, seconds: oracleSeconds,
      secondsPerIteration: oracleSeconds / Double(steps), initialLoss: result.initial.total,
      finalLoss: loss.terms(parameters.map { ContinuousParameters($0, mode: mode) }).total,
      smoothness: SmoothnessValidator.validate(parameters, bits: bits, mode: mode).score, initialSmoothness: result.initialSmoothness.score,
      converged: nil)
    let report = Report(
      groups: groups, samples: samples, timesteps: timesteps, bits: bits, mode: mode.fileName, threads: engine.effectiveThreads,
      analytic: analytic, finiteDifference: finite, speedUpTotal: finite.seconds / analytic.seconds * Double(result.iterations) / Double(steps),
      speedUpPerIteration: finite.secondsPerIteration / analytic.secondsPerIteration)
    if json {
      print(try jsonString(report))
      return
    }
    var table = TextTable(["method", "iterations", "seconds", "ms/iteration", "initial loss", "final loss", "smoothness (min-max → ours)"])
    for run in [analytic, finite] {
      table.append([
        run.method, "\(run.iterations)", String(format: "%.3f", run.seconds), String(format: "%.3f", 1000 * run.secondsPerIteration),
        String(format: "%.6g", run.initialLoss), String(format: "%.6g", run.finalLoss),
        String(format: "%.4f → %.4f", run.initialSmoothness, run.smoothness),
      ])
    }
    print(table.render(), terminator: "")
    print(String(format: "ours: %.3f s preparing (sorting %d samples in %d groups), %.3f s iterating", result.preparationSeconds, samples, groups,
      result.seconds - result.preparationSeconds))
    print("G = \(groups), \(samples) samples, T = \(timesteps), int\(bits) \(mode.fileName), λ₁ = \(lambda1), λ₂ = \(lambda2); ours on \(engine.effectiveThreads) thread(s), oracle on 1")
    print(String(format: "speed-up per iteration %.0f×; for the same number of iterations %.0f× (ours converged: %@)",
      report.speedUpPerIteration, report.speedUpTotal, result.converged ? "yes" : "no"))
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
