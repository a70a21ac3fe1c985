/* ts_parse_server_key_exchange; the first 3 bytes choose the version and,
 * through the registry, the cipher suite (and so the layout). */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/registry.h"
#include "tlsscope/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t n;
	const struct ts_suite_info *suites = ts_suites(&n);
	uint16_t version = (uint16_t)(TS_SSL3 + (data[0] & 3));
	uint16_t suite = suites[((size_t)data[1] << 8 | data[2]) % n].code;
	struct ts_reader rd;
	struct ts_error err;
	struct ts_server_key_exchange ske;
	ts_reader_init(&rd, data + 3, size - 3);
	ts_parse_server_key_exchange(&rd, version, suite, &ske, &err);
	return 0;
}
