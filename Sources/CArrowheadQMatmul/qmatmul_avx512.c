// Quantized matmul, AVX-512: weight-only kernels (AVX-512 F/BW/VL/DQ, x86-64-v4) and int8
// kernels (those plus AVX512-VNNI `vpdpbusd`: Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4).
//
// One ZMM holds a panel's 16 rows. Instructions the loops depend on:
//   weight-only, M = 1   4-bit: lines loaded at byte offsets 0–3, vpermps (low nibble → float
//                        through a 16-entry table) and vpandd + vcvtdq2ps (high nibble, 16·q);
//                        8-bit: vpshufb + vcvtdq2ps; vfmadd231ps with x[j] broadcast
//   weight-only, M ≤ 16  the same decode once per line for up to 4 rows (≤ 12 rows, 8-bit)
//   weight-only, larger  a panel pair dequantized into an L1/L2 tile (mul then add, as the
//                        quantizer's dequantize), then a 6 × 32 vfmadd231ps micro-kernel
//   int8                 vpdpbusd (u8 codes × s8 activations → i32, 16 rows × 4 columns per
//                        instruction); 4-bit codes split with vpand / vpsrlw first
//   int16                the same per digit (two vpdpbusd per line and row); 4-bit codes split
//                        in registers as for int8, 8-bit lines multiplied in place
// Per group, the i32 or f32 sums are rescaled into the f32 result (vcvtdq2ps, vfmadd).
#if defined(__x86_64__)
#include "arrowhead_qmatmul.h"
#include "qmatmul_rows.h"

#include <immintrin.h>
#include <string.h>

#define QMM_ALWAYS_INLINE static inline __attribute__((always_inline))

/// Rows of x up to which weight-only products run `zmm_gemv_rows_float` (decode once per line
/// for up to 4 rows) instead of dequantizing panels for the tile kernel: measured crossings on
/// Zen 4 at 4096 × 4096, g64 — about 16 rows for 4-bit codes, 12 for 8-bit (Quant README).
QMM_ALWAYS_INLINE int zmm_few_rows(const arrowhead_qmm_weights *w, int64_t rows) {
  return rows <= (w->container_bits == 4 ? 16 : 12);
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi2"))), apply_to = function)

// MARK: - Shared helpers

#include "qmatmul_zmm.h"

/// y[i, 16p…16p+15] = v (+ bias), real rows only.
QMM_ALWAYS_INLINE void zmm_store(const arrowhead_qmm_weights *w, const arrowhead_qmm_output *out, int64_t i,
                                 int64_t p, __m512 v) {
  const __mmask16 mask = zmm_row_mask(w, p);
  if (out->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out->bias + 16 * p));
  _mm512_mask_storeu_ps(out->y + i * out->ldy + 16 * p, mask, v);
}

QMM_ALWAYS_INLINE void *zmm_aligned(void *scratch) { return (void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); }

/// Row tiles of near-equal height: `rows` rows in ⌈rows/height⌉ tiles, the taller ones first
/// (32 rows at height 6: 6, 6, 5, 5, 5, 5, not 6, 6, 6, 6, 6, 2). A short last tile has too few
/// independent accumulators to cover the latency of `vpdpbusd` / `vfmadd`, and a thread's
/// share of the rows (the two-thread row split) often ends in one.
QMM_ALWAYS_INLINE int64_t zmm_tile_height(int64_t rows, int64_t done, int64_t height) {
  const int64_t left = rows - done, tiles = (left + height - 1) / height;
  return (left + tiles - 1) / tiles;
}

/// vpshufb indices that move byte t of each dword to its low byte and zero the rest.
QMM_ALWAYS_INLINE __m512i zmm_byte_selector(int t) {
  return _mm512_set4_epi32((int)(0x80808000u | (unsigned)(12 + t)), (int)(0x80808000u | (unsigned)(8 + t)),
                           (int)(0x80808000u | (unsigned)(4 + t)), (int)(0x80808000u | (unsigned)t));
}

/// The float code of column c (0…7) of a 4-bit line: nibble c at bits 8c (c < 4) or 8(c − 4) + 4.
QMM_ALWAYS_INLINE __m512 zmm_w4_column(__m512i line, int c, __m512 table) {
  const int shift = c < 4 ? 8 * c : 8 * (c - 4) + 4;
  return _mm512_permutexvar_ps(shift == 0 ? line : _mm512_srli_epi32(line, (unsigned)shift), table);
}

/// The float code of column t (0…3) of an 8-bit line.
QMM_ALWAYS_INLINE __m512 zmm_w8_column(__m512i line, int t) {
  return _mm512_cvtepi32_ps(_mm512_shuffle_epi8(line, zmm_byte_selector(t)));
}

/// ŵ = q·s + m or (q − z)·s, mul then add (bit-identical to the quantizer's dequantize).
QMM_ALWAYS_INLINE __m512 zmm_dequantize(__m512 q, __m512 s, __m512 o, int zero_point) {
  return zero_point ? _mm512_mul_ps(_mm512_sub_ps(q, o), s) : _mm512_add_ps(_mm512_mul_ps(q, s), o);
}

// MARK: - Weight-only, M = 1


/// `line` itself, or a copy of it in `copy` (128 bytes) when it is the codes' last line: the
/// byte-offset loads of the 4-bit kernels read up to 3 bytes past a line. Only the last panel
/// of a pass (`may_end`) can end there.
QMM_ALWAYS_INLINE const uint8_t *zmm_readable_line(const uint8_t *line, int may_end, const uint8_t *end, uint8_t *copy) {
  if (may_end && __builtin_expect(line + 64 == end, 0)) {
    memcpy(copy, line, 64);
    return copy;
  }
  return line;
}

