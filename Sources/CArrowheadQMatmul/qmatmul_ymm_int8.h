// The int8 quantized-matmul kernels on YMM registers, shared by qmatmul_avx2.c and
// qmatmul_avxvnni.c. The including file defines, before including this header:
//
//   static inline __m256i ymm_dot_w4(__m256i acc, __m256i codes, __m256i a)
//   static inline __m256i ymm_dot_w8(__m256i acc, __m256i codes, __m256i a)
//       acc + Σ over each 4-byte quad of codes (u8) × a (s8), per 32-bit lane; for w8, the
//       codes minus `ymm_w8_code_offset` (the AVX2 path multiplies q − 128 to avoid
//       vpmaddubsw's 16-bit saturation, and adds 128·Σa back per group)
//   static const int32_t ymm_w8_code_offset
//
// and wraps `ymm_int8_run` in its exported function. A panel's 16 rows are two YMM halves
// (rows 0–7 and 8–15 of a 64-byte line). Everything here is `static`, so each including
// file compiles its own copy for its own target.
#ifndef ARROWHEAD_QMATMUL_YMM_INT8_H
#define ARROWHEAD_QMATMUL_YMM_INT8_H

/// Whether 8-bit lines need `ymm_dot_w8` (codes up to 255) or can go through the direct
/// `ymm_dot_w4` form (4-bit containers unpacked to bytes, or codes of at most 7 bits).
static inline int ymm_int8_needs_offset(const arrowhead_qmm_weights *w) {
  return w->container_bits == 8 && w->code_bits > 7;
}

/// Lanes of half h of panel p that are real rows of Ŵ, as a vmaskmov mask.
static inline __m256i ymm_int8_row_mask(const arrowhead_qmm_weights *w, int64_t p, int h) {
  const int64_t count = w->rows - 16 * p - 8 * h;
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count > 8 ? 8 : count)), lanes);
}

static inline void ymm_int8_store(const arrowhead_qmm_weights *w, const arrowhead_qmm_output *out, int64_t i, int64_t p,
                                  int h, __m256 v) {
  const __m256i mask = ymm_int8_row_mask(w, p, h);
  const int64_t first = 16 * p + 8 * h;
  if (first >= w->rows) return;
  if (out->bias) v = _mm256_add_ps(v, _mm256_maskload_ps(out->bias + first, mask));
  _mm256_maskstore_ps(out->y + i * out->ldy + first, mask, v);
}

static inline __m256i ymm_int8_quad(const int8_t *a) {
  int32_t quad;
  memcpy(&quad, a, 4);
  return _mm256_set1_epi32(quad);
}

/// y += (f·s + m·A)·t or (f − z·A)·s·t, with f = Σ q·a (+ the 8-bit code offset's 128·A).
static inline __m256 ymm_int8_rescale(__m256i acc, const float *s, const float *o, float sum, float scale, __m256 y,
                                      int zero_point, int32_t code_offset) {
  if (code_offset != 0) acc = _mm256_add_epi32(acc, _mm256_set1_epi32(code_offset * (int32_t)sum));
  const __m256 f = _mm256_cvtepi32_ps(acc), a = _mm256_set1_ps(sum);
  const __m256 vs = _mm256_loadu_ps(s), vo = _mm256_loadu_ps(o);
  const __m256 u = zero_point ? _mm256_mul_ps(_mm256_fnmadd_ps(vo, a, f), vs) : _mm256_fmadd_ps(f, vs, _mm256_mul_ps(vo, a));
  return _mm256_fmadd_ps(u, _mm256_set1_ps(scale), y);
}

