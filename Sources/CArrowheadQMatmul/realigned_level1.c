// Dot product and squared L2 distance on AVX-512 for operands that start off a 64-byte cache
// line (`SIMDLevel1.dot` and `SIMDDistances.squaredDistance` of the x86-64-v4 variant call
// these when either operand is off a line and the vectors are long enough).
//
// A 512-bit load that crosses a cache line takes two load slots. With both operands off a
// line every load of the plain kernel splits; from L2 (16 384 floats and up) the Xeon 6/207
// then ran the dot at 6.7–8 G pairs/s, no faster than the AVX2 kernel, against 12–13 with
// both operands on lines (11–12 realigned). Here an operand off a line is read with aligned
// loads only, and each 16-float vector is assembled from two neighbouring aligned chunks by
// one `vpermt2ps` (index lane + shift): the vector values are exactly those of the unaligned
// loads, so with the same accumulators, the same order of operations and the same tails, the
// results are bit-identical to the Swift kernels' (tested: `RealignedLevel1Tests`). Operands
// on a line keep plain loads. The first chunk (which starts before the operand) and any chunk that reaches
// past its end are masked loads: nothing outside the vectors is read.
#include "arrowhead_qmatmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,fma"))), apply_to = function)

#define RL_INLINE static inline __attribute__((always_inline))

/// One operand read as 16-float vectors from element 0 on: plain loads when it is on a line
/// (`shift` 0), else aligned chunks permuted by `index` (lane l takes chunk lane l + shift).
typedef struct {
  const float *x;
  const float *base;   // x − shift: on a cache line
  __m512i index;
  __m512 previous;     // the aligned chunk that holds the next vector's first lanes
  int64_t shift;       // floats from the line to x (0…15)
  int64_t count;
} rl_stream;

RL_INLINE rl_stream rl_open(const float *x, int64_t count) {
  rl_stream s;
  s.x = x;
  s.count = count;
  s.shift = (int64_t)(((uintptr_t)x >> 2) & 15);
  s.base = x - s.shift;
  s.index = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                             _mm512_set1_epi32((int)s.shift));
  // Lanes shift… of the first chunk are x[0…15 − shift], those before count.
  const int64_t end = count + s.shift;
  const __mmask16 mask = (__mmask16)((0xFFFFu << s.shift) & (end >= 16 ? 0xFFFFu : (1u << end) - 1));
  s.previous = s.shift ? _mm512_maskz_load_ps(mask, s.base) : _mm512_setzero_ps();
  return s;
}

/// x[j…j+15] (j a multiple of 16, j + 16 ≤ count). `checked`: the next chunk may reach past
/// x[count − 1] (only its lanes before count are loaded).
RL_INLINE __m512 rl_vector(rl_stream *s, int64_t j, const int realign, const int checked) {
  if (!realign) return _mm512_loadu_ps(s->x + j);
  const float *chunk = s->base + j + 16;  // x[j + 16 − shift …]
  __m512 next;
  if (checked) {
    const int64_t valid = s->count - (j + 16 - s->shift);
    const __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    next = _mm512_maskz_load_ps(mask, chunk);
  } else {
    next = _mm512_load_ps(chunk);
  }
  const __m512 v = _mm512_permutex2var_ps(s->previous, s->index, next);
  s->previous = next;
  return v;
}

