/* The scanner's planner: which hellos to send to learn each fact with few
 * connections, run as independent chains (fibers on the target's thread)
 * while a per-target semaphore keeps at most max_connections connections
 * open at a time.
 *
 * Suites: per version, the whole IANA registry is offered; the chosen suite
 *         is struck out and the rest offered again until the server refuses
 *         (one connection per accepted suite, plus one; TLS 1.3's by
 *         HelloRetryRequest, a hello without a key share).  The registry
 *         reversed tells server order from client order; a client-order
 *         server's suites are then eliminated in four parts at once.  SSLv2
 *         takes one hello.
 * The rest starts with the first answer of TLS 1.2 (or 1.3), beside the
 *         enumeration: each of these hellos offers every registry suite of
 *         the kind it needs (the server can only choose one it accepts, so
 *         the accepted ones need not be known yet): groups (TLS 1.3 by
 *         HelloRetryRequest with no key share, TLS 1.2 by the curve in
 *         ServerKeyExchange), signature algorithms, one certificate per key
 *         type (with OCSP, ticket, renegotiation_info, heartbeat and DEFLATE
 *         offered in the same hello), DH size, CCS injection, ALPN.  Only
 *         fallback SCSV waits for every version.  Every hello is followed by
 *         a close_notify, so the server hangs up as soon as it has answered. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "scan_internal.h"
#include "tlsscope/conn.h"
#include "tlsscope/registry.h"

static const uint16_t version_codes[TS_SV_COUNT] = { TS_SSL2, TS_SSL3, TS_TLS10, TS_TLS11,
                                                     TS_TLS12, TS_TLS13 };
static const char *const version_names[TS_SV_COUNT] = { "SSLv2", "SSLv3", "TLSv1.0",
                                                        "TLSv1.1", "TLSv1.2", "TLSv1.3" };
static const char *const version_keys[TS_SV_COUNT] = { "ssl2", "ssl3", "tls1_0", "tls1_1",
                                                       "tls1_2", "tls1_3" };

uint16_t ts_scan_version_code(enum ts_scan_version v)
{
	return (unsigned)v < TS_SV_COUNT ? version_codes[v] : 0;
}

const char *ts_scan_version_name(enum ts_scan_version v)
{
	return (unsigned)v < TS_SV_COUNT ? version_names[v] : "?";
}

const char *ts_scan_version_key(enum ts_scan_version v)
{
	return (unsigned)v < TS_SV_COUNT ? version_keys[v] : "?";
}

static const char *const severity_names[] = { "info", "low", "medium", "high", "critical" };

const char *ts_severity_name(enum ts_severity s)
{
	return (unsigned)s <= TS_SEV_CRITICAL ? severity_names[s] : "?";
}

int ts_severity_parse(const char *s, enum ts_severity *out, struct ts_error *err)
{
	for (int i = 0; i <= TS_SEV_CRITICAL; i++)
		if (s != NULL && strcasecmp(s, severity_names[i]) == 0) {
			*out = (enum ts_severity)i;
			return TS_OK;
		}
	return ts_error_set(err, TS_E_INVALID,
	                    "severity: wanted info, low, medium, high or critical, got '%s'",
	                    s != NULL ? s : "");
}

const char *ts_ssl2_cipher_name(uint32_t spec)
{
	switch (spec) {
	case 0x010080: return "SSL_CK_RC4_128_WITH_MD5";
	case 0x020080: return "SSL_CK_RC4_128_EXPORT40_WITH_MD5";
	case 0x030080: return "SSL_CK_RC2_128_CBC_WITH_MD5";
	case 0x040080: return "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5";
	case 0x050080: return "SSL_CK_IDEA_128_CBC_WITH_MD5";
	case 0x060040: return "SSL_CK_DES_64_CBC_WITH_MD5";
	case 0x0700c0: return "SSL_CK_DES_192_EDE3_CBC_WITH_MD5";
	default: {
		static _Thread_local char buf[16];
		snprintf(buf, sizeof buf, "0x%06x", (unsigned)spec);
		return buf;
	}
	}
}

void ts_scan_options_init(struct ts_scan_options *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->max_connections = 4;
	opt->max_targets = 8;
	opt->timeout_ms = 5000;
}

static void note(struct scan_target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct scan_target *t, const char *fmt, ...)
{
	struct ts_scan_result *r = t->res;
	if (r->n_notes < TS_SCAN_MAX_NOTES) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->notes[r->n_notes], sizeof r->notes[0], fmt, ap);
		va_end(ap);
		/* the same note twice says nothing new */
		bool dup = false;
		for (size_t i = 0; i < r->n_notes; i++)
			if (strcmp(r->notes[i], r->notes[r->n_notes]) == 0)
				dup = true;
		if (!dup)
			r->n_notes++;
	}
}

/* ---------------------------------------------------------------------------
 * Offer lists from the registry. */

static bool in_list(const uint16_t *l, size_t n, uint16_t v)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

static size_t remove_from(uint16_t *l, size_t n, uint16_t v)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (l[i] != v)
			l[j++] = l[i];
	return j;
}

/* One round of an elimination (groups, signature schemes): the server's
 * choice, when it answered with one of the offer, goes to found and out of
 * the offer.  False ends the elimination. */
static bool take_choice(bool answered, uint16_t choice, uint16_t *offer, size_t *n,
                        uint16_t *found, size_t *n_found)
{
	if (!answered || choice == 0 || !in_list(offer, *n, choice))
		return false;
	if (*n_found < TS_SCAN_MAX_LIST)
		found[(*n_found)++] = choice;
	*n = remove_from(offer, *n, choice);
	return true;
}

/* Every suite of the registry for TLS <= 1.2 (tls13 false) or TLS 1.3. */
static size_t registry_suites(bool tls13, uint16_t *out, size_t cap)
{
	size_t n_all, n = 0;
	const struct ts_suite_info *all = ts_suites(&n_all);
	for (size_t i = 0; i < n_all && n < cap; i++) {
		const struct ts_suite_info *s = &all[i];
		if (s->scsv || s->kx == TS_KX_SCSV || s->code == 0x0000)
			continue;
		bool is13 = s->min_version >= TS_TLS13;
		if (is13 == tls13)
			out[n++] = s->code;
	}
	return n;
}

/* Groups of the given kinds ("ec", "ff", "hybrid", "pq"), excluding the
 * arbitrary_explicit_* pseudo groups. */
static size_t registry_groups(bool ec, bool ff, bool pqc, uint16_t *out, size_t cap)
{
	size_t n_all, n = 0;
	const struct ts_group_info *all = ts_groups(&n_all);
	for (size_t i = 0; i < n_all && n < cap; i++) {
		const struct ts_group_info *g = &all[i];
		if (g->code >= 0xff00 || ts_is_grease(g->code))
			continue;
		bool want = (ec && strcmp(g->kind, "ec") == 0) || (ff && strcmp(g->kind, "ff") == 0) ||
		            (pqc && (strcmp(g->kind, "hybrid") == 0 || strcmp(g->kind, "pq") == 0));
		if (want)
			out[n++] = g->code;
	}
	return n;
}

static size_t registry_sigalgs(uint16_t *out, size_t cap)
{
	size_t n_all, n = 0;
	const struct ts_sigscheme_info *all = ts_sigschemes(&n_all);
	for (size_t i = 0; i < n_all && n < cap; i++)
		if (all[i].code < 0xfe00 && !ts_is_grease(all[i].code))
			out[n++] = all[i].code;
	return n;
}

/* Offer tables computed once from the static registry. */
static uint16_t t_groups12[TS_SCAN_MAX_LIST], t_sigalgs[TS_SCAN_MAX_LIST];
static uint16_t t_groups13[TS_SCAN_MAX_LIST];
static size_t t_n_groups12, t_n_sigalgs, t_n_groups13;
static uv_once_t tables_once = UV_ONCE_INIT;

