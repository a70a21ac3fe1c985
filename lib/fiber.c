/* Cooperative tasks on one thread (see fiber_internal.h).  Each fiber has
 * its own stack (ucontext); the scheduler, on the thread's own stack, runs
 * the fibers that are ready, then waits in one poll() for the sockets and
 * deadlines the others wait on. */
#include "fiber_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#include "tlsscope/net.h"

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* As the threads had: OpenSSL's handshakes and verification run on it.
 * Only the pages touched are ever backed; the lowest is a guard. */
#define STACK_SIZE (1u << 20)
#define GUARD 4096u
#define STACKS_KEPT 8

enum state { F_READY, F_FD, F_SLEEP, F_SEM, F_JOIN, F_DONE };

struct fiber {
	ucontext_t ctx;
	void (*fn)(void *);
	void *arg;
	enum state state;
	const void *on;         /* F_SEM: the semaphore; F_JOIN: the fiber */
	uint64_t seq;           /* F_SEM: the order of arrival */
	unsigned uses;          /* slots taken so far */
	int fd;                 /* F_FD */
	short events;
	uint64_t deadline;      /* F_FD, F_SLEEP: monotonic ns; 0: none */
	int result;             /* F_FD: 1 ready, 0 timed out, -1 poll failed */
	int err;                /* then its errno */
	bool joined;
	char *stack;
	void *fake_stack;       /* ASan's */
	struct fiber *next;
};

struct sched {
	ucontext_t ctx;
	struct fiber *all, *cur;
	uint64_t seq;
	char *kept[STACKS_KEPT];  /* stacks of ended fibers, for the next ones */
	size_t n_kept;
	struct pollfd *pfd;
	struct fiber **pfd_owner;
	size_t pfd_cap;
	void *fake_stack;
	const void *stack_bottom;   /* the thread's stack, for ASan */
	size_t stack_size;
};

static _Thread_local struct sched *sched;

static char *stack_new(struct sched *s)
{
	if (s->n_kept > 0)
		return s->kept[--s->n_kept];
	char *p = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p, GUARD, PROT_NONE) != 0) {
		munmap(p, STACK_SIZE);
		return NULL;
	}
	return p;
}

static void stack_free(struct sched *s, char *p)
{
	if (s->n_kept < STACKS_KEPT)
		s->kept[s->n_kept++] = p;
	else
		munmap(p, STACK_SIZE);
}

/* From the scheduler into f; back when f waits or ends. */
static void run(struct sched *s, struct fiber *f)
{
	s->cur = f;
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(&s->fake_stack, f->stack + GUARD, STACK_SIZE - GUARD);
#endif
	swapcontext(&s->ctx, &f->ctx);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(s->fake_stack, NULL, NULL);
#endif
	s->cur = NULL;
}

/* From the running fiber f to the scheduler; back when f is ready again
 * (never, once f is done). */
static void yield(struct sched *s, struct fiber *f)
{
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(f->state == F_DONE ? NULL : &f->fake_stack, s->stack_bottom,
	                               s->stack_size);
#endif
	swapcontext(&f->ctx, &s->ctx);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(f->fake_stack, NULL, NULL);
#endif
}

static void start(void)
{
	struct sched *s = sched;
	struct fiber *f = s->cur;
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(NULL, &s->stack_bottom, &s->stack_size);
#endif
	/* ASan's swapcontext clears the shadow of the stack a context names:
	 * right for a fresh start, wrong on every later switch (it would wipe
	 * the red zones of the live frames) */
	f->ctx.uc_stack.ss_sp = NULL;
	f->ctx.uc_stack.ss_size = 0;
	f->fn(f->arg);
	f->state = F_DONE;
	yield(s, f);
}

/* A context that starts in start() on f's stack (getcontext is only the
 * template: it is never returned to). */
static bool context_init(struct fiber *f)
{
	if (getcontext(&f->ctx) != 0)
		return false;
	f->ctx.uc_stack.ss_sp = f->stack + GUARD;
	f->ctx.uc_stack.ss_size = STACK_SIZE - GUARD;
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, start, 0);
	return true;
}