/// foldSum of the Swift kernels: halves added as vectors down to four lanes, then
/// (v0 + v2) + (v1 + v3).
RL_INLINE float rl_fold4(__m128 v) {
  float lanes[4];
  _mm_storeu_ps(lanes, v);
  return (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
}

RL_INLINE float rl_fold8(__m256 v) { return rl_fold4(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

RL_INLINE float rl_horizontal(__m512 v) {
  return rl_fold8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

/// `tailDot` of the Swift kernels (count < 16): an 8-lane step, a 4-lane step, then scalar
/// multiply–adds, each step's products folded on their own.
RL_INLINE float rl_tail_dot(int64_t count, const float *x, const float *y) {
  int64_t i = 0;
  float total = 0;
  if (count >= 8) {
    total += rl_fold8(_mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(y), _mm256_setzero_ps()));
    i = 8;
  }
  if (count - i >= 4) {
    total += rl_fold4(_mm_fmadd_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(y + i), _mm_setzero_ps()));
    i += 4;
  }
  for (; i < count; i++) total = __builtin_fmaf(x[i], y[i], total);
  return total;
}

/// `SIMDLevel1.dot` at 16 lanes: four accumulators over 64-float steps, then 16-float steps
/// into the first, the four folded, plus the tail.
RL_INLINE float rl_dot(const float *x, const float *y, int64_t count, const int rx, const int ry) {
  rl_stream a = rl_open(x, count), b = rl_open(y, count);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  // Unchecked while the chunk after the step's last vector ends before count.
  for (; i + 80 <= count; i += 64) {
    s0 = _mm512_fmadd_ps(rl_vector(&a, i, rx, 0), rl_vector(&b, i, ry, 0), s0);
    s1 = _mm512_fmadd_ps(rl_vector(&a, i + 16, rx, 0), rl_vector(&b, i + 16, ry, 0), s1);
    s2 = _mm512_fmadd_ps(rl_vector(&a, i + 32, rx, 0), rl_vector(&b, i + 32, ry, 0), s2);
    s3 = _mm512_fmadd_ps(rl_vector(&a, i + 48, rx, 0), rl_vector(&b, i + 48, ry, 0), s3);
  }
  for (; i + 64 <= count; i += 64) {
    s0 = _mm512_fmadd_ps(rl_vector(&a, i, rx, 1), rl_vector(&b, i, ry, 1), s0);
    s1 = _mm512_fmadd_ps(rl_vector(&a, i + 16, rx, 1), rl_vector(&b, i + 16, ry, 1), s1);
    s2 = _mm512_fmadd_ps(rl_vector(&a, i + 32, rx, 1), rl_vector(&b, i + 32, ry, 1), s2);
    s3 = _mm512_fmadd_ps(rl_vector(&a, i + 48, rx, 1), rl_vector(&b, i + 48, ry, 1), s3);
  }
  for (; i + 16 <= count; i += 16) s0 = _mm512_fmadd_ps(rl_vector(&a, i, rx, 1), rl_vector(&b, i, ry, 1), s0);
  return rl_horizontal(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) +
         rl_tail_dot(count - i, x + i, y + i);
}

#define RL_DIFFERENCE(k, checked) _mm512_sub_ps(rl_vector(&a, i + 16 * (k), rq, checked), rl_vector(&b, i + 16 * (k), rx, checked))

/// `SIMDDistances.squaredDistance` at 16 lanes: eight accumulators over 128-float steps,
/// merged pairwise, then 64-float and 16-float steps, the four folded, scalar tail.
RL_INLINE float rl_squared_distance(const float *q, const float *x, int64_t count, const int rq, const int rx) {
  rl_stream a = rl_open(q, count), b = rl_open(x, count);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  int64_t i = 0;
#define RL_EIGHT(checked)                                                           \
  do {                                                                              \
    const __m512 d0 = RL_DIFFERENCE(0, checked), d1 = RL_DIFFERENCE(1, checked);   \
    const __m512 d2 = RL_DIFFERENCE(2, checked), d3 = RL_DIFFERENCE(3, checked);   \
    const __m512 e0 = RL_DIFFERENCE(4, checked), e1 = RL_DIFFERENCE(5, checked);   \
    const __m512 e2 = RL_DIFFERENCE(6, checked), e3 = RL_DIFFERENCE(7, checked);   \
    s0 = _mm512_fmadd_ps(d0, d0, s0);                                               \
    s1 = _mm512_fmadd_ps(d1, d1, s1);                                               \
    s2 = _mm512_fmadd_ps(d2, d2, s2);                                               \
    s3 = _mm512_fmadd_ps(d3, d3, s3);                                               \
    t0 = _mm512_fmadd_ps(e0, e0, t0);                                               \
    t1 = _mm512_fmadd_ps(e1, e1, t1);                                               \
    t2 = _mm512_fmadd_ps(e2, e2, t2);                                               \
    t3 = _mm512_fmadd_ps(e3, e3, t3);                                               \
  } while (0)
  for (; i + 144 <= count; i += 128) RL_EIGHT(0);
  for (; i + 128 <= count; i += 128) RL_EIGHT(1);
#undef RL_EIGHT
  s0 = _mm512_add_ps(s0, t0);
  s1 = _mm512_add_ps(s1, t1);
  s2 = _mm512_add_ps(s2, t2);
  s3 = _mm512_add_ps(s3, t3);
  for (; i + 64 <= count; i += 64) {
    const __m512 d0 = RL_DIFFERENCE(0, 1), d1 = RL_DIFFERENCE(1, 1), d2 = RL_DIFFERENCE(2, 1), d3 = RL_DIFFERENCE(3, 1);
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
    s2 = _mm512_fmadd_ps(d2, d2, s2);
    s3 = _mm512_fmadd_ps(d3, d3, s3);
  }
  for (; i + 16 <= count; i += 16) {
    const __m512 d = RL_DIFFERENCE(0, 1);
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  float total = rl_horizontal(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  for (; i < count; i++) {
    const float d = q[i] - x[i];
    total = __builtin_fmaf(d, d, total);
  }
  return total;
}
#undef RL_DIFFERENCE

float arrowhead_dot_realigned_avx512(const float *x, const float *y, int64_t count) {
  const int rx = ((uintptr_t)x & 63) != 0, ry = ((uintptr_t)y & 63) != 0;
  if (rx && ry) return rl_dot(x, y, count, 1, 1);
  if (rx) return rl_dot(x, y, count, 1, 0);
  if (ry) return rl_dot(x, y, count, 0, 1);
  return rl_dot(x, y, count, 0, 0);
}

float arrowhead_squared_distance_realigned_avx512(const float *q, const float *x, int64_t count) {
  const int rq = ((uintptr_t)q & 63) != 0, rx = ((uintptr_t)x & 63) != 0;
  if (rq && rx) return rl_squared_distance(q, x, count, 1, 1);
  if (rq) return rl_squared_distance(q, x, count, 1, 0);
  if (rx) return rl_squared_distance(q, x, count, 0, 1);
  return rl_squared_distance(q, x, count, 0, 0);
}

#pragma clang attribute pop

#endif
