// Quantization: the backend kernels (groupMinMax, quantize, dequantize, pack, unpack) on
// every runnable backend that accelerates them, at INT8 / INT4 / INT2 with groups of 64,
// and the ArrowheadQuant entry points built on them (whole-matrix `Quantizer.quantize`,
// the dequantize-on-the-fly matrix–vector product `QuantizedTensor.multiply`, and
// `QuantizedTensor.dequantized`) through the default engine's dispatch ("auto").
//
// Kernel sizes: n = 4096 values (16 KiB of Float32, L1/L2), 262 144 (1 MiB, L2/L3) and
// 4 194 304 (16 MiB, L3/DRAM). One operation = one kernel call over n values: groupMinMax
// and quantize read 4n bytes, dequantize writes 4n bytes, pack/unpack turn n code bytes into
// n·bits/8 bytes or back.
import Arrowhead
import ArrowheadQuant
import Benchmark
import BenchmarkSupport

/// One group of 64 weights per scale/offset pair, as in ggml's Q4_1 and most LLM formats.
let groupSize = 64

/// Min-max parameters of `x` per group (s = (max − min)/maxCode, m = min), made once in setup.
func minMaxParameters(_ x: [Float], maxCode: Int) -> (scales: [Float], minimums: [Float]) {
  let groups = (x.count + groupSize - 1) / groupSize
  var scales = [Float](repeating: 0, count: groups), minimums = [Float](repeating: 0, count: groups)
  for g in 0..<groups {
    let slice = x[g * groupSize..<min(x.count, (g + 1) * groupSize)]
    let low = slice.min() ?? 0, high = slice.max() ?? 0
    scales[g] = (high - low) / Float(maxCode)
    minimums[g] = low
  }
  return (scales, minimums)
}

/// Inputs of the quantize kernel: values, their min-max parameters, the code buffer.
func quantizeInput(count: Int, maxCode: Int) -> (x: [Float], scales: [Float], minimums: [Float], codes: OutputBuffer<UInt8>) {
  let x = Inputs.floats(count, seed: 12)
  let (scales, minimums) = minMaxParameters(x, maxCode: maxCode)
  return (x, scales, minimums, OutputBuffer<UInt8>(count: count))
}

/// Inputs of the dequantize kernel: codes, parameters, the value buffer.
func dequantizeInput(count: Int, maxCode: Int) -> (codes: [UInt8], scales: [Float], minimums: [Float], values: OutputBuffer<Float>) {
  let (scales, minimums) = minMaxParameters(Inputs.floats(count, seed: 12), maxCode: maxCode)
  return (Inputs.codes(count, maxCode: maxCode, seed: 13), scales, minimums, OutputBuffer<Float>(count: count))
}

/// `count` random codes of `bits` bits, packed.
func packedCodes(count: Int, bits: Int, backend: any Backend) -> [UInt8] {
  let codes = Inputs.codes(count, maxCode: (1 << bits) - 1, seed: 14)
  var packed = [UInt8](repeating: 0, count: (count * bits + 7) / 8)
  backend.pack(count: count, bits: bits, codes, &packed)
  return packed
}

