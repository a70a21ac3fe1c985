/* tlsscope serve: a TLS server on one libuv event loop.  --echo sends each
 * client's bytes back; --forward HOST:PORT terminates TLS in front of a plain
 * TCP service.  The TLS runs in conn's callback mode: the loop moves
 * ciphertext, conn turns it into plaintext.
 *
 * Backpressure both ways: we stop reading a socket while the queue towards
 * the other side is above HIGH_WATER and resume below LOW_WATER.
 * Plaintext crosses between the sides in exactly two functions,
 * from_client() and to_client(), so a response policy (padding) has one
 * place to go. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"
#include "tlsscope/bytes.h"
#include "tlsscope/conn.h"
#include "tlsscope/net.h"
#include "tlsscope/pad.h"
#include "tlsscope/report.h"
#include "tlsscope/report_conn.h"
#include "tlsscope/report_pad.h"

static const char usage_text[] =
	"usage: tlsscope serve --cert FILE --key FILE [--cert FILE --key FILE ...]\n"
	"                      [--listen ADDR:PORT] (--echo | --forward HOST:PORT)\n"
	"                      [--alpn LIST] [--client-ca FILE] [--pad POLICY] [--json]\n"
	"\n"
	"A TLS server for many concurrent clients.  --echo sends every byte back;\n"
	"--forward HOST:PORT relays the plaintext to a TCP service (TLS termination).\n"
	"Prints the listening address, then one line per connection on stderr\n"
	"(client, SNI, protocol, cipher, bytes each way, duration).  SIGINT or\n"
	"SIGTERM stops accepting, closes every connection with close_notify and\n"
	"exits 0.\n"
	"\n"
	"options:\n"
	"  --cert FILE --key FILE  a certificate chain (PEM, leaf first) and its key;\n"
	"                          repeat for more: the first is the default, the others\n"
	"                          are chosen when the client's SNI matches their names\n"
	"  --listen ADDR:PORT      where to listen (default 127.0.0.1:8443; port 0 picks\n"
	"                          a free port, printed at start-up)\n"
	"  --echo                  echo mode\n"
	"  --forward HOST:PORT     forward mode\n"
	"  --alpn LIST             ALPN protocols to accept, in order of preference\n"
	"  --client-ca FILE        require a client certificate issued by these CAs\n"
	"  --pad POLICY            with --forward: pad each HTTP/1.1 response so that the\n"
	"                          burst an observer sees lands on a size boundary:\n"
	"                          none, block:N, pow2, buckets (ratio 1.1), buckets:R.\n"
	"                          TLS 1.3 record padding: the server then offers TLS 1.3\n"
	"                          only\n"
	"  --timeout SECONDS       bound on connecting to the --forward service (default 10)\n"
	"  --json                  log lines as JSON\n"
	"  -h, --help              this text\n";

#define READ_CHUNK 16384
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
#define GRACE_MS 5000

struct server;

struct client {
	struct server *srv;
	struct client *prev, *next;
	int refs;                  /* open handles + pending writes + 1 while active */
	uv_tcp_t tcp;              /* the TLS side */
	uv_tcp_t up;               /* the plain service (forward mode) */
	uv_connect_t up_req;
	bool up_open, up_connected, up_eof, up_reading, up_shut;
	bool tcp_reading, tcp_eof;
	bool tls_done;             /* close_notify or end from the client */
	bool closing;              /* close once the queue to the client is flushed */
	bool closed;
	struct ts_conn *tls;
	struct ts_pad *pad;        /* --pad: the HTTP/1.1 framing of this connection */
	struct ts_buf hold;        /* --pad: the tail of the response in progress */
	bool pad_logged;
	struct ts_buf cipher_in;   /* ciphertext from the client, not yet consumed */
	size_t to_client_queued;   /* ciphertext bytes in uv_write to the client */
	size_t to_up_queued;       /* plaintext bytes in uv_write to the service */
	uint64_t bytes_in, bytes_out;
	uint64_t start_ns;
	char addr[TS_ADDRSTR_MAX];
	char error[TS_ERROR_MSG_MAX];
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_signal_t sigint, sigterm;
	uv_timer_t grace;
	struct ts_config *cfg;
	bool echo;
	struct ts_addr forward;
	bool pad_on;
	struct ts_pad_policy pad;
	bool stopping;
	struct client *clients;
	size_t nclients;
	struct ts_report log;
};

