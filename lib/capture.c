#include "tlsscope/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ts_capture {
	pcap_t *pcap;
	bool live;
	volatile int stopped;
	long long count;
	ts_capture_fn fn;
	void *ctx;
};

int ts_capture_open_file(const char *path, struct ts_capture **out, struct ts_error *err)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	*out = NULL;
	pcap_t *p;
	if (strcmp(path, "-") == 0) {
		p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	} else {
		/* A large stdio buffer: libpcap reads through it, and the default
		 * 4 KiB makes the read system call the bottleneck. */
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			return ts_error_errno(err, TS_E_FILE, errno, "cannot read capture '%s'", path);
		setvbuf(f, NULL, _IOFBF, 1 << 20);
		p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
		if (p == NULL)
			fclose(f);
	}
	if (p == NULL)
		return ts_error_set(err, TS_E_FILE, "cannot read capture '%s': %s", path, ebuf);
	struct ts_capture *c = calloc(1, sizeof *c);
	if (c == NULL) {
		pcap_close(p);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	c->pcap = p;
	*out = c;
	return TS_OK;
}

int ts_capture_open_live(const char *iface, struct ts_capture **out, struct ts_error *err)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	*out = NULL;
	pcap_t *p = pcap_create(iface, ebuf);
	if (p == NULL)
		return ts_error_set(err, TS_E_FILE, "cannot open interface '%s': %s", iface, ebuf);
	pcap_set_snaplen(p, 262144);
	pcap_set_promisc(p, 1);
	/* A short timeout so that a stop request is noticed on a quiet link. */
	pcap_set_timeout(p, 200);
	pcap_set_immediate_mode(p, 1);
	int rc = pcap_activate(p);
	if (rc < 0) {
		ts_error_set(err, TS_E_FILE, "cannot capture on interface '%s': %s", iface,
		             rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
		pcap_close(p);
		return TS_E_FILE;
	}
	struct ts_capture *c = calloc(1, sizeof *c);
	if (c == NULL) {
		pcap_close(p);
		return ts_error_set(err, TS_E_NOMEM, "out of memory");
	}
	c->pcap = p;
	c->live = true;
	*out = c;
	return TS_OK;
}

int ts_capture_set_filter(struct ts_capture *c, const char *bpf, struct ts_error *err)
{
	struct bpf_program prog;
	if (pcap_compile(c->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0)
		return ts_error_set(err, TS_E_INVALID, "bad filter '%s': %s", bpf, pcap_geterr(c->pcap));
	int rc = pcap_setfilter(c->pcap, &prog);
	pcap_freecode(&prog);
	if (rc != 0)
		return ts_error_set(err, TS_E_INVALID, "cannot apply filter '%s': %s", bpf,
		                    pcap_geterr(c->pcap));
	return TS_OK;
}

int ts_capture_linktype(const struct ts_capture *c)
{
	return pcap_datalink(c->pcap);
}

const char *ts_capture_linktype_name(int linktype)
{
	const char *n = pcap_datalink_val_to_name(linktype);
	return n != NULL ? n : "unknown";
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct ts_capture *c = (struct ts_capture *)user;
	struct ts_capture_packet pkt = {
		.ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec,
		.data = bytes,
		.caplen = h->caplen,
		.len = h->len,
		.linktype = pcap_datalink(c->pcap),
	};
	c->count++;
	c->fn(c->ctx, &pkt);
}

long long ts_capture_loop(struct ts_capture *c, ts_capture_fn fn, void *ctx, struct ts_error *err)
{
	c->fn = fn;
	c->ctx = ctx;
	while (!c->stopped) {
		int rc = pcap_dispatch(c->pcap, c->live ? 256 : 4096, on_packet, (u_char *)c);
		if (rc == PCAP_ERROR_BREAK)
			break;
		if (rc == PCAP_ERROR)
			return ts_error_set(err, TS_E_FILE, "capture read failed after %lld packets: %s",
			                    c->count, pcap_geterr(c->pcap));
		if (rc == 0 && !c->live)
			break;
	}
	return c->count;
}

void ts_capture_stop(struct ts_capture *c)
{
	c->stopped = 1;
	pcap_breakloop(c->pcap);
}

unsigned long long ts_capture_dropped(struct ts_capture *c)
{
	struct pcap_stat st;
	if (!c->live || pcap_stats(c->pcap, &st) != 0)
		return 0;
	return st.ps_drop;
}

void ts_capture_free(struct ts_capture *c)
{
	if (c == NULL)
		return;
	pcap_close(c->pcap);
	free(c);
}