/// NB panels from p0 for one activation row: Σ_g s·Σq·x + m·Σx (or s·(Σq·x − z·Σx)).
///
/// 4-bit lines: column t < 4 is the low nibble of byte t of each row's dword,
/// so the line loaded t bytes further on has it in bits 0–3, where vpermps reads its index:
/// no shift. Column t + 4, the high nibble, is masked in place (16·q, exact) and converted;
/// those sums are scaled by 1/16 at the group's end. Per line and panel: 4 vpermps, 4 vpandd,
/// 4 vcvtdq2ps and 8 vfmadd instead of 7 vpsrld, 8 vpermps and 8 vfmadd, which spreads the
/// work over all four vector pipes of a Zen 4 core (Quant README: 0.56 → 0.49 ms at 1 × 4096
/// × 4096, g64). Σq·x (and 16·q·x) can overflow where ŵ·x does not (|x| beyond ~10³⁵): the
/// Swift driver recomputes such a row (`recomputeIfOverflowed`).
QMM_ALWAYS_INLINE void zmm_gemv_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                      const arrowhead_qmm_output *out, int64_t i, int64_t p0, const int NB) {
  const __m512 table = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float *row = x->values + i * x->stride, *sums = x->sums + i * w->groups;
  const int64_t lines_per_group = w->group_columns / (w->container_bits == 4 ? 8 : 4);
  const uint8_t *end = w->codes + (w->rows + 15) / 16 * w->panel_bytes;
  _Alignas(64) uint8_t last_line[128] = {0};
  const uint8_t *panel[4];
  __m512 y[4];
  for (int b = 0; b < NB; b++) {
    panel[b] = w->codes + (p0 + b) * w->panel_bytes;
    y[b] = _mm512_setzero_ps();
  }
  for (int64_t g = 0; g < w->groups; g++) {
    __m512 even[4], odd[4];
    for (int b = 0; b < NB; b++) even[b] = odd[b] = _mm512_setzero_ps();
    const float *xg = row + g * w->group_columns;
    const int64_t first = g * lines_per_group;
    qmm_gemv_prefetch_scales(w, p0, g, NB);
    if (w->container_bits == 4) {
      // The loads at +1…+3 read up to 3 bytes past a line: the next line's, except after the
      // buffer's last line, which is read from a padded copy.
      const __m512i high_nibbles = _mm512_set1_epi32(0xF0);
      for (int64_t l = 0; l < lines_per_group; l++) {
        const uint8_t *source[4];
        for (int b = 0; b < NB; b++) source[b] = zmm_readable_line(panel[b] + (first + l) * 64, b == NB - 1, end, last_line);
        qmm_gemv_prefetch_lines(w, p0, first + l, NB);
        const float *xl = xg + 8 * l;
        for (int t = 0; t < 4; t++) {
          const __m512 x_low = _mm512_set1_ps(xl[t]), x_high = _mm512_set1_ps(xl[t + 4]);
          for (int b = 0; b < NB; b++) {
            const __m512i v = _mm512_loadu_si512(source[b] + t);
            const __m512 low = _mm512_permutexvar_ps(v, table);
            const __m512 high = _mm512_cvtepi32_ps(_mm512_and_si512(v, high_nibbles));
            even[b] = _mm512_fmadd_ps(low, x_low, even[b]);
            odd[b] = _mm512_fmadd_ps(high, x_high, odd[b]);
          }
        }
      }
      for (int b = 0; b < NB; b++) odd[b] = _mm512_mul_ps(odd[b], _mm512_set1_ps(0.0625f));
    } else {
      for (int64_t l = 0; l < lines_per_group; l++) {
        const float *xl = xg + 4 * l;
        qmm_gemv_prefetch_lines(w, p0, first + l, NB);
        __m512i line[4];
        for (int b = 0; b < NB; b++) line[b] = _mm512_loadu_si512(panel[b] + (first + l) * 64);
        for (int t = 0; t < 4; t++) {
          const __m512 xt = _mm512_set1_ps(xl[t]);
          for (int b = 0; b < NB; b++) {
            const __m512 q = zmm_w8_column(line[b], t);
            if (t & 1) odd[b] = _mm512_fmadd_ps(q, xt, odd[b]);
            else even[b] = _mm512_fmadd_ps(q, xt, even[b]);
          }
        }
      }
    }
    const __m512 sum = _mm512_set1_ps(sums[g]);
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      const __m512 qx = _mm512_add_ps(even[b], odd[b]);
      if (w->zero_point) {
        y[b] = _mm512_fmadd_ps(_mm512_fnmadd_ps(o, sum, qx), s, y[b]);
      } else {
        y[b] = _mm512_fmadd_ps(o, sum, _mm512_fmadd_ps(qx, s, y[b]));
      }
    }
  }
  for (int b = 0; b < NB; b++) zmm_store(w, out, i, p0 + b, y[b]);
}

// MARK: - Weight-only, a few rows

/// R activation rows (1…4) from i0 × NB panels (1…2) from p0: `zmm_gemv_float`'s decode
/// (byte-offset loads; low nibbles through vpermps, high ones masked and converted) done once
/// per line and shared by the R rows, each code vector multiplied into R accumulators. For
/// small batches (`zmm_few_rows`), where dequantizing a panel into a tile for the 6 × 32
/// micro-kernel cost more than the products (2 × 4096 × 4096, INT4 g64: 2.2 ms against 0.49
/// ms for one row). One panel per pass (two ran slower: 24 accumulators leave too few
/// registers). Sums Σq·x per group like the batch-1 kernel (see its overflow note).
QMM_ALWAYS_INLINE void zmm_gemv_rows_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                           const arrowhead_qmm_output *out, int64_t i0, int64_t p0, const int R,
                                           const int NB) {
  const __m512 table = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i high_nibbles = _mm512_set1_epi32(0xF0);
  const int64_t lines_per_group = w->group_columns / (w->container_bits == 4 ? 8 : 4);
  const uint8_t *end = w->codes + (w->rows + 15) / 16 * w->panel_bytes;
  _Alignas(64) uint8_t last_line[128] = {0};
  const float *rows[4], *sums[4];
  for (int r = 0; r < R; r++) {
    rows[r] = x->values + (i0 + r) * x->stride;
    sums[r] = x->sums + (i0 + r) * w->groups;
  }
  const uint8_t *panel[2];
  for (int b = 0; b < NB; b++) panel[b] = w->codes + (p0 + b) * w->panel_bytes;
  __m512 y[4][2];
  for (int r = 0; r < R; r++) y[r][0] = y[r][1] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w->groups; g++) {
    __m512 low_sum[4][2], high_sum[4][2];
    for (int r = 0; r < R; r++) {
      for (int b = 0; b < NB; b++) low_sum[r][b] = high_sum[r][b] = _mm512_setzero_ps();
    }
    const int64_t first = g * lines_per_group, column = g * w->group_columns;
    if (w->container_bits == 4) {
      for (int64_t l = 0; l < lines_per_group; l++) {
        const uint8_t *source[2];
        for (int b = 0; b < NB; b++) source[b] = zmm_readable_line(panel[b] + (first + l) * 64, b == NB - 1, end, last_line);
        const int64_t c = column + 8 * l;
        for (int t = 0; t < 4; t++) {
          for (int b = 0; b < NB; b++) {
            const __m512i v = _mm512_loadu_si512(source[b] + t);
            const __m512 low = _mm512_permutexvar_ps(v, table);
            for (int r = 0; r < R; r++) low_sum[r][b] = _mm512_fmadd_ps(low, _mm512_set1_ps(rows[r][c + t]), low_sum[r][b]);
            const __m512 high = _mm512_cvtepi32_ps(_mm512_and_si512(v, high_nibbles));
            for (int r = 0; r < R; r++) {
              high_sum[r][b] = _mm512_fmadd_ps(high, _mm512_set1_ps(rows[r][c + t + 4]), high_sum[r][b]);
            }
          }
        }
      }
      for (int r = 0; r < R; r++) {
        for (int b = 0; b < NB; b++) high_sum[r][b] = _mm512_mul_ps(high_sum[r][b], _mm512_set1_ps(0.0625f));
      }
    } else {
      for (int64_t l = 0; l < lines_per_group; l++) {
        const int64_t c = column + 4 * l;
        for (int b = 0; b < NB; b++) {
          const __m512i line = _mm512_loadu_si512(panel[b] + (first + l) * 64);
          for (int t = 0; t < 4; t++) {
            const __m512 q = zmm_w8_column(line, t);
            for (int r = 0; r < R; r++) {
              if (t & 1) high_sum[r][b] = _mm512_fmadd_ps(q, _mm512_set1_ps(rows[r][c + t]), high_sum[r][b]);
              else low_sum[r][b] = _mm512_fmadd_ps(q, _mm512_set1_ps(rows[r][c + t]), low_sum[r][b]);
            }
          }
        }
      }
    }
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      for (int r = 0; r < R; r++) {
        const __m512 sum = _mm512_set1_ps(sums[r][g]), qx = _mm512_add_ps(low_sum[r][b], high_sum[r][b]);
        if (w->zero_point) {
          y[r][b] = _mm512_fmadd_ps(_mm512_fnmadd_ps(o, sum, qx), s, y[r][b]);
        } else {
          y[r][b] = _mm512_fmadd_ps(o, sum, _mm512_fmadd_ps(qx, s, y[r][b]));
        }
      }
    }
  }
  for (int r = 0; r < R; r++) {
    for (int b = 0; b < NB; b++) zmm_store(w, out, i0 + r, p0 + b, y[r][b]);
  }
}

