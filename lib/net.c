#include "tlsscope/net.h"
#include "fiber_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t ts_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool ts_is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int parse_port(const char *s, uint16_t *port, struct ts_error *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
		return ts_error_set(err, TS_E_INVALID, "bad port '%s': want a number from 1 to 65535", s);
	*port = (uint16_t)v;
	return TS_OK;
}

int ts_parse_hostport(const char *s, uint16_t default_port, char host[TS_HOST_MAX],
                      uint16_t *port, struct ts_error *err)
{
	const char *h = s, *p = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return ts_error_set(err, TS_E_INVALID, "bad address '%s': want [ipv6]:port", s);
		h = s + 1;
		hlen = (size_t)(close - h);
		p = close[1] == ':' ? close + 2 : NULL;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			hlen = strlen(s);   /* a bare IPv6 literal */
		} else {
			hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
			p = colon != NULL ? colon + 1 : NULL;
		}
	}
	if (hlen == 0)
		return ts_error_set(err, TS_E_INVALID, "bad target '%s': no host name", s);
	if (hlen >= TS_HOST_MAX)
		return ts_error_set(err, TS_E_INVALID, "host name of %zu bytes is too long (at most %d)",
		                    hlen, TS_HOST_MAX - 1);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (p == NULL) {
		*port = default_port;
		return TS_OK;
	}
	return parse_port(p, port, err);
}

static bool listed(const struct ts_addrlist *l, const struct addrinfo *ai)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->addr[i].len == ai->ai_addrlen && memcmp(&l->addr[i].ss, ai->ai_addr, ai->ai_addrlen) == 0)
			return true;
	return false;
}

/* getaddrinfo may give one address twice (glibc answers an IPv4 lookup of a
 * name that /etc/hosts lists as ::1 and 127.0.0.1 with 127.0.0.1 twice): each
 * is listed, and tried, once. */
static void fill_list(const struct addrinfo *res, struct ts_addrlist *out)
{
	out->n = 0;
	for (const struct addrinfo *ai = res; ai != NULL && out->n < TS_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof out->addr[0].ss || listed(out, ai))
			continue;
		struct ts_addr *a = &out->addr[out->n++];
		memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
		a->len = ai->ai_addrlen;
	}
}

static int gai_failure(int rc, const char *host, struct ts_error *err)
{
	if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
		return ts_error_set(err, TS_E_RESOLVE, "cannot resolve '%s': %s", host, gai_strerror(rc));
	if (rc == EAI_AGAIN)
		return ts_error_set(err, TS_E_RESOLVE, "cannot resolve '%s': name server did not answer", host);
	return ts_error_set(err, TS_E_RESOLVE, "cannot resolve '%s': %s", host, gai_strerror(rc));
}

int ts_resolve(const char *host, uint16_t port, int family, int timeout_ms,
               struct ts_addrlist *out, struct ts_error *err)
{
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
	                          .ai_protocol = IPPROTO_TCP, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	if (ts_is_ip_literal(host)) {
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		int rc = getaddrinfo(host, service, &hints, &res);
		if (rc != 0)
			return ts_error_set(err, TS_E_RESOLVE, "address '%s' is not usable with the chosen "
			                    "address family", host);
		fill_list(res, out);
		freeaddrinfo(res);
		return TS_OK;
	}
	/* getaddrinfo has no timeout: run it asynchronously and stop waiting. */
	struct gaicb *req = calloc(1, sizeof *req);
	char *name = strdup(host), *serv = strdup(service);
	struct addrinfo *h = malloc(sizeof *h);
	if (req == NULL || name == NULL || serv == NULL || h == NULL) {
		free(req); free(name); free(serv); free(h);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	*h = hints;
	*req = (struct gaicb){ .ar_name = name, .ar_service = serv, .ar_request = h };
	struct gaicb *list[1] = { req };
	int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (rc != 0) {
		free(req); free(name); free(serv); free(h);
		return gai_failure(rc, host, err);
	}
	struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000 };
	uint64_t deadline = ts_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
	while ((rc = gai_error(req)) == EAI_INPROGRESS) {
		uint64_t now = ts_monotonic_ns();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		ts = (struct timespec){ .tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u) };
		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (rc == EAI_INPROGRESS) {
		/* If the lookup cannot be cancelled its thread still owns req: leave it. */
		if (gai_cancel(req) == EAI_CANCELED) {
			free(req); free(name); free(serv); free(h);
		}
		return ts_error_set(err, TS_E_TIMEOUT, "cannot resolve '%s': no answer within %d ms",
		                    host, timeout_ms);
	}
	int result = TS_OK;
	if (rc != 0)
		result = gai_failure(rc, host, err);
	else
		fill_list(req->ar_result, out);
	freeaddrinfo(req->ar_result);
	free(req); free(name); free(serv); free(h);
	if (result == TS_OK && out->n == 0)
		return ts_error_set(err, TS_E_RESOLVE, "cannot resolve '%s': no addresses", host);
	return result;
}

