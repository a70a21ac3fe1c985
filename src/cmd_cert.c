/* tlsscope cert: a local certificate authority for tests and demos, and an
 * offline look at certificates and chains. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tlsscope/cert.h"
#include "tlsscope/report.h"
#include "tlsscope/report_cert.h"

static const char cert_usage[] =
	"usage: tlsscope cert SUBCOMMAND [OPTIONS]\n"
	"\n"
	"A local certificate authority for tests and demos, and an offline look at certificates.\n"
	"\n"
	"subcommands:\n"
	"  ca            make a root CA:          cert ca --dir DIR [--name CN] [--key SPEC] [--days N]\n"
	"  intermediate  make an intermediate CA: cert intermediate --ca DIR --dir DIR2 [--name CN]\n"
	"  issue         issue a certificate:     cert issue --ca DIR --out PREFIX [OPTIONS] NAME...\n"
	"  show          describe certificates:   cert show FILE... [--json]\n"
	"  verify        verify a chain offline:  cert verify FILE [--ca FILE|DIR] [--name NAME] [--at TIME]\n"
	"\n"
	"'tlsscope cert SUBCOMMAND --help' describes each one.\n";

static const char ca_usage[] =
	"usage: tlsscope cert ca --dir DIR [--name CN] [--key SPEC] [--days N] [--json]\n"
	"\n"
	"Makes a root certificate authority: DIR/ca.pem (certificate) and DIR/ca.key (key, mode 0600).\n"
	"DIR is created (mode 0700) when missing; an existing CA in it is never overwritten.\n"
	"\n"
	"  --dir DIR     where to write the CA (required)\n"
	"  --name CN     subject common name (default 'tlsscope Test Root CA')\n"
	"  --key SPEC    rsa:2048 (default), rsa:3072, rsa:4096, rsa:1024, ec:P-256, ec:P-384, ec:P-521, ed25519\n"
	"  --days N      validity in days from an hour ago (default 3650)\n"
	"  --json        describe the result as one JSON line\n";

static const char intermediate_usage[] =
	"usage: tlsscope cert intermediate --ca DIR --dir DIR2 [--name CN] [--key SPEC] [--days N] [--json]\n"
	"\n"
	"Makes an intermediate CA signed by the CA in DIR: DIR2/ca.pem, DIR2/ca.key and DIR2/ca.chain.pem\n"
	"(the intermediate and the intermediates above it, without the root).  Certificates issued from\n"
	"DIR2 get a PREFIX.chain.pem that a server can send as is.\n"
	"\n"
	"  --ca DIR      the issuing CA (a directory made by 'cert ca' or 'cert intermediate'; required)\n"
	"  --dir DIR2    where to write the intermediate (required)\n"
	"  --name CN     subject common name (default 'tlsscope Test Intermediate CA')\n"
	"  --key SPEC    as for 'cert ca' (default rsa:2048)\n"
	"  --days N      validity in days (default 3650)\n"
	"  --json        describe the result as one JSON line\n";

static const char issue_usage[] =
	"usage: tlsscope cert issue (--ca DIR | --self-signed) --out PREFIX [OPTIONS] NAME...\n"
	"\n"
	"Issues a certificate for DNS names and IP addresses, all put in subjectAltName (the first is\n"
	"also the subject CN).  Writes PREFIX.pem, PREFIX.key (mode 0600) and, when the CA is an\n"
	"intermediate, PREFIX.chain.pem (the certificate then the intermediates).  When one of these\n"
	"files exists it writes nothing and exits 3: an existing certificate is never overwritten.\n"
	"\n"
	"  --ca DIR           the issuing CA (a directory made by 'cert ca' or 'cert intermediate')\n"
	"  --out PREFIX       where to write (required)\n"
	"  --name CN          subject common name (default: the first NAME)\n"
	"  --key SPEC         rsa:2048 (default), rsa:3072, rsa:4096, rsa:1024, ec:P-256, ec:P-384, ec:P-521, ed25519\n"
	"  --days N           validity in days (default 825)\n"
	"  --not-before TIME  start of validity (default an hour ago)\n"
	"  --not-after TIME   end of validity (default --not-before plus --days)\n"
	"  --self-signed      sign with its own key (no --ca): a certificate nobody should trust\n"
	"  --cn-only          the name only in the subject CN, no subjectAltName (for tests)\n"
	"  --json             describe the result as one JSON line\n"
	"\n"
	"TIME is 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS' (UTC), 'now', relative to now like -30d, +10d, -2h,\n"
	"+15m, -5s, or @UNIXSECONDS.\n";

static const char show_usage[] =
	"usage: tlsscope cert show FILE... [--json]\n"
	"\n"
	"Describes every certificate in each file (PEM, or one DER certificate): subject, subjectAltNames,\n"
	"issuer, validity with days left, key type and size, signature algorithm, SHA-256 fingerprint,\n"
	"CA flag.\n"
	"\n"
	"  --json   one JSON line per certificate (docs/json.md, 'cert show')\n";

static const char verify_usage[] =
	"usage: tlsscope cert verify FILE [--ca FILE|DIR] [--name NAME] [--at TIME] [--client] [--json] [--insecure-*]\n"
	"\n"
	"Verifies a chain file (leaf first, as a server sends it) offline, with the same rules as\n"
	"'connect': a chain to a trusted root, every certificate in date, keys of at least 2048 bits\n"
	"(RSA) or 224 bits (EC), no MD5 or SHA-1 signatures, and NAME matched against subjectAltName\n"
	"only.  Prints the verdict and the reason; exits 0 when trusted, 1 when not.\n"
	"\n"
	"  --ca FILE|DIR            trusted CAs (default: the system trust store)\n"
	"  --name NAME              DNS name or IP address to check (default: no name check)\n"
	"  --at TIME                verify as of TIME (as for 'cert issue'; default now)\n"
	"  --client                 check a client's certificate (clientAuth), not a server's\n"
	"  --insecure-noverifycert  accept a chain that does not lead to a trusted root\n"
	"  --insecure-noverifyname  do not check the name\n"
	"  --insecure-noverifytime  ignore validity dates\n"
	"  --json                   the verdict as one JSON line (docs/json.md, 'cert verify')\n";

enum {
	OPT_DIR = 256, OPT_NAME, OPT_KEY, OPT_DAYS, OPT_CA, OPT_OUT, OPT_NOT_BEFORE, OPT_NOT_AFTER,
	OPT_SELF_SIGNED, OPT_CN_ONLY, OPT_JSON, OPT_AT, OPT_NOVERIFYCERT, OPT_NOVERIFYNAME,
	OPT_NOVERIFYTIME, OPT_HELP, OPT_CLIENT,
};

static const struct option all_options[] = {
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "days", required_argument, NULL, OPT_DAYS },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "not-before", required_argument, NULL, OPT_NOT_BEFORE },
	{ "not-after", required_argument, NULL, OPT_NOT_AFTER },
	{ "self-signed", no_argument, NULL, OPT_SELF_SIGNED },
	{ "cn-only", no_argument, NULL, OPT_CN_ONLY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "at", required_argument, NULL, OPT_AT },
	{ "insecure-noverifycert", no_argument, NULL, OPT_NOVERIFYCERT },
	{ "insecure-noverifyname", no_argument, NULL, OPT_NOVERIFYNAME },
	{ "insecure-noverifytime", no_argument, NULL, OPT_NOVERIFYTIME },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "client", no_argument, NULL, OPT_CLIENT },
	{ NULL, 0, NULL, 0 },
};

struct cert_args {
	const char *dir, *name, *key, *ca, *out, *not_before, *not_after, *at;
	int days;
	bool self_signed, cn_only, json, help, client;
	bool noverifycert, noverifyname, noverifytime;
	char **rest;
	int rest_count;
};

/* Parses the options; `allowed` lists the OPT_* values this subcommand takes
 * (0-terminated).  Returns -1 when all is well, else the exit code. */
