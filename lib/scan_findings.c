/* Findings: facts the scan gathered, judged.  Each has a stable id, a
 * severity and one sentence naming what was seen. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlsscope/registry.h"
#include "tlsscope/scan.h"
#include "tlsscope/wire.h"

static void add(struct ts_scan_result *r, const char *id, enum ts_severity sev, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
static void add(struct ts_scan_result *r, const char *id, enum ts_severity sev, const char *fmt,
                ...)
{
	if (r->n_findings >= TS_SCAN_MAX_FINDINGS)
		return;
	struct ts_scan_finding *f = &r->findings[r->n_findings++];
	f->id = id;
	f->severity = sev;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof f->text, fmt, ap);
	va_end(ap);
}

/* Up to three accepted suite names matching pred, "A, B, C and 4 more". */
struct suite_match {
	char names[160];
	size_t count;
};

static void collect(const struct ts_scan_result *r, int vmin, int vmax,
                    bool (*pred)(const struct ts_suite_info *), struct suite_match *m)
{
	uint16_t seen[TS_SCAN_MAX_SUITES];
	size_t n_seen = 0, shown = 0;
	memset(m, 0, sizeof *m);
	for (int v = vmin; v <= vmax; v++)
		for (size_t i = 0; i < r->n_suites[v]; i++) {
			uint16_t c = r->suites[v][i];
			const struct ts_suite_info *s = ts_suite_by_code(c);
			bool dup = false;
			for (size_t k = 0; k < n_seen; k++)
				dup |= seen[k] == c;
			if (s == NULL || dup || !pred(s))
				continue;
			if (n_seen < TS_SCAN_MAX_SUITES)
				seen[n_seen++] = c;
			m->count++;
			if (shown < 3) {
				size_t len = strlen(m->names);
				snprintf(m->names + len, sizeof m->names - len, "%s%s", shown ? ", " : "",
				         s->name);
				shown++;
			}
		}
	if (m->count > shown) {
		size_t len = strlen(m->names);
		snprintf(m->names + len, sizeof m->names - len, " and %zu more", m->count - shown);
	}
}

static bool is_null(const struct ts_suite_info *s) { return s->null_cipher; }
static bool is_anon(const struct ts_suite_info *s) { return s->anonymous; }
static bool is_export(const struct ts_suite_info *s) { return s->export_grade; }
static bool is_rc4(const struct ts_suite_info *s) { return strncmp(s->cipher, "RC4", 3) == 0; }
static bool is_64bit_block(const struct ts_suite_info *s)
{
	return strstr(s->cipher, "DES") != NULL || strncmp(s->cipher, "IDEA", 4) == 0 ||
	       strncmp(s->cipher, "RC2", 3) == 0;
}
static bool is_cbc(const struct ts_suite_info *s) { return strstr(s->cipher, "CBC") != NULL; }
static bool no_fs(const struct ts_suite_info *s)
{
	return !s->forward_secret && !s->null_cipher && !s->anonymous;
}

