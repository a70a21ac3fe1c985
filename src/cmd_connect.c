/* tlsscope connect HOST[:PORT]: a safe TLS client, like `openssl s_client
 * -quiet` with the checks on.  The verdict goes to stderr; stdin and stdout
 * are relayed through the connection until both sides are done. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tlsscope/conn.h"
#include "tlsscope/net.h"
#include "tlsscope/report.h"
#include "tlsscope/report_conn.h"
#include "tlsscope/starttls.h"

static const char usage_text[] =
	"usage: tlsscope connect [OPTIONS] HOST[:PORT]\n"
	"\n"
	"Connects to HOST (port 443 unless given), runs the TLS handshake, prints a\n"
	"verdict on stderr (address, protocol, cipher, the certificate's names, and\n"
	"whether it is trusted for the name, or exactly why not), then relays stdin\n"
	"and stdout through the connection until both sides are done.\n"
	"\n"
	"options:\n"
	"  --ca FILE|DIR               trust these CAs instead of the system store\n"
	"  --name NAME                 the name to verify and send as SNI (default: HOST)\n"
	"  --alpn LIST                 offer these ALPN protocols, e.g. h2,http/1.1\n"
	"  --cert FILE --key FILE      client certificate chain and its key (PEM)\n"
	"  --timeout SECONDS           bound on resolution, connect and each wait of the\n"
	"                              handshake (default 10)\n"
	"  -4, -6                      IPv4 or IPv6 only\n"
	"  --starttls PROTO            speak PROTO's cleartext preamble first: smtp, lmtp, imap,\n"
	"                              pop3, ftp, xmpp, xmpp-server, ldap, postgres, mysql, nntp,\n"
	"                              sieve, irc, or none (default: chosen by the port)\n"
	"  --json                      the verdict as one JSON line (on stderr)\n"
	"  --insecure-noverifycert     accept a chain that does not verify (name still checked)\n"
	"  --insecure-noverifyname     do not check the name\n"
	"  --insecure-noverifytime     ignore validity dates\n"
	"  --insecure-legacy-protocols allow TLS 1.0/1.1, weak suites and keys\n"
	"  -h, --help                  this text\n"
	"\n"
	"exit status: 0 connected and trusted, 1 not trusted or handshake refused,\n"
	"2 usage error, 3 unreachable, timed out, or a file could not be read.\n";

enum {
	OPT_CA = 256, OPT_NAME, OPT_ALPN, OPT_CERT, OPT_KEY, OPT_TIMEOUT, OPT_JSON,
	OPT_NOVERIFYCERT, OPT_NOVERIFYNAME, OPT_NOVERIFYTIME, OPT_LEGACY,
	OPT_STARTTLS,
};

static const struct option options[] = {
	{ "ca", required_argument, NULL, OPT_CA },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "insecure-noverifycert", no_argument, NULL, OPT_NOVERIFYCERT },
	{ "insecure-noverifyname", no_argument, NULL, OPT_NOVERIFYNAME },
	{ "insecure-noverifytime", no_argument, NULL, OPT_NOVERIFYTIME },
	{ "insecure-legacy-protocols", no_argument, NULL, OPT_LEGACY },
	{ "starttls", required_argument, NULL, OPT_STARTTLS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct {
	const char *setting;
	const char *warning;
} warnings[] = {
	{ "insecure_noverifycert", "--insecure-noverifycert: the certificate chain is not checked; anyone can impersonate this server" },
	{ "insecure_noverifyname", "--insecure-noverifyname: the certificate's name is not checked; any trusted certificate is accepted" },
	{ "insecure_noverifytime", "--insecure-noverifytime: expired and not-yet-valid certificates are accepted" },
	{ "insecure_legacy_protocols", "--insecure-legacy-protocols: TLS 1.0/1.1, weak suites and weak keys are allowed" },
};

#define RELAY_BUF 16384

/* --starttls: resolve, connect and speak the cleartext preamble here, then
 * hand the socket to the conn.  *fd is ours to close after the conn is freed. */
static int connect_starttls(struct ts_conn *c, const char *host, uint16_t port, const char *name,
                            enum ts_starttls_proto proto, int family, int timeout_ms, int *fd,
                            struct ts_error *err)
{
	struct ts_addrlist addrs;
	size_t which;
	int rc = ts_resolve(host, port, family, timeout_ms, &addrs, err);
	if (rc == TS_OK)
		rc = ts_connect(&addrs, timeout_ms, fd, &which, err);
	if (rc != TS_OK)
		return rc;
	struct ts_starttls_options sopt = { .host = name, .timeout_ms = timeout_ms };
	rc = ts_starttls_run(*fd, proto, &sopt, NULL, err);
	if (rc == TS_OK && ts_conn_set_fd(c, *fd, name) != TS_OK)
		rc = ts_error_set(err, ts_conn_error_code(c), "%s", ts_conn_error(c));
	return rc;
}

