import Arrowhead
import ArrowheadQuant
import ArrowheadTestSupport
import Testing

/// Golden vectors from gguf 0.19.0's numpy Q8_0 (bit-exact with ggml's
/// `quantize_row_q8_0_ref`): blocks of 32, d = max|x|/127 stored as F16, q = round(x/d) as
/// int8. Arrowhead's symmetric INT8 with groups of 32 is the same scheme with codes offset
/// by 128 and a Float32 scale. ggml multiplies by 1/d and rounds half away from zero where
/// Arrowhead divides and rounds half to even; the generator (below) asserts that the two
/// agree on every one of these inputs, so the codes must match exactly. Generated with:
///
/// ```python
/// import numpy as np
/// from gguf.quants import quantize, GGMLQuantizationType
/// rng = np.random.default_rng(2024)
/// x = (rng.standard_normal(256) * 0.05).astype(np.float32)
/// x[37] = 0.9; x[100] = -1.3; x[200:224] *= 40; x[224:256] = 0
/// q = quantize(x.reshape(1, -1), GGMLQuantizationType.Q8_0).reshape(8, 34)
/// halfScales = q[:, :2].copy().view(np.uint16); q8Codes = q[:, 2:].copy().view(np.int8)
/// ```
enum GGUFQ8Golden {
  static let inputBits: [UInt32] = [
    0x3D52B5BB, 0x3DA821F3, 0x3D6AD921, 0xBD474EA2, 0xBD8E9F6B, 0x3B5C3063, 0x3D306798, 0x3CD0901B,
    0x3DB95F8D, 0x3D19C5D3, 0x3D0305D3, 0xBD15C65D, 0xBD62DC46, 0x3D9800CD, 0x3B2046B3, 0x3D263307,
    0xBD8CF219, 0xBCB2BCCA, 0xBD843531, 0xBD1EDBE7, 0x3D38F283, 0xBD979C8D, 0xBCDAC3B1, 0x3C062CF4,
    0xBD08E719, 0xBC4EACFF, 0xBC35BFBD, 0x3CAB4502, 0xBCB0A451, 0x3C5F0934, 0x3B3A2F65, 0x3CADE750,
    0x3C38460C, 0x3DA9BF31, 0xBD07EBBD, 0x3D7597F2, 0xBCA4E8F9, 0x3F666666, 0x3D780D79, 0xBCB40589,
    0xBC9EC691, 0xBD8E3382, 0xBDD6DAF8, 0x3D01E7A3, 0xBD6EA585, 0x3D1F63EB, 0x3DBD4099, 0xBBBC15C0,
    0xBD66BB14, 0x3CA176C8, 0x3D1C0082, 0xBC56756C, 0x3A64E91B, 0x3D88BB52, 0x3D819510, 0x3D11674E,
    0xBD31705C, 0xBB2FE255, 0x3CF6F477, 0xBC2D8F7E, 0xBCF9DD04, 0xBD1CC06A, 0xBD016F77, 0xBD098B6F,
    0xBCB8C675, 0x3D6AA27C, 0xBD23F8B3, 0x3D35A336, 0x3CAB0AED, 0x3BE4F744, 0xBD2973B0, 0xBCBB0FDC,
    0x3DCA1792, 0x3BA25018, 0x3CDC732C, 0x3D07C9F4, 0x3D583205, 0xBC4292CB, 0xBCF9EFDA, 0xBB4357D4,
    0xBC55A9CA, 0x3D21EE3B, 0x3C1B542F, 0x3C4402A7, 0x3BED955F, 0x3D7B91D8, 0xBCDE4295, 0xBCC3EF46,
    0x3D354658, 0xBBAE57A3, 0x3C93D0CF, 0xBD154BFC, 0x3A98E71A, 0x3CB0E10F, 0xBD87EDF4, 0xBD0E528F,
    0x3CAD4953, 0x3DE64728, 0x3CBD5A33, 0xBB411154, 0xBFA66666, 0x3CA068F5, 0xBE001270, 0xBB224C31,
    0xBC873A2D, 0xBCD4C064, 0x3DED9AAC, 0xBDFD4A54, 0xBA91FAF2, 0x3B6207D8, 0x3CBF6B15, 0xBDA4039F,
    0xBCBF20EE, 0xBD992248, 0xBBD1172E, 0x3C207F49, 0x3C06BF73, 0xBC2235AA, 0x3C18530F, 0x3C114B70,
    0x3CA5EA80, 0x3AA550E3, 0xBDB690E2, 0xBD26DA19, 0x3C8D8C00, 0xBD3A6F7C, 0xBD238475, 0x3BB9B91B,
    0xBB1530B7, 0x3D370D3B, 0x3CD1A7C5, 0xBCB23B17, 0x3BBB3197, 0xBE125F8D, 0xBD234EFF, 0xBBF18D98,
    0xBDF47426, 0xBC841299, 0x3C4E24BD, 0x3D53F532, 0x3CA509E4, 0x3DC0F2BD, 0x3D9C7686, 0xBDA75BCE,
    0xBC392E48, 0xBBFFE270, 0x3B9638B0, 0xBCEA96F8, 0x3CFA0499, 0x3D1894FD, 0xBD9C1564, 0x3D419CCF,
    0xBD049E22, 0x3D585486, 0x3CE7482A, 0xBBD5E001, 0x3DCB9C04, 0x3D364FEF, 0x3AD3D1ED, 0x3C4BF2BE,
    0x3DF74F4B, 0x3D911D8C, 0x3D427F7A, 0x3C304EC6, 0x3CE683EB, 0x3BF34589, 0xBD9C3DA5, 0x3D3562AD,
    0x3CA9E3BE, 0xBD8A4D49, 0xBD038C62, 0xBC4B21E6, 0x3C856980, 0x3DB10914, 0x3A684F33, 0xBDC6C876,
    0x3D051468, 0xBC09B50F, 0xBDB27594, 0xBDE9A5A1, 0xBD59F9E1, 0x3C9AF2BC, 0xBD1B4F89, 0x3CF5A403,
    0xBC66477C, 0x3C167B58, 0x3D0FF4DD, 0x3CED1FE4, 0xBD578C70, 0x3DC56FA3, 0xBDCA79E4, 0xBC19FE1C,
    0xBD5138C6, 0x3D73BF2E, 0xBD863296, 0xBD53CA3B, 0xBD694500, 0xBD8D226B, 0xBCEAA150, 0x3C139ED8,
    0xBFF838F8, 0xC058D576, 0xBF0FEF45, 0xBDBB44CE, 0x3FB25ABF, 0xBFD31A1E, 0xBECF41A4, 0x3FE46A96,
    0xC000F913, 0xBE6307A8, 0xBF3FC192, 0xC03A5014, 0xBE853C8C, 0x400DFA92, 0x408EC6C0, 0xC03A816A,
    0x3FEB6B34, 0x400D2825, 0x401A68FE, 0xBF63E062, 0x3F1CC039, 0xBF9E9FB6, 0x3F8D5C73, 0x40185A43,
    0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
    0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
    0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
    0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
  ]
  static let q8Codes: [Int8] = [
    72, 115, 80, -68, -98, 5, 60, 36,
    127, 53, 45, -51, -78, 104, 3, 57,
    -97, -31, -91, -54, 63, -104, -37, 11,
    -47, -18, -16, 29, -30, 19, 4, 30,
    2, 12, -5, 8, -3, 127, 9, -3,
    -3, -10, -15, 4, -8, 5, 13, -1,
    -8, 3, 5, -2, 0, 9, 9, 5,
    -6, 0, 4, -1, -4, -5, -4, -5,
    -29, 74, -52, 57, 27, 9, -53, -29,
    127, 6, 35, 43, 68, -15, -39, -4,
    -17, 51, 12, 15, 9, 79, -35, -31,
    57, -7, 23, -47, 2, 28, -85, -45,
    2, 11, 2, 0, -127, 2, -12, 0,
    -2, -3, 11, -12, 0, 0, 2, -8,
    -2, -7, -1, 1, 1, -1, 1, 1,
    2, 0, -9, -4, 2, -4, -4, 1,
    -2, 40, 23, -19, 5, -127, -35, -7,
    -106, -14, 11, 46, 18, 84, 68, -73,
    -10, -7, 4, -25, 27, 33, -68, 42,
    -29, 47, 25, -6, 88, 40, 1, 11,
    127, 75, 50, 11, 30, 8, -80, 47,
    22, -71, -34, -13, 17, 91, 1, -102,
    34, -9, -92, -120, -56, 20, -40, 32,
    -15, 10, 37, 30, -55, 101, -104, -10,
    -1, 2, -2, -1, -2, -2, -1, 0,
    -55, -96, -16, -3, 40, -47, -12, 51,
    -57, -6, -21, -83, -7, 63, 127, -83,
    52, 63, 69, -25, 17, -35, 31, 68,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
  ]
  static let halfScales: [UInt16] = [0x11D7, 0x1F42, 0x125D, 0x213E, 0x149C, 0x13CA, 0x287F, 0x0000]
}

