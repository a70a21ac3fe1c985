/* One scanner connection: connect within the target's budget (backing off
 * when refused), run the STARTTLS preamble, send one hand-built hello, and
 * read the answer through the wire codec until the probe has what it came
 * for.  Optionally one more step after ServerHelloDone (Heartbleed, CCS
 * injection).  Every wait is bounded by the target's timeout. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan_internal.h"
#include "tlsscope/registry.h"
#include "tlsscope/starttls.h"

#define READ_CAP (512 * 1024)   /* bytes read from one answer, at most */
#define CONNECT_RETRIES 3

void probe_init(struct probe *p)
{
	memset(p, 0, sizeof *p);
	p->after_result = TS_UNKNOWN;
}

void probe_clear(struct probe *p)
{
	for (size_t i = 0; i < p->n_certs; i++)
		free(p->certs[i]);
	free(p->certs);
	free(p->cert_lens);
	p->certs = NULL;
	p->cert_lens = NULL;
	p->n_certs = 0;
}

static uint64_t now_ms(void)
{
	return ts_monotonic_ns() / 1000000u;
}

/* A close_notify alert right behind the hello: the server sends its answer,
 * then reads the alert and hangs up at once instead of waiting for us to
 * close (a server that serves one connection at a time would otherwise
 * stand idle for every probe until the scanner reads its answer). */
static void add_close_notify(struct ts_buf *b)
{
	if (b->len < 3 || b->oom)
		return;
	const uint8_t alert[] = { TS_CT_ALERT, b->data[1], b->data[2], 0, 2, 1, 0 };
	ts_buf_put(b, alert, sizeof alert);
}

/* Connects (with back-off on refusal), or takes the socket that found the
 * address, and runs the preamble. */
static int open_conn(struct scan_target *t, struct probe *p, int *fd)
{
	struct ts_error err = { 0 };
	int rc = TS_E_CONNECT;
	*fd = t->spare_fd;
	t->spare_fd = -1;
	if (*fd >= 0)
		rc = TS_OK;
	for (int attempt = 0; rc != TS_OK && attempt <= CONNECT_RETRIES; attempt++) {
		if (attempt > 0)
			fiber_sleep_ms(100u << attempt);
		t->connections++;
		size_t which;
		rc = ts_connect(&t->addrs, t->opt->timeout_ms, fd, &which, &err);
		if (rc == TS_OK)
			break;
		if (rc != TS_E_CONNECT)
			break;
		t->refusals++;
	}
	if (rc != TS_OK) {
		snprintf(p->msg, sizeof p->msg, "%s", err.msg);
		return rc;
	}
	if (t->starttls != TS_STARTTLS_NONE) {
		struct ts_starttls_options so = { .host = t->sni != NULL ? t->sni : t->host,
		                                  .timeout_ms = t->opt->timeout_ms };
		rc = ts_starttls_run(*fd, t->starttls, &so, NULL, &err);
		if (rc != TS_OK) {
			snprintf(p->msg, sizeof p->msg, "STARTTLS (%s): %s",
			         ts_starttls_name(t->starttls), err.msg);
			close(*fd);
			*fd = -1;
			return rc;
		}
	}
	return TS_OK;
}

int scan_connect(struct scan_target *t, int *fd, char *msg, size_t size)
{
	struct probe p;
	probe_init(&p);
	fiber_sem_wait(&t->budget);
	int rc = open_conn(t, &p, fd);
	if (rc != TS_OK) {
		snprintf(msg, size, "%s", p.msg);
		fiber_sem_post(&t->budget);
	}
	return rc;
}

void scan_release(struct scan_target *t, int fd)
{
	if (fd >= 0)
		close(fd);
	fiber_sem_post(&t->budget);
}

