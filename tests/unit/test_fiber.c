#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/fiber_internal.h"
#include "tlsscope/error.h"
#include "tlsscope/net.h"

/* A log of small events, in the order they happened. */
static char trail[256];
static void mark(char c)
{
	size_t n = strlen(trail);
	if (n + 1 < sizeof trail)
		trail[n] = c;
}

static void never(void *arg)
{
	(void)arg;
	fail_msg("a fiber ran outside fiber_main");
}

static void outside_a_scheduler_everything_blocks_plainly(void **state)
{
	(void)state;
	assert_null(fiber_spawn(never, NULL));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fiber_wait_fd(sv[0], false, 0), -1);
	struct ts_error err = { 0 };
	assert_int_equal(ts_wait_fd(sv[0], false, 1, &err), TS_E_TIMEOUT);
	assert_int_equal(ts_wait_fd(sv[0], true, 1, &err), TS_OK);
	close(sv[0]);
	close(sv[1]);
	struct fiber_sem sem = { 1 };
	fiber_sem_wait(&sem);
	assert_int_equal(sem.count, 0);
	fiber_sem_post(&sem);
	assert_int_equal(sem.count, 1);
	fiber_sleep_ms(1);
}

static void letter(void *arg)
{
	mark(*(const char *)arg);
	fiber_sleep_ms(1);   /* the others run meanwhile */
	mark((char)(*(const char *)arg - 'a' + 'A'));
}

static void spawner(void *arg)
{
	(void)arg;
	static const char abc[] = "abc";
	struct fiber *f[3];
	for (int i = 0; i < 3; i++)
		assert_non_null(f[i] = fiber_spawn(letter, (void *)&abc[i]));
	mark('>');
	for (int i = 0; i < 3; i++)
		fiber_join(f[i]);
	mark('.');
	/* one scheduler per thread: a second one is refused */
	assert_false(fiber_main(never, NULL));
}

static void fibers_start_in_order_and_join_after_they_end(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	assert_true(fiber_main(spawner, NULL));
	assert_string_equal(trail, ">abcABC.");
}

/* Six fibers through a semaphore of two slots. */
struct gate {
	struct fiber_sem sem;
	int inside, peak;
	char arrived[8], entered[8];
};
static struct gate gate;

static void through(void *arg)
{
	char id = *(const char *)arg;
	gate.arrived[strlen(gate.arrived)] = id;
	fiber_sem_wait(&gate.sem);
	gate.entered[strlen(gate.entered)] = id;
	if (++gate.inside > gate.peak)
		gate.peak = gate.inside;
	fiber_sleep_ms(2);
	gate.inside--;
	fiber_sem_post(&gate.sem);
}

static void crowd(void *arg)
{
	(void)arg;
	static const char ids[] = "uvwxyz";
	struct fiber *f[6];
	for (int i = 0; i < 6; i++)
		assert_non_null(f[i] = fiber_spawn(through, (void *)&ids[i]));
	for (int i = 0; i < 6; i++)
		fiber_join(f[i]);
}

static void a_semaphore_bounds_and_serves_in_order_of_arrival(void **state)
{
	(void)state;
	memset(&gate, 0, sizeof gate);
	gate.sem.count = 2;
	assert_true(fiber_main(crowd, NULL));
	assert_int_equal(gate.peak, 2);
	assert_int_equal(gate.inside, 0);
	assert_int_equal(gate.sem.count, 2);
	assert_string_equal(gate.arrived, "uvwxyz");
	assert_string_equal(gate.entered, gate.arrived);
}

/* A reader that waits in ts_wait_fd, a writer that sleeps first, and a
 * reader nobody writes to. */
static int pair_a[2], pair_b[2];
static int got_ready, got_timeout;
static char timeout_msg[TS_ERROR_MSG_MAX];

static void reader(void *arg)
{
	(void)arg;
	struct ts_error err = { 0 };
	got_ready = ts_wait_fd(pair_a[0], false, 5000, &err);
	mark('r');
}

static void writer(void *arg)
{
	(void)arg;
	fiber_sleep_ms(5);
	mark('w');
	assert_int_equal(write(pair_a[1], "x", 1), 1);
}

static void idle(void *arg)
{
	(void)arg;
	struct ts_error err = { 0 };
	got_timeout = ts_wait_fd(pair_b[0], false, 20, &err);
	snprintf(timeout_msg, sizeof timeout_msg, "%s", err.msg);
	mark('t');
}

static void waiters(void *arg)
{
	(void)arg;
	struct fiber *f[3] = { fiber_spawn(reader, NULL), fiber_spawn(writer, NULL),
	                       fiber_spawn(idle, NULL) };
	for (int i = 0; i < 3; i++) {
		assert_non_null(f[i]);
		fiber_join(f[i]);
	}
}

static void waiting_for_a_socket_lets_the_others_run(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_b), 0);
	uint64_t t0 = ts_monotonic_ns();
	assert_true(fiber_main(waiters, NULL));
	assert_int_equal(got_ready, TS_OK);
	assert_int_equal(got_timeout, TS_E_TIMEOUT);
	assert_string_equal(timeout_msg, "no answer within 20 ms");
	/* the write woke the reader; the timeout came last, not before 20 ms */
	assert_string_equal(trail, "wrt");
	assert_true(ts_monotonic_ns() - t0 >= 20 * 1000000u);
	for (int i = 0; i < 2; i++) {
		close(pair_a[i]);
		close(pair_b[i]);
	}
}

/* Many fibers, more than the stacks kept for reuse, each spawning one. */
static int leaves;
static void leaf(void *arg)
{
	(void)arg;
	fiber_sleep_ms(0);
	leaves++;
}
static void branch(void *arg)
{
	(void)arg;
	struct fiber *f = fiber_spawn(leaf, NULL);
	assert_non_null(f);
	fiber_join(f);
}
static void forest(void *arg)
{
	(void)arg;
	struct fiber *f[100];
	for (int i = 0; i < 100; i++)
		assert_non_null(f[i] = fiber_spawn(branch, NULL));
	for (int i = 0; i < 100; i++)
		fiber_join(f[i]);
}

static void hundreds_of_fibers_end_and_are_freed(void **state)
{
	(void)state;
	leaves = 0;
	assert_true(fiber_main(forest, NULL));
	assert_int_equal(leaves, 100);
	/* the scheduler is gone with fiber_main */
	assert_null(fiber_spawn(never, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outside_a_scheduler_everything_blocks_plainly),
		cmocka_unit_test(fibers_start_in_order_and_join_after_they_end),
		cmocka_unit_test(a_semaphore_bounds_and_serves_in_order_of_arrival),
		cmocka_unit_test(waiting_for_a_socket_lets_the_others_run),
		cmocka_unit_test(hundreds_of_fibers_end_and_are_freed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
