/* Fuzz target: certificate bytes as a server would send them -> info, and a
 * verification verdict with its message; short inputs also as a time string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/cert.h"

static struct ts_trust *trust;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_error err = { 0 };
	if (trust == NULL && ts_trust_new(NULL, &trust, &err) != TS_OK)
		abort();
	struct ts_cert_info info;
	if (ts_cert_info_from_der(data, size, &info, &err) == TS_OK) {
		if (info.subject == NULL || info.issuer == NULL || strlen(info.sha256) != 64)
			abort();
		ts_cert_info_clear(&info);
	}
	const uint8_t *ders[1] = { data };
	size_t lens[1] = { size };
	struct ts_verify_options opt = { .name = size % 2 ? "www.example.test" : "127.0.0.1" };
	struct ts_verify_result res;
	int rc = ts_cert_verify_der(trust, ders, lens, 1, &opt, &res, &err);
	if (rc == TS_OK && res.error[0] != '\0')
		abort();
	if (rc == TS_E_VERIFY && res.error[0] == '\0')
		abort();
	ts_verify_result_clear(&res);
	if (size < 64) {
		char text[64];
		memcpy(text, data, size);
		text[size] = '\0';
		int64_t t;
		ts_cert_parse_time(text, 1735689600, &t, &err);
	}
	return 0;
}