void ts_addr_ip(const struct ts_addr *a, char out[TS_ADDRSTR_MAX])
{
	const void *src = a->ss.ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
	if (inet_ntop(a->ss.ss_family, src, out, TS_ADDRSTR_MAX) == NULL)
		snprintf(out, TS_ADDRSTR_MAX, "?");
}

uint16_t ts_addr_port(const struct ts_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void ts_addr_format(const struct ts_addr *a, char out[TS_ADDRSTR_MAX])
{
	char ip[TS_ADDRSTR_MAX];
	ts_addr_ip(a, ip);
	if (a->ss.ss_family == AF_INET6)
		snprintf(out, TS_ADDRSTR_MAX, "[%s]:%u", ip, ts_addr_port(a));
	else
		snprintf(out, TS_ADDRSTR_MAX, "%s:%u", ip, ts_addr_port(a));
}

/* 1 ready, 0 timed out, -1 poll failed (errno). */
static int poll_one(int fd, bool for_write, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
	uint64_t deadline = ts_monotonic_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
	for (;;) {
		int wait = timeout_ms;
		if (timeout_ms >= 0) {
			uint64_t now = ts_monotonic_ns();
			wait = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
		}
		int rc = poll(&pfd, 1, wait);
		if (rc >= 0)
			return rc > 0;
		if (errno != EINTR)
			return -1;
	}
}

int ts_wait_fd(int fd, bool for_write, int timeout_ms, struct ts_error *err)
{
	/* in a fiber, the thread runs the other fibers meanwhile */
	int rc = fiber_wait_fd(fd, for_write, timeout_ms);
	if (rc == FIBER_OUTSIDE)
		rc = poll_one(fd, for_write, timeout_ms);
	if (rc > 0)
		return TS_OK;
	if (rc == 0)
		return ts_error_set(err, TS_E_TIMEOUT, "no %s within %d ms",
		                    for_write ? "progress sending" : "answer", timeout_ms);
	return ts_error_errno(err, TS_E_CONNECT, errno, "poll");
}

/* One non-blocking connect, bounded by timeout_ms. */
static int connect_one(const struct ts_addr *a, int timeout_ms, int *out, struct ts_error *err)
{
	char where[TS_ADDRSTR_MAX];
	ts_addr_format(a, where);
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return ts_error_errno(err, TS_E_CONNECT, errno, "%s: socket", where);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return ts_error_errno(err, TS_E_CONNECT, e, "%s", where);
	}
	/* over loopback the connection is up when connect returns: waiting
	 * (in the scan, a trip through the scheduler) would only add latency */
	struct pollfd now = { .fd = fd, .events = POLLOUT };
	int rc = poll(&now, 1, 0) == 1 ? TS_OK : ts_wait_fd(fd, true, timeout_ms, err);
	if (rc == TS_E_TIMEOUT) {
		close(fd);
		return ts_error_set(err, TS_E_TIMEOUT, "%s: no answer to connect within %d ms", where, timeout_ms);
	}
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (rc == TS_OK && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr != 0)
		rc = ts_error_errno(err, TS_E_CONNECT, soerr, "%s", where);
	if (rc != TS_OK) {
		close(fd);
		return rc;
	}
	*out = fd;
	return TS_OK;
}

int ts_connect(const struct ts_addrlist *list, int timeout_ms, int *fd, size_t *which,
               struct ts_error *err)
{
	if (list->n == 0)
		return ts_error_set(err, TS_E_CONNECT, "no address to connect to");
	char tried[TS_ERROR_MSG_MAX] = "";
	int rc = TS_E_CONNECT;
	for (size_t i = 0; i < list->n; i++) {
		struct ts_error one = { 0 };
		rc = connect_one(&list->addr[i], timeout_ms, fd, &one);
		if (rc == TS_OK) {
			if (which != NULL)
				*which = i;
			return TS_OK;
		}
		size_t used = strlen(tried);
		snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", one.msg);
	}
	return ts_error_set(err, rc, "cannot connect: %s", tried);
}

ssize_t ts_read_timeout(int fd, void *buf, size_t n, int timeout_ms, struct ts_error *err)
{
	for (;;) {
		ssize_t got = read(fd, buf, n);
		if (got > 0)
			return got;
		if (got == 0)
			return ts_error_set(err, TS_E_CLOSED, "the peer closed the connection");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return ts_error_errno(err, TS_E_CONNECT, errno, "read");
		int rc = ts_wait_fd(fd, false, timeout_ms, err);
		if (rc != TS_OK)
			return rc;
	}
}

int ts_write_all(int fd, const void *buf, size_t n, int timeout_ms, struct ts_error *err)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
		if (put > 0) {
			p += put;
			n -= (size_t)put;
			continue;
		}
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return ts_error_errno(err, errno == EPIPE ? TS_E_CLOSED : TS_E_CONNECT, errno, "write");
		int rc = ts_wait_fd(fd, true, timeout_ms, err);
		if (rc != TS_OK)
			return rc;
	}
	return TS_OK;
}
