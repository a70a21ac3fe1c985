/* ts_parse_server_hello (ServerHello and HelloRetryRequest), then JA3S. */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/fingerprint.h"
#include "tlsscope/wire.h"

static struct ts_server_hello sh;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_reader rd;
	struct ts_error err;
	char buf[2048];
	ts_reader_init(&rd, data, size);
	if (ts_parse_server_hello(&rd, &sh, &err) == 0) {
		ts_ja3s_string(&sh, buf, sizeof buf);
		ts_ja3s(&sh, buf);
	}
	return 0;
}
