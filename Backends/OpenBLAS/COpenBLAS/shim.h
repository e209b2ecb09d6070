// COpenBLAS: Debian's OpenBLAS (cblas + its own entry points) and LAPACKE.
// Internal module of Arrowhead; it makes no API stability promise.
#ifndef ARROWHEAD_COPENBLAS_SHIM_H
#define ARROWHEAD_COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