@Suite("Golden vectors: gguf Q8_0")
struct GGUFGoldenTests {
  @Test(arguments: BackendsUnderTest.names)
  func symmetricInt8GroupsOf32MatchGGMLQ8_0(_ backend: String) throws {
    let values = GGUFQ8Golden.inputBits.map(Float.init(bitPattern:))
    let scheme = try QuantizationScheme(bits: 8, granularity: .perGroup(32), mode: .symmetric)
    let engine = try Engine.default.forcing(backend)
    let q = try Quantizer(scheme: scheme, engine: engine).quantize(values, shape: [1, 256])
    #expect(q.codes(engine: engine).map { Int8(Int($0) - 128) } == GGUFQ8Golden.q8Codes)
    // ggml stores d in F16: our Float32 scale rounds to exactly that.
    #expect(q.scales.map { HalfConversion.half(from: $0) } == GGUFQ8Golden.halfScales)
  }

  @Test func tiesAreWhereArrowheadAndGGMLDiffer() throws {
    // Documented difference: with d = 1 (max|x| = 127), 2.5 rounds to 2 here (half to even)
    // and to 3 in ggml (half away from zero).
    let scheme = try QuantizationScheme(bits: 8, granularity: .perGroup(32), mode: .symmetric)
    let q = try Quantizer(scheme: scheme).quantize([127, 2.5, -2.5, 3.5] + [Float](repeating: 0, count: 28), shape: [1, 32])
    #expect(Array(q.codes()[0..<4]).map { Int($0) - 128 } == [127, 2, -2, 4])
  }
}

