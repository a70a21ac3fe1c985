/* tlsscope: host:port parsing, name resolution and TCP connect, each bounded
 * by a timeout, and timed reads and writes on non-blocking sockets. */
#ifndef TLSSCOPE_NET_H
#define TLSSCOPE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tlsscope/error.h"

#define TS_HOST_MAX 256
#define TS_ADDRS_MAX 16     /* addresses kept from one resolution */
#define TS_ADDRSTR_MAX 64   /* "[ipv6]:port" fits */

struct ts_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct ts_addrlist {
	size_t n;
	struct ts_addr addr[TS_ADDRS_MAX];
};

/* Splits "host", "host:port", "v4:port", "[v6]:port" or a bare IPv6 literal.
 * host receives at most TS_HOST_MAX bytes; *port gets default_port when none
 * is given.  A port of 0 or above 65535, or an empty host, is TS_E_INVALID. */
int ts_parse_hostport(const char *s, uint16_t default_port, char host[TS_HOST_MAX],
                      uint16_t *port, struct ts_error *err);

/* True when host is an IPv4 or IPv6 literal (no brackets). */
bool ts_is_ip_literal(const char *host);

/* Resolves host (a name or literal) for TCP.  family is AF_UNSPEC, AF_INET or
 * AF_INET6.  Gives up after timeout_ms (TS_E_TIMEOUT); a name that does not
 * exist is TS_E_RESOLVE. */
int ts_resolve(const char *host, uint16_t port, int family, int timeout_ms,
               struct ts_addrlist *out, struct ts_error *err);

/* Connects to the addresses in order, each try bounded by timeout_ms.  On
 * success *fd is a connected non-blocking socket and *which the index of the
 * address that answered.  The message of a failure lists each address tried. */
int ts_connect(const struct ts_addrlist *list, int timeout_ms, int *fd, size_t *which,
               struct ts_error *err);

/* "127.0.0.1:443" or "[::1]:443" */
void ts_addr_format(const struct ts_addr *a, char out[TS_ADDRSTR_MAX]);
/* Just the address: "127.0.0.1" or "::1". */
void ts_addr_ip(const struct ts_addr *a, char out[TS_ADDRSTR_MAX]);
uint16_t ts_addr_port(const struct ts_addr *a);

/* Waits until fd is readable (or writable); TS_E_TIMEOUT after timeout_ms
 * (negative: wait for ever). */
int ts_wait_fd(int fd, bool for_write, int timeout_ms, struct ts_error *err);
/* Reads at most n bytes, waiting at most timeout_ms.  Returns the count,
 * TS_E_CLOSED at end of stream, or a negative code. */
ssize_t ts_read_timeout(int fd, void *buf, size_t n, int timeout_ms, struct ts_error *err);
/* Writes all n bytes, or fails; each wait bounded by timeout_ms. */
int ts_write_all(int fd, const void *buf, size_t n, int timeout_ms, struct ts_error *err);

/* Monotonic clock in nanoseconds, for timings. */
uint64_t ts_monotonic_ns(void);

#endif
