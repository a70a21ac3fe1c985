/* tlsscope: output of `connect` (the verdict on one connection) and the log
 * line of `serve` (one per connection).  JSON field names are documented in
 * docs/json.md. */
#ifndef TLSSCOPE_REPORT_CONN_H
#define TLSSCOPE_REPORT_CONN_H

#include <stdint.h>

#include "tlsscope/conn.h"
#include "tlsscope/report.h"

/* The verdict after a handshake attempt: address, name, protocol, cipher,
 * the certificate's names, and verified or exactly why not.  status is what
 * ts_conn_handshake returned; insecure lists the weakenings in force (count
 * n).  Text or one JSON line, as r says. */
void ts_report_connect(struct ts_report *r, const struct ts_conn *c, int status,
                       const char *const *insecure, size_t n);

/* What `serve` logs when a connection ends. */
struct ts_serve_log {
	const char *client;       /* "127.0.0.1:51234" */
	const char *sni;          /* NULL when none */
	const char *protocol;     /* NULL when the handshake failed */
	const char *cipher;
	const char *alpn;
	uint64_t bytes_in;        /* plaintext from the client */
	uint64_t bytes_out;       /* plaintext to the client */
	double duration_ms;
	const char *error;        /* NULL or "" when it ended cleanly */
};

/* One line (text or JSON) per connection. */
void ts_report_serve_conn(struct ts_report *r, const struct ts_serve_log *log);
/* The listening address, once, at start-up. */
void ts_report_serve_listening(struct ts_report *r, const char *addr, size_t ncerts,
                               const char *mode);

#endif
