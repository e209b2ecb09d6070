// Quantized matmul, AMX-INT8 (Sapphire Rapids, Emerald Rapids, Granite Rapids): the int8
// product on tiles, with the AVX-512 rescale of qmatmul_avx512.c.
//
// One `tdpbsud` multiplies a tile of 16 activation rows × 64 columns (s8) by a tile of 16
// lines of a panel (u8 codes, 16 outputs × 4 columns per 64-byte line: the panel layout is
// already the layout AMX wants for its second operand) into 16 × 16 int32 sums: 16 384
// multiply–adds per instruction, against 64 for a ZMM `vpdpbusd`. Per group, the sum tile is
// stored to L1 and rescaled into 16 Float32 registers (16 rows × 16 outputs) by the AVX-512
// kernels' own `zmm_rescale` (qmatmul_zmm.h), in the VNNI kernel's depth blocks, so the two paths
// give bit-identical outputs (QuantizedMatmulTests checks it). With groups of 64 columns the
// rescale, not the tile unit, bounds the speed (measured in the Quant README); with one group
// per row (per-channel scales) the sums stay in the tile over the whole depth.
//
// Loops: chunks of 32 activation rows (their codes stay in L1), each panel (the 4-bit ones
// unpacked into 8-bit lines in the scratch once per chunk), each 16-row tile, each depth
// block; groups in pairs, the second's product issued before the first's rescale.
//
// Where tiles do not pay, the AVX-512 VNNI kernel runs instead: fewer than 16 activation rows
// (and the last M mod 16 rows of a larger product), products under 2²¹ multiply–adds, and
// groups wider than 64 padded columns that are not a multiple of 64.
//
// Scratch (`arrowhead_qmm_scratch_bytes`): two sum tiles (2 KiB) and one unpacked 4-bit panel
// (16 bytes per padded column). Tiles are per thread: every call configures them
// (`ldtilecfg`) and releases them before returning. Linux grants a process the AMX register
// state only on request (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which `arrowhead_cpu_features`
// makes; the Swift side runs this kernel only where that request succeeded (`CPUFeature.amxInt8`).
#if defined(__x86_64__)
#include "arrowhead_qmatmul.h"

#include <immintrin.h>
#include <string.h>

#define AMX_ALWAYS_INLINE static inline __attribute__((always_inline))
#define QMM_ALWAYS_INLINE AMX_ALWAYS_INLINE

/// Activation rows per chunk (32 × 384 codes: 12 KiB; measured against 64 and 128 on the Xeon,
/// Quant README).
#define AMX_CHUNK_ROWS 32
/// Multiply–adds below which the AVX-512 VNNI kernel runs (tile configuration and the
/// per-tile store cost more than they save: 40 × 100 × 200 ran 0.9× the VNNI kernel).
#define AMX_MINIMUM_WORK (1 << 21)

/// The 64-byte operand of `ldtilecfg` (palette 1: 8 tiles of up to 16 rows × 64 bytes).
typedef struct amx_tile_config {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
} amx_tile_config;

