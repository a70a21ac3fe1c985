#include "tlsscope/observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/bytes.h"
#include "tlsscope/fingerprint.h"
#include "tlsscope/flow.h"
#include "tlsscope/registry.h"
#include "tlsscope/tcp_reasm.h"
#include "tlsscope/wire.h"

/* The cert module may be built without this engine's knowledge (it lives on
 * its own branch): bind to it weakly, and keep only what the wire gives when
 * it is absent. */
#pragma weak ts_cert_info_from_der
#pragma weak ts_cert_info_clear

enum flow_kind { KIND_UNKNOWN, KIND_TLS, KIND_DNS, KIND_OTHER };

/* Cleartext hints gathered before TLS starts, to name the STARTTLS protocol. */
enum {
	HINT_SMTP = 1, HINT_IMAP = 2, HINT_POP3 = 4, HINT_FTP = 8, HINT_XMPP = 16,
	HINT_LDAP = 32, HINT_POSTGRES = 64, HINT_STARTTLS = 128,
};

struct obs_flow {
	struct ts_observe *o;
	struct ts_flow *flow;
	enum flow_kind kind;
	int client_dir;                 /* flow direction of the client, -1 unknown yet */
	struct ts_tcp_stream tcp[2];
	struct ts_tls_stream tls[2];    /* indexed by flow direction */
	bool tls_started[2];
	bool tls_failed[2];
	bool gap_pending[2];
	size_t preamble;                /* cleartext bytes seen */
	unsigned hints;
	uint8_t maybe[2][16];           /* a too-short start, kept to decide */
	size_t maybe_len[2];
	struct ts_buf dns_tcp[2];       /* DNS over TCP: length-prefixed messages */
	size_t held[2];                 /* memory of tls[d] and dns_tcp[d], in reasm.held_elsewhere */
	/* TLS state */
	struct ts_obs_tls *conn;
	int64_t hello_us;
	bool finished[2];               /* each side's Finished (first encrypted handshake record) */
	bool ccs[2];
	bool cert_seen;
	bool hrr;                       /* the server sent a HelloRetryRequest */
	uint8_t client_session_id[32];
	size_t client_session_id_len;
	int last_app_dir;               /* -1 none, 0 client, 1 server (roles, not flow dirs) */
	struct ts_obs_exchange *cur;
	uint32_t suspect_records;       /* leading records of the first TLS 1.3 response taken for tickets */
	uint64_t last_suspect_plain;
	size_t ticket_len;              /* record length of the TLS 1.3 session tickets, 0 unknown */
	bool tickets_alone;             /* tickets seen before any request: their size is sure */
	bool tickets_over;              /* a record that is no ticket came: no more tickets */
	size_t cap_exchanges;
	size_t ovh_min, ovh_max;        /* per-record plaintext overhead */
	bool ovh_known;
	int64_t now;                    /* timestamp of the data being delivered */
	uint64_t records;               /* TLS records seen, both directions */
	bool saw_hello;                 /* a ClientHello message arrived, parsed or not */
	int deliver_dir;
};

struct ts_observe {
	struct ts_observe_config cfg;
	struct ts_observe_callbacks cb;
	struct ts_flow_table *flows;
	struct ts_defrag *defrag;
	struct ts_tcp_reasm reasm;
	struct ts_dns_names *names;
	struct ts_client_hello *ch;     /* scratch: large */
	struct ts_server_hello *sh;
	struct ts_certificate_msg *cm;
	struct ts_dns_message *dns;
	struct ts_observe_stats st;
	int64_t last_expire;
};

static void on_flow_end(void *ctx, struct ts_flow *f, enum ts_flow_end why);

struct ts_observe *ts_observe_new(const struct ts_observe_config *cfg,
                                  const struct ts_observe_callbacks *cb)
{
	struct ts_observe *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	if (cfg)
		o->cfg = *cfg;
	if (!o->cfg.max_exchanges)
		o->cfg.max_exchanges = 4096;
	if (!o->cfg.preamble_max)
		o->cfg.preamble_max = 16384;
	if (cb)
		o->cb = *cb;
	o->reasm.stream_max = o->cfg.stream_buffer_max;
	o->reasm.total_max = o->cfg.total_buffer_max;
	o->flows = ts_flow_table_new(o->cfg.max_flows, o->cfg.idle_timeout_us, on_flow_end, o);
	o->defrag = ts_defrag_new(0, 0);
	o->names = ts_dns_names_new(o->cfg.max_dns_names);
	o->ch = malloc(sizeof *o->ch);
	o->sh = malloc(sizeof *o->sh);
	o->cm = malloc(sizeof *o->cm);
	o->dns = malloc(sizeof *o->dns);
	if (!o->flows || !o->defrag || !o->names || !o->ch || !o->sh || !o->cm || !o->dns) {
		ts_observe_free(o);
		return NULL;
	}
	return o;
}

void ts_observe_free(struct ts_observe *o)
{
	if (o == NULL)
		return;
	ts_flow_table_free(o->flows);
	ts_defrag_free(o->defrag);
	ts_dns_names_free(o->names);
	free(o->ch);
	free(o->sh);
	free(o->cm);
	free(o->dns);
	free(o);
}

