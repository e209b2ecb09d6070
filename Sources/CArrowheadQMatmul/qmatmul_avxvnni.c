// Quantized matmul, AVX-VNNI (VEX-encoded `vpdpbusd` on YMM: Alder Lake, Sapphire Rapids,
// Zen 5): the int8 kernels of qmatmul_ymm_int8.h with one instruction per 8 rows × 4
// columns (u8 codes × s8 activations → s32, no saturation, so 8-bit codes are used as is).
// Weight-only products use the AVX2 kernels (qmatmul_avx2.c).
#if defined(__x86_64__)
#include "arrowhead_qmatmul.h"

#include <immintrin.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2,avxvnni"))), apply_to = function)

static const int32_t ymm_w8_code_offset = 0;

static inline __m256i ymm_dot_w4(__m256i acc, __m256i codes, __m256i a) { return _mm256_dpbusd_avx_epi32(acc, codes, a); }

static inline __m256i ymm_dot_w8(__m256i acc, __m256i codes, __m256i a) { return _mm256_dpbusd_avx_epi32(acc, codes, a); }

#include "qmatmul_ymm_int8.h"

void arrowhead_qmm_int8_avxvnni(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch) {
  ymm_int8_run(w, x, out, panel_begin, panel_end, scratch);
}

#pragma clang attribute pop

#endif