static int parse_args(const char *cmd, int argc, char **argv, const int *allowed,
                      struct cert_args *a)
{
	memset(a, 0, sizeof *a);
	opterr = 0;
	optind = 0; /* a full reset in glibc */
	int c, idx;
	while ((c = getopt_long(argc, argv, ":h", all_options, &idx)) != -1) {
		if (c == '?')
			return optopt != 0 ? cli_usage_error(cmd, "unknown option '-%c'", optopt)
			                   : cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		if (c == 'h')
			c = OPT_HELP;
		bool ok = c == OPT_HELP;
		for (const int *p = allowed; *p != 0 && !ok; p++)
			ok = *p == c;
		if (!ok)
			return cli_usage_error(cmd, "option '%s' does not apply here", argv[optind - 1]);
		switch (c) {
		case OPT_DIR: a->dir = optarg; break;
		case OPT_NAME: a->name = optarg; break;
		case OPT_KEY: a->key = optarg; break;
		case OPT_CA: a->ca = optarg; break;
		case OPT_OUT: a->out = optarg; break;
		case OPT_NOT_BEFORE: a->not_before = optarg; break;
		case OPT_NOT_AFTER: a->not_after = optarg; break;
		case OPT_AT: a->at = optarg; break;
		case OPT_SELF_SIGNED: a->self_signed = true; break;
		case OPT_CN_ONLY: a->cn_only = true; break;
		case OPT_JSON: a->json = true; break;
		case OPT_NOVERIFYCERT: a->noverifycert = true; break;
		case OPT_NOVERIFYNAME: a->noverifyname = true; break;
		case OPT_NOVERIFYTIME: a->noverifytime = true; break;
		case OPT_HELP: a->help = true; break;
		case OPT_CLIENT: a->client = true; break;
		case OPT_DAYS: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 36500)
				return cli_usage_error(cmd, "bad --days '%s' (expected a number of days, 1 to 36500)",
				                       optarg);
			a->days = (int)v;
			break;
		}
		}
	}
	a->rest = argv + optind;
	a->rest_count = argc - optind;
	return -1;
}

