// Row blocking shared by the kernels that decode a line once for several rows of x
// (qmatmul_avx512.c, qmatmul_avx2.c).
#ifndef ARROWHEAD_QMATMUL_ROWS_H
#define ARROWHEAD_QMATMUL_ROWS_H

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