static void tables_init(void)
{
	t_n_groups12 = registry_groups(true, true, false, t_groups12, TS_SCAN_MAX_LIST);
	t_n_sigalgs = registry_sigalgs(t_sigalgs, TS_SCAN_MAX_LIST);
	size_t ng = registry_groups(true, true, true, t_groups13, TS_SCAN_MAX_LIST - 1);
	/* x25519 first: the share we send */
	ng = remove_from(t_groups13, ng, 0x001d);
	memmove(t_groups13 + 1, t_groups13, ng * sizeof t_groups13[0]);
	t_groups13[0] = 0x001d;
	t_n_groups13 = ng + 1;
}

/* The spec every TLS <= 1.2 probe starts from. */
static void spec12(struct ts_hello_spec *s, uint16_t version, const uint16_t *suites, size_t n)
{
	uv_once(&tables_once, tables_init);
	memset(s, 0, sizeof *s);
	s->version = version;
	s->suites = suites;
	s->n_suites = n;
	if (version >= TS_TLS10) {
		s->groups = t_groups12;
		s->n_groups = t_n_groups12;
		s->sigalgs = t_sigalgs;
		s->n_sigalgs = t_n_sigalgs;
		s->renegotiation_info = true;
	} else {
		s->no_extensions = true;
	}
}

static const uint16_t v13_only[] = { TS_TLS13 };
static const uint16_t share_x25519[] = { 0x001d };
static const uint16_t no_share[1] = { 0 };

static void spec13(struct ts_hello_spec *s, const uint16_t *suites, size_t n)
{
	uv_once(&tables_once, tables_init);
	memset(s, 0, sizeof *s);
	s->version = TS_TLS13;
	s->suites = suites;
	s->n_suites = n;
	s->versions = v13_only;
	s->n_versions = 1;
	s->groups = t_groups13;
	s->n_groups = t_n_groups13;
	s->key_shares = share_x25519;
	s->n_key_shares = 1;
}

/* ---------------------------------------------------------------------------
 * Running tasks. */

/* The tasks, parts and families of one target's scan are fibers on the
 * target's thread (lib/fiber.c): each keeps the plain shape of a chain of
 * hellos, and the thread runs the others while one waits for an answer. */
typedef void (*task_fn)(struct scan_target *t, int arg);
struct task {
	task_fn fn;
	int arg;
	struct scan_target *t;
	struct fiber *f;
};

static void task_main(void *arg)
{
	struct task *k = arg;
	k->fn(k->t, k->arg);
}

static void task_start(struct task *k)
{
	k->f = fiber_spawn(task_main, k);
}

/* Waits for a started task, or runs one that could not start. */
static void task_finish(struct task *k)
{
	if (k->f != NULL)
		fiber_join(k->f);
	else
		k->fn(k->t, k->arg);
}

/* ---------------------------------------------------------------------------
 * Phase 1: versions and suites. */

static bool hostile(enum probe_outcome o)
{
	return o == P_TIMEOUT || o == P_MALFORMED || o == P_CONNECT || o == P_ERROR;
}

static const char *outcome_words(const struct probe *p)
{
	static _Thread_local char buf[TS_ERROR_MSG_MAX + 200];
	switch (p->outcome) {
	case P_TIMEOUT: return "the server did not answer in time";
	case P_CLOSED: return "the server closed the connection without an answer";
	case P_CONNECT: snprintf(buf, sizeof buf, "could not connect: %s", p->msg); return buf;
	case P_MALFORMED: snprintf(buf, sizeof buf, "the answer is not TLS: %s", p->msg); return buf;
	case P_ERROR: snprintf(buf, sizeof buf, "%s", p->msg); return buf;
	default: return p->msg;
	}
}

/* Offers offer[] repeatedly, striking out each suite chosen.  Returns the
 * first probe's outcome; found[] gets the accepted suites in the order chosen. */
static enum probe_outcome eliminate(struct scan_target *t, enum ts_scan_version v,
                                    const uint16_t *offer_in, size_t n_offer, uint16_t *found,
                                    size_t *n_found, size_t cap)
{
	uint16_t *offer = malloc((n_offer + 1) * sizeof *offer);
	if (offer == NULL)
		return P_ERROR;
	memcpy(offer, offer_in, n_offer * sizeof *offer);
	enum probe_outcome first = 0;
	uint16_t code = version_codes[v];
	for (size_t round = 0; n_offer > 0 && *n_found < cap; round++) {
		struct probe p;
		probe_init(&p);
		if (v == TS_SV_TLS13) {
			/* no key share: the HelloRetryRequest names the suite and
			 * costs the server no key exchange and no signature */
			spec13(&p.spec, offer, n_offer);
			p.spec.key_shares = no_share;
			p.spec.n_key_shares = 0;
		} else
			spec12(&p.spec, code, offer, n_offer);
		p.stop = STOP_HELLO;
		enum probe_outcome o = probe_run(t, &p);
		if (round == 0)
			first = o;
		bool accepted = o == P_HELLO && p.version == code && in_list(offer, n_offer, p.suite);
		if (o == P_HELLO && p.version == code && !accepted && round == 0)
			note(t, "%s: the server chose %s, which was not offered", version_names[v],
			     ts_suite_name(p.suite));
		if (round > 0 && hostile(o))
			note(t, "%s: suite enumeration stopped early: %s", version_names[v],
			     outcome_words(&p));
		if (accepted && v == TS_SV_TLS13 && t->group13 == 0)
			t->group13 = p.group;
		if (accepted && *n_found < cap) {
			found[(*n_found)++] = p.suite;
			n_offer = remove_from(offer, n_offer, p.suite);
		}
		probe_clear(&p);
		if (!accepted)
			break;
	}
	free(offer);
	return first;
}

/* A part of the offer eliminated on its own (client-order servers:
 * the order is ours, so disjoint parts can be eliminated at once). */
struct part {
	struct scan_target *t;
	enum ts_scan_version v;
	uint16_t offer[TS_SCAN_MAX_SUITES];
	size_t n_offer;
	uint16_t found[TS_SCAN_MAX_SUITES];
	size_t n_found;
};

static void part_main(void *arg)
{
	struct part *p = arg;
	eliminate(p->t, p->v, p->offer, p->n_offer, p->found, &p->n_found, TS_SCAN_MAX_SUITES);
}

