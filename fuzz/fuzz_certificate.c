/* ts_parse_certificate; the first byte chooses the TLS 1.3 layout. */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/wire.h"

static struct ts_certificate_msg cm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct ts_reader rd;
	struct ts_error err;
	ts_reader_init(&rd, data + 1, size - 1);
	ts_parse_certificate(&rd, data[0] & 1, &cm, &err);
	return 0;
}
