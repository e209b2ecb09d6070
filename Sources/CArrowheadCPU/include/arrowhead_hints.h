/// CPU hints that Swift has no spelling for. `static inline`, so every Swift module that
/// calls them compiles its own copy (with its own -march), and no symbol is shared.
#ifndef ARROWHEAD_HINTS_H
#define ARROWHEAD_HINTS_H

/// Asks the cache to fetch the line holding `address` for writing (prefetchw / prefetcht0).
static inline void arrowhead_prefetch_for_write(const void *address) {
  __builtin_prefetch(address, 1, 3);
}

/// Asks the cache to fetch the line holding `address` for reading into all levels.
static inline void arrowhead_prefetch_for_read(const void *address) {
  __builtin_prefetch(address, 0, 3);
}

/// Asks for the line holding `address` in the outer caches only (prefetcht1).
static inline void arrowhead_prefetch_to_l2(const void *address) {
  __builtin_prefetch(address, 0, 2);
}

/// 1 when the search kernels request only the first lines of the rows they will read and
/// leave the rest to the hardware prefetchers, 0 when they request every line. Chosen once
/// at load (cpu.c): `ARROWHEAD_SEARCH_PREFETCH=heads` or `=rows` when set, else heads on
/// Intel CPUs, whose L2 streamer follows a row once its first lines are asked for and whose
/// cores stalled on the full-row requests (Xeon 6/207: MiniLM HNSW +18 %), and rows elsewhere
/// (measured faster on Zen 4). Read through `arrowhead_search_prefetches_heads`.
extern int arrowhead_search_prefetch_heads;

/// See `arrowhead_search_prefetch_heads` (a plain load: no once-check per call).
static inline int arrowhead_search_prefetches_heads(void) { return arrowhead_search_prefetch_heads; }

#endif
