#include "tlsscope/flow.h"

#include <stdlib.h>
#include <string.h>

struct ts_flow_table {
	struct ts_flow **buckets;
	size_t nbuckets;             /* a power of two */
	size_t max;
	int64_t timeout_us;
	ts_flow_end_fn on_end;
	void *ctx;
	/* least recently active at the head, most recent at the tail */
	struct ts_flow *lru_head, *lru_tail;
	struct ts_flow_stats st;
};

struct ts_flow_table *ts_flow_table_new(size_t max_flows, int64_t idle_timeout_us,
                                        ts_flow_end_fn on_end, void *ctx)
{
	struct ts_flow_table *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->max = max_flows ? max_flows : 65536;
	t->timeout_us = idle_timeout_us ? idle_timeout_us : 300 * 1000000LL;
	t->nbuckets = 1024;
	while (t->nbuckets < t->max && t->nbuckets < (1u << 22))
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
	if (t->buckets == NULL) {
		free(t);
		return NULL;
	}
	t->on_end = on_end;
	t->ctx = ctx;
	return t;
}

/* FNV-1a over both endpoints, combined so that either direction hashes alike. */
static uint32_t endpoint_hash(const struct ts_ip_addr *a, uint16_t port)
{
	uint32_t h = 2166136261u;
	size_t n = a->family == 6 ? 16 : 4;
	for (size_t i = 0; i < n; i++)
		h = (h ^ a->a[i]) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	return h;
}

static bool addr_eq(const struct ts_ip_addr *a, const struct ts_ip_addr *b)
{
	return a->family == b->family && memcmp(a->a, b->a, 16) == 0;
}

static void lru_unlink(struct ts_flow_table *t, struct ts_flow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		t->lru_head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		t->lru_tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_append(struct ts_flow_table *t, struct ts_flow *f)
{
	f->lprev = t->lru_tail;
	f->lnext = NULL;
	if (t->lru_tail)
		t->lru_tail->lnext = f;
	else
		t->lru_head = f;
	t->lru_tail = f;
}

static void end_flow(struct ts_flow_table *t, struct ts_flow *f, enum ts_flow_end why)
{
	struct ts_flow **pp = &t->buckets[f->hash & (t->nbuckets - 1)];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(t, f);
	t->st.active--;
	switch (why) {
	case TS_FLOW_END_CLOSED: t->st.closed++; break;
	case TS_FLOW_END_IDLE: t->st.expired++; break;
	case TS_FLOW_END_EVICTED: t->st.evicted++; break;
	case TS_FLOW_END_FLUSH: break;
	}
	if (t->on_end)
		t->on_end(t->ctx, f, why);
	free(f);
}

struct ts_flow *ts_flow_lookup(struct ts_flow_table *t, const struct ts_packet *p, int *dir,
                               bool *created)
{
	uint32_t h = endpoint_hash(&p->src, p->sport) ^ endpoint_hash(&p->dst, p->dport) ^ p->proto;
	*created = false;
	for (struct ts_flow *f = t->buckets[h & (t->nbuckets - 1)]; f; f = f->hnext) {
		if (f->hash != h || f->key.proto != p->proto)
			continue;
		const struct ts_flow_key *k = &f->key;
		int d = -1;
		if (k->port[0] == p->sport && k->port[1] == p->dport && addr_eq(&k->addr[0], &p->src) &&
		    addr_eq(&k->addr[1], &p->dst))
			d = 0;
		else if (k->port[1] == p->sport && k->port[0] == p->dport &&
		         addr_eq(&k->addr[1], &p->src) && addr_eq(&k->addr[0], &p->dst))
			d = 1;
		if (d < 0)
			continue;
		*dir = d;
		f->last_us = p->ts_us;
		f->packets[d]++;
		f->bytes[d] += p->payload_len;
		lru_unlink(t, f);
		lru_append(t, f);
		return f;
	}
	if (t->st.active >= t->max && t->lru_head)
		end_flow(t, t->lru_head, TS_FLOW_END_EVICTED);
	struct ts_flow *f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->key.addr[0] = p->src;
	f->key.addr[1] = p->dst;
	f->key.port[0] = p->sport;
	f->key.port[1] = p->dport;
	f->key.proto = p->proto;
	f->first_us = f->last_us = p->ts_us;
	f->packets[0] = 1;
	f->bytes[0] = p->payload_len;
	f->hash = h;
	f->hnext = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = f;
	lru_append(t, f);
	t->st.created++;
	t->st.active++;
	if (t->st.active > t->st.peak)
		t->st.peak = t->st.active;
	*dir = 0;
	*created = true;
	return f;
}

void ts_flow_table_expire(struct ts_flow_table *t, int64_t now_us)
{
	while (t->lru_head && now_us - t->lru_head->last_us > t->timeout_us)
		end_flow(t, t->lru_head, TS_FLOW_END_IDLE);
}

void ts_flow_remove(struct ts_flow_table *t, struct ts_flow *f)
{
	end_flow(t, f, TS_FLOW_END_CLOSED);
}

void ts_flow_table_flush(struct ts_flow_table *t)
{
	while (t->lru_head)
		end_flow(t, t->lru_head, TS_FLOW_END_FLUSH);
}

void ts_flow_table_free(struct ts_flow_table *t)
{
	if (t == NULL)
		return;
	ts_flow_table_flush(t);
	free(t->buckets);
	free(t);
}

void ts_flow_table_get_stats(const struct ts_flow_table *t, struct ts_flow_stats *st)
{
	*st = t->st;
}
