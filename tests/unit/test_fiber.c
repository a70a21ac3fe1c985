#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/fiber_internal.h"
#include "tlsscope/error.h"
#include "tlsscope/net.h"

/* The fibers only record what happened; the checks run after fiber_main
 * (a failed check jumps, and must not jump out of a fiber's stack). */
static char trail[256];
static void mark(char c)
{
	size_t n = strlen(trail);
	if (n + 1 < sizeof trail)
		trail[n] = c;
}

static int ran_outside;
static void never(void *arg)
{
	(void)arg;
	ran_outside++;
}

static void outside_a_scheduler_everything_blocks_plainly(void **state)
{
	(void)state;
	assert_null(fiber_spawn(never, NULL));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fiber_wait_fd(sv[0], false, 0), FIBER_OUTSIDE);
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
	int items[3] = { 0 };
	ran_outside = 0;
	fiber_each(never, items, sizeof items[0], 3);
	assert_int_equal(ran_outside, 3);
}

static void letter(void *arg)
{
	mark(*(const char *)arg);
	fiber_sleep_ms(1);   /* the others run meanwhile */
	mark((char)(*(const char *)arg - 'a' + 'A'));
}

static int spawned, nested;
static void spawner(void *arg)
{
	(void)arg;
	static const char abc[] = "abc";
	struct fiber *f[3];
	for (int i = 0; i < 3; i++)
		spawned += (f[i] = fiber_spawn(letter, (void *)&abc[i])) != NULL;
	mark('>');
	for (int i = 0; i < 3; i++)
		if (f[i] != NULL)
			fiber_join(f[i]);
	mark('.');
	nested = fiber_main(never, NULL);   /* one scheduler per thread */
}

static void fibers_start_in_order_and_join_after_they_end(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	spawned = 0;
	ran_outside = 0;
	assert_int_equal(fiber_main(spawner, NULL), FIBER_DONE);
	assert_int_equal(spawned, 3);
	assert_string_equal(trail, ">abcABC.");
	assert_int_equal(nested, FIBER_NOT_RUN);
	assert_int_equal(ran_outside, 0);
}

static void each_letter(void *arg)
{
	letter(arg);
}

static void each_root(void *arg)
{
	fiber_each(each_letter, arg, 1, 4);
	mark('.');
}

static void fiber_each_runs_the_items_side_by_side(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	char items[] = "abcd";
	assert_int_equal(fiber_main(each_root, items), FIBER_DONE);
	/* the first item on the calling fiber, up to its wait; then the others */
	assert_string_equal(trail, "abcdABCD.");
}

/* Six fibers through a semaphore of two slots. */
struct gate {
	struct fiber_sem sem;
	int inside, peak, made;
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
		gate.made += (f[i] = fiber_spawn(through, (void *)&ids[i])) != NULL;
	for (int i = 0; i < 6; i++)
		if (f[i] != NULL)
			fiber_join(f[i]);
}

/* One slot; A takes it three times, B and C once each: a slot given back
 * goes to the waiter that has taken the most, then to the earliest. */
static struct fiber_sem one_slot;
static void user(void *arg)
{
	const char *who = arg;
	for (int i = 0; i < (*who == 'A' ? 3 : 1); i++) {
		fiber_sem_wait(&one_slot);
		mark(*who);
		fiber_sleep_ms(1);
		fiber_sem_post(&one_slot);
	}
}

static void users(void *arg)
{
	(void)arg;
	static const char abc[] = "ABC";
	fiber_each(user, (void *)abc, 1, 3);
}

static void a_slot_goes_to_the_waiter_that_has_taken_most(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	one_slot.count = 1;
	assert_int_equal(fiber_main(users, NULL), FIBER_DONE);
	/* in order of arrival alone it would be ABCAA */
	assert_string_equal(trail, "ABACA");
	assert_int_equal(one_slot.count, 1);
}

static void a_semaphore_bounds_and_serves_in_order_of_arrival(void **state)
{
	(void)state;
	memset(&gate, 0, sizeof gate);
	gate.sem.count = 2;
	assert_int_equal(fiber_main(crowd, NULL), FIBER_DONE);
	assert_int_equal(gate.made, 6);
	assert_int_equal(gate.peak, 2);
	assert_int_equal(gate.inside, 0);
	assert_int_equal(gate.sem.count, 2);
	assert_string_equal(gate.arrived, "uvwxyz");
	assert_string_equal(gate.entered, gate.arrived);
}

/* A reader that waits in ts_wait_fd without a limit, a writer that sleeps
 * first, a reader nobody writes to, and a wait of 0 ms. */
static int pair_a[2], pair_b[2];
static int got_ready, got_timeout, got_zero;
static char timeout_msg[TS_ERROR_MSG_MAX];

static void reader(void *arg)
{
	(void)arg;
	struct ts_error err = { 0 };
	got_ready = ts_wait_fd(pair_a[0], false, -1, &err);
	mark('r');
}

static void writer(void *arg)
{
	(void)arg;
	fiber_sleep_ms(5);
	mark('w');
	if (write(pair_a[1], "x", 1) != 1)
		mark('!');
}

