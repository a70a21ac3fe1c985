/* Private sharing between cert.c and conn.c: verification from OpenSSL objects
 * (a live handshake's chain) with the same rules and messages as
 * ts_cert_verify_der. */
#ifndef TLSSCOPE_CERT_INTERNAL_H
#define TLSSCOPE_CERT_INTERNAL_H

#include <openssl/x509.h>

#include "tlsscope/cert.h"

/* The trust store (owned by trust). */
X509_STORE *ts_trust_store(struct ts_trust *trust);

/* Another handle on trust's store, which is shared, not copied (verification
 * only reads it); each handle is freed with ts_trust_free.  NULL when out of
 * memory. */
struct ts_trust *ts_trust_share(struct ts_trust *trust);

/* leaf and untrusted as the peer sent them (untrusted may be NULL).  Same
 * return values and result as ts_cert_verify_der. */
int ts_cert_verify_x509(struct ts_trust *trust, X509 *leaf, STACK_OF(X509) *untrusted,
                        const struct ts_verify_options *opt, struct ts_verify_result *res,
                        struct ts_error *err);

/* Fills info from an X509 (no ownership taken). */
int ts_cert_info_from_x509(X509 *x, struct ts_cert_info *info, struct ts_error *err);

#endif