/// R rows from i0 over panels [panel_begin, panel_end), two panels per pass.
QMM_ALWAYS_INLINE void zmm_few_rows_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                          const arrowhead_qmm_output *out, int64_t i0, int64_t panel_begin,
                                          int64_t panel_end, const int R) {
  for (int64_t p = panel_begin; p < panel_end; p++) zmm_gemv_rows_float(w, x, out, i0, p, R, 1);
}

// MARK: - Weight-only, M > 1

/// Dequantizes groups [g0, g1) of panel p into tile[j·32 + half·16 + r], j counted from
/// the first column of g0.
static void zmm_dequantize_panel(const arrowhead_qmm_weights *w, int64_t p, int64_t g0, int64_t g1, float *tile,
                                 int half) {
  const __m512 table = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  for (int64_t g = g0; g < g1; g++) {
    const int64_t index = (p * w->groups + g) * 16;
    const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
    for (int64_t l = 0; l < lines_per_group; l++) {
      const __m512i line = _mm512_loadu_si512(panel + (g * lines_per_group + l) * 64);
      float *column = tile + (((g - g0) * lines_per_group + l) * columns_per_line) * 32 + half * 16;
      if (columns_per_line == 8) {
        for (int c = 0; c < 8; c++) {
          _mm512_store_ps(column + c * 32, zmm_dequantize(zmm_w4_column(line, c, table), s, o, w->zero_point));
        }
      } else {
        for (int t = 0; t < 4; t++) {
          _mm512_store_ps(column + t * 32, zmm_dequantize(zmm_w8_column(line, t), s, o, w->zero_point));
        }
      }
    }
  }
}

/// MR rows × NP·16 outputs over the tile's `columns` columns (from column `first_column`).
QMM_ALWAYS_INLINE void zmm_tile_kernel(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                       const arrowhead_qmm_output *out, const float *tile, int64_t i0, int64_t p,
                                       int64_t first_column, int64_t columns, int first, int last, const int MR,
                                       const int NP) {
  __m512 acc[6][2];
  const float *rows[6];
  for (int r = 0; r < MR; r++) {
    rows[r] = x->values + (i0 + r) * x->stride + first_column;
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < columns; j++) {
    const __m512 b0 = _mm512_load_ps(tile + j * 32);
    const __m512 b1 = NP == 2 ? _mm512_load_ps(tile + j * 32 + 16) : b0;
    for (int r = 0; r < MR; r++) {
      const __m512 a = _mm512_set1_ps(rows[r][j]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      if (NP == 2) acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; r++) {
    zmm_accumulate(w, out, i0 + r, p, acc[r][0], first, last);
    if (NP == 2) zmm_accumulate(w, out, i0 + r, p + 1, acc[r][1], first, last);
  }
}

QMM_ALWAYS_INLINE void zmm_tile_rows(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                     const arrowhead_qmm_output *out, const float *tile, int64_t p, int64_t first_column,
                                     int64_t columns, int first, int last, const int NP) {
  for (int64_t i = 0, height; i < x->rows; i += height) {
    height = zmm_tile_height(x->rows, i, 6);
    switch (height) {
      case 6: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 6, NP); break;
      case 5: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 5, NP); break;
      case 4: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 4, NP); break;
      case 3: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 3, NP); break;
      case 2: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 2, NP); break;
      default: zmm_tile_kernel(w, x, out, tile, i, p, first_column, columns, first, last, 1, NP); break;
    }
  }
}

void arrowhead_qmm_weight_only_avx512(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                      const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                      void *scratch) {
  if (x->rows == 1) {
    int64_t p = panel_begin;
    for (; p + 4 <= panel_end; p += 4) zmm_gemv_float(w, x, out, 0, p, 4);
    for (; p < panel_end; p++) zmm_gemv_float(w, x, out, 0, p, 1);
    return;
  }
  if (zmm_few_rows(w, x->rows)) {
#define ZMM_FEW_ROWS_FLOAT(i, R) zmm_few_rows_float(w, x, out, i, panel_begin, panel_end, R)
    QMM_FOR_ROW_BLOCKS(x->rows, ZMM_FEW_ROWS_FLOAT);
#undef ZMM_FEW_ROWS_FLOAT
    return;
  }
  // Depth blocks of about 4096 columns: a panel pair's dequantized block (≤ 512 KiB) stays in
  // L2 while every row block streams over it (measured: blocks of 128–512 columns, in L1,
  // cost more in partial-sum loads and stores than they save).
  float *tile = (float *)zmm_aligned(scratch);
  const int64_t block = w->group_columns >= 4096 ? 1 : 4096 / w->group_columns;
  for (int64_t p = panel_begin; p < panel_end; p += 2) {
    const int NP = p + 2 <= panel_end ? 2 : 1;
    for (int64_t g0 = 0; g0 < w->groups; g0 += block) {
      const int64_t g1 = g0 + block < w->groups ? g0 + block : w->groups;
      for (int n = 0; n < NP; n++) zmm_dequantize_panel(w, p + n, g0, g1, tile, n);
      const int64_t first_column = g0 * w->group_columns, columns = (g1 - g0) * w->group_columns;
      if (NP == 2) zmm_tile_rows(w, x, out, tile, p, first_column, columns, g0 == 0, g1 == w->groups, 2);
      else zmm_tile_rows(w, x, out, tile, p, first_column, columns, g0 == 0, g1 == w->groups, 1);
    }
  }
}

// MARK: - Int8 activations (AVX-512 F/BW)

