// Quantized matmul: activation preparation (shared by every ISA) and the portable kernels.
//
// ISA: none requested (SSE2 on x86-64, NEON on arm64, whatever the compiler vectorises).
// The portable kernels unpack or dequantize one panel (16 rows of Ŵ) into a tile and run
// plain loops over 16 lanes that the compiler vectorises (weight-only with M ≤ 16: codes
// converted per column and multiplied into up to 4 rows' sums instead); they are the
// fallback of the baseline SIMD variant and the semantics the ISA files reproduce faster.
#include "arrowhead_qmatmul.h"

#include <float.h>
#include <math.h>
#include <string.h>

/// Rounds |v| ≤ 2²² to the nearest integer, ties to even, in the default rounding mode
/// (adding and removing 1.5·2²³ leaves no fraction bits; IEEE arithmetic, which this target
/// keeps: no -ffast-math). The same on every ISA.
static inline float round_half_even(float v) {
  const float magic = 12582912.0f;  // 1.5 · 2^23
  return (v + magic) - magic;
}

void arrowhead_qmm_prepare_float(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                 int64_t groups, int64_t group_columns, float *values, float *sums) {
  const int64_t stride = groups * group_columns;
  for (int64_t i = 0; i < rows; i++) {
    const float *source = x + i * ldx;
    float *destination = values + i * stride;
    for (int64_t g = 0; g < groups; g++) {
      const int64_t start = g * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      float *slot = destination + g * group_columns;
      memcpy(slot, source + start, (size_t)length * sizeof(float));
      float sum = 0;
      {
        // Any summation order will do (the kernels' bound covers it): let it vectorise.
#pragma clang fp reassociate(on)
        for (int64_t u = 0; u < length; u++) sum += slot[u];
      }
      for (int64_t u = length; u < group_columns; u++) slot[u] = 0;
      sums[i * groups + g] = sum;
    }
  }
}

/// max |x| over `length` values, and whether all are finite. On the bit patterns: for
/// non-negative floats the IEEE order is the integer order, and NaN (≥ 0x7F800001) and ∞
/// (0x7F800000) sort above every finite value, so one integer max (which vectorises, unlike
/// a float max with NaN semantics) gives both.
static inline float group_maximum(const float *values, int64_t length, int *finite) {
  uint32_t largest = 0;
  for (int64_t u = 0; u < length; u++) {
    uint32_t bits;
    memcpy(&bits, values + u, 4);
    bits &= 0x7FFFFFFFu;
    largest = bits > largest ? bits : largest;
  }
  *finite = largest < 0x7F800000u;
  float maximum;
  memcpy(&maximum, &largest, 4);
  return maximum;
}

/// a = clamp(round_half_even(x·r), −127, 127) for `length` values; returns Σ a.
static inline int32_t group_codes(const float *values, int64_t length, float reciprocal, int8_t *codes) {
  int32_t sum = 0;
  for (int64_t u = 0; u < length; u++) {
    float q = round_half_even(values[u] * reciprocal);
    q = q < -127.0f ? -127.0f : q;
    q = q > 127.0f ? 127.0f : q;
    const int32_t code = (int32_t)q;
    codes[u] = (int8_t)code;
    sum += code;
  }
  return sum;
}

void arrowhead_qmm_prepare_int8(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                int64_t groups, int64_t group_columns, int8_t *codes, float *scales, float *sums) {
  const int64_t stride = groups * group_columns;
  for (int64_t i = 0; i < rows; i++) {
    const float *source = x + i * ldx;
    int8_t *destination = codes + i * stride;
    for (int64_t g = 0; g < groups; g++) {
      const int64_t start = g * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      const float *values = source + start;
      int8_t *slot = destination + g * group_columns;
      int finite;
      const float maximum = group_maximum(values, length, &finite);
      const int64_t index = i * groups + g;
      // Below 2^-100 the group counts as zero (127/max would overflow near 2^-126).
      if (!finite || !(maximum >= 0x1p-100f)) {
        memset(slot, 0, (size_t)group_columns);
        scales[index] = finite ? 0 : __builtin_nanf("");
        sums[index] = 0;
        continue;
      }
      const float reciprocal = 127.0f / maximum;
      sums[index] = (float)group_codes(values, length, reciprocal, slot);
      if (length < group_columns) memset(slot + length, 0, (size_t)(group_columns - length));
      scales[index] = maximum / 127.0f;
    }
  }
}

