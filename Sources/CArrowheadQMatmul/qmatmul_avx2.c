// Quantized matmul, AVX2 + FMA (x86-64-v3: Haswell, Zen 1 and later): weight-only kernels,
// int8 kernels without VNNI, and the few-row int16 kernel on 4-bit codes.
//
// A panel's 16 rows are two YMM halves. Instructions the loops depend on:
//   weight-only, M = 1   vpand + vcvtdq2ps on lines loaded at byte offsets (4-bit), vpshufb/vpand/vpsrld +
//                        vcvtdq2ps (8-bit), vfmadd231ps with x[j] broadcast
//   weight-only, M ≤ 16  the M = 1 decode once per half-line for up to 4 rows
//   weight-only, M > 16  a panel dequantized into a tile (mul then add), 6 × 16 micro-kernel
//   int8                 vpmaddubsw (u8 × s8 → s16 pairs) + vpmaddwd by ones (→ s32). 4-bit
//                        codes (≤ 15) never saturate the 16-bit pairs, and for M > 1 the pairs
//                        of 8 quads are summed in 16 bits before one vpmaddwd (≤ 8·3 810 <
//                        2¹⁵; `ymm_int8_nibble_kernel`); 8-bit codes are used
//                        as q − 128 with |q − 128| and the activation's sign moved onto the
//                        other operand (vpabsb, vpsignb): pairs stay ≤ 2·128·127 < 2¹⁵, and
//                        128·Σa is added back per group.
//   int16, M ≤ 4, 4-bit  per row, each half-line's nibbles split once for both digits, each digit's
//                        low- and high-nibble pairs added in 16 bits (≤ 7 620), one vpmaddwd
//                        (`ymm_int16_gemv_w4`); other int16 products: two int8 products
#if defined(__x86_64__)
#include "arrowhead_qmatmul.h"
#include "qmatmul_rows.h"

#include <immintrin.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2"))), apply_to = function)

#define QMM_ALWAYS_INLINE static inline __attribute__((always_inline))

// MARK: - Weight-only

QMM_ALWAYS_INLINE __m256 ymm_w4_column(__m256i line, int c) {
  const int shift = c < 4 ? 8 * c : 8 * (c - 4) + 4;
  const __m256i shifted = shift == 0 ? line : _mm256_srli_epi32(line, shift);
  return _mm256_cvtepi32_ps(_mm256_and_si256(shifted, _mm256_set1_epi32(15)));
}

QMM_ALWAYS_INLINE __m256 ymm_w8_column(__m256i line, int t) {
  __m256i q;
  if (t == 0) {
    q = _mm256_and_si256(line, _mm256_set1_epi32(0xFF));
  } else if (t == 3) {
    q = _mm256_srli_epi32(line, 24);
  } else {
    const unsigned base = 0x80808000u | (unsigned)t;
    const __m256i selector = _mm256_setr_epi32((int)base, (int)(base + 4), (int)(base + 8), (int)(base + 12), (int)base,
                                               (int)(base + 4), (int)(base + 8), (int)(base + 12));
    q = _mm256_shuffle_epi8(line, selector);
  }
  return _mm256_cvtepi32_ps(q);
}