/// max |x| over `length` values on the bit patterns (see group_maximum in qmatmul_portable.c):
/// ≥ 0x7F800000 means a NaN or ±∞ is present.
QMM_ALWAYS_INLINE uint32_t zmm_group_maximum_bits(const float *values, int64_t length) {
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i largest = _mm512_setzero_si512();
  for (int64_t u = 0; u < length; u += 16) {
    const __mmask16 mask = length - u >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (length - u)) - 1);
    largest = _mm512_max_epu32(largest, _mm512_and_si512(_mm512_maskz_loadu_epi32(mask, values + u), magnitude));
  }
  return (uint32_t)_mm512_reduce_max_epu32(largest);
}

/// 64 int32 codes in −127…127 (q0: columns 0–15, … q3: 48–63) → 64 bytes in column order.
/// vpackssdw / vpacksswb interleave per 128-bit lane (lane l holds q0…q3[4l…4l+3]); one
/// vpermd puts the dwords back in order.
QMM_ALWAYS_INLINE __m512i zmm_pack_codes(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(order, _mm512_packs_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3)));
}

/// The first digit of 16 values: a = clamp(round_half_even(v), ±127) (vcvtps2dq rounds to
/// nearest even in the default MXCSR mode, like the rule).
QMM_ALWAYS_INLINE __m512i zmm_digit(__m512 v) {
  const __m512i low = _mm512_set1_epi32(-127), high = _mm512_set1_epi32(127);
  return _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), low), high);
}

/// Quantizes `length` values of a finite, non-zero group with reciprocal r: codes into
/// `slot` (and, with `low` non-NULL, the second digits b = clamp(rne((v − a)·254), ±127) into
/// `low`); returns Σa (and Σb in *low_sum). 64 values per step with one 64-byte store each,
/// then 16 at a time with masked stores.
QMM_ALWAYS_INLINE int32_t zmm_quantize_group(const float *values, int64_t length, float reciprocal, int8_t *slot,
                                             int8_t *low, int32_t *low_sum) {
  const __m512 r = _mm512_set1_ps(reciprocal), radix = _mm512_set1_ps(254.0f);
  __m512i total = _mm512_setzero_si512(), low_total = _mm512_setzero_si512();
  int64_t u = 0;
  for (; u + 64 <= length; u += 64) {
    __m512i a[4], b[4];
    for (int c = 0; c < 4; c++) {
      const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(values + u + 16 * c), r);
      a[c] = zmm_digit(v);
      total = _mm512_add_epi32(total, a[c]);
      if (low) {
        b[c] = zmm_digit(_mm512_mul_ps(_mm512_sub_ps(v, _mm512_cvtepi32_ps(a[c])), radix));
        low_total = _mm512_add_epi32(low_total, b[c]);
      }
    }
    _mm512_storeu_si512(slot + u, zmm_pack_codes(a[0], a[1], a[2], a[3]));
    if (low) _mm512_storeu_si512(low + u, zmm_pack_codes(b[0], b[1], b[2], b[3]));
  }
  for (; u < length; u += 16) {
    const __mmask16 mask = length - u >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (length - u)) - 1);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, values + u), r);
    const __m512i a = zmm_digit(v);
    _mm512_mask_cvtsepi32_storeu_epi8(slot + u, mask, a);
    total = _mm512_add_epi32(total, a);
    if (low) {
      const __m512i b = zmm_digit(_mm512_mul_ps(_mm512_sub_ps(v, _mm512_cvtepi32_ps(a)), radix));
      _mm512_mask_cvtsepi32_storeu_epi8(low + u, mask, b);
      low_total = _mm512_add_epi32(low_total, b);
    }
  }
  if (low) *low_sum = _mm512_reduce_add_epi32(low_total);
  return _mm512_reduce_add_epi32(total);
}

/// One row-group loop for both rules (`low` NULL: int8).
QMM_ALWAYS_INLINE void zmm_prepare(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                   int64_t groups, int64_t group_columns, int8_t *codes, int8_t *low, float *scales,
                                   float *low_scales, float *sums, float *low_sums) {
  const int64_t stride = groups * group_columns;
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t g = 0; g < groups; g++) {
      const int64_t start = g * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      const float *values = x + i * ldx + start;
      int8_t *slot = codes + i * stride + g * group_columns;
      int8_t *low_slot = low ? low + i * stride + g * group_columns : NULL;
      const int64_t index = i * groups + g;
      const uint32_t bits = zmm_group_maximum_bits(values, length);
      float maximum;
      memcpy(&maximum, &bits, 4);
      if (bits >= 0x7F800000u || !(maximum >= 0x1p-100f)) {
        memset(slot, 0, (size_t)group_columns);
        scales[index] = bits >= 0x7F800000u ? __builtin_nanf("") : 0;
        sums[index] = 0;
        if (low) {
          memset(low_slot, 0, (size_t)group_columns);
          low_scales[index] = scales[index];
          low_sums[index] = 0;
        }
        continue;
      }
      int32_t low_sum = 0;
      sums[index] = (float)zmm_quantize_group(values, length, 127.0f / maximum, slot, low_slot, &low_sum);
      if (length < group_columns) {
        memset(slot + length, 0, (size_t)(group_columns - length));
        if (low) memset(low_slot + length, 0, (size_t)(group_columns - length));
      }
      scales[index] = maximum / 127.0f;
      if (low) {
        low_scales[index] = scales[index] / 254.0f;
        low_sums[index] = (float)low_sum;
      }
    }
  }
}

