// The thread-local last error of the C ABI, and the few ABI functions that need no Swift.
//
// Each thread owns one growable message buffer (C11 _Thread_local). The buffer is also
// registered under a pthread key whose destructor frees it when the thread exits, so a
// thread that ever failed a call does not leak its message.
#include "arrowhead_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char *message_text = NULL;
static _Thread_local size_t message_capacity = 0;
static _Thread_local ah_status message_status = AH_OK;

static pthread_key_t message_key;
static pthread_once_t message_key_once = PTHREAD_ONCE_INIT;

static void release_message(void *buffer) { free(buffer); }
static void make_message_key(void) { (void)pthread_key_create(&message_key, release_message); }

void ah_internal_set_error(ah_status status, const char *message, size_t length) {
  message_status = status;
  if (length + 1 > message_capacity) {
    char *grown = (char *)realloc(message_text, length + 1);
    if (grown == NULL) {
      // Keep the old (shorter) buffer and truncate rather than lose the status.
      if (message_capacity == 0) return;
      length = message_capacity - 1;
    } else {
      message_text = grown;
      message_capacity = length + 1;
      (void)pthread_once(&message_key_once, make_message_key);
      (void)pthread_setspecific(message_key, message_text);
    }
  }
  memcpy(message_text, message, length);
  message_text[length] = '\0';
}

const char *ah_last_error(void) { return message_text != NULL ? message_text : ""; }

ah_status ah_last_status(void) { return message_status; }

void ah_string_free(char *string) { free(string); }

int32_t ah_abi_version(void) { return AH_ABI_VERSION; }

const char *ah_status_name(ah_status status) {
  switch (status) {
    case AH_OK: return "AH_OK";
    case AH_ERROR_INVALID_ARGUMENT: return "AH_ERROR_INVALID_ARGUMENT";
    case AH_ERROR_INVALID_HANDLE: return "AH_ERROR_INVALID_HANDLE";
    case AH_ERROR_NON_FINITE: return "AH_ERROR_NON_FINITE";
    case AH_ERROR_NOT_FOUND: return "AH_ERROR_NOT_FOUND";
    case AH_ERROR_EMPTY_INDEX: return "AH_ERROR_EMPTY_INDEX";
    case AH_ERROR_IO: return "AH_ERROR_IO";
    case AH_ERROR_CORRUPT_FILE: return "AH_ERROR_CORRUPT_FILE";
    case AH_ERROR_UNSUPPORTED: return "AH_ERROR_UNSUPPORTED";
    case AH_ERROR_CALLBACK: return "AH_ERROR_CALLBACK";
    case AH_ERROR_INTERNAL: return "AH_ERROR_INTERNAL";
    default: return "AH_UNKNOWN";
  }
}