void ts_observe_finish(struct ts_observe *o)
{
	ts_flow_table_flush(o->flows);
}

void ts_observe_get_stats(const struct ts_observe *o, struct ts_observe_stats *st)
{
	*st = o->st;
	struct ts_flow_stats fs;
	ts_flow_table_get_stats(o->flows, &fs);
	st->flows = fs.created;
	st->flows_evicted = fs.evicted;
	st->flows_expired = fs.expired;
	st->flows_active_peak = fs.peak;
	struct ts_defrag_stats ds;
	ts_defrag_get_stats(o->defrag, &ds);
	st->ip_fragments = ds.fragments;
	st->ip_reassembled = ds.reassembled;
}

/* ------------------------------------------------------------------ overhead */

static size_t mac_len(enum ts_mac m)
{
	switch (m) {
	case TS_MAC_MD5: return 16;
	case TS_MAC_SHA1: return 20;
	case TS_MAC_SHA256: return 32;
	case TS_MAC_SHA384: return 48;
	case TS_MAC_SM3: return 32;
	default: return 0;
	}
}

void ts_observe_record_overhead(uint16_t version, uint16_t suite, size_t *min_overhead,
                                size_t *max_overhead)
{
	*min_overhead = *max_overhead = 0;
	if (version == TS_TLS13) {
		/* the inner content type and the AEAD tag; padding is invisible */
		const struct ts_suite_info *si = ts_suite_by_code(suite);
		size_t tag = (si && si->cipher && strstr(si->cipher, "CCM_8")) ? 8 : 16;
		*min_overhead = *max_overhead = 1 + tag;
		return;
	}
	const struct ts_suite_info *si = ts_suite_by_code(suite);
	if (si == NULL || si->cipher == NULL)
		return;
	const char *c = si->cipher;
	if (si->aead || si->mac == TS_MAC_AEAD) {
		if (strstr(c, "CHACHA20"))
			*min_overhead = *max_overhead = 16;       /* RFC 7905: no explicit nonce */
		else if (strstr(c, "CCM_8"))
			*min_overhead = *max_overhead = 8 + 8;
		else
			*min_overhead = *max_overhead = 8 + 16;   /* GCM, CCM: explicit nonce + tag */
		return;
	}
	size_t mac = mac_len(si->mac);
	if (strstr(c, "CBC")) {
		size_t block = (strstr(c, "3DES") || strstr(c, "DES") || strstr(c, "IDEA") ||
		                strstr(c, "RC2")) ? 8 : 16;
		size_t iv = version >= TS_TLS11 ? block : 0;
		/* padding: 1 (the length byte) up to a whole block in practice */
		*min_overhead = iv + mac + 1;
		*max_overhead = iv + mac + block;
		return;
	}
	*min_overhead = *max_overhead = mac; /* stream ciphers (RC4) and NULL */
}

/* ------------------------------------------------------------------ TLS */

static int role(const struct obs_flow *of, int dir)
{
	return dir == of->client_dir ? 0 : 1; /* 0 client, 1 server */
}

static void set_error(struct obs_flow *of, const char *msg)
{
	if (of->conn && of->conn->error[0] == '\0')
		snprintf(of->conn->error, sizeof of->conn->error, "%s", msg);
}

static void copy_name(char *out, size_t size, const uint8_t *p, size_t n)
{
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (p[i] >= 32 && p[i] < 127) ? (char)p[i] : '?';
	out[n] = '\0';
}

static void on_client_hello(struct obs_flow *of, const uint8_t *body, size_t len)
{
	struct ts_observe *o = of->o;
	struct ts_obs_tls *c = of->conn;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	ts_reader_init(&rd, body, len);
	if (ts_parse_client_hello(&rd, o->ch, &err) < 0) {
		set_error(of, err.msg);
		return;
	}
	const struct ts_client_hello *ch = o->ch;
	c->client_hello = true;
	of->hello_us = of->now;
	c->client_version = ch->version;
	if (ch->has_sni) {
		c->has_sni = true;
		copy_name(c->sni, sizeof c->sni, ch->sni.p, ch->sni.len);
	}
	for (size_t i = 0; i < ch->n_alpn && c->n_alpn_offered < TS_OBS_MAX_LIST; i++)
		copy_name(c->alpn_offered[c->n_alpn_offered++], 64, ch->alpn[i].p, ch->alpn[i].len);
	for (size_t i = 0; i < ch->n_versions && c->n_versions_offered < TS_OBS_MAX_LIST; i++)
		if (!ts_is_grease(ch->versions[i]))
			c->versions_offered[c->n_versions_offered++] = ch->versions[i];
	c->suites_offered = 0;
	for (size_t i = 0; i < ch->n_suites; i++)
		if (!ts_is_grease(ch->suites[i]))
			c->suites_offered++;
	for (size_t i = 0; i < ch->n_groups && c->n_groups < TS_OBS_MAX_LIST; i++)
		if (!ts_is_grease(ch->groups[i]))
			c->groups[c->n_groups++] = ch->groups[i];
	if (ts_ja3(ch, c->ja3) < 0)
		c->ja3[0] = '\0';
	if (ts_ja4(ch, c->ja4) < 0)
		c->ja4[0] = '\0';
	c->ech = ch->has_ech;
	of->client_session_id_len = ch->session_id.len <= 32 ? ch->session_id.len : 0;
	memcpy(of->client_session_id, ch->session_id.p, of->client_session_id_len);
	/* TLS 1.3 clients send a random session id for middlebox compatibility:
	 * only a PSK offers resumption there. */
	bool tls13_only = ch->has_versions && ch->n_versions > 0;
	c->resumption_offered = ch->has_psk || (ch->has_session_ticket && ch->session_ticket.len > 0) ||
	                        (!tls13_only && ch->session_id.len > 0);
}