/// One activation row × two panels from p0 (NB = 1 or 2), streaming the packed codes.
static inline __attribute__((always_inline)) void ymm_int8_gemv(const arrowhead_qmm_weights *w,
                                                               const arrowhead_qmm_int8_rows *x,
                                                               const arrowhead_qmm_output *out, int64_t p0,
                                                               const int NB) {
  const int8_t *row = x->codes;
  const __m256i nibbles = _mm256_set1_epi8(0x0F);
  const int64_t lines_per_group = w->group_columns / (w->container_bits == 4 ? 8 : 4);
  const int wide = ymm_int8_needs_offset(w);
  const int32_t offset = wide ? ymm_w8_code_offset : 0;
  __m256 y[2][2];
  for (int b = 0; b < NB; b++) y[b][0] = y[b][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < w->groups; g++) {
    __m256i acc[2][2];
    for (int b = 0; b < NB; b++) acc[b][0] = acc[b][1] = _mm256_setzero_si256();
    const int8_t *ag = row + g * w->group_columns;
    for (int64_t l = 0; l < lines_per_group; l++) {
      for (int b = 0; b < NB; b++) {
        const uint8_t *line = w->codes + (p0 + b) * w->panel_bytes + (g * lines_per_group + l) * 64;
        for (int h = 0; h < 2; h++) {
          const __m256i v = _mm256_loadu_si256((const __m256i *)(line + 32 * h));
          if (w->container_bits == 4) {
            acc[b][h] = ymm_dot_w4(acc[b][h], _mm256_and_si256(v, nibbles), ymm_int8_quad(ag + 8 * l));
            acc[b][h] = ymm_dot_w4(acc[b][h], _mm256_and_si256(_mm256_srli_epi16(v, 4), nibbles),
                                   ymm_int8_quad(ag + 8 * l + 4));
          } else if (wide) {
            acc[b][h] = ymm_dot_w8(acc[b][h], v, ymm_int8_quad(ag + 4 * l));
          } else {
            acc[b][h] = ymm_dot_w4(acc[b][h], v, ymm_int8_quad(ag + 4 * l));
          }
        }
      }
    }
    for (int b = 0; b < NB; b++) {
      const int64_t index = ((p0 + b) * w->groups + g) * 16;
      for (int h = 0; h < 2; h++) {
        y[b][h] = ymm_int8_rescale(acc[b][h], w->scales + index + 8 * h, w->offsets + index + 8 * h, x->sums[g],
                                   x->scales[g], y[b][h], w->zero_point, offset);
      }
    }
  }
  for (int b = 0; b < NB; b++) {
    ymm_int8_store(w, out, 0, p0 + b, 0, y[b][0]);
    ymm_int8_store(w, out, 0, p0 + b, 1, y[b][1]);
  }
}

/// Unpacks a 4-bit panel into 8-bit lines (line 2l ← low nibbles of line l, 2l + 1 ← high).
static void ymm_int8_unpack_panel(const arrowhead_qmm_weights *w, int64_t p, uint8_t *tile) {
  const __m256i nibbles = _mm256_set1_epi8(0x0F);
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  const int64_t lines = w->groups * w->group_columns / 8;
  for (int64_t l = 0; l < lines; l++) {
    for (int h = 0; h < 2; h++) {
      const __m256i v = _mm256_loadu_si256((const __m256i *)(panel + l * 64 + 32 * h));
      _mm256_store_si256((__m256i *)(tile + 128 * l + 32 * h), _mm256_and_si256(v, nibbles));
      _mm256_store_si256((__m256i *)(tile + 128 * l + 64 + 32 * h), _mm256_and_si256(_mm256_srli_epi16(v, 4), nibbles));
    }
  }
}

