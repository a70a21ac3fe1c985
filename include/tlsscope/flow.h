/* tlsscope: the flow table — one entry per TCP or UDP 5-tuple, both
 * directions together.
 *
 * Bounded: at most max_flows entries; when full, the least recently active
 * flow is evicted.  Flows idle for longer than the timeout are expired by
 * ts_flow_table_expire.  Each flow carries a user pointer for the engine; the
 * table calls on_end (evicted, expired, removed or flushed) before it forgets a
 * flow, so the engine can report and free its state.
 * Memory: the table owns its flows; a ts_flow pointer is valid until on_end
 * has been called for it. */
#ifndef TLSSCOPE_FLOW_H
#define TLSSCOPE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/packet.h"

/* Direction 0 is from addr[0]:port[0] (the sender of the first packet seen). */
struct ts_flow_key {
	struct ts_ip_addr addr[2];
	uint16_t port[2];
	uint8_t proto;
};

enum ts_flow_end { TS_FLOW_END_CLOSED, TS_FLOW_END_IDLE, TS_FLOW_END_EVICTED, TS_FLOW_END_FLUSH };

struct ts_flow {
	struct ts_flow_key key;
	int64_t first_us, last_us;
	uint64_t packets[2], bytes[2];   /* bytes: transport payload */
	void *user;                       /* the engine's state */
	/* private to the table */
	struct ts_flow *hnext, *lprev, *lnext;
	uint32_t hash;
};

typedef void (*ts_flow_end_fn)(void *ctx, struct ts_flow *f, enum ts_flow_end why);

struct ts_flow_stats {
	unsigned long long created, closed, expired, evicted, active, peak;
};

struct ts_flow_table;
/* max_flows 0: 65536; idle_timeout_us 0: 300 s. */
struct ts_flow_table *ts_flow_table_new(size_t max_flows, int64_t idle_timeout_us,
                                        ts_flow_end_fn on_end, void *ctx);
/* Ends every flow (TS_FLOW_END_FLUSH) and frees the table. */
void ts_flow_table_free(struct ts_flow_table *t);

/* Finds or creates the flow of a TCP/UDP packet.  *dir is 0 when the packet
 * goes from key.addr[0] to key.addr[1], else 1; *created says it is new.
 * Returns NULL only when memory runs out. */
struct ts_flow *ts_flow_lookup(struct ts_flow_table *t, const struct ts_packet *p, int *dir,
                               bool *created);
/* Ends flows idle since before now - timeout. */
void ts_flow_table_expire(struct ts_flow_table *t, int64_t now_us);
/* Ends one flow now (TS_FLOW_END_CLOSED). */
void ts_flow_remove(struct ts_flow_table *t, struct ts_flow *f);
/* Ends every flow (TS_FLOW_END_FLUSH), keeping the table usable. */
void ts_flow_table_flush(struct ts_flow_table *t);
void ts_flow_table_get_stats(const struct ts_flow_table *t, struct ts_flow_stats *st);

#endif
