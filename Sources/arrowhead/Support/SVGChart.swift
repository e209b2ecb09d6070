import Foundation

/// Minimal SVG line charts (no dependencies) for `bench --svg` and the peer comparison:
/// one polyline with markers per series, linear or log₂ x axis, labelled ticks, a legend.
enum SVGChart {
  static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]

  /// Renders series of (x, y) points as an SVG document.
  static func lineChart(
    title: String, xLabel: String, yLabel: String,
    series: [(name: String, points: [(x: Double, y: Double)])], logX: Bool = false, logY: Bool = false,
    width: Double = 760, height: Double = 440
  ) -> String {
    let left = 70.0, right = 200.0, top = 40.0, bottom = 55.0
    let plotWidth = width - left - right, plotHeight = height - top - bottom
    let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0) }
    func tx(_ x: Double) -> Double { logX ? log2(x) : x }
    func ty(_ y: Double) -> Double { logY ? log10(y) : y }
    var xMin = all.map { tx($0.x) }.min() ?? 0, xMax = all.map { tx($0.x) }.max() ?? 1
    let yMin = logY ? (all.map { ty($0.y) }.min() ?? 0) : 0
    var yMax = all.map { ty($0.y) }.max() ?? 1
    if xMax == xMin { xMin -= 1; xMax += 1 }
    if yMax == yMin { yMax = yMin + 1 }
    if !logY { yMax *= 1.08 }
    func px(_ x: Double) -> Double { left + (tx(x) - xMin) / (xMax - xMin) * plotWidth }
    func py(_ y: Double) -> Double { top + plotHeight - (ty(y) - yMin) / (yMax - yMin) * plotHeight }
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(left)" y="22" font-size="15" font-weight="bold">\(escape(title))</text>

      """
    // Axes and grid.
    let yTicks = niceTicks(low: yMin, high: yMax, count: 6)
    for tick in yTicks {
      let y = top + plotHeight - (tick - yMin) / (yMax - yMin) * plotHeight
      svg += "<line x1=\"\(left)\" y1=\"\(f(y))\" x2=\"\(left + plotWidth)\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>\n"
      let label = logY ? shortNumber(pow(10, tick)) : shortNumber(tick)
      svg += "<text x=\"\(left - 8)\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label)</text>\n"
    }
    let xValues = Array(Set(all.map(\.x))).sorted()
    let xTicks: [Double] = logX || xValues.count <= 10 ? xValues : niceTicks(low: xMin, high: xMax, count: 8)
    for tick in xTicks {
      let x = logX || xValues.count <= 10 ? px(tick) : left + (tick - xMin) / (xMax - xMin) * plotWidth
      svg += "<line x1=\"\(f(x))\" y1=\"\(top + plotHeight)\" x2=\"\(f(x))\" y2=\"\(top + plotHeight + 5)\" stroke=\"#333\"/>\n"
      svg += "<text x=\"\(f(x))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(shortNumber(tick))</text>\n"
    }
    svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
    svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(escape(xLabel))\(logX ? " (log scale)" : "")</text>\n"
    svg += "<text transform=\"translate(18,\(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))\(logY ? " (log scale)" : "")</text>\n"
    // Series.
    for (index, entry) in series.enumerated() {
      let color = palette[index % palette.count]
      let points = entry.points.filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0) }
        .sorted { $0.x < $1.x }
      if points.count > 1 {
        let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
        svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
      }
      for point in points {
        svg += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3.5\" fill=\"\(color)\"><title>\(escape(entry.name)): \(shortNumber(point.y))</title></circle>\n"
      }
      let legendY = top + 10 + Double(index) * 20
      svg += "<line x1=\"\(left + plotWidth + 15)\" y1=\"\(f(legendY))\" x2=\"\(left + plotWidth + 35)\" y2=\"\(f(legendY))\" stroke=\"\(color)\" stroke-width=\"3\"/>\n"
      svg += "<text x=\"\(left + plotWidth + 40)\" y=\"\(f(legendY + 4))\">\(escape(entry.name))</text>\n"
    }
    svg += "</svg>\n"
    return svg
  }

  static func f(_ value: Double) -> String { String(format: "%.1f", value) }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
  }

  static func shortNumber(_ value: Double) -> String {
    let magnitude = abs(value)
    if magnitude >= 1e6 { return String(format: "%.3gM", value / 1e6) }
    if magnitude >= 1e4 { return String(format: "%.3gk", value / 1e3) }
    if magnitude >= 100 || value == value.rounded() { return String(format: "%.0f", value) }
    return String(format: "%.3g", value)
  }

  /// About `count` round tick values covering [low, high].
  static func niceTicks(low: Double, high: Double, count: Int) -> [Double] {
    let span = high - low
    guard span > 0 else { return [low] }
    let rough = span / Double(max(count - 1, 1))
    let power = pow(10, floor(log10(rough)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= rough } ?? rough
    var ticks: [Double] = []
    var tick = (low / step).rounded(.up) * step
    while tick <= high + step * 1e-9 {
      ticks.append(tick)
      tick += step
    }
    return ticks
  }
}
