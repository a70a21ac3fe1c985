#include "tlsscope/bytes.h"

#include <stdlib.h>
#include <string.h>

void ts_reader_init(struct ts_reader *rd, const void *data, size_t len)
{
	*rd = (struct ts_reader){ .data = data, .len = data != NULL ? len : 0 };
}

size_t ts_reader_left(const struct ts_reader *rd)
{
	return rd->error ? 0 : rd->len - rd->off;
}

bool ts_reader_done(const struct ts_reader *rd)
{
	return !rd->error && rd->off == rd->len;
}

size_t ts_reader_offset(const struct ts_reader *rd)
{
	return rd->base + rd->off;
}

void ts_reader_fail(struct ts_reader *rd, const char *field)
{
	if (rd->error)
		return;
	rd->error = true;
	rd->field = field;
	rd->error_off = rd->base + rd->off;
}

void ts_reader_propagate(struct ts_reader *parent, const struct ts_reader *sub)
{
	if (!sub->error || parent->error)
		return;
	parent->error = true;
	parent->field = sub->field;
	parent->error_off = sub->error_off;
}

/* Returns the n bytes at the cursor and advances, or NULL after failing. */
static const uint8_t *take(struct ts_reader *rd, size_t n, const char *field)
{
	if (rd->error)
		return NULL;
	if (n > rd->len - rd->off) {
		ts_reader_fail(rd, field);
		return NULL;
	}
	const uint8_t *p = rd->data + rd->off;
	rd->off += n;
	return p;
}

static uint32_t take_be(struct ts_reader *rd, size_t n, const char *field)
{
	const uint8_t *p = take(rd, n, field);
	uint32_t v = 0;
	for (size_t i = 0; p != NULL && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

uint8_t ts_read_u8(struct ts_reader *rd, const char *field) { return (uint8_t)take_be(rd, 1, field); }
uint16_t ts_read_u16(struct ts_reader *rd, const char *field) { return (uint16_t)take_be(rd, 2, field); }
uint32_t ts_read_u24(struct ts_reader *rd, const char *field) { return take_be(rd, 3, field); }
uint32_t ts_read_u32(struct ts_reader *rd, const char *field) { return take_be(rd, 4, field); }

const uint8_t *ts_read_bytes(struct ts_reader *rd, size_t n, const char *field)
{
	return take(rd, n, field);
}

bool ts_read_skip(struct ts_reader *rd, size_t n, const char *field)
{
	return take(rd, n, field) != NULL || (n == 0 && !rd->error);
}

bool ts_read_vector(struct ts_reader *rd, int length_bytes, struct ts_reader *sub,
                    const char *field)
{
	if (rd->error) {
		/* Already failed: keep the first failure's field and offset. */
		ts_reader_init(sub, NULL, 0);
		sub->error = true;
		sub->field = rd->field;
		sub->error_off = rd->error_off;
		return false;
	}
	size_t start = rd->off;
	size_t n = take_be(rd, (size_t)length_bytes, field);
	const uint8_t *p = rd->error ? NULL : take(rd, n, field);
	if (p == NULL && !(n == 0 && !rd->error)) {
		/* Report the offset of the length field, which is what was wrong. */
		rd->error_off = rd->base + start;
		ts_reader_init(sub, NULL, 0);
		sub->error = true;
		sub->field = field;
		sub->error_off = rd->error_off;
		return false;
	}
	ts_reader_init(sub, p, n);
	sub->base = rd->base + rd->off - n;
	return true;
}

void ts_buf_init(struct ts_buf *b)
{
	*b = (struct ts_buf){ 0 };
}

void ts_buf_clear(struct ts_buf *b)
{
	free(b->data);
	ts_buf_init(b);
}

void ts_buf_reset(struct ts_buf *b)
{
	b->len = 0;
	b->oom = false;
}

bool ts_buf_reserve(struct ts_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (extra > SIZE_MAX / 2 - b->len || (b->max != 0 && b->len + extra > b->max)) {
		b->oom = true;
		return false;
	}
	size_t need = b->len + extra;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap != 0 ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->max != 0 && cap > b->max)
		cap = b->max;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void ts_buf_put(struct ts_buf *b, const void *p, size_t n)
{
	if (n == 0 || !ts_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_be(struct ts_buf *b, uint32_t v, int n)
{
	uint8_t tmp[4];
	for (int i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	ts_buf_put(b, tmp, (size_t)n);
}

void ts_buf_put_u8(struct ts_buf *b, uint8_t v) { put_be(b, v, 1); }
void ts_buf_put_u16(struct ts_buf *b, uint16_t v) { put_be(b, v, 2); }
void ts_buf_put_u24(struct ts_buf *b, uint32_t v) { put_be(b, v, 3); }
void ts_buf_put_u32(struct ts_buf *b, uint32_t v) { put_be(b, v, 4); }

void ts_buf_put_zeros(struct ts_buf *b, size_t n)
{
	if (n == 0 || !ts_buf_reserve(b, n))
		return;
	memset(b->data + b->len, 0, n);
	b->len += n;
}

size_t ts_buf_open_vector(struct ts_buf *b, int length_bytes)
{
	size_t mark = b->len;
	ts_buf_put_zeros(b, (size_t)length_bytes);
	return mark;
}

bool ts_buf_close_vector(struct ts_buf *b, size_t mark, int length_bytes)
{
	if (b->oom)
		return false;
	size_t n = b->len - mark - (size_t)length_bytes;
	if (n >> (8 * length_bytes) != 0) {
		b->oom = true;
		return false;
	}
	for (int i = 0; i < length_bytes; i++)
		b->data[mark + (size_t)i] = (uint8_t)(n >> (8 * (length_bytes - 1 - i)));
	return true;
}

void ts_buf_consume(struct ts_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void ts_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}
