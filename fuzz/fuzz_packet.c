/* libFuzzer target over the observer's whole packet path: a stream of frames
 * (link type, timestamp step, bytes) goes through decoding, defragmentation,
 * flows, TCP reassembly, STARTTLS detection, the TLS codec, DNS and the
 * exchange accounting, with small limits so that every cap is reached.
 *
 * Input format, repeated: 1 byte link-type selector, 1 byte time step
 * (hundreds of milliseconds), 2 bytes big-endian frame length, the frame. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <pcap/dlt.h>

#include "tlsscope/observe.h"
#include "tlsscope/packet.h"
#include "tlsscope/report_observe.h"

static const int linktypes[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_NULL,
                                 DLT_LOOP, TS_LINKTYPE_IPV4, TS_LINKTYPE_IPV6 };

static size_t seen;

static void on_tls(void *ctx, const struct ts_obs_tls *c)
{
	/* Build (and drop) the JSON, as the report would: touches every field. */
	json_t *j = ts_observe_tls_json(c);
	seen += json_object_size(j);
	json_decref(j);
}

static void on_dns(void *ctx, const struct ts_obs_dns *d)
{
	json_t *j = ts_observe_dns_json(d);
	seen += json_object_size(j);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_observe_config cfg = {
		.max_flows = 8,
		.idle_timeout_us = 5 * 1000000LL,
		.stream_buffer_max = 4096,
		.total_buffer_max = 16384,
		.max_exchanges = 4,
		.max_dns_names = 4,
		.preamble_max = 512,
	};
	struct ts_observe_callbacks cb = { .tls = on_tls, .dns = on_dns };
	struct ts_observe *o = ts_observe_new(&cfg, &cb);
	if (o == NULL)
		return 0;
	int64_t ts = 1000000;
	size_t off = 0;
	while (off + 4 <= size) {
		int lt = linktypes[data[off] % (sizeof linktypes / sizeof linktypes[0])];
		ts += (int64_t)data[off + 1] * 100000;
		size_t n = (size_t)data[off + 2] << 8 | data[off + 3];
		off += 4;
		if (n > size - off)
			n = size - off;
		struct ts_error err;
		ts_observe_packet(o, lt, data + off, n, ts, &err);
		off += n;
	}
	ts_observe_free(o);
	return 0;
}
