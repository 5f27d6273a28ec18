/*
 * topic.c - MQTT topic/filter rules and the topic <-> subject mapping
 * (topic.h states the mapping; shared/spec/mqtt.md §B2 its origin).
 *
 * The conversion is one pass that writes at most two bytes per input byte
 * plus one at the end, so callers size their buffer with
 * JN_MQTT_SUBJECT_CAP and never allocate. Its result is always checked
 * with the NATS subject rules (core/subject.h): what NATS would not accept
 * as a subject is refused here rather than discovered later.
 */
#include "adapters/mqtt/topic.h"

#include <string.h>

#include "core/err.h"
#include "core/subject.h"

bool jn_mqtt_filter_valid(const char *f, size_t len)
{
	if (len == 0)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && f[i] != '/')
			continue;
		size_t n = i - start;
		const char *lv = f + start;
		bool has_plus = memchr(lv, '+', n) != NULL;
		bool has_hash = memchr(lv, '#', n) != NULL;
		if (has_plus && n != 1)
			return false;
		if (has_hash && (n != 1 || i != len))
			return false;
		start = i + 1;
	}
	return true;
}

bool jn_mqtt_filter_hides_dollar(const char *f, size_t len)
{
	return len > 0 && (f[0] == '+' || f[0] == '#');
}

/* A level that NATS would read as a wildcard. */
static bool nats_wild_level(const char *lv, size_t n)
{
	return n == 1 && (lv[0] == '*' || lv[0] == '>');
}

static int convert(const char *t, size_t len, char *out, size_t cap, bool filter)
{
	if (len == 0 || cap < JN_MQTT_SUBJECT_CAP(len))
		return -JN_EBADSUBJECT;
	size_t j = 0;
	size_t lv_start = 0;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		switch (c) {
		case '/':
			if (nats_wild_level(t + lv_start, i - lv_start))
				return -JN_EBADSUBJECT;
			lv_start = i + 1;
			if (i == 0 || out[j - 1] == '.') {
				/* an empty level: a token holding '/' */
				out[j++] = '/';
				out[j++] = '.';
			} else if (i == len - 1 || t[i + 1] == '/') {
				/* the next level is empty */
				out[j++] = '.';
				out[j++] = '/';
			} else {
				out[j++] = '.';
			}
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
		case '\f':
		case 0x7f:
			return -JN_EBADSUBJECT;
		case '.':
			out[j++] = '/';
			out[j++] = '/';
			break;
		case '+':
		case '#':
			if (!filter)
				return -JN_EBADSUBJECT;
			out[j++] = c == '+' ? '*' : '>';
			break;
		default:
			out[j++] = c;
			break;
		}
	}
	if (nats_wild_level(t + lv_start, len - lv_start))
		return -JN_EBADSUBJECT;
	if (out[j - 1] == '.')
		out[j++] = '/';
	return (int)j;
}

int jn_mqtt_topic_to_subject(const char *topic, size_t len, char *out, size_t cap)
{
	int n = convert(topic, len, out, cap, false);
	if (n < 0)
		return n;
	if (!jn_subject_valid_literal(out, (size_t)n))
		return -JN_EBADSUBJECT;
	return n;
}

int jn_mqtt_filter_to_subject(const char *filter, size_t len, char *out, size_t cap,
                              bool *level_up)
{
	*level_up = false;
	if (!jn_mqtt_filter_valid(filter, len))
		return -JN_EBADSUBJECT;
	int n = convert(filter, len, out, cap, true);
	if (n < 0)
		return n;
	if (!jn_subject_valid_filter(out, (size_t)n))
		return -JN_EBADSUBJECT;
	/* "x.>" also needs "x": MQTT's '#' matches the parent level. */
	*level_up = n >= 3 && out[n - 2] == '.' && out[n - 1] == '>';
	return n;
}

size_t jn_mqtt_subject_to_topic(const char *s, size_t len, char *out)
{
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			out[j++] = '/';
		} else if (c == '/') {
			if (i + 1 < len && s[i + 1] == '.') {
				out[j++] = '/';
				i++;
			} else if (i + 1 < len && s[i + 1] == '/') {
				out[j++] = '.';
				i++;
			}
			/* a lone '/' is dropped */
		} else {
			out[j++] = c;
		}
	}
	return j;
}

bool jn_mqtt_topic_match(const char *f, size_t flen, const char *t, size_t tlen)
{
	if (tlen > 0 && t[0] == '$' && jn_mqtt_filter_hides_dollar(f, flen))
		return false;
	size_t fi = 0, ti = 0;
	for (;;) {
		/* the current levels: f[fi..fe), t[ti..te) */
		size_t fe = fi;
		while (fe < flen && f[fe] != '/')
			fe++;
		if (fe - fi == 1 && f[fi] == '#')
			return true;   /* matches this level and everything below */
		if (ti > tlen)
			return false;   /* topic has no more levels */
		size_t te = ti;
		while (te < tlen && t[te] != '/')
			te++;
		bool plus = fe - fi == 1 && f[fi] == '+';
		if (!plus && (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0))
			return false;
		bool f_end = fe >= flen, t_end = te >= tlen;
		if (f_end && t_end)
			return true;
		if (f_end)
			return false;
		if (t_end) {
			/* "a/#" matches "a": the rest of the filter must be "/#" */
			return flen - fe == 2 && f[fe + 1] == '#';
		}
		fi = fe + 1;
		ti = te + 1;
	}
}

int jn_mqtt_share_parse(const char *f, size_t len, const char **group, size_t *glen,
                        const char **filter, size_t *flen)
{
	static const char pre[] = "$share/";
	size_t pl = sizeof pre - 1;
	if (len < pl || memcmp(f, pre, pl) != 0)
		return 0;
	const char *g = f + pl;
	const char *slash = memchr(g, '/', len - pl);
	if (!slash || slash == g)
		return -JN_EBADSUBJECT;
	size_t gl = (size_t)(slash - g);
	if (memchr(g, '+', gl) || memchr(g, '#', gl))
		return -JN_EBADSUBJECT;
	size_t rest = len - pl - gl - 1;
	if (rest == 0)
		return -JN_EBADSUBJECT;
	*group = g;
	*glen = gl;
	*filter = slash + 1;
	*flen = rest;
	return 1;
}
