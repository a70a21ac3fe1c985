/* tlsscope: TCP stream reassembly, one direction at a time.
 *
 * Segments go in in capture order; bytes come out in sequence order through
 * a callback.  Retransmitted bytes are dropped, overlaps are trimmed (the
 * first copy wins, as most receivers do), out-of-order segments wait in a
 * bounded buffer.  When a hole cannot be filled — the buffer for the stream
 * or for all streams is full, the stream ends, or the caller flushes — the
 * hole is declared a gap: the callback hears how many bytes were lost and
 * delivery goes on after it.  A stream seen from the middle starts at its
 * first segment.
 * Memory: a ts_tcp_stream is caller-owned (zero it, or ts_tcp_stream_init;
 * release with ts_tcp_stream_clear).  Data passed to the callback is only
 * valid during the call. */
#ifndef TLSSCOPE_TCP_REASM_H
#define TLSSCOPE_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/packet.h"

/* data != NULL: len bytes in order.  data == NULL: len bytes were lost. */
typedef void (*ts_tcp_deliver_fn)(void *ctx, const uint8_t *data, size_t len, int64_t ts_us);

struct ts_tcp_seg;

struct ts_tcp_stream {
	bool started;                /* next_seq is known */
	bool syn, fin, rst;          /* flags seen in this direction */
	uint32_t next_seq;           /* next byte to deliver */
	struct ts_tcp_seg *ooo;      /* waiting segments, sorted by sequence */
	struct ts_tcp_seg *ooo_tail; /* the last of them */
	size_t ooo_bytes, ooo_count;
	uint64_t delivered;          /* bytes handed to the callback */
	uint64_t gap_bytes, gaps;    /* bytes lost, and in how many holes */
	uint64_t retransmitted;      /* bytes seen twice and dropped */
	uint64_t overlaps;           /* segments partly overlapping earlier data */
};

/* Limits and totals shared by every stream of an engine. */
struct ts_tcp_reasm {
	size_t stream_max;           /* out-of-order bytes per stream (0: 1 MiB) */
	size_t total_max;            /* buffered bytes overall (0: 256 MiB): out-of-order
	                                data and held_elsewhere together */
	size_t segs_max;             /* waiting segments per stream (0: 2048) */
	size_t buffered;             /* out-of-order bytes held now, overall */
	size_t held_elsewhere;       /* bytes the caller's parsers hold (its stream buffers),
	                                kept up to date by the caller */
	uint64_t forced_gaps;        /* holes declared because a limit was hit */
};

void ts_tcp_stream_init(struct ts_tcp_stream *s);
/* The overall cap in force (total_max, or its default). */
size_t ts_tcp_reasm_total_max(const struct ts_tcp_reasm *r);
/* Feeds one TCP packet of this direction. */
void ts_tcp_stream_add(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, const struct ts_packet *p,
                       ts_tcp_deliver_fn fn, void *ctx);
/* Delivers whatever waits, declaring the holes before it gaps. */
void ts_tcp_stream_flush(struct ts_tcp_reasm *r, struct ts_tcp_stream *s, ts_tcp_deliver_fn fn,
                         void *ctx);
/* Frees waiting segments without delivering them. */
void ts_tcp_stream_clear(struct ts_tcp_reasm *r, struct ts_tcp_stream *s);

#endif
