#include "tlsscope/packet.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/bytes.h"

#define MAX_VLAN_TAGS 4
#define MAX_IPV6_EXT 8
#define MAX_DATAGRAM 65535
#define BLOCKS ((MAX_DATAGRAM + 7) / 8 + 1)

struct frag_entry {
	bool used;
	uint8_t family, proto;
	struct ts_ip_addr src, dst;
	uint32_t id;
	int64_t first_us;
	size_t total;            /* known once the last fragment arrives; 0 before */
	size_t have;             /* highest byte written */
	uint8_t *buf;            /* MAX_DATAGRAM bytes */
	uint8_t bitmap[BLOCKS / 8 + 1];
};

struct ts_defrag {
	struct frag_entry *e;
	size_t max;
	int64_t timeout_us;
	uint8_t *out;            /* the last completed datagram */
	struct ts_defrag_stats st;
};

struct ts_defrag *ts_defrag_new(size_t max_datagrams, int64_t timeout_us)
{
	struct ts_defrag *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->max = max_datagrams ? max_datagrams : 256;
	d->timeout_us = timeout_us ? timeout_us : 30 * 1000000LL;
	d->e = calloc(d->max, sizeof *d->e);
	if (d->e == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

void ts_defrag_free(struct ts_defrag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->max; i++)
		free(d->e[i].buf);
	free(d->e);
	free(d->out);
	free(d);
}

void ts_defrag_get_stats(const struct ts_defrag *d, struct ts_defrag_stats *st)
{
	*st = d->st;
}

static void entry_drop(struct frag_entry *e)
{
	free(e->buf);
	memset(e, 0, sizeof *e);
}

static bool blocks_complete(const struct frag_entry *e)
{
	size_t nblocks = (e->total + 7) / 8;
	for (size_t b = 0; b < nblocks; b++)
		if (!(e->bitmap[b / 8] & (1u << (b % 8))))
			return false;
	return true;
}

/* Adds one fragment; returns the whole datagram (length in *out_len) when it
 * is complete, else NULL. */
static const uint8_t *defrag_add(struct ts_defrag *d, const struct ts_ip_addr *src,
                                 const struct ts_ip_addr *dst, uint32_t id, uint8_t proto,
                                 size_t offset, bool more, const uint8_t *data, size_t len,
                                 int64_t now, size_t *out_len, uint8_t *out_proto)
{
	d->st.fragments++;
	if (offset + len > MAX_DATAGRAM || (more && (len % 8) != 0) || (len == 0 && more)) {
		d->st.invalid++;
		return NULL;
	}
	struct frag_entry *e = NULL, *free_slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < d->max; i++) {
		struct frag_entry *x = &d->e[i];
		if (x->used && now - x->first_us > d->timeout_us) {
			entry_drop(x);
			d->st.expired++;
		}
		if (!x->used) {
			if (free_slot == NULL)
				free_slot = x;
			continue;
		}
		if (x->id == id && x->src.family == src->family &&
		    memcmp(&x->src, src, sizeof *src) == 0 && memcmp(&x->dst, dst, sizeof *dst) == 0 &&
		    (src->family == 6 || x->proto == proto))
			e = x;
		if (oldest == NULL || x->first_us < oldest->first_us)
			oldest = x;
	}
	if (e == NULL) {
		if (free_slot == NULL) {
			entry_drop(oldest);
			d->st.evicted++;
			free_slot = oldest;
		}
		e = free_slot;
		e->buf = malloc(MAX_DATAGRAM);
		if (e->buf == NULL)
			return NULL;
		e->used = true;
		e->src = *src;
		e->dst = *dst;
		e->id = id;
		e->proto = proto;
		e->first_us = now;
	}
	/* The offset-0 fragment names the upper protocol for IPv6. */
	if (offset == 0)
		e->proto = proto;
	memcpy(e->buf + offset, data, len);
	for (size_t b = offset / 8; b < (offset + len + 7) / 8; b++)
		e->bitmap[b / 8] |= (uint8_t)(1u << (b % 8));
	if (!more) {
		if (e->total != 0 && e->total != offset + len) {
			d->st.invalid++;
			entry_drop(e);
			return NULL;
		}
		e->total = offset + len;
	}
	if (e->total == 0 || !blocks_complete(e))
		return NULL;
	free(d->out);
	d->out = e->buf;
	e->buf = NULL;
	*out_len = e->total;
	*out_proto = e->proto;
	entry_drop(e);
	d->st.reassembled++;
	return d->out;
}

