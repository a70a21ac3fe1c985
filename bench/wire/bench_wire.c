/* bench_wire FILE [ITERATIONS]: parses the ClientHello in FILE (TLS records,
 * as in tests/data/hellos/) and computes its JA3 and JA4, ITERATIONS times;
 * prints the cost of each step per hello in nanoseconds (best of 5 runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tlsscope/fingerprint.h"
#include "tlsscope/wire.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* CPU time: the machine is shared */
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct ts_client_hello ch;

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_wire FILE [ITERATIONS]\n");
		return 2;
	}
	long iters = argc > 2 ? atol(argv[2]) : 200000;
	static uint8_t buf[65536];
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 3;
	}
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	/* the handshake body: one record assumed (a browser hello fits in one) */
	if (len < 9 || buf[0] != 22 || buf[5] != 1) {
		fprintf(stderr, "%s: not a ClientHello record\n", argv[1]);
		return 3;
	}
	const uint8_t *body = buf + 9;
	size_t blen = ((size_t)buf[6] << 16 | (size_t)buf[7] << 8 | buf[8]);
	char ja3[TS_JA3_HASH_LEN], ja4[TS_JA4_LEN];
	double best[4] = { 1e30, 1e30, 1e30, 1e30 };
	for (int run = 0; run < 5; run++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			struct ts_reader rd;
			ts_reader_init(&rd, body, blen);
			if (ts_parse_client_hello(&rd, &ch, NULL) != 0)
				return 1;
		}
		double t1 = now_ns();
		for (long i = 0; i < iters; i++)
			ts_ja3(&ch, ja3);
		double t2 = now_ns();
		for (long i = 0; i < iters; i++)
			ts_ja4(&ch, ja4);
		double t3 = now_ns();
		for (long i = 0; i < iters; i++) {
			struct ts_reader rd;
			ts_reader_init(&rd, body, blen);
			ts_parse_client_hello(&rd, &ch, NULL);
			ts_ja3(&ch, ja3);
			ts_ja4(&ch, ja4);
		}
		double t4 = now_ns();
		double r[4] = { (t1 - t0) / iters, (t2 - t1) / iters, (t3 - t2) / iters, (t4 - t3) / iters };
		for (int k = 0; k < 4; k++)
			best[k] = r[k] < best[k] ? r[k] : best[k];
	}
	printf("hello %zu bytes, %zu suites, %zu extensions; JA3 %s JA4 %s\n", len, ch.n_suites,
	       ch.n_ext, ja3, ja4);
	printf("parse %.0f ns  ja3 %.0f ns  ja4 %.0f ns  parse+ja3+ja4 %.0f ns  (best of 5 x %ld)\n",
	       best[0], best[1], best[2], best[3], iters);
	return 0;
}