/// Lane j of the result = the unsigned maximum (add = 0) or the sum (add = 1) of the 16
/// lanes of v[j]: 16 horizontal reductions in four levels of shuffle + max/add (46
/// instructions, where `_mm512_reduce_*` takes about 8 per vector and a longer chain).
QMM_ALWAYS_INLINE __m512i zmm_reduce16(const __m512i v[16], int add) {
#define QMM_COMBINE(a, b) (add ? _mm512_add_epi32((a), (b)) : _mm512_max_epu32((a), (b)))
  __m512i c[8], e[4], g[2];
  // 512 → 256 bits: c[k] = [v[2k] folded to 8 lanes, v[2k + 1] folded to 8 lanes].
  for (int k = 0; k < 8; k++) {
    c[k] = QMM_COMBINE(_mm512_shuffle_i64x2(v[2 * k], v[2 * k + 1], 0x44), _mm512_shuffle_i64x2(v[2 * k], v[2 * k + 1], 0xEE));
  }
  // 256 → 128: the 128-bit lanes of e[k] are v[4k … 4k + 3], each folded to 4 lanes.
  for (int k = 0; k < 4; k++) {
    e[k] = QMM_COMBINE(_mm512_shuffle_i32x4(c[2 * k], c[2 * k + 1], 0x88), _mm512_shuffle_i32x4(c[2 * k], c[2 * k + 1], 0xDD));
  }
  // 128 → 64: in each 128-bit lane L, g[k] = [e[2k] lane L folded to 2, e[2k + 1] lane L folded to 2].
  for (int k = 0; k < 2; k++) {
    g[k] = QMM_COMBINE(_mm512_unpacklo_epi64(e[2 * k], e[2 * k + 1]), _mm512_unpackhi_epi64(e[2 * k], e[2 * k + 1]));
  }
  // 64 → 32: lane 4L + m now holds vector 4m + L; one permutation puts vector j in lane j.
  const __m512 g0 = _mm512_castsi512_ps(g[0]), g1 = _mm512_castsi512_ps(g[1]);
  const __m512i r = QMM_COMBINE(_mm512_castps_si512(_mm512_shuffle_ps(g0, g1, 0x88)),
                                _mm512_castps_si512(_mm512_shuffle_ps(g0, g1, 0xDD)));
#undef QMM_COMBINE
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/// `zmm_prepare` for int8 activations, 16 (row, group) pairs at a time (their scales and
/// sums are consecutive: pair j = row·groups + group). The 16 maxima and the 16 Σa are
/// reduced together (`zmm_reduce16`) and the reciprocals and scales come from one vector
/// division each, so no per-group chain of reduction → division → conversion → reduction
/// limits the loop (the one-group-at-a-time loop took about 13 cycles per 16 values, most
/// of it that chain). Same operations per value and correctly rounded divisions: the same
/// codes, scales and sums as `zmm_prepare` and the portable rule.
QMM_ALWAYS_INLINE void zmm_prepare_int8_batched(const float *x, int64_t ldx, int64_t rows, int64_t columns,
                                                int64_t group_size, int64_t groups, int64_t group_columns,
                                                int8_t *codes, float *scales, float *sums) {
  const int64_t stride = groups * group_columns, pairs = rows * groups;
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
  int64_t row = 0, group = 0;  // of pair j0 (advanced without divisions)
  for (int64_t j0 = 0; j0 < pairs; j0 += 16) {
    const int count = pairs - j0 < 16 ? (int)(pairs - j0) : 16;
    const float *values[16];
    int64_t lengths[16];
    int8_t *slots[16];
    __m512i v[16];
    for (int b = 0; b < 16; b++) v[b] = _mm512_setzero_si512();
    for (int b = 0; b < count; b++) {
      const int64_t start = group * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      const float *in = x + row * ldx + start;
      values[b] = in;
      lengths[b] = length;
      slots[b] = codes + row * stride + group * group_columns;
      int64_t u = 0;
      for (; u + 16 <= length; u += 16) v[b] = _mm512_max_epu32(v[b], _mm512_and_si512(_mm512_loadu_si512(in + u), magnitude));
      if (u < length) {
        const __mmask16 mask = (__mmask16)((1u << (length - u)) - 1);
        v[b] = _mm512_max_epu32(v[b], _mm512_and_si512(_mm512_maskz_loadu_epi32(mask, in + u), magnitude));
      }
      if (++group == groups) {
        group = 0;
        row += 1;
      }
    }
    const __m512i bits = zmm_reduce16(v, 0);
    const __m512 maximum = _mm512_castsi512_ps(bits);
    // A NaN or ±∞ in the group (bits ≥ 0x7F800000): scale NaN; a zero group (max < 2⁻¹⁰⁰):
    // scale 0; both: codes 0, sum 0.
    const __mmask16 non_finite = _mm512_cmp_epu32_mask(bits, _mm512_set1_epi32(0x7F800000), _MM_CMPINT_NLT);
    const __mmask16 tiny = (__mmask16)(~non_finite & _mm512_cmp_ps_mask(maximum, _mm512_set1_ps(0x1p-100f), _CMP_NGE_UQ));
    const unsigned special = (unsigned)(non_finite | tiny);
    float reciprocal[16];
    _mm512_storeu_ps(reciprocal, _mm512_div_ps(_mm512_set1_ps(127.0f), maximum));
    __m512 t = _mm512_div_ps(maximum, _mm512_set1_ps(127.0f));
    t = _mm512_mask_mov_ps(t, non_finite, _mm512_set1_ps(__builtin_nanf("")));
    t = _mm512_mask_mov_ps(t, tiny, _mm512_setzero_ps());
    const __mmask16 live = (__mmask16)(count == 16 ? 0xFFFF : (1u << count) - 1);
    _mm512_mask_storeu_ps(scales + j0, live, t);
    for (int b = 0; b < 16; b++) v[b] = _mm512_setzero_si512();
    for (int b = 0; b < count; b++) {
      int8_t *slot = slots[b];
      if ((special >> b) & 1) {
        memset(slot, 0, (size_t)group_columns);
        continue;
      }
      const __m512 r = _mm512_set1_ps(reciprocal[b]);
      const float *in = values[b];
      const int64_t length = lengths[b];
      int64_t u = 0;
      for (; u + 64 <= length; u += 64) {
        __m512i a[4];
        for (int c = 0; c < 4; c++) {
          a[c] = zmm_digit(_mm512_mul_ps(_mm512_loadu_ps(in + u + 16 * c), r));
          v[b] = _mm512_add_epi32(v[b], a[c]);
        }
        _mm512_storeu_si512(slot + u, zmm_pack_codes(a[0], a[1], a[2], a[3]));
      }
      for (; u < length; u += 16) {
        const __mmask16 mask = length - u >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (length - u)) - 1);
        const __m512i a = zmm_digit(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, in + u), r));
        _mm512_mask_cvtsepi32_storeu_epi8(slot + u, mask, a);
        v[b] = _mm512_add_epi32(v[b], a);
      }
      if (length < group_columns) memset(slot + length, 0, (size_t)(group_columns - length));
    }
    _mm512_mask_storeu_ps(sums + j0, live, _mm512_cvtepi32_ps(zmm_reduce16(v, 1)));
  }
}

void arrowhead_qmm_prepare_int8_avx512(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                       int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums) {
  // A handful of groups (a short gemv row) does not fill a batch of 16.
  if (rows * groups < 8) {
    zmm_prepare(x, ldx, rows, columns, group_size, groups, group_columns, codes, NULL, scales, NULL, sums, NULL);
  } else {
    zmm_prepare_int8_batched(x, ldx, rows, columns, group_size, groups, group_columns, codes, scales, sums);
  }
}

void arrowhead_qmm_prepare_int16_avx512(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                        int64_t groups, int64_t group_columns, int8_t *high, int8_t *low, float *scales,
                                        float *low_scales, float *sums, float *low_sums) {
  zmm_prepare(x, ldx, rows, columns, group_size, groups, group_columns, high, low, scales, low_scales, sums, low_sums);
}

#pragma clang attribute pop

// MARK: - Int8 (AVX512-VNNI)

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2"))), apply_to = function)


QMM_ALWAYS_INLINE __m512i zmm_broadcast_quad(const int8_t *a) {
  int32_t quad;
  memcpy(&quad, a, 4);
  return _mm512_set1_epi32(quad);
}

