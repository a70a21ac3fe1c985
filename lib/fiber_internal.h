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

struct fiber;

/* Runs fn(arg) as the first fiber of a scheduler on this thread; returns
 * once every fiber has ended.  False when none could start (no memory):
 * fn did not run. */
bool fiber_main(void (*fn)(void *), void *arg);

/* A new fiber that runs fn(arg), to be joined; NULL outside fiber_main or
 * without memory. */
struct fiber *fiber_spawn(void (*fn)(void *), void *arg);
/* Waits for f to end, and frees it. */
void fiber_join(struct fiber *f);

void fiber_sleep_ms(unsigned ms);

/* A counting semaphore between the fibers of one thread. */
struct fiber_sem {
	unsigned count;
};
void fiber_sem_wait(struct fiber_sem *s);
void fiber_sem_post(struct fiber_sem *s);

/* For ts_wait_fd: in a fiber, waits until fd is readable (or writable) or
 * timeout_ms have passed (< 0: no limit); 1 ready, 0 timed out.  -1 outside
 * a fiber: the caller waits itself. */
int fiber_wait_fd(int fd, bool for_write, int timeout_ms);

#endif