/// Golden vectors from gguf 0.19.0's numpy Q4_0 (blocks of 32, d = v / −8 where v is the
/// block's value of largest magnitude, stored as F16; q = trunc(x/d + 8.5) clipped to 0…15,
/// value j in the low nibble of byte j and value j + 16 in its high nibble) on the same
/// inputs as `GGUFQ8Golden`. Arrowhead's symmetric INT4 with groups of 32 and
/// `SignedMaximumOptimizer` is the same scheme with a Float32 scale (negative where v > 0).
/// ggml multiplies by 1/d and rounds half up where Arrowhead divides and rounds half to even;
/// the generator asserts that the two agree on every one of these inputs. Codes below are in
/// value order (unpacked). Generated with:
///
/// ```python
/// q = quantize(x.reshape(1, -1), GGMLQuantizationType.Q4_0).reshape(8, 18)
/// halfScales = q[:, :2].copy().view(np.uint16)
/// codes = np.concatenate([q[:, 2:] & 0x0F, q[:, 2:] >> 4], axis=1)
/// ```
enum GGUFQ4Golden {
  static let codes: [UInt8] = [
    3, 1, 3, 12, 14, 8, 4, 6, 0, 5, 5, 11, 13, 1, 8, 4, 14, 10, 14, 11, 4, 15, 10, 7, 11, 9, 9, 6, 10, 7, 8, 6,
    8, 7, 8, 7, 8, 0, 7, 8, 8, 9, 9, 8, 9, 8, 7, 8, 9, 8, 8, 8, 8, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8,
    10, 3, 11, 4, 6, 7, 11, 10, 0, 8, 6, 5, 4, 9, 10, 8, 9, 5, 7, 7, 7, 3, 10, 10, 4, 8, 7, 11, 8, 6, 13, 11,
    8, 9, 8, 8, 0, 8, 7, 8, 8, 8, 9, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 8, 8, 8, 8, 8,
    8, 11, 9, 7, 8, 0, 6, 8, 1, 7, 9, 11, 9, 13, 12, 3, 7, 8, 8, 6, 10, 10, 4, 11, 6, 11, 10, 8, 14, 10, 8, 9,
    0, 3, 5, 7, 6, 8, 13, 5, 7, 12, 10, 9, 7, 2, 8, 14, 6, 9, 14, 15, 12, 7, 11, 6, 9, 7, 6, 6, 11, 2, 15, 9,
    8, 8, 8, 8, 8, 8, 8, 8, 11, 14, 9, 8, 6, 11, 9, 5, 12, 8, 9, 13, 8, 4, 0, 13, 5, 4, 4, 10, 7, 10, 6, 4,
    8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  ]
  /// The last block is all zeros: ggml's d = 0 / −8 is −0 (0x8000); Arrowhead stores +0.
  static let halfScales: [UInt16] = [0xA1CB, 0xAF33, 0xA251, 0x3133, 0x2493, 0xA3BA, 0xB876, 0x8000]
}