struct fiber *fiber_spawn(void (*fn)(void *), void *arg)
{
	struct sched *s = sched;
	if (s == NULL)
		return NULL;
	struct fiber *f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	if ((f->stack = stack_new(s)) == NULL || !context_init(f)) {
		if (f->stack != NULL)
			stack_free(s, f->stack);
		free(f);
		return NULL;
	}
	f->fn = fn;
	f->arg = arg;
	f->state = F_READY;
	/* last in the list: fibers first run in the order they were made */
	struct fiber **pp = &s->all;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = f;
	return f;
}

/* The fibers in state st waiting on `on` become ready: all of them, or the
 * one that came first.  False when none waited. */
static bool wake(struct sched *s, enum state st, const void *on, bool all)
{
	bool any = false;
	struct fiber *first = NULL;
	for (struct fiber *g = s->all; g != NULL; g = g->next) {
		if (g->state != st || g->on != on)
			continue;
		any = true;
		if (all)
			g->state = F_READY;
		else if (first == NULL || g->uses > first->uses ||
		         (g->uses == first->uses && g->seq < first->seq))
			first = g;
	}
	if (first != NULL)
		first->state = F_READY;
	return any;
}

void fiber_join(struct fiber *f)
{
	struct sched *s = sched;
	while (f->state != F_DONE) {
		struct fiber *me = s->cur;
		me->state = F_JOIN;
		me->on = f;
		yield(s, me);
	}
	f->joined = true;   /* the scheduler frees it */
}

