/// CArrowheadCPU: the few facts about the CPU that Swift cannot ask for itself.
///
/// x86-64: CPUID leaves 0, 1, 7 and 0x80000002-4 plus XGETBV, so that a feature is
/// reported only when the operating system also saves its registers (AVX needs XMM+YMM
/// state, AVX-512 needs opmask+ZMM state). arm64: getauxval(AT_HWCAP/AT_HWCAP2) on Linux,
/// sysctlbyname on Apple platforms.
///
/// This is an internal module of Arrowhead; it makes no API stability promise.
#ifndef ARROWHEAD_CPU_H
#define ARROWHEAD_CPU_H

#include <stdint.h>
#include "arrowhead_hints.h"
#include "arrowhead_pool.h"
#include "arrowhead_builtin.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Feature bits reported by `arrowhead_cpu_features`. One bit per feature, in the order
/// the Swift `CPUFeature` enum lists them.
enum {
  ARROWHEAD_CPU_SSE2 = 1u << 0,
  ARROWHEAD_CPU_SSE42 = 1u << 1,
  ARROWHEAD_CPU_AVX = 1u << 2,
  ARROWHEAD_CPU_AVX2 = 1u << 3,
  ARROWHEAD_CPU_FMA = 1u << 4,
  ARROWHEAD_CPU_F16C = 1u << 5,
  ARROWHEAD_CPU_BMI2 = 1u << 6,
  ARROWHEAD_CPU_AVX512F = 1u << 7,
  ARROWHEAD_CPU_AVX512BW = 1u << 8,
  ARROWHEAD_CPU_AVX512VL = 1u << 9,
  ARROWHEAD_CPU_AVX512DQ = 1u << 10,
  ARROWHEAD_CPU_AVX512CD = 1u << 11,
  ARROWHEAD_CPU_AVX512VNNI = 1u << 12,
  ARROWHEAD_CPU_AVX512BF16 = 1u << 13,
  ARROWHEAD_CPU_AVXVNNI = 1u << 14,
  /// AMX tiles with int8 dot products (`tdpbsud`: Sapphire Rapids and later Xeons). Usable
  /// only when the OS saves the tile state and, on Linux, grants it to this process.
  ARROWHEAD_CPU_AMXINT8 = 1u << 15,
  ARROWHEAD_CPU_NEON = 1u << 16,
  ARROWHEAD_CPU_DOTPROD = 1u << 17,
  ARROWHEAD_CPU_FP16 = 1u << 18,
  ARROWHEAD_CPU_BF16 = 1u << 19,
  ARROWHEAD_CPU_I8MM = 1u << 20,
  ARROWHEAD_CPU_SVE = 1u << 21,
};

/// Bitwise OR of the ARROWHEAD_CPU_* features that the CPU has and the OS enables. AMX-INT8
/// counts only when XCR0 has the tile state (bits 17–18) and, on Linux, the process's request
/// for it (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, made here, once per
/// process in effect: the grant is process-wide and a repeated request is a no-op) succeeds.
uint64_t arrowhead_cpu_features(void);

/// Raw feature bits as the CPU reports them, before the OS (XGETBV) check. Lets the
/// probe say "the CPU has AVX-512 but the OS does not save ZMM state".
uint64_t arrowhead_cpu_features_without_os_check(void);

/// Writes the CPU vendor (e.g. "AuthenticAMD") into `buffer` (NUL-terminated).
void arrowhead_cpu_vendor(char *buffer, int capacity);

/// CLOCK_MONOTONIC seconds at which this library was loaded (set by a constructor, before
/// `main`, about when the other libraries of the process were loaded and their constructors
/// ran, OpenBLAS's thread start-up among them).
double arrowhead_loaded_at(void);

/// Writes the CPU brand string into `buffer` (NUL-terminated, may be empty).
void arrowhead_cpu_brand(char *buffer, int capacity);

/// Family / model / stepping (x86-64 display values; 0 elsewhere).
void arrowhead_cpu_signature(int *family, int *model, int *stepping);

/// 1 where the CPU executes each 512-bit vector instruction as two 256-bit halves (AMD
/// family 0x19: Zen 4, the first AMD core with AVX-512; Zen 5 has full-width units), else 0.
int arrowhead_cpu_splits_512bit_vectors(void);

/// The XCR0 register (0 when not available): which register states the OS saves.
uint64_t arrowhead_cpu_xcr0(void);

/// Logical CPUs in this process's affinity mask (Linux); 0 when unknown.
int arrowhead_cpu_affinity_count(void);

#ifdef __cplusplus
}
#endif

#endif
