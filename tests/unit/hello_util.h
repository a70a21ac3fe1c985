/* Test helper: hellos out of a reassembled stream, through ts_tls_stream. */
#ifndef TS_TEST_HELLO_UTIL_H
#define TS_TEST_HELLO_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "tlsscope/wire.h"

#define HELLOS_MAX 4

struct hellos {
	size_t n_ch, n_sh;
	struct ts_client_hello *ch[HELLOS_MAX];
	struct ts_server_hello *sh[HELLOS_MAX];
	uint8_t *bodies[2 * HELLOS_MAX];  /* the parsed structs point into these */
	size_t n_bodies;
	int ch_rc[HELLOS_MAX];            /* ts_parse_client_hello's result */
	bool has_cert;                    /* a TLS <= 1.2 Certificate message was seen */
	size_t n_certs;
	uint8_t *leaf;                    /* copy of its first certificate (DER) */
	size_t leaf_len;
	char ch_err[HELLOS_MAX][TS_ERROR_MSG_MAX];
};

static inline void hellos_free(struct hellos *h)
{
	for (size_t i = 0; i < h->n_ch; i++)
		free(h->ch[i]);
	for (size_t i = 0; i < h->n_sh; i++)
		free(h->sh[i]);
	for (size_t i = 0; i < h->n_bodies; i++)
		free(h->bodies[i]);
	free(h->leaf);
	memset(h, 0, sizeof *h);
}

/* Feeds data (skipping a cleartext preamble such as STARTTLS up to the first
 * plausible record) in chunks of `chunk` bytes and collects the hellos. */
static inline void hellos_collect(const uint8_t *data, size_t len, size_t chunk, struct hellos *h)
{
	memset(h, 0, sizeof *h);
	size_t start = 0;
	if (ts_tls_looks_like(data, len) == TS_LOOKS_NO)
		start = ts_tls_resync(data, len);
	struct ts_tls_stream s;
	ts_tls_stream_init(&s, NULL);
	for (size_t off = start; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (ts_tls_stream_feed(&s, data + off, n) != 0)
			break;
		struct ts_tls_event ev;
		int rc;
		while ((rc = ts_tls_stream_next(&s, &ev)) == 1) {
			if (ev.kind != TS_EV_HANDSHAKE)
				continue;
			if (ev.hs_type == TS_HS_CERTIFICATE && !h->has_cert) {
				static struct ts_certificate_msg cm;
				struct ts_reader rd;
				ts_reader_init(&rd, ev.body, ev.body_len);
				if (ts_parse_certificate(&rd, false, &cm, NULL) == 0) {
					h->has_cert = true;
					h->n_certs = cm.n_certs;
					if (cm.n_certs > 0) {
						h->leaf = malloc(cm.certs[0].len);
						memcpy(h->leaf, cm.certs[0].p, cm.certs[0].len);
						h->leaf_len = cm.certs[0].len;
					}
				}
			} else if (ev.hs_type == TS_HS_CLIENT_HELLO && h->n_ch < HELLOS_MAX) {
				uint8_t *b = malloc(ev.body_len + 1);
				memcpy(b, ev.body, ev.body_len);
				h->bodies[h->n_bodies++] = b;
				struct ts_client_hello *ch = malloc(sizeof *ch);
				struct ts_reader rd;
				struct ts_error err = { 0 };
				ts_reader_init(&rd, b, ev.body_len);
				h->ch_rc[h->n_ch] = ts_parse_client_hello(&rd, ch, &err);
				memcpy(h->ch_err[h->n_ch], err.msg, sizeof err.msg);
				h->ch[h->n_ch++] = ch;
			} else if ((ev.hs_type == TS_HS_SERVER_HELLO ||
			            ev.hs_type == TS_HS_HELLO_RETRY_REQUEST) && h->n_sh < HELLOS_MAX) {
				uint8_t *b = malloc(ev.body_len + 1);
				memcpy(b, ev.body, ev.body_len);
				h->bodies[h->n_bodies++] = b;
				struct ts_server_hello *sh = malloc(sizeof *sh);
				struct ts_reader rd;
				ts_reader_init(&rd, b, ev.body_len);
				if (ts_parse_server_hello(&rd, sh, NULL) == 0)
					h->sh[h->n_sh++] = sh;
				else
					free(sh);
			}
		}
		if (rc != TS_E_NEED_MORE)
			break;
	}
	ts_tls_stream_clear(&s);
}

#endif
