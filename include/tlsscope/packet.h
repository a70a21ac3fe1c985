/* tlsscope: decoding captured frames down to TCP and UDP.
 *
 * Link types: Ethernet (with 802.1Q / 802.1ad / QinQ VLAN tags), Linux
 * cooked v1 and v2, raw IP (DLT_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) and BSD
 * loopback (DLT_NULL, DLT_LOOP).  Network: IPv4 with fragment reassembly and
 * IPv6 with its extension headers, including the fragment header.  Every
 * read goes through a ts_reader; the fragment table is bounded in entries,
 * bytes and time.
 * Memory: ts_defrag_new returns an object owned by the caller
 * (ts_defrag_free).  A decoded ts_packet points into the frame or into the
 * defragmenter's buffer: valid until the next ts_packet_decode call. */
#ifndef TLSSCOPE_PACKET_H
#define TLSSCOPE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"

/* Link types by their LINKTYPE_ numbers as stored in files, for those whose
 * DLT_ value differs between systems. */
#define TS_LINKTYPE_RAW 101
#define TS_LINKTYPE_IPV4 228
#define TS_LINKTYPE_IPV6 229

struct ts_ip_addr {
	uint8_t family;      /* 4 or 6 */
	uint8_t a[16];       /* IPv4 uses the first 4 bytes; the rest are zero */
};

enum { TS_TCP_FIN = 0x01, TS_TCP_SYN = 0x02, TS_TCP_RST = 0x04, TS_TCP_PSH = 0x08,
       TS_TCP_ACK = 0x10 };

struct ts_packet {
	int64_t ts_us;
	struct ts_ip_addr src, dst;
	uint8_t proto;             /* 6 TCP, 17 UDP */
	uint16_t sport, dport;
	uint32_t seq, ack;         /* TCP only */
	uint8_t tcp_flags;
	const uint8_t *payload;
	size_t payload_len;
	bool truncated;            /* the snap length cut the payload */
	bool reassembled;          /* rebuilt from IP fragments */
};

struct ts_defrag_stats {
	unsigned long long fragments;     /* IP fragments seen */
	unsigned long long reassembled;   /* datagrams rebuilt */
	unsigned long long expired;       /* incomplete datagrams dropped on timeout */
	unsigned long long evicted;       /* dropped because the table was full */
	unsigned long long invalid;       /* fragments with impossible offsets or sizes */
};

struct ts_defrag;
/* max_datagrams: incomplete datagrams kept at once (0: 256); timeout_us:
 * how long one may wait for its missing pieces (0: 30 s). */
struct ts_defrag *ts_defrag_new(size_t max_datagrams, int64_t timeout_us);
void ts_defrag_free(struct ts_defrag *d);
void ts_defrag_get_stats(const struct ts_defrag *d, struct ts_defrag_stats *st);

/* Decodes one frame of the given link type.  Returns 1 with *pkt filled for a
 * TCP or UDP packet, 0 when the frame carries something else or a fragment
 * that does not complete its datagram yet, TS_E_MALFORMED (message in err)
 * when the headers are broken, TS_E_INVALID for an unsupported link type.
 * d may be NULL: fragments are then ignored. */
int ts_packet_decode(struct ts_defrag *d, int linktype, const uint8_t *frame, size_t caplen,
                     int64_t ts_us, struct ts_packet *pkt, struct ts_error *err);
bool ts_packet_linktype_supported(int linktype);

/* Formats an address as text ("192.0.2.1", "2001:db8::1"); out >= 46 bytes. */
void ts_ip_addr_format(const struct ts_ip_addr *a, char *out, size_t size);

#endif
