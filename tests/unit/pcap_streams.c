#include "pcap_streams.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seg {
	uint32_t seq;
	size_t len;
	uint8_t *data;
};

struct dir {
	struct pcap_stream s;
	uint32_t isn;
	bool have_isn, syn;
	struct seg *segs;
	size_t n_segs, cap_segs, bytes;
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct dir *find_dir(struct dir **dirs, size_t *n, size_t *cap, const char *src,
                            uint16_t sport, const char *dst, uint16_t dport, size_t pkt)
{
	for (size_t i = 0; i < *n; i++) {
		struct dir *d = &(*dirs)[i];
		if (d->s.sport == sport && d->s.dport == dport && strcmp(d->s.src, src) == 0 &&
		    strcmp(d->s.dst, dst) == 0)
			return d;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*dirs = realloc(*dirs, *cap * sizeof **dirs);
	}
	struct dir *d = &(*dirs)[(*n)++];
	memset(d, 0, sizeof *d);
	snprintf(d->s.src, sizeof d->s.src, "%s", src);
	snprintf(d->s.dst, sizeof d->s.dst, "%s", dst);
	d->s.sport = sport;
	d->s.dport = dport;
	d->s.first_packet = pkt;
	/* A connection's first packet is that of whichever direction came first. */
	for (size_t i = 0; i + 1 < *n; i++) {
		struct dir *o = &(*dirs)[i];
		if (o->s.sport == dport && o->s.dport == sport && strcmp(o->s.src, dst) == 0 &&
		    strcmp(o->s.dst, src) == 0)
			d->s.first_packet = o->s.first_packet;
	}
	return d;
}

static void tcp_segment(struct dir **dirs, size_t *n, size_t *cap, const char *src,
                        const char *dst, const uint8_t *tcp, size_t len, size_t pkt,
                        size_t max_bytes)
{
	if (len < 20)
		return;
	size_t hl = (size_t)(tcp[12] >> 4) * 4;
	if (hl < 20 || hl > len)
		return;
	struct dir *d = find_dir(dirs, n, cap, src, be16(tcp), dst, be16(tcp + 2), pkt);
	uint32_t seq = be32(tcp + 4);
	bool syn = tcp[13] & 0x02;
	if (syn) {
		d->isn = seq + 1;
		d->have_isn = true;
		d->syn = true;
		return;
	}
	size_t plen = len - hl;
	if (plen == 0)
		return;
	if (!d->have_isn) {
		d->isn = seq;
		d->have_isn = true;
	}
	if (d->bytes > 2 * max_bytes)
		return;
	if (d->n_segs == d->cap_segs) {
		d->cap_segs = d->cap_segs ? d->cap_segs * 2 : 16;
		d->segs = realloc(d->segs, d->cap_segs * sizeof *d->segs);
	}
	struct seg *s = &d->segs[d->n_segs++];
	s->seq = seq - d->isn;
	s->len = plen;
	s->data = malloc(plen);
	memcpy(s->data, tcp + hl, plen);
	d->bytes += plen;
}

static void ip_packet(struct dir **dirs, size_t *n, size_t *cap, const uint8_t *p, size_t len,
                      size_t pkt, size_t max_bytes);

/* GTP-U (UDP port 2152) carries user IP packets: unwrap them. */
static void udp_datagram(struct dir **dirs, size_t *n, size_t *cap, const uint8_t *u, size_t len,
                         size_t pkt, size_t max_bytes)
{
	if (len < 8 + 8 || (be16(u) != 2152 && be16(u + 2) != 2152))
		return;
	const uint8_t *g = u + 8;
	size_t glen = len - 8, off = 8;
	if ((g[0] >> 5) != 1 || g[1] != 0xff)
		return;
	if (g[0] & 0x07) {
		off = 12;
		uint8_t next = glen >= 12 ? g[11] : 0;
		while ((g[0] & 0x04) && next != 0 && off < glen) {
			size_t elen = (size_t)g[off] * 4;
			if (elen == 0 || off + elen > glen)
				return;
			next = g[off + elen - 1];
			off += elen;
		}
	}
	if (off < glen)
		ip_packet(dirs, n, cap, g + off, glen - off, pkt, max_bytes);
}

static void ip_packet(struct dir **dirs, size_t *n, size_t *cap, const uint8_t *p, size_t len,
                      size_t pkt, size_t max_bytes)
{
	char src[64], dst[64];
	if (len < 1)
		return;
	if ((p[0] >> 4) == 4) {
		if (len < 20)
			return;
		size_t hl = (size_t)(p[0] & 15) * 4;
		size_t tot = be16(p + 2);
		if (tot < len)
			len = tot;
		if (hl < 20 || hl > len || (be16(p + 6) & 0x1fff) != 0)
			return;
		if (p[9] == 17) {
			udp_datagram(dirs, n, cap, p + hl, len - hl, pkt, max_bytes);
			return;
		}
		if (p[9] != 6)
			return;
		inet_ntop(AF_INET, p + 12, src, sizeof src);
		inet_ntop(AF_INET, p + 16, dst, sizeof dst);
		tcp_segment(dirs, n, cap, src, dst, p + hl, len - hl, pkt, max_bytes);
	} else if ((p[0] >> 4) == 6) {
		if (len < 40)
			return;
		size_t plen = be16(p + 4);
		if (40 + plen < len)
			len = 40 + plen;
		uint8_t next = p[6];
		size_t off = 40;
		/* skip hop-by-hop, routing, destination options */
		while ((next == 0 || next == 43 || next == 60) && off + 8 <= len) {
			next = p[off];
			off += (size_t)(p[off + 1] + 1) * 8;
		}
		if (next != 6 || off > len)
			return;
		inet_ntop(AF_INET6, p + 8, src, sizeof src);
		inet_ntop(AF_INET6, p + 24, dst, sizeof dst);
		tcp_segment(dirs, n, cap, src, dst, p + off, len - off, pkt, max_bytes);
	}
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int pcap_streams_load(const char *path, size_t max_bytes, struct pcap_stream **streams, size_t *n_out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, errbuf);
	if (pc == NULL) {
		fprintf(stderr, "%s: %s\n", path, errbuf);
		return -1;
	}
	int dlt = pcap_datalink(pc);
	struct dir *dirs = NULL;
	size_t n = 0, cap = 0, pkt = 0;
	struct pcap_pkthdr *h;
	const uint8_t *p;
	while (pcap_next_ex(pc, &h, &p) == 1) {
		size_t len = h->caplen, off;
		pkt++;
		switch (dlt) {
		case DLT_EN10MB: {
			if (len < 14)
				continue;
			off = 12;
			uint16_t et = be16(p + off);
			while ((et == 0x8100 || et == 0x88a8) && off + 6 <= len) {
				off += 4;
				et = be16(p + off);
			}
			off += 2;
			if (et != 0x0800 && et != 0x86dd)
				continue;
			break;
		}
		case DLT_LINUX_SLL: off = 16; break;
		case DLT_LINUX_SLL2: off = 20; break;
		case DLT_NULL: case DLT_LOOP: off = 4; break;
		case DLT_RAW: case 228: case 229: off = 0; break;
		default:
			fprintf(stderr, "%s: link type %d not supported\n", path, dlt);
			pcap_close(pc);
			return -1;
		}
		if (off < len)
			ip_packet(&dirs, &n, &cap, p + off, len - off, pkt, max_bytes);
	}
	pcap_close(pc);
	struct pcap_stream *out = calloc(n ? n : 1, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		struct dir *d = &dirs[i];
		if (d->n_segs > 0)
			qsort(d->segs, d->n_segs, sizeof *d->segs, cmp_seg);
		out[i] = d->s;
		out[i].data = malloc(max_bytes);
		uint32_t next = 0;
		for (size_t k = 0; k < d->n_segs; k++) {
			struct seg *s = &d->segs[k];
			if (s->seq > next) {
				out[i].gap = true;
				break;
			}
			size_t skip = next - s->seq;
			if (skip < s->len) {
				size_t take = s->len - skip;
				if (out[i].len + take > max_bytes)
					take = max_bytes - out[i].len;
				memcpy(out[i].data + out[i].len, s->data + skip, take);
				out[i].len += take;
				next += (uint32_t)take;
			}
			if (out[i].len == max_bytes)
				break;
		}
		for (size_t k = 0; k < d->n_segs; k++)
			free(d->segs[k].data);
		free(d->segs);
	}
	free(dirs);
	*streams = out;
	*n_out = n;
	return 0;
}

void pcap_streams_free(struct pcap_stream *streams, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(streams[i].data);
	free(streams);
}

struct pcap_stream *pcap_streams_find(struct pcap_stream *streams, size_t n, const char *src,
                                      unsigned sport, const char *dst, unsigned dport)
{
	for (size_t i = 0; i < n; i++)
		if (streams[i].sport == sport && streams[i].dport == dport &&
		    strcmp(streams[i].src, src) == 0 && strcmp(streams[i].dst, dst) == 0)
			return &streams[i];
	return NULL;
}
