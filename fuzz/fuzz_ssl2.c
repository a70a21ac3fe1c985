/* The SSLv2 parsers on a record body: CLIENT-HELLO and SERVER-HELLO. */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/wire.h"

static struct ts_ssl2_client_hello ch;
static struct ts_ssl2_server_hello sh;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_reader rd;
	struct ts_error err;
	ts_reader_init(&rd, data, size);
	ts_parse_ssl2_client_hello(&rd, &ch, &err);
	ts_reader_init(&rd, data, size);
	ts_parse_ssl2_server_hello(&rd, &sh, &err);
	ts_tls_looks_like(data, size);
	return 0;
}
