import ArgumentParser

// Placeholder: `arrowhead quantize`, `dequantize` and `inspect` are built in issue 3.
struct Quantize: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Quantize a safetensors model (issue 3; not built yet).")
  func run() throws { throw ValidationError("quantize is not built yet") }
}

struct Dequantize: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Dequantize a quantized model (issue 3; not built yet).")
  func run() throws { throw ValidationError("dequantize is not built yet") }
}

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Inspect a safetensors file (issue 3; not built yet).")
  func run() throws { throw ValidationError("inspect is not built yet") }
}