/// MR activation rows × one panel of 8-bit lines, every group.
static inline __attribute__((always_inline)) void ymm_int8_kernel(const arrowhead_qmm_weights *w,
                                                                 const arrowhead_qmm_int8_rows *x,
                                                                 const arrowhead_qmm_output *out,
                                                                 const uint8_t *lines, int64_t i0, int64_t p,
                                                                 const int MR) {
  const int64_t quads = w->group_columns / 4;
  const int32_t offset = ymm_w8_code_offset;
  const int eight_bit_offset = ymm_int8_needs_offset(w);
  __m256 y[3][2];
  for (int r = 0; r < MR; r++) y[r][0] = y[r][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < w->groups; g++) {
    __m256i acc[3][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const uint8_t *line = lines + g * quads * 64;
    const int64_t column = g * w->group_columns;
    for (int64_t q = 0; q < quads; q++) {
      const __m256i b0 = _mm256_loadu_si256((const __m256i *)(line + q * 64));
      const __m256i b1 = _mm256_loadu_si256((const __m256i *)(line + q * 64 + 32));
      for (int r = 0; r < MR; r++) {
        const __m256i a = ymm_int8_quad(x->codes + (i0 + r) * x->stride + column + 4 * q);
        if (eight_bit_offset) {
          acc[r][0] = ymm_dot_w8(acc[r][0], b0, a);
          acc[r][1] = ymm_dot_w8(acc[r][1], b1, a);
        } else {
          acc[r][0] = ymm_dot_w4(acc[r][0], b0, a);
          acc[r][1] = ymm_dot_w4(acc[r][1], b1, a);
        }
      }
    }
    const int64_t index = (p * w->groups + g) * 16;
    for (int r = 0; r < MR; r++) {
      const int64_t at = (i0 + r) * w->groups + g;
      for (int h = 0; h < 2; h++) {
        y[r][h] = ymm_int8_rescale(acc[r][h], w->scales + index + 8 * h, w->offsets + index + 8 * h, x->sums[at],
                                   x->scales[at], y[r][h], w->zero_point, eight_bit_offset ? offset : 0);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    ymm_int8_store(w, out, i0 + r, p, 0, y[r][0]);
    ymm_int8_store(w, out, i0 + r, p, 1, y[r][1]);
  }
}

#ifdef YMM_INT8_NIBBLE_TILES
/// MR activation rows × one panel of nibble lines (4-bit codes unpacked to bytes, one line
/// per quad of columns). With codes ≤ 15 a vpmaddubsw pair is at most 2·15·127 = 3 810 in
/// magnitude, so the pairs of 8 quads are summed in 16 bits (≤ 30 480) before one vpmaddwd
/// by ones widens them: one multiply-port instruction per 32 products instead of two
/// (vpmaddubsw + vpmaddwd per quad; on Zen 4 both, and vpsignb, share two ports).
/// (Splitting 8-bit codes into two such tiles, q = 16·hi + lo, measured 5 % faster at
/// M ≥ 32 with K = 384 and up to 3× slower at small M or K = 4 096: not used.)
static inline __attribute__((always_inline)) void ymm_int8_nibble_kernel(const arrowhead_qmm_weights *w,
                                                                        const arrowhead_qmm_int8_rows *x,
                                                                        const arrowhead_qmm_output *out,
                                                                        const uint8_t *lines, int64_t i0, int64_t p,
                                                                        const int MR) {
  const int64_t quads = w->group_columns / 4;
  __m256 y[3][2];
  for (int r = 0; r < MR; r++) y[r][0] = y[r][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < w->groups; g++) {
    __m256i acc[3][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int64_t column = g * w->group_columns;
    const uint8_t *line = lines + g * quads * 64;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t q0 = 0; q0 < quads; q0 += 8) {
      const int64_t q1 = q0 + 8 < quads ? q0 + 8 : quads;
      __m256i pairs[3][2];
      for (int r = 0; r < MR; r++) pairs[r][0] = pairs[r][1] = _mm256_setzero_si256();
      for (int64_t q = q0; q < q1; q++) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)(line + q * 64));
        const __m256i b1 = _mm256_load_si256((const __m256i *)(line + q * 64 + 32));
        for (int r = 0; r < MR; r++) {
          const __m256i a = ymm_int8_quad(x->codes + (i0 + r) * x->stride + column + 4 * q);
          pairs[r][0] = _mm256_add_epi16(pairs[r][0], _mm256_maddubs_epi16(b0, a));
          pairs[r][1] = _mm256_add_epi16(pairs[r][1], _mm256_maddubs_epi16(b1, a));
        }
      }
      for (int r = 0; r < MR; r++) {
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(pairs[r][0], ones));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(pairs[r][1], ones));
      }
    }
    const int64_t index = (p * w->groups + g) * 16;
    for (int r = 0; r < MR; r++) {
      const int64_t at = (i0 + r) * w->groups + g;
      for (int h = 0; h < 2; h++) {
        y[r][h] = ymm_int8_rescale(acc[r][h], w->scales + index + 8 * h, w->offsets + index + 8 * h, x->sums[at],
                                   x->scales[at], y[r][h], w->zero_point, 0);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    ymm_int8_store(w, out, i0 + r, p, 0, y[r][0]);
    ymm_int8_store(w, out, i0 + r, p, 1, y[r][1]);
  }
}
#endif

