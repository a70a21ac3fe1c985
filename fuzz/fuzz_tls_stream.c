/* The incremental stream parser, fed in chunks chosen by the input, with every
 * message it yields handed to its parser and the hellos fingerprinted. */
#include <stdint.h>
#include <stddef.h>

#include "tlsscope/fingerprint.h"
#include "tlsscope/wire.h"

static struct ts_client_hello ch;
static struct ts_server_hello sh;
static struct ts_certificate_msg cm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)(data[0] & 0x3f) + 1;
	bool gap = data[0] & 0x40;
	data++;
	size--;
	struct ts_wire_limits lim = { .max_handshake = 8192 };
	struct ts_tls_stream s;
	ts_tls_stream_init(&s, &lim);
	ts_tls_looks_like(data, size);
	ts_tls_resync(data, size);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (ts_tls_stream_feed(&s, data + off, n) != 0)
			break;
		struct ts_tls_event ev;
		int rc;
		while ((rc = ts_tls_stream_next(&s, &ev)) == 1) {
			struct ts_reader rd;
			struct ts_error err;
			ts_reader_init(&rd, ev.body, ev.body_len);
			if (ev.kind == TS_EV_HANDSHAKE) {
				char buf[64];
				switch (ev.hs_type) {
				case TS_HS_CLIENT_HELLO:
					ts_parse_client_hello(&rd, &ch, &err);
					ts_ja4(&ch, buf);
					ts_ja3(&ch, buf);
					break;
				case TS_HS_SERVER_HELLO: case TS_HS_HELLO_RETRY_REQUEST:
					if (ts_parse_server_hello(&rd, &sh, &err) == 0)
						ts_ja3s(&sh, buf);
					break;
				case TS_HS_CERTIFICATE:
					ts_parse_certificate(&rd, s.version == TS_TLS13, &cm, &err);
					break;
				case TS_HS_SERVER_KEY_EXCHANGE: {
					struct ts_server_key_exchange ske;
					ts_parse_server_key_exchange(&rd, s.version, s.suite, &ske, &err);
					break;
				}
				case TS_HS_SERVER_HELLO_DONE:
					ts_parse_server_hello_done(&rd, &err);
					break;
				}
			} else if (ev.kind == TS_EV_ALERT) {
				struct ts_alert al;
				ts_parse_alert(&rd, &al, &err);
			} else if (ev.kind == TS_EV_CHANGE_CIPHER_SPEC) {
				ts_parse_change_cipher_spec(&rd, &err);
			} else if (ev.kind == TS_EV_SSL2 && ev.hs_type == TS_SSL2_MT_CLIENT_HELLO) {
				static struct ts_ssl2_client_hello c2;
				ts_parse_ssl2_client_hello(&rd, &c2, &err);
			} else if (ev.kind == TS_EV_SSL2 && ev.hs_type == TS_SSL2_MT_SERVER_HELLO) {
				static struct ts_ssl2_server_hello s2;
				ts_parse_ssl2_server_hello(&rd, &s2, &err);
			}
		}
		if (rc != TS_E_NEED_MORE) {
			if (!gap)
				break;
			ts_tls_stream_gap(&s, 0);
		}
	}
	ts_tls_stream_clear(&s);
	return 0;
}