void probe_keep_cert(struct probe *p, const uint8_t *der, size_t len)
{
	if (p->n_certs >= TS_MAX_CERTS)
		return;
	uint8_t **nc = realloc(p->certs, (p->n_certs + 1) * sizeof *nc);
	if (nc == NULL)
		return;
	p->certs = nc;
	size_t *nl = realloc(p->cert_lens, (p->n_certs + 1) * sizeof *nl);
	if (nl == NULL)
		return;
	p->cert_lens = nl;
	uint8_t *copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		return;
	memcpy(copy, der, len);
	p->certs[p->n_certs] = copy;
	p->cert_lens[p->n_certs] = len;
	p->n_certs++;
}

/* 1: the probe has what it wanted; 0: keep reading; <0: malformed. */
static int on_event(struct probe *p, const struct ts_tls_event *ev, bool *hello)
{
	struct ts_error err = { 0 };
	struct ts_reader rd;
	switch (ev->kind) {
	case TS_EV_SSL2:
		if (ev->hs_type == TS_SSL2_MT_SERVER_HELLO) {
			struct ts_ssl2_server_hello *sh = calloc(1, sizeof *sh);
			if (sh == NULL)
				return -1;
			ts_reader_init(&rd, ev->body, ev->body_len);
			if (ts_parse_ssl2_server_hello(&rd, sh, &err) != 0) {
				snprintf(p->msg, sizeof p->msg, "SSLv2 SERVER-HELLO: %s", err.msg);
				free(sh);
				return -1;
			}
			p->outcome = P_SSL2;
			p->version = TS_SSL2;
			for (size_t i = 0; i < sh->n_specs && p->n_ssl2_specs < 16; i++)
				p->ssl2_specs[p->n_ssl2_specs++] = sh->specs[i];
			if (sh->certificate.len > 0)
				probe_keep_cert(p, sh->certificate.p, sh->certificate.len);
			free(sh);
			return 1;
		}
		snprintf(p->msg, sizeof p->msg, "an SSLv2 message of type %d instead of SERVER-HELLO",
		         ev->hs_type - 0x100);
		return -1;
	case TS_EV_ALERT:
		p->alert = ev->alert;
		if (*hello) {
			p->alert_after_hello = true;
		} else {
			p->outcome = P_ALERT;
			snprintf(p->msg, sizeof p->msg, "alert %s", ts_alert_name(ev->alert.description));
		}
		return 1;
	case TS_EV_RECORD:
		if (*hello && ev->encrypted)
			return 1;
		if (!*hello && ev->content_type == TS_CT_APPLICATION_DATA) {
			snprintf(p->msg, sizeof p->msg, "application data before any ServerHello");
			return -1;
		}
		return 0;
	case TS_EV_HANDSHAKE:
		break;
	default:
		return 0;
	}
	ts_reader_init(&rd, ev->body, ev->body_len);
	if (ev->hs_type == TS_HS_SERVER_HELLO || ev->hs_type == TS_HS_HELLO_RETRY_REQUEST) {
		if (*hello)
			return 0;
		struct ts_server_hello *sh = calloc(1, sizeof *sh);
		if (sh == NULL)
			return -1;
		if (ts_parse_server_hello(&rd, sh, &err) != 0) {
			snprintf(p->msg, sizeof p->msg, "ServerHello: %s", err.msg);
			free(sh);
			return -1;
		}
		*hello = true;
		p->outcome = P_HELLO;
		p->version = sh->selected_version;
		p->suite = sh->suite;
		p->group = sh->group;
		p->compression = sh->compression;
		p->is_hrr = sh->is_hrr;
		p->has_reneg = sh->has_renegotiation_info;
		p->has_ticket = sh->has_session_ticket;
		p->has_status = sh->has_status_request;
		p->has_heartbeat = sh->has_heartbeat;
		p->session_id_len = sh->session_id.len;
		if (sh->has_alpn && sh->alpn.len > 0 && sh->alpn.len < sizeof p->alpn) {
			memcpy(p->alpn, sh->alpn.p, sh->alpn.len);
			p->alpn[sh->alpn.len] = '\0';
		}
		free(sh);
		if (p->stop == STOP_HELLO || p->is_hrr || p->version >= TS_TLS13 ||
		    p->version < TS_SSL3)
			return 1;
		return 0;
	}
	if (!*hello)
		return 0;
	switch (ev->hs_type) {
	case TS_HS_CERTIFICATE: {
		struct ts_certificate_msg *cm = calloc(1, sizeof *cm);
		if (cm == NULL)
			return -1;
		if (ts_parse_certificate(&rd, false, cm, &err) == 0) {
			for (size_t i = 0; i < cm->n_certs; i++)
				probe_keep_cert(p, cm->certs[i].p, cm->certs[i].len);
		} else {
			snprintf(p->msg, sizeof p->msg, "Certificate: %s", err.msg);
		}
		free(cm);
		return 0;
	}
	case TS_HS_SERVER_KEY_EXCHANGE: {
		struct ts_server_key_exchange ske;
		memset(&ske, 0, sizeof ske);
		if (ts_parse_server_key_exchange(&rd, p->version, p->suite, &ske, &err) == 0) {
			p->have_ske = true;
			p->ske.kind = (int)ske.kind;
			p->ske.group = ske.group;
			p->ske.dh_bits = ske.dh_bits;
			p->ske.has_sigalg = ske.has_sigalg;
			p->ske.sigalg = ske.sigalg;
		} else {
			snprintf(p->msg, sizeof p->msg, "ServerKeyExchange: %s", err.msg);
		}
		return 0;
	}
	case TS_HS_CERTIFICATE_STATUS:
		p->cert_status = true;
		return 0;
	case TS_HS_SERVER_HELLO_DONE:
		p->hello_done = true;
		return 1;
	default:
		return 0;
	}
}

