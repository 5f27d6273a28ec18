/*
 * units.c - duration and size strings (syntax in units.h). Both parsers are
 * strict: anything they do not fully consume is an error, and overflow is an
 * error rather than a wrap, because a silently huge timeout or buffer limit
 * is worse than a refused config file.
 */
#include "core/units.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include "core/err.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct unit { const char *name; int64_t ns; };

static const struct unit dur_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },   /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 },   /* U+03BC Greek mu */
	{ "ms", 1000000 },
	{ "s", 1000000000LL },
	{ "m", 60LL * 1000000000LL },
	{ "h", 3600LL * 1000000000LL },
};

/* Longest unit name that prefixes p ("ms" must win over "m"). */
static const struct unit *match_unit(const char *p)
{
	const struct unit *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < sizeof dur_units / sizeof dur_units[0]; i++) {
		size_t n = strlen(dur_units[i].name);
		if (n > best_len && strncmp(p, dur_units[i].name, n) == 0) {
			best = &dur_units[i];
			best_len = n;
		}
	}
	return best;
}

int jn_parse_duration(const char *s, int64_t *ns)
{
	if (!s || !*s)
		return -JN_EINVAL;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		/* whole part */
		int64_t whole = 0;
		bool any = false;
		while (is_digit(*p)) {
			if (whole > (INT64_MAX - 9) / 10)
				return -JN_EINVAL;
			whole = whole * 10 + (*p++ - '0');
			any = true;
		}
		/* fraction: keep at most 18 digits, more cannot matter below 1 ns */
		int64_t frac = 0, scale = 1;
		if (*p == '.') {
			p++;
			while (is_digit(*p)) {
				if (scale < 1000000000000000000LL) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
				p++;
				any = true;
			}
		}
		if (!any)
			return -JN_EINVAL;
		const struct unit *u = match_unit(p);
		if (!u)
			return -JN_EINVAL;   /* Go requires a unit on every number but "0" */
		p += strlen(u->name);
		if (whole > INT64_MAX / u->ns)
			return -JN_EINVAL;
		int64_t v = whole * u->ns;
		/* frac/scale of one unit; u->ns <= 3.6e12 and frac < scale <= 1e18,
		 * so split to avoid overflow: (frac * ns) / scale computed in long double */
		long double f = (long double)frac * (long double)u->ns / (long double)scale;
		if ((long double)v + f > (long double)INT64_MAX)
			return -JN_EINVAL;
		v += (int64_t)f;
		if (v > INT64_MAX - total)
			return -JN_EINVAL;
		total += v;
	}
	*ns = total;
	return 0;
}

struct size_unit { const char *name; int64_t mul; };

static const struct size_unit size_units[] = {
	{ "", 1 }, { "b", 1 },
	{ "k", 1000LL }, { "kb", 1LL << 10 }, { "ki", 1LL << 10 }, { "kib", 1LL << 10 },
	{ "m", 1000000LL }, { "mb", 1LL << 20 }, { "mi", 1LL << 20 }, { "mib", 1LL << 20 },
	{ "g", 1000000000LL }, { "gb", 1LL << 30 }, { "gi", 1LL << 30 }, { "gib", 1LL << 30 },
	{ "t", 1000000000000LL }, { "tb", 1LL << 40 }, { "ti", 1LL << 40 }, { "tib", 1LL << 40 },
};

int jn_parse_size(const char *s, int64_t *bytes)
{
	if (!s || !is_digit(*s))
		return -JN_EINVAL;
	int64_t n = 0;
	const char *p = s;
	while (is_digit(*p)) {
		if (n > (INT64_MAX - 9) / 10)
			return -JN_EINVAL;
		n = n * 10 + (*p++ - '0');
	}
	for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
		if (strcasecmp(p, size_units[i].name) == 0) {
			if (n > INT64_MAX / size_units[i].mul)
				return -JN_EINVAL;
			*bytes = n * size_units[i].mul;
			return 0;
		}
	}
	return -JN_EINVAL;
}
