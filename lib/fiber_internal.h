/* Cooperative tasks (fibers) on one thread, for the scan engine: code that
 * runs in a fiber keeps its plain blocking shape (connect, write, read with
 * a timeout), and while it waits in ts_wait_fd, fiber_sleep_ms or
 * fiber_sem_wait the thread runs the other fibers.  One thread then drives
 * every probe of a target: no thread starts, no wake-ups across CPUs.
 *
 * Outside fiber_main every call works as its blocking counterpart on the
 * calling thread (fiber_spawn returns NULL: run the function yourself). */
#ifndef TLSSCOPE_FIBER_INTERNAL_H
#define TLSSCOPE_FIBER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

struct fiber;

/* Runs fn(arg) as the first fiber of a scheduler on this thread; returns
 * once every fiber has ended: FIBER_DONE.  FIBER_NOT_RUN when none could
 * start (no memory): run fn yourself.  FIBER_STALLED when every fiber was
 * left waiting on another (a bug): fn did not finish. */
enum fiber_end { FIBER_DONE, FIBER_NOT_RUN, FIBER_STALLED };
enum fiber_end fiber_main(void (*fn)(void *), void *arg);

/* A new fiber that runs fn(arg), to be joined; NULL outside fiber_main or
 * without memory. */
struct fiber *fiber_spawn(void (*fn)(void *), void *arg);
/* Waits for f to end, and frees it. */
void fiber_join(struct fiber *f);
/* fn on each of the n items (items + i * size) side by side: the first on
 * the calling fiber, the others as fibers (or after it, if none can be
 * made); returns when all have ended.  n is at most FIBER_EACH_MAX. */
#define FIBER_EACH_MAX 8
void fiber_each(void (*fn)(void *), void *items, size_t size, size_t n);

void fiber_sleep_ms(unsigned ms);

/* A counting semaphore between the fibers of one thread.  A slot given
 * back goes to the waiter that has taken the most slots, then to the one
 * that has waited longest.  Outside a fiber nothing else could post, so a
 * wait on a count of 0 returns at once. */
struct fiber_sem {
	unsigned count;
};
void fiber_sem_wait(struct fiber_sem *s);
void fiber_sem_post(struct fiber_sem *s);

/* For ts_wait_fd: in a fiber, waits until fd is readable (or writable) or
 * timeout_ms have passed (< 0: no limit); 1 ready, 0 timed out, -1 poll()
 * failed (errno).  FIBER_OUTSIDE outside a fiber: the caller waits itself. */
#define FIBER_OUTSIDE (-2)
int fiber_wait_fd(int fd, bool for_write, int timeout_ms);

#endif