bool ts_packet_linktype_supported(int linktype)
{
	switch (linktype) {
	case DLT_EN10MB: case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_RAW:
	case TS_LINKTYPE_RAW: case TS_LINKTYPE_IPV4: case TS_LINKTYPE_IPV6: case DLT_NULL:
	case DLT_LOOP: case 14: /* DLT_RAW on OpenBSD */
		return true;
	default:
		return false;
	}
}

static int malformed(struct ts_error *err, const char *what, const struct ts_reader *rd)
{
	return ts_error_set(err, TS_E_MALFORMED, "%s: header '%s' cut short at byte %zu", what,
	                    rd->field ? rd->field : "?", rd->error_off);
}

static int decode_net1(struct ts_defrag *d, unsigned type, struct ts_reader *rd, int64_t ts,
                       struct ts_packet *pkt, struct ts_error *err);

static int decode_l4(uint8_t proto, const uint8_t *data, size_t len, bool truncated,
                     struct ts_packet *pkt, struct ts_error *err)
{
	struct ts_reader rd;
	ts_reader_init(&rd, data, len);
	pkt->proto = proto;
	pkt->truncated = truncated;
	if (proto == 6) {
		pkt->sport = ts_read_u16(&rd, "tcp source port");
		pkt->dport = ts_read_u16(&rd, "tcp destination port");
		pkt->seq = ts_read_u32(&rd, "tcp sequence");
		pkt->ack = ts_read_u32(&rd, "tcp ack");
		uint8_t off = ts_read_u8(&rd, "tcp data offset") >> 4;
		pkt->tcp_flags = ts_read_u8(&rd, "tcp flags");
		ts_read_skip(&rd, 6, "tcp window/checksum/urgent");
		if (rd.error)
			return malformed(err, "TCP", &rd);
		if (off < 5)
			return ts_error_set(err, TS_E_MALFORMED, "TCP: data offset %u below 5", off);
		ts_read_skip(&rd, (size_t)(off - 5) * 4, "tcp options");
		if (rd.error)
			return malformed(err, "TCP", &rd);
	} else if (proto == 17) {
		pkt->sport = ts_read_u16(&rd, "udp source port");
		pkt->dport = ts_read_u16(&rd, "udp destination port");
		uint16_t ulen = ts_read_u16(&rd, "udp length");
		ts_read_skip(&rd, 2, "udp checksum");
		if (rd.error)
			return malformed(err, "UDP", &rd);
		/* Trust the UDP length only where it shortens the payload. */
		if (ulen >= 8 && (size_t)ulen - 8 < ts_reader_left(&rd))
			rd.len = rd.off + ulen - 8;
		else if (ulen >= 8 && (size_t)ulen - 8 > ts_reader_left(&rd))
			pkt->truncated = true;
	} else {
		return 0;
	}
	pkt->payload_len = ts_reader_left(&rd);
	pkt->payload = ts_read_bytes(&rd, pkt->payload_len, "payload");
	return 1;
}

/* GTP-U (3GPP TS 29.281) on UDP port 2152 carries user IP packets: returns
 * the offset of the inner IP packet in a G-PDU, or 0 when it is not one. */
static size_t gtpu_inner(const uint8_t *p, size_t n)
{
	struct ts_reader rd;
	ts_reader_init(&rd, p, n);
	uint8_t flags = ts_read_u8(&rd, "gtp flags");
	uint8_t type = ts_read_u8(&rd, "gtp message type");
	ts_read_skip(&rd, 6, "gtp length and teid");
	if (rd.error || (flags >> 5) != 1 || !(flags & 0x10) || type != 255)
		return 0;
	if (flags & 0x07) {
		ts_read_skip(&rd, 3, "gtp sequence and n-pdu");
		uint8_t next = ts_read_u8(&rd, "gtp next extension");
		for (int i = 0; i < 8 && next != 0 && !rd.error; i++) {
			uint8_t len = ts_read_u8(&rd, "gtp extension length");
			if (len == 0)
				return 0;
			ts_read_skip(&rd, (size_t)len * 4 - 2, "gtp extension");
			next = ts_read_u8(&rd, "gtp next extension");
		}
		if (next != 0)
			return 0;
	}
	if (rd.error || ts_reader_left(&rd) == 0)
		return 0;
	uint8_t v = p[rd.off] >> 4;
	return (v == 4 || v == 6) ? rd.off : 0;
}

