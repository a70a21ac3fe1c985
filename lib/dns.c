#include "tlsscope/dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/bytes.h"

#define MAX_JUMPS 64

/* Reads a possibly compressed name at rd's cursor into out (dotted, no
 * trailing dot, "." for the root).  msg is the whole message, for pointers. */
static bool read_name(struct ts_reader *rd, const uint8_t *msg, size_t msglen, char *out)
{
	size_t pos = ts_reader_offset(rd);     /* where the name starts in msg */
	size_t o = 0, jumps = 0;
	size_t end = 0;                         /* offset after the name in rd, once known */
	bool jumped = false;
	size_t limit = pos;                     /* pointers must go before this */
	for (;;) {
		if (pos >= msglen)
			return false;
		uint8_t l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= msglen)
				return false;
			size_t target = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
			if (!jumped)
				end = pos + 2;
			jumped = true;
			if (target >= limit || ++jumps > MAX_JUMPS)
				return false;
			limit = target;
			pos = target;
			continue;
		}
		if ((l & 0xc0) != 0)
			return false; /* 0x40 and 0x80 label types are obsolete */
		if (l == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + l > msglen || o + l + 2 > TS_DNS_NAME_MAX)
			return false;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = msg[pos + 1 + i];
			/* keep names printable: escape nothing, replace oddities */
			out[o++] = (c > 32 && c < 127) ? (char)c : '?';
		}
		pos += 1 + l;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	size_t here = ts_reader_offset(rd);
	return ts_read_skip(rd, end - here, "name");
}

static void parse_svcb(struct ts_reader *rd, const uint8_t *msg, size_t msglen,
                       struct ts_dns_answer *a)
{
	a->priority = ts_read_u16(rd, "svc priority");
	if (!read_name(rd, msg, msglen, a->target)) {
		ts_reader_fail(rd, "svc target");
		return;
	}
	size_t ao = 0;
	while (ts_reader_left(rd) >= 4) {
		uint16_t key = ts_read_u16(rd, "svc param key");
		struct ts_reader v;
		ts_read_vector(rd, 2, &v, "svc param value");
		if (rd->error)
			return;
		if (key == 5)
			a->ech = true;
		if (key == 1) { /* alpn: a list of 1-byte-length strings */
			while (ts_reader_left(&v) > 0) {
				struct ts_reader id;
				if (!ts_read_vector(&v, 1, &id, "alpn id"))
					break;
				size_t n = ts_reader_left(&id);
				const uint8_t *p = ts_read_bytes(&id, n, "alpn id");
				if (ao + n + 2 >= sizeof a->alpn)
					break;
				if (ao > 0)
					a->alpn[ao++] = ',';
				for (size_t i = 0; i < n; i++)
					a->alpn[ao++] = (p[i] > 32 && p[i] < 127) ? (char)p[i] : '?';
				a->alpn[ao] = '\0';
			}
		}
	}
}

