#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsscope/net.h"

static void parses_host_and_port_forms(void **state)
{
	char host[TS_HOST_MAX];
	uint16_t port;
	struct ts_error err = { 0 };
	assert_int_equal(ts_parse_hostport("example.test", 443, host, &port, &err), TS_OK);
	assert_string_equal(host, "example.test");
	assert_int_equal(port, 443);
	assert_int_equal(ts_parse_hostport("127.0.0.1:8443", 443, host, &port, &err), TS_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8443);
	assert_int_equal(ts_parse_hostport("[::1]:25", 443, host, &port, &err), TS_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 25);
	assert_int_equal(ts_parse_hostport("fe80::1", 443, host, &port, &err), TS_OK);
	assert_string_equal(host, "fe80::1");
	assert_int_equal(port, 443);
}

static void refuses_bad_targets(void **state)
{
	char host[TS_HOST_MAX];
	uint16_t port;
	struct ts_error err = { 0 };
	assert_int_equal(ts_parse_hostport("host:0", 443, host, &port, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "bad port '0'"));
	assert_int_equal(ts_parse_hostport("host:70000", 443, host, &port, &err), TS_E_INVALID);
	assert_int_equal(ts_parse_hostport("host:", 443, host, &port, &err), TS_E_INVALID);
	assert_int_equal(ts_parse_hostport(":443", 443, host, &port, &err), TS_E_INVALID);
	assert_int_equal(ts_parse_hostport("[::1", 443, host, &port, &err), TS_E_INVALID);
	char longname[400];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(ts_parse_hostport(longname, 443, host, &port, &err), TS_E_INVALID);
	assert_non_null(strstr(err.msg, "too long"));
}

static void resolves_literals_and_localhost(void **state)
{
	struct ts_addrlist list;
	struct ts_error err = { 0 };
	char s[TS_ADDRSTR_MAX];
	assert_true(ts_is_ip_literal("127.0.0.1"));
	assert_true(ts_is_ip_literal("::1"));
	assert_false(ts_is_ip_literal("localhost"));
	assert_int_equal(ts_resolve("127.0.0.1", 853, AF_UNSPEC, 1000, &list, &err), TS_OK);
	assert_int_equal(list.n, 1);
	ts_addr_format(&list.addr[0], s);
	assert_string_equal(s, "127.0.0.1:853");
	assert_int_equal(ts_resolve("localhost", 80, AF_INET, 5000, &list, &err), TS_OK);
	assert_true(list.n >= 1);
	ts_addr_ip(&list.addr[0], s);
	assert_string_equal(s, "127.0.0.1");
	assert_int_equal(ts_resolve("no-such-host.invalid", 80, AF_UNSPEC, 5000, &list, &err),
	                 TS_E_RESOLVE);
	assert_non_null(strstr(err.msg, "no-such-host.invalid"));
}

/* A port that nobody listens on: bind, read the port, close. */
static uint16_t closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	bind(fd, (struct sockaddr *)&sin, sizeof sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

static void connect_reports_refusal_and_succeeds_on_listener(void **state)
{
	struct ts_addrlist list;
	struct ts_error err = { 0 };
	int fd;
	size_t which;
	uint16_t port = closed_port();
	assert_int_equal(ts_resolve("127.0.0.1", port, AF_UNSPEC, 1000, &list, &err), TS_OK);
	assert_int_equal(ts_connect(&list, 2000, &fd, &which, &err), TS_E_CONNECT);
	assert_non_null(strstr(err.msg, "refused"));

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	assert_int_equal(ts_resolve("127.0.0.1", ntohs(sin.sin_port), AF_UNSPEC, 1000, &list, &err), TS_OK);
	assert_int_equal(ts_connect(&list, 2000, &fd, &which, &err), TS_OK);
	assert_int_equal(which, 0);

	/* The listener never writes: a read times out, then the data arrives. */
	char buf[8];
	assert_int_equal(ts_read_timeout(fd, buf, sizeof buf, 50, &err), TS_E_TIMEOUT);
	int afd = accept(lfd, NULL, NULL);
	assert_int_equal(write(afd, "hi", 2), 2);
	assert_int_equal(ts_read_timeout(fd, buf, sizeof buf, 2000, &err), 2);
	assert_int_equal(ts_write_all(fd, "ping", 4, 1000, &err), TS_OK);
	assert_int_equal(read(afd, buf, sizeof buf), 4);
	close(afd);
	assert_int_equal(ts_read_timeout(fd, buf, sizeof buf, 2000, &err), TS_E_CLOSED);
	close(fd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_host_and_port_forms),
		cmocka_unit_test(refuses_bad_targets),
		cmocka_unit_test(resolves_literals_and_localhost),
		cmocka_unit_test(connect_reports_refusal_and_succeeds_on_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
