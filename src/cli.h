/* The command line: shared helpers and one entry point per subcommand. */
#ifndef TLSSCOPE_CLI_H
#define TLSSCOPE_CLI_H

#include <stdbool.h>

/* Exit codes (DESIGN.md). */
enum {
	CLI_OK = 0,          /* success */
	CLI_FAIL = 1,        /* the TLS check failed, or findings at/above --fail-on */
	CLI_USAGE = 2,       /* usage error */
	CLI_UNREACHABLE = 3, /* could not reach or read the input */
};

/* Maps a library status (TS_OK or TS_E_*) to an exit code. */
int cli_exit_code(int status);
/* "tlsscope CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the message and a hint to run --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a positive number of seconds (fractions allowed) into milliseconds. */
bool cli_parse_seconds(const char *s, int *ms);

/* Subcommands: each parses its own options. argv[0] is the subcommand name. */
int cmd_version(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_observe(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
