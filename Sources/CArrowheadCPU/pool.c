// The fork–join pool behind Parallel.forEach. See include/arrowhead_pool.h.
//
// One job at a time. A job is published as a 64-bit ticket (generation << 32 | next index)
// plus the task, context, count and thread limit. Threads claim indices by compare-and-swap
// on the ticket, so a claim made with a stale generation fails instead of stealing an index
// of the next job, and the caller waits for `done == count` (finished indices), never for a
// thread that slept through the job. The task and context are read before the claim and
// only used if the claim, which re-checks the generation, succeeds. Only the threads a job
// invites (ids below its thread limit − 1) poll for or are woken by it; the others sleep on
// their own condition variable until a job invites them.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "arrowhead_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define ARROWHEAD_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define ARROWHEAD_RELAX() __asm__ __volatile__("yield")
#else
#define ARROWHEAD_RELAX() ((void)0)
#endif

enum { max_pool_threads = ARROWHEAD_POOL_MAX_THREADS - 1 };

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;  // held by the job's caller
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint64_t ticket;         // generation << 32 | next unclaimed index
static _Atomic(arrowhead_pool_task) job_task;
static _Atomic(void *) job_context;
static _Atomic long job_count;
static _Atomic long job_threads;        // pool threads with id < job_threads − 1 may claim
static _Atomic long job_done;           // indices finished
static _Atomic long sleepers;
static _Atomic long started_threads;
static _Atomic long wakeups;           // returns from a sleep (for tests)
static _Atomic long placed_wakeups;    // wake-ups narrowed away from the waker's CPU (for tests)
// One condition variable per pool thread (under sleep_lock), so that a job wakes only the
// threads it invites: with one shared one, every job woke every sleeping thread, and each
// then polled for ARROWHEAD_POOL_SPIN_MICROSECONDS. After one 16-thread loop on a 2-core
// machine, every later 2-thread gemm of 256² took 5× as long (15 pollers on 2 cores).
static struct {
  pthread_cond_t wake;
  bool sleeping;
#if defined(__linux__)
  pthread_t thread;
  bool started;        // `thread` is set
  bool placed;         // the waker narrowed the thread's CPU set (`place_sleeper`)
  cpu_set_t allowed;   // the thread's own CPU set: its creator's, read again before each
                       // placed wake-up (a set given to the thread meanwhile is kept)
#endif
} slots[max_pool_threads];
static uint32_t generation;             // written under submit_lock only
static _Thread_local bool inside_job;

static uint64_t now_nanoseconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#if defined(__linux__)
// Before waking sleeping pool thread `id` (under sleep_lock): narrows its CPU set to the
// allowed CPUs other than the waker's, so that it wakes up beside the caller rather than
// on the caller's CPU; the thread takes its whole set back as soon as it runs. Woken
// without this, it often shared the caller's CPU: on the 2-vCPU Zen 4 VM, Python calling
// `arrowhead.gemm` (512³, 2 threads) every 5 ms, the worker had run on the caller's CPU
// after 91–102 of 150 calls, which then took 3.0–3.3 ms — one thread's time (2.65–3.07) — against
// 1.43 with the calls back to back (worker still polling).
// The set it takes back is the one it has when it is woken, not the one it was created
// with: a set given to the thread while it slept (`taskset -p`, a user's
// pthread_setaffinity_np) is kept.
static void place_sleeper(long id) {
  if (!slots[id].started) return;
  cpu_set_t current;
  if (pthread_getaffinity_np(slots[id].thread, sizeof current, &current) != 0 || CPU_COUNT(&current) < 2) return;
  int here = sched_getcpu();
  if (here < 0 || !CPU_ISSET(here, &current)) return;
  cpu_set_t elsewhere = current;
  CPU_CLR(here, &elsewhere);
  slots[id].allowed = current;
  if (pthread_setaffinity_np(slots[id].thread, sizeof elsewhere, &elsewhere) == 0) {
    slots[id].placed = true;
    atomic_fetch_add_explicit(&placed_wakeups, 1, memory_order_relaxed);
  }
}
#endif

