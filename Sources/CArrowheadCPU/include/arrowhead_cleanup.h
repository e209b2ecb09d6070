/// Temporary files removed when the process is terminated by a signal.
///
/// `AtomicFile` registers each temporary file while it is being written and unregisters it
/// once renamed or discarded. An application that wants an interrupted write (Ctrl-C, a
/// `kill`) to leave nothing behind installs the handlers (the `arrowhead` CLI does; a
/// library never installs signal handlers by itself): on SIGINT, SIGTERM or SIGHUP they
/// unlink the registered files, restore the signal's default action and raise it again,
/// so the process ends as the signal would have ended it. Without the handlers a killed
/// writer's file stays until the next atomic write into its directory sweeps it.
#ifndef ARROWHEAD_CLEANUP_H
#define ARROWHEAD_CLEANUP_H

#ifdef __cplusplus
extern "C" {
#endif

/// Registers `path` for removal on a terminating signal. Returns a slot (≥ 0) to pass to
/// `arrowhead_cleanup_unregister`, or −1 when the path is too long or every slot is taken
/// (the file is then left to the next sweep, as without handlers).
int arrowhead_cleanup_register(const char *path);

/// Forgets the slot returned by `arrowhead_cleanup_register` (−1: nothing to do).
void arrowhead_cleanup_unregister(int slot);

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP, each only where the signal still
/// has its default action (a signal the process ignores, as a background job ignores
/// SIGINT, stays ignored), and unblocks those signals in the calling thread (a blocked mask
/// inherited from the parent would keep them from ever landing; call it before starting
/// threads, which inherit the mask). Idempotent. Returns how many handlers it installed.
int arrowhead_cleanup_install_signal_handlers(void);

#ifdef __cplusplus
}
#endif

#endif
