#include "tlsscope/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dynlib_internal.h"

/* Capture files (and pipes) are read with large reads into one buffer, and
 * packets go to the callback from where they lie in it: no copy per packet.
 * Only live interfaces and filters go through libpcap, opened on first use
 * (dynlib_internal.h).  (Mapping the file instead was slower on the virtual
 * machines measured: first touches of mapped pages cost more than the
 * kernel's copy into a buffer that stays mapped.) */

#define MAX_CAPLEN 262144u      /* libpcap's MAXIMUM_SNAPLEN: larger is a corrupt file */
#define MAX_IFACES 256
#define READ_SIZE (1u << 20)    /* the buffer, and the size of each read */
#define BLOCK_MAX (16u << 20)   /* largest pcapng block accepted */

struct iface {
	int linktype;
	uint32_t snaplen;
	uint64_t units;             /* timestamp units per second */
	int64_t offset_s;           /* if_tsoffset */
};

struct ts_capture {
	pcap_t *pcap;               /* a live interface, else NULL */
	volatile int stopped;
	long long count;
	ts_capture_fn fn;
	void *ctx;
	/* a capture read into memory: buf[pos..size) is unparsed */
	const uint8_t *buf;
	size_t size, pos;
	int fd;                     /* >= 0: buf is ours, refilled from fd */
	uint8_t *own;
	size_t cap;
	bool eof;
	int read_errno;
	bool pcapng, swapped;
	uint64_t units;             /* classic pcap: 10^6 or 10^9 */
	int linktype;               /* classic pcap, or the first interface of a pcapng */
	struct iface ifs[MAX_IFACES];
	size_t n_ifs;
	struct bpf_program prog;    /* --filter on a capture in memory */
	bool filtered;
};

static uint32_t get32(const struct ts_capture *c, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return c->swapped ? __builtin_bswap32(v) : v;
}

static uint16_t get16(const struct ts_capture *c, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return c->swapped ? __builtin_bswap16(v) : v;
}

/* A file's LINKTYPE_ value as a DLT_ value (they differ for raw IP). */
static int to_dlt(uint32_t linktype)
{
	linktype &= 0x03FFFFFF; /* the upper bits say how many FCS bytes follow */
	return linktype == 101 ? DLT_RAW : (int)linktype;
}

/* ------------------------------------------------------------------ pcapng */

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_OPB 2u
#define BT_SPB 3u
#define BT_EPB 6u

/* Reads an Interface Description Block's body: link type, snap length and
 * the timestamp options. */
static int add_iface(struct ts_capture *c, const uint8_t *b, size_t n, struct ts_error *err)
{
	if (n < 8)
		return ts_error_set(err, TS_E_FILE, "pcapng: interface description shorter than 8 bytes");
	if (c->n_ifs == MAX_IFACES)
		return ts_error_set(err, TS_E_FILE, "pcapng: more than %d interfaces", MAX_IFACES);
	struct iface *f = &c->ifs[c->n_ifs];
	f->linktype = to_dlt(get16(c, b));
	f->snaplen = get32(c, b + 4);
	f->units = 1000000;
	f->offset_s = 0;
	for (size_t i = 8; i + 4 <= n;) {
		uint16_t code = get16(c, b + i), len = get16(c, b + i + 2);
		if (code == 0 || len > n - i - 4)
			break;
		const uint8_t *v = b + i + 4;
		if (code == 9 && len >= 1) { /* if_tsresol: 10^-v, or 2^-v with the top bit */
			unsigned e = v[0] & 0x7f;
			uint64_t u = 1;
			if (e > ((v[0] & 0x80) ? 63u : 19u))
				return ts_error_set(err, TS_E_FILE, "pcapng: if_tsresol 0x%02x is out of range", v[0]);
			for (unsigned k = 0; k < e; k++)
				u *= (v[0] & 0x80) ? 2 : 10;
			f->units = u;
		} else if (code == 14 && len >= 8) { /* if_tsoffset, seconds */
			uint64_t x;
			memcpy(&x, v, 8);
			f->offset_s = (int64_t)(c->swapped ? __builtin_bswap64(x) : x);
		}
		i += 4 + (((size_t)len + 3) & ~(size_t)3);
	}
	/* As libpcap: one link type for the whole file. */
	if (c->n_ifs > 0 && f->linktype != c->ifs[0].linktype)
		return ts_error_set(err, TS_E_FILE, "pcapng: interface %zu has link type %d, "
		                    "different from the first interface's %d", c->n_ifs, f->linktype,
		                    c->ifs[0].linktype);
	c->n_ifs++;
	return 0;
}

