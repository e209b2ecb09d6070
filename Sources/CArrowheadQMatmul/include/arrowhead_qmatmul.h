/// CArrowheadQMatmul: the inner loops of the SIMD backend's quantized matmul (y = x·Ŵᵀ + b),
/// one C file per instruction set, each function compiled for its ISA with a `target`
/// attribute and called only after a run-time CPU-feature check (Swift has no spelling for
/// `vpdpbusd`, `vpmaddubsw` or `vpermps`).
///
/// The weights follow `QuantizedMatrixLayout` (ArrowheadCore, Families/QuantizedMatmulKernels
/// .swift): panels of 16 rows; in each, 64-byte lines of 16 rows × 4 columns (8-bit codes) or
/// 16 rows × 8 columns (4-bit codes, columns 0–3 in the low nibbles, 4–7 in the high ones);
/// groups padded to a multiple of 8 columns; scales and offsets per (panel, group, row).
///
/// Activations are prepared once per call by `arrowhead_qmm_prepare_*` into the padded
/// column space (padding columns are 0). Every kernel computes the output rows of the panels
/// [panel_begin, panel_end) for every activation row it is given, so threads split panels
/// (all rows) or rows (all panels: the Swift driver passes each thread its own block of
/// prepared rows and the matching rows of y; see `SIMDQuantizedMatmul`).
///
/// | file                  | ISA (target attribute)          | kernels                          |
/// |-----------------------|---------------------------------|----------------------------------|
/// | qmatmul_portable.c    | none (SSE2 / NEON / scalar)     | prepare, weight-only, int8       |
/// | qmatmul_avx2.c        | avx2, fma                       | weight-only, int8 (vpmaddubsw), int16 (M = 1, 4-bit) |
/// | qmatmul_avxvnni.c     | avx2, fma, avxvnni              | int8 (vpdpbusd on YMM)           |
/// | qmatmul_avx512.c      | avx512 f/bw/vl/dq (+vnni)       | weight-only, int8, int16 (vpdpbusd ZMM) |
/// | qmatmul_amx.c         | avx512 + vnni + amx-tile/int8   | int8 (tdpbsud tiles, ≥ 16 rows)  |
/// | sq8_rows.c            | none / avx2 / avx512 + vnni     | SQ8 row dots with an int16 query |
/// | realigned_level1.c    | avx512 f/dq/vl                  | dot, squared L2 off a cache line |
///
/// This is an internal module of Arrowhead; it makes no API stability promise.
#ifndef ARROWHEAD_QMATMUL_H
#define ARROWHEAD_QMATMUL_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A packed quantized weight matrix (see the file header).
typedef struct arrowhead_qmm_weights {
  const uint8_t *codes;
  const float *scales;
  /// Float minima (zero_point == 0: ŵ = q·s + m) or zero-points (zero_point == 1: ŵ = (q − z)·s).
  const float *offsets;
  /// Real rows of Ŵ (outputs); panels cover ⌈rows/16⌉·16.
  int64_t rows;
  int64_t groups;
  /// Padded columns per group (a multiple of 8).
  int64_t group_columns;
  /// Bytes per panel: groups·group_columns·16·container_bits/8.
  int64_t panel_bytes;
  /// 4 or 8.
  int32_t container_bits;
  int32_t zero_point;
  /// Bits of the codes (2…8): every code is ≤ 2^code_bits − 1. Codes of at most 7 bits in
  /// 8-bit containers let the AVX2 int8 kernel multiply them directly (`vpmaddubsw` pairs
  /// ≤ 2·127·127 cannot saturate) instead of through the sign step that 8-bit codes need.
  int32_t code_bits;
} arrowhead_qmm_weights;

/// Float32 activations in the padded column space.
typedef struct arrowhead_qmm_float_rows {
  /// rows × stride values; padding columns are 0.
  const float *values;
  /// rows × groups: Σ x over each group.
  const float *sums;
  int64_t rows;
  /// groups·group_columns.
  int64_t stride;
} arrowhead_qmm_float_rows;

/// Int8 activations: x̂ = t·a per (row, group).
typedef struct arrowhead_qmm_int8_rows {
  /// rows × stride codes in −127…127; padding columns are 0.
  const int8_t *codes;
  /// rows × groups: t.
  const float *scales;
  /// rows × groups: Σ a over each group (an exact integer, held in a float).
  const float *sums;
  int64_t rows;
  int64_t stride;
} arrowhead_qmm_int8_rows;

/// Where the results go: y[i·ldy + n] for n < rows of Ŵ, plus bias[n] when bias is not NULL.
typedef struct arrowhead_qmm_output {
  float *y;
  int64_t ldy;
  const float *bias;
} arrowhead_qmm_output;

// Preparation (one implementation: codes must be identical on every ISA).

/// Copies `rows` rows of x (length `columns`, leading dimension `ldx`) into the padded
/// column space and sums each group.
void arrowhead_qmm_prepare_float(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                 int64_t groups, int64_t group_columns, float *values, float *sums);

/// Quantizes each (row, group) of x to int8 by the ActivationQuantization rule: r = 127/max|x|,
/// a = clamp(round_half_even(x·r), −127, 127), t = max|x|/127 (0 for a zero group, NaN
/// when the group holds NaN or ±∞, with a = 0).
void arrowhead_qmm_prepare_int8(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums);

