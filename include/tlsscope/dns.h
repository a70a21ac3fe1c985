/* tlsscope: DNS messages as an observer sees them (RFC 1035, RFC 9460).
 *
 * ts_dns_parse reads a query or a response: the question and the A, AAAA,
 * CNAME, HTTPS and SVCB answers, with TTLs, and whether an HTTPS/SVCB record
 * carries an ECH configuration (SvcParamKey 5).  Compressed names are
 * followed with bounds: a pointer must point before the name it continues,
 * at most 64 jumps, at most 255 bytes of name.
 * ts_dns_names remembers which name resolved to which address (bounded,
 * oldest forgotten first), to name the server of a TLS connection.
 * Memory: ts_dns_message is caller-owned and fixed-size; ts_dns_names_new
 * returns an object owned by the caller (ts_dns_names_free). */
#ifndef TLSSCOPE_DNS_H
#define TLSSCOPE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"
#include "tlsscope/packet.h"

#define TS_DNS_NAME_MAX 256   /* 255 characters and the terminator */
#define TS_DNS_MAX_ANSWERS 32

enum { TS_DNS_A = 1, TS_DNS_CNAME = 5, TS_DNS_AAAA = 28, TS_DNS_SVCB = 64, TS_DNS_HTTPS = 65 };

struct ts_dns_answer {
	char name[TS_DNS_NAME_MAX];
	uint16_t type;
	uint32_t ttl;
	struct ts_ip_addr addr;             /* A, AAAA */
	char target[TS_DNS_NAME_MAX];       /* CNAME, or the SVCB/HTTPS target name */
	uint16_t priority;                  /* SVCB/HTTPS SvcPriority */
	bool ech;                           /* SVCB/HTTPS with an ech SvcParam */
	char alpn[64];                      /* SVCB/HTTPS alpn list, comma separated */
};

struct ts_dns_message {
	uint16_t id;
	bool response;
	uint8_t rcode;
	char qname[TS_DNS_NAME_MAX];
	uint16_t qtype;
	struct ts_dns_answer answers[TS_DNS_MAX_ANSWERS];
	size_t answer_count;                /* answers kept (of the types above) */
	size_t answers_total;               /* answer records in the message */
};

/* Parses one DNS message (for DNS over TCP, without the 2-byte length).
 * TS_E_MALFORMED with a message when it does not parse. */
int ts_dns_parse(const uint8_t *data, size_t len, struct ts_dns_message *msg, struct ts_error *err);
/* "A", "AAAA", "HTTPS", ... or "TYPE123" in buf. */
const char *ts_dns_type_name(uint16_t type, char *buf, size_t size);

struct ts_dns_names;
struct ts_dns_names *ts_dns_names_new(size_t max_entries);
void ts_dns_names_free(struct ts_dns_names *n);
/* Remembers that name resolved to addr (the latest answer wins). */
void ts_dns_names_add(struct ts_dns_names *n, const struct ts_ip_addr *addr, const char *name);
/* The name that resolved to addr, or NULL.  Valid until the next _add. */
const char *ts_dns_names_lookup(const struct ts_dns_names *n, const struct ts_ip_addr *addr);

#endif