/* Makes at least n unparsed bytes available, reading more when the capture
 * comes from a file.  False at the end of the input (or on a read error,
 * kept in read_errno). */
static bool need(struct ts_capture *c, size_t n)
{
	if (c->size - c->pos >= n)
		return true;
	if (c->fd < 0 || c->eof || n > BLOCK_MAX)
		return false;
	size_t rest = c->size - c->pos;
	if (rest > 0)
		memmove(c->own, c->buf + c->pos, rest); /* buf is own once anything was read */
	c->pos = 0;
	c->size = rest;
	if (c->cap < n + READ_SIZE) {
		uint8_t *p = realloc(c->own, n + READ_SIZE);
		if (p == NULL) {
			c->read_errno = ENOMEM;
			return false;
		}
		c->own = p;
		c->cap = n + READ_SIZE;
	}
	c->buf = c->own;
	while (c->size < n && !c->eof) {
		ssize_t r = read(c->fd, c->own + c->size, c->cap - c->size);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->eof = true;
			if (r < 0)
				c->read_errno = errno;
			break;
		}
		c->size += (size_t)r;
	}
	return c->size >= n;
}

/* Why fewer than n bytes were there: a read error, or a file cut short. */
static int short_input(struct ts_capture *c, size_t n, const char *what, struct ts_error *err)
{
	if (c->read_errno != 0)
		return ts_error_errno(err, TS_E_FILE, c->read_errno, "reading the capture");
	return ts_error_set(err, TS_E_FILE, "truncated dump file; tried to read %zu %s bytes, "
	                    "only got %zu", n, what, c->size - c->pos);
}

/* A Section Header Block at c->pos: byte order, and a new list of interfaces. */
static int section(struct ts_capture *c, struct ts_error *err)
{
	if (!need(c, 28))
		return short_input(c, 28, "section header", err);
	const uint8_t *p = c->buf + c->pos;
	uint32_t bom;
	memcpy(&bom, p + 8, 4);
	if (bom == 0x1A2B3C4D)
		c->swapped = false;
	else if (bom == 0x4D3C2B1A)
		c->swapped = true;
	else
		return ts_error_set(err, TS_E_FILE, "pcapng: section header with an unknown byte-order magic");
	if (get16(c, p + 12) != 1)
		return ts_error_set(err, TS_E_FILE, "pcapng: unsupported major version %u",
		                    get16(c, p + 12));
	c->n_ifs = 0;
	return 0;
}

/* The next pcapng block: its type and body (valid until the next read).
 * Returns 1, 0 at the end, or TS_E_FILE. */
static int next_block(struct ts_capture *c, uint32_t *type, const uint8_t **body, size_t *n,
                      struct ts_error *err)
{
	if (!need(c, 12)) {
		if (c->size == c->pos && c->read_errno == 0)
			return 0;
		return short_input(c, 12, "block header", err);
	}
	uint32_t t;
	memcpy(&t, c->buf + c->pos, 4);
	if (t == BT_SHB) {
		int rc = section(c, err);
		if (rc < 0)
			return rc;
	}
	uint32_t total = get32(c, c->buf + c->pos + 4);
	if (total < 12 || total % 4 != 0 || total > BLOCK_MAX)
		return ts_error_set(err, TS_E_FILE, "pcapng: block length %u is not a multiple of 4 "
		                    "between 12 and %u", total, BLOCK_MAX);
	if (!need(c, total))
		return short_input(c, total, "block", err);
	const uint8_t *p = c->buf + c->pos;
	*type = get32(c, p);
	*body = p + 8;
	*n = total - 12;
	c->pos += total;
	return 1;
}