QMM_ALWAYS_INLINE __m256i ymm_row_mask(const arrowhead_qmm_weights *w, int64_t p, int h) {
  const int64_t count = w->rows - 16 * p - 8 * h;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count > 8 ? 8 : count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

QMM_ALWAYS_INLINE void ymm_store(const arrowhead_qmm_weights *w, const arrowhead_qmm_output *out, int64_t i, int64_t p,
                                 int h, __m256 v) {
  const int64_t first = 16 * p + 8 * h;
  if (first >= w->rows) return;
  const __m256i mask = ymm_row_mask(w, p, h);
  if (out->bias) v = _mm256_add_ps(v, _mm256_maskload_ps(out->bias + first, mask));
  _mm256_maskstore_ps(out->y + i * out->ldy + first, mask, v);
}

/// One activation row × NB panels from p0: Σ_g s·Σq·x + m·Σx (or s·(Σq·x − z·Σx)).
QMM_ALWAYS_INLINE void ymm_gemv_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                      const arrowhead_qmm_output *out, int64_t p0, const int NB) {
  const float *row = x->values;
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  __m256 y[2][2];
  for (int b = 0; b < NB; b++) y[b][0] = y[b][1] = _mm256_setzero_ps();
  const uint8_t *end = w->codes + (w->rows + 15) / 16 * w->panel_bytes;
  _Alignas(64) uint8_t last_line[128] = {0};
  for (int64_t g = 0; g < w->groups; g++) {
    __m256 acc[2][2];
    for (int b = 0; b < NB; b++) acc[b][0] = acc[b][1] = _mm256_setzero_ps();
    qmm_gemv_prefetch_scales(w, p0, g, NB);
    if (columns_per_line == 8) {
      // 4-bit lines: column t < 4 is the low nibble of byte t of each row's dword, so the
      // half-line loaded t bytes further on has it in bits 0–3; column t + 4 is its high
      // nibble, masked in place (16·q, exact) and summed apart, scaled by 1/16 at the group's
      // end. Per half-line: 8 vpand, 8 vcvtdq2ps, 8 vfmadd (no shifts; the shift-per-column
      // decode took 15 more instructions) into four independent sums instead of one chain.
      // The loads at +1…+3 read up to 3 bytes past a line: the next line's, except after the
      // buffer's last line, which is read from a padded copy.
      const __m256i low_nibbles = _mm256_set1_epi32(0x0F), high_nibbles = _mm256_set1_epi32(0xF0);
      __m256 high[2][2];
      for (int b = 0; b < NB; b++) high[b][0] = high[b][1] = _mm256_setzero_ps();
      for (int64_t l = 0; l < lines_per_group; l++) {
        const float *xl = row + g * w->group_columns + 8 * l;
        qmm_gemv_prefetch_lines(w, p0, g * lines_per_group + l, NB);
        const uint8_t *line[2];
        for (int b = 0; b < NB; b++) {
          line[b] = w->codes + (p0 + b) * w->panel_bytes + (g * lines_per_group + l) * 64;
          if (b == NB - 1 && __builtin_expect(line[b] + 64 == end, 0)) {  // only the last panel ends there
            memcpy(last_line, line[b], 64);
            line[b] = last_line;
          }
        }
        for (int t = 0; t < 4; t++) {
          const __m256 x_low = _mm256_set1_ps(xl[t]), x_high = _mm256_set1_ps(xl[t + 4]);
          for (int b = 0; b < NB; b++) {
            for (int h = 0; h < 2; h++) {
              const __m256i v = _mm256_loadu_si256((const __m256i *)(line[b] + 32 * h + t));
              acc[b][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low_nibbles)), x_low, acc[b][h]);
              high[b][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, high_nibbles)), x_high, high[b][h]);
            }
          }
        }
      }
      for (int b = 0; b < NB; b++) {
        for (int h = 0; h < 2; h++) acc[b][h] = _mm256_fmadd_ps(high[b][h], _mm256_set1_ps(0.0625f), acc[b][h]);
      }
    } else {
      for (int64_t l = 0; l < lines_per_group; l++) {
        const float *xl = row + g * w->group_columns + l * columns_per_line;
        qmm_gemv_prefetch_lines(w, p0, g * lines_per_group + l, NB);
        for (int b = 0; b < NB; b++) {
          const uint8_t *line = w->codes + (p0 + b) * w->panel_bytes + (g * lines_per_group + l) * 64;
          for (int h = 0; h < 2; h++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(line + 32 * h));
            for (int t = 0; t < 4; t++) acc[b][h] = _mm256_fmadd_ps(ymm_w8_column(v, t), _mm256_set1_ps(xl[t]), acc[b][h]);
          }
        }
      }
    }
    const __m256 sum = _mm256_set1_ps(x->sums[g]);
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      for (int h = 0; h < 2; h++) {
        const __m256 s = _mm256_loadu_ps(w->scales + index + 8 * h), o = _mm256_loadu_ps(w->offsets + index + 8 * h);
        if (w->zero_point) {
          y[b][h] = _mm256_fmadd_ps(_mm256_fnmadd_ps(o, sum, acc[b][h]), s, y[b][h]);
        } else {
          y[b][h] = _mm256_fmadd_ps(o, sum, _mm256_fmadd_ps(acc[b][h], s, y[b][h]));
        }
      }
    }
  }
  for (int b = 0; b < NB; b++) {
    ymm_store(w, out, 0, p0 + b, 0, y[b][0]);
    ymm_store(w, out, 0, p0 + b, 1, y[b][1]);
  }
}