static void update_overhead(struct obs_flow *of)
{
	struct ts_obs_tls *c = of->conn;
	if (c->version && c->cipher) {
		ts_observe_record_overhead(c->version, c->cipher, &of->ovh_min, &of->ovh_max);
		of->ovh_known = true;
	}
}

static void on_server_hello(struct obs_flow *of, const uint8_t *body, size_t len)
{
	struct ts_observe *o = of->o;
	struct ts_obs_tls *c = of->conn;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	ts_reader_init(&rd, body, len);
	if (ts_parse_server_hello(&rd, o->sh, &err) < 0) {
		set_error(of, err.msg);
		return;
	}
	const struct ts_server_hello *sh = o->sh;
	if (sh->is_hrr) {
		of->hrr = true;
		return; /* the real ServerHello follows */
	}
	c->server_hello = true;
	c->version = sh->selected_version;
	c->cipher = sh->suite;
	c->group = sh->group;
	if (sh->has_alpn)
		copy_name(c->alpn, sizeof c->alpn, sh->alpn.p, sh->alpn.len);
	if (ts_ja3s(sh, c->ja3s) < 0)
		c->ja3s[0] = '\0';
	if (c->version == TS_TLS13)
		c->resumed = sh->has_psk;
	else if (of->client_session_id_len > 0 && sh->session_id.len == of->client_session_id_len &&
	         memcmp(sh->session_id.p, of->client_session_id, of->client_session_id_len) == 0)
		c->resumed = true;
	update_overhead(of);
	if (c->version == TS_TLS13) {
		/* The client's stream never sees this ServerHello: tell it that
		 * what follows its hello is ciphertext. */
		int cdir = of->client_dir;
		ts_tls_stream_set_encrypted(&of->tls[cdir], true);
	}
}

static void on_certificate(struct obs_flow *of, const uint8_t *body, size_t len)
{
	struct ts_observe *o = of->o;
	struct ts_obs_tls *c = of->conn;
	struct ts_reader rd;
	struct ts_error err = { 0 };
	of->cert_seen = true;
	if (c->n_certs > 0)
		return;
	ts_reader_init(&rd, body, len);
	if (ts_parse_certificate(&rd, c->version == TS_TLS13, o->cm, &err) < 0) {
		set_error(of, err.msg);
		return;
	}
	if (o->cm->n_certs == 0 || ts_cert_info_from_der == NULL)
		return;
	c->certs = calloc(o->cm->n_certs, sizeof *c->certs);
	if (c->certs == NULL)
		return;
	for (size_t i = 0; i < o->cm->n_certs; i++) {
		struct ts_error cerr = { 0 };
		if (ts_cert_info_from_der(o->cm->certs[i].p, o->cm->certs[i].len, &c->certs[c->n_certs],
		                          &cerr) == 0)
			c->n_certs++;
		else
			c->certs_unparsed++;
	}
}

static void add_alert(struct obs_flow *of, int r, bool encrypted, const struct ts_alert *al)
{
	struct ts_obs_tls *c = of->conn;
	if (c->n_alerts >= TS_OBS_MAX_ALERTS)
		return;
	struct ts_obs_alert *a = &c->alerts[c->n_alerts++];
	a->t_us = of->now;
	a->from_server = r == 1;
	a->encrypted = encrypted;
	if (al) {
		a->level = al->level;
		a->description = al->description;
	}
}

static bool app_record_ok(struct obs_flow *of, int r)
{
	struct ts_obs_tls *c = of->conn;
	if (c->version == TS_TLS13) {
		/* Server records before the client's Finished are its encrypted
		 * handshake flight. */
		return of->finished[0];
	}
	return true;
}

/* TLS 1.3 servers send their session tickets (OpenSSL: two, of equal size)
 * as soon as they read the client's Finished: alone, before the first request
 * arrives, or ahead of the first response when the request came with the
 * Finished.  The leading run of equal-sized small server records is the
 * ticket flight.  Tickets seen alone give the size for sure; without them a
 * run of one record is more likely a response's own header record (a proxy
 * relays the headers as it reads them), and is given back to the response. */
static bool ticket_record(struct obs_flow *of, size_t record_len, size_t pmax)
{
	if (of->tickets_over || of->conn->version != TS_TLS13 || pmax >= 1024 ||
	    (of->ticket_len != 0 && record_len != of->ticket_len)) {
		of->tickets_over = true;
		return false;
	}
	of->ticket_len = record_len;
	return true;
}