// Claims and runs indices of the job of generation `gen` until none are left. `id` is the
// pool thread's number, or −1 for the caller (always allowed).
static void work(uint32_t gen, long id) {
  for (;;) {
    uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
    if ((uint32_t)(t >> 32) != gen) return;
    arrowhead_pool_task task = atomic_load_explicit(&job_task, memory_order_relaxed);
    void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
    long count = atomic_load_explicit(&job_count, memory_order_relaxed);
    long threads = atomic_load_explicit(&job_threads, memory_order_relaxed);
    if (id + 1 >= threads) return;
    uint32_t index = (uint32_t)t;
    if ((long)index >= count) return;
    if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel, memory_order_relaxed)) {
      continue;
    }
    task(context, (long)index);
    atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
  }
}

// Whether the job last published lets pool thread `id` claim indices.
static bool invited(long id) { return id + 1 < atomic_load(&job_threads); }

struct worker_start {
  long id;
  uint32_t seen;
#if defined(__linux__)
  bool restore;        // whether the thread takes `slots[id].allowed` back when it starts
#endif
};

#if defined(__linux__)
// Starts pool thread `id` on an allowed CPU other than the creating thread's, and has it
// take the creator's whole CPU set back as its first step (`restore_affinity`): placement,
// not pinning. Created without this, the thread started on its creator's CPU, and the
// scheduler, seeing two threads that never stop running (the caller computing, the worker
// polling between jobs) as cache-hot, left them sharing that CPU while the other one idled
// for about a tenth of a second. On the 2-vCPU Zen 4 VM (CPUs read from
// `/proc/self/task/*/stat` after each calibration step): 16 of 30 fresh two-thread
// calibrations ran both threads on one vCPU at their first large step, and 15 of 30 timed
// the v4 gemv 768×768 there above 14 µs (8–13 once apart); placed this way, 2 and 1 of 30.
// A fresh process's first two-thread gemm 256³ (`bench gemm --sizes 256 --threads 2
// --repeats 1`) ran at one thread's speed (0.24–0.32 ms against 0.16) in 6 of 24 processes,
// in none of 24 placed.
// Returns whether the creator's CPU set was read into `slots[start->id].allowed`.
static bool place_away_from_creator(pthread_attr_t *attributes, struct worker_start *start) {
  start->restore = false;
  cpu_set_t *allowed = &slots[start->id].allowed;
  if (sched_getaffinity(0, sizeof *allowed, allowed) != 0) return false;
  int count = CPU_COUNT(allowed);
  int here = sched_getcpu();
  if (count < 2 || here < 0) return true;
  // The (id + 1)-th allowed CPU after the creator's, cyclically: pool threads spread out.
  int skip = (int)(start->id % (count - 1)) + 1, target = -1;
  for (int step = 1; step <= CPU_SETSIZE && skip > 0; step++) {
    int cpu = (here + step) % CPU_SETSIZE;
    if (CPU_ISSET(cpu, allowed) && --skip == 0) target = cpu;
  }
  if (target < 0 || target == here) return true;
  cpu_set_t first;
  CPU_ZERO(&first);
  CPU_SET(target, &first);
  if (pthread_attr_setaffinity_np(attributes, sizeof first, &first) == 0) start->restore = true;
  return true;
}

static void restore_affinity(const struct worker_start *start) {
  if (start->restore) pthread_setaffinity_np(pthread_self(), sizeof slots[start->id].allowed, &slots[start->id].allowed);
}
#endif

// Where each pool thread was started (for tests): the creator's CPU and allowed CPU count
// at creation, the thread's CPU when it began, and its allowed CPU count after it restored
// the creator's set. −1 where unknown.
static struct {
  _Atomic int creator_cpu, creator_allowed, first_cpu, allowed_after;
} placements[max_pool_threads];