int ts_dns_parse(const uint8_t *data, size_t len, struct ts_dns_message *msg, struct ts_error *err)
{
	struct ts_reader rd;
	ts_reader_init(&rd, data, len);
	memset(msg, 0, sizeof *msg);
	msg->id = ts_read_u16(&rd, "id");
	uint16_t flags = ts_read_u16(&rd, "flags");
	uint16_t qd = ts_read_u16(&rd, "question count");
	uint16_t an = ts_read_u16(&rd, "answer count");
	ts_read_skip(&rd, 4, "authority/additional counts");
	if (rd.error)
		return ts_error_set(err, TS_E_MALFORMED, "DNS: %zu bytes, shorter than the 12-byte header", len);
	msg->response = flags & 0x8000;
	msg->rcode = flags & 0x0f;
	if (flags & 0x7800) /* opcode other than QUERY: not ours to read */
		return ts_error_set(err, TS_E_MALFORMED, "DNS: opcode %u, wanted 0 (query)", (flags >> 11) & 15);
	if (qd > 32 || an > 512)
		return ts_error_set(err, TS_E_MALFORMED, "DNS: %u questions and %u answers, implausible", qd, an);
	for (unsigned i = 0; i < qd; i++) {
		char name[TS_DNS_NAME_MAX];
		if (!read_name(&rd, data, len, name))
			return ts_error_set(err, TS_E_MALFORMED, "DNS: question %u: bad or looping name at byte %zu",
			                    i, ts_reader_offset(&rd));
		uint16_t type = ts_read_u16(&rd, "qtype");
		ts_read_skip(&rd, 2, "qclass");
		if (i == 0) {
			memcpy(msg->qname, name, sizeof name);
			msg->qtype = type;
		}
	}
	if (rd.error)
		return ts_error_set(err, TS_E_MALFORMED, "DNS: question cut short at byte %zu", rd.error_off);
	msg->answers_total = an;
	for (unsigned i = 0; i < an; i++) {
		char name[TS_DNS_NAME_MAX];
		if (!read_name(&rd, data, len, name))
			return ts_error_set(err, TS_E_MALFORMED, "DNS: answer %u: bad or looping name at byte %zu",
			                    i, ts_reader_offset(&rd));
		uint16_t type = ts_read_u16(&rd, "type");
		ts_read_skip(&rd, 2, "class");
		uint32_t ttl = ts_read_u32(&rd, "ttl");
		struct ts_reader rdata;
		ts_read_vector(&rd, 2, &rdata, "rdata");
		if (rd.error)
			return ts_error_set(err, TS_E_MALFORMED, "DNS: answer %u cut short at byte %zu (%s)", i,
			                    rd.error_off, rd.field);
		if (msg->answer_count >= TS_DNS_MAX_ANSWERS)
			continue;
		if (type != TS_DNS_A && type != TS_DNS_AAAA && type != TS_DNS_CNAME &&
		    type != TS_DNS_SVCB && type != TS_DNS_HTTPS)
			continue;
		struct ts_dns_answer *a = &msg->answers[msg->answer_count];
		memset(a, 0, sizeof *a);
		memcpy(a->name, name, sizeof name);
		a->type = type;
		a->ttl = ttl;
		if (type == TS_DNS_A || type == TS_DNS_AAAA) {
			size_t n = type == TS_DNS_A ? 4 : 16;
			const uint8_t *p = ts_read_bytes(&rdata, n, "address");
			if (p == NULL || !ts_reader_done(&rdata))
				continue;
			a->addr.family = type == TS_DNS_A ? 4 : 6;
			memcpy(a->addr.a, p, n);
		} else if (type == TS_DNS_CNAME) {
			if (!read_name(&rdata, data, len, a->target))
				continue;
		} else {
			parse_svcb(&rdata, data, len, a);
			if (rdata.error)
				continue;
		}
		msg->answer_count++;
	}
	return TS_OK;
}

const char *ts_dns_type_name(uint16_t type, char *buf, size_t size)
{
	switch (type) {
	case TS_DNS_A: return "A";
	case TS_DNS_AAAA: return "AAAA";
	case TS_DNS_CNAME: return "CNAME";
	case TS_DNS_SVCB: return "SVCB";
	case TS_DNS_HTTPS: return "HTTPS";
	case 2: return "NS";
	case 6: return "SOA";
	case 12: return "PTR";
	case 15: return "MX";
	case 16: return "TXT";
	case 33: return "SRV";
	default:
		snprintf(buf, size, "TYPE%u", type);
		return buf;
	}
}

struct name_entry {
	struct ts_ip_addr addr;
	char name[TS_DNS_NAME_MAX];
	bool used;
};

struct ts_dns_names {
	struct name_entry *e;
	size_t max;
	size_t next;   /* ring position: the oldest entry is replaced first */
};

struct ts_dns_names *ts_dns_names_new(size_t max_entries)
{
	struct ts_dns_names *n = calloc(1, sizeof *n);
	if (n == NULL)
		return NULL;
	n->max = max_entries ? max_entries : 4096;
	n->e = calloc(n->max, sizeof *n->e);
	if (n->e == NULL) {
		free(n);
		return NULL;
	}
	return n;
}

void ts_dns_names_free(struct ts_dns_names *n)
{
	if (n == NULL)
		return;
	free(n->e);
	free(n);
}

static struct name_entry *find(const struct ts_dns_names *n, const struct ts_ip_addr *addr)
{
	/* Newest first, so the latest answer for an address wins. */
	for (size_t i = 0; i < n->max; i++) {
		struct name_entry *x = &n->e[(n->next + n->max - 1 - i) % n->max];
		if (!x->used)
			return NULL;
		if (x->addr.family == addr->family && memcmp(x->addr.a, addr->a, 16) == 0)
			return x;
	}
	return NULL;
}

void ts_dns_names_add(struct ts_dns_names *n, const struct ts_ip_addr *addr, const char *name)
{
	struct name_entry *x = find(n, addr);
	if (x != NULL && strcmp(x->name, name) == 0)
		return;
	x = &n->e[n->next];
	n->next = (n->next + 1) % n->max;
	x->used = true;
	x->addr = *addr;
	snprintf(x->name, sizeof x->name, "%s", name);
}

const char *ts_dns_names_lookup(const struct ts_dns_names *n, const struct ts_ip_addr *addr)
{
	const struct name_entry *x = find(n, addr);
	return x ? x->name : NULL;
}