/// Columns per `tdpbsud` for these weights: 64 when a group's padded width is a multiple of
/// 64, the whole group when it is narrower (a multiple of 8), else 0 (no tiling).
static int64_t amx_depth_step(const arrowhead_qmm_weights *w) {
  if (w->group_columns % 64 == 0) return 64;
  if (w->group_columns < 64) return w->group_columns;
  return 0;
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi2,amx-tile,amx-int8"))), apply_to = function)

/// Tiles: 0–1 activations (rows 0–15, 16–31 of a block), 2–3 codes (panels p, p + 1),
/// 4–7 sums (4: rows 0–15 × panel p, 5: rows 0–15 × p + 1, 6: rows 16–31 × p, 7: rows 16–31 × p + 1).
#include "qmatmul_zmm.h"

static void amx_configure(int64_t step) {
  amx_tile_config config;
  memset(&config, 0, sizeof config);
  config.palette = 1;
  for (int t = 0; t < 2; t++) {
    config.rows[t] = 16;
    config.bytes_per_row[t] = (uint16_t)step;
  }
  for (int t = 2; t < 4; t++) {
    config.rows[t] = (uint8_t)(step / 4);
    config.bytes_per_row[t] = 64;
  }
  for (int t = 4; t < 8; t++) {
    config.rows[t] = 16;
    config.bytes_per_row[t] = 64;
  }
  _tile_loadconfig(&config);
}

/// Rescales one stored sum tile (16 rows from i0 × panel p, group g) into `y`.
AMX_ALWAYS_INLINE void amx_rescale_tile(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                        const int32_t *sums, int64_t i0, int64_t p, int64_t g, __m512 *y) {
  const int64_t index = (p * w->groups + g) * 16;
  const __m512 s = _mm512_loadu_ps(w->scales + index), o = _mm512_loadu_ps(w->offsets + index);
  for (int r = 0; r < 16; r++) {
    const int64_t at = (i0 + r) * w->groups + g;
    y[r] = zmm_rescale(_mm512_load_si512(sums + 16 * r), s, o, _mm512_set1_ps(x->sums[at]), _mm512_set1_ps(x->scales[at]),
                       y[r], w->zero_point);
  }
}

/// The products of group g into sum tile T (A tile TA, B tile TB), over its depth steps.
#define AMX_GROUP_PRODUCT(T, TA, TB, g)                                     \
  do {                                                                      \
    _tile_zero(T);                                                          \
    for (int64_t k = 0; k < steps; k++) {                                   \
      const int64_t column = (g) * w->group_columns + k * step;             \
      _tile_loadd(TA, rows + column, x->stride);                            \
      _tile_loadd(TB, line + column * 16, 64);                              \
      _tile_dpbsud(T, TA, TB);                                              \
    }                                                                       \
  } while (0)

/// 16 rows from i0 × panel p (8-bit lines at `line`), groups [g0, g1): the Float32 sums stay
/// in 16 registers (one tile's 16 rows × 16 outputs); groups go in pairs, the second's product issued before the first's
/// rescale so that the tile unit works while the vector units rescale.
AMX_ALWAYS_INLINE void amx_tile(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                                const arrowhead_qmm_output *out, const uint8_t *line, int64_t i0, int64_t p, int64_t g0,
                                int64_t g1, int64_t step, int32_t *sums) {
  const int64_t steps = w->group_columns / step;
  const int8_t *rows = x->codes + i0 * x->stride;
  __m512 y[16];
  for (int r = 0; r < 16; r++) y[r] = _mm512_setzero_ps();
  int64_t g = g0;
  for (; g + 2 <= g1; g += 2) {
    AMX_GROUP_PRODUCT(4, 0, 2, g);
    AMX_GROUP_PRODUCT(5, 1, 3, g + 1);
    _tile_stored(4, sums, 64);
    amx_rescale_tile(w, x, sums, i0, p, g, y);
    _tile_stored(5, sums + 256, 64);
    amx_rescale_tile(w, x, sums + 256, i0, p, g + 1, y);
  }
  if (g < g1) {
    AMX_GROUP_PRODUCT(4, 0, 2, g);
    _tile_stored(4, sums, 64);
    amx_rescale_tile(w, x, sums, i0, p, g, y);
  }
  for (int r = 0; r < 16; r++) zmm_accumulate(w, out, i0 + r, p, y[r], g0 == 0, g1 == w->groups);
}

void arrowhead_qmm_int8_amx(const arrowhead_qmm_weights *w, const arrowhead_qmm_int8_rows *x,
                            const arrowhead_qmm_output *out, int64_t panel_begin, int64_t panel_end, void *scratch) {
  const int64_t step = amx_depth_step(w);
  const int64_t tiled = x->rows / 16 * 16;
  if (step == 0 || tiled == 0 || tiled * w->rows * w->groups * w->group_columns < AMX_MINIMUM_WORK) {
    arrowhead_qmm_int8_avx512vnni(w, x, out, panel_begin, panel_end, scratch);
    return;
  }
  uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  int32_t *sums = (int32_t *)base;
  uint8_t *unpacked = base + 2048;
  // The depth blocks of the AVX-512 VNNI kernel, whose rounding this one reproduces: about
  // 512 columns for 8-bit codes (`zmm_int8_rows`), the whole row for 4-bit ones
  // (`zmm_gemv_rows_int8` sums every group before it stores).
  const int64_t block = w->container_bits == 4 ? w->groups : w->group_columns >= 512 ? 1 : 512 / w->group_columns;
  amx_configure(step);
  // Chunks of AMX_CHUNK_ROWS rows: their activations stay in L1 while every panel passes
  // (each panel's codes, or its unpacked 4-bit lines, serve all the chunk's row tiles).
  for (int64_t i0 = 0; i0 < tiled; i0 += AMX_CHUNK_ROWS) {
    const int64_t i1 = i0 + AMX_CHUNK_ROWS < tiled ? i0 + AMX_CHUNK_ROWS : tiled;
    for (int64_t p = panel_begin; p < panel_end; p++) {
      const uint8_t *line = w->codes + p * w->panel_bytes;
      if (w->container_bits == 4) {
        zmm_unpack_panel(w, p, unpacked);
        line = unpacked;
      }
      for (int64_t i = i0; i < i1; i += 16) {
        for (int64_t g0 = 0; g0 < w->groups; g0 += block) {
          const int64_t g1 = g0 + block < w->groups ? g0 + block : w->groups;
          amx_tile(w, x, out, line, i, p, g0, g1, step, sums);
        }
      }
    }
  }
  _tile_release();
  if (tiled < x->rows) {
    const int64_t g = tiled * w->groups;
    const arrowhead_qmm_int8_rows rest = {x->codes + tiled * x->stride, x->scales + g, x->sums + g, x->rows - tiled,
                                          x->stride};
    const arrowhead_qmm_output rest_out = {out->y + tiled * out->ldy, out->ldy, out->bias};
    arrowhead_qmm_int8_avx512vnni(w, &rest, &rest_out, panel_begin, panel_end, scratch);
  }
}

#pragma clang attribute pop

#endif
