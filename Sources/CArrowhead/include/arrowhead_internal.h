/*
 * Internal to libArrowheadC: how the Swift implementation records a failure for
 * ah_last_error(). Not part of the C ABI (not installed, no stability promise).
 */
#ifndef ARROWHEAD_INTERNAL_H
#define ARROWHEAD_INTERNAL_H

#include <stddef.h>
#include "arrowhead.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Records `status` and the `length` bytes of `message` (UTF-8, no NUL needed) as the
 *  calling thread's last error. */
void ah_internal_set_error(ah_status status, const char *message, size_t length);

#ifdef __cplusplus
}
#endif

#endif /* ARROWHEAD_INTERNAL_H */