static int check_key_spec(const char *cmd, const char *spec)
{
	if (spec == NULL || ts_cert_key_spec_known(spec))
		return -1;
	return cli_usage_error(cmd, "unknown key type '%s' (expected rsa:2048, rsa:3072, rsa:4096, "
	                       "rsa:1024, ec:P-256, ec:P-384, ec:P-521 or ed25519)", spec);
}

/* Describes what was just written, reading it back from disk. */
static int report_made(const char *cmd, const char *what, const char *prefix, bool json)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX], chain_path[PATH_MAX];
	snprintf(cert_path, sizeof cert_path, "%s.pem", prefix);
	snprintf(key_path, sizeof key_path, "%s.key", prefix);
	snprintf(chain_path, sizeof chain_path, "%s.chain.pem", prefix);
	struct ts_cert_info *infos;
	size_t n;
	struct ts_error err = { 0 };
	int rc = ts_cert_read_file(cert_path, &infos, &n, &err);
	if (rc != TS_OK) {
		cli_error(cmd, "%s", err.msg);
		return cli_exit_code(rc);
	}
	struct ts_report r;
	ts_report_init(&r, stdout, json);
	ts_report_cert_made(&r, what, cert_path, key_path, access(chain_path, F_OK) == 0 ? chain_path : NULL,
	                    &infos[0], (int64_t)time(NULL));
	ts_cert_infos_free(infos, n);
	return CLI_OK;
}

/* Refuses when PREFIX.pem, PREFIX.key or PREFIX.chain.pem exists (a
 * dangling symbolic link too: lstat): checked before anything is written,
 * so that a refusal writes nothing. */
static int refuse_existing(const char *cmd, const char *prefix, const char *what)
{
	static const char *const suffixes[] = { ".pem", ".key", ".chain.pem" };
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s%s", prefix, suffixes[i]);
		struct stat st;
		if (lstat(path, &st) == 0) {
			cli_error(cmd, "'%s' already exists: not overwriting %s", path, what);
			return CLI_UNREACHABLE;
		}
	}
	return -1;
}

/* Creates dir (0700) when missing and refuses to overwrite a CA in it. */
static int prepare_ca_dir(const char *cmd, const char *dir, char *prefix, size_t size)
{
	if (strlen(dir) > PATH_MAX - 32)
		return cli_usage_error(cmd, "directory name too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		cli_error(cmd, "cannot make directory '%s': %s", dir, strerror(errno));
		return CLI_UNREACHABLE;
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		cli_error(cmd, "'%s' is not a directory", dir);
		return CLI_UNREACHABLE;
	}
	snprintf(prefix, size, "%s/ca", dir);
	return refuse_existing(cmd, prefix, "a CA");
}

