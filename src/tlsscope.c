/* tlsscope: dispatch to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "version", cmd_version, "print the version of tlsscope and of the libraries it uses" },
	{ "catalog", cmd_catalog, "crawl an HTTPS site and record the size of every page (JSON catalog)" },
	{ "identify", cmd_identify, "name the pages behind encrypted responses, using a site catalog" },
	{ "observe", cmd_observe, "what a passive observer learns from a capture or an interface" },
	{ "scan", cmd_scan, "assess servers' TLS: versions, suites, groups, certificates, findings" },
	{ "cert", cmd_cert, "a local CA for tests; show and verify certificates offline" },
	{ "connect", cmd_connect, "a safe TLS client: verdict on the server, then relay stdin/stdout" },
	{ "serve", cmd_serve, "a TLS server: echo, or terminate TLS in front of a plain TCP service" },
	{ "probe", cmd_probe, "one TLS connection (after STARTTLS if needed) and everything it negotiated" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tlsscope COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'tlsscope COMMAND --help' describes a command; 'man tlsscope' describes them all.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(name, "--version") == 0)
		name = "version";
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", name);
}
