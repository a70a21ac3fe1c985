/* Fuzz target: the STARTTLS preambles read whatever a server sends.  The
 * first byte picks the protocol, the rest is everything the "server" says,
 * already waiting in a socketpair whose far end is then shut down. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsscope/starttls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum ts_starttls_proto proto = (enum ts_starttls_proto)(1 + data[0] % (TS_STARTTLS_COUNT - 1));
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	size_t off = 1;
	while (off < size) {
		ssize_t put = write(sv[1], data + off, size - off);
		if (put <= 0)
			break;
		off += (size_t)put;
	}
	shutdown(sv[1], SHUT_WR);
	struct ts_starttls_options opt = { .host = "fuzz.test", .timeout_ms = 1000 };
	struct ts_starttls_result res;
	struct ts_error err = { 0 };
	ts_starttls_result_init(&res);
	ts_starttls_run(sv[0], proto, &opt, &res, &err);
	ts_starttls_result_clear(&res);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