/* One packet of a pcapng, or 0 at the end; other blocks are passed over. */
static int next_pcapng(struct ts_capture *c, struct ts_capture_packet *pkt, struct ts_error *err)
{
	for (;;) {
		uint32_t type;
		const uint8_t *b;
		size_t n;
		int rc = next_block(c, &type, &b, &n, err);
		if (rc <= 0)
			return rc;
		if (type == BT_IDB) {
			if ((rc = add_iface(c, b, n, err)) < 0)
				return rc;
			continue;
		}
		if (type != BT_EPB && type != BT_SPB && type != BT_OPB)
			continue;
		size_t head = type == BT_SPB ? 4 : 20;
		if (n < head)
			return ts_error_set(err, TS_E_FILE, "pcapng: packet block shorter than its header");
		uint32_t id = type == BT_EPB ? get32(c, b) : type == BT_OPB ? get16(c, b) : 0;
		if (id >= c->n_ifs)
			return ts_error_set(err, TS_E_FILE, "pcapng: a packet names interface %u, but %zu "
			                    "are described", id, c->n_ifs);
		const struct iface *f = &c->ifs[id];
		uint32_t caplen, len;
		uint64_t t = 0;
		if (type == BT_SPB) {
			len = get32(c, b);
			caplen = len;
			if (f->snaplen != 0 && caplen > f->snaplen)
				caplen = f->snaplen;
			if (caplen > n - head)
				caplen = (uint32_t)(n - head);
		} else {
			t = (uint64_t)get32(c, b + 4) << 32 | get32(c, b + 8);
			caplen = get32(c, b + 12);
			len = get32(c, b + 16);
			if (caplen > n - head)
				return ts_error_set(err, TS_E_FILE, "pcapng: captured length %u runs past "
				                    "its block", caplen);
		}
		if (caplen > MAX_CAPLEN)
			return ts_error_set(err, TS_E_FILE, "invalid packet capture length %u, bigger "
			                    "than maximum of %u", caplen, MAX_CAPLEN);
		/* unsigned arithmetic: a nonsense timestamp wraps, it does not overflow */
		uint64_t secs = t / f->units + (uint64_t)f->offset_s;
		uint64_t us = (uint64_t)((unsigned __int128)(t % f->units) * 1000000 / f->units);
		pkt->ts_us = (int64_t)(secs * 1000000 + us);
		pkt->data = b + head;
		pkt->caplen = caplen;
		pkt->len = len;
		pkt->linktype = f->linktype;
		return 1;
	}
}

/* ------------------------------------------------------------------ pcap */

static int next_pcap(struct ts_capture *c, struct ts_capture_packet *pkt, struct ts_error *err)
{
	if (!need(c, 16)) {
		if (c->size == c->pos && c->read_errno == 0)
			return 0;
		return short_input(c, 16, "header", err);
	}
	uint32_t caplen = get32(c, c->buf + c->pos + 8);
	if (caplen > MAX_CAPLEN)
		return ts_error_set(err, TS_E_FILE, "invalid packet capture length %u, bigger than "
		                    "maximum of %u", caplen, MAX_CAPLEN);
	if (!need(c, 16 + (size_t)caplen)) {
		c->pos += 16;
		return short_input(c, caplen, "captured", err);
	}
	const uint8_t *p = c->buf + c->pos;
	uint32_t frac = get32(c, p + 4);
	pkt->ts_us = (int64_t)get32(c, p) * 1000000 + (c->units == 1000000 ? frac : frac / 1000);
	pkt->data = p + 16;
	pkt->caplen = caplen;
	pkt->len = get32(c, p + 12);
	pkt->linktype = c->linktype;
	c->pos += 16 + caplen;
	return 1;
}