/// Dequantizes panel p into tile[j·16 + r] (mul then add, as the quantizer's dequantize).
static void ymm_dequantize_panel(const arrowhead_qmm_weights *w, int64_t p, float *tile) {
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  for (int64_t g = 0; g < w->groups; g++) {
    const int64_t index = (p * w->groups + g) * 16;
    for (int h = 0; h < 2; h++) {
      const __m256 s = _mm256_loadu_ps(w->scales + index + 8 * h), o = _mm256_loadu_ps(w->offsets + index + 8 * h);
      for (int64_t l = 0; l < lines_per_group; l++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(panel + (g * lines_per_group + l) * 64 + 32 * h));
        float *column = tile + (g * lines_per_group + l) * columns_per_line * 16 + 8 * h;
        for (int c = 0; c < columns_per_line; c++) {
          const __m256 q = columns_per_line == 8 ? ymm_w4_column(v, c) : ymm_w8_column(v, c);
          const __m256 value = w->zero_point ? _mm256_mul_ps(_mm256_sub_ps(q, o), s) : _mm256_add_ps(_mm256_mul_ps(q, s), o);
          _mm256_store_ps(column + c * 16, value);
        }
      }
    }
  }
}

/// R activation rows (1…4) from i0 × panel p: each half-line decoded once (4-bit codes from
/// loads at byte offsets, as in `ymm_gemv_float`) and multiplied into R rows' sums, for small
/// batches (`ymm_few_rows`), where dequantizing the panel for the tile kernel cost more than
/// the products (2 × 4096 × 4096, INT4 g64 with AVX-512 disabled on a Zen 4: 2.5 ms against
/// 0.70 ms for one row). Sums Σq·x per group like the batch-1 kernel. Up to 2 rows keep the
/// low and high columns in separate sums (enough independent chains to cover FMA latency).
QMM_ALWAYS_INLINE void ymm_gemv_rows_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                           const arrowhead_qmm_output *out, int64_t i0, int64_t p, const int R) {
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  const uint8_t *end = w->codes + (w->rows + 15) / 16 * w->panel_bytes;
  _Alignas(64) uint8_t last_line[128] = {0};
  const __m256i nibble = _mm256_set1_epi32(0x0F);
  const int split = R <= 2;
  const float *rows[4], *sums[4];
  __m256 y[4][2];
  for (int r = 0; r < R; r++) {
    rows[r] = x->values + (i0 + r) * x->stride;
    sums[r] = x->sums + (i0 + r) * w->groups;
    y[r][0] = y[r][1] = _mm256_setzero_ps();
  }
  for (int64_t g = 0; g < w->groups; g++) {
    __m256 acc[4][2][2];
    for (int r = 0; r < R; r++) {
      for (int h = 0; h < 2; h++) acc[r][h][0] = acc[r][h][1] = _mm256_setzero_ps();
    }
    const int64_t column = g * w->group_columns;
    for (int64_t l = 0; l < lines_per_group; l++) {
      const uint8_t *line = panel + (g * lines_per_group + l) * 64;
      if (columns_per_line == 8) {
        if (__builtin_expect(line + 64 == end, 0)) {  // the loads at +1…+3 would pass the codes' end
          memcpy(last_line, line, 64);
          line = last_line;
        }
        const int64_t c = column + 8 * l;
        for (int t = 0; t < 4; t++) {
          for (int h = 0; h < 2; h++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(line + 32 * h + t));
            const __m256 low = _mm256_cvtepi32_ps(_mm256_and_si256(v, nibble));
            for (int r = 0; r < R; r++) acc[r][h][0] = _mm256_fmadd_ps(low, _mm256_set1_ps(rows[r][c + t]), acc[r][h][0]);
            const __m256 high = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, 4), nibble));
            for (int r = 0; r < R; r++) {
              acc[r][h][split] = _mm256_fmadd_ps(high, _mm256_set1_ps(rows[r][c + t + 4]), acc[r][h][split]);
            }
          }
        }
      } else {
        const int64_t c = column + 4 * l;
        for (int h = 0; h < 2; h++) {
          const __m256i v = _mm256_loadu_si256((const __m256i *)(line + 32 * h));
          for (int t = 0; t < 4; t++) {
            const __m256 q = ymm_w8_column(v, t);
            for (int r = 0; r < R; r++) {
              acc[r][h][split & t] = _mm256_fmadd_ps(q, _mm256_set1_ps(rows[r][c + t]), acc[r][h][split & t]);
            }
          }
        }
      }
    }
    const int64_t index = (p * w->groups + g) * 16;
    for (int h = 0; h < 2; h++) {
      const __m256 s = _mm256_loadu_ps(w->scales + index + 8 * h), o = _mm256_loadu_ps(w->offsets + index + 8 * h);
      for (int r = 0; r < R; r++) {
        const __m256 sum = _mm256_set1_ps(sums[r][g]);
        const __m256 qx = split ? _mm256_add_ps(acc[r][h][0], acc[r][h][1]) : acc[r][h][0];
        if (w->zero_point) {
          y[r][h] = _mm256_fmadd_ps(_mm256_fnmadd_ps(o, sum, qx), s, y[r][h]);
        } else {
          y[r][h] = _mm256_fmadd_ps(o, sum, _mm256_fmadd_ps(qx, s, y[r][h]));
        }
      }
    }
  }
  for (int r = 0; r < R; r++) {
    ymm_store(w, out, i0 + r, p, 0, y[r][0]);
    ymm_store(w, out, i0 + r, p, 1, y[r][1]);
  }
}