/* A response made only of ticket-like records was no ticket flight after
 * all: its last record at least is the response. */
static void close_exchange(struct obs_flow *of)
{
	struct ts_obs_exchange *x = of->cur;
	if (x && x->response_records > 0 && x->response_records == of->suspect_records &&
	    x->response_plaintext_estimate == 0) {
		x->response_plaintext_estimate = of->last_suspect_plain;
		x->response_plaintext_min = of->last_suspect_plain;
		x->response_first_record = of->last_suspect_plain;
	}
	of->suspect_records = (uint32_t)-1; /* only the first exchange can hold tickets */
	of->tickets_over = true;
}

static void app_record(struct obs_flow *of, int r, size_t record_len)
{
	struct ts_obs_tls *c = of->conn;
	size_t wire = record_len + 5;
	size_t pmax = record_len, pmin = record_len;
	if (of->ovh_known) {
		pmax = record_len > of->ovh_min ? record_len - of->ovh_min : 0;
		pmin = record_len > of->ovh_max ? record_len - of->ovh_max : 0;
	}
	if (r == 0) {
		if (of->cur != NULL && of->cur->response_records > 0)
			close_exchange(of);
		if (of->cur == NULL || of->cur->response_records > 0) {
			if (c->n_exchanges >= of->o->cfg.max_exchanges) {
				c->exchanges_dropped++;
				of->cur = NULL;
				of->last_app_dir = 0;
				return;
			}
			if (c->n_exchanges == of->cap_exchanges) {
				size_t n = of->cap_exchanges ? of->cap_exchanges * 2 : 8;
				struct ts_obs_exchange *x = realloc(c->exchanges, n * sizeof *x);
				if (x == NULL)
					return;
				c->exchanges = x;
				of->cap_exchanges = n;
			}
			of->cur = &c->exchanges[c->n_exchanges++];
			memset(of->cur, 0, sizeof *of->cur);
			of->cur->t_us = of->now;
		}
		of->cur->request_bytes += wire;
		of->cur->request_records++;
		of->cur->request_plaintext_estimate += pmax;
		of->cur->duration_us = of->now - of->cur->t_us;
	} else {
		if (of->cur == NULL) {
			if (of->last_app_dir != 0) {
				c->unsolicited_bytes += wire;
				c->unsolicited_records++;
				of->tickets_alone |= ticket_record(of, record_len, pmax);
			}
			return;
		}
		struct ts_obs_exchange *x = of->cur;
		x->response_bytes += wire;
		x->response_plaintext_max += pmax;
		if (x->response_records == of->suspect_records && ticket_record(of, record_len, pmax)) {
			of->suspect_records++;
			of->last_suspect_plain = pmax;
		} else {
			if (x->response_records == 1 && of->suspect_records == 1 && !of->tickets_alone) {
				x->response_plaintext_estimate += of->last_suspect_plain;
				x->response_plaintext_min += of->last_suspect_plain;
				x->response_first_record = of->last_suspect_plain;
			}
			if (x->response_first_record == 0)
				x->response_first_record = pmax;
			of->suspect_records = (uint32_t)-1;
			x->response_plaintext_estimate += pmax;
			x->response_plaintext_min += pmin;
		}
		x->response_records++;
		x->duration_us = of->now - x->t_us;
	}
	of->last_app_dir = r;
}

static void handshake_done_check(struct obs_flow *of)
{
	struct ts_obs_tls *c = of->conn;
	if (c->handshake_us >= 0 || !c->client_hello)
		return;
	bool done = c->version == TS_TLS13 ? of->finished[0] : (of->finished[0] && of->finished[1]);
	if (done)
		c->handshake_us = of->now - of->hello_us;
}

