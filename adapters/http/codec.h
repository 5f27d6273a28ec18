/*
 * codec.h - the small text codecs of the HTTP adapter, pure functions with
 * no knowledge of libmicrohttpd (unit-tested in tests/unit/test_http_codec.c):
 *
 *   - a growable byte buffer that remembers an allocation failure instead
 *     of failing every append (check once, at the end);
 *   - percent-decoding of URL paths and query values (RFC 3986: '+' is a
 *     literal plus, not a space, since '+' is a valid subject character);
 *   - splitting a raw URL path into decoded segments;
 *   - JSON string escaping that always produces valid UTF-8 JSON, whatever
 *     the bytes (subjects and header values are bytes, not text);
 *   - durations: Go style ("500ms", "2s", "1m30s", "1.5s") or an integer
 *     count of nanoseconds, as the NATS JSON writes them.
 */
#ifndef JN_HTTP_CODEC_H
#define JN_HTTP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- buffer ------------------------------------------------------------- */

/* Zero-initialised = empty. Memory from jn_malloc; the owner frees p with
 * jn_free (or takes it with jn__hbuf_take). */
struct jn__hbuf {
	char *p;
	size_t len, cap;
	bool oom;          /* an append failed: the content is incomplete */
};

void jn__hbuf_put(struct jn__hbuf *b, const void *s, size_t n);
void jn__hbuf_puts(struct jn__hbuf *b, const char *s);
void jn__hbuf_printf(struct jn__hbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included (see jn__json_escape). */
void jn__hbuf_json_str(struct jn__hbuf *b, const char *s, size_t n);
void jn__hbuf_base64(struct jn__hbuf *b, const uint8_t *s, size_t n);
/* Give the bytes away (NUL-terminated; *len set); the buffer is empty
 * after. NULL if an append failed (the bytes are freed then). */
char *jn__hbuf_take(struct jn__hbuf *b, size_t *len);
void jn__hbuf_free(struct jn__hbuf *b);

/* ---- URLs --------------------------------------------------------------- */

/* Decode %XX escapes of s[0..n) into out (room for n bytes; decoding never
 * grows). Returns the decoded length, or -1 for a '%' not followed by two
 * hex digits. A decoded NUL byte is refused too (-1): nothing downstream
 * takes one. */
long jn__pct_decode(const char *s, size_t n, char *out);

#define JN_HTTP_MAX_SEGS 16
/* Split a raw path ("/v1/publish/a.b") at '/' into at most JN_HTTP_MAX_SEGS
 * raw segments (pointers into path, not decoded). Leading '/' required;
 * one trailing '/' is ignored; empty inner segments ("//") are refused.
 * Returns the segment count, or -1 (malformed or too many segments). */
int jn__path_split(const char *path, const char **seg, size_t *seglen);

/* ---- durations ------------------------------------------------------------ */

/* 0 and *ns set, or -1. Accepts "0", Go durations (units ns, us, ms, s, m,
 * h, groups concatenated, fractions allowed) and plain integers
 * (nanoseconds). Negative or overflowing values are refused. */
int jn__parse_duration(const char *s, size_t n, int64_t *ns);

/* "1h2m3.5s"-like rendering for humans (uptime), into out (cap >= 32). */
void jn__format_duration(int64_t ns, char *out, size_t cap);

#endif
