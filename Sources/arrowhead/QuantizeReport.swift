import Arrowhead
import ArrowheadQuant
import Foundation

/// Renders quantize and inspect reports as a table, CSV or JSON.
enum QuantizeReportFormatter {
  static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: "×") + "]" }

  static func number(_ value: Double?, _ decimals: Int) -> String {
    guard let value else { return "" }
    return String(format: "%.\(decimals)f", value)
  }

  static func significant(_ value: Double?) -> String {
    guard let value else { return "" }
    return String(format: "%.5g", value)
  }

  /// The `quantize` report.
  static func render(_ report: ModelQuantizationReport, engine: Engine, format: OutputFormat) throws -> String {
    if format == .json { return try jsonString(report) + "\n" }
    var table = TextTable([
      "tensor", "shape", "dtype", "action", "scheme", "bits/w", "rel.error", "out.error", "cosine", "SQNR dB", "optimizer", "opt ms", "ms", "note",
    ])
    for tensor in report.tensors {
      let metrics = tensor.metrics
      table.append([
        tensor.name, shapeText(tensor.shape), tensor.dtype,
        tensor.action == .passedThrough ? "passed" : tensor.action.rawValue,
        tensor.scheme ?? "", number(metrics?.bitsPerWeight, 2), significant(metrics?.relativeError), significant(tensor.outputRelativeError),
        number(metrics?.cosineSimilarity, 5), number(metrics?.signalToNoiseDecibels, 1), tensor.optimizer ?? "",
        tensor.action == .quantized ? number(1000 * tensor.optimizerSeconds, 2) : "", number(1000 * tensor.seconds, 2),
        tensor.reason ?? "",
      ])
    }
    if format == .csv { return table.renderCSV() }
    var text = table.render()
    let summary = report.summary
    if !report.activations.isEmpty {
      var activations = TextTable([
        "layer", "groups", "timesteps", "smoothness", "smoothed", "violations", "optimizer", "loss", "min-max smoothness", "iterations",
        "objective", "fallback", "held-out/min-max", "held out", "ms",
      ])
      for layer in report.activations {
        let violations = layer.violations.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var loss = ""
        if let initial = layer.initialLoss, let final = layer.finalLoss { loss = String(format: "%.4g → %.4g", initial, final) }
        var iterations = layer.iterations.map(String.init) ?? ""
        if let converged = layer.converged { iterations += converged ? " (converged)" : " (limit)" }
        activations.append([
          layer.layer, String(layer.groups), String(layer.timesteps), number(layer.smoothness, 4),
          number(layer.timestepSmoothness, 4), violations.isEmpty ? "none" : violations, layer.optimizer ?? "minmax", loss,
          number(layer.minMaxSmoothness, 4), iterations, layer.objective ?? "",
          layer.fallbackGroups.map { "\($0.count)/\(layer.groups)" } ?? "", number(layer.heldOutRatio, 4), layer.heldOutSplit ?? "",
          number(layer.seconds.map { 1000 * $0 }, 1),
        ])
      }
      text += "\ntime-aware activation parameters:\n" + activations.render()
    }
    text += "\n"
    let settings = report.optimizerSettings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    text += "scheme \(report.scheme), optimizer \(report.optimizer)\(settings.isEmpty ? "" : " (\(settings))"), \(report.threads) thread(s), quantize kernel \(engine.selection(for: .quantize, .large).backend)\n"
    text += "tensors: \(summary.quantizedCount) quantized (\(summary.quantizedWeights) weights), \(summary.keptCount) kept in float, \(summary.passedThroughCount) passed through\n"
    text += "size-weighted relative error: \(String(format: "%.5f", summary.sizeWeightedRelativeError))\n"
    text += "all quantized weights: relative error \(String(format: "%.5f", summary.relativeError)), cosine \(number(summary.cosineSimilarity, 5)), "
      + "SQNR \(number(summary.signalToNoiseDecibels, 2)) dB, MSE \(String(format: "%.3e", summary.meanSquaredError))\n"
    text += "quantized tensors: \(number(summary.quantizedBitsPerWeight, 3)) bits/weight (parameters included)"
    if let budget = summary.budget { text += ", budget \(budget)" }
    text += "\n"
    text += "size: \(formattedBytes(summary.inputBytes)) → \(formattedBytes(summary.outputBytes)) (\(number(summary.compressionRatio, 2))×), \(number(summary.seconds, 3)) s\n"
    return text
  }

  /// The `inspect` report.
  static func render(_ report: InspectionReport, format: OutputFormat) throws -> String {
    if format == .json { return try jsonString(report) + "\n" }
    let compared = report.original != nil
    var headers = ["tensor", "kind", "storage", "shape", "bytes", "bits/w"]
    if compared { headers += ["rel.error", "cosine", "SQNR dB"] }
    var table = TextTable(headers)
    for tensor in report.tensors {
      var row = [
        tensor.name, tensor.kind, tensor.storage, shapeText(tensor.shape), String(tensor.storedBytes), number(tensor.bitsPerWeight, 2),
      ]
      if compared {
        row += [significant(tensor.metrics?.relativeError), number(tensor.metrics?.cosineSimilarity, 5), number(tensor.metrics?.signalToNoiseDecibels, 1)]
      }
      table.append(row)
    }
    if format == .csv { return table.renderCSV() }
    var text = table.render() + "\n"
    text += "\(report.file): \(report.format), \(report.tensors.count) entries, \(formattedBytes(report.fileBytes))\n"
    if let error = report.sizeWeightedRelativeError, let original = report.original {
      text += "size-weighted relative error against \(original): \(String(format: "%.5f", error)) over \(report.quantizedWeights) quantized weights\n"
    }
    return text
  }
}
