/* tlsscope: the observer engine — what a passive observer learns from
 * packets: DNS questions and answers, and per TLS connection the names,
 * parameters, fingerprints, certificates in the clear, and the size and
 * order of every request/response exchange.
 *
 * Feed it frames (ts_observe_packet) from a capture (capture.h) or anything
 * else; it decodes them (packet.h), groups them into flows (flow.h),
 * reassembles TCP (tcp_reasm.h), recognises TLS from the bytes on any port,
 * also after a cleartext STARTTLS preamble, parses it with the wire codec
 * (wire.h, fingerprint.h) and calls back:
 *   - dns(ctx, msg) for every DNS message over UDP or TCP;
 *   - tls(ctx, conn) once per TLS connection, when its flow ends (FIN/RST,
 *     idle timeout, eviction, or ts_observe_finish).
 * Everything is bounded: flows, buffered TCP bytes per stream and overall,
 * exchanges per connection, DNS names, IP fragments.
 * Memory: ts_observe_new returns an object owned by the caller
 * (ts_observe_free).  Structs passed to callbacks belong to the engine and are
 * valid only during the call. */
#ifndef TLSSCOPE_OBSERVE_H
#define TLSSCOPE_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/cert.h"
#include "tlsscope/dns.h"
#include "tlsscope/error.h"
#include "tlsscope/packet.h"

struct ts_observe_config {
	size_t max_flows;              /* 0: 65536 */
	int64_t idle_timeout_us;       /* 0: 300 s */
	size_t stream_buffer_max;      /* out-of-order bytes per TCP direction (0: 1 MiB) */
	size_t total_buffer_max;       /* out-of-order bytes overall (0: 256 MiB) */
	size_t max_exchanges;          /* kept per connection (0: 4096); more are counted only */
	size_t max_dns_names;          /* address-to-name table (0: 4096) */
	size_t preamble_max;           /* cleartext bytes scanned for STARTTLS per flow (0: 16384) */
};

/* One request/response burst: client application data, then the server's
 * application data that follows it. */
struct ts_obs_exchange {
	int64_t t_us;                  /* first request record */
	int64_t duration_us;           /* to the last response record */
	uint64_t request_bytes, response_bytes;       /* on the wire, record headers included */
	uint32_t request_records, response_records;
	uint64_t request_plaintext_estimate;          /* upper bound of the plaintext */
	uint64_t response_plaintext_estimate;         /* best estimate of the response's plaintext */
	uint64_t response_plaintext_min;              /* lower bound (CBC padding) */
	uint64_t response_plaintext_max;              /* upper bound: includes the records that look
	                                                 like TLS 1.3 NewSessionTickets (see below) */
	uint64_t response_first_record;               /* plaintext of its first record that is no
	                                                 ticket (HTTP/2: the server's SETTINGS may
	                                                 travel in it on the first exchange) */
};
/* TLS 1.3 encrypts NewSessionTicket messages like application data, and
 * servers send them as soon as they read the client's Finished: before the
 * first request, or just ahead of the first response.  The leading run of
 * small server records of one size is taken for the ticket flight: before
 * any request it counts as unsolicited and teaches the ticket size; in the
 * first response it is left out of the estimate and the lower bound (counted
 * in the upper bound) when it matches that size, or, size unknown, when it is
 * at least two records long. */

struct ts_obs_alert {
	int64_t t_us;
	bool from_server;
	bool encrypted;                /* level and description unknown */
	uint8_t level, description;
};

#define TS_OBS_MAX_LIST 32
#define TS_OBS_MAX_ALERTS 8
#define TS_OBS_NAME_MAX 256