struct wreq {
	uv_write_t req;
	struct client *cl;
	size_t len;
	bool to_up;
	char data[];
};

static void client_unref(struct client *cl);
static void pump(struct client *cl);
static void close_client(struct client *cl, const char *error);
static void maybe_finish(struct server *srv);

/* ---- the client side: ciphertext ---- */

static ssize_t tls_read_cb(void *arg, void *buf, size_t len)
{
	struct client *cl = arg;
	if (cl->cipher_in.len == 0)
		return cl->tcp_eof ? 0 : TS_E_WANT_READ;
	size_t n = len < cl->cipher_in.len ? len : cl->cipher_in.len;
	memcpy(buf, cl->cipher_in.data, n);
	ts_buf_consume(&cl->cipher_in, n);
	return (ssize_t)n;
}

static void on_client_written(uv_write_t *req, int status);

static ssize_t tls_write_cb(void *arg, const void *buf, size_t len)
{
	struct client *cl = arg;
	if (cl->closed)
		return TS_E_CONNECT;
	struct wreq *w = malloc(sizeof *w + len);
	if (w == NULL)
		return TS_E_NOMEM;
	memcpy(w->data, buf, len);
	w->cl = cl;
	w->len = len;
	w->to_up = false;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&cl->tcp, &b, 1, on_client_written) != 0) {
		free(w);
		return TS_E_CONNECT;
	}
	cl->refs++;
	cl->to_client_queued += len;
	return (ssize_t)len;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = malloc(READ_CHUNK);
	buf->len = buf->base != NULL ? READ_CHUNK : 0;
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *cl = s->data;
	if (n > 0) {
		ts_buf_put(&cl->cipher_in, buf->base, (size_t)n);
	} else if (n < 0) {
		cl->tcp_eof = true;
		uv_read_stop(s);
		cl->tcp_reading = false;
	}
	free(buf->base);
	if (n != 0 && !cl->closed)
		pump(cl);
}

static void set_client_reading(struct client *cl, bool on)
{
	if (cl->closed || cl->tcp_eof || on == cl->tcp_reading)
		return;
	if (on)
		uv_read_start((uv_stream_t *)&cl->tcp, alloc_cb, on_client_read);
	else
		uv_read_stop((uv_stream_t *)&cl->tcp);
	cl->tcp_reading = on;
}

/* ---- the service side: plaintext ---- */

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void set_up_reading(struct client *cl, bool on)
{
	if (cl->closed || !cl->up_connected || cl->up_eof || on == cl->up_reading)
		return;
	if (on)
		uv_read_start((uv_stream_t *)&cl->up, alloc_cb, on_up_read);
	else
		uv_read_stop((uv_stream_t *)&cl->up);
	cl->up_reading = on;
}

static bool write_plain(struct client *cl, const uint8_t *data, size_t len)
{
	size_t off = 0;
	while (off < len && !cl->closed) {
		ssize_t n = ts_conn_write(cl->tls, data + off, len - off);
		if (n <= 0) {
			close_client(cl, ts_conn_error(cl->tls));
			return false;
		}
		off += (size_t)n;
	}
	return !cl->closed;
}