#ifdef YMM_INT8_NIBBLE_TILES
/// Activation row i × one panel of 4-bit codes with two-digit (int16) activations,
/// x̂ = t·a + (t/254)·b (AVX2): each half-line's nibbles split once (vpand, vpsrlw) and
/// multiplied by both digits, where two int8 products would split them twice and read the
/// codes twice. The low- and high-nibble `vpmaddubsw` pairs of a digit (each ≤ 2·15·127 =
/// 3 810) are added in 16 bits before one `vpmaddwd` by ones widens them. The per-group
/// rescale is the AVX-512 int16 kernel's (`zmm_int16_kernel`), operation for operation.
/// (Only the AVX2 file compiles it: the AVX-VNNI path could not be run on any machine here.)
static inline __attribute__((always_inline)) void ymm_int16_gemv_w4(const arrowhead_qmm_weights *w,
                                                                   const arrowhead_qmm_int8_rows *high,
                                                                   const arrowhead_qmm_int8_rows *low,
                                                                   const arrowhead_qmm_output *out, int64_t i, int64_t p) {
  const __m256i nibbles = _mm256_set1_epi8(0x0F);
  const __m256 inverse = _mm256_set1_ps(1.0f / 254.0f);
  const int64_t lines_per_group = w->group_columns / 8;
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  __m256 y[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t g = 0; g < w->groups; g++) {
    __m256i acc_a[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    __m256i acc_b[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    const int8_t *qa = high->codes + i * high->stride + g * w->group_columns;
    const int8_t *qb = low->codes + i * low->stride + g * w->group_columns;
    for (int64_t l = 0; l < lines_per_group; l++) {
      const __m256i a_lo = ymm_int8_quad(qa + 8 * l), a_hi = ymm_int8_quad(qa + 8 * l + 4);
      const __m256i b_lo = ymm_int8_quad(qb + 8 * l), b_hi = ymm_int8_quad(qb + 8 * l + 4);
      const uint8_t *line = panel + (g * lines_per_group + l) * 64;
      for (int h = 0; h < 2; h++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(line + 32 * h));
        const __m256i lo = _mm256_and_si256(v, nibbles), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibbles);
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256i pa = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_maddubs_epi16(hi, a_hi));
        const __m256i pb = _mm256_add_epi16(_mm256_maddubs_epi16(lo, b_lo), _mm256_maddubs_epi16(hi, b_hi));
        acc_a[h] = _mm256_add_epi32(acc_a[h], _mm256_madd_epi16(pa, ones));
        acc_b[h] = _mm256_add_epi32(acc_b[h], _mm256_madd_epi16(pb, ones));
      }
    }
    const int64_t at = i * w->groups + g;
    const __m256 sum = _mm256_set1_ps(high->sums[at] + low->sums[at] * (1.0f / 254.0f));
    const __m256 t = _mm256_set1_ps(high->scales[at]);
    const int64_t index = (p * w->groups + g) * 16;
    for (int h = 0; h < 2; h++) {
      const __m256 s = _mm256_loadu_ps(w->scales + index + 8 * h), o = _mm256_loadu_ps(w->offsets + index + 8 * h);
      const __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc_b[h]), inverse, _mm256_cvtepi32_ps(acc_a[h]));
      const __m256 u = w->zero_point ? _mm256_mul_ps(_mm256_fnmadd_ps(o, sum, f), s) : _mm256_fmadd_ps(f, s, _mm256_mul_ps(o, sum));
      y[h] = _mm256_fmadd_ps(u, t, y[h]);
    }
  }
  ymm_int8_store(w, out, i, p, 0, y[0]);
  ymm_int8_store(w, out, i, p, 1, y[1]);
}

/// The exported fused int16 kernel's body: a few activation rows, each streaming the 4-bit
/// codes of its panels (the caller's contract; other products run as two int8 products).
static void ymm_int16_gemv_run(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *high,
                               const arrowhead_qmm_int8_rows *low, const arrowhead_qmm_output *out,
                               int64_t panel_begin, int64_t panel_end) {
  for (int64_t i = 0; i < high->rows; i++) {
    for (int64_t p = panel_begin; p < panel_end; p++) ymm_int16_gemv_w4(w, high, low, out, i, p);
  }
}
#endif

/// The exported kernel's body: panels [panel_begin, panel_end), every activation row.
static void ymm_int8_run(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                         const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch) {
  if (x->rows == 1) {
    int64_t p = panel_begin;
    for (; p + 2 <= panel_end; p += 2) ymm_int8_gemv(w, x, out, p, 2);
    if (p < panel_end) ymm_int8_gemv(w, x, out, p, 1);
    return;
  }
  uint8_t *tile = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
#ifdef YMM_INT8_NIBBLE_TILES
  if (w->container_bits == 4) {
    // 4-bit panels unpacked once per panel (line 2l, 2l + 1 ← low, high nibbles of line l:
    // one line per quad), then the 16-bit-accumulating kernel.
    for (int64_t p = panel_begin; p < panel_end; p++) {
      ymm_int8_unpack_panel(w, p, tile);
      int64_t i = 0;
      for (; i + 3 <= x->rows; i += 3) ymm_int8_nibble_kernel(w, x, out, tile, i, p, 3);
      if (x->rows - i == 2) ymm_int8_nibble_kernel(w, x, out, tile, i, p, 2);
      else if (x->rows - i == 1) ymm_int8_nibble_kernel(w, x, out, tile, i, p, 1);
    }
    return;
  }
#endif
  for (int64_t p = panel_begin; p < panel_end; p++) {
    // 8-bit lines are read in place; 4-bit panels are unpacked once per panel.
    const uint8_t *lines = w->codes + p * w->panel_bytes;
    if (w->container_bits == 4) {
      ymm_int8_unpack_panel(w, p, tile);
      lines = tile;
    }
    int64_t i = 0;
    for (; i + 3 <= x->rows; i += 3) ymm_int8_kernel(w, x, out, lines, i, p, 3);
    if (x->rows - i == 2) ymm_int8_kernel(w, x, out, lines, i, p, 2);
    else if (x->rows - i == 1) ymm_int8_kernel(w, x, out, lines, i, p, 1);
  }
}

#endif