static void *worker_main(void *argument) {
  struct worker_start start = *(struct worker_start *)argument;
  free(argument);
  long id = start.id;
#if defined(__linux__)
  pthread_setname_np(pthread_self(), "arrowhead-pool");  // as top, gdb and /proc show it
  placements[id].first_cpu = sched_getcpu();
  restore_affinity(&start);
  cpu_set_t now;
  if (sched_getaffinity(0, sizeof now, &now) == 0) placements[id].allowed_after = CPU_COUNT(&now);
#endif
  inside_job = true;  // a task that calls the pool again runs its loop serially
  // The generation before the job that started this thread (it is created under
  // submit_lock before that job is published): a thread that starts late must still see
  // that job as new, or a first job of long-running indices ran on the caller alone.
  uint32_t seen = start.seen;
  for (;;) {
    // Poll for a new generation for a while, then sleep until one is published.
    uint32_t gen = (uint32_t)(atomic_load_explicit(&ticket, memory_order_acquire) >> 32);
    if (gen == seen) {
      uint64_t deadline = now_nanoseconds() + (uint64_t)ARROWHEAD_POOL_SPIN_MICROSECONDS * 1000u;
      unsigned spins = 0;
      while ((gen = (uint32_t)(atomic_load_explicit(&ticket, memory_order_acquire) >> 32)) == seen) {
        ARROWHEAD_RELAX();
        if (++spins % 128 == 0 && now_nanoseconds() > deadline) break;
      }
    }
    // A job this thread is not invited to (id + 1 ≥ its thread count) is not waited for
    // by polling: the thread sleeps until a job that invites it is published.
    if (gen == seen || !invited(id)) {
      pthread_mutex_lock(&sleep_lock);
      slots[id].sleeping = true;
      atomic_fetch_add(&sleepers, 1);
      while ((gen = (uint32_t)(atomic_load(&ticket) >> 32)) == seen || !invited(id)) {
        pthread_cond_wait(&slots[id].wake, &sleep_lock);
      }
      atomic_fetch_add_explicit(&wakeups, 1, memory_order_relaxed);
      atomic_fetch_sub(&sleepers, 1);
      slots[id].sleeping = false;
#if defined(__linux__)
      bool placed = slots[id].placed;
      slots[id].placed = false;
#endif
      pthread_mutex_unlock(&sleep_lock);
#if defined(__linux__)
      if (placed) pthread_setaffinity_np(pthread_self(), sizeof slots[id].allowed, &slots[id].allowed);
#endif
    }
    seen = gen;
    work(gen, id);
  }
  return 0;
}

// In the child of a fork(), which has only the forking thread: forgets the pool threads,
// which do not exist there, so that the child's first loop on several threads starts its
// own. Left as they were, the child ran every loop on one thread (its `started_threads`
// said the threads were there), and at a wake-up it narrowed the CPU set of "pool thread
// 0" — glibc's descriptor of a thread gone in the child, whose affinity calls act on the
// calling thread — so that the child's own thread was left on one CPU: a Python child of
// multiprocessing's fork after two-thread calls in the parent ran on CPU [1] alone. The
// locks a parent thread may have held at the fork are made afresh (the submit lock only
// if the forking thread is not itself inside a job); a slot's condition variable, placement
// record and flags are set again when `ensure_threads` starts its thread.
static void forget_threads_in_child(void) {
  pthread_mutex_init(&sleep_lock, NULL);
  if (!inside_job) pthread_mutex_init(&submit_lock, NULL);
  for (long id = 0; id < atomic_load(&started_threads); id++) {
    slots[id].sleeping = false;
#if defined(__linux__)
    slots[id].started = false;
#endif
  }
  atomic_store(&sleepers, 0);
  atomic_store(&started_threads, 0);
}

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static void register_fork_handler(void) { pthread_atfork(NULL, NULL, forget_threads_in_child); }

// Starts pool threads until there are `wanted` (capped); returns how many exist.
static long ensure_threads(long wanted) {
  if (wanted > max_pool_threads) wanted = max_pool_threads;
  long have = atomic_load(&started_threads);
  if (have < wanted) pthread_once(&fork_handler_once, register_fork_handler);
  while (have < wanted) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    struct worker_start *start = malloc(sizeof *start);
    int failed = 1;
    if (start) {
      start->id = have;
      start->seen = generation;
      placements[have].creator_cpu = placements[have].creator_allowed = -1;
      placements[have].first_cpu = placements[have].allowed_after = -1;
#if defined(__linux__)
      bool known = place_away_from_creator(&attributes, start);
      placements[have].creator_cpu = sched_getcpu();
      placements[have].creator_allowed = known ? CPU_COUNT(&slots[have].allowed) : -1;
#endif
      pthread_cond_init(&slots[have].wake, NULL);
      failed = pthread_create(&thread, &attributes, worker_main, start);
#if defined(__linux__)
      if (failed && start->restore) {  // the placement was refused: start it anywhere
        start->restore = false;
        pthread_attr_destroy(&attributes);
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        failed = pthread_create(&thread, &attributes, worker_main, start);
      }
#endif
      if (failed) {
        free(start);
        pthread_cond_destroy(&slots[have].wake);
      }
    }
    pthread_attr_destroy(&attributes);
    if (failed) break;  // run with the threads there are
#if defined(__linux__)
    pthread_mutex_lock(&sleep_lock);
    slots[have].thread = thread;
    slots[have].placed = false;
    slots[have].started = true;
    pthread_mutex_unlock(&sleep_lock);
#endif
    have += 1;
    atomic_store(&started_threads, have);
  }
  return have;
}

