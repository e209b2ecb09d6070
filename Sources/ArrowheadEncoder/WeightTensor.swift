// Float32 views of safetensors tensors: memory-mapped when the file already holds aligned
// F32 (no copy: pages are read on first use), converted once otherwise (F16, BF16, F64,
// unaligned F32).
import ArrowheadCore
import ArrowheadIO
import ArrowheadQuant

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only Float32 tensor that stays valid as long as this object lives.
///
/// Either a view into a memory-mapped safetensors file (the file object is retained) or a
/// buffer owned by this object.
final class WeightTensor: @unchecked Sendable {
  /// The tensor's name in the weights file ("" for a synthetic tensor).
  let name: String
  /// Its shape.
  let shape: [Int]
  /// Its elements, row-major.
  let pointer: UnsafePointer<Float>
  /// The number of elements.
  let count: Int
  /// Whether the elements live in the file mapping (no copy).
  let isMapped: Bool
  private let file: SafetensorsFile?
  private let info: SafetensorsTensorInfo?
  private let owned: UnsafeMutablePointer<Float>?

  /// A view of `info` in `file`: mapped for aligned F32, converted otherwise.
  init(_ info: SafetensorsTensorInfo, in file: SafetensorsFile) throws(EncoderError) {
    guard info.dtype.isConvertibleToFloat else {
      throw .unsupportedDType(tensor: info.name, dtype: info.dtype.rawValue)
    }
    name = info.name
    shape = info.shape
    count = info.elementCount
    self.info = info
    let bytes = file.bytes(of: info)
    if info.dtype == .f32, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
      pointer = base.assumingMemoryBound(to: Float.self)
      self.file = file
      owned = nil
      isMapped = true
    } else {
      let buffer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
      if let base = bytes.baseAddress {
        _ = HalfConversion.convertToFloat(info.dtype, count: count, from: base, to: buffer)
      }
      pointer = UnsafePointer(buffer)
      owned = buffer
      self.file = nil
      isMapped = false
    }
  }

  /// A tensor holding a copy of `values` (tests, fused or derived tensors).
  init(name: String, shape: [Int], values: [Float]) {
    self.name = name
    self.shape = shape
    let count = values.count
    self.count = count
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
    values.withUnsafeBufferPointer { source in
      if let base = source.baseAddress { buffer.initialize(from: base, count: count) }
    }
    pointer = UnsafePointer(buffer)
    owned = buffer
    file = nil
    info = nil
    isMapped = false
  }

  deinit { owned?.deallocate() }

  /// The index of the first NaN or ±∞ element, or nil, checked in chunks of 1 MiB. A
  /// mapped tensor's pages are given back chunk by chunk, so that the check never holds more
  /// than a chunk of the file resident (the 45 MiB word-embedding table of MiniLM read whole
  /// raised the INT8 encoder's peak from 59 to 79 MiB).
  func firstNonFinite() -> Int? {
    let chunk = 1 << 18
    var start = 0
    while start < count {
      let end = Swift.min(count, start + chunk)
      if let index = firstNonFiniteIndex(UnsafeBufferPointer(start: pointer + start, count: end - start)) {
        return start + index
      }
      evictPages(elements: start..<end)
      start = end
    }
    return nil
  }

  /// For a mapped tensor that has been copied into another form: gives its pages back to
  /// the page cache, so that they stop counting as resident memory (they are read again
  /// if touched). No effect on an owned buffer.
  func evictPages() {
    if let file, let info { file.evictPages(of: info) }
  }

  /// Gives back the pages of elements `range` of a mapped tensor (whole pages around it;
  /// they are read again if touched). No effect on an owned buffer.
  func evictPages(elements range: Range<Int>) {
    guard isMapped, !range.isEmpty else { return }
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = Int(bitPattern: pointer + range.lowerBound) / pageSize * pageSize
    let end = (Int(bitPattern: pointer + range.upperBound) + pageSize - 1) / pageSize * pageSize
    if let address = UnsafeMutableRawPointer(bitPattern: start) {
      _ = madvise(address, end - start, Int32(MADV_DONTNEED))
    }
  }

  /// This tensor in memory of its own: a mapped tensor is copied (and its pages given
  /// back), an owned one returned as it is. For the small tensors read on every forward
  /// pass (biases, LayerNorm parameters, position embeddings): kept mapped, each would hold
  /// the pages the kernel maps around it when it is first read (up to 64 KiB of
  /// neighbouring weights), which is what keeps a mapped file resident after loading.
  func copiedFromMapping() -> WeightTensor {
    guard isMapped else { return self }
    let copy = WeightTensor(name: name, shape: shape, values: Array(buffer))
    evictPages()
    return copy
  }

  /// The rows of `parts` stacked (each rows × columns with the same columns): one
  /// (Σ rows) × columns tensor, copied once into its own buffer (not gathered into an
  /// array and copied again: that held the stacked q|k|v weights twice while loading,
  /// 1.8 MB more at MiniLM's peak of loading). The parts' mapped pages are given back.
  static func stacked(_ parts: [WeightTensor], name: String) -> WeightTensor {
    let columns = parts[0].shape[1]
    let count = parts.reduce(0) { $0 + $1.count }
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
    var filled = 0
    for part in parts {
      (buffer + filled).initialize(from: part.pointer, count: part.count)
      filled += part.count
      part.evictPages()
    }
    return WeightTensor(name: name, shape: [count / Swift.max(columns, 1), columns], owning: buffer, count: count)
  }

  /// A tensor owning `buffer` (`count` initialized floats, freed with the tensor).
  private init(name: String, shape: [Int], owning buffer: UnsafeMutablePointer<Float>, count: Int) {
    self.name = name
    self.shape = shape
    self.count = count
    pointer = UnsafePointer(buffer)
    owned = buffer
    file = nil
    info = nil
    isMapped = false
  }

  /// The elements as a buffer.
  var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
}

