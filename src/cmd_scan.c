/* tlsscope scan: a complete assessment of servers' TLS. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tlsscope/report.h"
#include "tlsscope/report_scan.h"
#include "tlsscope/scan.h"

#define MAX_TARGETS 4096

static const char scan_usage[] =
	"usage: tlsscope scan TARGET... [-f FILE] [OPTIONS]\n"
	"\n"
	"Assesses each server's TLS: protocol versions SSLv2..TLS 1.3, every accepted cipher suite\n"
	"in the server's order, groups, signature algorithms, certificates (verified, name checked),\n"
	"renegotiation, compression, fallback SCSV, resumption, OCSP stapling, ALPN, Heartbleed and\n"
	"CCS injection, judged as findings.  TARGET is host[:port] (port 443 by default).\n"
	"\n"
	"  -f, --file FILE          read more targets from FILE, one a line ('#' starts a comment)\n"
	"      --starttls PROTO     cleartext preamble first (default: by port, 'none' for direct TLS);\n"
	"                           one of %s\n"
	"      --ca FILE|DIR        trust these CAs (default: the system store)\n"
	"      --name NAME          server name to send (SNI) and to match (default: the host)\n"
	"      --json               one JSON object per target (docs/json.md)\n"
	"      --fail-on SEVERITY   exit 1 when a finding is at least SEVERITY\n"
	"                           (info, low, medium, high, critical; default: high)\n"
	"      --max-connections N  connections at a time to one server (default 4)\n"
	"      --parallel N         targets scanned at a time (default 8)\n"
	"      --timeout SECONDS    bound on each connect and each answer (default 5)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit: 0 no finding at --fail-on or above; 1 such findings (or the server refused every\n"
	"hello); 2 usage; 3 a target could not be reached.\n";

struct progress {
	bool tty;
};

static void on_progress(void *ud, size_t done, size_t total, const struct ts_scan_result *r)
{
	struct progress *p = ud;
	if (!p->tty || total < 2)
		return;
	fprintf(stderr, "\r\033[Kscan: %zu/%zu done (last: %s)%s", done, total, r->target,
	        done == total ? "\n" : "");
	fflush(stderr);
}

static int read_targets(const char *path, char ***list, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		cli_error("scan", "cannot read targets file '%s'", path);
		return CLI_UNREACHABLE;
	}
	char line[512];
	while (fgets(line, sizeof line, f) != NULL) {
		char *s = line;
		s[strcspn(s, "#\r\n")] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		size_t len = strlen(s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		if (len == 0)
			continue;
		if (*n >= MAX_TARGETS) {
			if (f != stdin)
				fclose(f);
			cli_error("scan", "more than %d targets", MAX_TARGETS);
			return CLI_USAGE;
		}
		(*list)[(*n)++] = strdup(s);
	}
	if (f != stdin)
		fclose(f);
	return CLI_OK;
}

int cmd_scan(int argc, char **argv)
{
	enum { O_STARTTLS = 256, O_CA, O_NAME, O_JSON, O_FAIL_ON, O_MAXCONN, O_PARALLEL, O_TIMEOUT };
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "starttls", required_argument, NULL, O_STARTTLS },
		{ "ca", required_argument, NULL, O_CA },
		{ "name", required_argument, NULL, O_NAME },
		{ "json", no_argument, NULL, O_JSON },
		{ "fail-on", required_argument, NULL, O_FAIL_ON },
		{ "max-connections", required_argument, NULL, O_MAXCONN },
		{ "parallel", required_argument, NULL, O_PARALLEL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ts_scan_options opt;
	ts_scan_options_init(&opt);
	struct ts_error err = { 0 };
	bool json = false;
	enum ts_severity fail_on = TS_SEV_HIGH;
	char **targets = calloc(MAX_TARGETS, sizeof *targets);
	const char *files[16];   /* -f FILE: read after the targets on the command line */
	size_t n_files = 0;
	size_t n = 0;
	int rc = CLI_OK, c;
	if (targets == NULL)
		return CLI_UNREACHABLE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		char *end;
		long v;
		switch (c) {
		case 'f':
			if (n_files < sizeof files / sizeof files[0])
				files[n_files++] = optarg;
			break;
		case O_STARTTLS:
			if (ts_starttls_parse(optarg, &opt.starttls, &err) != TS_OK) {
				rc = cli_usage_error("scan", "--starttls: %s", err.msg);
				goto out;
			}
			opt.starttls_set = true;
			break;
		case O_CA: opt.ca_path = optarg; break;
		case O_NAME: opt.server_name = optarg; break;
		case O_JSON: json = true; break;
		case O_FAIL_ON:
			if (ts_severity_parse(optarg, &fail_on, &err) != TS_OK) {
				rc = cli_usage_error("scan", "--fail-on: %s", err.msg);
				goto out;
			}
			break;
		case O_MAXCONN:
		case O_PARALLEL:
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 64) {
				rc = cli_usage_error("scan", "--%s: wanted a number 1..64, got '%s'",
				                     c == O_MAXCONN ? "max-connections" : "parallel", optarg);
				goto out;
			}
			if (c == O_MAXCONN)
				opt.max_connections = (int)v;
			else
				opt.max_targets = (int)v;
			break;
		case O_TIMEOUT:
			if (!cli_parse_seconds(optarg, &opt.timeout_ms)) {
				rc = cli_usage_error("scan", "--timeout: wanted a positive number of seconds, "
				                     "got '%s'", optarg);
				goto out;
			}
			break;
		case 'h':
			printf(scan_usage, ts_starttls_names());
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage_error("scan", "unknown option");
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (n >= MAX_TARGETS) {
			rc = cli_usage_error("scan", "more than %d targets", MAX_TARGETS);
			goto out;
		}
		targets[n++] = strdup(argv[i]);
	}
	for (size_t i = 0; i < n_files; i++)
		if ((rc = read_targets(files[i], &targets, &n)) != CLI_OK)
			goto out;
	if (n == 0) {
		rc = cli_usage_error("scan", "no target given (host[:port], or -f FILE)");
		goto out;
	}
	struct ts_scan_result *res = calloc(n, sizeof *res);
	if (res == NULL) {
		rc = CLI_UNREACHABLE;
		goto out;
	}
	struct progress prog = { .tty = isatty(STDERR_FILENO) != 0 };
	int st = ts_scan_run((const char *const *)targets, n, &opt, res, on_progress, &prog, &err);
	if (st != TS_OK) {
		cli_error("scan", "%s", err.msg);
		rc = cli_exit_code(st);
		free(res);
		goto out;
	}
	struct ts_report rep;
	ts_report_init(&rep, stdout, json);
	bool failed = false, unreachable = false;
	for (size_t i = 0; i < n; i++) {
		ts_report_scan(&rep, &res[i]);
		if (res[i].status != TS_OK) {
			if (res[i].status == TS_E_TLS)
				failed = true;
			else
				unreachable = true;
		}
		if (ts_scan_worst(&res[i]) >= (int)fail_on)
			failed = true;
		ts_scan_result_clear(&res[i]);
	}
	fflush(stdout);
	for (size_t i = 0; i < n; i++)
		if (res[i].status != TS_OK)
			cli_error("scan", "%s: %s", res[i].target, res[i].error);
	free(res);
	rc = unreachable ? CLI_UNREACHABLE : failed ? CLI_FAIL : CLI_OK;
out:
	for (size_t i = 0; i < n; i++)
		free(targets[i]);
	free(targets);
	return rc;
}