/* Recognises the file header; for pcapng, reads up to the first interface. */
static int parse_header(struct ts_capture *c, struct ts_error *err)
{
	if (!need(c, 4))
		return short_input(c, 4, "file header", err);
	uint32_t magic;
	memcpy(&magic, c->buf + c->pos, 4);
	if (magic == BT_SHB) {
		c->pcapng = true;
		while (c->n_ifs == 0) {
			uint32_t type;
			const uint8_t *b;
			size_t n;
			int rc = next_block(c, &type, &b, &n, err);
			if (rc < 0)
				return rc;
			if (rc == 0 || type == BT_EPB || type == BT_SPB || type == BT_OPB)
				return ts_error_set(err, TS_E_FILE, "pcapng: no interface is described "
				                    "before the first packet");
			if (type == BT_IDB && (rc = add_iface(c, b, n, err)) < 0)
				return rc;
		}
		c->linktype = c->ifs[0].linktype;
		return 0;
	}
	static const uint32_t magics[] = { 0xa1b2c3d4, 0xa1b23c4d };
	for (int i = 0; i < 2; i++) {
		if (magic == magics[i] || magic == __builtin_bswap32(magics[i])) {
			c->swapped = magic != magics[i];
			c->units = i == 0 ? 1000000 : 1000000000;
			if (!need(c, 24))
				return short_input(c, 24, "file header", err);
			c->linktype = to_dlt(get32(c, c->buf + 20));
			c->pos = 24;
			return 0;
		}
	}
	return ts_error_set(err, TS_E_FILE, "unknown file format");
}

static struct ts_capture *capture_new(void)
{
	struct ts_capture *c = calloc(1, sizeof *c);
	if (c != NULL)
		c->fd = -1;
	return c;
}

int ts_capture_open_memory(const uint8_t *data, size_t size, struct ts_capture **out,
                           struct ts_error *err)
{
	*out = NULL;
	struct ts_capture *c = capture_new();
	if (c == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	c->buf = data;
	c->size = size;
	int rc = parse_header(c, err);
	if (rc < 0) {
		ts_capture_free(c);
		return rc;
	}
	*out = c;
	return TS_OK;
}

int ts_capture_open_file(const char *path, struct ts_capture **out, struct ts_error *err)
{
	*out = NULL;
	struct ts_capture *c = capture_new();
	if (c == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	c->fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		int e = errno;
		ts_capture_free(c);
		return ts_error_errno(err, TS_E_FILE, e, "cannot read capture '%s'", path);
	}
	posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	int rc = parse_header(c, err);
	if (rc < 0) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		ts_capture_free(c);
		return ts_error_set(err, rc, "cannot read capture '%s': %s", path, msg);
	}
	*out = c;
	return TS_OK;
}

int ts_capture_open_live(const char *iface, struct ts_capture **out, struct ts_error *err)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	*out = NULL;
	int rc = ts_pcap_load(err);
	if (rc != TS_OK)
		return rc;
	pcap_t *p = ts_pcap.pcap_create(iface, ebuf);
	if (p == NULL)
		return ts_error_set(err, TS_E_FILE, "cannot open interface '%s': %s", iface, ebuf);
	ts_pcap.pcap_set_snaplen(p, 262144);
	ts_pcap.pcap_set_promisc(p, 1);
	/* A short timeout so that a stop request is noticed on a quiet link. */
	ts_pcap.pcap_set_timeout(p, 200);
	ts_pcap.pcap_set_immediate_mode(p, 1);
	rc = ts_pcap.pcap_activate(p);
	if (rc < 0) {
		ts_error_set(err, TS_E_FILE, "cannot capture on interface '%s': %s", iface,
		             rc == PCAP_ERROR ? ts_pcap.pcap_geterr(p) : ts_pcap.pcap_statustostr(rc));
		ts_pcap.pcap_close(p);
		return TS_E_FILE;
	}
	struct ts_capture *c = capture_new();
	if (c == NULL) {
		ts_pcap.pcap_close(p);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	c->pcap = p;
	*out = c;
	return TS_OK;
}

int ts_capture_set_filter(struct ts_capture *c, const char *bpf, struct ts_error *err)
{
	struct bpf_program prog;
	int rc = ts_pcap_load(err);
	if (rc != TS_OK)
		return rc;
	pcap_t *p = c->pcap != NULL ? c->pcap : ts_pcap.pcap_open_dead(c->linktype, MAX_CAPLEN);
	if (p == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	rc = ts_pcap.pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN);
	if (rc != 0)
		ts_error_set(err, TS_E_INVALID, "bad filter '%s': %s", bpf, ts_pcap.pcap_geterr(p));
	else if (c->pcap != NULL) {
		rc = ts_pcap.pcap_setfilter(p, &prog);
		if (rc != 0)
			ts_error_set(err, TS_E_INVALID, "cannot apply filter '%s': %s", bpf, ts_pcap.pcap_geterr(p));
		ts_pcap.pcap_freecode(&prog);
	} else {
		if (c->filtered)
			ts_pcap.pcap_freecode(&c->prog);
		c->prog = prog;
		c->filtered = true;
	}
	if (c->pcap == NULL)
		ts_pcap.pcap_close(p);
	return rc != 0 ? TS_E_INVALID : TS_OK;
}

