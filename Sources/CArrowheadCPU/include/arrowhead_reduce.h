/// Horizontal sums for the SIMD kernels, written with `__builtin_shufflevector` so that
/// clang, compiling this header inside each ISA module of Backends/ with that module's
/// `-march`, emits in-lane unpacks (`vunpcklps`, `vunpckhps`, `vunpcklpd`, `vunpckhpd`) and
/// one 128-bit extract. Swift has no shuffle of its own: the same tree written with
/// `evenHalf` / `oddHalf` / `lowHalf` compiled to cross-lane permutes and `vinsertps`
/// chains (about 35 instructions for four 8-float sums, 11 here).
/// Swift imports `ext_vector_type` vectors as `SIMD8<Float>` / `SIMD4<Float>`.
#ifndef ARROWHEAD_REDUCE_H
#define ARROWHEAD_REDUCE_H

typedef float arrowhead_float8 __attribute__((ext_vector_type(8)));
typedef float arrowhead_float4 __attribute__((ext_vector_type(4)));

/// [a0+a2, b0+b2, a1+a3, b1+b3 | a4+a6, b4+b6, a5+a7, b5+b7]: within each 128-bit half,
/// the lanes of a and b interleaved (`vunpcklps`, `vunpckhps`) and added.
static inline __attribute__((always_inline)) arrowhead_float8
arrowhead_interleaved_sums(arrowhead_float8 a, arrowhead_float8 b) {
  return __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15);
}

/// From `arrowhead_interleaved_sums(a, b)` and `(c, d)`: [a0..3, b0..3, c0..3, d0..3 |
/// a4..7, b4..7, c4..7, d4..7], each lane the sum of four lanes of one argument of those.
static inline __attribute__((always_inline)) arrowhead_float8
arrowhead_quarter_sums(arrowhead_float8 ab, arrowhead_float8 cd) {
  return __builtin_shufflevector(ab, cd, 0, 1, 8, 9, 4, 5, 12, 13)
    + __builtin_shufflevector(ab, cd, 2, 3, 10, 11, 6, 7, 14, 15);
}

/// Lane r = the sum of the eight lanes of the r-th argument. Order: within each 128-bit
/// half, lanes (0 + 2) + (1 + 3); then the two halves added.
static inline __attribute__((always_inline)) arrowhead_float4
arrowhead_sum_lanes_of_four(arrowhead_float8 a, arrowhead_float8 b, arrowhead_float8 c, arrowhead_float8 d) {
  arrowhead_float8 sums = arrowhead_quarter_sums(arrowhead_interleaved_sums(a, b), arrowhead_interleaved_sums(c, d));
  return __builtin_shufflevector(sums, sums, 0, 1, 2, 3) + __builtin_shufflevector(sums, sums, 4, 5, 6, 7);
}

/// Lane r = the sum of the eight lanes of the r-th argument, in the order of
/// `arrowhead_sum_lanes_of_four`.
static inline __attribute__((always_inline)) arrowhead_float8
arrowhead_sum_lanes_of_eight(
  arrowhead_float8 a, arrowhead_float8 b, arrowhead_float8 c, arrowhead_float8 d,
  arrowhead_float8 e, arrowhead_float8 f, arrowhead_float8 g, arrowhead_float8 h
) {
  arrowhead_float8 abcd = arrowhead_quarter_sums(arrowhead_interleaved_sums(a, b), arrowhead_interleaved_sums(c, d));
  arrowhead_float8 efgh = arrowhead_quarter_sums(arrowhead_interleaved_sums(e, f), arrowhead_interleaved_sums(g, h));
  return __builtin_shufflevector(abcd, efgh, 0, 1, 2, 3, 8, 9, 10, 11)
    + __builtin_shufflevector(abcd, efgh, 4, 5, 6, 7, 12, 13, 14, 15);
}

#endif
