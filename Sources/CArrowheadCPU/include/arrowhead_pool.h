/// A fork–join pool of worker threads that spin briefly between jobs.
///
/// `Parallel.forEach` runs on it. Dispatch's `concurrentPerform` wakes a parked worker for
/// every call: on these machines that takes longer than half of a 256×256 gemm, so the
/// caller had done both halves by the time the worker arrived and two threads were no
/// faster than one below n ≈ 1024. Workers here keep polling for the next job for
/// `ARROWHEAD_POOL_SPIN_MICROSECONDS` (about a third of a millisecond) after each one,
/// as OpenBLAS's do, then sleep on a condition variable of their own. A job wakes only the
/// threads it runs on, so threads started for one wide loop cost later narrower loops
/// nothing. On Linux a thread starts, and is woken from sleep, on an allowed CPU other than
/// its creator's (its waker's), then takes its creator's whole CPU set back (placement, not
/// pinning: see pool.c).
#ifndef ARROWHEAD_POOL_H
#define ARROWHEAD_POOL_H

#ifdef __cplusplus
extern "C" {
#endif

/// A task body: `index` runs from 0 to the job's count − 1, each exactly once.
typedef void (*arrowhead_pool_task)(void *_Nullable context, long index);

/// How long an idle worker polls for the next job before it sleeps.
#define ARROWHEAD_POOL_SPIN_MICROSECONDS 300

/// The most threads a job runs on: the caller and 255 pool threads. Engines clamp their
/// thread counts to it (`Parallel.maximumThreads`), so a huge request sizes nothing.
#define ARROWHEAD_POOL_MAX_THREADS 256

/// Calls `task(context, i)` for every i in 0 ..< count on the calling thread and up to
/// `threads − 1` pool threads (started on first use, kept for the life of the process),
/// and returns when every call has returned. Indices are claimed dynamically, so a worker
/// that starts late simply takes fewer of them.
///
/// Runs everything on the calling thread, in order, when `threads ≤ 1`, `count ≤ 1`, the
/// call is nested inside a task of this pool, or another thread's job holds the pool
/// (so concurrent callers never oversubscribe the cores).
void arrowhead_pool_run(long count, long threads, arrowhead_pool_task _Nonnull task, void *_Nullable context);

/// Pool threads started so far (for tests and the probe).
long arrowhead_pool_thread_count(void);

/// Wake-ups of a sleeping pool thread that first narrowed its CPU set to CPUs other than
/// the waker's (Linux; the thread restores its set once it runs), for tests.
long arrowhead_pool_placed_wakeups(void);

/// How many CPUs pool thread `id` may run on now (Linux; −1 elsewhere or for a thread not
/// started), for tests.
int arrowhead_pool_thread_allowed_now(long id);

/// Gives pool thread `id` a CPU set from outside, as a user's `taskset -p` would (for tests;
/// Linux): one CPU of the caller's set other than the caller's current one (`one != 0`), or
/// the caller's whole set (`one == 0`). Returns the CPUs it may run on then, −1 on failure,
/// elsewhere or for a thread not started.
int arrowhead_pool_thread_set_cpus_for_testing(long id, int one);

/// Where pool thread `id` started (for tests; Linux, −1 elsewhere): its creator's CPU and
/// allowed CPU count at creation, the thread's first CPU (another allowed one when the
/// creator had several) and its allowed CPU count once running (the creator's: placement,
/// not pinning). Returns −1 for a thread not started.
int arrowhead_pool_thread_placement(long id, int *_Nonnull creator_cpu, int *_Nonnull creator_allowed,
                                    int *_Nonnull first_cpu, int *_Nonnull allowed_after);

/// How many times a pool thread has gone to sleep and woken up again (for tests: a loop
/// on `threads` threads wakes at most `threads − 1`).
long arrowhead_pool_wakeups(void);

#ifdef __cplusplus
}
#endif

#endif
