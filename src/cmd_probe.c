/* tlsscope probe: one connection (after STARTTLS when needed) and a full
 * report of what was negotiated and why the certificate is or is not trusted. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "tlsscope/net.h"
#include "tlsscope/probe.h"
#include "tlsscope/report.h"
#include "tlsscope/report_probe.h"
#include "tlsscope/starttls.h"

static const char probe_usage[] =
	"usage: tlsscope probe HOST[:PORT] [--starttls PROTO] [--name NAME] [--ca FILE|DIR]\n"
	"                      [--alpn LIST] [--timeout S] [-4|-6] [--no-resume] [--json]\n"
	"\n"
	"Connects once (after a STARTTLS preamble when the protocol needs one), then once more to try\n"
	"session resumption, and reports the addresses, the protocol, cipher, group, forward secrecy,\n"
	"signature algorithm, ALPN, resumption, OCSP stapling, SCTs, the chain as sent, the chain\n"
	"verification built, the verdict with its reason, and timings.  The certificate is recorded\n"
	"during the handshake and judged afterwards, so an untrusted server is reported in full.\n"
	"\n"
	"  --starttls PROTO  none (direct TLS), smtp, lmtp, imap, pop3, ftp, xmpp, xmpp-server, ldap,\n"
	"                    postgres, mysql, nntp, sieve, irc.  Default: chosen by the port\n"
	"                    (25 and 587 smtp, 143 imap, 5432 postgres ...), else none.\n"
	"  --name NAME       the name to check and send as SNI (default: HOST)\n"
	"  --ca FILE|DIR     trust these CAs instead of the system store\n"
	"  --alpn LIST       offer these ALPN protocols, e.g. h2,http/1.1\n"
	"  --timeout S       bound on each step, seconds (default 10)\n"
	"  -4, -6            IPv4 or IPv6 only\n"
	"  --no-resume       skip the second connection\n"
	"  --json            one JSON object (docs/json.md, \"probe\")\n"
	"\n"
	"PORT defaults to the protocol's port with --starttls, else 443.\n"
	"Exit status: 0 trusted, 1 not trusted / STARTTLS refused / handshake failed, 2 usage,\n"
	"3 unreachable (name, connection, timeout) or unreadable --ca.\n";

enum { OPT_STARTTLS = 256, OPT_NAME, OPT_CA, OPT_ALPN, OPT_TIMEOUT, OPT_JSON, OPT_NO_RESUME };

int cmd_probe(int argc, char **argv)
{
	const char *cmd = "probe";
	static const struct option options[] = {
		{ "starttls", required_argument, NULL, OPT_STARTTLS },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "alpn", required_argument, NULL, OPT_ALPN },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-resume", no_argument, NULL, OPT_NO_RESUME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ts_probe_options opt = { .starttls_auto = true, .family = AF_UNSPEC, .timeout_ms = 10000 };
	bool json = false;
	struct ts_error err = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h46", options, NULL)) != -1) {
		switch (c) {
		case OPT_STARTTLS:
			if (ts_starttls_parse(optarg, &opt.starttls, &err) != TS_OK)
				return cli_usage_error(cmd, "%s", err.msg);
			opt.starttls_auto = false;
			break;
		case OPT_NAME:
			if (optarg[0] == '\0' || strlen(optarg) >= TS_HOST_MAX)
				return cli_usage_error(cmd, "--name needs a name of 1 to %d characters", TS_HOST_MAX - 1);
			opt.name = optarg;
			break;
		case OPT_CA:
			opt.ca_path = optarg;
			break;
		case OPT_ALPN:
			opt.alpn = optarg;
			break;
		case OPT_TIMEOUT:
			if (!cli_parse_seconds(optarg, &opt.timeout_ms))
				return cli_usage_error(cmd, "--timeout wants a positive number of seconds, not '%s'", optarg);
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_NO_RESUME:
			opt.no_resume = true;
			break;
		case '4':
			opt.family = AF_INET;
			break;
		case '6':
			opt.family = AF_INET6;
			break;
		case 'h':
			fputs(probe_usage, stdout);
			return CLI_OK;
		case ':':
			return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cmd, optind == argc ? "needs HOST[:PORT]" : "takes one HOST[:PORT], got more");
	uint16_t default_port = opt.starttls_auto ? 443 : ts_starttls_default_port(opt.starttls);
	if (default_port == 0)
		default_port = 443;
	char host[TS_HOST_MAX];
	if (ts_parse_hostport(argv[optind], default_port, host, &opt.port, &err) != TS_OK)
		return cli_usage_error(cmd, "%s", err.msg);
	opt.host = host;

	struct ts_probe_result *res = malloc(sizeof *res);
	if (res == NULL) {
		cli_error(cmd, "out of memory");
		return CLI_UNREACHABLE;
	}
	ts_probe_result_init(res);
	int rc = ts_probe_run(&opt, res, &err);
	struct ts_report r;
	ts_report_init(&r, stdout, json);
	/* Usage-like failures get only the message; everything else the report. */
	if (json || res->failed_stage != TS_PROBE_STAGE_SETUP)
		ts_report_probe(&r, res);
	if (rc != TS_OK) {
		fflush(stdout);
		if (res->failed_stage == TS_PROBE_STAGE_VERIFY)
			cli_error(cmd, "certificate not trusted: %s", err.msg);
		else
			cli_error(cmd, "%s", err.msg);
	}
	ts_probe_result_clear(res);
	free(res);
	return cli_exit_code(rc);
}
