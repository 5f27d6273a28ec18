/*
 * jsonpos.c - a scanner that walks JSON text along a field path without
 * building anything (see jsonpos.h). It trusts that jansson has already
 * accepted the text, but stays bounds-checked everywhere: on text it does not
 * understand it stops and reports the deepest position it reached.
 *
 * A path is a sequence of ".name" and "[index]" steps (the leading "." may
 * be omitted). Names are compared with the member keys after decoding JSON
 * string escapes, so a key written as "po\u0072t" is still "port". A name
 * cannot itself contain '.' or '['; such keys resolve to their parent.
 */
#include "gateway/jsonpos.h"

#include <stdint.h>
#include <string.h>

struct scan {
	const char *t;
	size_t len;
	size_t off;
};

static void skip_ws(struct scan *s)
{
	while (s->off < s->len) {
		char c = s->t[s->off];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		s->off++;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int read_hex4(struct scan *s, uint32_t *out)
{
	if (s->off + 4 > s->len)
		return -1;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s->t[s->off + (size_t)i]);
		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	s->off += 4;
	*out = v;
	return 0;
}

/* Compare the string at s->off (opening quote) with name[0..nlen), consuming
 * it. Returns 1 equal, 0 different, -1 malformed. */
static int string_equals(struct scan *s, const char *name, size_t nlen)
{
	if (s->off >= s->len || s->t[s->off] != '"')
		return -1;
	s->off++;
	size_t k = 0;        /* bytes of name matched so far */
	int eq = 1;
	while (s->off < s->len) {
		unsigned char c = (unsigned char)s->t[s->off++];
		unsigned char buf[4];
		size_t n = 0;
		if (c == '"')
			return eq && k == nlen;
		if (c != '\\') {
			buf[n++] = c;
		} else {
			if (s->off >= s->len)
				return -1;
			char e = s->t[s->off++];
			switch (e) {
			case '"': case '\\': case '/': buf[n++] = (unsigned char)e; break;
			case 'b': buf[n++] = '\b'; break;
			case 'f': buf[n++] = '\f'; break;
			case 'n': buf[n++] = '\n'; break;
			case 'r': buf[n++] = '\r'; break;
			case 't': buf[n++] = '\t'; break;
			case 'u': {
				uint32_t cp;
				if (read_hex4(s, &cp) < 0)
					return -1;
				if (cp >= 0xD800 && cp < 0xDC00 && s->off + 6 <= s->len &&
				    s->t[s->off] == '\\' && s->t[s->off + 1] == 'u') {
					uint32_t lo;
					s->off += 2;
					if (read_hex4(s, &lo) < 0)
						return -1;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (cp < 0x80) {
					buf[n++] = (unsigned char)cp;
				} else if (cp < 0x800) {
					buf[n++] = (unsigned char)(0xC0 | cp >> 6);
					buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
				} else if (cp < 0x10000) {
					buf[n++] = (unsigned char)(0xE0 | cp >> 12);
					buf[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
				} else {
					buf[n++] = (unsigned char)(0xF0 | cp >> 18);
					buf[n++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
					buf[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
					buf[n++] = (unsigned char)(0x80 | (cp & 0x3F));
				}
				break;
			}
			default:
				return -1;
			}
		}
		for (size_t i = 0; i < n; i++) {
			if (eq && k < nlen && (unsigned char)name[k] == buf[i])
				k++;
			else
				eq = 0;
		}
	}
	return -1;
}

/* Skip one value starting at s->off. 0 or -1. Nesting is tracked with a
 * counter, not recursion, so hostile depth cannot exhaust the stack. */
static int skip_value(struct scan *s)
{
	size_t depth = 0;
	do {
		skip_ws(s);
		if (s->off >= s->len)
			return -1;
		char c = s->t[s->off];
		if (c == '"') {
			if (string_equals(s, "", 0) < 0)
				return -1;
		} else if (c == '{' || c == '[') {
			depth++;
			s->off++;
			continue;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return -1;
			depth--;
			s->off++;
		} else if (c == ',' || c == ':') {
			s->off++;
			continue;
		} else {
			/* number or literal: run of non-delimiters */
			size_t start = s->off;
			while (s->off < s->len && !strchr(" \t\r\n,:]}[{\"", s->t[s->off]))
				s->off++;
			if (s->off == start)
				return -1;
		}
	} while (depth > 0);
	return 0;
}

static void offset_to_linecol(const char *t, size_t off, int *line, int *col)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;   /* UTF-8 continuation bytes do not start a character */
		}
	}
	*line = l;
	*col = c;
}

int jn_jsonpos_find(const char *text, size_t len, const char *path, bool at_key,
                    int *line, int *col)
{
	struct scan s = { text, len, 0 };
	*line = 1;
	*col = 1;
	skip_ws(&s);
	if (s.off >= len)
		return -1;
	size_t best = s.off;     /* deepest position found so far */
	const char *p = path ? path : "";
	int found = 0;
	while (*p) {
		if (*p == '.')
			p++;
		if (*p == '[') {
			/* array index */
			p++;
			size_t idx = 0;
			while (*p >= '0' && *p <= '9')
				idx = idx * 10 + (size_t)(*p++ - '0');
			if (*p != ']')
				goto done;
			p++;
			if (s.off >= len || text[s.off] != '[')
				goto done;
			s.off++;
			size_t i = 0;
			int ok = 0;
			for (;;) {
				skip_ws(&s);
				if (s.off >= len || text[s.off] == ']')
					break;
				if (i == idx) {
					ok = 1;
					break;
				}
				if (skip_value(&s) < 0)
					break;
				skip_ws(&s);
				if (s.off < len && text[s.off] == ',')
					s.off++;
				i++;
			}
			if (!ok)
				goto done;
			best = s.off;
		} else {
			size_t nlen = strcspn(p, ".[");
			const char *name = p;
			p += nlen;
			if (s.off >= len || text[s.off] != '{')
				goto done;
			s.off++;
			int ok = 0;
			size_t keyoff = 0;
			for (;;) {
				skip_ws(&s);
				if (s.off >= len || text[s.off] != '"')
					break;
				keyoff = s.off;
				int eq = string_equals(&s, name, nlen);
				if (eq < 0)
					break;
				skip_ws(&s);
				if (s.off >= len || text[s.off] != ':')
					break;
				s.off++;
				skip_ws(&s);
				if (eq) {
					ok = 1;
					break;
				}
				if (skip_value(&s) < 0)
					break;
				skip_ws(&s);
				if (s.off < len && text[s.off] == ',')
					s.off++;
			}
			if (!ok)
				goto done;
			best = (at_key && *p == '\0') ? keyoff : s.off;
		}
	}
	found = 1;
done:
	offset_to_linecol(text, best, line, col);
	return found ? 0 : 1;
}
