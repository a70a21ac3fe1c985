/* tlsscope catalog URL: crawl a site and record the size of every page and sub-resource. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tlsscope/catalog.h"
#include "tlsscope/report_catalog.h"

#define MAX_RESOLVE 16

static const char usage_text[] =
	"usage: tlsscope catalog URL [OPTIONS]\n"
	"Crawls the HTTPS site at URL as a browser would and writes a JSON catalog of the\n"
	"size of every page and sub-resource (the input of 'tlsscope identify').\n"
	"  --max-pages N             follow at most N pages (default 500)\n"
	"  --out FILE                write the catalog to FILE (default: standard output)\n"
	"  --ca FILE|DIR             trust these CA certificates instead of the system store\n"
	"  --insecure-noverifycert   do not verify the server certificate\n"
	"  --http1.1 | --http2       force the HTTP version (default: HTTP/2 when offered)\n"
	"  --resolve HOST:PORT:ADDR  connect to ADDR for HOST:PORT (as curl --resolve)\n"
	"  --parallel N              transfers at once (default 4)\n"
	"  --timeout SECONDS         per transfer (default 30)\n"
	"  --max-body BYTES          largest response body fetched (default 16 MiB)\n";

static void on_progress(void *arg, const struct ts_catalog_progress *p)
{
	ts_report_catalog_progress(p);
}

static bool parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int cmd_catalog(int argc, char **argv)
{
	enum { O_MAX_PAGES = 256, O_OUT, O_CA, O_INSECURE, O_H1, O_H2, O_RESOLVE, O_PARALLEL,
	       O_TIMEOUT, O_MAX_BODY, O_HELP };
	static const struct option opts[] = {
		{ "max-pages", required_argument, NULL, O_MAX_PAGES },
		{ "out", required_argument, NULL, O_OUT },
		{ "ca", required_argument, NULL, O_CA },
		{ "insecure-noverifycert", no_argument, NULL, O_INSECURE },
		{ "http1.1", no_argument, NULL, O_H1 },
		{ "http2", no_argument, NULL, O_H2 },
		{ "resolve", required_argument, NULL, O_RESOLVE },
		{ "parallel", required_argument, NULL, O_PARALLEL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-body", required_argument, NULL, O_MAX_BODY },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct ts_catalog_config cfg = { 0 };
	const char *out_path = NULL, *ca = NULL;
	const char *resolve[MAX_RESOLVE];
	size_t n_resolve = 0;
	unsigned long long n;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_MAX_PAGES:
			if (!parse_count(optarg, 1000000, &n))
				return cli_usage_error("catalog", "--max-pages: wanted a number from 1 to 1000000, got '%s'", optarg);
			cfg.max_pages = (size_t)n;
			break;
		case O_OUT: out_path = optarg; break;
		case O_CA: ca = optarg; break;
		case O_INSECURE: cfg.insecure_noverifycert = true; break;
		case O_H1: cfg.http_version = 11; break;
		case O_H2: cfg.http_version = 2; break;
		case O_RESOLVE:
			if (n_resolve == MAX_RESOLVE)
				return cli_usage_error("catalog", "--resolve: at most %d entries", MAX_RESOLVE);
			if (strchr(optarg, ':') == NULL || strchr(strchr(optarg, ':') + 1, ':') == NULL)
				return cli_usage_error("catalog", "--resolve: wanted HOST:PORT:ADDR, got '%s'", optarg);
			resolve[n_resolve++] = optarg;
			break;
		case O_PARALLEL:
			if (!parse_count(optarg, 16, &n))
				return cli_usage_error("catalog", "--parallel: wanted 1 to 16, got '%s'", optarg);
			cfg.parallel = (int)n;
			break;
		case O_TIMEOUT:
			if (!cli_parse_seconds(optarg, &cfg.timeout_ms))
				return cli_usage_error("catalog", "--timeout: wanted a positive number of seconds, got '%s'", optarg);
			break;
		case O_MAX_BODY:
			if (!parse_count(optarg, (unsigned long long)1 << 32, &n))
				return cli_usage_error("catalog", "--max-body: wanted 1 to 4294967296 bytes, got '%s'", optarg);
			cfg.max_body = (size_t)n;
			break;
		case O_HELP:
		case 'h':
			fputs(usage_text, stdout);
			return CLI_OK;
		default:
			return cli_usage_error("catalog", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("catalog", optind >= argc ? "wanted a URL" : "wanted one URL, got more");
	cfg.url = argv[optind];
	if (strncasecmp(cfg.url, "https://", 8) != 0)
		return cli_usage_error("catalog", "wanted an https:// URL, got '%s'", cfg.url);
	if (ca != NULL) {
		struct stat st;
		if (stat(ca, &st) != 0) {
			cli_error("catalog", "--ca: cannot use '%s': %s", ca, strerror(errno));
			return CLI_UNREACHABLE;
		}
		if (S_ISDIR(st.st_mode))
			cfg.ca_dir = ca;
		else
			cfg.ca_file = ca;
	}
	if (cfg.insecure_noverifycert)
		ts_report_warning("--insecure-noverifycert: the server certificate is not verified");
	cfg.resolve = resolve;
	cfg.n_resolve = n_resolve;
	bool tty = isatty(STDERR_FILENO) == 1;
	if (tty) {
		cfg.progress = on_progress;
	}

	struct ts_catalog *cat = NULL;
	struct ts_error err = { 0 };
	int rc = ts_catalog_crawl(&cfg, &cat, &err);
	if (tty)
		ts_report_catalog_progress(NULL);
	if (rc != TS_OK) {
		cli_error("catalog", "%s", err.msg);
		return cli_exit_code(rc);
	}
	int exit_code = CLI_OK;
	FILE *out = stdout;
	if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
		cli_error("catalog", "cannot write '%s': %s", out_path, strerror(errno));
		exit_code = CLI_UNREACHABLE;
	}
	if (out != NULL) {
		bool failed = ts_report_catalog_json(out, cat) != 0;
		if (out != stdout)
			failed |= fclose(out) != 0;
		else
			failed |= fflush(out) != 0;
		if (failed) {
			cli_error("catalog", "writing the catalog to '%s' failed", out_path ? out_path : "standard output");
			exit_code = CLI_UNREACHABLE;
		}
	}
	/* The summary goes where it does not mix with the catalog. */
	struct ts_report r;
	ts_report_init(&r, out_path != NULL ? stdout : stderr, false);
	ts_report_catalog_summary(&r, cat);
	ts_catalog_free(cat);
	return exit_code;
}