static int by_code(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

#define TLS12_TASKS 4
#define KNOWN_TASKS 2
static size_t tls12_tasks(struct scan_target *t, int v, struct task *k);
static size_t known_tasks(struct scan_target *t, int v, struct task *k);
static void task_groups13(struct scan_target *t, int arg);
static void task_sigalgs13(struct scan_target *t, int arg);

/* The probes that need only to know that version v is accepted (they offer
 * every suite of a kind, so the accepted suites need not be known): they
 * start with v's first answer, beside the enumeration, so the connection
 * budget is never idle. */
static size_t early_tasks(struct scan_target *t, enum ts_scan_version v, struct task *k)
{
	if (v == TS_SV_TLS12)
		return tls12_tasks(t, v, k);
	k[0] = (struct task){ .fn = task_groups13, .t = t };
	k[1] = (struct task){ .fn = task_sigalgs13, .t = t };
	return 2;
}

static void task_suites(struct scan_target *t, int arg)
{
	enum ts_scan_version v = (enum ts_scan_version)arg;
	struct ts_scan_result *r = t->res;
	uint16_t offer[TS_SCAN_MAX_SUITES];
	size_t n_offer = registry_suites(v == TS_SV_TLS13, offer, TS_SCAN_MAX_SUITES);
	uint16_t *found = r->suites[v];
	size_t *n_found = &r->n_suites[v];
	/* first the whole registry, then the whole registry reversed: the same
	 * choice means the server orders; another means it follows us */
	enum probe_outcome first = eliminate(t, v, offer, n_offer, found, n_found, 1);
	struct task early[TLS12_TASKS];
	size_t n_early = 0;
	if (*n_found == 1 && (v == TS_SV_TLS13 || v == TS_SV_TLS12))
		n_early = early_tasks(t, v, early);
	for (size_t i = 0; i < n_early; i++)
		task_start(&early[i]);
	if (*n_found == 1 && n_offer > 1) {
		uint16_t rev[TS_SCAN_MAX_SUITES], second[1];
		size_t n_second = 0;
		for (size_t i = 0; i < n_offer; i++)
			rev[i] = offer[n_offer - 1 - i];
		eliminate(t, v, rev, n_offer, second, &n_second, 1);
		size_t rest = remove_from(offer, n_offer, found[0]);
		if (n_second == 1 && second[0] != found[0]) {
			r->server_order[v] = TS_NO;
			found[(*n_found)++] = second[0];
			rest = remove_from(offer, rest, second[0]);
			/* every 4th suite to a part: the accepted ones, which cluster
			 * in the registry, are shared evenly, so the parts end together */
			struct part parts[4];
			size_t n_parts = rest >= 16 ? 4 : 1;
			for (size_t i = 0; i < n_parts; i++)
				parts[i] = (struct part){ .t = t, .v = v };
			for (size_t k = 0; k < rest; k++) {
				struct part *pt = &parts[k % n_parts];
				pt->offer[pt->n_offer++] = offer[k];
			}
			fiber_each(part_main, parts, sizeof parts[0], n_parts);
			for (size_t i = 0; i < n_parts; i++)
				for (size_t k = 0; k < parts[i].n_found && *n_found < TS_SCAN_MAX_SUITES; k++)
					found[(*n_found)++] = parts[i].found[k];
			/* the client's order: the registry's */
			qsort(found, *n_found, sizeof found[0], by_code);
		} else {
			if (n_second == 1)
				r->server_order[v] = TS_YES;
			eliminate(t, v, offer, rest, found, n_found, TS_SCAN_MAX_SUITES);
		}
	}
	if (*n_found == 0 && first == P_CLOSED && n_offer > 64) {
		/* Some servers hang up on a hello with hundreds of suites: offer
		 * them 64 at a time (the order across chunks is then unknown). */
		for (size_t off = 0; off < n_offer; off += 64) {
			size_t len = n_offer - off < 64 ? n_offer - off : 64;
			enum probe_outcome o = eliminate(t, v, offer + off, len, found, n_found,
			                                 TS_SCAN_MAX_SUITES);
			if (hostile(o))
				break;
		}
		if (*n_found > 0) {
			t->small_hellos[v] = true;
			note(t, "%s: the server hangs up on a hello with %zu suites; offered 64 at a "
			     "time", version_names[v], n_offer);
		}
	}
	if (*n_found > 0) {
		r->protocols[v] = TS_YES;
	} else if (hostile(first)) {
		r->protocols[v] = TS_UNKNOWN;
		note(t, "%s: not known", version_names[v]);
	} else {
		r->protocols[v] = TS_NO;
	}
	if (hostile(first))
		r->status = first == P_TIMEOUT ? TS_E_TIMEOUT
		          : first == P_CONNECT ? TS_E_CONNECT : TS_E_TLS;
	if (n_early == 0 && *n_found > 0 && (v == TS_SV_TLS13 || v == TS_SV_TLS12))
		n_early = early_tasks(t, v, early);   /* found only in chunks: they run now */
	struct task known[KNOWN_TASKS];
	size_t n_known = *n_found > 0 && v == TS_SV_TLS12 ? known_tasks(t, v, known) : 0;
	for (size_t i = 0; i < n_known; i++)
		task_start(&known[i]);
	for (size_t i = 0; i < n_early; i++)
		task_finish(&early[i]);
	for (size_t i = 0; i < n_known; i++)
		task_finish(&known[i]);
}

static void task_ssl2(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_scan_result *r = t->res;
	struct probe p;
	probe_init(&p);
	p.spec.version = TS_SSL2;
	enum probe_outcome o = probe_run(t, &p);
	if (o == P_SSL2) {
		r->protocols[TS_SV_SSL2] = p.n_ssl2_specs > 0 ? TS_YES : TS_NO;
		r->n_ssl2_specs = p.n_ssl2_specs;
		memcpy(r->ssl2_specs, p.ssl2_specs, p.n_ssl2_specs * sizeof p.ssl2_specs[0]);
		if (p.n_ssl2_specs == 0)
			note(t, "SSLv2: the server speaks SSLv2 but offers no cipher");
	} else {
		r->protocols[TS_SV_SSL2] = hostile(o) ? TS_UNKNOWN : TS_NO;
	}
	probe_clear(&p);
}

/* ---------------------------------------------------------------------------
 * Phase 2. */

/* Highest version <= TLS 1.2 with accepted suites, or -1. */
static int best12(const struct ts_scan_result *r)
{
	for (int v = TS_SV_TLS12; v >= TS_SV_SSL3; v--)
		if (r->n_suites[v] > 0)
			return v;
	return -1;
}

/* Accepted suites at version v matching a filter. */
static size_t pick(const struct ts_scan_result *r, int v, uint16_t *out,
                   bool (*want)(const struct ts_suite_info *, int), int arg)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_suites[v]; i++) {
		const struct ts_suite_info *s = ts_suite_by_code(r->suites[v][i]);
		if (s != NULL && want(s, arg))
			out[n++] = s->code;
	}
	return n;
}

static bool want_ecdhe(const struct ts_suite_info *s, int arg)
{
	(void)arg;
	return s->kx == TS_KX_ECDHE;
}

static bool want_dhe(const struct ts_suite_info *s, int arg)
{
	(void)arg;
	return s->kx == TS_KX_DHE;
}

static bool want_auth(const struct ts_suite_info *s, int auth)
{
	return (int)s->auth == auth && !s->anonymous;
}

static bool want_fs_auth(const struct ts_suite_info *s, int auth)
{
	return want_auth(s, auth) && (s->kx == TS_KX_ECDHE || s->kx == TS_KX_DHE);
}

static bool want_any(const struct ts_suite_info *s, int arg)
{
	(void)arg;
	(void)s;
	return true;
}

/* The suites a probe of version v (TLS <= 1.2) offers: every registry suite
 * matching a filter.  The server can only choose among those it accepts, so
 * offering these tells the same as offering the accepted ones, before they
 * are known.  A server that hangs up on big hellos gets the accepted ones
 * (known by then: its probes wait for the enumeration). */
static size_t pick_registry(const struct scan_target *t, int v, uint16_t *out,
                            bool (*want)(const struct ts_suite_info *, int), int arg)
{
	if (t->small_hellos[v])
		return pick(t->res, v, out, want, arg);
	size_t n_all, n = 0;
	const struct ts_suite_info *all = ts_suites(&n_all);
	for (size_t i = 0; i < n_all && n < TS_SCAN_MAX_SUITES; i++) {
		const struct ts_suite_info *s = &all[i];
		if (!s->scsv && s->kx != TS_KX_SCSV && s->code != 0 && s->min_version < TS_TLS13 &&
		    s->min_version <= version_codes[v] && want(s, arg))
			out[n++] = s->code;
	}
	return n;
}

static void task_groups13(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_scan_result *r = t->res;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = registry_suites(true, suites, TS_SCAN_MAX_SUITES);
	uv_once(&tables_once, tables_init);
	uint16_t offer[TS_SCAN_MAX_LIST];
	size_t n = t_n_groups13;
	memcpy(offer, t_groups13, n * sizeof offer[0]);
	/* the suites' first hello asked the same (every suite, these groups, no
	 * key share): its answer is this chain's first */
	take_choice(t->group13 != 0, t->group13, offer, &n, r->groups13, &r->n_groups13);
	for (size_t round = 0; n > 0 && round < TS_SCAN_MAX_LIST; round++) {
		struct probe p;
		probe_init(&p);
		spec13(&p.spec, suites, ns);
		p.spec.groups = offer;
		p.spec.n_groups = n;
		p.spec.key_shares = no_share;   /* an empty key_share: the server must name its group */
		p.spec.n_key_shares = 0;
		enum probe_outcome o = probe_run(t, &p);
		bool more = take_choice(o == P_HELLO && p.version == TS_TLS13, p.group, offer, &n,
		                        r->groups13, &r->n_groups13);
		probe_clear(&p);
		if (!more)
			break;
	}
}

