/* The HTTP/1.1 framer of serve --pad: requests then responses, split into
 * pieces of varying size.  Input: one byte of piece size, then the request
 * bytes, a NUL, the response bytes.  The framer must never take more bytes
 * than it was given, never loop without progress, and end responses only
 * where the bytes say so. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tlsscope/pad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	const uint8_t *nul = memchr(data, 0, size);
	size_t rlen = nul != NULL ? (size_t)(nul - data) : size;
	const uint8_t *resp = nul != NULL ? nul + 1 : data + size;
	size_t plen = nul != NULL ? size - rlen - 1 : 0;
	struct ts_pad_policy p;
	struct ts_error err = { 0 };
	if (ts_pad_policy_parse(step % 2 ? "buckets" : "block:512", &p, &err) < 0)
		__builtin_trap();
	struct ts_pad *t = ts_pad_new(&p);
	if (t == NULL)
		return 0;
	for (size_t off = 0; off < rlen; off += step)
		ts_pad_request(t, data + off, rlen - off < step ? rlen - off : step);
	for (size_t off = 0; off < plen;) {
		size_t piece = plen - off < step ? plen - off : step, done = 0;
		while (done < piece) {
			uint64_t pad;
			bool ended;
			size_t n = ts_pad_response(t, resp + off + done, piece - done, &pad, &ended);
			if (n == 0 || n > piece - done || (!ended && pad != 0))
				__builtin_trap();
			done += n;
		}
		off += piece;
	}
	ts_pad_free(t);
	return 0;
}