#define RECORD_MAX 16384             /* a TLS record's plaintext */
#define PAD_PER_BYTE (RECORD_MAX - 2) /* padding a record with 1 byte of data takes */
#define PAD_HOLD 1024                 /* bytes kept back to carry padding: up to ~16 MB of it */
/* While a response is in progress only full records go out (and PAD_HOLD
 * bytes stay back): the records are then laid out as a TLS server that
 * holds the whole response would lay them out, whatever the service's
 * write pattern, and the padding goes in the last ones. */

/* The end of a response: its bytes with pad bytes of TLS 1.3 record
 * padding.  A record with c bytes takes at most 16383 - c of padding, so
 * when one record is not enough the last bytes go one per record. */
static void write_padded(struct client *cl, const uint8_t *data, size_t len, uint64_t pad)
{
	if (pad == 0 || ts_conn_pad(cl->tls, pad) < 0) {
		write_plain(cl, data, len);
		return;
	}
	uint64_t singles = (pad + PAD_PER_BYTE - 1) / PAD_PER_BYTE;
	size_t m = singles < len ? (size_t)singles : len;
	size_t first = len - m;
	if (first > 0 && !write_plain(cl, data, first))
		return;
	for (size_t i = first; i < len && !cl->closed; i++) {
		if (ts_conn_pad_left(cl->tls) == 0) {
			write_plain(cl, data + i, len - i);
			break;
		}
		if (!write_plain(cl, data + i, 1))
			return;
	}
	if (!cl->closed)
		ts_conn_pad(cl->tls, 0);
}

static void flush_hold(struct client *cl)
{
	if (cl->hold.len > 0 && !cl->closed)
		write_plain(cl, cl->hold.data, cl->hold.len);
	ts_buf_reset(&cl->hold);
}

/* Every plaintext byte towards the client passes here: with --pad, the
 * tracker finds where each response ends, and that end goes out padded. */
static void to_client(struct client *cl, const char *data, size_t len)
{
	const uint8_t *d = (const uint8_t *)data;
	cl->bytes_out += len;
	if (cl->pad == NULL) {
		write_plain(cl, d, len);
		return;
	}
	size_t off = 0;
	while (off < len && !cl->closed) {
		uint64_t pad = 0;
		bool ended = false;
		size_t n = ts_pad_passthrough(cl->pad) ? len - off
		                                       : ts_pad_response(cl->pad, d + off, len - off, &pad, &ended);
		if (ts_pad_passthrough(cl->pad)) {
			if (!cl->pad_logged) {
				ts_report_pad_passthrough(&cl->srv->log, cl->addr, ts_pad_error(cl->pad));
				cl->pad_logged = true;
			}
			flush_hold(cl);
			write_plain(cl, d + off, len - off);
			return;
		}
		ts_buf_put(&cl->hold, d + off, n);
		if (cl->hold.oom) {
			close_client(cl, "out of memory");
			return;
		}
		off += n;
		if (ended) {
			write_padded(cl, cl->hold.data, cl->hold.len, pad);
			ts_buf_reset(&cl->hold);
		} else if (cl->hold.len >= PAD_HOLD + RECORD_MAX) {
			size_t out = (cl->hold.len - PAD_HOLD) / RECORD_MAX * RECORD_MAX;
			if (!write_plain(cl, cl->hold.data, out))
				return;
			ts_buf_consume(&cl->hold, out);
		}
	}
}

static void on_up_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct client *cl = w->cl;
	cl->to_up_queued -= w->len;
	free(w);
	if (status < 0 && !cl->closed)
		close_client(cl, "the forward service stopped taking data");
	else if (!cl->closed && cl->to_up_queued < LOW_WATER)
		pump(cl);
	client_unref(cl);
}

/* Every plaintext byte from the client passes here. */
static void from_client(struct client *cl, const char *data, size_t len)
{
	cl->bytes_in += len;
	if (cl->pad != NULL)
		ts_pad_request(cl->pad, data, len);
	if (cl->srv->echo) {
		to_client(cl, data, len);
		return;
	}
	struct wreq *w = malloc(sizeof *w + len);
	if (w == NULL) {
		close_client(cl, "out of memory");
		return;
	}
	memcpy(w->data, data, len);
	w->cl = cl;
	w->len = len;
	w->to_up = true;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&cl->up, &b, 1, on_up_written) != 0) {
		free(w);
		close_client(cl, "cannot write to the forward service");
		return;
	}
	cl->refs++;
	cl->to_up_queued += len;
}

