/* tlsscope: output of `cert` (show, verify, ca/intermediate/issue), and the
 * JSON form of one certificate that other commands (probe, connect) reuse.
 * Field names are documented in docs/json.md. */
#ifndef TLSSCOPE_REPORT_CERT_H
#define TLSSCOPE_REPORT_CERT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/cert.h"
#include "tlsscope/report.h"

/* One certificate as a JSON object (new reference, owned by the caller):
 * subject, issuer, san_dns, san_ip, not_before, not_after, days_left,
 * key_type, key_bits, key_curve, signature_algorithm, sha256, sha1, is_ca,
 * self_signed.  now is Unix seconds, for days_left. */
json_t *ts_cert_info_json(const struct ts_cert_info *info, int64_t now);

/* Whole days from now until t, rounded down (negative once t has passed). */
int64_t ts_cert_days_left(int64_t t, int64_t now);

/* `cert show`: certificate index (0-based) of count in file, as an aligned
 * text block or one JSON line (with "file" and "index" added). */
void ts_report_cert(struct ts_report *r, const char *file, size_t index, size_t count,
                    const struct ts_cert_info *info, int64_t now);

/* `cert verify`: the verdict, the reason, and the chain that was built. */
void ts_report_cert_verify(struct ts_report *r, const char *file, const char *name,
                           const struct ts_verify_result *res, int64_t now);

/* `cert ca/intermediate/issue`: what was made and where.  chain_path may be NULL. */
void ts_report_cert_made(struct ts_report *r, const char *what, const char *cert_path,
                         const char *key_path, const char *chain_path,
                         const struct ts_cert_info *info, int64_t now);

#endif