/// NB panels from p0, one activation row (streams the packed codes once).
QMM_ALWAYS_INLINE void zmm_gemv_int8(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                     const arrowhead_qmm_output *out, int64_t i, int64_t p0, const int NB) {
  const int8_t *row = x->codes + i * x->stride;
  const float *scales = x->scales + i * w->groups, *sums = x->sums + i * w->groups;
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const int64_t lines_per_group = w->group_columns / (w->container_bits == 4 ? 8 : 4);
  const uint8_t *panel[4];
  __m512 y[4];
  for (int b = 0; b < NB; b++) {
    panel[b] = w->codes + (p0 + b) * w->panel_bytes;
    y[b] = _mm512_setzero_ps();
  }
  for (int64_t g = 0; g < w->groups; g++) {
    __m512i even[4], odd[4];
    for (int b = 0; b < NB; b++) even[b] = odd[b] = _mm512_setzero_si512();
    const int8_t *ag = row + g * w->group_columns;
    const int64_t first = g * lines_per_group;
    if (w->container_bits == 4) {
      for (int64_t l = 0; l < lines_per_group; l++) {
        const __m512i low = zmm_broadcast_quad(ag + 8 * l), high = zmm_broadcast_quad(ag + 8 * l + 4);
        for (int b = 0; b < NB; b++) {
          const __m512i line = _mm512_loadu_si512(panel[b] + (first + l) * 64);
          even[b] = _mm512_dpbusd_epi32(even[b], _mm512_and_si512(line, nibbles), low);
          odd[b] = _mm512_dpbusd_epi32(odd[b], _mm512_and_si512(_mm512_srli_epi16(line, 4), nibbles), high);
        }
      }
    } else {
      int64_t l = 0;
      for (; l + 2 <= lines_per_group; l += 2) {
        const __m512i a0 = zmm_broadcast_quad(ag + 4 * l), a1 = zmm_broadcast_quad(ag + 4 * l + 4);
        for (int b = 0; b < NB; b++) {
          even[b] = _mm512_dpbusd_epi32(even[b], _mm512_loadu_si512(panel[b] + (first + l) * 64), a0);
          odd[b] = _mm512_dpbusd_epi32(odd[b], _mm512_loadu_si512(panel[b] + (first + l + 1) * 64), a1);
        }
      }
    }
    const __m512 t = _mm512_set1_ps(scales[g]), sum = _mm512_set1_ps(sums[g]);
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      y[b] = zmm_rescale(_mm512_add_epi32(even[b], odd[b]), _mm512_loadu_ps(w->scales + index),
                         _mm512_loadu_ps(w->offsets + index), sum, t, y[b], w->zero_point);
    }
  }
  for (int b = 0; b < NB; b++) zmm_store(w, out, i, p0 + b, y[b]);
}

/// R activation rows (1…4) from i0 × NB panels (1…2) from p0, 4-bit codes: each line's nibbles
/// split once in registers (vpand, vpsrlw) and multiplied into R rows' sums (16 integer and 8
/// float accumulators). Unpacking every panel into 8-bit lines for the 6-row tile kernel cost
/// more at every M measured: 2 × 4096 × 4096 W4A8 took 0.54 ms against 0.17 ms for one row,
/// and 5–12 % more at M = 64 … 512 (Quant README).
QMM_ALWAYS_INLINE void zmm_gemv_rows_int8(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                          const arrowhead_qmm_output *out, int64_t i0, int64_t p0, const int R,
                                          const int NB) {
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const int64_t lines_per_group = w->group_columns / 8;
  const int8_t *rows[4];
  for (int r = 0; r < R; r++) rows[r] = x->codes + (i0 + r) * x->stride;
  const uint8_t *panel[2];
  __m512 y[4][2];
  for (int b = 0; b < NB; b++) panel[b] = w->codes + (p0 + b) * w->panel_bytes;
  for (int r = 0; r < R; r++) y[r][0] = y[r][1] = _mm512_setzero_ps();
  for (int64_t g = 0; g < w->groups; g++) {
    __m512i even[4][2], odd[4][2];
    for (int r = 0; r < R; r++) {
      for (int b = 0; b < NB; b++) even[r][b] = odd[r][b] = _mm512_setzero_si512();
    }
    const int64_t first = g * lines_per_group, column = g * w->group_columns;
    for (int64_t l = 0; l < lines_per_group; l++) {
      for (int b = 0; b < NB; b++) {
        const __m512i line = _mm512_loadu_si512(panel[b] + (first + l) * 64);
        const __m512i low = _mm512_and_si512(line, nibbles), high = _mm512_and_si512(_mm512_srli_epi16(line, 4), nibbles);
        for (int r = 0; r < R; r++) {
          even[r][b] = _mm512_dpbusd_epi32(even[r][b], low, zmm_broadcast_quad(rows[r] + column + 8 * l));
          odd[r][b] = _mm512_dpbusd_epi32(odd[r][b], high, zmm_broadcast_quad(rows[r] + column + 8 * l + 4));
        }
      }
    }
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      for (int r = 0; r < R; r++) {
        const int64_t at = (i0 + r) * w->groups + g;
        y[r][b] = zmm_rescale(_mm512_add_epi32(even[r][b], odd[r][b]), s, o, _mm512_set1_ps(x->sums[at]),
                              _mm512_set1_ps(x->scales[at]), y[r][b], w->zero_point);
      }
    }
  }
  for (int r = 0; r < R; r++) {
    for (int b = 0; b < NB; b++) zmm_store(w, out, i0 + r, p0 + b, y[r][b]);
  }
}

/// R rows from i0 over panels [panel_begin, panel_end), two panels per pass.
QMM_ALWAYS_INLINE void zmm_few_rows_int8(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                         const arrowhead_qmm_output *out, int64_t i0, int64_t panel_begin,
                                         int64_t panel_end, const int R) {
  int64_t p = panel_begin;
  for (; p + 2 <= panel_end; p += 2) zmm_gemv_rows_int8(w, x, out, i0, p, R, 2);
  if (p < panel_end) zmm_gemv_rows_int8(w, x, out, i0, p, R, 1);
}

/// The 8-bit lines of panels p … p + NP − 1: 8-bit codes in place; 4-bit panels unpacked
/// into the scratch tile first (once per panel, for every row).
QMM_ALWAYS_INLINE void zmm_panel_lines(const arrowhead_qmm_weights *w, int64_t p, int NP, void *scratch,
                                       const uint8_t **lines) {
  uint8_t *tile = (uint8_t *)zmm_aligned(scratch);
  const int64_t unpacked_bytes = w->groups * w->group_columns * 16;
  for (int n = 0; n < NP; n++) {
    if (w->container_bits == 8) {
      lines[n] = w->codes + (p + n) * w->panel_bytes;
    } else {
      zmm_unpack_panel(w, p + n, tile + n * unpacked_bytes);
      lines[n] = tile + n * unpacked_bytes;
    }
  }
}

