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

/// Lane r = the sum of the eight lanes of the r-th argument. Order: within each 128-bit
/// half, lanes (0 + 2) + (1 + 3); then the two halves added.
static inline __attribute__((always_inline)) arrowhead_float4
arrowhead_sum_lanes_of_four(arrowhead_float8 a, arrowhead_float8 b, arrowhead_float8 c, arrowhead_float8 d) {
  // [a0+a2, b0+b2, a1+a3, b1+b3 | a4+a6, b4+b6, a5+a7, b5+b7]
  arrowhead_float8 ab = __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15);
  arrowhead_float8 cd = __builtin_shufflevector(c, d, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(c, d, 2, 10, 3, 11, 6, 14, 7, 15);
  // [a0..3, b0..3, c0..3, d0..3 | a4..7, b4..7, c4..7, d4..7]
  arrowhead_float8 sums = __builtin_shufflevector(ab, cd, 0, 1, 8, 9, 4, 5, 12, 13)
    + __builtin_shufflevector(ab, cd, 2, 3, 10, 11, 6, 7, 14, 15);
  return __builtin_shufflevector(sums, sums, 0, 1, 2, 3) + __builtin_shufflevector(sums, sums, 4, 5, 6, 7);
}

/// Lane r = the sum of the eight lanes of the r-th argument, in the order of
/// `arrowhead_sum_lanes_of_four`.
static inline __attribute__((always_inline)) arrowhead_float8
arrowhead_sum_lanes_of_eight(
  arrowhead_float8 a, arrowhead_float8 b, arrowhead_float8 c, arrowhead_float8 d,
  arrowhead_float8 e, arrowhead_float8 f, arrowhead_float8 g, arrowhead_float8 h
) {
  arrowhead_float8 ab = __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15);
  arrowhead_float8 cd = __builtin_shufflevector(c, d, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(c, d, 2, 10, 3, 11, 6, 14, 7, 15);
  arrowhead_float8 ef = __builtin_shufflevector(e, f, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(e, f, 2, 10, 3, 11, 6, 14, 7, 15);
  arrowhead_float8 gh = __builtin_shufflevector(g, h, 0, 8, 1, 9, 4, 12, 5, 13)
    + __builtin_shufflevector(g, h, 2, 10, 3, 11, 6, 14, 7, 15);
  // [a0..3, b0..3, c0..3, d0..3 | a4..7, b4..7, c4..7, d4..7], the same for e…h
  arrowhead_float8 abcd = __builtin_shufflevector(ab, cd, 0, 1, 8, 9, 4, 5, 12, 13)
    + __builtin_shufflevector(ab, cd, 2, 3, 10, 11, 6, 7, 14, 15);
  arrowhead_float8 efgh = __builtin_shufflevector(ef, gh, 0, 1, 8, 9, 4, 5, 12, 13)
    + __builtin_shufflevector(ef, gh, 2, 3, 10, 11, 6, 7, 14, 15);
  return __builtin_shufflevector(abcd, efgh, 0, 1, 2, 3, 8, 9, 10, 11)
    + __builtin_shufflevector(abcd, efgh, 4, 5, 6, 7, 12, 13, 14, 15);
}

#endif