@Suite("Golden vectors: gguf Q4_0")
struct GGUFQ4GoldenTests {
  @Test(arguments: BackendsUnderTest.names)
  func symmetricInt4SignedMaximumMatchesGGMLQ4_0(_ backend: String) throws {
    let values = GGUFQ8Golden.inputBits.map(Float.init(bitPattern:))
    let scheme = try QuantizationScheme(bits: 4, granularity: .perGroup(32), mode: .symmetric)
    let engine = try Engine.default.forcing(backend)
    let q = try Quantizer(scheme: scheme, optimizer: SignedMaximumOptimizer(), engine: engine).quantize(values, shape: [1, 256])
    #expect(q.codes(engine: engine) == GGUFQ4Golden.codes)
    // ggml stores d in F16: our Float32 scale rounds to exactly that value (±0 alike).
    #expect(q.scales.map { HalfConversion.float(fromHalf: HalfConversion.half(from: $0)) }
      == GGUFQ4Golden.halfScales.map(HalfConversion.float(fromHalf:)))
    #expect(q.scales.filter { $0 < 0 }.count == 5)  // blocks whose larger extreme is positive
    // The reconstruction is ggml's: (q − 8)·d, with d the F16 scale.
    let expected = zip(GGUFQ4Golden.codes.indices, GGUFQ4Golden.codes).map { index, code in
      (Float(code) - 8) * HalfConversion.float(fromHalf: GGUFQ4Golden.halfScales[index / 32])
    }
    let rebuilt = q.dequantized(engine: engine)
    for (index, value) in rebuilt.enumerated() {
      let d = abs(HalfConversion.float(fromHalf: GGUFQ4Golden.halfScales[index / 32]))
      // F16 rounding of d: at most 2⁻¹¹ relative, times |q − 8| ≤ 8 steps.
      #expect(abs(value - expected[index]) <= 8 * d * 0x1p-11 + 1e-7, "value \(index)")
    }
  }
}