/// MR rows × NP panels (8-bit lines at `lines[0]`, `lines[1]`), groups [g0, g1).
QMM_ALWAYS_INLINE void zmm_int8_kernel(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                       const arrowhead_qmm_output *out, const uint8_t *const *lines, int64_t i0,
                                       int64_t p, int64_t g0, int64_t g1, const int MR, const int NP) {
  const int64_t quads = w->group_columns / 4;
  __m512 y[6][2];
  const int8_t *rows[6];
  for (int r = 0; r < MR; r++) {
    rows[r] = x->codes + (i0 + r) * x->stride;
    y[r][0] = y[r][1] = _mm512_setzero_ps();
  }
  for (int64_t g = g0; g < g1; g++) {
    __m512i acc[6][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    const uint8_t *line0 = lines[0] + g * quads * 64, *line1 = NP == 2 ? lines[1] + g * quads * 64 : line0;
    const int64_t column = g * w->group_columns;
    for (int64_t q = 0; q < quads; q++) {
      const __m512i b0 = _mm512_loadu_si512(line0 + q * 64);
      const __m512i b1 = NP == 2 ? _mm512_loadu_si512(line1 + q * 64) : b0;
      for (int r = 0; r < MR; r++) {
        const __m512i a = zmm_broadcast_quad(rows[r] + column + 4 * q);
        acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], b0, a);
        if (NP == 2) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], b1, a);
      }
    }
    for (int n = 0; n < NP; n++) {
      const int64_t index = ((p + n) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      for (int r = 0; r < MR; r++) {
        const int64_t at = (i0 + r) * w->groups + g;
        y[r][n] = zmm_rescale(acc[r][n], s, o, _mm512_set1_ps(x->sums[at]), _mm512_set1_ps(x->scales[at]), y[r][n],
                              w->zero_point);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    for (int n = 0; n < NP; n++) zmm_accumulate(w, out, i0 + r, p + n, y[r][n], g0 == 0, g1 == w->groups);
  }
}

/// Every activation row × NP panels, in depth blocks of about 512 columns so that the
/// panels' block of codes (≤ 32 KiB) stays in L1 while every row block passes over it.
QMM_ALWAYS_INLINE void zmm_int8_rows(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                     const arrowhead_qmm_output *out, const uint8_t *const *lines, int64_t p,
                                     const int NP) {
  const int64_t block = w->group_columns >= 512 ? 1 : 512 / w->group_columns;
  for (int64_t g0 = 0; g0 < w->groups; g0 += block) {
    const int64_t g1 = g0 + block < w->groups ? g0 + block : w->groups;
    for (int64_t i = 0, height; i < x->rows; i += height) {
      height = zmm_tile_height(x->rows, i, 6);
      switch (height) {
        case 6: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 6, NP); break;
        case 5: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 5, NP); break;
        case 4: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 4, NP); break;
        case 3: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 3, NP); break;
        case 2: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 2, NP); break;
        default: zmm_int8_kernel(w, x, out, lines, i, p, g0, g1, 1, NP); break;
      }
    }
  }
}

void arrowhead_qmm_int8_avx512vnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                   const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                   void *scratch) {
  if (x->rows == 1) {
    int64_t p = panel_begin;
    for (; p + 4 <= panel_end; p += 4) zmm_gemv_int8(w, x, out, 0, p, 4);
    for (; p < panel_end; p++) zmm_gemv_int8(w, x, out, 0, p, 1);
    return;
  }
  if (w->container_bits == 4) {
    // Nibbles split in registers for up to 4 rows at a time: faster than unpacking each panel
    // into 8-bit lines for the 6-row tile kernel at every M measured (2 … 512; Quant README).
#define ZMM_FEW_ROWS_INT8(i, R) zmm_few_rows_int8(w, x, out, i, panel_begin, panel_end, R)
    QMM_FOR_ROW_BLOCKS(x->rows, ZMM_FEW_ROWS_INT8);
#undef ZMM_FEW_ROWS_INT8
    return;
  }
  int64_t p = panel_begin;
  for (; p < panel_end; p += 2) {
    const int NP = p + 2 <= panel_end ? 2 : 1;
    const uint8_t *lines[2];
    zmm_panel_lines(w, p, NP, scratch, lines);
    if (NP == 2) zmm_int8_rows(w, x, out, lines, p, 2);
    else zmm_int8_rows(w, x, out, lines, p, 1);
  }
}

// MARK: - Int16 activations as two int8 digits (AVX512-VNNI)

/// y + u·t for one (row, group) of the int16 kernels, with the row's digit sums `acc_a`, `acc_b`
/// and the panel's scales and offsets s, o: f = Σq·a + Σq·b/254, rescaled as in the int8
/// kernel with the group's Σa + Σb/254 (`at` = row · groups + group).
QMM_ALWAYS_INLINE __m512 zmm_int16_rescale(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                           const arrowhead_qmm_int8_rows *low, int64_t at, __m512i acc_a,
                                           __m512i acc_b, __m512 s, __m512 o, __m512 y) {
  const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc_b), _mm512_set1_ps(1.0f / 254.0f), _mm512_cvtepi32_ps(acc_a));
  const __m512 sum = _mm512_set1_ps(high->sums[at] + low->sums[at] * (1.0f / 254.0f));
  const __m512 t = _mm512_set1_ps(high->scales[at]);
  const __m512 u = w->zero_point ? _mm512_mul_ps(_mm512_fnmadd_ps(o, sum, f), s) : _mm512_fmadd_ps(f, s, _mm512_mul_ps(o, sum));
  return _mm512_fmadd_ps(u, t, y);
}

