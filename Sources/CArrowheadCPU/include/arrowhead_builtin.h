/// The link between ArrowheadCore and the module that bundles the built-in backends.
///
/// ArrowheadCore (and every engine module built on it) knows no concrete backend. The
/// `Arrowhead` module, which applications import, defines `arrowhead_builtin_backends`;
/// Core refers to it weakly, so that `Engine.default` finds the SIMD and OpenBLAS backends
/// whenever the application links `Arrowhead`, and falls back to the reference backend
/// alone when it does not (a library linking only an engine module).
#ifndef ARROWHEAD_BUILTIN_H
#define ARROWHEAD_BUILTIN_H

#ifdef __cplusplus
extern "C" {
#endif

/// Returns a +1 retained Swift object listing the built-in backends (see
/// `BuiltInBackends` in ArrowheadCore). Defined by the `Arrowhead` module.
extern const void *_Nonnull arrowhead_builtin_backends(void) __attribute__((weak));

/// `arrowhead_builtin_backends()` when the `Arrowhead` module is linked, NULL otherwise.
static inline const void *_Nullable arrowhead_builtin_backends_if_linked(void) {
  return arrowhead_builtin_backends ? arrowhead_builtin_backends() : (const void *)0;
}

#ifdef __cplusplus
}
#endif

#endif