/// Two digits per value: v = x·r (the same Float32 product as the one-digit rule),
/// a = clamp(round_half_even(v), ±127), b = clamp(round_half_even((v − a)·254), ±127)
/// (v − a is exact: a is the integer nearest v, or v's clamp bound). Returns Σ a and Σ b.
static inline void group_two_digits(const float *values, int64_t length, float reciprocal, int8_t *high, int8_t *low,
                                    int32_t *high_sum, int32_t *low_sum) {
  int32_t sum_a = 0, sum_b = 0;
  for (int64_t u = 0; u < length; u++) {
    const float v = values[u] * reciprocal;
    float a = round_half_even(v);
    a = a < -127.0f ? -127.0f : a;
    a = a > 127.0f ? 127.0f : a;
    float b = round_half_even((v - a) * 254.0f);
    b = b < -127.0f ? -127.0f : b;
    b = b > 127.0f ? 127.0f : b;
    high[u] = (int8_t)(int32_t)a;
    low[u] = (int8_t)(int32_t)b;
    sum_a += (int32_t)a;
    sum_b += (int32_t)b;
  }
  *high_sum = sum_a;
  *low_sum = sum_b;
}

void arrowhead_qmm_prepare_int16(const float *x, int64_t ldx, int64_t rows, int64_t columns, int64_t group_size,
                                 int64_t groups, int64_t group_columns, int8_t *high, int8_t *low, float *scales,
                                 float *low_scales, float *sums, float *low_sums) {
  const int64_t stride = groups * group_columns;
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t g = 0; g < groups; g++) {
      const int64_t start = g * group_size;
      const int64_t length = columns - start < group_size ? columns - start : group_size;
      const float *values = x + i * ldx + start;
      int8_t *slot = high + i * stride + g * group_columns, *low_slot = low + i * stride + g * group_columns;
      int finite;
      const float maximum = group_maximum(values, length, &finite);
      const int64_t index = i * groups + g;
      if (!finite || !(maximum >= 0x1p-100f)) {
        memset(slot, 0, (size_t)group_columns);
        memset(low_slot, 0, (size_t)group_columns);
        scales[index] = low_scales[index] = finite ? 0 : __builtin_nanf("");
        sums[index] = low_sums[index] = 0;
        continue;
      }
      int32_t sum_a, sum_b;
      group_two_digits(values, length, 127.0f / maximum, slot, low_slot, &sum_a, &sum_b);
      if (length < group_columns) {
        memset(slot + length, 0, (size_t)(group_columns - length));
        memset(low_slot + length, 0, (size_t)(group_columns - length));
      }
      scales[index] = maximum / 127.0f;
      low_scales[index] = scales[index] / 254.0f;
      sums[index] = (float)sum_a;
      low_sums[index] = (float)sum_b;
    }
  }
}

size_t arrowhead_qmm_scratch_bytes(const arrowhead_qmm_weights *w) {
  // The largest tile: two panels of dequantized floats (AVX-512 weight-only), + alignment;
  // at least the AMX kernel's two sum tiles and one unpacked 4-bit panel (qmatmul_amx.c).
  const size_t columns = (size_t)(w->groups * w->group_columns);
  const size_t floats = columns * 32 * sizeof(float) + 64, amx = 2048 + columns * 16 + 64;
  return floats > amx ? floats : amx;
}

/// The codes of column c of a 64-byte line (16 rows × 4 columns of bytes, or × 8 columns of
/// nibbles), one per row: row r's codes are the 32-bit word r of the line, column c at bits
/// 8c (bytes), 8c or 8(c − 4) + 4 (nibbles). Shifts and masks on words vectorise on any ISA.
static inline void line_codes(const uint32_t *words, int c, int container_bits, int32_t *codes) {
  const int shift = container_bits == 8 ? 8 * c : (c < 4 ? 8 * c : 8 * (c - 4) + 4);
  const uint32_t mask = container_bits == 8 ? 0xFFu : 0x0Fu;
  for (int r = 0; r < 16; r++) codes[r] = (int32_t)((words[r] >> shift) & mask);
}