/// Whether `ymm_gemv_rows_float` runs a product of `rows` rows: up to 16, where it was faster
/// than the tile path for 4- and 8-bit codes at every M measured (Zen 4 with AVX-512 disabled,
/// 4096 × 4096 g64; Quant README).
QMM_ALWAYS_INLINE int ymm_few_rows(int64_t rows) { return rows <= 16; }

/// MR rows × 16 outputs over every column of the tile.
QMM_ALWAYS_INLINE void ymm_tile_kernel(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                       const arrowhead_qmm_output *out, const float *tile, int64_t i0, int64_t p,
                                       const int MR) {
  __m256 acc[6][2];
  const float *rows[6];
  for (int r = 0; r < MR; r++) {
    rows[r] = x->values + (i0 + r) * x->stride;
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < x->stride; j++) {
    const __m256 b0 = _mm256_load_ps(tile + j * 16), b1 = _mm256_load_ps(tile + j * 16 + 8);
    for (int r = 0; r < MR; r++) {
      const __m256 a = _mm256_broadcast_ss(rows[r] + j);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; r++) {
    ymm_store(w, out, i0 + r, p, 0, acc[r][0]);
    ymm_store(w, out, i0 + r, p, 1, acc[r][1]);
  }
}

void arrowhead_qmm_weight_only_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                    const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                    void *scratch) {
  if (x->rows == 1) {
    int64_t p = panel_begin;
    for (; p + 2 <= panel_end; p += 2) ymm_gemv_float(w, x, out, p, 2);
    if (p < panel_end) ymm_gemv_float(w, x, out, p, 1);
    return;
  }
  if (ymm_few_rows(x->rows)) {
    for (int64_t p = panel_begin; p < panel_end; p++) {
#define YMM_ROWS_FLOAT(i, R) ymm_gemv_rows_float(w, x, out, i, p, R)
      QMM_FOR_ROW_BLOCKS(x->rows, YMM_ROWS_FLOAT);
#undef YMM_ROWS_FLOAT
    }
    return;
  }
  float *tile = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  for (int64_t p = panel_begin; p < panel_end; p++) {
    ymm_dequantize_panel(w, p, tile);
    int64_t i = 0;
    for (; i + 6 <= x->rows; i += 6) ymm_tile_kernel(w, x, out, tile, i, p, 6);
    switch (x->rows - i) {
      case 5: ymm_tile_kernel(w, x, out, tile, i, p, 5); break;
      case 4: ymm_tile_kernel(w, x, out, tile, i, p, 4); break;
      case 3: ymm_tile_kernel(w, x, out, tile, i, p, 3); break;
      case 2: ymm_tile_kernel(w, x, out, tile, i, p, 2); break;
      case 1: ymm_tile_kernel(w, x, out, tile, i, p, 1); break;
      default: break;
    }
  }
}

// MARK: - Int8 activations

