/*
 * header.c - NATS/1.0 header blocks (ADR-4, shared/spec/nats-protocol.md §4).
 *
 *   NATS/1.0[ <3-digit status>[ <description>]]\r\n
 *   Name: value\r\n          (zero or more; case-preserving, repeatable)
 *   \r\n
 *
 * Owns: validating a block, reading its status line, finding and iterating
 * fields, and building a block into a caller's buffer.
 *
 * Promises: the readers take untrusted bytes (straight from an HPUB) and
 * never read outside [hdr, hdr+len), whatever the bytes are: no NUL
 * termination is assumed, every index is checked against len first. They
 * never allocate. Only CRLF ends a line; a lone CR or LF is an ordinary
 * byte to the readers (jn_hdr_validate rejects it). The readers are lenient
 * the way nats-server is (it relays an unvalidated block and looks keys up
 * in it): a line without ':' is skipped, a missing final blank line just
 * ends the fields. Strictness lives in jn_hdr_validate only.
 *
 * The builder takes trusted data (keys and values chosen by the server or
 * checked by an adapter): CR/LF in them is a bug and is asserted.
 */
#include "core/header.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "core/err.h"

#define PREFIX "NATS/1.0"
#define PREFIX_LEN (sizeof PREFIX - 1)

static bool has_prefix(const uint8_t *hdr, size_t len)
{
	return hdr && len >= PREFIX_LEN && memcmp(hdr, PREFIX, PREFIX_LEN) == 0;
}

/* Index of the CR of the first CRLF at or after `from`, or len if none. */
static size_t find_crlf(const uint8_t *hdr, size_t len, size_t from)
{
	while (from < len) {
		const uint8_t *cr = memchr(hdr + from, '\r', len - from);
		if (!cr)
			return len;
		size_t i = (size_t)(cr - hdr);
		if (i + 1 < len && hdr[i + 1] == '\n')
			return i;
		from = i + 1;
	}
	return len;
}

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* A field name byte: visible ASCII except ':' (and no whitespace/control). */
static bool is_name_byte(uint8_t c) { return c > 0x20 && c < 0x7f && c != ':'; }

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

int jn_hdr_validate(const uint8_t *hdr, size_t len)
{
	if (!has_prefix(hdr, len))
		return -JN_EBADHDR;
	/* No lone CR or LF anywhere: each CR is followed by LF and each LF
	 * preceded by CR. */
	for (size_t i = 0; i < len; i++) {
		if (hdr[i] == '\r' && (i + 1 >= len || hdr[i + 1] != '\n'))
			return -JN_EBADHDR;
		if (hdr[i] == '\n' && (i == 0 || hdr[i - 1] != '\r'))
			return -JN_EBADHDR;
	}
	size_t eol = find_crlf(hdr, len, 0);
	if (eol == len)
		return -JN_EBADHDR;
	/* Status line: "NATS/1.0" alone, or followed by " <3 digits>" and
	 * optionally " <description>". */
	if (eol > PREFIX_LEN) {
		size_t i = PREFIX_LEN;
		if (!is_blank(hdr[i]))
			return -JN_EBADHDR;
		while (i < eol && is_blank(hdr[i]))
			i++;
		if (i < eol) {
			if (eol - i < 3 || !is_digit(hdr[i]) || !is_digit(hdr[i + 1]) ||
			    !is_digit(hdr[i + 2]))
				return -JN_EBADHDR;
			i += 3;
			if (i < eol && !is_blank(hdr[i]))
				return -JN_EBADHDR;
		}
	}
	size_t pos = eol + 2;
	for (;;) {
		if (pos >= len)
			return -JN_EBADHDR;          /* no blank line */
		eol = find_crlf(hdr, len, pos);
		if (eol == len)
			return -JN_EBADHDR;
		if (eol == pos)                     /* the blank line */
			return eol + 2 == len ? 0 : -JN_EBADHDR;
		const uint8_t *colon = memchr(hdr + pos, ':', eol - pos);
		if (!colon || colon == hdr + pos)
			return -JN_EBADHDR;
		for (const uint8_t *p = hdr + pos; p < colon; p++)
			if (!is_name_byte(*p))
				return -JN_EBADHDR;
		pos = eol + 2;
	}
}