void ts_scan_findings(struct ts_scan_result *r, int64_t now)
{
	r->n_findings = 0;
	if (r->protocols[TS_SV_SSL2] == TS_YES)
		add(r, "sslv2", TS_SEV_CRITICAL,
		    "SSLv2 is enabled: it is broken beyond repair (DROWN) and must be turned off.");
	if (r->protocols[TS_SV_SSL3] == TS_YES)
		add(r, "sslv3", TS_SEV_HIGH,
		    "SSLv3 is enabled: it is open to POODLE and must be turned off.");
	if (r->protocols[TS_SV_TLS10] == TS_YES)
		add(r, "tls1_0", TS_SEV_MEDIUM, "TLS 1.0 is enabled: it is deprecated (RFC 8996).");
	if (r->protocols[TS_SV_TLS11] == TS_YES)
		add(r, "tls1_1", TS_SEV_MEDIUM, "TLS 1.1 is enabled: it is deprecated (RFC 8996).");

	struct suite_match m;
	collect(r, TS_SV_SSL3, TS_SV_TLS13, is_null, &m);
	if (m.count > 0)
		add(r, "null_cipher", TS_SEV_HIGH,
		    "The server accepts suites that do not encrypt at all: %s.", m.names);
	collect(r, TS_SV_SSL3, TS_SV_TLS13, is_anon, &m);
	if (m.count > 0)
		add(r, "anonymous_cipher", TS_SEV_HIGH,
		    "The server accepts anonymous suites that let anyone impersonate it: %s.", m.names);
	collect(r, TS_SV_SSL3, TS_SV_TLS13, is_export, &m);
	if (m.count > 0 || r->n_ssl2_specs > 0) {
		bool ssl2_export = false;
		for (size_t i = 0; i < r->n_ssl2_specs; i++)
			ssl2_export |= r->ssl2_specs[i] == 0x020080 || r->ssl2_specs[i] == 0x040080;
		if (m.count > 0 || ssl2_export)
			add(r, "export_cipher", TS_SEV_CRITICAL,
			    "The server accepts export-grade suites breakable in hours (FREAK, Logjam): %s.",
			    m.count > 0 ? m.names : "SSLv2 export ciphers");
	}
	collect(r, TS_SV_SSL3, TS_SV_TLS13, is_rc4, &m);
	if (m.count > 0)
		add(r, "rc4", TS_SEV_HIGH, "The server accepts RC4 suites (RFC 7465 forbids them): %s.",
		    m.names);
	collect(r, TS_SV_SSL3, TS_SV_TLS13, is_64bit_block, &m);
	if (m.count > 0)
		add(r, "sweet32", TS_SEV_MEDIUM,
		    "The server accepts 64-bit block ciphers (DES, 3DES, IDEA, RC2) open to SWEET32: %s.",
		    m.names);
	collect(r, TS_SV_SSL3, TS_SV_TLS10, is_cbc, &m);
	if (m.count > 0)
		add(r, "beast", TS_SEV_LOW,
		    "The server accepts CBC suites with TLS 1.0 or SSLv3, open to BEAST: %s.", m.names);
	collect(r, TS_SV_TLS10, TS_SV_TLS12, is_cbc, &m);
	if (m.count > 0)
		add(r, "lucky13", TS_SEV_LOW,
		    "The server accepts CBC suites, whose MAC-then-encrypt padding has leaked "
		    "plaintext through timing (Lucky Thirteen): %s.", m.names);
	for (int v = TS_SV_TLS12; v >= TS_SV_SSL3; v--)
		if (r->server_order[v] == TS_NO) {
			add(r, "client_order", TS_SEV_LOW,
			    "The server takes the client's first choice of suite (%s and below), so a "
			    "client that prefers a weak suite gets it.", ts_scan_version_name((enum ts_scan_version)v));
			break;
		}
	collect(r, TS_SV_SSL3, TS_SV_TLS12, no_fs, &m);
	if (m.count > 0) {
		size_t total = 0;
		struct suite_match all;
		collect(r, TS_SV_SSL3, TS_SV_TLS13, is_cbc, &all);
		for (int v = TS_SV_SSL3; v <= TS_SV_TLS13; v++)
			total += r->n_suites[v];
		bool preferred_no_fs = false;
		for (int v = TS_SV_TLS13; v >= TS_SV_SSL3; v--)
			if (r->n_suites[v] > 0) {
				const struct ts_suite_info *s = ts_suite_by_code(r->suites[v][0]);
				preferred_no_fs = s != NULL && !s->forward_secret;
				break;
			}
		add(r, "no_forward_secrecy", preferred_no_fs ? TS_SEV_MEDIUM : TS_SEV_LOW,
		    "%s suites without forward secrecy: %s.",
		    preferred_no_fs ? "The server prefers" : "The server also accepts", m.names);
		(void)total;
	}
	if (r->dh_bits > 0 && r->dh_bits < 2048)
		add(r, "weak_dh", r->dh_bits < 1024 ? TS_SEV_HIGH : TS_SEV_MEDIUM,
		    "The DHE group has only %d bits (Logjam: at least 2048 are needed).", r->dh_bits);

	for (size_t i = 0; i < r->n_certs; i++) {
		const struct ts_scan_cert *c = &r->certs[i];
		const char *subj = c->leaf.subject != NULL ? c->leaf.subject : "?";
		if (strcmp(c->leaf.key_type, "RSA") == 0 && c->leaf.key_bits > 0 &&
		    c->leaf.key_bits < 2048)
			add(r, "weak_rsa_key", TS_SEV_HIGH,
			    "The %s certificate '%s' has an RSA key of only %d bits (2048 needed).",
			    c->auth, subj, c->leaf.key_bits);
		if (strcasestr(c->leaf.signature_algorithm, "sha1") != NULL ||
		    strcasestr(c->leaf.signature_algorithm, "md5") != NULL)
			add(r, "sha1_signature", TS_SEV_MEDIUM,
			    "The %s certificate '%s' is signed with %s, which can be forged.", c->auth, subj,
			    c->leaf.signature_algorithm);
		char when[32];
		if (c->expired) {
			ts_cert_format_time(c->leaf.not_after, when, sizeof when);
			add(r, "cert_expired", TS_SEV_HIGH, "The %s certificate '%s' expired on %s.", c->auth,
			    subj, when);
		}
		if (c->not_yet_valid) {
			ts_cert_format_time(c->leaf.not_before, when, sizeof when);
			add(r, "cert_not_yet_valid", TS_SEV_HIGH,
			    "The %s certificate '%s' is not valid before %s.", c->auth, subj, when);
		}
		if (!c->name_match)
			add(r, "cert_name_mismatch", TS_SEV_HIGH,
			    "The %s certificate '%s' does not match the name scanned%s%s.", c->auth, subj,
			    c->verify_error[0] && strstr(c->verify_error, "name") ? ": " : "",
			    c->verify_error[0] && strstr(c->verify_error, "name") ? c->verify_error : "");
		if (!c->trusted)
			add(r, "cert_untrusted", TS_SEV_HIGH, "The %s certificate '%s' is not trusted: %s.",
			    c->auth, subj, c->verify_error[0] ? c->verify_error : "no chain to a trusted root");
	}
	(void)now;

	if (r->fallback_scsv == TS_NO)
		add(r, "no_fallback_scsv", TS_SEV_MEDIUM,
		    "The server ignores TLS_FALLBACK_SCSV, so an attacker can force an older version.");
	if (r->secure_renegotiation == TS_NO)
		add(r, "insecure_renegotiation", TS_SEV_HIGH,
		    "The server does not support secure renegotiation (RFC 5746).");
	if (r->client_renegotiation == TS_YES && r->secure_renegotiation == TS_NO)
		add(r, "insecure_client_renegotiation", TS_SEV_HIGH,
		    "The server lets clients renegotiate without secure renegotiation, so an attacker "
		    "in the middle can prefix the client's requests with its own (CVE-2009-3555).");
	else if (r->client_renegotiation == TS_YES)
		add(r, "client_renegotiation", TS_SEV_MEDIUM,
		    "The server lets clients start a renegotiation, so each connection can make it "
		    "redo expensive handshakes (denial of service).");
	if (r->early_data == TS_YES)
		add(r, "early_data", TS_SEV_LOW,
		    "The server accepts TLS 1.3 early data (0-RTT), which an attacker can replay; "
		    "its application must treat early requests as replayable.");
	if (r->compression == TS_YES)
		add(r, "compression", TS_SEV_HIGH,
		    "The server accepts TLS compression, which leaks secrets (CRIME).");
	if (r->heartbleed == TS_YES)
		add(r, "heartbleed", TS_SEV_CRITICAL,
		    "The server is vulnerable to Heartbleed (CVE-2014-0160): it echoes memory.");
	if (r->ccs_injection == TS_YES)
		add(r, "ccs_injection", TS_SEV_HIGH,
		    "The server takes an early ChangeCipherSpec (CCS injection, CVE-2014-0224).");
	if (r->hsts == TS_NO)
		add(r, "no_hsts", TS_SEV_LOW,
		    "The HTTPS server sends no Strict-Transport-Security header, so browsers may "
		    "try plain HTTP first.");
	if (r->ocsp_stapling == TS_NO)
		add(r, "no_ocsp_stapling", TS_SEV_INFO, "The server does not staple an OCSP response.");
}

int ts_scan_worst(const struct ts_scan_result *r)
{
	int worst = -1;
	for (size_t i = 0; i < r->n_findings; i++)
		if ((int)r->findings[i].severity > worst)
			worst = (int)r->findings[i].severity;
	return worst;
}
