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

#endif