/* arg: the version (the best one up to TLS 1.2) */
static void task_groups12(struct scan_target *t, int arg)
{
	struct ts_scan_result *r = t->res;
	int v = arg;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = v >= TS_SV_TLS10 ? pick_registry(t, v, suites, want_ecdhe, 0) : 0;
	if (ns == 0)
		return;
	uint16_t offer[TS_SCAN_MAX_LIST];
	size_t n = registry_groups(true, false, false, offer, TS_SCAN_MAX_LIST);
	for (size_t round = 0; n > 0 && round < TS_SCAN_MAX_LIST; round++) {
		struct probe p;
		probe_init(&p);
		spec12(&p.spec, version_codes[v], suites, ns);
		p.spec.groups = offer;
		p.spec.n_groups = n;
		p.stop = STOP_DONE;
		enum probe_outcome o = probe_run(t, &p);
		bool more = take_choice(o == P_HELLO && p.have_ske && p.ske.kind == TS_SKE_ECDHE,
		                        p.ske.group, offer, &n, r->groups12, &r->n_groups12);
		probe_clear(&p);
		if (!more)
			break;
	}
}

/* arg: the version; the group of DHE suites, when one was accepted */
static void task_dh(struct scan_target *t, int arg)
{
	struct ts_scan_result *r = t->res;
	int v = arg;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = v >= 0 ? pick(r, v, suites, want_dhe, 0) : 0;
	if (ns == 0)
		return;
	struct probe p;
	probe_init(&p);
	spec12(&p.spec, version_codes[v], suites, ns);
	p.spec.groups = NULL;   /* no ffdhe offer: see the group the server picks itself */
	p.spec.n_groups = 0;
	p.stop = STOP_DONE;
	if (probe_run(t, &p) == P_HELLO && p.have_ske && p.ske.kind == TS_SKE_DHE)
		r->dh_bits = p.ske.dh_bits;
	probe_clear(&p);
}

/* The schemes one key type signs with, in the server's order; first is the
 * scheme of an answer to the whole list already in hand, or 0. */
static void sigalgs12_for(struct scan_target *t, int auth, uint16_t first, uint16_t *found,
                          size_t *n_found)
{
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = pick_registry(t, TS_SV_TLS12, suites, want_fs_auth, auth);
	if (ns == 0)
		return;
	uint16_t offer[TS_SCAN_MAX_LIST];
	size_t n = registry_sigalgs(offer, TS_SCAN_MAX_LIST);
	if (first != 0)
		take_choice(true, first, offer, &n, found, n_found);
	for (size_t round = 0; n > 0 && round < TS_SCAN_MAX_LIST; round++) {
		struct probe p;
		probe_init(&p);
		spec12(&p.spec, TS_TLS12, suites, ns);
		p.spec.sigalgs = offer;
		p.spec.n_sigalgs = n;
		p.stop = STOP_DONE;
		enum probe_outcome o = probe_run(t, &p);
		bool more = take_choice(o == P_HELLO && p.have_ske && p.ske.has_sigalg, p.ske.sigalg,
		                        offer, &n, found, n_found);
		probe_clear(&p);
		if (!more)
			break;
	}
}

/* TLS 1.3 hides the chosen scheme in the encrypted CertificateVerify, so a
 * scheme is known accepted only when offered alone: a server with no key for
 * it refuses the hello.  The schemes of one key type are first offered
 * together (most servers refuse most families in one hello), then one by
 * one; the last of a family accepted together need not be asked alone when
 * the others were refused.  The families after the first two are for keys
 * few servers have: they are first offered all together, in one hello.
 *
 * That hello carries no key share.  A server that refuses it with an alert
 * checks the schemes before it asks for a key share (OpenSSL and GnuTLS
 * do), so a HelloRetryRequest then answers each question, at a third of a
 * full handshake's cost to the server; any other answer and the questions
 * are asked by full handshakes. */
static const uint16_t sigalgs13_families[][4] = {
	{ 0x0403, 0x0503, 0x0603 },             /* ECDSA */
	{ 0x0804, 0x0805, 0x0806 },             /* RSA-PSS, rsaEncryption key */
	{ 0x0807, 0x0808 },                     /* EdDSA */
	{ 0x0809, 0x080a, 0x080b },             /* RSA-PSS, PSS key */
	{ 0x081a, 0x081b, 0x081c },             /* ECDSA brainpool */
};
#define N_SIG13_FAMILIES (sizeof sigalgs13_families / sizeof sigalgs13_families[0])
#define N_SIG13_COMMON 2

struct sig13_state {
	struct scan_target *t;
	bool by_hrr;                    /* a HelloRetryRequest says accepted */
	bool ok[N_SIG13_FAMILIES][4];
};

/* One family, on its own fiber. */
struct sig13_job {
	struct sig13_state *s;
	size_t f;
};

static bool sig13_accepted(struct sig13_state *s, const uint16_t *schemes, size_t n,
                           enum probe_outcome *outcome)
{
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = registry_suites(true, suites, TS_SCAN_MAX_SUITES);
	struct probe p;
	probe_init(&p);
	spec13(&p.spec, suites, ns);
	if (s->by_hrr) {
		p.spec.key_shares = no_share;
		p.spec.n_key_shares = 0;
	}
	p.spec.sigalgs = schemes;
	p.spec.n_sigalgs = n;
	enum probe_outcome o = probe_run(s->t, &p);
	bool ok = o == P_HELLO && p.version == TS_TLS13 && p.is_hrr == s->by_hrr;
	probe_clear(&p);
	if (outcome != NULL)
		*outcome = o;
	return ok;
}

static size_t sig13_family_len(size_t f)
{
	size_t n = 0;
	while (n < 4 && sigalgs13_families[f][n] != 0)
		n++;
	return n;
}