void arrowhead_pool_run(long count, long threads, arrowhead_pool_task task, void *context) {
  if (count <= 0) return;
  if (threads > count) threads = count;
  if (threads <= 1 || count > (long)UINT32_MAX || inside_job || pthread_mutex_trylock(&submit_lock) != 0) {
    for (long i = 0; i < count; i++) task(context, i);
    return;
  }
  long helpers = ensure_threads(threads - 1);
  if (helpers == 0) {
    pthread_mutex_unlock(&submit_lock);
    for (long i = 0; i < count; i++) task(context, i);
    return;
  }
  inside_job = true;
  generation += 1;
  atomic_store_explicit(&job_task, task, memory_order_relaxed);
  atomic_store_explicit(&job_context, context, memory_order_relaxed);
  atomic_store_explicit(&job_count, count, memory_order_relaxed);
  atomic_store_explicit(&job_threads, helpers + 1 < threads ? helpers + 1 : threads, memory_order_relaxed);
  atomic_store_explicit(&job_done, 0, memory_order_relaxed);
  atomic_store(&ticket, (uint64_t)generation << 32);  // publishes the fields above
  if (atomic_load(&sleepers) > 0) {
    long invitedThreads = atomic_load_explicit(&job_threads, memory_order_relaxed) - 1;
    pthread_mutex_lock(&sleep_lock);
    for (long id = 0; id < invitedThreads; id++) {
      if (!slots[id].sleeping) continue;
#if defined(__linux__)
      place_sleeper(id);
#endif
      pthread_cond_signal(&slots[id].wake);
    }
    pthread_mutex_unlock(&sleep_lock);
  }
  work(generation, -1);
  unsigned spins = 0;
  while (atomic_load_explicit(&job_done, memory_order_acquire) < count) {
    ARROWHEAD_RELAX();
    if (++spins % 1024 == 0) sched_yield();  // the last index runs on a descheduled thread
  }
  inside_job = false;
  pthread_mutex_unlock(&submit_lock);
}

long arrowhead_pool_thread_count(void) { return atomic_load(&started_threads); }

long arrowhead_pool_wakeups(void) { return atomic_load_explicit(&wakeups, memory_order_relaxed); }

int arrowhead_pool_thread_placement(long id, int *creator_cpu, int *creator_allowed, int *first_cpu, int *allowed_after) {
  if (id < 0 || id >= atomic_load(&started_threads)) return -1;
  *creator_cpu = placements[id].creator_cpu;
  *creator_allowed = placements[id].creator_allowed;
  *first_cpu = placements[id].first_cpu;
  *allowed_after = placements[id].allowed_after;
  return 0;
}

long arrowhead_pool_placed_wakeups(void) { return atomic_load_explicit(&placed_wakeups, memory_order_relaxed); }

int arrowhead_pool_thread_set_cpus_for_testing(long id, int one) {
#if defined(__linux__)
  if (id < 0 || id >= atomic_load(&started_threads)) return -1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  if (one) {
    int here = sched_getcpu(), chosen = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && chosen < 0; cpu++) {
      if (CPU_ISSET(cpu, &set) && cpu != here) chosen = cpu;
    }
    if (chosen < 0) return -1;
    CPU_ZERO(&set);
    CPU_SET(chosen, &set);
  }
  pthread_mutex_lock(&sleep_lock);
  int result = slots[id].started && pthread_setaffinity_np(slots[id].thread, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
  pthread_mutex_unlock(&sleep_lock);
  return result;
#else
  (void)id;
  (void)one;
  return -1;
#endif
}

int arrowhead_pool_thread_allowed_now(long id) {
#if defined(__linux__)
  if (id < 0 || id >= atomic_load(&started_threads)) return -1;
  pthread_mutex_lock(&sleep_lock);
  cpu_set_t now;
  int count = slots[id].started && pthread_getaffinity_np(slots[id].thread, sizeof now, &now) == 0 ? CPU_COUNT(&now) : -1;
  pthread_mutex_unlock(&sleep_lock);
  return count;
#else
  (void)id;
  return -1;
#endif
}