/* Writes all of buf to fd (stdout); false when the reader went away. */
static bool write_out(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

/* After stdin ends, how long the server may stay quiet before we send
 * close_notify.  Many servers (nginx, gnutls-serv) drop a response when the
 * close_notify arrives with the request, so we let the answer come first;
 * an echo server that never closes still ends the session this way. */
#define LINGER_MS 500

/* Relays stdin -> conn and conn -> stdout.  Ends when the server has
 * closed, or timeout_ms after our close_notify.  Returns a TS_* status. */
static int relay(struct ts_conn *c, int timeout_ms)
{
	char in[RELAY_BUF], out[RELAY_BUF];
	size_t in_len = 0, in_off = 0;
	bool stdin_open = true, closed_ours = false, want_write = false, quiet = false;
	int fd = ts_conn_fd(c);
	ts_conn_set_nonblocking(c, true);
	for (;;) {
		/* drain what the connection has (OpenSSL may hold whole records) */
		for (;;) {
			ssize_t n = ts_conn_read(c, out, sizeof out);
			if (n > 0) {
				if (!write_out(STDOUT_FILENO, out, (size_t)n))
					return TS_OK; /* nobody reads our output any more */
				continue;
			}
			if (n == TS_E_WANT_READ || n == TS_E_WANT_WRITE)
				break;
			if (n == TS_E_CLOSED)
				return TS_OK;
			return (int)n;
		}
		/* send what stdin gave */
		want_write = false;
		while (in_off < in_len) {
			ssize_t n = ts_conn_write(c, in + in_off, in_len - in_off);
			if (n > 0) {
				in_off += (size_t)n;
				continue;
			}
			if (n == TS_E_WANT_WRITE || n == TS_E_WANT_READ) {
				want_write = n == TS_E_WANT_WRITE;
				break;
			}
			return (int)n;
		}
		if (in_off == in_len)
			in_off = in_len = 0;
		if (!stdin_open && in_len == 0 && !closed_ours && quiet) {
			int rc = ts_conn_close(c);
			if (rc == TS_OK)
				closed_ours = true;
			else if (rc == TS_E_WANT_WRITE)
				want_write = true;
			else if (rc != TS_E_WANT_READ)
				return rc;
		}
		struct pollfd p[2] = {
			{ .fd = fd, .events = (short)(POLLIN | (want_write ? POLLOUT : 0)) },
			{ .fd = stdin_open && in_len == 0 ? STDIN_FILENO : -1, .events = POLLIN },
		};
		int wait = stdin_open || in_len > 0 ? -1 : closed_ours ? timeout_ms : LINGER_MS;
		int ready = poll(p, 2, wait);
		if (ready < 0 && errno != EINTR)
			return TS_E_INTERNAL;
		quiet = ready == 0;
		if (quiet && closed_ours)
			return TS_OK; /* the server never closed: we are done anyway */
		if (p[1].revents != 0) {
			ssize_t n = read(STDIN_FILENO, in, sizeof in);
			if (n > 0)
				in_len = (size_t)n;
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				stdin_open = false;
		}
	}
}

int cmd_connect(int argc, char **argv)
{
	const char *ca = NULL, *name = NULL, *alpn = NULL, *cert = NULL, *key = NULL;
	int timeout_ms = TS_DEFAULT_TIMEOUT_MS, family = AF_UNSPEC, opt;
	enum ts_starttls_proto starttls = TS_STARTTLS_NONE;
	bool starttls_given = false;
	bool json = false, nvc = false, nvn = false, nvt = false, legacy = false;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":46h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CA: ca = optarg; break;
		case OPT_NAME: name = optarg; break;
		case OPT_ALPN: alpn = optarg; break;
		case OPT_CERT: cert = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_NOVERIFYCERT: nvc = true; break;
		case OPT_NOVERIFYNAME: nvn = true; break;
		case OPT_NOVERIFYTIME: nvt = true; break;
		case OPT_LEGACY: legacy = true; break;
		case OPT_STARTTLS: {
			struct ts_error e = { 0 };
			if (ts_starttls_parse(optarg, &starttls, &e) != TS_OK)
				return cli_usage_error("connect", "%s", e.msg);
			starttls_given = true;
			break;
		}
		case '4': family = AF_INET; break;
		case '6': family = AF_INET6; break;
		case OPT_TIMEOUT:
			if (!cli_parse_seconds(optarg, &timeout_ms))
				return cli_usage_error("connect", "--timeout wants a positive number of seconds, not '%s'", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_OK;
		case ':':
			return cli_usage_error("connect", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("connect", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("connect", optind == argc ? "which HOST[:PORT]?" : "one HOST[:PORT] only");
	if ((cert == NULL) != (key == NULL))
		return cli_usage_error("connect", "--cert and --key go together");

	char host[TS_HOST_MAX];
	uint16_t port;
	struct ts_error err = { 0 };
	uint16_t default_port = starttls_given && starttls != TS_STARTTLS_NONE ? ts_starttls_default_port(starttls) : 443;
	if (ts_parse_hostport(argv[optind], default_port, host, &port, &err) < 0)
		return cli_usage_error("connect", "%s", err.msg);
	if (!starttls_given)
		starttls = ts_starttls_for_port(port);

	struct ts_config *cfg = ts_config_new();
	if (cfg == NULL) {
		cli_error("connect", "out of memory");
		return CLI_UNREACHABLE;
	}
	if (nvc)
		ts_config_insecure_noverifycert(cfg);
	if (nvn)
		ts_config_insecure_noverifyname(cfg);
	if (nvt)
		ts_config_insecure_noverifytime(cfg);
	if (legacy)
		ts_config_insecure_legacy_protocols(cfg);
	int rc = TS_OK;
	if (rc == TS_OK && ca != NULL)
		rc = ts_config_set_ca_path(cfg, ca);
	if (rc == TS_OK && alpn != NULL)
		rc = ts_config_set_alpn(cfg, alpn);
	if (rc == TS_OK && cert != NULL)
		rc = ts_config_add_keypair_file(cfg, cert, key);
	if (rc == TS_OK)
		rc = ts_config_set_timeout(cfg, timeout_ms);
	if (rc == TS_OK)
		rc = ts_config_set_family(cfg, family);
	if (rc < 0) {
		int code = rc == TS_E_INVALID ? cli_usage_error("connect", "%s", ts_config_error(cfg))
		                              : (cli_error("connect", "%s", ts_config_error(cfg)), cli_exit_code(rc));
		ts_config_free(cfg);
		return code;
	}
	const char *names[TS_INSECURE_MAX];
	size_t ninsecure = ts_config_insecure(cfg, names);
	for (size_t i = 0; i < ninsecure; i++)
		for (size_t j = 0; j < sizeof warnings / sizeof warnings[0]; j++)
			if (strcmp(names[i], warnings[j].setting) == 0)
				ts_report_warning("%s", warnings[j].warning);

	signal(SIGPIPE, SIG_IGN);
	struct ts_report r;
	ts_report_init(&r, stderr, json);
	struct ts_conn *c = ts_conn_client(cfg);
	if (c == NULL) {
		ts_config_free(cfg);
		cli_error("connect", "out of memory");
		return CLI_UNREACHABLE;
	}
	int st_fd = -1;
	if (starttls != TS_STARTTLS_NONE) {
		rc = connect_starttls(c, host, port, name != NULL ? name : host, starttls, family, timeout_ms, &st_fd,
		                      &err);
		if (rc != TS_OK) {
			cli_error("connect", "%s", err.msg);
			ts_conn_free(c);
			ts_config_free(cfg);
			if (st_fd >= 0)
				close(st_fd);
			return cli_exit_code(rc);
		}
	} else {
		rc = ts_conn_connect(c, host, port, name);
	}
	if (rc == TS_OK)
		rc = ts_conn_handshake(c);
	if (rc == TS_OK || rc == TS_E_VERIFY || json) {
		ts_report_connect(&r, c, rc, names, ninsecure);
	} else {
		cli_error("connect", "%s", ts_conn_error(c));
	}
	fflush(stderr);
	if (rc == TS_OK) {
		rc = relay(c, timeout_ms);
		if (rc < 0)
			cli_error("connect", "%s", ts_conn_error(c));
	}
	int code = cli_exit_code(rc);
	ts_conn_free(c);
	ts_config_free(cfg);
	if (st_fd >= 0)
		close(st_fd);
	return code;
}