static void sleep_plain(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void fiber_sleep_ms(unsigned ms)
{
	struct sched *s = sched;
	if (s == NULL || s->cur == NULL) {
		sleep_plain(ms);
		return;
	}
	struct fiber *f = s->cur;
	f->state = F_SLEEP;
	f->deadline = ts_monotonic_ns() + (uint64_t)ms * 1000000u;
	yield(s, f);
}

/* A slot given back goes straight to a waiting fiber: the one that has
 * taken the most slots so far, and among those the one that has waited
 * longest.  A scan's longest chain of hellos then keeps going instead of
 * queueing behind every short one, and does not end the scan alone. */
void fiber_sem_wait(struct fiber_sem *sem)
{
	struct sched *s = sched;
	if (sem->count > 0 || s == NULL || s->cur == NULL) {
		if (sem->count > 0)
			sem->count--;
		if (s != NULL && s->cur != NULL)
			s->cur->uses++;
		return;
	}
	struct fiber *f = s->cur;
	f->uses++;
	f->state = F_SEM;
	f->on = sem;
	f->seq = ++s->seq;
	yield(s, f);
}

void fiber_sem_post(struct fiber_sem *sem)
{
	if (sched == NULL || !wake(sched, F_SEM, sem, false))
		sem->count++;
}

int fiber_wait_fd(int fd, bool for_write, int timeout_ms)
{
	struct sched *s = sched;
	if (s == NULL || s->cur == NULL)
		return FIBER_OUTSIDE;
	struct fiber *f = s->cur;
	f->state = F_FD;
	f->fd = fd;
	f->events = for_write ? POLLOUT : POLLIN;
	f->deadline = timeout_ms >= 0 ? ts_monotonic_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	yield(s, f);
	if (f->result < 0)
		errno = f->err;
	return f->result;
}

/* Nothing is ready: one poll() for every socket waited on, bounded by the
 * nearest deadline.  False when nothing is waited on either (every fiber
 * waits on another: a bug). */
static bool wait_events(struct sched *s)
{
	size_t n = 0, n_fd = 0;
	uint64_t first = UINT64_MAX;
	for (struct fiber *f = s->all; f != NULL; f = f->next) {
		if (f->state == F_FD)
			n_fd++;
		if ((f->state == F_FD || f->state == F_SLEEP) && f->deadline != 0 && f->deadline < first)
			first = f->deadline;
	}
	if (n_fd == 0 && first == UINT64_MAX)
		return false;
	if (n_fd > s->pfd_cap) {
		struct pollfd *p = realloc(s->pfd, n_fd * sizeof *p);
		if (p != NULL)
			s->pfd = p;
		struct fiber **o = realloc(s->pfd_owner, n_fd * sizeof *o);
		if (o != NULL)
			s->pfd_owner = o;
		if (p == NULL || o == NULL) {
			sleep_plain(1);   /* no memory: try again in a moment */
			return true;
		}
		s->pfd_cap = n_fd;
	}
	for (struct fiber *f = s->all; f != NULL; f = f->next)
		if (f->state == F_FD) {
			s->pfd[n] = (struct pollfd){ .fd = f->fd, .events = f->events };
			s->pfd_owner[n++] = f;
		}
	uint64_t now = ts_monotonic_ns();
	uint64_t ms = first == UINT64_MAX ? 0 : first <= now ? 0 : (first - now + 999999) / 1000000;
	int timeout = first == UINT64_MAX ? -1 : ms > INT32_MAX ? INT32_MAX : (int)ms;
	int rc = poll(s->pfd, n, timeout);
	int err = errno;
	now = ts_monotonic_ns();
	for (size_t i = 0; i < n; i++) {
		struct fiber *f = s->pfd_owner[i];
		if (rc > 0 && s->pfd[i].revents != 0) {
			f->result = 1;
		} else if (rc < 0 && err != EINTR) {
			f->result = -1;   /* poll itself failed: each waiter hears why */
			f->err = err;
		} else if (f->deadline != 0 && now >= f->deadline) {
			f->result = 0;
		} else {
			continue;
		}
		f->state = F_READY;
	}
	for (struct fiber *f = s->all; f != NULL; f = f->next)
		if (f->state == F_SLEEP && now >= f->deadline)
			f->state = F_READY;
	return true;
}

/* Frees the fibers that ended and were joined. */
static void reap(struct sched *s)
{
	for (struct fiber **pp = &s->all; *pp != NULL;) {
		struct fiber *f = *pp;
		if (f->state == F_DONE && f->joined) {
			*pp = f->next;
			stack_free(s, f->stack);
			free(f);
		} else {
			pp = &f->next;
		}
	}
}

enum fiber_end fiber_main(void (*fn)(void *), void *arg)
{
	if (sched != NULL)
		return FIBER_NOT_RUN;   /* one scheduler per thread */
	struct sched s;
	memset(&s, 0, sizeof s);
	sched = &s;
	struct fiber *root = fiber_spawn(fn, arg);
	if (root != NULL)
		root->joined = true;
	enum fiber_end end = root != NULL ? FIBER_DONE : FIBER_NOT_RUN;
	while (s.all != NULL) {
		bool ran = false;
		for (struct fiber *f = s.all; f != NULL; f = f->next)
			if (f->state == F_READY) {
				run(&s, f);
				ran = true;
				if (f->state == F_DONE)
					wake(&s, F_JOIN, f, true);
			}
		reap(&s);
		/* every fiber waits on another or on a semaphore: cannot happen
		 * (each slot taken is given back, each fiber joined ends) */
		if (!ran && s.all != NULL && !wait_events(&s)) {
			end = FIBER_STALLED;
			break;
		}
	}
	for (struct fiber *f = s.all, *next; f != NULL; f = next) {
		next = f->next;
		munmap(f->stack, STACK_SIZE);
		free(f);
	}
	for (size_t i = 0; i < s.n_kept; i++)
		munmap(s.kept[i], STACK_SIZE);
	free(s.pfd);
	free(s.pfd_owner);
	sched = NULL;
	return end;
}

void fiber_each(void (*fn)(void *), void *items, size_t size, size_t n)
{
	char *p = items;
	struct fiber *f[FIBER_EACH_MAX] = { NULL };
	for (size_t i = 1; i < n && i < FIBER_EACH_MAX; i++)
		f[i] = fiber_spawn(fn, p + i * size);
	for (size_t i = 0; i < n; i++)
		if (i >= FIBER_EACH_MAX || f[i] == NULL)
			fn(p + i * size);
	for (size_t i = 1; i < n && i < FIBER_EACH_MAX; i++)
		if (f[i] != NULL)
			fiber_join(f[i]);
}
