/* ts_parse_client_hello on a handshake body, then every fingerprint form. */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/fingerprint.h"
#include "tlsscope/wire.h"

static struct ts_client_hello ch;
static char buf[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_reader rd;
	struct ts_error err;
	ts_reader_init(&rd, data, size);
	ts_parse_client_hello(&rd, &ch, &err);
	/* fingerprints must hold for partially filled hellos too */
	ts_ja3_string(&ch, buf, sizeof buf);
	ts_ja3(&ch, buf);
	for (int form = TS_JA4; form <= TS_JA4_RO; form++)
		ts_ja4_string(&ch, 't', (enum ts_ja4_form)form, buf, sizeof buf);
	ts_ja4_string(&ch, 't', TS_JA4_R, buf, 40);
	return 0;
}