static inline void *aligned64(void *scratch) {
  return (void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
}

/// y[i, 16p + r] = values[r] (+ bias) for the panel's real rows.
static void store_panel(const arrowhead_qmm_weights *w, const arrowhead_qmm_output *out, int64_t i, int64_t p,
                        const float *values) {
  const int64_t first = 16 * p;
  const int64_t count = w->rows - first < 16 ? w->rows - first : 16;
  float *y = out->y + i * out->ldy + first;
  for (int64_t r = 0; r < count; r++) y[r] = out->bias ? values[r] + out->bias[first + r] : values[r];
}

/// One activation row: Σ_g s·Σq·x + m·Σx (or s·(Σq·x − z·Σx)) per output, streaming the codes.
static void portable_gemv_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                const arrowhead_qmm_output *out, int64_t p) {
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  float y[16] = {0};
  for (int64_t g = 0; g < w->groups; g++) {
    float acc[16] = {0};
    for (int64_t l = 0; l < lines_per_group; l++) {
      uint32_t words[16];
      memcpy(words, panel + (g * lines_per_group + l) * 64, 64);
      const float *xl = x->values + g * w->group_columns + l * columns_per_line;
      for (int c = 0; c < columns_per_line; c++) {
        int32_t codes[16];
        line_codes(words, c, w->container_bits, codes);
        const float value = xl[c];
        for (int r = 0; r < 16; r++) acc[r] += (float)codes[r] * value;
      }
    }
    const float *s = w->scales + (p * w->groups + g) * 16, *o = w->offsets + (p * w->groups + g) * 16;
    const float sum = x->sums[g];
    for (int r = 0; r < 16; r++) {
      if (w->zero_point) {
        const float centred = acc[r] - o[r] * sum;
        y[r] += centred * s[r];
      } else {
        const float scaled = acc[r] * s[r];
        y[r] += scaled + o[r] * sum;
      }
    }
  }
  store_panel(w, out, 0, p, y);
}

/// Rows i0 … i0 + R − 1 of x (R ≤ 4): `portable_gemv_float`'s decode once per column for all
/// R rows (each row's sums in the same order as there). For small batches (M ≤ 16), where
/// dequantizing every panel into a tile first cost more than the products (2 × 4096 × 4096
/// INT4 g64 on the baseline x86 variant: 13.2 ms against 2.2 ms for one row).
static void portable_gemv_rows_float(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                     const arrowhead_qmm_output *out, int64_t i0, int R, int64_t p) {
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  float y[4][16] = {{0}};
  for (int64_t g = 0; g < w->groups; g++) {
    float acc[4][16] = {{0}};
    for (int64_t l = 0; l < lines_per_group; l++) {
      uint32_t words[16];
      memcpy(words, panel + (g * lines_per_group + l) * 64, 64);
      const int64_t column = g * w->group_columns + l * columns_per_line;
      for (int c = 0; c < columns_per_line; c++) {
        int32_t codes[16];
        line_codes(words, c, w->container_bits, codes);
        float q[16];
        for (int r = 0; r < 16; r++) q[r] = (float)codes[r];
        for (int k = 0; k < R; k++) {
          const float value = x->values[(i0 + k) * x->stride + column + c];
          for (int r = 0; r < 16; r++) acc[k][r] += q[r] * value;
        }
      }
    }
    const float *s = w->scales + (p * w->groups + g) * 16, *o = w->offsets + (p * w->groups + g) * 16;
    for (int k = 0; k < R; k++) {
      const float sum = x->sums[(i0 + k) * w->groups + g];
      for (int r = 0; r < 16; r++) {
        if (w->zero_point) {
          const float centred = acc[k][r] - o[r] * sum;
          y[k][r] += centred * s[r];
        } else {
          const float scaled = acc[k][r] * s[r];
          y[k][r] += scaled + o[r] * sum;
        }
      }
    }
  }
  for (int k = 0; k < R; k++) store_panel(w, out, i0 + k, p, y[k]);
}

