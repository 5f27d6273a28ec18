/*
 * js_json.c - JSON helpers shared by the JetStream modules: response
 * objects with their type and error member (from the one error table),
 * RFC 3339 nano times as Go prints them, name rules, lenient typed reads.
 */
#include "core/js_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

size_t jn_js_time_format(int64_t ns, char buf[JN_JS_TIME_LEN])
{
	if (ns == 0) {
		memcpy(buf, JN_JS_ZERO_TIME, sizeof JN_JS_ZERO_TIME);
		return sizeof JN_JS_ZERO_TIME - 1;
	}
	int64_t sec = ns / 1000000000;
	int64_t frac = ns % 1000000000;
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, JN_JS_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		char f[16];
		snprintf(f, sizeof f, ".%09lld", (long long)frac);
		size_t fl = strlen(f);
		while (f[fl - 1] == '0')   /* Go's RFC3339Nano trims zeros */
			fl--;
		memcpy(buf + n, f, fl);
		n += fl;
	}
	buf[n++] = 'Z';
	buf[n] = 0;
	return n;
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int jn_js_time_parse(const char *s, size_t len, int64_t *ns)
{
	/* 2006-01-02T15:04:05[.999999999](Z|+07:00) */
	int Y, M, D, h, m, sec;
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -JN_EINVAL;
	if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
		return -JN_EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -JN_EINVAL;
	size_t i = 19;
	int64_t frac = 0;
	if (i < len && s[i] == '.') {
		i++;
		int nd = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (nd < 9) {
				frac = frac * 10 + (s[i] - '0');
				nd++;
			}
			i++;
		}
		if (nd == 0)
			return -JN_EINVAL;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	int64_t off = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh, om;
		if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om))
			return -JN_EINVAL;
		off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return -JN_EINVAL;
	}
	if (i != len)
		return -JN_EINVAL;
	if (Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && sec == 0 && frac == 0 && off == 0) {
		*ns = 0;
		return 0;
	}
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
	                 .tm_hour = h, .tm_min = m, .tm_sec = sec };
	int64_t t = (int64_t)timegm(&tm) - off;
	*ns = t * 1000000000 + frac;
	return 0;
}

json_t *jn_js_time_json(int64_t ns)
{
	char b[JN_JS_TIME_LEN];
	size_t n = jn_js_time_format(ns, b);
	return json_stringn(b, n);
}

json_t *jn_js_response_new(const char *type_suffix)
{
	char t[128];
	snprintf(t, sizeof t, "%s%s", JN_JS_TYPE_PREFIX, type_suffix);
	json_t *o = json_object();
	if (o)
		json_object_set_new(o, "type", json_string(t));
	return o;
}

void jn_js_response_set_error(json_t *resp, int err, const char *desc)
{
	const struct jn_err_info *e = jn_err_info(err);
	int code = e->http_status ? e->http_status : 500;
	int ec = e->js_err_code ? e->js_err_code : 10051;
	json_t *o = json_object();
	json_object_set_new(o, "code", json_integer(code));
	json_object_set_new(o, "err_code", json_integer(ec));
	json_object_set_new(o, "description", json_string(desc ? desc : e->text));
	json_object_set_new(resp, "error", o);
}

json_t *jn_js_error_new(const char *type_suffix, int err, const char *desc)
{
	json_t *r = jn_js_response_new(type_suffix);
	if (r)
		jn_js_response_set_error(r, err, desc);
	return r;
}

bool jn_js_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > JN_JS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

int jn_js_parse_request(const struct jn_msg *req, json_t **out)
{
	*out = NULL;
	size_t i = 0;
	while (i < req->data_len && (req->data[i] == ' ' || req->data[i] == '\t' ||
	                             req->data[i] == '\r' || req->data[i] == '\n'))
		i++;
	if (i == req->data_len)
		return 0;
	json_error_t e;
	json_t *v = json_loadb((const char *)req->data, req->data_len,
	                       0, &e);
	if (!v)
		return -JN_EBADJSON;
	if (!json_is_object(v)) {
		json_decref(v);
		return -JN_EBADJSON;
	}
	*out = v;
	return 0;
}

int jn_js_get_u64(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return -JN_EBADJSON;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_real(v)) {   /* jansson: integers above INT64_MAX parse as reals */
		double d = json_real_value(v);
		if (d < 0 || d != d)
			return -JN_EBADJSON;
		*out = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
		return 0;
	}
	return -JN_EBADJSON;
}

int jn_js_get_i64(json_t *obj, const char *key, int64_t *out)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -JN_EBADJSON;
	*out = json_integer_value(v);
	return 0;
}

int jn_js_get_bool(json_t *obj, const char *key, bool *out)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -JN_EBADJSON;
	*out = json_is_true(v);
	return 0;
}

int jn_js_get_str(json_t *obj, const char *key, const char **out, size_t *len)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -JN_EBADJSON;
	*out = json_string_value(v);
	if (len)
		*len = json_string_length(v);
	return 0;
}

json_t *jn_js_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

char *jn_js_dumps(json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s && len)
		*len = strlen(s);
	return s;
}