static void on_up_shutdown(uv_shutdown_t *req, int status)
{
	struct client *cl = req->data;
	free(req);
	client_unref(cl);
}

/* The client is done sending: pass the end on. */
static void client_finished(struct client *cl)
{
	cl->tls_done = true;
	if (cl->srv->echo || !cl->up_connected) {
		ts_conn_close(cl->tls);
		cl->closing = true;
		return;
	}
	if (!cl->up_shut) {
		uv_shutdown_t *req = malloc(sizeof *req);
		if (req != NULL) {
			req->data = cl;
			if (uv_shutdown(req, (uv_stream_t *)&cl->up, on_up_shutdown) == 0)
				cl->refs++;
			else
				free(req);
		}
		cl->up_shut = true;
	}
}

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *cl = s->data;
	if (n > 0 && !cl->closed) {
		to_client(cl, buf->base, (size_t)n);
		if (!cl->closed && cl->to_client_queued > HIGH_WATER)
			set_up_reading(cl, false);
	} else if (n < 0 && !cl->closed) {
		/* the service is done: close_notify, then close once flushed */
		cl->up_eof = true;
		uv_read_stop(s);
		cl->up_reading = false;
		flush_hold(cl);
		if (cl->closed)
			return;
		ts_conn_close(cl->tls);
		cl->closing = true;
		if (cl->to_client_queued == 0)
			close_client(cl, NULL);
	}
	free(buf->base);
}

static void on_up_connected(uv_connect_t *req, int status)
{
	struct client *cl = req->data;
	if (status < 0) {
		if (!cl->closed) {
			char a[TS_ADDRSTR_MAX], msg[160];
			ts_addr_format(&cl->srv->forward, a);
			snprintf(msg, sizeof msg, "cannot reach the forward service %s: %s", a, uv_strerror(status));
			close_client(cl, msg);
		}
		client_unref(cl);
		return;
	}
	cl->up_connected = true;
	if (!cl->closed && !cl->closing) {
		set_up_reading(cl, true);
		pump(cl);
	}
	client_unref(cl);
}

static void start_forward(struct client *cl)
{
	if (uv_tcp_init(cl->srv->loop, &cl->up) != 0) {
		close_client(cl, "cannot make a socket for the forward service");
		return;
	}
	cl->up.data = cl;
	cl->up_open = true;
	cl->refs++;
	cl->up_req.data = cl;
	if (uv_tcp_connect(&cl->up_req, &cl->up, (const struct sockaddr *)&cl->srv->forward.ss,
	                   on_up_connected) != 0) {
		close_client(cl, "cannot connect to the forward service");
		return;
	}
	cl->refs++;
}

/* ---- the state machine ---- */