let benchmarks: @Sendable () -> Void = {
  let counts = [4096, 1 << 18, 1 << 22]

  // MARK: Backend kernels

  for count in counts {
    // 1000 calls per sample (and 1 s) for the smallest size, 0.3 s for the others.
    let configuration = count <= 4096
      ? benchmarkConfiguration(calls: .kilo) : benchmarkConfiguration(maxDuration: .milliseconds(300))
    let groups = (count + groupSize - 1) / groupSize

    for backend in benchmarkBackends(for: .groupMinMax) {
      Benchmark("groupMinMax G=\(groupSize) n=\(count) \(backend.name)", configuration: configuration) { benchmark, input in
        let (x, minimums, maximums) = input
        for _ in benchmark.scaledIterations {
          blackHole(backend.groupMinMax(count: count, groupSize: groupSize, x, minimums: minimums.pointer,
                                        maximums: maximums.pointer))
        }
      } setup: {
        (Inputs.floats(count, seed: 11), OutputBuffer<Float>(count: groups), OutputBuffer<Float>(count: groups))
      }
    }

    for bits in [8, 4, 2] {
      let maxCode = (1 << bits) - 1
      let packedCount = (count * bits + 7) / 8

      for backend in benchmarkBackends(for: .quantize) {
        Benchmark("quantize int\(bits) G=\(groupSize) n=\(count) \(backend.name)", configuration: configuration) { benchmark, input in
          let (x, scales, minimums, codes) = input
          for _ in benchmark.scaledIterations {
            backend.quantize(count: count, groupSize: groupSize, x, scales: scales, offsets: minimums,
                             form: .floatMinimum, maxCode: maxCode, codes.pointer)
          }
          blackHole(codes.pointer[0])
        } setup: {
          quantizeInput(count: count, maxCode: maxCode)
        }
      }

      for backend in benchmarkBackends(for: .dequantize) {
        Benchmark("dequantize int\(bits) G=\(groupSize) n=\(count) \(backend.name)", configuration: configuration) { benchmark, input in
          let (codes, scales, minimums, values) = input
          for _ in benchmark.scaledIterations {
            backend.dequantize(count: count, groupSize: groupSize, codes, scales: scales, offsets: minimums,
                               form: .floatMinimum, values.pointer)
          }
          blackHole(values.pointer[0])
        } setup: {
          dequantizeInput(count: count, maxCode: maxCode)
        }
      }

      for backend in benchmarkBackends(for: .pack) {
        Benchmark("pack int\(bits) n=\(count) \(backend.name)", configuration: configuration) { benchmark, input in
          let (codes, packed) = input
          for _ in benchmark.scaledIterations { backend.pack(count: count, bits: bits, codes, packed.pointer) }
          blackHole(packed.pointer[0])
        } setup: {
          (Inputs.codes(count, maxCode: maxCode, seed: 14), OutputBuffer<UInt8>(count: packedCount))
        }
      }

      for backend in benchmarkBackends(for: .unpack) {
        Benchmark("unpack int\(bits) n=\(count) \(backend.name)", configuration: configuration) { benchmark, input in
          let (packed, codes) = input
          for _ in benchmark.scaledIterations { backend.unpack(count: count, bits: bits, packed, codes.pointer) }
          blackHole(codes.pointer[0])
        } setup: {
          (packedCodes(count: count, bits: bits, backend: backend), OutputBuffer<UInt8>(count: count))
        }
      }
    }
  }

  // MARK: Quantizer and quantized tensors (default engine: dispatch picks each kernel)

  let threads = Engine.default.threads
  // (bits, rows, columns): INT4 at three sizes, INT8 and INT2 at the medium one.
  let quantizerShapes = [(4, 256, 256), (4, 1024, 1024), (4, 4096, 4096), (8, 1024, 1024), (2, 1024, 1024)]
  for (bits, rows, columns) in quantizerShapes {
    guard let scheme = try? QuantizationScheme(bits: bits, granularity: .perGroup(groupSize), mode: .floatMinimum) else {
      continue
    }
    // Min-max parameters, quantize, pack: reads 4·rows·columns bytes per call.
    Benchmark("quantizer int\(bits) G=\(groupSize) \(rows)x\(columns) auto \(threads)t",
              configuration: benchmarkConfiguration(maxDuration: .seconds(1), maxIterations: 1000)) { benchmark, weights throws in
      let quantizer = Quantizer(scheme: scheme)
      for _ in benchmark.scaledIterations {
        blackHole(try quantizer.quantize(weights, shape: [rows, columns]))
      }
    } setup: {
      Inputs.floats(rows * columns, seed: 21)
    }
  }

  // y = Ŵx, unpacking and dequantizing one row at a time: reads the stored bytes once.
  let productShapes = [(4, 256, 256), (4, 1024, 1024), (4, 4096, 4096), (8, 4096, 4096), (2, 4096, 4096)]
  for (bits, rows, columns) in productShapes {
    guard let scheme = try? QuantizationScheme(bits: bits, granularity: .perGroup(groupSize), mode: .floatMinimum),
      let stored = (try? scheme.layout(shape: [rows, columns]))?.storedByteCount
    else {
      continue
    }
    Benchmark("quantized gemv int\(bits) G=\(groupSize) \(rows)x\(columns) (\(stored) B) auto \(threads)t",
              configuration: benchmarkConfiguration()) { benchmark, input throws in
      let (tensor, x) = input
      for _ in benchmark.scaledIterations { blackHole(try tensor.multiply(x)) }
    } setup: {
      (try Quantizer(scheme: scheme).quantize(Inputs.floats(rows * columns, seed: 22), shape: [rows, columns]),
       Inputs.floats(columns, seed: 23))
    }
  }

  // Ŵ as Float32 (unpack + dequantize, parallel over rows): writes 4·rows·columns bytes.
  let rows = 4096, columns = 4096
  if let scheme = try? QuantizationScheme(bits: 4, granularity: .perGroup(groupSize), mode: .floatMinimum) {
    Benchmark("dequantized() int4 G=\(groupSize) \(rows)x\(columns) auto \(threads)t",
              configuration: benchmarkConfiguration(maxIterations: 200)) { benchmark, tensor in
      for _ in benchmark.scaledIterations { blackHole(tensor.dequantized()) }
    } setup: {
      try Quantizer(scheme: scheme).quantize(Inputs.floats(rows * columns, seed: 22), shape: [rows, columns])
    }
  }
}