static int cert_ca(int argc, char **argv, bool intermediate)
{
	const char *cmd = intermediate ? "cert intermediate" : "cert ca";
	static const int ca_opts[] = { OPT_DIR, OPT_NAME, OPT_KEY, OPT_DAYS, OPT_JSON, 0 };
	static const int int_opts[] = { OPT_CA, OPT_DIR, OPT_NAME, OPT_KEY, OPT_DAYS, OPT_JSON, 0 };
	struct cert_args a;
	int rc = parse_args(cmd, argc, argv, intermediate ? int_opts : ca_opts, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(intermediate ? intermediate_usage : ca_usage, stdout);
		return CLI_OK;
	}
	if (a.rest_count > 0)
		return cli_usage_error(cmd, "unexpected argument '%s'", a.rest[0]);
	if (a.dir == NULL)
		return cli_usage_error(cmd, "needs --dir DIR");
	if (intermediate && a.ca == NULL)
		return cli_usage_error(cmd, "needs --ca DIR (the issuing CA)");
	if ((rc = check_key_spec(cmd, a.key)) >= 0)
		return rc;
	char prefix[PATH_MAX];
	if ((rc = prepare_ca_dir(cmd, a.dir, prefix, sizeof prefix)) >= 0)
		return rc;
	struct ts_cert_request req = {
		.key_spec = a.key,
		.common_name = a.name != NULL ? a.name
		             : intermediate ? "tlsscope Test Intermediate CA" : "tlsscope Test Root CA",
		.days = a.days,
		.is_ca = true,
	};
	struct ts_error err = { 0 };
	rc = ts_cert_generate(&req, intermediate ? a.ca : NULL, prefix, &err);
	if (rc != TS_OK) {
		cli_error(cmd, "%s", err.msg);
		return cli_exit_code(rc);
	}
	return report_made(cmd, intermediate ? "intermediate CA" : "root CA", prefix, a.json);
}

static int parse_time_opt(const char *cmd, const char *opt, const char *text, int64_t now,
                          int64_t *out)
{
	struct ts_error err = { 0 };
	if (ts_cert_parse_time(text, now, out, &err) != TS_OK)
		return cli_usage_error(cmd, "%s: %s", opt, err.msg);
	return -1;
}

static int cert_issue(int argc, char **argv)
{
	const char *cmd = "cert issue";
	static const int opts[] = { OPT_CA, OPT_OUT, OPT_KEY, OPT_DAYS, OPT_NOT_BEFORE, OPT_NOT_AFTER,
	                            OPT_SELF_SIGNED, OPT_CN_ONLY, OPT_JSON, OPT_NAME, 0 };
	struct cert_args a;
	int rc = parse_args(cmd, argc, argv, opts, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(issue_usage, stdout);
		return CLI_OK;
	}
	if (a.out == NULL)
		return cli_usage_error(cmd, "needs --out PREFIX");
	if (a.ca == NULL && !a.self_signed)
		return cli_usage_error(cmd, "needs --ca DIR (or --self-signed)");
	if (a.ca != NULL && a.self_signed)
		return cli_usage_error(cmd, "--self-signed takes no --ca");
	if (a.rest_count == 0)
		return cli_usage_error(cmd, "needs at least one NAME (a DNS name or an IP address)");
	if (a.cn_only && a.rest_count > 1)
		return cli_usage_error(cmd, "--cn-only takes exactly one NAME");
	if ((rc = check_key_spec(cmd, a.key)) >= 0)
		return rc;
	if (strlen(a.out) > PATH_MAX - 32)
		return cli_usage_error(cmd, "--out is too long");
	int64_t now = (int64_t)time(NULL), nb = 0, na = 0;
	if (a.not_before != NULL && (rc = parse_time_opt(cmd, "--not-before", a.not_before, now, &nb)) >= 0)
		return rc;
	if (a.not_after != NULL && (rc = parse_time_opt(cmd, "--not-after", a.not_after, now, &na)) >= 0)
		return rc;
	if (a.not_before != NULL && a.not_after != NULL && na <= nb)
		return cli_usage_error(cmd, "--not-after must be later than --not-before");
	if (a.not_after != NULL && a.not_before == NULL && na <= now - 3600) {
		/* An already expired certificate: start it --days (or a year) before its end. */
		nb = na - (int64_t)(a.days > 0 ? a.days : 365) * 86400;
	}
	if ((rc = refuse_existing(cmd, a.out, "a certificate")) >= 0)
		return rc;
	struct ts_cert_request req = {
		.key_spec = a.key,
		.common_name = a.name,
		.names = (const char *const *)a.rest,
		.name_count = (size_t)a.rest_count,
		.not_before = nb,
		.not_after = na,
		.days = a.days,
		.self_signed = a.self_signed,
		.cn_only = a.cn_only,
	};
	struct ts_error err = { 0 };
	rc = ts_cert_generate(&req, a.ca, a.out, &err);
	if (rc != TS_OK) {
		cli_error(cmd, "%s", err.msg);
		return cli_exit_code(rc);
	}
	return report_made(cmd, a.self_signed ? "self-signed certificate" : "certificate", a.out, a.json);
}

