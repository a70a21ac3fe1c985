/* tlsscope observe FILE | -i IFACE [--filter BPF] [--details] [--json] */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tlsscope/capture.h"
#include "tlsscope/observe.h"
#include "tlsscope/packet.h"
#include "tlsscope/report_observe.h"

static struct ts_capture *volatile live_capture;

static void on_signal(int sig)
{
	(void)sig;
	if (live_capture)
		ts_capture_stop(live_capture);
}

struct run {
	struct ts_observe *obs;
	struct ts_report_observe ro;
};

static void on_tls(void *ctx, const struct ts_obs_tls *c)
{
	struct run *run = ctx;
	ts_report_observe_tls(&run->ro, c);
}

static void on_dns(void *ctx, const struct ts_obs_dns *d)
{
	struct run *run = ctx;
	ts_report_observe_dns(&run->ro, d);
}

static void on_packet(void *ctx, const struct ts_capture_packet *pkt)
{
	struct run *run = ctx;
	struct ts_error err = { 0 };
	ts_observe_packet(run->obs, pkt->linktype, pkt->data, pkt->caplen, pkt->ts_us, &err);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tlsscope observe FILE [--filter BPF] [--details] [--json]\n"
		"       tlsscope observe -i IFACE [--filter BPF] [--details] [--json]\n\n"
		"What a passive observer learns from a capture (pcap or pcapng) or a live interface:\n"
		"DNS names, and per TLS connection the server name, versions, cipher, JA3/JA3S/JA4,\n"
		"certificates sent in the clear, and the size of every request and response.\n\n"
		"  -i, --interface IFACE  capture live until interrupted (Ctrl-C prints the summary)\n"
		"  -f, --filter BPF       only packets matching this capture filter\n"
		"  -d, --details          per-exchange lines, certificates, alerts, DNS answers\n"
		"  -m, --max-memory MIB   cap on buffered stream data overall (default 256); flows\n"
		"                         over it are reported truncated\n"
		"  -j, --json             JSON lines (docs/json.md)\n"
		"  -h, --help             this help\n");
}

int cmd_observe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "filter", required_argument, NULL, 'f' },
		{ "details", no_argument, NULL, 'd' },
		{ "max-memory", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *iface = NULL, *filter = NULL;
	bool details = false, json = false;
	struct ts_observe_config cfg = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:f:dm:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 'f': filter = optarg; break;
		case 'd': details = true; break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long mib = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || mib == 0 || mib > 1048576)
				return cli_usage_error("observe", "--max-memory wants MiB from 1 to 1048576, "
				                       "got '%s'", optarg);
			cfg.total_buffer_max = (size_t)mib << 20;
			break;
		}
		case 'j': json = true; break;
		case 'h': usage(stdout); return CLI_OK;
		default:
			return cli_usage_error("observe", "unknown option or missing value: '%s'",
			                       argv[optind - 1]);
		}
	}
	const char *file = optind < argc ? argv[optind] : NULL;
	if (optind + 1 < argc)
		return cli_usage_error("observe", "one capture file at a time (got '%s' too)", argv[optind + 1]);
	if ((file == NULL) == (iface == NULL))
		return cli_usage_error("observe", "give a capture FILE or -i IFACE (one of them)");

	struct ts_error err = { 0 };
	struct ts_capture *cap = NULL;
	int rc = file ? ts_capture_open_file(file, &cap, &err) : ts_capture_open_live(iface, &cap, &err);
	if (rc < 0) {
		cli_error("observe", "%s", err.msg);
		return CLI_UNREACHABLE;
	}
	if (filter && (rc = ts_capture_set_filter(cap, filter, &err)) < 0) {
		ts_capture_free(cap);
		if (rc == TS_E_INVALID)
			return cli_usage_error("observe", "%s", err.msg);
		cli_error("observe", "%s", err.msg);   /* libpcap could not be loaded */
		return cli_exit_code(rc);
	}
	int lt = ts_capture_linktype(cap);
	if (!ts_packet_linktype_supported(lt)) {
		cli_error("observe", "cannot decode link type %d (%s): supported are Ethernet, Linux cooked "
		          "v1/v2, raw IP and BSD loopback", lt, ts_capture_linktype_name(lt));
		ts_capture_free(cap);
		return CLI_UNREACHABLE;
	}

	struct ts_report r;
	ts_report_init(&r, stdout, json);
	struct run run = { 0 };
	ts_report_observe_init(&run.ro, &r, details);
	struct ts_observe_callbacks cb = { .tls = on_tls, .dns = on_dns, .ctx = &run };
	run.obs = ts_observe_new(&cfg, &cb);
	if (run.obs == NULL) {
		ts_capture_free(cap);
		cli_error("observe", "out of memory");
		return CLI_UNREACHABLE;
	}
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	if (iface) {
		live_capture = cap;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
	}
	long long n = ts_capture_loop(cap, on_packet, &run, &err);
	if (iface) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		live_capture = NULL;
	}
	ts_observe_finish(run.obs);
	struct ts_observe_stats st;
	ts_observe_get_stats(run.obs, &st);
	ts_report_observe_summary(&run.ro, file ? file : iface, &st, ts_capture_dropped(cap));
	ts_observe_free(run.obs);
	ts_capture_free(cap);
	fflush(stdout);
	if (n < 0) {
		cli_error("observe", "%s", err.msg);
		return CLI_UNREACHABLE;
	}
	return CLI_OK;
}