static void on_tls_event(struct obs_flow *of, int dir, const struct ts_tls_event *ev)
{
	struct ts_obs_tls *c = of->conn;
	/* The hellos say who is who, whatever the ports or the first packet said. */
	if (ev->kind == TS_EV_HANDSHAKE && !c->client_hello && !c->server_hello) {
		if (ev->hs_type == TS_HS_CLIENT_HELLO)
			of->client_dir = dir;
		else if (ev->hs_type == TS_HS_SERVER_HELLO)
			of->client_dir = 1 - dir;
	}
	int r = role(of, dir);
	switch (ev->kind) {
	case TS_EV_RECORD:
		of->records++;
		if (ev->content_type == TS_CT_CHANGE_CIPHER_SPEC) {
			of->ccs[r] = true;
			if (r == 1 && c->version != TS_TLS13 && c->server_hello && !of->cert_seen)
				c->resumed = true; /* abbreviated handshake: no certificate, straight to CCS */
			break;
		}
		if (ev->encrypted && c->version == TS_TLS13) {
			/* The server's encrypted flight is handshake until the client's
			 * first encrypted record, its Finished. */
			if (r == 1 && !of->finished[0])
				break;
			if (r == 0 && !of->finished[0]) {
				of->finished[0] = true;
				handshake_done_check(of);
				break;
			}
		} else if (ev->encrypted && ev->content_type == TS_CT_HANDSHAKE && !of->finished[r]) {
			of->finished[r] = true;
			handshake_done_check(of);
			break;
		}
		if (ev->content_type == TS_CT_APPLICATION_DATA && c->version == TS_TLS13 &&
		    ev->record_len == 2 + 1 + 16 && of->finished[0]) {
			/* An encrypted alert (close_notify, most likely): two bytes,
			 * the inner type and the tag.  No request is that small. */
			add_alert(of, r, true, NULL);
			break;
		}
		if (ev->content_type == TS_CT_APPLICATION_DATA && app_record_ok(of, r))
			app_record(of, r, ev->record_len);
		else if (ev->content_type == TS_CT_ALERT && ev->encrypted)
			add_alert(of, r, true, NULL);
		break;
	case TS_EV_HANDSHAKE:
		if (ev->hs_type == TS_HS_CLIENT_HELLO && r == 0 && !c->client_hello) {
			of->saw_hello = true;
			on_client_hello(of, ev->body, ev->body_len);
		}
		else if (ev->hs_type == TS_HS_SERVER_HELLO && r == 1 && !c->server_hello)
			on_server_hello(of, ev->body, ev->body_len);
		else if (ev->hs_type == TS_HS_HELLO_RETRY_REQUEST && r == 1)
			of->hrr = true;
		else if (ev->hs_type == TS_HS_CERTIFICATE && r == 1)
			on_certificate(of, ev->body, ev->body_len);
		break;
	case TS_EV_ALERT:
		add_alert(of, r, false, &ev->alert);
		break;
	default:
		break;
	}
}

static void tls_parse(struct obs_flow *of, int dir, const uint8_t *data, size_t len);

/* Brings the engine's count of parser memory up to date for one direction,
 * and says whether the overall cap is now exceeded by its growth. */
static bool held_update(struct obs_flow *of, int dir)
{
	struct ts_tcp_reasm *r = &of->o->reasm;
	size_t now = of->dns_tcp[dir].cap;
	if (of->conn != NULL)
		now += ts_tls_stream_held(&of->tls[dir]);
	bool grew = now > of->held[dir];
	r->held_elsewhere = r->held_elsewhere - of->held[dir] + now;
	of->held[dir] = now;
	return grew && r->buffered + r->held_elsewhere > ts_tcp_reasm_total_max(r);
}

/* Over the memory cap: this direction's partial records are dropped, and its
 * analysis stops (reported as truncated). */
static void tls_over_cap(struct obs_flow *of, int dir)
{
	char msg[128];
	snprintf(msg, sizeof msg, "memory cap of %zu bytes reached: TLS parsing stopped",
	         ts_tcp_reasm_total_max(&of->o->reasm));
	set_error(of, msg);
	of->conn->truncated = true;
	of->tls_failed[dir] = true;
	ts_tls_stream_clear(&of->tls[dir]);
	held_update(of, dir);
}

static void tls_feed(struct obs_flow *of, int dir, const uint8_t *data, size_t len)
{
	tls_parse(of, dir, data, len);
	if (held_update(of, dir))
		tls_over_cap(of, dir);
}

static void tls_parse(struct obs_flow *of, int dir, const uint8_t *data, size_t len)
{
	struct ts_tls_stream *s = &of->tls[dir];
	if (of->tls_failed[dir])
		return;
	while (len > 0) {
		size_t n = len > 4096 ? 4096 : len;
		if (ts_tls_stream_feed(s, data, n) < 0) {
			set_error(of, "TLS stream buffer limit reached");
			of->conn->truncated = true;
			of->tls_failed[dir] = true;
			return;
		}
		data += n;
		len -= n;
		struct ts_tls_event ev;
		for (;;) {
			int rc = ts_tls_stream_next(s, &ev);
			if (rc == 1) {
				on_tls_event(of, dir, &ev);
				continue;
			}
			if (rc == TS_E_MALFORMED) {
				set_error(of, s->err.msg);
				/* Resynchronise at the next recognisable record. */
				ts_tls_stream_gap(s, 0);
				continue;
			}
			break;
		}
	}
}

static void tls_begin(struct obs_flow *of, int dir)
{
	if (of->conn == NULL) {
		of->conn = calloc(1, sizeof *of->conn);
		if (of->conn == NULL) {
			of->kind = KIND_OTHER;
			return;
		}
		of->conn->handshake_us = -1;
		ts_tls_stream_init(&of->tls[0], NULL);
		ts_tls_stream_init(&of->tls[1], NULL);
		of->last_app_dir = -1;
	}
	of->kind = KIND_TLS;
	of->tls_started[dir] = true;
}

/* ------------------------------------------------------------------ STARTTLS */

static bool has(const uint8_t *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp((const char *)p + i, needle, k) == 0)
			return true;
	return false;
}

