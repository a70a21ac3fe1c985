#include "tlsscope/tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

struct ts_tcp_seg {
	struct ts_tcp_seg *next;
	uint32_t seq;
	size_t len;
	int64_t ts_us;
	uint8_t data[];
};

/* Sequence arithmetic modulo 2^32. */
static int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

void ts_tcp_stream_init(struct ts_tcp_stream *s)
{
	memset(s, 0, sizeof *s);
}

static size_t lim(size_t v, size_t def)
{
	return v ? v : def;
}

/* Delivers len bytes at seq, trimming what was already delivered. */
static void deliver(struct ts_tcp_stream *s, uint32_t seq, const uint8_t *data, size_t len,
                    int64_t ts, ts_tcp_deliver_fn fn, void *ctx)
{
	int32_t d = seq_diff(seq, s->next_seq);
	if (d > 0)
		return; /* callers never pass a segment beyond the hole */
	size_t skip = (size_t)-(int64_t)d;
	if (skip >= len) {
		s->retransmitted += len;
		return;
	}
	if (skip > 0) {
		s->overlaps++;
		s->retransmitted += skip;
	}
	s->next_seq += (uint32_t)(len - skip);
	s->delivered += len - skip;
	fn(ctx, data + skip, len - skip, ts);
}

static void free_head(struct ts_tcp_reasm *r, struct ts_tcp_stream *s)
{
	struct ts_tcp_seg *g = s->ooo;
	s->ooo = g->next;
	if (s->ooo == NULL)
		s->ooo_tail = NULL;
	s->ooo_bytes -= g->len;
	s->ooo_count--;
	r->buffered -= g->len;
	free(g);
}

/* Delivers waiting segments that now touch the delivered edge. */
static void drain(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, ts_tcp_deliver_fn fn, void *ctx)
{
	while (s->ooo && seq_diff(s->ooo->seq, s->next_seq) <= 0) {
		struct ts_tcp_seg *g = s->ooo;
		deliver(s, g->seq, g->data, g->len, g->ts_us, fn, ctx);
		free_head(r, s);
	}
}

/* Declares the hole before the first waiting segment lost. */
static void skip_hole(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, ts_tcp_deliver_fn fn, void *ctx)
{
	if (s->ooo == NULL)
		return;
	int32_t d = seq_diff(s->ooo->seq, s->next_seq);
	if (d > 0) {
		s->gaps++;
		s->gap_bytes += (uint32_t)d;
		s->next_seq = s->ooo->seq;
		fn(ctx, NULL, (size_t)d, s->ooo->ts_us);
	}
	drain(r, s, fn, ctx);
}

static void insert(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, uint32_t seq,
                   const uint8_t *data, size_t len, int64_t ts)
{
	struct ts_tcp_seg **pp = &s->ooo;
	/* After a hole the segments mostly come in order: they go at the end,
	 * found without walking the list (which made a loss cost O(n^2)). */
	if (s->ooo_tail && seq_diff(s->ooo_tail->seq, seq) < 0)
		pp = &s->ooo_tail->next;
	while (*pp && seq_diff((*pp)->seq, seq) < 0)
		pp = &(*pp)->next;
	/* An exact copy of a waiting segment (or a shorter one) is a retransmission. */
	if (*pp && (*pp)->seq == seq && (*pp)->len >= len) {
		s->retransmitted += len;
		return;
	}
	struct ts_tcp_seg *g = malloc(sizeof *g + len);
	if (g == NULL)
		return;
	g->seq = seq;
	g->len = len;
	g->ts_us = ts;
	memcpy(g->data, data, len);
	g->next = *pp;
	*pp = g;
	if (g->next == NULL)
		s->ooo_tail = g;
	s->ooo_bytes += len;
	s->ooo_count++;
	r->buffered += len;
}

size_t ts_tcp_reasm_total_max(const struct ts_tcp_reasm *r)
{
	return lim(r->total_max, 256u << 20);
}

void ts_tcp_stream_add(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, const struct ts_packet *p,
                       ts_tcp_deliver_fn fn, void *ctx)
{
	uint32_t seq = p->seq;
	if (p->tcp_flags & TS_TCP_SYN) {
		if (!s->started || !s->syn) {
			s->next_seq = seq + 1;
			s->started = true;
		}
		s->syn = true;
		seq++; /* data on a SYN (TCP Fast Open) follows it */
	}
	if (p->tcp_flags & TS_TCP_RST)
		s->rst = true;
	if (p->payload_len > 0 && !(p->tcp_flags & TS_TCP_RST)) {
		if (!s->started) {
			s->started = true;
			s->next_seq = seq;
		}
		int32_t d = seq_diff(seq, s->next_seq);
		if (d <= 0) {
			deliver(s, seq, p->payload, p->payload_len, p->ts_us, fn, ctx);
			drain(r, s, fn, ctx);
		} else {
			insert(r, s, seq, p->payload, p->payload_len, p->ts_us);
			while (s->ooo && (s->ooo_bytes > lim(r->stream_max, 1u << 20) ||
			                  s->ooo_count > lim(r->segs_max, 2048) ||
			                  r->buffered + r->held_elsewhere > ts_tcp_reasm_total_max(r))) {
				r->forced_gaps++;
				skip_hole(r, s, fn, ctx);
			}
		}
	}
	if (p->tcp_flags & TS_TCP_FIN)
		s->fin = true;
}

void ts_tcp_stream_flush(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, ts_tcp_deliver_fn fn,
                         void *ctx)
{
	while (s->ooo)
		skip_hole(r, s, fn, ctx);
}

void ts_tcp_stream_clear(struct ts_tcp_reasm *r, struct ts_tcp_stream *s)
{
	while (s->ooo)
		free_head(r, s);
}