static int decode_ipv4(struct ts_defrag *d, struct ts_reader *rd, int64_t ts, struct ts_packet *pkt,
                       struct ts_error *err)
{
	uint8_t vihl = ts_read_u8(rd, "ipv4 version");
	ts_read_skip(rd, 1, "ipv4 tos");
	uint16_t total = ts_read_u16(rd, "ipv4 total length");
	uint16_t id = ts_read_u16(rd, "ipv4 id");
	uint16_t frag = ts_read_u16(rd, "ipv4 fragment");
	ts_read_skip(rd, 1, "ipv4 ttl");
	uint8_t proto = ts_read_u8(rd, "ipv4 protocol");
	ts_read_skip(rd, 2, "ipv4 checksum");
	const uint8_t *s = ts_read_bytes(rd, 4, "ipv4 source");
	const uint8_t *dd = ts_read_bytes(rd, 4, "ipv4 destination");
	if (rd->error)
		return malformed(err, "IPv4", rd);
	size_t ihl = (size_t)(vihl & 0x0f) * 4;
	if ((vihl >> 4) != 4 || ihl < 20)
		return ts_error_set(err, TS_E_MALFORMED, "IPv4: version %u, header length %zu (wanted 4, >= 20)",
		                    vihl >> 4, ihl);
	if (total < ihl)
		return ts_error_set(err, TS_E_MALFORMED, "IPv4: total length %u below header length %zu",
		                    total, ihl);
	ts_read_skip(rd, ihl - 20, "ipv4 options");
	if (rd->error)
		return malformed(err, "IPv4", rd);
	pkt->src = (struct ts_ip_addr){ .family = 4 };
	pkt->dst = (struct ts_ip_addr){ .family = 4 };
	memcpy(pkt->src.a, s, 4);
	memcpy(pkt->dst.a, dd, 4);
	size_t avail = ts_reader_left(rd);
	size_t want = total - ihl;
	bool truncated = false;
	/* Ethernet pads short frames: the IP length is the truth, when it fits. */
	if (want <= avail)
		avail = want;
	else
		truncated = true;
	const uint8_t *body = ts_read_bytes(rd, avail, "ipv4 payload");
	size_t off = (size_t)(frag & 0x1fff) * 8;
	bool more = frag & 0x2000;
	if (off != 0 || more) {
		if (d == NULL || truncated)
			return 0;
		size_t len;
		uint8_t p;
		const uint8_t *whole = defrag_add(d, &pkt->src, &pkt->dst, id, proto, off, more, body,
		                                  avail, ts, &len, &p);
		if (whole == NULL)
			return 0;
		pkt->reassembled = true;
		return decode_l4(p, whole, len, false, pkt, err);
	}
	return decode_l4(proto, body, avail, truncated, pkt, err);
}