void arrowhead_qmm_prepare_int8_avx2(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                     int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums) {
  const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
  const __m256i low = _mm256_set1_epi32(-127), high = _mm256_set1_epi32(127);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int64_t stride = groups * group_columns;
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t g = 0; g < groups; g++) {
      const int64_t start = g * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      const float *values = x + i * ldx + start;
      int8_t *slot = codes + i * stride + g * group_columns;
      const int64_t index = i * groups + g;
      // max |x| on the bit patterns (see group_maximum in qmatmul_portable.c).
      __m256i largest = _mm256_setzero_si256();
      for (int64_t u = 0; u < length; u += 8) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(length - u > 8 ? 8 : length - u)), lanes);
        const __m256i v = _mm256_castps_si256(_mm256_maskload_ps(values + u, mask));
        largest = _mm256_max_epu32(largest, _mm256_and_si256(v, magnitude));
      }
      __m128i folded = _mm_max_epu32(_mm256_castsi256_si128(largest), _mm256_extracti128_si256(largest, 1));
      folded = _mm_max_epu32(folded, _mm_shuffle_epi32(folded, 0x4E));
      folded = _mm_max_epu32(folded, _mm_shuffle_epi32(folded, 0xB1));
      const uint32_t bits = (uint32_t)_mm_cvtsi128_si32(folded);
      float maximum;
      memcpy(&maximum, &bits, 4);
      if (bits >= 0x7F800000u || !(maximum >= 0x1p-100f)) {
        memset(slot, 0, (size_t)group_columns);
        scales[index] = bits >= 0x7F800000u ? __builtin_nanf("") : 0;
        sums[index] = 0;
        continue;
      }
      const __m256 reciprocal = _mm256_set1_ps(127.0f / maximum);
      __m256i total = _mm256_setzero_si256();
      int64_t u = 0;
      for (; u + 8 <= length; u += 8) {
        // vcvtps2dq rounds to nearest even (the default MXCSR mode), like the rule.
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(values + u), reciprocal));
        q = _mm256_min_epi32(_mm256_max_epi32(q, low), high);
        const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(slot + u), _mm_packs_epi16(words, words));
        total = _mm256_add_epi32(total, q);
      }
      __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
      sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0x4E));
      sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0xB1));
      int32_t sum = _mm_cvtsi128_si32(sum4);
      const float r = 127.0f / maximum;
      for (; u < length; u++) {
        const __m128 product = _mm_set_ss(values[u] * r);
        int32_t code = _mm_cvtss_si32(product);
        code = code < -127 ? -127 : (code > 127 ? 127 : code);
        slot[u] = (int8_t)code;
        sum += code;
      }
      if (length < group_columns) memset(slot + length, 0, (size_t)(group_columns - length));
      scales[index] = maximum / 127.0f;
      sums[index] = (float)sum;
    }
  }
}

// MARK: - Int8 (vpmaddubsw)

static const int32_t ymm_w8_code_offset = 128;

/// acc + Σ q·a per quad for q ≤ 127 (4-bit codes, and 8-bit containers of codes of at most 7
/// bits): the 16-bit pair sums (≤ 2·127·127 = 32 258) cannot saturate.
static inline __m256i ymm_dot_w4(__m256i acc, __m256i codes, __m256i a) {
  const __m256i pairs = _mm256_maddubs_epi16(codes, a);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/// acc + Σ (q − 128)·a per quad: w = q − 128 (s8), |w|·sign(a, w) keeps the pairs below 2¹⁵.
static inline __m256i ymm_dot_w8(__m256i acc, __m256i codes, __m256i a) {
  const __m256i signed_codes = _mm256_xor_si256(codes, _mm256_set1_epi8((char)0x80));
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(signed_codes), _mm256_sign_epi8(a, signed_codes));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// 16-bit sums of 4-bit products (AVX-VNNI's vpdpbusd needs no such help).
#define YMM_INT8_NIBBLE_TILES 1
#include "qmatmul_ymm_int8.h"

void arrowhead_qmm_int8_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                             const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch) {
  ymm_int8_run(w, x, out, panel_begin, panel_end, scratch);
}

void arrowhead_qmm_int16_gemv_avx2(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                                   const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                                   int64_t panel_begin, int64_t panel_end, void *scratch) {
  (void)scratch;
  ymm_int16_gemv_run(w, high, low, out, panel_begin, panel_end);
}

#pragma clang attribute pop

#endif