/* After ServerHelloDone: the first byte of the server's next record, or a
 * code (TS_E_TIMEOUT, TS_E_CLOSED, TS_E_CONNECT); *len gets its length (0
 * when its header did not come whole), and for an alert *alert gets its
 * description (-1 when it did not come whole). */
static int next_record(int fd, int wait_ms, int *alert, size_t *len)
{
	uint8_t b[7];
	size_t got = 0;
	struct ts_error err = { 0 };
	*alert = -1;
	*len = 0;
	while (got < sizeof b && (got < 5 || b[0] == TS_CT_ALERT)) {
		ssize_t n = ts_read_timeout(fd, b + got, sizeof b - got, wait_ms, &err);
		if (n < 0 && got == 0)
			return (int)n;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (got >= 5)
		*len = ((size_t)b[3] << 8) | b[4];
	if (b[0] == TS_CT_ALERT && got == sizeof b)
		*alert = b[6];
	return b[0];
}

static int next_record_type(int fd, int wait_ms)
{
	int alert;
	size_t len;
	return next_record(fd, wait_ms, &alert, &len);
}

/* After an early ChangeCipherSpec met silence: a vulnerable server now
 * decrypts with keys from an empty master secret, so a record of ours fails
 * its MAC (bad_record_mac or decryption_failed); a server that merely
 * stalls stays silent, and one that ignored the CCS parses the record as
 * plaintext and alerts about that. */
static void ccs_control(struct probe *p, int fd, int timeout_ms, int wait)
{
	uint8_t rec[5 + 64] = { TS_CT_HANDSHAKE, (uint8_t)(p->version >> 8), (uint8_t)p->version, 0, 64 };
	struct ts_error err = { 0 };
	memset(rec + 5, 0x5a, 64);
	if (ts_write_all(fd, rec, sizeof rec, timeout_ms, &err) != 0)
		return;
	int alert;
	size_t len;
	int ty = next_record(fd, wait, &alert, &len);
	if (ty == TS_CT_ALERT && (alert == 20 || alert == 21)) {
		p->after_result = TS_YES;
		snprintf(p->msg, sizeof p->msg, "took a ChangeCipherSpec before the key exchange without an "
		         "alert, then failed to decrypt the next record (alert %s)", ts_alert_name((uint8_t)alert));
	} else if (ty == TS_CT_ALERT) {
		p->after_result = TS_NO;
	} else if (ty == TS_E_TIMEOUT) {
		snprintf(p->msg, sizeof p->msg, "the server answered neither an early ChangeCipherSpec nor "
		         "the record after it (it stalls): not known");
	} else {
		snprintf(p->msg, sizeof p->msg, "the server took an early ChangeCipherSpec without an alert, "
		         "then %s: not known", ty == TS_E_CLOSED ? "closed at the next record"
		         : "answered the next record with a record that is not an alert");
	}
}

static void run_after(struct probe *p, int fd, const struct scan_target *t)
{
	struct ts_error err = { 0 };
	uint16_t v = p->version;
	int wait = t->opt->timeout_ms < 2000 ? t->opt->timeout_ms : 2000;
	if (p->after == AFTER_HEARTBLEED) {
		if (!p->has_heartbeat) {
			p->after_result = TS_NO;
			return;
		}
		/* A heartbeat request whose payload_length (16384) claims far more
		 * than the zero bytes that follow, then a well-formed one (1 byte of
		 * payload, 16 of padding): a patched server drops the first and
		 * answers the second at once (a short record), a vulnerable one
		 * answers the first with 16 KB of its memory. */
		uint8_t hb[] = { TS_CT_HEARTBEAT, (uint8_t)(v >> 8), (uint8_t)v, 0, 3, 1, 0x40, 0x00,
		                 TS_CT_HEARTBEAT, (uint8_t)(v >> 8), (uint8_t)v, 0, 20, 1, 0, 1, 0x42,
		                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
		if (ts_write_all(fd, hb, sizeof hb, t->opt->timeout_ms, &err) != 0)
			return;
		int alert;
		size_t len;
		int ty = next_record(fd, wait, &alert, &len);
		bool leak = ty == TS_CT_HEARTBEAT && len > 3 + 1 + 64;
		p->after_result = leak ? TS_YES : TS_NO;
		if (leak)
			snprintf(p->msg, sizeof p->msg,
			         "answered a heartbeat that claimed 16384 bytes and carried none");
		return;
	}
	if (p->after == AFTER_CCS) {
		/* ChangeCipherSpec before any key exchange: a patched server alerts. */
		uint8_t ccs[] = { TS_CT_CHANGE_CIPHER_SPEC, (uint8_t)(v >> 8), (uint8_t)v, 0, 1, 1 };
		if (ts_write_all(fd, ccs, sizeof ccs, t->opt->timeout_ms, &err) != 0)
			return;
		int ty = next_record_type(fd, wait);
		if (ty == TS_CT_ALERT || ty == TS_E_CLOSED || ty == TS_E_CONNECT)
			p->after_result = TS_NO;
		else if (ty == TS_E_TIMEOUT)
			ccs_control(p, fd, t->opt->timeout_ms, wait);
	}
}

/* A server that serves one connection at a time answers a hello only once
 * it has let go of the connection before: that one has then a close (or an
 * alert) waiting to be read.  So a hello answered while an earlier answered
 * connection has nothing waiting shows connections served side by side. */
void scan_answered(struct scan_target *t, int fd)
{
	size_t n = t->n_hellos_open;
	if (n > 0 && !t->side_by_side) {
		struct pollfd held[sizeof t->hellos_open / sizeof t->hellos_open[0]];
		for (size_t i = 0; i < n; i++)
			held[i] = (struct pollfd){ .fd = t->hellos_open[i], .events = POLLIN };
		int waiting = poll(held, n, 0);
		if (waiting >= 0 && (size_t)waiting < n) {
			t->side_by_side = true;
			fiber_sem_post(&t->shown);
		}
	}
	if (n < sizeof t->hellos_open / sizeof t->hellos_open[0])
		t->hellos_open[t->n_hellos_open++] = fd;
}

void scan_forget(struct scan_target *t, int fd)
{
	for (size_t i = 0; i < t->n_hellos_open; i++)
		if (t->hellos_open[i] == fd) {
			t->hellos_open[i] = t->hellos_open[--t->n_hellos_open];
			return;
		}
}

enum probe_outcome probe_run(struct scan_target *t, struct probe *p)
{
	struct ts_error err = { 0 };
	struct ts_buf out;
	ts_buf_init(&out);
	if (p->spec.server_name == NULL && p->spec.version != TS_SSL2)
		p->spec.server_name = t->sni;
	if (ts_build_client_hello(&p->spec, &out, &err) != 0) {
		p->outcome = P_ERROR;
		snprintf(p->msg, sizeof p->msg, "building the hello: %s", err.msg);
		ts_buf_clear(&out);
		return p->outcome;
	}
	if (p->after == AFTER_NONE && p->spec.version != TS_SSL2)
		add_close_notify(&out);
	fiber_sem_wait(&t->budget);
	int fd = -1;
	bool counted = false;   /* scan_answered has seen fd */
	if (open_conn(t, p, &fd) != TS_OK) {
		p->outcome = P_CONNECT;
		goto done;
	}
	if (ts_write_all(fd, out.data, out.len, t->opt->timeout_ms, &err) != 0) {
		p->outcome = P_CLOSED;
		snprintf(p->msg, sizeof p->msg, "sending the hello: %s", err.msg);
		goto done;
	}
	struct ts_tls_stream st;
	ts_tls_stream_init(&st, NULL);
	bool hello = false;
	size_t total = 0;
	uint64_t deadline = now_ms() + (uint64_t)t->opt->timeout_ms;
	uint8_t *buf = malloc(16384);
	int fin = 0;
	while (buf != NULL && fin == 0) {
		struct ts_tls_event ev;
		int rc;
		while ((rc = ts_tls_stream_next(&st, &ev)) == 1) {
			fin = on_event(p, &ev, &hello);
			if (fin != 0)
				break;
		}
		if (hello && !counted) {
			scan_answered(t, fd);
			counted = true;
		}
		if (fin != 0)
			break;
		if (rc != TS_E_NEED_MORE) {
			fin = -1;
			snprintf(p->msg, sizeof p->msg, "%s", st.err.msg);
			break;
		}
		uint64_t now = now_ms();
		if (now >= deadline || total >= READ_CAP) {
			rc = total >= READ_CAP ? TS_E_NOMEM : TS_E_TIMEOUT;
		} else {
			ssize_t n = ts_read_timeout(fd, buf, 16384, (int)(deadline - now), &err);
			if (n > 0) {
				total += (size_t)n;
				if (ts_tls_stream_feed(&st, buf, (size_t)n) != 0) {
					fin = -1;
					snprintf(p->msg, sizeof p->msg, "the server sent more than %zu bytes "
					         "without completing a message", st.lim.max_buffered);
					break;
				}
				continue;
			}
			rc = (int)n;
		}
		/* the wait ended without what we wanted */
		if (!hello) {
			p->outcome = rc == TS_E_TIMEOUT ? P_TIMEOUT : P_CLOSED;
			if (rc == TS_E_NOMEM)
				p->outcome = P_MALFORMED;
			snprintf(p->msg, sizeof p->msg, "%s",
			         rc == TS_E_TIMEOUT ? "no answer in time"
			         : rc == TS_E_NOMEM ? "too many bytes without an answer"
			         : total > 0 ? "closed in the middle of a record" : err.msg);
		}
		fin = 2;
	}
	if (fin < 0 && !hello)
		p->outcome = P_MALFORMED;
	if (p->outcome == P_ALERT) {
		t->alerts++;
		t->last_alert = p->alert.description;
	}
	ts_tls_stream_clear(&st);
	free(buf);
	if (fin == 1 && hello && p->hello_done && p->after != AFTER_NONE)
		run_after(p, fd, t);
done:
	if ((p->outcome == P_CONNECT || p->outcome == P_MALFORMED) && t->first_error[0] == '\0')
		snprintf(t->first_error, sizeof t->first_error, "%.500s", p->msg);
	scan_forget(t, fd);
	if (fd >= 0)
		close(fd);
	fiber_sem_post(&t->budget);
	ts_buf_clear(&out);
	return p->outcome;
}
