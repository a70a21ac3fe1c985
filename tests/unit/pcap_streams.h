/* Test helper: the first bytes of each TCP stream of a capture, reassembled
 * simply (segments sorted by sequence number, retransmissions and overlaps
 * dropped, stop at the first hole).  Good enough to pull hellos out of the
 * reference captures until the observer exists; not the observer. */
#ifndef TS_TEST_PCAP_STREAMS_H
#define TS_TEST_PCAP_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pcap_stream {
	char src[64], dst[64];      /* addresses as text (inet_ntop) */
	uint16_t sport, dport;
	size_t first_packet;        /* index of the connection's first packet */
	uint8_t *data;              /* reassembled payload (malloc'd) */
	size_t len;
	bool gap;                   /* stopped at a hole */
};

/* Reads path; *streams is a malloc'd array of *n directions (free with
 * pcap_streams_free).  Keeps at most max_bytes per direction.  Returns 0 or -1
 * (message on stderr). */
int pcap_streams_load(const char *path, size_t max_bytes, struct pcap_stream **streams, size_t *n);
void pcap_streams_free(struct pcap_stream *streams, size_t n);
/* The direction src:sport -> dst:dport, or NULL. */
struct pcap_stream *pcap_streams_find(struct pcap_stream *streams, size_t n, const char *src,
                                      unsigned sport, const char *dst, unsigned dport);

#endif