static void pump(struct client *cl)
{
	if (cl->closed)
		return;
	if (!ts_conn_handshake_done(cl->tls)) {
		int rc = ts_conn_handshake(cl->tls);
		if (rc == TS_E_WANT_READ || rc == TS_E_WANT_WRITE) {
			set_client_reading(cl, true);
			if (cl->tcp_eof)
				close_client(cl, "the client left during the handshake");
			return;
		}
		if (rc < 0) {
			close_client(cl, ts_conn_error(cl->tls));
			return;
		}
		if (!cl->srv->echo && cl->srv->pad_on) {
			cl->pad = ts_pad_new(&cl->srv->pad);
			if (cl->pad == NULL) {
				close_client(cl, "out of memory");
				return;
			}
			ts_buf_init(&cl->hold);
			cl->hold.max = PAD_HOLD + RECORD_MAX + READ_CHUNK;
		}
		if (!cl->srv->echo)
			start_forward(cl);
	}
	/* plaintext from the client, while the other side keeps up */
	char buf[READ_CHUNK];
	while (!cl->closed && !cl->tls_done) {
		bool ready = cl->srv->echo ? cl->to_client_queued < HIGH_WATER
		                           : cl->up_connected && cl->to_up_queued < HIGH_WATER;
		if (!ready)
			break;
		ssize_t n = ts_conn_read(cl->tls, buf, sizeof buf);
		if (n > 0) {
			from_client(cl, buf, (size_t)n);
			continue;
		}
		if (n == TS_E_WANT_READ || n == TS_E_WANT_WRITE)
			break;
		if (n == TS_E_CLOSED) {
			client_finished(cl);
			break;
		}
		close_client(cl, ts_conn_error(cl->tls));
		return;
	}
	if (cl->closed)
		return;
	/* read more ciphertext only while we consume it */
	bool blocked = cl->srv->echo ? cl->to_client_queued >= HIGH_WATER
	                             : !cl->up_connected || cl->to_up_queued >= HIGH_WATER;
	set_client_reading(cl, !cl->tls_done && !(blocked && cl->cipher_in.len >= HIGH_WATER));
	if (!cl->srv->echo && !cl->closing && cl->to_client_queued < LOW_WATER)
		set_up_reading(cl, true);
	if (cl->closing && cl->to_client_queued == 0)
		close_client(cl, NULL);
}

static void on_client_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct client *cl = w->cl;
	cl->to_client_queued -= w->len;
	free(w);
	if (!cl->closed) {
		if (status < 0)
			close_client(cl, "the client stopped taking data");
		else if (cl->closing && cl->to_client_queued == 0)
			close_client(cl, NULL);
		else if (cl->to_client_queued < LOW_WATER)
			pump(cl);
	}
	client_unref(cl);
}

/* ---- lifetime ---- */

static void on_handle_closed(uv_handle_t *h)
{
	client_unref(h->data);
}

static void client_unref(struct client *cl)
{
	if (--cl->refs > 0)
		return;
	struct server *srv = cl->srv;
	ts_conn_free(cl->tls);
	ts_buf_clear(&cl->cipher_in);
	ts_buf_clear(&cl->hold);
	ts_pad_free(cl->pad);
	free(cl);
	maybe_finish(srv);
}

