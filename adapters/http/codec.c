/*
 * codec.c - see codec.h. Untrusted input everywhere (URLs, headers,
 * message bytes): every reader is bounded by the length it is given and
 * rejects what it cannot represent rather than guessing.
 */
#include "adapters/http/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/alloc.h"
#include "core/base64.h"
#include "core/units.h"

/* ---- buffer ------------------------------------------------------------- */

static bool hbuf_room(struct jn__hbuf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = jn_realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void jn__hbuf_put(struct jn__hbuf *b, const void *s, size_t n)
{
	if (!hbuf_room(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jn__hbuf_puts(struct jn__hbuf *b, const char *s)
{
	jn__hbuf_put(b, s, strlen(s));
}

void jn__hbuf_printf(struct jn__hbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof tmp) {
		jn__hbuf_put(b, tmp, (size_t)n);
		return;
	}
	if (!hbuf_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void jn__hbuf_json_str(struct jn__hbuf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = (const uint8_t *)str;
	/* worst case: every byte becomes \ufffd (6 chars) */
	if (!hbuf_room(b, n * 6 + 2))
		return;
	char *o = b->p + b->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n': *o++ = '\\'; *o++ = 'n'; break;
			case '\r': *o++ = '\\'; *o++ = 'r'; break;
			case '\t': *o++ = '\\'; *o++ = 't'; break;
			default:
				memcpy(o, "\\u00", 4);
				o += 4;
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
			i++;
		} else if (c < 0x80) {
			*o++ = (char)c;
			i++;
		} else {
			size_t k = utf8_seq(s + i, n - i);
			if (k == 0) {   /* not UTF-8: the replacement character */
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i++;
			} else {
				memcpy(o, s + i, k);
				o += k;
				i += k;
			}
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
}

void jn__hbuf_base64(struct jn__hbuf *b, const uint8_t *s, size_t n)
{
	size_t k = jn_base64_len(n);
	if (!hbuf_room(b, k))
		return;
	jn_base64_encode(s, n, b->p + b->len);
	b->len += k;
	b->p[b->len] = '\0';
}

char *jn__hbuf_take(struct jn__hbuf *b, size_t *len)
{
	if (b->oom) {
		jn__hbuf_free(b);
		return NULL;
	}
	if (!b->p) {
		if (!hbuf_room(b, 0))
			return NULL;
		b->p[0] = '\0';
	}
	char *p = b->p;
	if (len)
		*len = b->len;
	*b = (struct jn__hbuf){ 0 };
	return p;
}

void jn__hbuf_free(struct jn__hbuf *b)
{
	jn_free(b->p);
	*b = (struct jn__hbuf){ 0 };
}

/* ---- URLs --------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long jn__pct_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (char)(h * 16 + l);
			if (c == '\0')
				return -1;
			i += 2;
		} else if (c == '\0') {
			return -1;
		}
		out[o++] = c;
	}
	return (long)o;
}

int jn__path_split(const char *path, const char **seg, size_t *seglen)
{
	if (!path || path[0] != '/')
		return -1;
	size_t len = strlen(path);
	if (len > 1 && path[len - 1] == '/' && path[len - 2] != '/')
		len--;
	int n = 0;
	size_t i = 1;
	if (len <= 1)
		return 0;   /* "/" */
	while (i <= len) {
		size_t start = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start)
			return -1;   /* empty segment */
		if (n == JN_HTTP_MAX_SEGS)
			return -1;
		seg[n] = path + start;
		seglen[n] = i - start;
		n++;
		i++;   /* past the '/' (or past the end) */
	}
	return n;
}

/* ---- durations ------------------------------------------------------------ */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int jn__parse_duration(const char *s, size_t n, int64_t *ns)
{
	if (n == 0)
		return -1;
	bool all_digits = true;
	for (size_t k = 0; k < n; k++)
		all_digits = all_digits && is_digit(s[k]);
	if (all_digits) {   /* integer nanoseconds, as in the NATS JSON */
		int64_t v = 0;
		for (size_t i = 0; i < n; i++) {
			if (v > (INT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (s[i] - '0');
		}
		*ns = v;
		return 0;
	}
	char buf[64];   /* the longest sensible duration is far shorter */
	if (n >= sizeof buf || memchr(s, '\0', n))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return jn_parse_duration(buf, ns) == 0 ? 0 : -1;
}

void jn__format_duration(int64_t ns, char *out, size_t cap)
{
	if (ns < 0)
		ns = 0;
	int64_t s = ns / 1000000000LL;
	int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
	if (d)
		snprintf(out, cap, "%lldd%lldh%lldm%llds", (long long)d, (long long)h, (long long)m,
		         (long long)sec);
	else if (h)
		snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)sec);
	else if (m)
		snprintf(out, cap, "%lldm%llds", (long long)m, (long long)sec);
	else
		snprintf(out, cap, "%llds", (long long)sec);
}