static void gather_hints(struct obs_flow *of, int r, const uint8_t *p, size_t n)
{
	if (n > 512)
		n = 512;
	if (r == 0) {
		if (has(p, n, "EHLO") || has(p, n, "HELO"))
			of->hints |= HINT_SMTP;
		if (has(p, n, "STARTTLS"))
			of->hints |= HINT_STARTTLS;
		if (has(p, n, "STLS"))
			of->hints |= HINT_POP3 | HINT_STARTTLS;
		if (has(p, n, "AUTH TLS") || has(p, n, "AUTH SSL"))
			of->hints |= HINT_FTP | HINT_STARTTLS;
		if (has(p, n, "<starttls"))
			of->hints |= HINT_XMPP | HINT_STARTTLS;
		if (has(p, n, "1.3.6.1.4.1.1466.20037"))
			of->hints |= HINT_LDAP | HINT_STARTTLS;
		static const uint8_t sslreq[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
		if (n >= 8 && memcmp(p, sslreq, 8) == 0)
			of->hints |= HINT_POSTGRES | HINT_STARTTLS;
		if (n > 2 && has(p, n, " CAPABILITY"))
			of->hints |= HINT_IMAP;
	} else {
		if (n >= 4 && memcmp(p, "* OK", 4) == 0)
			of->hints |= HINT_IMAP;
		if (n >= 3 && memcmp(p, "+OK", 3) == 0)
			of->hints |= HINT_POP3;
		if (has(p, n, "ESMTP") || has(p, n, "250-"))
			of->hints |= HINT_SMTP;
		if (has(p, n, "FTP") || (n >= 4 && memcmp(p, "234 ", 4) == 0))
			of->hints |= HINT_FTP;
		if (has(p, n, "jabber:client") || has(p, n, "<proceed"))
			of->hints |= HINT_XMPP;
	}
}

static const char *starttls_name(unsigned h)
{
	if (h & HINT_POSTGRES) return "postgres";
	if (h & HINT_LDAP) return "ldap";
	if (h & HINT_XMPP) return "xmpp";
	if (h & HINT_IMAP) return "imap";
	if (h & HINT_POP3) return "pop3";
	if (h & HINT_FTP) return "ftp";
	if (h & HINT_SMTP) return "smtp";
	return "unknown";
}

/* ------------------------------------------------------------------ DNS */

static void emit_dns(struct obs_flow *of, struct ts_flow *f, int dir, bool tcp, const uint8_t *p,
                     size_t n, int64_t ts)
{
	struct ts_observe *o = of->o;
	struct ts_error err = { 0 };
	if (ts_dns_parse(p, n, o->dns, &err) < 0) {
		o->st.dns_malformed++;
		return;
	}
	o->st.dns_messages++;
	const struct ts_dns_message *m = o->dns;
	/* A name resolves to an address through CNAMEs: remember the name asked. */
	if (m->response && m->rcode == 0)
		for (size_t i = 0; i < m->answer_count; i++) {
			const struct ts_dns_answer *a = &m->answers[i];
			if (a->type == TS_DNS_A || a->type == TS_DNS_AAAA)
				ts_dns_names_add(o->names, &a->addr, m->qname[0] ? m->qname : a->name);
		}
	if (o->cb.dns) {
		/* The client is the side that sent the query. */
		int cdir = m->response ? 1 - dir : dir;
		struct ts_obs_dns d = {
			.ts_us = ts,
			.client = f->key.addr[cdir],
			.server = f->key.addr[1 - cdir],
			.client_port = f->key.port[cdir],
			.server_port = f->key.port[1 - cdir],
			.tcp = tcp,
			.msg = m,
		};
		o->cb.dns(o->cb.ctx, &d);
	}
}

static void dns_tcp_data(struct obs_flow *of, int dir, const uint8_t *p, size_t n)
{
	struct ts_buf *b = &of->dns_tcp[dir];
	b->max = 70000;
	ts_buf_put(b, p, n);
	if (b->oom || held_update(of, dir)) {
		of->kind = KIND_OTHER;
		ts_buf_clear(b);
		held_update(of, dir);
		return;
	}
	while (b->len >= 2) {
		size_t m = (size_t)b->data[0] << 8 | b->data[1];
		if (b->len < 2 + m)
			break;
		emit_dns(of, of->flow, dir, true, b->data + 2, m, of->now);
		ts_buf_consume(b, 2 + m);
	}
	if (b->len == 0) {
		ts_buf_clear(b);
		held_update(of, dir);
	}
}

/* ------------------------------------------------------------------ TCP data */

static void on_tcp_data(void *ctx, const uint8_t *data, size_t len, int64_t ts)
{
	struct obs_flow *of = ctx;
	int dir = of->deliver_dir;
	of->now = ts;
	if (data == NULL) { /* lost bytes */
		if (of->conn)
			of->conn->gap_bytes += len;
		if (of->kind == KIND_TLS && of->tls_started[dir])
			ts_tls_stream_gap(&of->tls[dir], len);
		else if (of->kind == KIND_DNS)
			ts_buf_clear(&of->dns_tcp[dir]);
		held_update(of, dir);
		of->gap_pending[dir] = true;
		return;
	}
	if (of->kind == KIND_OTHER)
		return;
	if (of->kind == KIND_DNS) {
		dns_tcp_data(of, dir, data, len);
		return;
	}
	if (of->client_dir < 0) {
		/* Seen from the middle: the well-known port is the server's. */
		const struct ts_flow_key *k = &of->flow->key;
		uint16_t here = k->port[dir], there = k->port[1 - dir];
		of->client_dir = (here < 1024 && there >= 1024) ? 1 - dir : dir;
	}
	if (of->tls_started[dir]) {
		tls_feed(of, dir, data, len);
		return;
	}
	/* Not TLS yet in this direction: does it start here? */
	const uint8_t *p = data;
	size_t n = len;
	uint8_t joined[32];
	if (of->maybe_len[dir] > 0) {
		size_t k = of->maybe_len[dir];
		size_t add = n < sizeof joined - k ? n : sizeof joined - k;
		memcpy(joined, of->maybe[dir], k);
		memcpy(joined + k, data, add);
		enum ts_looks l = ts_tls_looks_like(joined, k + add);
		if (l == TS_LOOKS_TLS || l == TS_LOOKS_SSL2) {
			tls_begin(of, dir);
			if (of->kind == KIND_TLS) {
				tls_feed(of, dir, of->maybe[dir], k);
				tls_feed(of, dir, data, len);
			}
			of->maybe_len[dir] = 0;
			return;
		}
		of->maybe_len[dir] = 0;
		if (l == TS_LOOKS_MAYBE && k + len < sizeof of->maybe[dir]) {
			memcpy(of->maybe[dir], joined, k + len);
			of->maybe_len[dir] = k + len;
			return;
		}
	}
	enum ts_looks l = ts_tls_looks_like(p, n);
	if (l == TS_LOOKS_TLS || l == TS_LOOKS_SSL2) {
		/* TLS after cleartext in either direction is an upgrade. */
		bool upgraded = of->preamble > 0;
		tls_begin(of, dir);
		if (of->kind != KIND_TLS)
			return;
		if (upgraded && of->conn->starttls[0] == '\0')
			snprintf(of->conn->starttls, sizeof of->conn->starttls, "%s",
			         starttls_name(of->hints));
		tls_feed(of, dir, p, n);
		return;
	}
	if (l == TS_LOOKS_MAYBE && n < sizeof of->maybe[dir]) {
		memcpy(of->maybe[dir], p, n);
		of->maybe_len[dir] = n;
		return;
	}
	/* The other direction already speaks TLS: this one is odd, but a
	 * capture that starts mid-connection lands here; try to resynchronise. */
	if (of->kind == KIND_TLS || (of->flow && !of->tcp[dir].syn && of->preamble == 0)) {
		size_t off = ts_tls_resync(p, n);
		if (off < n) {
			tls_begin(of, dir);
			if (of->kind != KIND_TLS)
				return;
			if (!of->conn->client_hello)
				of->conn->midstream = true;
			tls_feed(of, dir, p + off, n - off);
			return;
		}
		if (of->kind == KIND_TLS)
			return;
	}
	of->preamble += n;
	gather_hints(of, role(of, dir), p, n);
	if (of->preamble > of->o->cfg.preamble_max)
		of->kind = KIND_OTHER;
}

/* ------------------------------------------------------------------ flows */

static void obs_flow_free(struct ts_observe *o, struct obs_flow *of)
{
	o->reasm.held_elsewhere -= of->held[0] + of->held[1];
	for (int d = 0; d < 2; d++) {
		ts_tcp_stream_clear(&o->reasm, &of->tcp[d]);
		ts_buf_clear(&of->dns_tcp[d]);
	}
	if (of->conn) {
		ts_tls_stream_clear(&of->tls[0]);
		ts_tls_stream_clear(&of->tls[1]);
		for (size_t i = 0; i < of->conn->n_certs; i++)
			ts_cert_info_clear(&of->conn->certs[i]);
		free(of->conn->certs);
		free(of->conn->exchanges);
		free(of->conn);
	}
	free(of);
}

static void on_flow_end(void *ctx, struct ts_flow *f, enum ts_flow_end why)
{
	struct ts_observe *o = ctx;
	struct obs_flow *of = f->user;
	if (of == NULL)
		return;
	of->flow = f;
	/* Deliver what waits behind holes: the end of the stream will not fill them. */
	if (of->kind != KIND_OTHER)
		for (int d = 0; d < 2; d++) {
			of->deliver_dir = d;
			ts_tcp_stream_flush(&o->reasm, &of->tcp[d], on_tcp_data, of);
		}
	for (int d = 0; d < 2; d++) {
		o->st.tcp_gaps += of->tcp[d].gaps;
		o->st.tcp_gap_bytes += of->tcp[d].gap_bytes;
		o->st.tcp_retransmitted += of->tcp[d].retransmitted;
	}
	struct ts_obs_tls *c = of->conn;
	if (of->cur != NULL)
		close_exchange(of);
	if (c != NULL && (c->client_hello || c->server_hello || of->records > 0)) {
		int cd = of->client_dir >= 0 ? of->client_dir : 0;
		c->ts_us = f->first_us;
		c->end_us = f->last_us;
		c->client = f->key.addr[cd];
		c->server = f->key.addr[1 - cd];
		c->client_port = f->key.port[cd];
		c->server_port = f->key.port[1 - cd];
		c->bytes_to_server = f->bytes[cd];
		c->bytes_to_client = f->bytes[1 - cd];
		if (!of->saw_hello && !of->tcp[cd].syn && !of->tcp[1 - cd].syn)
			c->midstream = true;
		else if (!of->saw_hello && c->gap_bytes > 0)
			set_error(of, "the ClientHello was lost in a gap of the capture");
		const char *name = ts_dns_names_lookup(o->names, &c->server);
		if (name)
			snprintf(c->dns_name, sizeof c->dns_name, "%s", name);
		if (why == TS_FLOW_END_EVICTED)
			c->truncated = true;
		if (c->truncated)
			o->st.flows_truncated++;
		o->st.tls_connections++;
		if (o->cb.tls)
			o->cb.tls(o->cb.ctx, c);
	} else if (why == TS_FLOW_END_EVICTED && of->kind != KIND_OTHER) {
		o->st.flows_truncated++;
	}
	obs_flow_free(o, of);
	f->user = NULL;
}

static bool is_dns_port(uint16_t p)
{
	return p == 53 || p == 5353 || p == 5355;
}

int ts_observe_packet(struct ts_observe *o, int linktype, const uint8_t *frame, size_t caplen,
                      int64_t ts_us, struct ts_error *err)
{
	struct ts_packet pkt;
	o->st.packets++;
	o->st.bytes += caplen;
	int rc = ts_packet_decode(o->defrag, linktype, frame, caplen, ts_us, &pkt, err);
	if (rc < 0) {
		o->st.malformed++;
		return rc;
	}
	if (rc == 0) {
		o->st.skipped++;
		return 0;
	}
	o->st.decoded++;
	if (pkt.truncated)
		o->st.truncated_packets++;
	/* Expire idle flows about once a second of capture time. */
	if (ts_us - o->last_expire > 1000000) {
		ts_flow_table_expire(o->flows, ts_us);
		o->last_expire = ts_us;
	}
	int dir;
	bool created;
	struct ts_flow *f = ts_flow_lookup(o->flows, &pkt, &dir, &created);
	if (f == NULL)
		return ts_error_set(err, TS_E_NOMEM, "out of memory for a new flow");
	struct obs_flow *of = f->user;
	/* A new SYN on a 5-tuple that already carried a connection: the port was
	 * reused, so the old connection is over. */
	if (of != NULL && !created && pkt.proto == 6 &&
	    (pkt.tcp_flags & (TS_TCP_SYN | TS_TCP_ACK)) == TS_TCP_SYN &&
	    (of->tcp[0].delivered + of->tcp[1].delivered > 0 || of->tcp[0].fin || of->tcp[1].fin) &&
	    !(of->tcp[dir].syn && of->tcp[dir].next_seq == pkt.seq + 1)) {
		ts_flow_remove(o->flows, f);
		f = ts_flow_lookup(o->flows, &pkt, &dir, &created);
		if (f == NULL)
			return ts_error_set(err, TS_E_NOMEM, "out of memory for a new flow");
		of = f->user;
	}
	if (of == NULL) {
		of = calloc(1, sizeof *of);
		if (of == NULL)
			return ts_error_set(err, TS_E_NOMEM, "out of memory for a new flow");
		of->o = o;
		of->flow = f;
		of->client_dir = -1;
		of->last_app_dir = -1;
		f->user = of;
		if (pkt.proto == 17)
			of->kind = (is_dns_port(pkt.sport) || is_dns_port(pkt.dport)) ? KIND_DNS : KIND_OTHER;
		else if (pkt.sport == 53 || pkt.dport == 53)
			of->kind = KIND_DNS;
	}
	of->flow = f;
	of->now = ts_us;
	if (pkt.proto == 17) {
		if (of->kind == KIND_DNS && pkt.payload_len > 0) {
			emit_dns(of, f, dir, false, pkt.payload, pkt.payload_len, ts_us);
			/* A response ends a DNS exchange over UDP: free the slot now
			 * rather than let busy resolvers fill the table. */
			if (o->dns->response && !(pkt.sport == 5353 && pkt.dport == 5353))
				ts_flow_remove(o->flows, f);
		}
		return 0;
	}
	/* TCP: the client is who sent the bare SYN; else who spoke first. */
	if (of->client_dir < 0) {
		if ((pkt.tcp_flags & (TS_TCP_SYN | TS_TCP_ACK)) == TS_TCP_SYN)
			of->client_dir = dir;
		else if ((pkt.tcp_flags & (TS_TCP_SYN | TS_TCP_ACK)) == (TS_TCP_SYN | TS_TCP_ACK))
			of->client_dir = 1 - dir;
	}
	if (pkt.truncated && of->conn)
		of->conn->truncated = true;
	if (of->kind != KIND_OTHER) {
		of->deliver_dir = dir;
		ts_tcp_stream_add(&o->reasm, &of->tcp[dir], &pkt, on_tcp_data, of);
	}
	struct ts_tcp_stream *a = &of->tcp[0], *b = &of->tcp[1];
	if (a->rst || b->rst || (a->fin && b->fin))
		ts_flow_remove(o->flows, f);
	return 0;
}