int jn_hdr_status(const uint8_t *hdr, size_t len, int *code,
                  const char **desc, size_t *desc_len)
{
	int c = 0;
	size_t ds = 0, de = 0;
	int rc = 0;
	if (!has_prefix(hdr, len)) {
		rc = -JN_EBADHDR;
		goto out;
	}
	size_t eol = find_crlf(hdr, len, 0);
	if (eol == len) {
		rc = -JN_EBADHDR;
		goto out;
	}
	ds = de = PREFIX_LEN;
	if (eol == PREFIX_LEN)
		goto out;
	size_t i = PREFIX_LEN;
	if (!is_blank(hdr[i])) {
		rc = -JN_EBADHDR;
		goto out;
	}
	while (i < eol && is_blank(hdr[i]))
		i++;
	if (i == eol) {                     /* "NATS/1.0   \r\n": no status */
		ds = de = eol;
		goto out;
	}
	if (eol - i < 3 || !is_digit(hdr[i]) || !is_digit(hdr[i + 1]) ||
	    !is_digit(hdr[i + 2]) || (eol - i > 3 && !is_blank(hdr[i + 3]))) {
		rc = -JN_EBADHDR;
		ds = de = PREFIX_LEN;
		goto out;
	}
	c = (hdr[i] - '0') * 100 + (hdr[i + 1] - '0') * 10 + (hdr[i + 2] - '0');
	i += 3;
	while (i < eol && is_blank(hdr[i]))
		i++;
	ds = i;
	de = eol;
	while (de > ds && is_blank(hdr[de - 1]))
		de--;
out:
	if (code)
		*code = c;
	if (desc)
		*desc = hdr ? (const char *)hdr + ds : "";
	if (desc_len)
		*desc_len = de - ds;
	return rc;
}

bool jn_hdr_next(const uint8_t *hdr, size_t len, size_t *pos,
                 const char **key, size_t *key_len,
                 const char **val, size_t *val_len)
{
	if (!hdr || !pos)
		return false;
	size_t p = *pos;
	if (p == 0) {
		/* Skip the status line (whatever it says; the caller validates). */
		size_t eol = find_crlf(hdr, len, 0);
		if (eol == len) {
			*pos = len;
			return false;
		}
		p = eol + 2;
	}
	while (p < len) {
		size_t eol = find_crlf(hdr, len, p);
		if (eol == p || eol == len) {       /* blank line or no CRLF: end */
			*pos = len;
			return false;
		}
		const uint8_t *colon = memchr(hdr + p, ':', eol - p);
		if (!colon || colon == hdr + p) {   /* not a field: skip it */
			p = eol + 2;
			continue;
		}
		size_t v = (size_t)(colon - hdr) + 1;
		while (v < eol && is_blank(hdr[v]))
			v++;
		if (key)
			*key = (const char *)hdr + p;
		if (key_len)
			*key_len = (size_t)(colon - (hdr + p));
		if (val)
			*val = (const char *)hdr + v;
		if (val_len)
			*val_len = eol - v;
		*pos = eol + 2;
		return true;
	}
	*pos = len;
	return false;
}

bool jn_hdr_get(const uint8_t *hdr, size_t len, const char *key,
                const char **val, size_t *val_len)
{
	if (!key || !*key)
		return false;
	size_t klen = strlen(key);
	size_t pos = 0;
	const char *k, *v;
	size_t kl, vl;
	while (jn_hdr_next(hdr, len, &pos, &k, &kl, &v, &vl)) {
		if (kl == klen && memcmp(k, key, klen) == 0) {
			if (val)
				*val = v;
			if (val_len)
				*val_len = vl;
			return true;
		}
	}
	return false;
}

/* Append n bytes if they fit; the length counts them either way so the
 * caller learns the size it needed. Once over cap, nothing more is written
 * (an earlier piece is already missing, so later ones would be misplaced). */
static void put(struct jn_hdr_buf *b, const void *p, size_t n)
{
	if (b->len <= b->cap && n <= b->cap - b->len) {
		if (n)
			memcpy(b->buf + b->len, p, n);
		b->len += n;
		return;
	}
	/* Did not fit, so len + n > cap: len stays over cap from now on. */
	b->len = n > SIZE_MAX - b->len ? SIZE_MAX : b->len + n;
}

void jn_hdr_begin(struct jn_hdr_buf *b, uint8_t *buf, size_t cap,
                  int status, const char *desc)
{
	assert(status == 0 || (status >= 100 && status <= 999));
	b->buf = buf;
	b->cap = buf ? cap : 0;
	b->len = 0;
	put(b, PREFIX, PREFIX_LEN);
	if (status) {
		char code[4] = {
			(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
			(char)('0' + status % 10), ' '
		};
		put(b, " ", 1);
		put(b, code, 3);
		if (desc && *desc) {
			assert(!strpbrk(desc, "\r\n"));
			put(b, code + 3, 1);
			put(b, desc, strlen(desc));
		}
	}
	put(b, "\r\n", 2);
}

void jn_hdr_add(struct jn_hdr_buf *b, const char *key, const char *val, size_t val_len)
{
	assert(key && *key);
	size_t kl = strlen(key);
#ifndef NDEBUG
	for (size_t i = 0; i < kl; i++)
		assert(is_name_byte((uint8_t)key[i]));
	for (size_t i = 0; i < val_len; i++)
		assert(val[i] != '\r' && val[i] != '\n');
#endif
	put(b, key, kl);
	put(b, ": ", 2);
	if (val_len)
		put(b, val, val_len);
	put(b, "\r\n", 2);
}

int jn_hdr_done(struct jn_hdr_buf *b)
{
	put(b, "\r\n", 2);
	if (b->len > b->cap)
		return -JN_ENOMEM;
	return b->len > (size_t)INT_MAX ? -JN_ENOMEM : (int)b->len;
}
