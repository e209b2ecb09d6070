// CRC-32 folding with carry-less multiplication (see arrowhead_crc32.h).
//
// The message is a polynomial over GF(2), earliest bit of highest degree (the reflected
// convention of zlib's CRC-32). Four 128-bit accumulators hold the next 64 bytes; folding an
// accumulator A forward by 512 bits replaces it with A_hi·K2 ⊕ A_lo·K1 (two 64 × 33-bit
// carry-less products, each ≤ 96 bits, already aligned to the block 64 bytes on) XORed into
// that block, where K1, K2 are x^(512 ± 32…) mod P in reflected form. That keeps the CRC of
// "accumulators followed by the rest of the message" equal to the CRC of the original. The four
// accumulators are then folded into one (by 128 bits: K3, K4), and each further 16-byte block
// likewise. The constants are the ones of Intel's "Fast CRC Computation for Generic Polynomials
// Using PCLMULQDQ" white paper for this polynomial; the tests check the result against the
// table implementation at every length and alignment they try.
#include "arrowhead_crc32.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

static int probe(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  const unsigned int pclmul = 1u << 1, sse41 = 1u << 19;
  return (ecx & pclmul) && (ecx & sse41) ? 1 : 0;
}

int arrowhead_crc32_fold_available(void) {
  // Probed once; threads racing on the first call store the same value.
  static int cached = -1;
  int value = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (value < 0) {
    value = probe();
    __atomic_store_n(&cached, value, __ATOMIC_RELAXED);
  }
  return value;
}

#define ARROWHEAD_CRC_TARGET __attribute__((target("pclmul,sse4.1")))

// a_lo·k_lo ⊕ a_hi·k_hi ⊕ next.
ARROWHEAD_CRC_TARGET static inline __m128i fold(__m128i a, __m128i k, __m128i next) {
  __m128i low = _mm_clmulepi64_si128(a, k, 0x00);
  __m128i high = _mm_clmulepi64_si128(a, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

ARROWHEAD_CRC_TARGET static inline __m128i load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

ARROWHEAD_CRC_TARGET size_t arrowhead_crc32_fold(uint32_t state, const uint8_t *bytes, size_t count, uint8_t block[16]) {
  if (count < 64 || !arrowhead_crc32_fold_available()) return 0;
  const size_t used = count / 16 * 16;
  // Low 64 bits: the multiplier of an accumulator's low half; high 64: of its high half.
  const __m128i by512 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
  const __m128i by128 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
  __m128i x0 = _mm_xor_si128(load(bytes), _mm_cvtsi32_si128((int)state));
  __m128i x1 = load(bytes + 16), x2 = load(bytes + 32), x3 = load(bytes + 48);
  size_t i = 64;
  for (; i + 64 <= used; i += 64) {
    x0 = fold(x0, by512, load(bytes + i));
    x1 = fold(x1, by512, load(bytes + i + 16));
    x2 = fold(x2, by512, load(bytes + i + 32));
    x3 = fold(x3, by512, load(bytes + i + 48));
  }
  __m128i x = fold(x0, by128, x1);
  x = fold(x, by128, x2);
  x = fold(x, by128, x3);
  for (; i + 16 <= used; i += 16) x = fold(x, by128, load(bytes + i));
  _mm_storeu_si128((__m128i *)block, x);
  return used;
}

#else

int arrowhead_crc32_fold_available(void) { return 0; }

size_t arrowhead_crc32_fold(uint32_t state, const uint8_t *bytes, size_t count, uint8_t block[16]) {
  (void)state;
  (void)bytes;
  (void)count;
  (void)block;
  return 0;
}

#endif