static void idle(void *arg)
{
	(void)arg;
	struct ts_error err = { 0 };
	got_zero = ts_wait_fd(pair_b[0], false, 0, &err);
	got_timeout = ts_wait_fd(pair_b[0], false, 20, &err);
	snprintf(timeout_msg, sizeof timeout_msg, "%s", err.msg);
	mark('t');
}

static void waiters(void *arg)
{
	(void)arg;
	struct fiber *f[3] = { fiber_spawn(reader, NULL), fiber_spawn(writer, NULL),
	                       fiber_spawn(idle, NULL) };
	for (int i = 0; i < 3; i++)
		if (f[i] != NULL)
			fiber_join(f[i]);
}

static void waiting_for_a_socket_lets_the_others_run(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_b), 0);
	uint64_t t0 = ts_monotonic_ns();
	assert_int_equal(fiber_main(waiters, NULL), FIBER_DONE);
	assert_int_equal(got_ready, TS_OK);
	assert_int_equal(got_zero, TS_E_TIMEOUT);
	assert_int_equal(got_timeout, TS_E_TIMEOUT);
	assert_string_equal(timeout_msg, "no answer within 20 ms");
	/* the write woke the reader (the order of the timeout against them
	 * depends on the machine's load; that it came no sooner than 20 ms
	 * does not) */
	assert_int_equal(strlen(trail), 3);
	assert_non_null(strchr(trail, 't'));
	assert_true(strchr(trail, 'w') != NULL && strchr(trail, 'r') > strchr(trail, 'w'));
	assert_true(ts_monotonic_ns() - t0 >= 20 * 1000000u);
	for (int i = 0; i < 2; i++) {
		close(pair_a[i]);
		close(pair_b[i]);
	}
}

/* poll() itself failing (more descriptors than RLIMIT_NOFILE allows): each
 * waiter hears why, at once, instead of the scheduler spinning. */
static int failed[3];
static char fail_msg_seen[TS_ERROR_MSG_MAX];
static void doomed(void *arg)
{
	struct ts_error err = { 0 };
	int *slot = arg;
	*slot = ts_wait_fd(pair_a[0], false, 5000, &err);
	if (slot == &failed[0])
		snprintf(fail_msg_seen, sizeof fail_msg_seen, "%s", err.msg);
}

static void doomed_root(void *arg)
{
	(void)arg;
	fiber_each(doomed, failed, sizeof failed[0], 3);
}

static void a_failing_poll_is_an_error_for_each_waiter(void **state)
{
	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_a), 0);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 2;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	enum fiber_end end = fiber_main(doomed_root, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(end, FIBER_DONE);
	/* the error, not the 5 s timeout (TS_E_TIMEOUT) */
	for (int i = 0; i < 3; i++)
		assert_int_equal(failed[i], TS_E_CONNECT);
	assert_non_null(strstr(fail_msg_seen, "poll"));
	close(pair_a[0]);
	close(pair_a[1]);
}

/* A fiber waiting on a semaphore nobody will post, and its joiner. */
static struct fiber_sem shut;
static void stuck(void *arg)
{
	(void)arg;
	fiber_sem_wait(&shut);
}
static void stuck_root(void *arg)
{
	(void)arg;
	struct fiber *f = fiber_spawn(stuck, NULL);
	if (f != NULL)
		fiber_join(f);
	mark('x');   /* never */
}

static void fibers_left_waiting_on_each_other_are_reported(void **state)
{
	(void)state;
	memset(trail, 0, sizeof trail);
	shut.count = 0;
	assert_int_equal(fiber_main(stuck_root, NULL), FIBER_STALLED);
	assert_string_equal(trail, "");
	assert_null(fiber_spawn(never, NULL));   /* the scheduler is gone */
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
	if (f != NULL)
		fiber_join(f);
}
static void forest(void *arg)
{
	(void)arg;
	struct fiber *f[100];
	for (int i = 0; i < 100; i++)
		f[i] = fiber_spawn(branch, NULL);
	for (int i = 0; i < 100; i++)
		if (f[i] != NULL)
			fiber_join(f[i]);
}

static void hundreds_of_fibers_end_and_are_freed(void **state)
{
	(void)state;
	leaves = 0;
	assert_int_equal(fiber_main(forest, NULL), FIBER_DONE);
	assert_int_equal(leaves, 100);
	assert_null(fiber_spawn(never, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outside_a_scheduler_everything_blocks_plainly),
		cmocka_unit_test(fibers_start_in_order_and_join_after_they_end),
		cmocka_unit_test(fiber_each_runs_the_items_side_by_side),
		cmocka_unit_test(a_semaphore_bounds_and_serves_in_order_of_arrival),
		cmocka_unit_test(a_slot_goes_to_the_waiter_that_has_taken_most),
		cmocka_unit_test(waiting_for_a_socket_lets_the_others_run),
		cmocka_unit_test(a_failing_poll_is_an_error_for_each_waiter),
		cmocka_unit_test(fibers_left_waiting_on_each_other_are_reported),
		cmocka_unit_test(hundreds_of_fibers_end_and_are_freed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
