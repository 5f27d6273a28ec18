/*
 * subject.c - the NATS subject rules (shared/spec/nats-protocol.md §5).
 *
 * Owns: validity of filters and literals, matching a literal against a
 * filter, and the two filter-vs-filter relations (subset for permissions,
 * overlap for stream subjects). Everything here works on borrowed bytes,
 * never allocates, and walks the strings token by token with no token
 * limit, so a subject of any length is handled without a bounded array.
 */
#include "core/subject.h"

#include <string.h>

/* A cursor over the tokens of one subject. */
struct tokit {
	const char *p;     /* start of the next token, or NULL when done */
	const char *end;
};

static void tokit_init(struct tokit *it, const char *s, size_t len)
{
	it->p = s;
	it->end = s + len;
}

/* Yields the next token; false when there is none. An empty subject has
 * one empty token, which callers validating subjects reject. */
static bool tokit_next(struct tokit *it, const char **tok, size_t *len)
{
	if (!it->p)
		return false;
	const char *dot = memchr(it->p, '.', (size_t)(it->end - it->p));
	*tok = it->p;
	if (dot) {
		*len = (size_t)(dot - it->p);
		it->p = dot + 1;
	} else {
		*len = (size_t)(it->end - it->p);
		it->p = NULL;
	}
	return true;
}

static bool is_pwc(const char *t, size_t n) { return n == 1 && t[0] == '*'; }
static bool is_fwc(const char *t, size_t n) { return n == 1 && t[0] == '>'; }

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* One pass over the bytes: no whitespace, no empty token, '>' only as the
 * last token; optionally no wildcard token at all. */
static bool valid(const char *s, size_t len, bool allow_wildcards)
{
	if (!s || len == 0)
		return false;
	size_t tok_start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (is_space(s[i]))
				return false;
			continue;
		}
		size_t tl = i - tok_start;
		const char *t = s + tok_start;
		if (tl == 0)
			return false;
		if (is_pwc(t, tl) || is_fwc(t, tl)) {
			if (!allow_wildcards)
				return false;
			if (is_fwc(t, tl) && i != len)
				return false;
		}
		tok_start = i + 1;
	}
	return true;
}

bool jn_subject_valid_filter(const char *s, size_t len)
{
	return valid(s, len, true);
}

bool jn_subject_valid_literal(const char *s, size_t len)
{
	return valid(s, len, false);
}

bool jn_subject_has_wildcard(const char *s, size_t len)
{
	struct tokit it;
	const char *t;
	size_t tl;
	tokit_init(&it, s, len);
	while (tokit_next(&it, &t, &tl))
		if (is_pwc(t, tl) || is_fwc(t, tl))
			return true;
	return false;
}

bool jn_subject_match(const char *filter, size_t flen, const char *subj, size_t slen)
{
	struct tokit f, s;
	const char *ft, *st;
	size_t fl, sl;
	tokit_init(&f, filter, flen);
	tokit_init(&s, subj, slen);
	for (;;) {
		bool hf = tokit_next(&f, &ft, &fl);
		bool hs = tokit_next(&s, &st, &sl);
		if (!hf || !hs)
			return hf == hs;
		if (is_fwc(ft, fl))
			return true;   /* hs: at least one token left for '>' */
		if (is_pwc(ft, fl))
			continue;
		if (fl != sl || memcmp(ft, st, fl) != 0)
			return false;
	}
}

bool jn_subject_subset(const char *sub, size_t sublen, const char *super, size_t superlen)
{
	struct tokit a, b;
	const char *at, *bt;
	size_t al, bl;
	tokit_init(&a, sub, sublen);
	tokit_init(&b, super, superlen);
	for (;;) {
		bool ha = tokit_next(&a, &at, &al);
		bool hb = tokit_next(&b, &bt, &bl);
		if (!ha || !hb)
			return ha == hb;
		if (is_fwc(bt, bl))
			return true;   /* sub has >= 1 token here, whatever they are */
		if (is_fwc(at, al))
			return false;  /* sub matches arbitrarily long tails, super does not */
		if (is_pwc(bt, bl))
			continue;      /* literal or '*' both fit in super's '*' */
		if (is_pwc(at, al))
			return false;  /* sub's '*' matches tokens other than super's literal */
		if (al != bl || memcmp(at, bt, al) != 0)
			return false;
	}
}

bool jn_subject_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
	struct tokit x, y;
	const char *xt, *yt;
	size_t xl, yl;
	tokit_init(&x, a, alen);
	tokit_init(&y, b, blen);
	for (;;) {
		bool hx = tokit_next(&x, &xt, &xl);
		bool hy = tokit_next(&y, &yt, &yl);
		if (!hx || !hy)
			return hx == hy;
		/* Both have a token here; '>' absorbs whatever the other needs. */
		if (is_fwc(xt, xl) || is_fwc(yt, yl))
			return true;
		if (is_pwc(xt, xl) || is_pwc(yt, yl))
			continue;
		if (xl != yl || memcmp(xt, yt, xl) != 0)
			return false;
	}
}

int jn_subject_tokenize(const char *s, size_t len, const char **tok, size_t *toklen, int max)
{
	struct tokit it;
	const char *t;
	size_t tl;
	int n = 0;
	if (len == 0)
		return 0;
	tokit_init(&it, s, len);
	while (tokit_next(&it, &t, &tl)) {
		if (n >= max)
			return -1;
		tok[n] = t;
		toklen[n] = tl;
		n++;
	}
	return n;
}