static int decode_ipv6(struct ts_defrag *d, struct ts_reader *rd, int64_t ts, struct ts_packet *pkt,
                       struct ts_error *err)
{
	uint32_t vtf = ts_read_u32(rd, "ipv6 version");
	uint16_t plen = ts_read_u16(rd, "ipv6 payload length");
	uint8_t next = ts_read_u8(rd, "ipv6 next header");
	ts_read_skip(rd, 1, "ipv6 hop limit");
	const uint8_t *s = ts_read_bytes(rd, 16, "ipv6 source");
	const uint8_t *dd = ts_read_bytes(rd, 16, "ipv6 destination");
	if (rd->error)
		return malformed(err, "IPv6", rd);
	if ((vtf >> 28) != 6)
		return ts_error_set(err, TS_E_MALFORMED, "IPv6: version %u (wanted 6)", vtf >> 28);
	pkt->src = (struct ts_ip_addr){ .family = 6 };
	pkt->dst = (struct ts_ip_addr){ .family = 6 };
	memcpy(pkt->src.a, s, 16);
	memcpy(pkt->dst.a, dd, 16);
	bool truncated = false;
	/* A zero payload length means a jumbogram: take what was captured. */
	if (plen != 0 && plen <= ts_reader_left(rd))
		rd->len = rd->off + plen;
	else if (plen > ts_reader_left(rd))
		truncated = true;
	bool fragmented = false, more = false;
	size_t frag_off = 0;
	uint32_t id = 0;
	for (int i = 0; i <= MAX_IPV6_EXT; i++) {
		if (next == 0 || next == 43 || next == 60 || next == 135 || next == 139 || next == 140) {
			next = ts_read_u8(rd, "ipv6 extension next header");
			uint8_t len = ts_read_u8(rd, "ipv6 extension length");
			ts_read_skip(rd, (size_t)len * 8 + 6, "ipv6 extension");
		} else if (next == 51) { /* AH counts in 4-byte units, minus 2 */
			next = ts_read_u8(rd, "ipv6 AH next header");
			uint8_t len = ts_read_u8(rd, "ipv6 AH length");
			ts_read_skip(rd, (size_t)len * 4 + 6, "ipv6 AH");
		} else if (next == 44) {
			next = ts_read_u8(rd, "ipv6 fragment next header");
			ts_read_skip(rd, 1, "ipv6 fragment reserved");
			uint16_t fo = ts_read_u16(rd, "ipv6 fragment offset");
			id = ts_read_u32(rd, "ipv6 fragment id");
			frag_off = (size_t)(fo >> 3) * 8;
			more = fo & 1;
			fragmented = frag_off != 0 || more;
		} else {
			break;
		}
		if (rd->error)
			return malformed(err, "IPv6", rd);
		if (i == MAX_IPV6_EXT)
			return ts_error_set(err, TS_E_MALFORMED, "IPv6: more than %d extension headers",
			                    MAX_IPV6_EXT);
	}
	size_t avail = ts_reader_left(rd);
	const uint8_t *body = ts_read_bytes(rd, avail, "ipv6 payload");
	if (fragmented) {
		if (d == NULL || truncated)
			return 0;
		size_t len;
		uint8_t p;
		const uint8_t *whole = defrag_add(d, &pkt->src, &pkt->dst, id, next, frag_off, more, body,
		                                  avail, ts, &len, &p);
		if (whole == NULL)
			return 0;
		pkt->reassembled = true;
		return decode_l4(p, whole, len, false, pkt, err);
	}
	return decode_l4(next, body, avail, truncated, pkt, err);
}

/* Dispatches on an ethertype (or 4/6 for "an IP version read from the byte"). */
static int decode_net(struct ts_defrag *d, unsigned type, struct ts_reader *rd, int64_t ts,
                      struct ts_packet *pkt, struct ts_error *err)
{
	int rc = decode_net1(d, type, rd, ts, pkt, err);
	/* One level of GTP-U tunnel: the user's packet is what we want. */
	if (rc == 1 && pkt->proto == 17 && (pkt->sport == 2152 || pkt->dport == 2152)) {
		size_t off = gtpu_inner(pkt->payload, pkt->payload_len);
		if (off > 0) {
			struct ts_reader inner;
			ts_reader_init(&inner, pkt->payload + off, pkt->payload_len - off);
			struct ts_packet outer = *pkt;
			memset(pkt, 0, sizeof *pkt);
			pkt->ts_us = ts;
			rc = decode_net1(d, 0, &inner, ts, pkt, err);
			if (rc == 0)
				*pkt = outer;
			return rc < 0 ? 0 : (rc == 0 ? 1 : rc);
		}
	}
	return rc;
}