/// Two int8 digits per value (≈ 16-bit activations): with r and t of the rule above,
/// v = x·r, a = clamp(round_half_even(v), ±127), b = clamp(round_half_even((v − a)·254), ±127),
/// x̂ = t·a + (t/254)·b. `high`/`scales`/`sums` get a, t, Σa; `low`/`low_scales`/`low_sums`
/// get b, t/254, Σb (NaN groups: both scales NaN; zero groups: 0).
void arrowhead_qmm_prepare_int16(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                 int64_t groups, int64_t group_columns, int8_t *high, int8_t *low, float *scales,
                                 float *low_scales, float *sums, float *low_sums);

/// Bytes of scratch one thread needs for one call on `w` (a dequantized or unpacked panel tile).
size_t arrowhead_qmm_scratch_bytes(const arrowhead_qmm_weights *w);

// Kernels: outputs of panels [panel_begin, panel_end) for every activation row.

/// SQ8 row dots with an int16 query (sq8_rows.c): out[i] = (float)Σ_{j < dimension}
/// weights[j]·codes[rows[i]·stride + j] for i < row_count, summed in int32. Exact when
/// Σ_j |weights[j]|·255 < 2³¹ (the caller's contract); the same result on every path.
void arrowhead_sq8_dot_i16_rows_portable(int64_t dimension, const int16_t *weights, const uint8_t *codes,
                                         int64_t stride, const uint32_t *rows, int64_t row_count, float *out);
#if defined(__x86_64__)
void arrowhead_sq8_dot_i16_rows_avx2(int64_t dimension, const int16_t *weights, const uint8_t *codes, int64_t stride,
                                     const uint32_t *rows, int64_t row_count, float *out);
void arrowhead_sq8_dot_i16_rows_avx512vnni(int64_t dimension, const int16_t *weights, const uint8_t *codes,
                                           int64_t stride, const uint32_t *rows, int64_t row_count, float *out);
#endif

#if defined(__x86_64__)
/// Σ x[i]·y[i] (realigned_level1.c) for count ≥ 16, with exactly the operations of the
/// x86-64-v4 variant's `SIMDLevel1.dot`, but with aligned loads permuted into place for an
/// operand off a 64-byte line (no 512-bit load crosses a line): the same bits at any placement.
float arrowhead_dot_realigned_avx512(const float *x, const float *y, int64_t count);
/// Σ (q[i] − x[i])² for count ≥ 16, likewise bit-identical to the x86-64-v4 variant's
/// `SIMDDistances.squaredDistance`.
float arrowhead_squared_distance_realigned_avx512(const float *q, const float *x, int64_t count);
#endif

void arrowhead_qmm_weight_only_portable(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                        const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                        void *scratch);
void arrowhead_qmm_int8_portable(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                 const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch);

#if defined(__x86_64__)
/// `arrowhead_qmm_prepare_int8` with AVX2 / AVX-512 (identical codes and scales).
void arrowhead_qmm_prepare_int8_avx2(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                     int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums);
void arrowhead_qmm_prepare_int8_avx512(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                       int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums);
/// `arrowhead_qmm_prepare_int16` with AVX-512 (identical digits and scales).
void arrowhead_qmm_prepare_int16_avx512(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                        int64_t groups, int64_t group_columns, int8_t *high, int8_t *low, float *scales,
                                        float *low_scales, float *sums, float *low_sums);
void arrowhead_qmm_weight_only_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                    const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                    void *scratch);
void arrowhead_qmm_int8_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                             const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch);
void arrowhead_qmm_int8_avxvnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch);
void arrowhead_qmm_weight_only_avx512(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                      const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                      void *scratch);
void arrowhead_qmm_int8_avx512vnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                   const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                   void *scratch);
/// `arrowhead_qmm_int8_avx512vnni` with AMX tiles (`tdpbsud`) for every full block of 16
/// activation rows, bit-identical to it; the remaining rows, one-row products and group
/// widths that tiles do not take (> 64 padded columns and not a multiple of 64) run the
/// AVX-512 VNNI kernel. The caller must hold the AMX tile state (`ARROWHEAD_CPU_AMXINT8`).
void arrowhead_qmm_int8_amx(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                            const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch);
/// `arrowhead_qmm_int16_avx512vnni`'s product for a few activation rows and 4-bit codes only
/// (container_bits == 4: the caller's contract; each row streams the codes), on YMM with
/// AVX2: each line's nibbles split once for both digits, a digit's `vpmaddubsw` pairs summed
/// in 16 bits, then `vpmaddwd`. Other int16 products on YMM (and every one on the AVX-VNNI path, which no
/// machine here could run) are two int8 products.
void arrowhead_qmm_int16_gemv_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                   const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                   int64_t panel_begin, int64_t panel_end, void *scratch);
/// y = Ŵ·(t·a + (t/254)·b) with the two digits of `arrowhead_qmm_prepare_int16` in `high`
/// (a, t, Σa) and `low` (b, t/254, Σb): both `vpdpbusd` products in one pass over the codes.
void arrowhead_qmm_int16_avx512vnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                    const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                    int64_t panel_begin, int64_t panel_end, void *scratch);
#endif

#ifdef __cplusplus
}
#endif

#endif