static int cert_show(int argc, char **argv)
{
	const char *cmd = "cert show";
	static const int opts[] = { OPT_JSON, 0 };
	struct cert_args a;
	int rc = parse_args(cmd, argc, argv, opts, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(show_usage, stdout);
		return CLI_OK;
	}
	if (a.rest_count == 0)
		return cli_usage_error(cmd, "needs a FILE");
	struct ts_report r;
	ts_report_init(&r, stdout, a.json);
	int64_t now = (int64_t)time(NULL);
	int exit_code = CLI_OK;
	for (int f = 0; f < a.rest_count; f++) {
		struct ts_cert_info *infos;
		size_t n;
		struct ts_error err = { 0 };
		rc = ts_cert_read_file(a.rest[f], &infos, &n, &err);
		if (rc != TS_OK) {
			cli_error(cmd, "%s", err.msg);
			exit_code = cli_exit_code(rc);
			continue;
		}
		if (f > 0 && !a.json)
			fputc('\n', stdout);
		for (size_t i = 0; i < n; i++)
			ts_report_cert(&r, a.rest[f], i, n, &infos[i], now);
		ts_cert_infos_free(infos, n);
	}
	return exit_code;
}

static int cert_verify(int argc, char **argv)
{
	const char *cmd = "cert verify";
	static const int opts[] = { OPT_CA, OPT_NAME, OPT_AT, OPT_JSON, OPT_NOVERIFYCERT,
	                            OPT_NOVERIFYNAME, OPT_NOVERIFYTIME, OPT_CLIENT, 0 };
	struct cert_args a;
	int rc = parse_args(cmd, argc, argv, opts, &a);
	if (rc >= 0)
		return rc;
	if (a.help) {
		fputs(verify_usage, stdout);
		return CLI_OK;
	}
	if (a.rest_count != 1)
		return a.rest_count == 0 ? cli_usage_error(cmd, "needs a FILE (the chain, leaf first)")
		                         : cli_usage_error(cmd, "takes one FILE, not %d", a.rest_count);
	int64_t now = (int64_t)time(NULL), at = 0;
	if (a.at != NULL && (rc = parse_time_opt(cmd, "--at", a.at, now, &at)) >= 0)
		return rc;
	if (a.noverifycert)
		ts_report_warning("--insecure-noverifycert: the chain is not checked against trusted CAs");
	if (a.noverifyname)
		ts_report_warning("--insecure-noverifyname: the name is not checked");
	if (a.noverifytime)
		ts_report_warning("--insecure-noverifytime: validity dates are ignored");
	struct ts_error err = { 0 };
	struct ts_trust *trust;
	rc = ts_trust_new(a.ca, &trust, &err);
	if (rc != TS_OK) {
		cli_error(cmd, "%s", err.msg);
		return cli_exit_code(rc);
	}
	struct ts_verify_options opt = {
		.name = a.name,
		.insecure_noverifycert = a.noverifycert,
		.insecure_noverifyname = a.noverifyname,
		.insecure_noverifytime = a.noverifytime,
		.at = at,
		.client_purpose = a.client,
	};
	struct ts_verify_result res;
	rc = ts_cert_verify_file(trust, a.rest[0], &opt, &res, &err);
	ts_trust_free(trust);
	if (rc != TS_OK && rc != TS_E_VERIFY) {
		cli_error(cmd, "%s", err.msg);
		ts_verify_result_clear(&res);
		return cli_exit_code(rc);
	}
	struct ts_report r;
	ts_report_init(&r, stdout, a.json);
	ts_report_cert_verify(&r, a.rest[0], a.name, &res, at != 0 ? at : now);
	if (rc == TS_E_VERIFY)
		cli_error(cmd, "%s", res.error);
	else if (res.waived[0] != '\0')
		ts_report_warning("accepted although %s", res.waived);
	ts_verify_result_clear(&res);
	return cli_exit_code(rc);
}

int cmd_cert(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("cert", "needs a subcommand: ca, intermediate, issue, show or verify");
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		fputs(cert_usage, stdout);
		return CLI_OK;
	}
	if (strcmp(sub, "ca") == 0)
		return cert_ca(argc - 1, argv + 1, false);
	if (strcmp(sub, "intermediate") == 0)
		return cert_ca(argc - 1, argv + 1, true);
	if (strcmp(sub, "issue") == 0)
		return cert_issue(argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0)
		return cert_show(argc - 1, argv + 1);
	if (strcmp(sub, "verify") == 0)
		return cert_verify(argc - 1, argv + 1);
	return cli_usage_error("cert", "unknown subcommand '%s' (expected ca, intermediate, issue, show or verify)",
	                       sub);
}