static int decode_net1(struct ts_defrag *d, unsigned type, struct ts_reader *rd, int64_t ts,
                       struct ts_packet *pkt, struct ts_error *err)
{
	if (type == 0) { /* guess from the version nibble */
		if (ts_reader_left(rd) == 0)
			return 0;
		type = rd->data[rd->off] >> 4;
	}
	if (type == 0x0800 || type == 4)
		return decode_ipv4(d, rd, ts, pkt, err);
	if (type == 0x86dd || type == 6)
		return decode_ipv6(d, rd, ts, pkt, err);
	return 0;
}

int ts_packet_decode(struct ts_defrag *d, int linktype, const uint8_t *frame, size_t caplen,
                     int64_t ts_us, struct ts_packet *pkt, struct ts_error *err)
{
	struct ts_reader rd;
	ts_reader_init(&rd, frame, caplen);
	memset(pkt, 0, sizeof *pkt);
	pkt->ts_us = ts_us;
	unsigned type = 0;
	switch (linktype) {
	case DLT_EN10MB: {
		ts_read_skip(&rd, 12, "ethernet addresses");
		type = ts_read_u16(&rd, "ethertype");
		for (int i = 0; i < MAX_VLAN_TAGS && (type == 0x8100 || type == 0x88a8 || type == 0x9100); i++) {
			ts_read_skip(&rd, 2, "vlan tag");
			type = ts_read_u16(&rd, "vlan ethertype");
		}
		if (rd.error)
			return malformed(err, "Ethernet", &rd);
		if (type == 0x8100 || type == 0x88a8 || type == 0x9100)
			return ts_error_set(err, TS_E_MALFORMED, "Ethernet: more than %d VLAN tags",
			                    MAX_VLAN_TAGS);
		if (type == 0x8864) { /* PPPoE session: 6-byte header, then PPP */
			ts_read_skip(&rd, 6, "pppoe header");
			uint16_t ppp = ts_read_u16(&rd, "ppp protocol");
			if (rd.error)
				return malformed(err, "PPPoE", &rd);
			type = ppp == 0x0021 ? 0x0800 : ppp == 0x0057 ? 0x86dd : 0;
			if (type == 0)
				return 0;
		}
		if (type < 0x0600) /* an 802.3 length: LLC, not IP */
			return 0;
		break;
	}
	case DLT_LINUX_SLL:
		ts_read_skip(&rd, 14, "sll header");
		type = ts_read_u16(&rd, "sll protocol");
		if (rd.error)
			return malformed(err, "Linux cooked", &rd);
		break;
	case DLT_LINUX_SLL2:
		type = ts_read_u16(&rd, "sll2 protocol");
		ts_read_skip(&rd, 18, "sll2 header");
		if (rd.error)
			return malformed(err, "Linux cooked v2", &rd);
		break;
	case DLT_RAW: case TS_LINKTYPE_RAW: case 14:
		type = 0;
		break;
	case TS_LINKTYPE_IPV4:
		type = 4;
		break;
	case TS_LINKTYPE_IPV6:
		type = 6;
		break;
	case DLT_NULL: case DLT_LOOP: {
		const uint8_t *f = ts_read_bytes(&rd, 4, "loopback family");
		if (rd.error)
			return malformed(err, "loopback", &rd);
		/* DLT_NULL is in the writer's byte order, DLT_LOOP in network
		 * order: accept either.  2 is AF_INET everywhere; 24, 28 and 30 are
		 * AF_INET6 on the BSDs and macOS, 10 on Linux. */
		uint32_t le = f[0] | f[1] << 8 | f[2] << 16 | (uint32_t)f[3] << 24;
		uint32_t be = (uint32_t)f[0] << 24 | f[1] << 16 | f[2] << 8 | f[3];
		uint32_t fam = le < 256 ? le : be;
		if (fam == 2)
			type = 4;
		else if (fam == 24 || fam == 28 || fam == 30 || fam == 10)
			type = 6;
		else
			return 0;
		break;
	}
	default:
		return ts_error_set(err, TS_E_INVALID, "unsupported link type %d", linktype);
	}
	return decode_net(d, type, &rd, ts_us, pkt, err);
}

void ts_ip_addr_format(const struct ts_ip_addr *a, char *out, size_t size)
{
	if (size == 0)
		return;
	if (inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->a, out, (socklen_t)size) == NULL)
		out[0] = '\0';
}