int ts_capture_linktype(const struct ts_capture *c)
{
	return c->pcap != NULL ? ts_pcap.pcap_datalink(c->pcap) : c->linktype;
}

const char *ts_capture_linktype_name(int linktype)
{
	if (ts_pcap_load(NULL) != TS_OK)
		return "unknown";
	const char *n = ts_pcap.pcap_datalink_val_to_name(linktype);
	return n != NULL ? n : "unknown";
}

const char *ts_capture_libpcap_version(struct ts_error *err)
{
	return ts_pcap_load(err) == TS_OK ? ts_pcap.pcap_lib_version() : NULL;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct ts_capture *c = (struct ts_capture *)user;
	struct ts_capture_packet pkt = {
		.ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec,
		.data = bytes,
		.caplen = h->caplen,
		.len = h->len,
		.linktype = ts_pcap.pcap_datalink(c->pcap),
	};
	c->count++;
	c->fn(c->ctx, &pkt);
}

static long long loop_pcap(struct ts_capture *c, struct ts_error *err)
{
	while (!c->stopped) {
		int rc = ts_pcap.pcap_dispatch(c->pcap, 256, on_packet, (u_char *)c);
		if (rc == PCAP_ERROR_BREAK)
			break;
		if (rc == PCAP_ERROR)
			return ts_error_set(err, TS_E_FILE, "capture read failed after %lld packets: %s",
			                    c->count, ts_pcap.pcap_geterr(c->pcap));
	}
	return c->count;
}

static bool passes(const struct ts_capture *c, const struct ts_capture_packet *pkt)
{
	if (!c->filtered)
		return true;
	struct pcap_pkthdr h = {
		.ts = { .tv_sec = pkt->ts_us / 1000000, .tv_usec = pkt->ts_us % 1000000 },
		.caplen = (bpf_u_int32)pkt->caplen,
		.len = (bpf_u_int32)pkt->len,
	};
	return ts_pcap.pcap_offline_filter(&c->prog, &h, pkt->data) != 0;
}

static long long loop_memory(struct ts_capture *c, struct ts_error *err)
{
	struct ts_capture_packet pkt;
	while (!c->stopped) {
		int rc = c->pcapng ? next_pcapng(c, &pkt, err) : next_pcap(c, &pkt, err);
		if (rc == 0)
			break;
		if (rc < 0) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			return ts_error_set(err, TS_E_FILE, "capture read failed after %lld packets: %s",
			                    c->count, msg);
		}
		if (!passes(c, &pkt))
			continue;
		c->count++;
		c->fn(c->ctx, &pkt);
	}
	return c->count;
}

long long ts_capture_loop(struct ts_capture *c, ts_capture_fn fn, void *ctx, struct ts_error *err)
{
	c->fn = fn;
	c->ctx = ctx;
	return c->pcap != NULL ? loop_pcap(c, err) : loop_memory(c, err);
}

void ts_capture_stop(struct ts_capture *c)
{
	c->stopped = 1;
	if (c->pcap != NULL)
		ts_pcap.pcap_breakloop(c->pcap);
}

unsigned long long ts_capture_dropped(struct ts_capture *c)
{
	struct pcap_stat st;
	if (c->pcap == NULL || ts_pcap.pcap_stats(c->pcap, &st) != 0)
		return 0;
	return st.ps_drop;
}

void ts_capture_free(struct ts_capture *c)
{
	if (c == NULL)
		return;
	if (c->pcap != NULL)
		ts_pcap.pcap_close(c->pcap);
	if (c->fd >= 0)
		close(c->fd);
	free(c->own);
	if (c->filtered)
		ts_pcap.pcap_freecode(&c->prog);
	free(c);
}
