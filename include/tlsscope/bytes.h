/* tlsscope: bounds-checked byte reader and growable byte writer.
 *
 * Parsers never trust a length: every read goes through a ts_reader, which
 * refuses to step past its end.  Errors are sticky: after the first failed
 * read every later read fails too and returns zeros, so a parser can read a
 * whole structure and check rd->error once.  The reader remembers the name of
 * the field and the offset where it first failed, for messages such as
 * "cipher_suites: length 300 exceeds the 120 bytes left at offset 43". */
#ifndef TLSSCOPE_BYTES_H
#define TLSSCOPE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ts_reader {
	const uint8_t *data;
	size_t len;
	size_t off;          /* next byte to read, relative to data */
	size_t base;         /* offset of data[0] within the outermost buffer */
	bool error;          /* sticky: a read went past the end */
	const char *field;   /* name given to the failing read (static string) */
	size_t error_off;    /* absolute offset of the failure */
};

void ts_reader_init(struct ts_reader *rd, const void *data, size_t len);
size_t ts_reader_left(const struct ts_reader *rd);
bool ts_reader_done(const struct ts_reader *rd);   /* no bytes left and no error */
size_t ts_reader_offset(const struct ts_reader *rd); /* absolute offset of next byte */

/* Each read names the field it reads, for the error message. */
uint8_t ts_read_u8(struct ts_reader *rd, const char *field);
uint16_t ts_read_u16(struct ts_reader *rd, const char *field);
uint32_t ts_read_u24(struct ts_reader *rd, const char *field);
uint32_t ts_read_u32(struct ts_reader *rd, const char *field);
/* Returns a pointer to n bytes inside the buffer (not copied), or NULL. */
const uint8_t *ts_read_bytes(struct ts_reader *rd, size_t n, const char *field);
bool ts_read_skip(struct ts_reader *rd, size_t n, const char *field);
/* Reads an n-byte big-endian length (n = 1, 2 or 3) and makes sub a reader over
 * exactly that many following bytes.  Fails (sub empty, rd->error set) when the
 * length exceeds what is left. */
bool ts_read_vector(struct ts_reader *rd, int length_bytes, struct ts_reader *sub,
                    const char *field);
/* Marks rd failed at the current offset (for semantic errors). */
void ts_reader_fail(struct ts_reader *rd, const char *field);
/* Copies a sub-reader's error into its parent, so the first failure wins. */
void ts_reader_propagate(struct ts_reader *parent, const struct ts_reader *sub);

/* Growable output buffer.  Allocation failure is sticky in `oom`; writes after
 * it do nothing.  `max` (0 = no limit) caps the size: growing past it also sets
 * oom. */
struct ts_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	bool oom;
};

void ts_buf_init(struct ts_buf *b);
void ts_buf_clear(struct ts_buf *b);          /* frees the memory */
void ts_buf_reset(struct ts_buf *b);          /* len = 0, keeps the memory */
bool ts_buf_reserve(struct ts_buf *b, size_t extra);
void ts_buf_put(struct ts_buf *b, const void *p, size_t n);
void ts_buf_put_u8(struct ts_buf *b, uint8_t v);
void ts_buf_put_u16(struct ts_buf *b, uint16_t v);
void ts_buf_put_u24(struct ts_buf *b, uint32_t v);
void ts_buf_put_u32(struct ts_buf *b, uint32_t v);
void ts_buf_put_zeros(struct ts_buf *b, size_t n);
/* Opens a length-prefixed vector: writes a placeholder of length_bytes (1..3)
 * and returns its position; ts_buf_close_vector fills it in.  Returns false
 * (and sets oom) if the contents exceed what the prefix can hold. */
size_t ts_buf_open_vector(struct ts_buf *b, int length_bytes);
bool ts_buf_close_vector(struct ts_buf *b, size_t mark, int length_bytes);
/* Removes the first n bytes. */
void ts_buf_consume(struct ts_buf *b, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void ts_hex(const uint8_t *p, size_t n, char *out);

#endif
