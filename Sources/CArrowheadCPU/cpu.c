// CPU feature detection for Arrowhead. See include/arrowhead_cpu.h.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "arrowhead_cpu.h"

#if defined(__linux__)
#include <sched.h>
int arrowhead_cpu_affinity_count(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}
#else
int arrowhead_cpu_affinity_count(void) { return 0; }
#endif

#include <string.h>
#include <stdlib.h>
#include <time.h>
#include "arrowhead_hints.h"

int arrowhead_search_prefetch_heads = 0;
double arrowhead_load_seconds = 0;

/// Records when the library was loaded (see `arrowhead_loaded_at`).
__attribute__((constructor)) static void arrowhead_record_load_time(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  arrowhead_load_seconds = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

double arrowhead_loaded_at(void) { return arrowhead_load_seconds; }

/// Sets `arrowhead_search_prefetch_heads` (see arrowhead_hints.h) before any search runs.
__attribute__((constructor)) static void arrowhead_choose_search_prefetch(void) {
  const char *choice = getenv("ARROWHEAD_SEARCH_PREFETCH");
  if (choice && strcmp(choice, "heads") == 0) {
    arrowhead_search_prefetch_heads = 1;
  } else if (choice && strcmp(choice, "rows") == 0) {
    arrowhead_search_prefetch_heads = 0;
  } else {
    char vendor[16];
    arrowhead_cpu_vendor(vendor, (int)sizeof vendor);
    arrowhead_search_prefetch_heads = strcmp(vendor, "GenuineIntel") == 0;
  }
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static void cpuid_count(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(leaf, subleaf, &a, &b, &c, &d)) { a = b = c = d = 0; }
  regs[0] = a; regs[1] = b; regs[2] = c; regs[3] = d;
}

static unsigned max_leaf(void) { return __get_cpuid_max(0, 0); }

uint64_t arrowhead_cpu_xcr0(void) {
  unsigned regs[4];
  cpuid_count(1, 0, regs);
  int osxsave = (regs[2] >> 27) & 1;
  if (!osxsave) return 0;
  unsigned eax, edx;
  // xgetbv with ecx = 0, written as bytes so that no -mxsave is needed.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

uint64_t arrowhead_cpu_features_without_os_check(void) {
  uint64_t f = 0;
  unsigned r1[4] = {0}, r7[4] = {0}, r71[4] = {0};
  unsigned top = max_leaf();
  if (top >= 1) cpuid_count(1, 0, r1);
  if (top >= 7) { cpuid_count(7, 0, r7); cpuid_count(7, 1, r71); }
  unsigned ecx1 = r1[2], edx1 = r1[3], ebx7 = r7[1], ecx7 = r7[2], edx7 = r7[3], eax71 = r71[0];
  if (edx1 & (1u << 26)) f |= ARROWHEAD_CPU_SSE2;
  if (ecx1 & (1u << 20)) f |= ARROWHEAD_CPU_SSE42;
  if (ecx1 & (1u << 28)) f |= ARROWHEAD_CPU_AVX;
  if (ecx1 & (1u << 12)) f |= ARROWHEAD_CPU_FMA;
  if (ecx1 & (1u << 29)) f |= ARROWHEAD_CPU_F16C;
  if (ebx7 & (1u << 5)) f |= ARROWHEAD_CPU_AVX2;
  if (ebx7 & (1u << 8)) f |= ARROWHEAD_CPU_BMI2;
  if (ebx7 & (1u << 16)) f |= ARROWHEAD_CPU_AVX512F;
  if (ebx7 & (1u << 17)) f |= ARROWHEAD_CPU_AVX512DQ;
  if (ebx7 & (1u << 28)) f |= ARROWHEAD_CPU_AVX512CD;
  if (ebx7 & (1u << 30)) f |= ARROWHEAD_CPU_AVX512BW;
  if (ebx7 & (1u << 31)) f |= ARROWHEAD_CPU_AVX512VL;
  if (ecx7 & (1u << 11)) f |= ARROWHEAD_CPU_AVX512VNNI;
  if (eax71 & (1u << 5)) f |= ARROWHEAD_CPU_AVX512BF16;
  if (eax71 & (1u << 4)) f |= ARROWHEAD_CPU_AVXVNNI;
  if ((edx7 & (1u << 24)) && (edx7 & (1u << 25))) f |= ARROWHEAD_CPU_AMXINT8;  // AMX-TILE and AMX-INT8
  return f;
}

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
/// Asks Linux for the AMX tile data state (off by default for every process since 5.16):
/// ARCH_REQ_XCOMP_PERM (0x1023) with XFEATURE_XTILEDATA (18). 1 when granted.
static int request_tile_state(void) { return syscall(SYS_arch_prctl, 0x1023, 18) == 0; }
#else
/// Other systems: no AMX (none of them runs on a CPU that has it and hands it out this way).
static int request_tile_state(void) { return 0; }
#endif

uint64_t arrowhead_cpu_features(void) {
  uint64_t f = arrowhead_cpu_features_without_os_check();
  uint64_t xcr0 = arrowhead_cpu_xcr0();
  const uint64_t avxState = 0x6;          // XMM (bit 1) and YMM (bit 2)
  const uint64_t avx512State = 0xE0;      // opmask, ZMM_Hi256, Hi16_ZMM (bits 5-7)
  uint64_t avxFamily = ARROWHEAD_CPU_AVX | ARROWHEAD_CPU_AVX2 | ARROWHEAD_CPU_FMA | ARROWHEAD_CPU_F16C | ARROWHEAD_CPU_AVXVNNI;
  uint64_t avx512Family = ARROWHEAD_CPU_AVX512F | ARROWHEAD_CPU_AVX512BW | ARROWHEAD_CPU_AVX512VL |
                          ARROWHEAD_CPU_AVX512DQ | ARROWHEAD_CPU_AVX512CD | ARROWHEAD_CPU_AVX512VNNI |
                          ARROWHEAD_CPU_AVX512BF16;
  if ((xcr0 & avxState) != avxState) f &= ~(avxFamily | avx512Family);
  if ((xcr0 & avx512State) != avx512State) f &= ~avx512Family;
  const uint64_t tileState = 0x60000;     // XTILECFG, XTILEDATA (bits 17-18)
  if ((f & ARROWHEAD_CPU_AMXINT8) && ((xcr0 & tileState) != tileState || !request_tile_state())) f &= ~(uint64_t)ARROWHEAD_CPU_AMXINT8;
  return f;
}

void arrowhead_cpu_vendor(char *buffer, int capacity) {
  if (capacity <= 0) return;
  unsigned regs[4];
  cpuid_count(0, 0, regs);
  char v[13];
  memcpy(v, &regs[1], 4); memcpy(v + 4, &regs[3], 4); memcpy(v + 8, &regs[2], 4);
  v[12] = 0;
  strncpy(buffer, v, (size_t)capacity - 1);
  buffer[capacity - 1] = 0;
}

void arrowhead_cpu_brand(char *buffer, int capacity) {
  if (capacity <= 0) return;
  buffer[0] = 0;
  unsigned top = __get_cpuid_max(0x80000000u, 0);
  if (top < 0x80000004u) return;
  char brand[49];
  for (unsigned i = 0; i < 3; i++) {
    unsigned regs[4];
    cpuid_count(0x80000002u + i, 0, regs);
    memcpy(brand + 16 * i, regs, 16);
  }
  brand[48] = 0;
  const char *start = brand;
  while (*start == ' ') start++;
  strncpy(buffer, start, (size_t)capacity - 1);
  buffer[capacity - 1] = 0;
}

void arrowhead_cpu_signature(int *family, int *model, int *stepping) {
  unsigned regs[4];
  cpuid_count(1, 0, regs);
  unsigned eax = regs[0];
  unsigned baseFamily = (eax >> 8) & 0xF, baseModel = (eax >> 4) & 0xF;
  unsigned extFamily = (eax >> 20) & 0xFF, extModel = (eax >> 16) & 0xF;
  unsigned fam = baseFamily == 0xF ? baseFamily + extFamily : baseFamily;
  unsigned mod = (baseFamily == 0x6 || baseFamily == 0xF) ? (extModel << 4) + baseModel : baseModel;
  *family = (int)fam; *model = (int)mod; *stepping = (int)(eax & 0xF);
}

int arrowhead_cpu_splits_512bit_vectors(void) {
  char vendor[16];
  arrowhead_cpu_vendor(vendor, (int)sizeof vendor);
  int family, model, stepping;
  arrowhead_cpu_signature(&family, &model, &stepping);
  return strcmp(vendor, "AuthenticAMD") == 0 && family == 0x19;
}

#elif defined(__aarch64__)

#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int has_sysctl(const char *name) {
  int value = 0; size_t size = sizeof(value);
  if (sysctlbyname(name, &value, &size, NULL, 0) != 0) return 0;
  return value != 0;
}
#endif

uint64_t arrowhead_cpu_features_without_os_check(void) {
  uint64_t f = ARROWHEAD_CPU_NEON;  // Advanced SIMD is mandatory on AArch64.
#if defined(__linux__)
  unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  if (hw & HWCAP_ASIMDDP) f |= ARROWHEAD_CPU_DOTPROD;
  if (hw & HWCAP_ASIMDHP) f |= ARROWHEAD_CPU_FP16;
  if (hw & HWCAP_SVE) f |= ARROWHEAD_CPU_SVE;
  if (hw2 & HWCAP2_BF16) f |= ARROWHEAD_CPU_BF16;
  if (hw2 & HWCAP2_I8MM) f |= ARROWHEAD_CPU_I8MM;
#elif defined(__APPLE__)
  if (has_sysctl("hw.optional.arm.FEAT_DotProd")) f |= ARROWHEAD_CPU_DOTPROD;
  if (has_sysctl("hw.optional.arm.FEAT_FP16")) f |= ARROWHEAD_CPU_FP16;
  if (has_sysctl("hw.optional.arm.FEAT_BF16")) f |= ARROWHEAD_CPU_BF16;
  if (has_sysctl("hw.optional.arm.FEAT_I8MM")) f |= ARROWHEAD_CPU_I8MM;
#endif
  return f;
}
uint64_t arrowhead_cpu_features(void) { return arrowhead_cpu_features_without_os_check(); }
uint64_t arrowhead_cpu_xcr0(void) { return 0; }
void arrowhead_cpu_vendor(char *buffer, int capacity) {
  if (capacity <= 0) return;
  strncpy(buffer, "ARM", (size_t)capacity - 1); buffer[capacity - 1] = 0;
}
void arrowhead_cpu_brand(char *buffer, int capacity) {
  if (capacity <= 0) return;
  buffer[0] = 0;
#if defined(__APPLE__)
  size_t size = (size_t)capacity;
  if (sysctlbyname("machdep.cpu.brand_string", buffer, &size, NULL, 0) != 0) buffer[0] = 0;
#endif
}
void arrowhead_cpu_signature(int *family, int *model, int *stepping) { *family = 0; *model = 0; *stepping = 0; }
int arrowhead_cpu_splits_512bit_vectors(void) { return 0; }

#else
uint64_t arrowhead_cpu_features_without_os_check(void) { return 0; }
uint64_t arrowhead_cpu_features(void) { return 0; }
uint64_t arrowhead_cpu_xcr0(void) { return 0; }
void arrowhead_cpu_vendor(char *buffer, int capacity) { if (capacity > 0) buffer[0] = 0; }
void arrowhead_cpu_brand(char *buffer, int capacity) { if (capacity > 0) buffer[0] = 0; }
void arrowhead_cpu_signature(int *family, int *model, int *stepping) { *family = 0; *model = 0; *stepping = 0; }
int arrowhead_cpu_splits_512bit_vectors(void) { return 0; }
#endif
