/* tlsscope: client and server fingerprints of TLS hellos — JA3, JA3S, JA4.
 *
 * JA3 (Salesforce): "version,ciphers,extensions,groups,point_formats" with
 *   decimal values joined by '-', GREASE removed; the fingerprint is the MD5
 *   of that string in lowercase hex.  JA3S: "version,cipher,extensions".
 * JA4 (FoxIO, BSD-3-Clause; the other JA4+ methods are out of scope):
 *   a_b_c, e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1", and its forms:
 *   JA4_r (raw, sorted), JA4_o (hashed, original order), JA4_ro (raw, original).
 * All functions work on parsed hellos (wire.h) and allocate nothing. */
#ifndef TLSSCOPE_FINGERPRINT_H
#define TLSSCOPE_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include "tlsscope/wire.h"

#define TS_JA3_HASH_LEN 33          /* 32 hex digits + NUL */
#define TS_JA4_LEN 37               /* "t13d1516h2_8daaf6152771_e5627efa2ab1" + NUL */

/* The JA3 string into out (outsz bytes, NUL-terminated).  Returns its length,
 * or TS_E_NOMEM when outsz is too small (out then holds "").  A hello with
 * TS_MAX_* entries needs about 40 KiB; a real one well under 1 KiB. */
int ts_ja3_string(const struct ts_client_hello *ch, char *out, size_t outsz);
/* The JA3 MD5 hash (lowercase hex). Returns 0 or a negative code. */
int ts_ja3(const struct ts_client_hello *ch, char hash[TS_JA3_HASH_LEN]);
int ts_ja3s_string(const struct ts_server_hello *sh, char *out, size_t outsz);
int ts_ja3s(const struct ts_server_hello *sh, char hash[TS_JA3_HASH_LEN]);

enum ts_ja4_form {
	TS_JA4 = 0,        /* sorted, hashed (the fingerprint) */
	TS_JA4_R = 1,      /* sorted, raw */
	TS_JA4_O = 2,      /* original order, hashed */
	TS_JA4_RO = 3,     /* original order, raw */
};

/* Transport letter for the a part: 't' TCP, 'q' QUIC, 'd' DTLS. */
/* The JA4 fingerprint of the chosen form into out.  Returns its length or
 * TS_E_NOMEM (out too small; TS_JA4_LEN is enough for hashed forms). */
int ts_ja4_string(const struct ts_client_hello *ch, char transport, enum ts_ja4_form form,
                  char *out, size_t outsz);
/* Shorthand: the TCP JA4 (form TS_JA4). */
int ts_ja4(const struct ts_client_hello *ch, char out[TS_JA4_LEN]);

#endif