static void close_client(struct client *cl, const char *error)
{
	if (cl->closed)
		return;
	cl->closed = true;
	struct server *srv = cl->srv;
	if (error != NULL)
		snprintf(cl->error, sizeof cl->error, "%s", error);
	struct ts_serve_log l = {
		.client = cl->addr,
		.sni = ts_conn_servername(cl->tls),
		.protocol = ts_conn_protocol(cl->tls),
		.cipher = ts_conn_cipher(cl->tls),
		.alpn = ts_conn_alpn(cl->tls),
		.bytes_in = cl->bytes_in,
		.bytes_out = cl->bytes_out,
		.duration_ms = (double)(ts_monotonic_ns() - cl->start_ns) / 1e6,
		.error = cl->error,
	};
	ts_report_serve_conn(&srv->log, &l);
	if (cl->pad != NULL) {
		struct ts_pad_stats ps;
		ts_pad_stats(cl->pad, &ps);
		ts_report_pad_conn(&srv->log, cl->addr, &ps);
	}
	/* unlink */
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		srv->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	srv->nclients--;
	uv_close((uv_handle_t *)&cl->tcp, on_handle_closed);
	if (cl->up_open)
		uv_close((uv_handle_t *)&cl->up, on_handle_closed);
	client_unref(cl); /* the active reference */
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;
	if (status < 0 || srv->stopping)
		return;
	struct client *cl = calloc(1, sizeof *cl);
	if (cl == NULL)
		return;
	cl->srv = srv;
	cl->start_ns = ts_monotonic_ns();
	ts_buf_init(&cl->cipher_in);
	cl->cipher_in.max = 4 * HIGH_WATER;
	uv_tcp_init(srv->loop, &cl->tcp);
	cl->tcp.data = cl;
	cl->refs = 2; /* the handle and the active reference */
	if (uv_accept(listener, (uv_stream_t *)&cl->tcp) != 0) {
		cl->refs = 1;
		uv_close((uv_handle_t *)&cl->tcp, on_handle_closed);
		return;
	}
	struct ts_addr a = { .len = sizeof a.ss };
	int len = (int)sizeof a.ss;
	if (uv_tcp_getpeername(&cl->tcp, (struct sockaddr *)&a.ss, &len) == 0) {
		a.len = (socklen_t)len;
		ts_addr_format(&a, cl->addr);
	} else {
		snprintf(cl->addr, sizeof cl->addr, "?");
	}
	cl->next = srv->clients;
	if (srv->clients != NULL)
		srv->clients->prev = cl;
	srv->clients = cl;
	srv->nclients++;
	uv_tcp_nodelay(&cl->tcp, 1);
	cl->tls = ts_conn_server(srv->cfg);
	if (cl->tls == NULL || ts_conn_set_callbacks(cl->tls, tls_read_cb, tls_write_cb, cl, NULL) < 0) {
		close_client(cl, cl->tls != NULL ? ts_conn_error(cl->tls) : "out of memory");
		return;
	}
	set_client_reading(cl, true);
}

static void on_closed_quietly(uv_handle_t *h)
{
}

/* After a stop: once every connection is gone, close our own handles. */
static void maybe_finish(struct server *srv)
{
	if (!srv->stopping || srv->nclients > 0)
		return;
	if (!uv_is_closing((uv_handle_t *)&srv->grace))
		uv_close((uv_handle_t *)&srv->grace, on_closed_quietly);
	if (!uv_is_closing((uv_handle_t *)&srv->sigint))
		uv_close((uv_handle_t *)&srv->sigint, on_closed_quietly);
	if (!uv_is_closing((uv_handle_t *)&srv->sigterm))
		uv_close((uv_handle_t *)&srv->sigterm, on_closed_quietly);
}

static void on_grace_over(uv_timer_t *t)
{
	struct server *srv = t->data;
	while (srv->clients != NULL)
		close_client(srv->clients, "closed at shutdown");
	maybe_finish(srv);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct server *srv = s->data;
	if (srv->stopping)
		return;
	srv->stopping = true;
	if (!srv->log.json)
		fprintf(srv->log.out, "stopping (%s): %zu connection%s open\n", signum == SIGINT ? "SIGINT" : "SIGTERM",
		        srv->nclients, srv->nclients == 1 ? "" : "s");
	uv_close((uv_handle_t *)&srv->listener, on_closed_quietly);
	/* finish what can be finished: a half-done handshake is dropped, an
	 * open session gets close_notify and its queued bytes */
	struct client *cl = srv->clients, *next;
	for (; cl != NULL; cl = next) {
		next = cl->next;
		if (!ts_conn_handshake_done(cl->tls)) {
			close_client(cl, "closed at shutdown during the handshake");
			continue;
		}
		flush_hold(cl);
		if (cl->closed)
			continue;
		ts_conn_close(cl->tls);
		cl->closing = true;
		cl->tls_done = true;
		set_up_reading(cl, false); /* nothing more may follow close_notify */
		if (cl->to_client_queued == 0)
			close_client(cl, NULL);
	}
	uv_timer_start(&srv->grace, on_grace_over, GRACE_MS, 0);
	maybe_finish(srv);
}

