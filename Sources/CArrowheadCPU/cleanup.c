// Temporary files removed on a terminating signal (see arrowhead_cleanup.h).
//
// A fixed table, so that the signal handler touches no allocator and no lock: each slot's
// state goes free → filling (a registering thread copies the path) → ready; the handler
// claims a ready slot (ready → claimed) before reading its path, and unregistering frees a
// slot only if it is still ready, so a path is never read while being overwritten.
#include "arrowhead_cleanup.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

enum { SLOTS = 64, PATH_BYTES = 4096 };
enum { FREE = 0, FILLING = 1, READY = 2, CLAIMED = 3 };

static char paths[SLOTS][PATH_BYTES];
static _Atomic int states[SLOTS];
static atomic_flag installed = ATOMIC_FLAG_INIT;

int arrowhead_cleanup_register(const char *path) {
  size_t length = strlen(path);
  if (length >= PATH_BYTES) return -1;
  for (int slot = 0; slot < SLOTS; slot++) {
    int expected = FREE;
    if (atomic_compare_exchange_strong(&states[slot], &expected, FILLING)) {
      memcpy(paths[slot], path, length + 1);
      atomic_store_explicit(&states[slot], READY, memory_order_release);
      return slot;
    }
  }
  return -1;
}

void arrowhead_cleanup_unregister(int slot) {
  if (slot < 0 || slot >= SLOTS) return;
  int expected = READY;
  // Fails only when a terminating handler has claimed the slot: it removes the file (or
  // finds it already renamed) and the process ends.
  atomic_compare_exchange_strong(&states[slot], &expected, FREE);
}

static void remove_registered_and_reraise(int signal_number) {
  for (int slot = 0; slot < SLOTS; slot++) {
    int expected = READY;
    if (atomic_compare_exchange_strong(&states[slot], &expected, CLAIMED)) unlink(paths[slot]);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, &action, NULL);
  raise(signal_number);
}

int arrowhead_cleanup_install_signal_handlers(void) {
  if (atomic_flag_test_and_set(&installed)) return 0;
  static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  int count = 0;
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
    struct sigaction current;
    if (sigaction(signals[i], NULL, &current) != 0 || current.sa_handler != SIG_DFL) continue;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = remove_registered_and_reraise;
    sigemptyset(&action.sa_mask);
    for (size_t j = 0; j < sizeof signals / sizeof signals[0]; j++) sigaddset(&action.sa_mask, signals[j]);
    if (sigaction(signals[i], &action, NULL) != 0) continue;
    // A blocked mask is inherited across exec (a test runner or service manager may start
    // the process with these signals blocked): unblock the ones taken, so that they land.
    // Threads created afterwards inherit the calling thread's mask.
    sigset_t taken;
    sigemptyset(&taken);
    sigaddset(&taken, signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &taken, NULL);
    count++;
  }
  return count;
}
