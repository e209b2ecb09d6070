// SQ8 row dots with a 16-bit integer query (`SearchCodeKernels.sq8DotInt16Rows`): for each
// picked row, the exact integer Σ_j w[j]·c[j] of int16 query weights and uint8 codes, as a
// float. An HNSW walk over SQ8 codes calls it once per visited node with that node's
// unvisited neighbours; a query quantized to 16 bits (relative step 2⁻¹⁴ of its largest
// weight) ranks rows as the Float32 query does, up to ties far below the codes' own step.
//
// The caller keeps Σ_j |w[j]|·255 below 2³¹, so every partial sum, in any order, fits in
// int32: the result is the same integer on every path (exact), then one conversion.
//
// | path         | per 32 dimensions                                        |
// |--------------|----------------------------------------------------------|
// | AVX-512 VNNI | vpmovzxbw (32 codes → 32 × i16 in a ZMM) + vpdpwssd      |
// | AVX2         | 2 × (vpmovzxbw YMM + vpmaddwd + vpaddd)                  |
// | portable     | int32 loop (auto-vectorised)                             |
//
// The rows of a batch are scattered through the code array: like the Swift row kernels
// (`pipelinedRows`), each call requests the lines of the row `ahead` places on before
// computing the current one, so misses overlap arithmetic.
#include "arrowhead_qmatmul.h"

/// Rows requested ahead of the one being computed: about 1 KiB of lines in flight.
static inline int64_t sq8_rows_ahead(int64_t dimension) {
  int64_t ahead = 1024 / (dimension > 0 ? dimension : 1);
  return ahead < 1 ? 1 : (ahead > 8 ? 8 : ahead);
}

static inline void sq8_prefetch_row(const uint8_t *row, int64_t bytes) {
  for (int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(row + offset, 0, 3);
  __builtin_prefetch(row + bytes - 1, 0, 3);
}

/// The batch loop every path shares: out[i] = ROW_SUM(row i), requesting the row `ahead`
/// places on first (a macro, so that each path's row sum inlines under its own target).
#define SQ8_ROWS_LOOP(ROW_SUM)                                                                   \
  do {                                                                                         \
    const int64_t ahead = sq8_rows_ahead(dimension);                                           \
    for (int64_t i = 0; i < row_count && i < ahead; i++)                                       \
      sq8_prefetch_row(codes + (int64_t)rows[i] * stride, dimension);                          \
    for (int64_t i = 0; i < row_count; i++) {                                                  \
      if (i + ahead < row_count) sq8_prefetch_row(codes + (int64_t)rows[i + ahead] * stride, dimension); \
      out[i] = (float)ROW_SUM(dimension, weights, codes + (int64_t)rows[i] * stride);          \
    }                                                                                          \
  } while (0)

static inline int32_t sq8_i16_row_portable(int64_t dimension, const int16_t *weights, const uint8_t *row) {
  int32_t sum = 0;
  for (int64_t j = 0; j < dimension; j++) sum += (int32_t)weights[j] * (int32_t)row[j];
  return sum;
}

void arrowhead_sq8_dot_i16_rows_portable(int64_t dimension, const int16_t *weights, const uint8_t *codes,
                                         int64_t stride, const uint32_t *rows, int64_t row_count, float *out) {
  SQ8_ROWS_LOOP(sq8_i16_row_portable);
}

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)

static inline int32_t sq8_i16_row_avx2(int64_t dimension, const int16_t *weights, const uint8_t *row) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  int64_t j = 0;
  for (; j + 32 <= dimension; j += 32) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + j)));
    const __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + j + 16)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(weights + j))));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(c1, _mm256_loadu_si256((const __m256i *)(weights + j + 16))));
  }
  if (j + 16 <= dimension) {
    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + j)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(weights + j))));
    j += 16;
  }
  const __m256i s = _mm256_add_epi32(s0, s1);
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
  int32_t sum = _mm_cvtsi128_si32(h);
  for (; j < dimension; j++) sum += (int32_t)weights[j] * (int32_t)row[j];
  return sum;
}

void arrowhead_sq8_dot_i16_rows_avx2(int64_t dimension, const int16_t *weights, const uint8_t *codes, int64_t stride,
                                     const uint32_t *rows, int64_t row_count, float *out) {
  SQ8_ROWS_LOOP(sq8_i16_row_avx2);
}

#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)

static inline int32_t sq8_i16_row_avx512vnni(int64_t dimension, const int16_t *weights, const uint8_t *row) {
  // Four independent chains: vpdpwssd's latency (~5 cycles) would otherwise bound a row.
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  __m512i s2 = _mm512_setzero_si512(), s3 = _mm512_setzero_si512();
  int64_t j = 0;
  for (; j + 128 <= dimension; j += 128) {
    s0 = _mm512_dpwssd_epi32(s0, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(row + j))),
                             _mm512_loadu_si512(weights + j));
    s1 = _mm512_dpwssd_epi32(s1, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(row + j + 32))),
                             _mm512_loadu_si512(weights + j + 32));
    s2 = _mm512_dpwssd_epi32(s2, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(row + j + 64))),
                             _mm512_loadu_si512(weights + j + 64));
    s3 = _mm512_dpwssd_epi32(s3, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(row + j + 96))),
                             _mm512_loadu_si512(weights + j + 96));
  }
  for (; j + 32 <= dimension; j += 32) {
    s0 = _mm512_dpwssd_epi32(s0, _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(row + j))),
                             _mm512_loadu_si512(weights + j));
  }
  if (j < dimension) {
    // The tail (fewer than 32 dimensions): masked loads read nothing past the row.
    const __mmask32 mask = (__mmask32)((1ull << (dimension - j)) - 1);
    s1 = _mm512_dpwssd_epi32(s1, _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, row + j)),
                             _mm512_maskz_loadu_epi16(mask, weights + j));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3)));
}

void arrowhead_sq8_dot_i16_rows_avx512vnni(int64_t dimension, const int16_t *weights, const uint8_t *codes,
                                           int64_t stride, const uint32_t *rows, int64_t row_count, float *out) {
  SQ8_ROWS_LOOP(sq8_i16_row_avx512vnni);
}

#pragma clang attribute pop
#endif
