/// CRC-32 (IEEE, reflected polynomial 0xEDB88320) by carry-less multiplication: the bulk of a
/// buffer is folded 64 bytes at a time with PCLMULQDQ into one 128-bit block whose CRC (from
/// state 0) equals that of the folded bytes; `ArrowheadIO.CRC32` then finishes that block and
/// the tail with its tables. Used only where the CPU has PCLMULQDQ and SSE4.1.
#ifndef ARROWHEAD_CRC32_H
#define ARROWHEAD_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 where `arrowhead_crc32_fold` may run (x86-64 with PCLMULQDQ and SSE4.1), else 0.
int arrowhead_crc32_fold_available(void);

/// For `count` ≥ 64: folds the first `count` rounded down to a multiple of 16 bytes of `bytes`,
/// with the running CRC register `state` (before the final XOR) XORed into the first four, into
/// the 16 bytes at `block`; returns how many bytes it consumed. The CRC register after the
/// consumed bytes is the table CRC of `block` from state 0. Returns 0 (and writes nothing)
/// where `count` < 64 or the CPU lacks the instructions.
size_t arrowhead_crc32_fold(uint32_t state, const uint8_t *bytes, size_t count, uint8_t block[16]);

#ifdef __cplusplus
}
#endif

#endif