/// MR rows × NP panels, groups [g0, g1): one `vpdpbusd` per digit (a: scale t, b: t/254)
/// and the pair combined per group, f = Σq·a + Σq·b/254, then rescaled as in the int8 kernel
/// with the group's Σa + Σb/254. 4 × 2 tiles: 16 int32 accumulators + 8 float sums.
QMM_ALWAYS_INLINE void zmm_int16_kernel(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                        const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                        const uint8_t *const *lines, int64_t i0, int64_t p, int64_t g0, int64_t g1,
                                        const int MR, const int NP) {
  const int64_t quads = w->group_columns / 4;
  __m512 y[4][2];
  const int8_t *rows_a[4], *rows_b[4];
  for (int r = 0; r < MR; r++) {
    rows_a[r] = high->codes + (i0 + r) * high->stride;
    rows_b[r] = low->codes + (i0 + r) * low->stride;
    y[r][0] = y[r][1] = _mm512_setzero_ps();
  }
  for (int64_t g = g0; g < g1; g++) {
    __m512i acc_a[4][2], acc_b[4][2];
    for (int r = 0; r < MR; r++) acc_a[r][0] = acc_a[r][1] = acc_b[r][0] = acc_b[r][1] = _mm512_setzero_si512();
    const uint8_t *line0 = lines[0] + g * quads * 64, *line1 = NP == 2 ? lines[1] + g * quads * 64 : line0;
    const int64_t column = g * w->group_columns;
    for (int64_t q = 0; q < quads; q++) {
      const __m512i b0 = _mm512_loadu_si512(line0 + q * 64);
      const __m512i b1 = NP == 2 ? _mm512_loadu_si512(line1 + q * 64) : b0;
      for (int r = 0; r < MR; r++) {
        const __m512i a = zmm_broadcast_quad(rows_a[r] + column + 4 * q);
        const __m512i b = zmm_broadcast_quad(rows_b[r] + column + 4 * q);
        acc_a[r][0] = _mm512_dpbusd_epi32(acc_a[r][0], b0, a);
        acc_b[r][0] = _mm512_dpbusd_epi32(acc_b[r][0], b0, b);
        if (NP == 2) {
          acc_a[r][1] = _mm512_dpbusd_epi32(acc_a[r][1], b1, a);
          acc_b[r][1] = _mm512_dpbusd_epi32(acc_b[r][1], b1, b);
        }
      }
    }
    for (int n = 0; n < NP; n++) {
      const int64_t index = ((p + n) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      for (int r = 0; r < MR; r++) {
        y[r][n] = zmm_int16_rescale(w, high, low, (i0 + r) * w->groups + g, acc_a[r][n], acc_b[r][n], s, o, y[r][n]);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    for (int n = 0; n < NP; n++) zmm_accumulate(w, out, i0 + r, p + n, y[r][n], g0 == 0, g1 == w->groups);
  }
}

/// R activation rows (1…4) from i0 × NB panels from p0 (R·NB ≤ 8), 4-bit codes, int16 digits:
/// each line's nibbles split once in registers (vpand, vpsrlw), as `zmm_gemv_rows_int8` does,
/// and multiplied by both digits of R rows; no unpacked tile. The per-group rescale is
/// `zmm_int16_kernel`'s (`zmm_int16_rescale`).
QMM_ALWAYS_INLINE void zmm_gemv_rows_int16(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                           const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                           int64_t i0, int64_t p0, const int R, const int NB) {
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const int64_t lines_per_group = w->group_columns / 8;
  const int8_t *rows_a[4], *rows_b[4];
  const uint8_t *panel[4];
  __m512 y[4][4];
  for (int r = 0; r < R; r++) {
    rows_a[r] = high->codes + (i0 + r) * high->stride;
    rows_b[r] = low->codes + (i0 + r) * low->stride;
    for (int b = 0; b < NB; b++) y[r][b] = _mm512_setzero_ps();
  }
  for (int b = 0; b < NB; b++) panel[b] = w->codes + (p0 + b) * w->panel_bytes;
  for (int64_t g = 0; g < w->groups; g++) {
    __m512i acc_a[4][4], acc_b[4][4];
    for (int r = 0; r < R; r++) {
      for (int b = 0; b < NB; b++) acc_a[r][b] = acc_b[r][b] = _mm512_setzero_si512();
    }
    const int64_t first = g * lines_per_group, column = g * w->group_columns;
    for (int64_t l = 0; l < lines_per_group; l++) {
      for (int b = 0; b < NB; b++) {
        const __m512i line = _mm512_loadu_si512(panel[b] + (first + l) * 64);
        const __m512i lo = _mm512_and_si512(line, nibbles), hi = _mm512_and_si512(_mm512_srli_epi16(line, 4), nibbles);
        for (int r = 0; r < R; r++) {
          const int8_t *qa = rows_a[r] + column + 8 * l, *qb = rows_b[r] + column + 8 * l;
          acc_a[r][b] = _mm512_dpbusd_epi32(acc_a[r][b], lo, zmm_broadcast_quad(qa));
          acc_b[r][b] = _mm512_dpbusd_epi32(acc_b[r][b], lo, zmm_broadcast_quad(qb));
          acc_a[r][b] = _mm512_dpbusd_epi32(acc_a[r][b], hi, zmm_broadcast_quad(qa + 4));
          acc_b[r][b] = _mm512_dpbusd_epi32(acc_b[r][b], hi, zmm_broadcast_quad(qb + 4));
        }
      }
    }
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
      for (int r = 0; r < R; r++) {
        y[r][b] = zmm_int16_rescale(w, high, low, (i0 + r) * w->groups + g, acc_a[r][b], acc_b[r][b], s, o, y[r][b]);
      }
    }
  }
  for (int r = 0; r < R; r++) {
    for (int b = 0; b < NB; b++) zmm_store(w, out, i0 + r, p0 + b, y[r][b]);
  }
}

/// R rows from i0 over panels [panel_begin, panel_end): four panels per pass for one row, two
/// for more.
QMM_ALWAYS_INLINE void zmm_few_rows_int16(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                          const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                          int64_t i0, int64_t panel_begin, int64_t panel_end, const int R) {
  int64_t p = panel_begin;
  if (R == 1) {
    for (; p + 4 <= panel_end; p += 4) zmm_gemv_rows_int16(w, high, low, out, i0, p, 1, 4);
  }
  for (; p + 2 <= panel_end; p += 2) zmm_gemv_rows_int16(w, high, low, out, i0, p, R, 2);
  if (p < panel_end) zmm_gemv_rows_int16(w, high, low, out, i0, p, R, 1);
}

QMM_ALWAYS_INLINE void zmm_int16_rows(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                      const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                      const uint8_t *const *lines, int64_t p, const int NP) {
  const int64_t block = w->group_columns >= 512 ? 1 : 512 / w->group_columns;
  for (int64_t g0 = 0; g0 < w->groups; g0 += block) {
    const int64_t g1 = g0 + block < w->groups ? g0 + block : w->groups;
    for (int64_t i = 0, height; i < high->rows; i += height) {
      height = zmm_tile_height(high->rows, i, 4);
      switch (height) {
        case 4: zmm_int16_kernel(w, high, low, out, lines, i, p, g0, g1, 4, NP); break;
        case 3: zmm_int16_kernel(w, high, low, out, lines, i, p, g0, g1, 3, NP); break;
        case 2: zmm_int16_kernel(w, high, low, out, lines, i, p, g0, g1, 2, NP); break;
        default: zmm_int16_kernel(w, high, low, out, lines, i, p, g0, g1, 1, NP); break;
      }
    }
  }
}

void arrowhead_qmm_int16_avx512vnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                    const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                    int64_t panel_begin, int64_t panel_end, void *scratch) {
  if (w->container_bits == 4) {
    // Nibbles split in registers, as for int8: 2.6× faster than unpacking each panel into
    // 8-bit lines at 1 × 4096 × 4096 (0.18 against 0.47 ms on Zen 4), 1.2–1.5× at 2 … 16
    // rows, the same from 64 rows on (Quant README, "W4A16 without the unpacked tile").
#define ZMM_FEW_ROWS_INT16(i, R) zmm_few_rows_int16(w, high, low, out, i, panel_begin, panel_end, R)
    QMM_FOR_ROW_BLOCKS(high->rows, ZMM_FEW_ROWS_INT16);
#undef ZMM_FEW_ROWS_INT16
    return;
  }
  for (int64_t p = panel_begin; p < panel_end; p += 2) {
    const int NP = p + 2 <= panel_end ? 2 : 1;
    const uint8_t *lines[2];
    zmm_panel_lines(w, p, NP, scratch, lines);
    if (NP == 2) zmm_int16_rows(w, high, low, out, lines, p, 2);
    else zmm_int16_rows(w, high, low, out, lines, p, 1);
  }
}

#pragma clang attribute pop

#endif