/* "ADDR:PORT" with port 0 allowed. */
static int parse_listen(const char *s, struct ts_addr *out, struct ts_error *err)
{
	char host[TS_HOST_MAX];
	uint16_t port;
	size_t n = strlen(s);
	bool zero = n >= 2 && strcmp(s + n - 2, ":0") == 0;
	char copy[TS_HOST_MAX + 16];
	snprintf(copy, sizeof copy, "%.*s%s", (int)(zero ? n - 2 : n), s, zero ? ":1" : "");
	if (ts_parse_hostport(copy, 8443, host, &port, err) < 0)
		return TS_E_INVALID;
	struct ts_addrlist list;
	int rc = ts_resolve(host, zero ? 1 : port, AF_UNSPEC, 5000, &list, err);
	if (rc < 0)
		return rc;
	*out = list.addr[0];
	if (zero) {
		if (out->ss.ss_family == AF_INET)
			((struct sockaddr_in *)&out->ss)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&out->ss)->sin6_port = 0;
	}
	return TS_OK;
}

enum { OPT_CERT = 256, OPT_KEY, OPT_LISTEN, OPT_ECHO, OPT_FORWARD, OPT_ALPN, OPT_CLIENT_CA, OPT_JSON, OPT_TIMEOUT, OPT_PAD };

