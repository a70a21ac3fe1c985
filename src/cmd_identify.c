/* tlsscope identify INPUT --catalog FILE: name the pages behind encrypted responses. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "identify_input.h"
#include "tlsscope/bytes.h"
#include "tlsscope/catalog.h"
#include "tlsscope/identify.h"
#include "tlsscope/report_catalog.h"

static const char usage_text[] =
	"usage: tlsscope identify INPUT --catalog FILE [--json]\n"
	"Names the page behind each page load seen in INPUT, using a catalog written by\n"
	"'tlsscope catalog'.  INPUT is a capture (pcap or pcapng) or the JSON lines of\n"
	"'tlsscope observe --json'.\n"
	"  --catalog FILE        the site catalog (required)\n"
	"  --json                JSON lines instead of text\n"
	"  --window SECONDS      responses this close belong to the same page load (default 2)\n"
	"  --tolerance BYTES     size difference worth one point of error (default 16)\n";

static bool read_file(const char *path, struct ts_buf *b, struct ts_error *err)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		ts_error_errno(err, TS_E_FILE, errno, "cannot open '%s'", path);
		return false;
	}
	b->max = (size_t)2 << 30;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !b->oom)
		ts_buf_put(b, chunk, n);
	bool failed = ferror(f) || b->oom;
	fclose(f);
	if (failed)
		ts_error_set(err, TS_E_FILE, "cannot read '%s'%s", path, b->oom ? ": larger than 2 GiB" : "");
	return !failed;
}

static bool looks_like_json(const struct ts_buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == ' ' || b->data[i] == '\t' || b->data[i] == '\r' || b->data[i] == '\n')
			continue;
		return b->data[i] == '{';
	}
	return false;
}

int cmd_identify(int argc, char **argv)
{
	enum { O_CATALOG = 256, O_JSON, O_WINDOW, O_TOLERANCE, O_HELP };
	static const struct option opts[] = {
		{ "catalog", required_argument, NULL, O_CATALOG },
		{ "json", no_argument, NULL, O_JSON },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "tolerance", required_argument, NULL, O_TOLERANCE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *catalog_path = NULL;
	bool json = false;
	struct ts_id_config cfg = { 0 };
	int c, ms;
	char *end;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CATALOG: catalog_path = optarg; break;
		case O_JSON: json = true; break;
		case O_WINDOW:
			if (!cli_parse_seconds(optarg, &ms))
				return cli_usage_error("identify", "--window: wanted a positive number of seconds, got '%s'", optarg);
			cfg.window = ms / 1000.0;
			break;
		case O_TOLERANCE:
			errno = 0;
			cfg.tolerance = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *optarg == '-' || *end != '\0' || errno != 0 || cfg.tolerance == 0 ||
			    cfg.tolerance > 1000000)
				return cli_usage_error("identify", "--tolerance: wanted 1 to 1000000 bytes, got '%s'", optarg);
			break;
		case O_HELP:
		case 'h':
			fputs(usage_text, stdout);
			return CLI_OK;
		default:
			return cli_usage_error("identify", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("identify", optind >= argc ? "wanted a capture file" : "wanted one capture file, got more");
	if (catalog_path == NULL)
		return cli_usage_error("identify", "--catalog FILE is required (write one with 'tlsscope catalog URL --out FILE')");
	const char *input = argv[optind];

	struct ts_error err = { 0 };
	struct ts_catalog *cat = NULL;
	int rc = ts_catalog_load(catalog_path, &cat, &err);
	if (rc != TS_OK) {
		if (rc == TS_E_MALFORMED)
			cli_error("identify", "catalog '%s': %s", catalog_path, err.msg);
		else
			cli_error("identify", "%s", err.msg);
		/* A catalog that does not parse is input that cannot be read: exit 3. */
		return cli_exit_code(rc == TS_E_MALFORMED ? TS_E_FILE : rc);
	}
	struct ts_id_input in;
	ts_id_input_init(&in);
	struct ts_buf b;
	ts_buf_init(&b);
	int exit_code = CLI_OK;
	if (!read_file(input, &b, &err)) {
		rc = err.code;
	} else if (looks_like_json(&b)) {
		rc = ts_id_input_parse_observe_json(&in, (const char *)b.data, b.len, &err);
		if (rc == TS_E_MALFORMED)
			rc = ts_error_set(&err, TS_E_FILE, "'%s': %.400s", input, err.msg);
	} else {
		rc = identify_input_capture(input, &in, &err);
	}
	ts_buf_clear(&b);
	struct ts_id_result res = { 0 };
	if (rc == TS_OK)
		rc = ts_identify(cat, &in, &cfg, &res, &err);
	if (rc != TS_OK) {
		cli_error("identify", "%s", err.msg);
		exit_code = cli_exit_code(rc);
	} else {
		struct ts_report r;
		ts_report_init(&r, stdout, json);
		ts_report_identify(&r, cat, &in, &res);
	}
	ts_id_result_clear(&res);
	ts_id_input_clear(&in);
	ts_catalog_free(cat);
	return exit_code;
}