struct ts_obs_tls {
	int64_t ts_us;                 /* first packet of the flow */
	int64_t end_us;                /* last packet */
	struct ts_ip_addr client, server;
	uint16_t client_port, server_port;
	bool midstream;                /* the handshake start was not seen */
	char sni[TS_OBS_NAME_MAX];     /* "" when absent */
	bool has_sni;
	char dns_name[TS_OBS_NAME_MAX];/* the DNS name that resolved to the server, "" if none */
	char starttls[16];             /* "smtp", "imap", ... or "" for TLS from the first byte */
	bool client_hello, server_hello;   /* seen */
	char alpn_offered[TS_OBS_MAX_LIST][64];
	size_t n_alpn_offered;
	char alpn[64];                 /* chosen, "" when none */
	uint16_t client_version;       /* ClientHello legacy_version */
	uint16_t versions_offered[TS_OBS_MAX_LIST];
	size_t n_versions_offered;     /* supported_versions (GREASE removed) */
	uint16_t version;              /* negotiated, 0 unknown */
	size_t suites_offered;         /* count, GREASE removed */
	uint16_t cipher;               /* chosen, 0 unknown */
	uint16_t groups[TS_OBS_MAX_LIST];
	size_t n_groups;               /* offered (GREASE removed) */
	uint16_t group;                /* the server's key share group, 0 unknown */
	char ja3[33], ja3s[33], ja4[48];
	bool ech;                      /* the ClientHello carries encrypted_client_hello */
	bool resumption_offered, resumed;
	struct ts_cert_info *certs;    /* the chain as sent in the clear, leaf first */
	size_t n_certs;
	size_t certs_unparsed;         /* certificates the cert module could not read */
	struct ts_obs_alert alerts[TS_OBS_MAX_ALERTS];
	size_t n_alerts;
	int64_t handshake_us;          /* ClientHello to the last Finished; -1 unknown */
	struct ts_obs_exchange *exchanges;
	size_t n_exchanges;
	size_t exchanges_dropped;      /* beyond config.max_exchanges */
	uint64_t bytes_to_server, bytes_to_client;   /* TCP payload */
	uint64_t gap_bytes;            /* lost in the capture, both directions */
	uint64_t unsolicited_bytes;    /* server application data before any request */
	uint64_t unsolicited_records;  /* in how many records */
	bool truncated;                /* a parser or buffer limit cut the analysis short */
	char error[TS_ERROR_MSG_MAX];               /* why TLS parsing stopped, "" if it did not */
};

struct ts_obs_dns {
	int64_t ts_us;
	struct ts_ip_addr client, server;
	uint16_t client_port, server_port;
	bool tcp;
	const struct ts_dns_message *msg;
};

struct ts_observe_stats {
	unsigned long long packets, bytes;         /* frames fed, bytes captured */
	unsigned long long decoded;                /* TCP or UDP packets */
	unsigned long long skipped;                /* other protocols */
	unsigned long long malformed;              /* frames that did not decode */
	unsigned long long truncated_packets;      /* cut by the snap length */
	unsigned long long flows, flows_evicted, flows_expired, flows_active_peak;
	unsigned long long flows_truncated;        /* analysis cut short by a limit */
	unsigned long long tcp_gaps, tcp_gap_bytes, tcp_retransmitted;
	unsigned long long ip_fragments, ip_reassembled;
	unsigned long long tls_connections, dns_messages, dns_malformed;
};

struct ts_observe_callbacks {
	void (*tls)(void *ctx, const struct ts_obs_tls *conn);
	void (*dns)(void *ctx, const struct ts_obs_dns *dns);
	void *ctx;
};

struct ts_observe;
/* cfg may be NULL for the defaults.  NULL when memory runs out. */
struct ts_observe *ts_observe_new(const struct ts_observe_config *cfg,
                                  const struct ts_observe_callbacks *cb);
/* Ends every flow still open (reporting its TLS connection) and frees. */
void ts_observe_free(struct ts_observe *o);
/* Feeds one frame.  Returns 0, or a negative code for a frame that did not
 * decode (counted; the engine goes on) — err says why. */
int ts_observe_packet(struct ts_observe *o, int linktype, const uint8_t *frame, size_t caplen,
                      int64_t ts_us, struct ts_error *err);
/* Ends every open flow now (end of a file, or a live capture stopped). */
void ts_observe_finish(struct ts_observe *o);
void ts_observe_get_stats(const struct ts_observe *o, struct ts_observe_stats *st);

/* Per-record overhead bounds for a version and suite: a record of L bytes of
 * payload carries between L - max_overhead and L - min_overhead bytes of
 * plaintext.  Unknown suites give 0 and 0. */
void ts_observe_record_overhead(uint16_t version, uint16_t suite, size_t *min_overhead,
                                size_t *max_overhead);

#endif