static const struct option options[] = {
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "echo", no_argument, NULL, OPT_ECHO },
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "pad", required_argument, NULL, OPT_PAD },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_serve(int argc, char **argv)
{
	const char *certs[TS_KEYPAIRS_MAX], *keys[TS_KEYPAIRS_MAX];
	size_t ncert = 0, nkey = 0;
	const char *listen_at = "127.0.0.1:8443", *forward = NULL, *alpn = NULL, *client_ca = NULL, *pad = NULL;
	bool echo = false, json = false;
	int timeout_ms = TS_DEFAULT_TIMEOUT_MS, opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CERT:
		case OPT_KEY: {
			size_t *n = opt == OPT_CERT ? &ncert : &nkey;
			if (*n >= TS_KEYPAIRS_MAX)
				return cli_usage_error("serve", "at most %d certificates", TS_KEYPAIRS_MAX);
			(opt == OPT_CERT ? certs : keys)[(*n)++] = optarg;
			break;
		}
		case OPT_LISTEN: listen_at = optarg; break;
		case OPT_ECHO: echo = true; break;
		case OPT_FORWARD: forward = optarg; break;
		case OPT_ALPN: alpn = optarg; break;
		case OPT_CLIENT_CA: client_ca = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_PAD: pad = optarg; break;
		case OPT_TIMEOUT:
			if (!cli_parse_seconds(optarg, &timeout_ms))
				return cli_usage_error("serve", "--timeout wants a positive number of seconds, not '%s'", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_OK;
		case ':':
			return cli_usage_error("serve", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (ncert == 0)
		return cli_usage_error("serve", "--cert FILE --key FILE is required");
	if (ncert != nkey)
		return cli_usage_error("serve", "each --cert needs its --key (%zu certificates, %zu keys)", ncert, nkey);
	if (echo == (forward != NULL))
		return cli_usage_error("serve", "choose one of --echo and --forward HOST:PORT");

	struct server srv = { .echo = echo };
	struct ts_error err = { 0 };
	struct ts_addr listen_addr;
	if (pad != NULL) {
		if (forward == NULL)
			return cli_usage_error("serve", "--pad works with --forward (it pads HTTP/1.1 responses)");
		if (ts_pad_policy_parse(pad, &srv.pad, &err) < 0)
			return cli_usage_error("serve", "--pad: %s", err.msg);
		srv.pad_on = true;
	}
	int rc = parse_listen(listen_at, &listen_addr, &err);
	if (rc < 0)
		return rc == TS_E_INVALID ? cli_usage_error("serve", "--listen: %s", err.msg)
		                          : (cli_error("serve", "--listen: %s", err.msg), cli_exit_code(rc));
	if (forward != NULL) {
		char host[TS_HOST_MAX];
		uint16_t port;
		struct ts_addrlist list;
		if (ts_parse_hostport(forward, 0, host, &port, &err) < 0 || port == 0)
			return cli_usage_error("serve", "--forward wants HOST:PORT%s%s", err.msg[0] ? ": " : "", err.msg);
		if ((rc = ts_resolve(host, port, AF_UNSPEC, timeout_ms, &list, &err)) < 0) {
			cli_error("serve", "--forward: %s", err.msg);
			return cli_exit_code(rc);
		}
		srv.forward = list.addr[0];
	}
	if ((srv.cfg = ts_config_new()) == NULL) {
		cli_error("serve", "out of memory");
		return CLI_UNREACHABLE;
	}
	for (size_t i = 0; rc >= 0 && i < ncert; i++)
		rc = ts_config_add_keypair_file(srv.cfg, certs[i], keys[i]);
	if (rc >= 0 && alpn != NULL)
		rc = ts_config_set_alpn(srv.cfg, alpn);
	if (rc >= 0 && client_ca != NULL)
		rc = ts_config_verify_client(srv.cfg, client_ca);
	if (rc >= 0)
		rc = ts_config_set_session_cache(srv.cfg, true);
	/* record padding exists in TLS 1.3 only: a TLS 1.2 client would go unpadded */
	if (rc >= 0 && srv.pad_on && srv.pad.kind != TS_PAD_NONE)
		rc = ts_config_set_protocols(srv.cfg, TS_PROTO_TLS1_3);
	if (rc < 0) {
		int code = rc == TS_E_INVALID ? cli_usage_error("serve", "%s", ts_config_error(srv.cfg))
		                              : (cli_error("serve", "%s", ts_config_error(srv.cfg)), cli_exit_code(rc));
		ts_config_free(srv.cfg);
		return code;
	}

	signal(SIGPIPE, SIG_IGN);
	ts_report_init(&srv.log, stderr, json);
	srv.loop = uv_default_loop();
	uv_tcp_init(srv.loop, &srv.listener);
	srv.listener.data = &srv;
	rc = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&listen_addr.ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv.listener, 511, on_connection);
	if (rc != 0) {
		char a[TS_ADDRSTR_MAX];
		ts_addr_format(&listen_addr, a);
		cli_error("serve", "cannot listen on %s: %s", a, uv_strerror(rc));
		uv_close((uv_handle_t *)&srv.listener, NULL);
		uv_run(srv.loop, UV_RUN_DEFAULT);
		uv_loop_close(srv.loop);
		ts_config_free(srv.cfg);
		return CLI_UNREACHABLE;
	}
	struct ts_addr bound = { .len = sizeof bound.ss };
	int blen = (int)sizeof bound.ss;
	uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&bound.ss, &blen);
	bound.len = (socklen_t)blen;
	char a[TS_ADDRSTR_MAX], mode[TS_ADDRSTR_MAX + 64];
	ts_addr_format(&bound, a);
	if (echo) {
		snprintf(mode, sizeof mode, "echo");
	} else {
		char f[TS_ADDRSTR_MAX];
		ts_addr_format(&srv.forward, f);
		snprintf(mode, sizeof mode, "forward to %s%s%s", f, srv.pad_on ? ", pad " : "",
		         srv.pad_on ? srv.pad.name : "");
	}
	ts_report_serve_listening(&srv.log, a, ncert, mode);

	uv_signal_init(srv.loop, &srv.sigint);
	uv_signal_init(srv.loop, &srv.sigterm);
	uv_timer_init(srv.loop, &srv.grace);
	srv.sigint.data = srv.sigterm.data = srv.grace.data = &srv;
	uv_signal_start(&srv.sigint, on_signal, SIGINT);
	uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	uv_loop_close(srv.loop);
	ts_config_free(srv.cfg);
	if (!json)
		fprintf(stderr, "stopped\n");
	return CLI_OK;
}
