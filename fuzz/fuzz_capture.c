/* libFuzzer target over the capture file reader: the input is a whole pcap or
 * pcapng file, read in memory; every packet's bytes are touched so that
 * AddressSanitizer sees a packet that runs past its block. */
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/capture.h"

static void on_packet(void *ctx, const struct ts_capture_packet *pkt)
{
	unsigned *sum = ctx;
	for (size_t i = 0; i < pkt->caplen; i++)
		*sum += pkt->data[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_capture *c;
	struct ts_error err;
	if (ts_capture_open_memory(data, size, &c, &err) < 0)
		return 0;
	unsigned sum = 0;
	ts_capture_loop(c, on_packet, &sum, &err);
	ts_capture_free(c);
	return 0;
}