/// Finds a BERT checkpoint's tensors by their Hugging Face names, with or without the
/// `bert.` prefix of task models, and checks each shape against the configuration.
///
/// The weights file may be an Arrowhead quantized file (metadata `arrowhead.format` =
/// `quantized`, what `arrowhead quantize` writes): its quantized tensors are found under
/// their original names, linear weights are handed over quantized (`linear`), any other
/// tensor is dequantized (`tensor`).
struct WeightSource {
  let model: SafetensorsModel
  let prefix: String
  /// The quantized file, when the weights are one.
  let quantizedFile: QuantizedModelFile?
  let engine: Engine

  init(folder: String, engine: Engine = .default) throws(EncoderError) {
    let single = ModelFolder.join(folder, "model.safetensors")
    let index = ModelFolder.join(folder, "model.safetensors.index.json")
    guard ModelFolder.isFile(single) || ModelFolder.isFile(index) else {
      var what = "the model weights (model.safetensors or model.safetensors.index.json)"
      if ModelFolder.isFile(ModelFolder.join(folder, "pytorch_model.bin")) {
        what += "; the folder holds pytorch_model.bin, which is not read: convert it to safetensors"
      }
      throw .missingFile(path: single, what: what)
    }
    var model: SafetensorsModel
    do {
      model = try SafetensorsModel(path: folder)
    } catch {
      throw .weights(error)
    }
    self.engine = engine
    if model.metadata[QuantizedModelFormat.formatKey] != nil {
      let file: QuantizedModelFile
      do {
        file = try QuantizedModelFile(path: folder, engine: engine)
      } catch {
        throw .quantization(error)
      }
      // Opening verified every checksum, which read every page: give them back, so that
      // only what is used (the codes once, the embedding rows of the tokens met) is resident.
      for entry in file.model.entries { entry.file.evictPages(of: entry.info) }
      model = file.model
      quantizedFile = file
    } else {
      quantizedFile = nil
    }
    self.model = model
    let candidates = ["", "bert.", "model."]
    let file = quantizedFile
    prefix = candidates.first {
      model.entry($0 + "embeddings.word_embeddings.weight") != nil || file?.info($0 + "embeddings.word_embeddings.weight") != nil
    } ?? ""
  }

  /// Gives back the pages of every tensor of the weights file(s): once loading has copied
  /// or quantized what it needs, the mapping stops counting as resident memory (a Float32
  /// word-embedding table used in place reads its pages again as tokens need them).
  func evictAllPages() {
    for entry in model.entries { entry.file.evictPages(of: entry.info) }
  }

  /// The path shown in errors.
  var path: String { model.files.count == 1 ? model.files[0].path : model.path }

  /// Whether the weights hold `prefix + name` (plain or quantized).
  func contains(_ name: String) -> Bool {
    model.entry(prefix + name) != nil || quantizedFile?.info(prefix + name) != nil
  }

  /// The quantized tensor among `names` (first present), checked to have `shape`, or nil.
  private func quantizedTensor(_ names: [String], shape: [Int], reason: String) throws(EncoderError) -> (QuantizedTensor, String)? {
    guard let file = quantizedFile,
      let info = names.lazy.compactMap({ file.info(self.prefix + $0) }).first
    else { return nil }
    guard info.shape == shape else {
      throw .shapeMismatch(tensor: info.name, expected: shape, actual: info.shape, reason: reason)
    }
    do {
      return (try file.tensor(info.name), info.name)
    } catch {
      throw .quantization(error)
    }
  }

  /// The tensor `prefix + name` (or its first alternative spelling present), checked to have
  /// `shape`; `reason` says where the expected shape comes from. A quantized tensor is
  /// dequantized.
  func tensor(_ names: [String], shape: [Int], reason: String) throws(EncoderError) -> WeightTensor {
    if let (tensor, name) = try quantizedTensor(names, shape: shape, reason: reason) {
      return LinearWeight.quantized(tensor, name: name).dense(engine: engine)
    }
    guard let entry = names.lazy.compactMap({ self.model.entry(self.prefix + $0) }).first else {
      throw .missingTensor(file: path, tensor: prefix + names[0])
    }
    guard entry.info.shape == shape else {
      throw .shapeMismatch(tensor: entry.name, expected: shape, actual: entry.info.shape, reason: reason)
    }
    let tensor = try WeightTensor(entry.info, in: entry.file)
    if let index = tensor.firstNonFinite() {
      throw .nonFiniteWeight(file: entry.file.path, tensor: entry.name, index: index, value: tensor.pointer[index])
    }
    return tensor
  }

  func tensor(_ name: String, shape: [Int], reason: String) throws(EncoderError) -> WeightTensor {
    try tensor([name], shape: shape, reason: reason)
  }

  /// A linear layer's weight: quantized when the file holds it quantized, else Float32.
  func linear(_ name: String, shape: [Int], reason: String) throws(EncoderError) -> LinearWeight {
    if let (tensor, stored) = try quantizedTensor([name], shape: shape, reason: reason) {
      return .quantized(tensor, name: stored)
    }
    return .dense(try tensor([name], shape: shape, reason: reason))
  }
}
