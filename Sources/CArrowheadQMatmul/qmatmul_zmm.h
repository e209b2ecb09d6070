// AVX-512 helpers shared by qmatmul_avx512.c and qmatmul_amx.c (row mask, accumulate,
// rescale, 4-bit panel unpacking), included inside each file's
// `target` region (the functions take that region's ISA). One copy of the rescale is what
// makes the AMX and AVX-512 VNNI paths bit-identical: both round the same operations.
#ifndef ARROWHEAD_QMATMUL_ZMM_H
#define ARROWHEAD_QMATMUL_ZMM_H

#include "arrowhead_qmatmul.h"

#include <immintrin.h>

#ifndef QMM_ALWAYS_INLINE
#define QMM_ALWAYS_INLINE static inline __attribute__((always_inline))
#endif

/// Lanes of panel p that are real rows of Ŵ.
QMM_ALWAYS_INLINE __mmask16 zmm_row_mask(const arrowhead_qmm_weights *w, int64_t p) {
  const int64_t count = w->rows - 16 * p;
  return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

/// y[i, 16p…] (+)= v over the panel's real rows: the first depth block stores, later ones
/// add to what is there, the last adds the bias.
QMM_ALWAYS_INLINE void zmm_accumulate(const arrowhead_qmm_weights *w, const arrowhead_qmm_output *out, int64_t i,
                                      int64_t p, __m512 v, int first, int last) {
  const __mmask16 mask = zmm_row_mask(w, p);
  float *y = out->y + i * out->ldy + 16 * p;
  if (!first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, y));
  if (last && out->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out->bias + 16 * p));
  _mm512_mask_storeu_ps(y, mask, v);
}

/// y += rescaled group sums: (f·s + m·A)·t, or (f − z·A)·s·t, f = Σ q·a.
QMM_ALWAYS_INLINE __m512 zmm_rescale(__m512i acc, __m512 s, __m512 o, __m512 sum, __m512 t, __m512 y, int zero_point) {
  const __m512 f = _mm512_cvtepi32_ps(acc);
  const __m512 u = zero_point ? _mm512_mul_ps(_mm512_fnmadd_ps(o, sum, f), s) : _mm512_fmadd_ps(f, s, _mm512_mul_ps(o, sum));
  return _mm512_fmadd_ps(u, t, y);
}

/// Unpacks a 4-bit panel into 8-bit lines (line 2l ← low nibbles of line l, 2l + 1 ← high).
static inline void zmm_unpack_panel(const arrowhead_qmm_weights *w, int64_t p, uint8_t *tile) {
  const __m512i nibbles = _mm512_set1_epi8(0x0F);
  const uint8_t *panel = w->codes + p * w->panel_bytes;
  const int64_t lines = w->groups * w->group_columns / 8;
  for (int64_t l = 0; l < lines; l++) {
    const __m512i line = _mm512_loadu_si512(panel + l * 64);
    _mm512_store_si512(tile + 128 * l, _mm512_and_si512(line, nibbles));
    _mm512_store_si512(tile + 128 * l + 64, _mm512_and_si512(_mm512_srli_epi16(line, 4), nibbles));
  }
}

#endif