void arrowhead_qmm_weight_only_portable(const arrowhead_qmm_weights *w, const arrowhead_qmm_float_rows *x,
                                        const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                        void *scratch) {
  if (x->rows == 1) {
    for (int64_t p = panel_begin; p < panel_end; p++) portable_gemv_float(w, x, out, p);
    return;
  }
  if (x->rows <= 16) {
    for (int64_t p = panel_begin; p < panel_end; p++) {
      for (int64_t i = 0; i < x->rows; i += 4) {
        portable_gemv_rows_float(w, x, out, i, x->rows - i < 4 ? (int)(x->rows - i) : 4, p);
      }
    }
    return;
  }
  const int64_t columns = w->groups * w->group_columns;
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  float *tile = (float *)aligned64(scratch);  // tile[j·16 + r] = ŵ(r, j)
  for (int64_t p = panel_begin; p < panel_end; p++) {
    const uint8_t *panel = w->codes + p * w->panel_bytes;
    for (int64_t g = 0; g < w->groups; g++) {
      const float *s = w->scales + (p * w->groups + g) * 16, *o = w->offsets + (p * w->groups + g) * 16;
      for (int64_t l = 0; l < lines_per_group; l++) {
        uint32_t words[16];
        memcpy(words, panel + (g * lines_per_group + l) * 64, 64);
        for (int c = 0; c < columns_per_line; c++) {
          int32_t codes[16];
          line_codes(words, c, w->container_bits, codes);
          float *column = tile + ((g * lines_per_group + l) * columns_per_line + c) * 16;
          for (int r = 0; r < 16; r++) {
            // Mul then add, as the quantizer's dequantize (no FMA).
            const float q = (float)codes[r];
            if (w->zero_point) {
              const float difference = q - o[r];
              column[r] = difference * s[r];
            } else {
              const float product = q * s[r];
              column[r] = product + o[r];
            }
          }
        }
      }
    }
    int64_t i = 0;
    for (; i + 4 <= x->rows; i += 4) {
      const float *row = x->values + i * x->stride;
      float acc[4][16] = {{0}};
      for (int64_t j = 0; j < columns; j++) {
        const float *t = tile + j * 16;
        for (int k = 0; k < 4; k++) {
          const float value = row[k * x->stride + j];
          for (int r = 0; r < 16; r++) acc[k][r] += t[r] * value;
        }
      }
      for (int k = 0; k < 4; k++) store_panel(w, out, i + k, p, acc[k]);
    }
    for (; i < x->rows; i++) {
      const float *row = x->values + i * x->stride;
      float acc[16] = {0};
      for (int64_t j = 0; j < columns; j++) {
        const float value = row[j];
        const float *t = tile + j * 16;
        for (int r = 0; r < 16; r++) acc[r] += t[r] * value;
      }
      store_panel(w, out, i, p, acc);
    }
  }
}

void arrowhead_qmm_int8_portable(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                 const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end,
                                 void *scratch) {
  const int columns_per_line = w->container_bits == 4 ? 8 : 4;
  const int64_t lines_per_group = w->group_columns / columns_per_line;
  int16_t *tile = (int16_t *)aligned64(scratch);  // tile[j·16 + r] = q(r, j)
  for (int64_t p = panel_begin; p < panel_end; p++) {
    const uint8_t *panel = w->codes + p * w->panel_bytes;
    const int64_t lines = w->groups * lines_per_group;
    for (int64_t l = 0; l < lines; l++) {
      uint32_t words[16];
      memcpy(words, panel + l * 64, 64);
      for (int c = 0; c < columns_per_line; c++) {
        int32_t codes[16];
        line_codes(words, c, w->container_bits, codes);
        int16_t *column = tile + (l * columns_per_line + c) * 16;
        for (int r = 0; r < 16; r++) column[r] = (int16_t)codes[r];
      }
    }
    for (int64_t i = 0; i < x->rows; i++) {
      const int8_t *row = x->codes + i * x->stride;
      float result[16] = {0};
      for (int64_t g = 0; g < w->groups; g++) {
        int32_t acc[16] = {0};
        for (int64_t u = 0; u < w->group_columns; u++) {
          const int64_t j = g * w->group_columns + u;
          const int16_t a = row[j];
          const int16_t *q = tile + j * 16;
          // |q·a| ≤ 255·127 < 2¹⁵: 16-bit products (pmullw on SSE2), 32-bit sums.
          for (int r = 0; r < 16; r++) acc[r] += (int16_t)(q[r] * a);
        }
        const float t = x->scales[i * w->groups + g], sum = x->sums[i * w->groups + g];
        const float *s = w->scales + (p * w->groups + g) * 16, *o = w->offsets + (p * w->groups + g) * 16;
        for (int r = 0; r < 16; r++) {
          const float f = (float)acc[r];
          float u;
          if (w->zero_point) {
            u = (f - o[r] * sum) * s[r];
          } else {
            u = f * s[r] + o[r] * sum;
          }
          result[r] += u * t;
        }
      }
      store_panel(w, out, i, p, result);
    }
  }
}