static void sig13_family(void *arg)
{
	struct sig13_job *j = arg;
	struct sig13_state *s = j->s;
	size_t f = j->f;
	const uint16_t *fam = sigalgs13_families[f];
	size_t n = sig13_family_len(f), n_ok = 0;
	if (!sig13_accepted(s, fam, n, NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		s->ok[f][i] = i + 1 == n && n_ok == 0 ? true : sig13_accepted(s, &fam[i], 1, NULL);
		n_ok += s->ok[f][i];
	}
}

static void task_sigalgs13(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_scan_result *r = t->res;
	struct sig13_state s = { .t = t, .by_hrr = true };
	uint16_t rare[4 * N_SIG13_FAMILIES];
	size_t n = 0;
	for (size_t f = N_SIG13_COMMON; f < N_SIG13_FAMILIES; f++)
		for (size_t i = 0; i < sig13_family_len(f); i++)
			rare[n++] = sigalgs13_families[f][i];
	enum probe_outcome o;
	bool rare_ok = sig13_accepted(&s, rare, n, &o);
	if (o != P_ALERT) {
		s.by_hrr = false;
		rare_ok = sig13_accepted(&s, rare, n, NULL);
	}
	struct sig13_job jobs[N_SIG13_FAMILIES];
	size_t n_jobs = rare_ok ? N_SIG13_FAMILIES : N_SIG13_COMMON;
	for (size_t f = 0; f < n_jobs; f++)
		jobs[f] = (struct sig13_job){ &s, f };
	fiber_each(sig13_family, jobs, sizeof jobs[0], n_jobs);
	for (size_t f = 0; f < N_SIG13_FAMILIES; f++)
		for (size_t i = 0; i < 4; i++)
			if (s.ok[f][i] && r->n_sigalgs13 < TS_SCAN_MAX_LIST)
				r->sigalgs13[r->n_sigalgs13++] = sigalgs13_families[f][i];
}

static void verify_cert(struct scan_target *t, struct ts_scan_cert *c, const uint8_t *const *ders,
                        const size_t *lens, size_t n)
{
	struct ts_error err = { 0 };
	struct ts_verify_options vo = { .name = t->opt->server_name != NULL ? t->opt->server_name
	                                                                     : t->host };
	struct ts_verify_result vr;
	memset(&vr, 0, sizeof vr);
	int rc = ts_cert_verify_der(t->trust, ders, lens, n, &vo, &vr, &err);
	/* the leaf's details: the first of the chain the verification built,
	 * rather than decoding the leaf once more */
	if (vr.built_count > 0) {
		c->leaf = vr.built[0];
		memset(&vr.built[0], 0, sizeof vr.built[0]);
	} else if (ts_cert_info_from_der(ders[0], lens[0], &c->leaf, &err) != 0) {
		snprintf(c->verify_error, sizeof c->verify_error, "%s", err.msg);
		ts_verify_result_clear(&vr);
		return;
	}
	c->chain_len = n;
	int64_t now = (int64_t)time(NULL);
	c->expired = c->leaf.not_after < now;
	c->not_yet_valid = c->leaf.not_before > now;
	c->trusted = vr.trusted;
	c->name_match = vr.hostname_match;
	if (rc == TS_OK || rc == TS_E_VERIFY)
		snprintf(c->verify_error, sizeof c->verify_error, "%s", vr.error);
	else
		snprintf(c->verify_error, sizeof c->verify_error, "%s", err.msg);
	ts_verify_result_clear(&vr);
}

/* One key type (RSA, ECDSA, DSS) at the best version up to TLS 1.2, on its
 * own fiber.  A hello offering the type's suites draws out its certificate
 * and asks for OCSP, a ticket, secure renegotiation, heartbeats and DEFLATE,
 * then tries Heartbleed; at TLS 1.2 its answer is also the first round of
 * the elimination of the schemes the key signs with. */
struct key_part {
	struct scan_target *t;          /* NULL: not asked */
	int v, auth;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	struct probe hello;
	struct ts_scan_cert cert;
	bool have_cert;
	uint16_t sigalgs[TS_SCAN_MAX_LIST];
	size_t n_sigalgs;
};

enum { K_RSA, K_ECDSA, K_DSS, N_KEYS };   /* scan_target.keys[] */
static const int key_auths[N_KEYS] = { TS_AUTH_RSA, TS_AUTH_ECDSA, TS_AUTH_DSS };
static const char *const auth_names[] = { [TS_AUTH_RSA] = "RSA", [TS_AUTH_ECDSA] = "ECDSA",
                                          [TS_AUTH_DSS] = "DSS" };

static void key_main(void *arg)
{
	struct key_part *k = arg;
	struct scan_target *t = k->t;
	struct probe *p = &k->hello;
	size_t ns = pick_registry(t, k->v, k->suites, want_auth, k->auth);
	if (ns == 0)
		return;
	spec12(&p->spec, version_codes[k->v], k->suites, ns);
	if (k->v >= TS_SV_TLS10) {
		p->spec.status_request = true;
		p->spec.session_ticket = true;
		p->spec.heartbeat = true;
		p->after = AFTER_HEARTBLEED;
	}
	static const uint8_t deflate_null[] = { 1, 0 };   /* DEFLATE, then null */
	p->spec.compressions = deflate_null;
	p->spec.n_compressions = 2;
	p->stop = STOP_DONE;
	enum probe_outcome o = probe_run(t, p);
	if (o != P_HELLO) {
		/* a refusal only says the server has no key of this type */
		if (hostile(o))
			note(t, "certificate (%s): %s", auth_names[k->auth], outcome_words(p));
		return;
	}
	if (p->n_certs > 0) {
		snprintf(k->cert.auth, sizeof k->cert.auth, "%s", auth_names[k->auth]);
		verify_cert(t, &k->cert, (const uint8_t *const *)p->certs, p->cert_lens, p->n_certs);
		k->have_cert = true;
	}
	if (k->v == TS_SV_TLS12)
		sigalgs12_for(t, k->auth, p->have_ske && p->ske.has_sigalg ? p->ske.sigalg : 0,
		              k->sigalgs, &k->n_sigalgs);
}

/* What a key type's hello told. */
static void key_record(struct ts_scan_result *r, struct key_part *k)
{
	const struct probe *p = &k->hello;
	if (p->outcome != P_HELLO)
		return;
	if (k->v >= TS_SV_TLS10) {
		r->secure_renegotiation = p->has_reneg ? TS_YES : TS_NO;
		if (r->ocsp_stapling != TS_YES)
			r->ocsp_stapling = p->cert_status ? TS_YES : TS_NO;
		if (r->session_ticket != TS_YES)
			r->session_ticket = p->has_ticket ? TS_YES : TS_NO;
		if (r->heartbeat != TS_YES)
			r->heartbeat = p->has_heartbeat ? TS_YES : TS_NO;
		if (p->hello_done && p->after_result != TS_UNKNOWN && r->heartbleed != TS_YES)
			r->heartbleed = p->after_result;
	}
	if (r->compression != TS_YES)
		r->compression = p->compression != 0 ? TS_YES : TS_NO;
	if (r->session_id != TS_YES)
		r->session_id = p->session_id_len > 0 ? TS_YES : TS_NO;
	/* the same certificate for two key types is shown once */
	bool dup = !k->have_cert || r->n_certs >= TS_SCAN_MAX_CERTS;
	for (size_t i = 0; i < r->n_certs && !dup; i++)
		dup = strcmp(r->certs[i].leaf.sha256, k->cert.leaf.sha256) == 0;
	if (dup)
		ts_cert_info_clear(&k->cert.leaf);
	else
		r->certs[r->n_certs++] = k->cert;
	for (size_t i = 0; i < k->n_sigalgs; i++)
		if (!in_list(r->sigalgs12, r->n_sigalgs12, k->sigalgs[i]) &&
		    r->n_sigalgs12 < TS_SCAN_MAX_LIST)
			r->sigalgs12[r->n_sigalgs12++] = k->sigalgs[i];
}

static void key_init(struct scan_target *t, size_t i, int v)
{
	struct key_part *k = &t->keys[i];
	memset(k, 0, sizeof *k);
	k->t = t;
	k->v = v;
	k->auth = key_auths[i];
	probe_init(&k->hello);
}

/* arg: the version (the best one up to TLS 1.2); RSA and ECDSA side by side */
static void task_keys(struct scan_target *t, int arg)
{
	if (arg < 0 || t->keys == NULL)
		return;   /* TLS 1.3 only: task_conn gets the certificate */
	key_init(t, K_RSA, arg);
	key_init(t, K_ECDSA, arg);
	fiber_each(key_main, &t->keys[K_RSA], sizeof t->keys[0], 2);
}

/* DSS keys are rare: asked for only when a DSS suite was accepted. */
static void task_dss(struct scan_target *t, int arg)
{
	uint16_t suites[TS_SCAN_MAX_SUITES];
	if (arg < 0 || t->keys == NULL || pick(t->res, arg, suites, want_auth, TS_AUTH_DSS) == 0)
		return;
	key_init(t, K_DSS, arg);
	key_main(&t->keys[K_DSS]);
}

/* What the key types' hellos told, in their order once all have ended (the
 * report does not depend on which ended first). */
static void keys_record(struct scan_target *t)
{
	for (size_t i = 0; t->keys != NULL && i < N_KEYS; i++) {
		if (t->keys[i].t == NULL)
			continue;   /* not asked */
		key_record(t->res, &t->keys[i]);
		probe_clear(&t->keys[i].hello);
	}
	free(t->keys);
	t->keys = NULL;
}

/* Complete handshakes through conn.h: the certificate of a TLS 1.3-only
 * server (encrypted on the wire), HSTS on an HTTPS target, whether a second
 * handshake resumes the first and takes early data (0-RTT), and whether the
 * server lets a client renegotiate. */

static ssize_t no_io(void *arg, void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return TS_E_WANT_READ;
}

static ssize_t no_io_w(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return TS_E_WANT_WRITE;
}

/* A client config that accepts whatever the server has (with reneg, servers
 * without RFC 5746 too). */
static struct ts_config *conn_config(struct scan_target *t, unsigned protocols, bool reneg)
{
	struct ts_config *cfg = ts_config_new();
	if (cfg == NULL)
		return NULL;
	ts_config_insecure_noverifycert(cfg);
	ts_config_insecure_noverifyname(cfg);
	ts_config_insecure_noverifytime(cfg);
	ts_config_insecure_legacy_protocols(cfg);
	ts_config_set_protocols(cfg, protocols);
	ts_config_set_ciphers(cfg, "ALL:COMPLEMENTOFDEFAULT:@SECLEVEL=0");
	ts_config_set_session_cache(cfg, true);
	ts_config_set_timeout(cfg, t->opt->timeout_ms);
	ts_config_set_trust(cfg, t->trust);   /* read once for the whole scan */
	if (reneg)
		ts_config_insecure_legacy_renegotiation(cfg);
	/* OpenSSL's context (and the trust store) is built with the first conn:
	 * build it now, not while a connection is open and the server waits
	 * (a single-threaded server would stall every other probe); every
	 * setter drops the context, so this comes last */
	struct ts_conn *warm = ts_conn_client(cfg);
	if (warm != NULL)
		ts_conn_set_callbacks(warm, no_io, no_io_w, NULL, "warm.invalid");
	ts_conn_free(warm);
	return cfg;
}

/* A connection (after the preamble) ready for its handshake, or NULL with a
 * note; conn_close frees it and gives the slot back. */
static struct ts_conn *conn_open(struct scan_target *t, struct ts_config *cfg, int *fd)
{
	char msg[TS_ERROR_MSG_MAX + 128];
	if (scan_connect(t, fd, msg, sizeof msg) != TS_OK) {
		note(t, "complete handshake: %s", msg);
		return NULL;
	}
	struct ts_conn *c = ts_conn_client(cfg);
	if (c == NULL || ts_conn_set_fd(c, *fd, t->sni != NULL ? t->sni : t->host) != TS_OK) {
		note(t, "complete handshake: %s", c != NULL ? ts_conn_error(c) : "no memory");
		ts_conn_free(c);
		scan_release(t, *fd);
		return NULL;
	}
	return c;
}

/* With close_notify: a server that sees the connection cut may forget its
 * session (OpenSSL does, with anti-replay for early data). */
static void conn_close(struct scan_target *t, struct ts_conn *c, int fd)
{
	scan_forget(t, fd);
	if (ts_conn_handshake_done(c))
		ts_conn_close(c);
	ts_conn_free(c);
	scan_release(t, fd);
}

static bool conn_handshake(struct scan_target *t, struct ts_conn *c, const char *what)
{
	if (ts_conn_handshake(c) == TS_OK)
		return true;
	note(t, "%s (OpenSSL): %s", what, ts_conn_error(c));
	return false;
}

/* The certificates are copied, not verified: a hello has usually drawn
 * them out already, and verifying costs about 1 ms of CPU. */
static void keep_conn_cert(struct scan_target *t, struct ts_conn *c)
{
	const uint8_t *const *ders;
	const size_t *lens;
	size_t n = ts_conn_peer_chain(c, &ders, &lens);
	if (n > 0 && (t->conn_chain = malloc(sizeof *t->conn_chain)) != NULL) {
		probe_init(t->conn_chain);
		for (size_t i = 0; i < n; i++)
			probe_keep_cert(t->conn_chain, ders[i], lens[i]);
		t->conn_tls13 = strcmp(ts_conn_protocol(c), "TLSv1.3") == 0;
	}
	size_t olen = 0;
	t->conn_ocsp = ts_conn_ocsp_response(c, &olen) != NULL ? TS_YES : TS_NO;
}

static int http_request(struct scan_target *t, char *req, size_t size)
{
	return snprintf(req, size, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
	                t->sni != NULL ? t->sni : t->host);
}

/* GET / and the Strict-Transport-Security header of the answer. */
static void read_hsts(struct scan_target *t, struct ts_conn *c)
{
	struct ts_scan_result *r = t->res;
	char req[TS_HOST_MAX + 96];
	int len = http_request(t, req, sizeof req);
	char buf[16384];
	size_t got = 0;
	if (ts_conn_write(c, req, (size_t)len) == len) {
		while (got < sizeof buf - 1) {
			ssize_t n = ts_conn_read(c, buf + got, sizeof buf - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
	}
	buf[got] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (got > 0 && strncmp(buf, "HTTP/", 5) == 0 && end != NULL) {
		*end = '\0';
		const char *h = strcasestr(buf, "\nStrict-Transport-Security:");
		r->hsts = h != NULL ? TS_YES : TS_NO;
		if (h != NULL) {
			h += strlen("\nStrict-Transport-Security:");
			while (*h == ' ')
				h++;
			size_t l = strcspn(h, "\r\n");
			snprintf(r->hsts_value, sizeof r->hsts_value, "%.*s", (int)l, h);
		}
	} else if (got > 0) {
		note(t, "HSTS: the server did not answer GET / with HTTP");
	}
}

/* TLS 1.3 tickets come after the handshake, and a STARTTLS server then
 * waits for the client: read what comes.  They follow the server's last
 * flight at once, so they are due about one round trip after our Finished:
 * wait twice the handshake's time (two round trips or more) plus 200 ms for
 * a server that asks another process for its ticket keys (postfix's
 * tlsmgr), and at most a second: not a fixed second that a server without
 * tickets would cost. */
static void read_tickets(struct scan_target *t, struct ts_conn *c, int fd, uint64_t handshake_ms)
{
	char buf[512];
	uint64_t wait = 2 * handshake_ms + 200;
	int wait_ms = wait < 1000 ? (int)wait : 1000;
	if (t->opt->timeout_ms < wait_ms)
		wait_ms = t->opt->timeout_ms;
	ts_conn_set_nonblocking(c, true);
	for (int i = 0; i < 16 && !ts_conn_ticket_offered(c); i++) {
		ssize_t n = ts_conn_read(c, buf, sizeof buf);
		if (n == TS_E_WANT_READ && ts_wait_fd(fd, false, wait_ms, NULL) == TS_OK)
			continue;
		if (n <= 0)
			break;
	}
	ts_conn_set_nonblocking(c, false);
}

/* The second connection offers the first one's session; when its ticket
 * allows early data, an HTTPS target gets its GET / as 0-RTT. */
static void resume(struct scan_target *t, struct ts_config *cfg, bool http, bool tls13)
{
	struct ts_scan_result *r = t->res;
	int fd;
	struct ts_conn *c = conn_open(t, cfg, &fd);
	if (c == NULL)
		return;
	size_t max = ts_conn_early_data_max(c);
	r->early_data_max = max;
	bool sent = false;
	if (max > 0 && http) {
		char req[TS_HOST_MAX + 96];
		size_t len = (size_t)http_request(t, req, sizeof req);
		sent = ts_conn_write_early(c, req, len < max ? len : max) > 0;
	}
	if (conn_handshake(t, c, "complete handshake")) {
		r->resumption = ts_conn_resumed(c) ? TS_YES : TS_NO;
		if (!tls13)
			r->early_data = TS_NO;        /* 0-RTT is TLS 1.3 only */
		else if (max == 0)
			r->early_data = TS_NO;        /* no ticket, or one that allows none */
		else if (sent)
			r->early_data = ts_conn_early_data_status(c) == TS_EARLY_ACCEPTED ? TS_YES : TS_NO;
		else
			note(t, "early data: the server's ticket allows %zu bytes of 0-RTT; %s", max,
			     http ? "sending them failed"
			          : "not sent: RFC 8446 (2.3) forbids 0-RTT to a protocol with no profile for it");
	}
	conn_close(t, c, fd);
}

static void task_conn(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_config *cfg = conn_config(t, TS_PROTOS_LEGACY | TS_PROTOS_DEFAULT, false);
	if (cfg == NULL)
		return;
	bool http = t->starttls == TS_STARTTLS_NONE;
	int fd;
	struct ts_conn *c = conn_open(t, cfg, &fd);
	bool ok = false, tls13 = false;
	uint64_t start = ts_monotonic_ns();
	if (c != NULL && (ok = conn_handshake(t, c, "complete handshake"))) {
		scan_answered(t, fd);   /* the server waits for our request */
		uint64_t handshake_ms = (ts_monotonic_ns() - start) / 1000000u;
		keep_conn_cert(t, c);
		tls13 = strcmp(ts_conn_protocol(c), "TLSv1.3") == 0;
		if (http)
			read_hsts(t, c);
		else if (tls13)
			read_tickets(t, c, fd, handshake_ms);
	}
	if (c != NULL)
		conn_close(t, c, fd);
	if (ok)
		resume(t, cfg, http, tls13);
	ts_config_free(cfg);
}

/* A TLS 1.2 (or older) handshake, then a renegotiation started by us. */
static void task_renegotiation(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_scan_result *r = t->res;
	if (best12(r) < TS_SV_TLS10) {
		bool known = true;
		for (int v = TS_SV_TLS10; v <= TS_SV_TLS12; v++)
			known &= r->protocols[v] != TS_UNKNOWN;
		if (known)
			r->client_renegotiation = TS_NO;   /* TLS 1.3 has no renegotiation */
		return;
	}
	struct ts_config *cfg = conn_config(t, TS_PROTOS_LEGACY | TS_PROTO_TLS1_2, true);
	int fd;
	struct ts_conn *c = cfg != NULL ? conn_open(t, cfg, &fd) : NULL;
	if (c != NULL && conn_handshake(t, c, "client renegotiation: TLS 1.2 or older handshake")) {
		int rc = ts_conn_renegotiate(c);
		if (rc == TS_OK)
			r->client_renegotiation = TS_YES;
		else if (rc == TS_E_TLS || rc == TS_E_CLOSED)
			r->client_renegotiation = TS_NO;
		else
			note(t, "client renegotiation: %s", ts_conn_error(c));
	}
	if (c != NULL)
		conn_close(t, c, fd);
	ts_config_free(cfg);
}

/* The renegotiation goes last, when nothing else waits: openssl s_server,
 * which serves one connection at a time, sleeps a second after refusing
 * one.  A server seen serving connections side by side (it answered a hello
 * while it still held another connection of ours: scan_answered) gets it
 * beside the other probes, once a version up to TLS 1.2 is known. */
static void task_renegotiation_once(struct scan_target *t, int arg)
{
	if (t->reneg_asked)
		return;
	t->reneg_asked = true;
	task_renegotiation(t, arg);
}

static void task_renegotiation_early(struct scan_target *t, int arg)
{
	fiber_sem_wait(&t->shown);   /* or the end of the first phase */
	if (t->side_by_side && best12(t->res) >= TS_SV_TLS10)
		task_renegotiation_once(t, arg);
}

static void task_fallback(struct scan_target *t, int arg)
{
	(void)arg;
	struct ts_scan_result *r = t->res;
	int high = -1, low = -1;
	for (int v = TS_SV_TLS13; v >= TS_SV_SSL3; v--)
		if (r->n_suites[v] > 0) {
			if (high < 0)
				high = v;
			else if (low < 0)
				low = v;
		}
	if (low < 0)
		return;
	uint16_t suites[TS_SCAN_MAX_SUITES + 1];
	size_t ns = pick(r, low, suites, want_any, 0);
	suites[ns++] = 0x5600;   /* TLS_FALLBACK_SCSV */
	struct probe p;
	probe_init(&p);
	spec12(&p.spec, version_codes[low], suites, ns);
	enum probe_outcome o = probe_run(t, &p);
	if (o == P_ALERT && p.alert.description == 86)
		r->fallback_scsv = TS_YES;
	else if (o == P_HELLO)
		r->fallback_scsv = TS_NO;
	probe_clear(&p);
}

static void task_ccs(struct scan_target *t, int arg)
{
	struct ts_scan_result *r = t->res;
	int v = arg;
	if (v < TS_SV_TLS10)
		return;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = pick_registry(t, v, suites, want_any, 0);
	struct probe p;
	probe_init(&p);
	spec12(&p.spec, version_codes[v], suites, ns);
	p.stop = STOP_DONE;
	p.after = AFTER_CCS;
	if (probe_run(t, &p) == P_HELLO && p.hello_done) {
		r->ccs_injection = p.after_result;
		if (p.after_result == TS_UNKNOWN && p.msg[0] != '\0')
			note(t, "CCS injection: %s", p.msg);
	}
	probe_clear(&p);
}

static void task_alpn(struct scan_target *t, int arg)
{
	struct ts_scan_result *r = t->res;
	int v = arg;
	if (v < TS_SV_TLS10)
		return;
	uint16_t suites[TS_SCAN_MAX_SUITES];
	size_t ns = pick_registry(t, v, suites, want_any, 0);
	const char *offer[] = { "h2", "http/1.1", "http/1.0", "spdy/3.1", "h3", "imap", "pop3",
	                        "smtp", "xmpp-client", "acme-tls/1" };
	size_t n = sizeof offer / sizeof offer[0];
	r->alpn_tested = TS_YES;
	for (size_t round = 0; n > 0 && round < TS_SCAN_MAX_ALPN; round++) {
		struct probe p;
		probe_init(&p);
		spec12(&p.spec, version_codes[v], suites, ns);
		p.spec.alpn = offer;
		p.spec.n_alpn = n;
		bool ok = probe_run(t, &p) == P_HELLO && p.alpn[0] != '\0';
		if (ok) {
			snprintf(r->alpn[r->n_alpn++], sizeof r->alpn[0], "%s", p.alpn);
			size_t j = 0;
			for (size_t i = 0; i < n; i++)
				if (strcmp(offer[i], p.alpn) != 0)
					offer[j++] = offer[i];
			ok = j < n;
			n = j;
		}
		probe_clear(&p);
		if (!ok)
			break;
	}
}

/* The probes of the best version up to TLS 1.2 (v). */
static size_t tls12_tasks(struct scan_target *t, int v, struct task *k)
{
	static const task_fn fns[TLS12_TASKS] = { task_keys, task_groups12, task_ccs, task_alpn };
	for (size_t i = 0; i < TLS12_TASKS; i++)
		k[i] = (struct task){ .fn = fns[i], .arg = v, .t = t };
	return TLS12_TASKS;
}

/* The probes of v that only suites rarely accepted call for: they wait for
 * v's suites to be known, and most servers need none of them. */
static size_t known_tasks(struct scan_target *t, int v, struct task *k)
{
	k[0] = (struct task){ .fn = task_dh, .arg = v, .t = t };
	k[1] = (struct task){ .fn = task_dss, .arg = v, .t = t };
	return KNOWN_TASKS;
}

static void scan_target(const char *target, const struct ts_scan_options *opt,
                        struct ts_trust *trust, struct ts_scan_result *r)
{
	uint64_t t0 = ts_monotonic_ns();
	struct scan_target t;
	memset(&t, 0, sizeof t);
	t.spare_fd = -1;
	t.opt = opt;
	t.res = r;
	t.trust = trust;
	struct ts_error err = { 0 };
	int rc = ts_parse_hostport(target, 443, t.host, &t.port, &err);
	if (rc == TS_OK)
		rc = ts_resolve(t.host, t.port, AF_UNSPEC, opt->timeout_ms, &t.addrs, &err);
	if (rc == TS_OK) {
		/* the first address that accepts is the one scanned; the first
		 * probe's connection is the socket that found it */
		size_t which = 0;
		r->connections++;
		rc = ts_connect(&t.addrs, opt->timeout_ms, &t.spare_fd, &which, &err);
		if (rc == TS_OK) {
			t.addrs.addr[0] = t.addrs.addr[which];
			t.addrs.n = 1;
			ts_addr_format(&t.addrs.addr[0], r->address);
		}
	}
	if (rc != TS_OK) {
		r->status = rc;
		snprintf(r->error, sizeof r->error, "%s", err.msg);
		r->elapsed_ms = (ts_monotonic_ns() - t0) / 1000000u;
		return;
	}
	t.sni = opt->server_name != NULL ? opt->server_name
	      : ts_is_ip_literal(t.host) ? NULL : t.host;
	t.starttls = opt->starttls_set ? opt->starttls : ts_starttls_for_port(t.port);
	t.conn_ocsp = TS_UNKNOWN;
	t.budget.count = (unsigned)opt->max_connections;
	t.keys = calloc(N_KEYS, sizeof *t.keys);
	if (t.keys == NULL)
		note(&t, "certificates: out of memory");

	struct task p1[TS_SV_COUNT + 1];
	size_t n1 = 0;
	p1[n1++] = (struct task){ .fn = task_suites, .arg = TS_SV_TLS12, .t = &t };
	p1[n1++] = (struct task){ .fn = task_suites, .arg = TS_SV_TLS13, .t = &t };
	p1[n1++] = (struct task){ .fn = task_suites, .arg = TS_SV_TLS11, .t = &t };
	p1[n1++] = (struct task){ .fn = task_suites, .arg = TS_SV_TLS10, .t = &t };
	p1[n1++] = (struct task){ .fn = task_suites, .arg = TS_SV_SSL3, .t = &t };
	p1[n1++] = (struct task){ .fn = task_ssl2, .arg = 0, .t = &t };
	for (size_t i = 0; i < n1; i++)
		task_start(&p1[i]);
	/* complete handshakes (resumption, HSTS, a TLS 1.3 certificate) need no
	 * suite and nothing waits for them but the report; they start last, as
	 * building OpenSSL's context holds the thread the other probes run on */
	struct task conn = { .fn = task_conn, .t = &t };
	task_start(&conn);
	struct task reneg = { .fn = task_renegotiation_early, .t = &t };
	task_start(&reneg);
	for (size_t i = 0; i < n1; i++)
		task_finish(&p1[i]);
	if (!t.side_by_side)
		fiber_sem_post(&t.shown);   /* no sign of it: the renegotiation goes last */

	bool any = false;
	for (int v = 0; v < TS_SV_COUNT; v++)
		if (r->protocols[v] == TS_YES)
			any = true;
	if (any) {
		if (r->n_suites[TS_SV_TLS12] == 0) {
			/* else they ran beside TLS 1.2's enumeration */
			struct task k[TLS12_TASKS + KNOWN_TASKS];
			size_t n = tls12_tasks(&t, best12(r), k);
			fiber_each(task_main, k, sizeof k[0], n + known_tasks(&t, best12(r), k + n));
		}
		/* fallback needs every version's answer */
		struct task last[] = { { .fn = task_fallback, .t = &t },
		                       { .fn = task_renegotiation_once, .t = &t } };
		fiber_each(task_main, last, sizeof last[0], sizeof last / sizeof last[0]);
	}
	task_finish(&reneg);
	task_finish(&conn);
	keys_record(&t);
	if (any) {
		r->status = TS_OK;
		/* a TLS 1.3-only server showed its certificate only to the complete handshake */
		struct probe *cc = t.conn_chain;
		if (r->n_certs == 0 && cc != NULL && cc->n_certs > 0) {
			struct ts_scan_cert *c = &r->certs[0];
			memset(c, 0, sizeof *c);
			snprintf(c->auth, sizeof c->auth, "%s", t.conn_tls13 ? "TLS1.3" : "any");
			verify_cert(&t, c, (const uint8_t *const *)cc->certs, cc->cert_lens, cc->n_certs);
			r->n_certs = 1;
		}
		if (r->ocsp_stapling == TS_UNKNOWN)
			r->ocsp_stapling = t.conn_ocsp;
	} else if (r->status == TS_OK) {
		r->status = TS_E_TLS;
		if (t.alerts > 0)
			snprintf(r->error, sizeof r->error, "the server refused every hello sent (alert %s)",
			         ts_alert_name(t.last_alert));
		else
			snprintf(r->error, sizeof r->error,
			         "the server closed every connection without answering the hello");
	} else {
		snprintf(r->error, sizeof r->error, "%s%s%.400s",
		         r->status == TS_E_TIMEOUT ? "the server did not answer any hello in time"
		         : r->status == TS_E_CONNECT ? "connections to the server failed"
		         : "the server answered hellos with bytes that are not TLS",
		         t.first_error[0] && r->status != TS_E_TIMEOUT ? ": " : "",
		         r->status != TS_E_TIMEOUT ? t.first_error : "");
	}
	if (t.spare_fd >= 0)
		close(t.spare_fd);
	unsigned refused = t.refusals;
	if (refused > 0)
		note(&t, "%u connection attempts were refused or reset; retried after a pause", refused);
	r->connections += t.connections;
	if (t.conn_chain != NULL)
		probe_clear(t.conn_chain);
	free(t.conn_chain);
	ts_scan_findings(r, (int64_t)time(NULL));
	r->elapsed_ms = (ts_monotonic_ns() - t0) / 1000000u;
}

struct one {
	const char *target;
	const struct ts_scan_options *opt;
	struct ts_trust *trust;
	struct ts_scan_result *r;
};

static void one_main(void *arg)
{
	struct one *o = arg;
	scan_target(o->target, o->opt, o->trust, o->r);
}

/* One target, its probes as fibers on this thread (or, with no memory for
 * them, one after the other). */
static void scan_one(const char *target, const struct ts_scan_options *opt,
                     struct ts_trust *trust, struct ts_scan_result *r)
{
	struct one o = { target, opt, trust, r };
	enum fiber_end end = fiber_main(one_main, &o);
	if (end == FIBER_NOT_RUN) {
		one_main(&o);
	} else if (end == FIBER_STALLED) {
		r->status = TS_E_INTERNAL;
		snprintf(r->error, sizeof r->error, "internal error: the scan's probes stalled");
	}
}

/* ---------------------------------------------------------------------------
 * Many targets. */

struct runner {
	const char *const *targets;
	size_t n, next, done;
	const struct ts_scan_options *opt;
	struct ts_trust *trust;
	struct ts_scan_result *results;
	ts_scan_progress_fn progress;
	void *ud;
	uv_mutex_t lock;
};

static void runner_main(void *arg)
{
	struct runner *ru = arg;
	for (;;) {
		uv_mutex_lock(&ru->lock);
		size_t i = ru->next++;
		uv_mutex_unlock(&ru->lock);
		if (i >= ru->n)
			return;
		scan_one(ru->targets[i], ru->opt, ru->trust, &ru->results[i]);
		uv_mutex_lock(&ru->lock);
		ru->done++;
		if (ru->progress != NULL)
			ru->progress(ru->ud, ru->done, ru->n, &ru->results[i]);
		uv_mutex_unlock(&ru->lock);
	}
}

int ts_scan_run(const char *const *targets, size_t n, const struct ts_scan_options *in,
                struct ts_scan_result *results, ts_scan_progress_fn progress, void *ud,
                struct ts_error *err)
{
	struct ts_scan_options opt = *in;
	if (opt.max_connections <= 0)
		opt.max_connections = 4;
	if (opt.max_connections > 64)
		return ts_error_set(err, TS_E_INVALID, "max connections: wanted 1..64, got %d",
		                    opt.max_connections);
	if (opt.max_targets <= 0)
		opt.max_targets = 8;
	if (opt.timeout_ms <= 0)
		opt.timeout_ms = 5000;
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof results[i]);
		snprintf(results[i].target, sizeof results[i].target, "%s", targets[i]);
		for (int v = 0; v < TS_SV_COUNT; v++) {
			results[i].protocols[v] = TS_UNKNOWN;
			results[i].server_order[v] = TS_UNKNOWN;
		}
		struct ts_scan_result *r = &results[i];
		r->secure_renegotiation = r->compression = r->fallback_scsv = TS_UNKNOWN;
		r->session_id = r->session_ticket = r->ocsp_stapling = TS_UNKNOWN;
		r->heartbeat = r->heartbleed = r->ccs_injection = r->alpn_tested = TS_UNKNOWN;
		r->resumption = r->hsts = r->client_renegotiation = r->early_data = TS_UNKNOWN;
	}
	/* one store for every target (verification only reads it); a bad --ca
	 * stops here */
	struct ts_trust *trust;
	int rc = ts_trust_new(opt.ca_path, &trust, err);
	if (rc != TS_OK)
		return rc;

	struct runner ru = { .targets = targets, .n = n, .opt = &opt, .trust = trust,
	                     .results = results, .progress = progress, .ud = ud };
	uv_mutex_init(&ru.lock);
	size_t nth = (size_t)opt.max_targets < n ? (size_t)opt.max_targets : n;
	uv_thread_t *th = calloc(nth > 0 ? nth : 1, sizeof *th);
	size_t started = 0;
	if (th != NULL)
		for (; started + 1 < nth; started++)
			if (uv_thread_create(&th[started], runner_main, &ru) != 0)
				break;
	runner_main(&ru);
	for (size_t i = 0; i < started; i++)
		uv_thread_join(&th[i]);
	free(th);
	uv_mutex_destroy(&ru.lock);
	ts_trust_free(trust);
	return TS_OK;
}

void ts_scan_result_clear(struct ts_scan_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_certs; i++)
		ts_cert_info_clear(&r->certs[i].leaf);
	r->n_certs = 0;
}
