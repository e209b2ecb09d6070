// Row blocking shared by the kernels that decode a line once for several rows of x
// (qmatmul_avx512.c, qmatmul_avx2.c), and the batch-1 kernels' prefetching.
#ifndef ARROWHEAD_QMATMUL_ROWS_H
#define ARROWHEAD_QMATMUL_ROWS_H

#include "arrowhead_qmatmul.h"

/// Lines ahead that a batch-1 kernel requests in each panel it reads.
#define QMM_GEMV_AHEAD_LINES 16

/// A weight-only batch-1 product (M = 1) reads NB panels' code lines and their scales and
/// offsets at once: 3·NB streams, each crossing a 4 KiB page every 64 lines (codes) or 64
/// groups. With weights that come from memory rather than L3 the hardware prefetchers did
/// not keep up (Xeon 6/207, 1 × 32768 × 32768 INT4 g64: 9.4–10.4 GB/s of weights read while
/// the Float32 gemv streamed 14–16 GB/s). So each line of a panel requests the line
/// QMM_GEMV_AHEAD_LINES further on (1 KiB; 8 and 32 measured slower or alike), and each group
/// the scales and offsets 8 groups on: 64.5–67.6 → 47.0–48.7 ms (AVX-512), 69.3–71.6 →
/// 51.0–52.3 ms (AVX2), and unchanged at 4096 × 4096, whose 10 MiB stay in L3 (Quant README).
/// The int8-activation kernels do not request: there the same requests gained 13–24 % from
/// memory but cost 3–7 % with the weights in L3. Prefetches never fault: past a buffer's end
/// they are dropped.
static inline __attribute__((always_inline)) void qmm_gemv_prefetch_lines(const arrowhead_qmm_weights *w,
                                                                         int64_t p0, int64_t line, const int NB) {
  for (int b = 0; b < NB; b++) {
    __builtin_prefetch(w->codes + (p0 + b) * w->panel_bytes + (line + QMM_GEMV_AHEAD_LINES) * 64, 0, 3);
  }
}

/// See `qmm_gemv_prefetch_lines`: the scales and offsets of group g + 8 of NB panels.
static inline __attribute__((always_inline)) void qmm_gemv_prefetch_scales(const arrowhead_qmm_weights *w,
                                                                          int64_t p0, int64_t g, const int NB) {
  for (int b = 0; b < NB; b++) {
    const int64_t index = ((p0 + b) * w->groups + g + 8) * 16;
    __builtin_prefetch(w->scales + index, 0, 3);
    __builtin_prefetch(w->offsets + index, 0, 3);
  }
}

/// Runs CALL(i, R) over `rows` rows in blocks of R = 4 from row 0, then once for the 1–3
/// rows left; R is a constant in each expansion, so an always-inline kernel taking it is
/// specialised per block height.
#define QMM_FOR_ROW_BLOCKS(rows, CALL)       \
  do {                                       \
    int64_t qmm_i = 0;                       \
    for (; qmm_i + 4 <= (rows); qmm_i += 4) { \
      CALL(qmm_i, 4);                        \
    }                                        \
    switch ((rows) - qmm_i) {                \
      case 3: CALL(qmm_i, 3); break;         \
      case 2: CALL(qmm_i, 2); break;         \
      case 1: CALL(qmm_i, 1); break;         \
      default: break;                        \
    }                                        \
  } while (0)

#endif
