/* tlsscope: packet sources for the observer — capture files and pipes (pcap
 * and pcapng, read here with large reads into one buffer, each packet handed
 * on where it lies) and live interfaces (through libpcap).
 *
 * A ts_capture hands each packet, with its link type and timestamp, to a
 * callback; it never interprets the bytes (that is packet.h's job).
 * Memory: ts_capture_open_* return an object owned by the caller, released
 * with ts_capture_free (free(NULL) is a no-op).  Packet bytes passed to the
 * callback are only valid during the call. */
#ifndef TLSSCOPE_CAPTURE_H
#define TLSSCOPE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tlsscope/error.h"

struct ts_capture_packet {
	int64_t ts_us;          /* capture time, microseconds since the Unix epoch */
	const uint8_t *data;    /* the captured bytes */
	size_t caplen;          /* bytes captured */
	size_t len;             /* bytes on the wire (>= caplen when the snap length cut it) */
	int linktype;           /* pcap DLT_* of this packet */
};

typedef void (*ts_capture_fn)(void *ctx, const struct ts_capture_packet *pkt);

struct ts_capture;

/* Opens a pcap or pcapng file ("-" reads standard input).  TS_E_FILE when
 * the file cannot be read or is not a capture, with the reason. */
int ts_capture_open_file(const char *path, struct ts_capture **out, struct ts_error *err);
/* Reads a pcap or pcapng capture held in memory (the same reader as files);
 * data must outlive the capture object.  TS_E_FILE when it is not a capture. */
int ts_capture_open_memory(const uint8_t *data, size_t size, struct ts_capture **out,
                           struct ts_error *err);
/* Opens a live interface in promiscuous mode with a full snap length.
 * TS_E_FILE when the interface cannot be opened (missing, no permission). */
int ts_capture_open_live(const char *iface, struct ts_capture **out, struct ts_error *err);
/* Applies a BPF filter expression (to a file too: compiled for its link
 * type).  TS_E_INVALID when it does not compile. */
int ts_capture_set_filter(struct ts_capture *c, const char *bpf, struct ts_error *err);
/* The capture's link type (DLT_*) and whether the decoder supports it. */
int ts_capture_linktype(const struct ts_capture *c);
const char *ts_capture_linktype_name(int linktype);
/* libpcap's version string, or NULL with err set when it cannot be loaded
 * (libpcap is opened on first use, not when the program starts). */
const char *ts_capture_libpcap_version(struct ts_error *err);

/* Reads packets until the end of the file, an error, or ts_capture_stop.
 * Returns the number of packets read (>= 0), or TS_E_FILE when the file is
 * truncated or corrupt (the packets before the damage were delivered). */
long long ts_capture_loop(struct ts_capture *c, ts_capture_fn fn, void *ctx, struct ts_error *err);
/* Makes ts_capture_loop return soon.  Safe to call from a signal handler. */
void ts_capture_stop(struct ts_capture *c);
/* Packets the kernel dropped (live captures only; 0 otherwise). */
unsigned long long ts_capture_dropped(struct ts_capture *c);
void ts_capture_free(struct ts_capture *c);

#endif
