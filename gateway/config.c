/*
 * config.c - loading and validating the JSON configuration (see config.h and
 * docs/configuration.md for the format).
 *
 * jansson parses (rejecting duplicate keys) and reports syntax errors with
 * its own line and column. Everything else is checked here, walking the
 * document with the current field path kept in a small buffer; when a check
 * fails, jsonpos.c scans the original text along that path to find the line
 * and column, so every message has the shape "FILE:LINE:COL: FIELD: problem".
 * Errors point at the value, except "unknown field", which points at the key.
 *
 * Loading is an overlay onto the current configuration; checks that involve
 * two fields (max_payload <= max_pending) run on the merged result and point
 * at whichever of the two fields this file sets.
 */
#include "gateway/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/subject.h"
#include "gateway/jsonpos.h"
#include "core/units.h"

#define MS_NS 1000000LL

struct loader {
	const char *name;      /* file name for messages */
	const char *text;
	size_t len;
	char *err;
	size_t errlen;
	char path[512];        /* current field path, "nats.port" */
	size_t plen;
};

/* ---- field path ---------------------------------------------------------- */

static size_t path_key(struct loader *ld, const char *key)
{
	size_t mark = ld->plen;
	int n = snprintf(ld->path + ld->plen, sizeof ld->path - ld->plen, "%s%s",
	                 ld->plen ? "." : "", key);
	if (n > 0)
		ld->plen += (size_t)n < sizeof ld->path - ld->plen ? (size_t)n
		                                                   : sizeof ld->path - ld->plen - 1;
	return mark;
}

static size_t path_index(struct loader *ld, size_t i)
{
	size_t mark = ld->plen;
	int n = snprintf(ld->path + ld->plen, sizeof ld->path - ld->plen, "[%zu]", i);
	if (n > 0)
		ld->plen += (size_t)n < sizeof ld->path - ld->plen ? (size_t)n
		                                                   : sizeof ld->path - ld->plen - 1;
	return mark;
}

static void path_pop(struct loader *ld, size_t mark)
{
	ld->plen = mark;
	ld->path[mark] = '\0';
}

/* ---- errors -------------------------------------------------------------- */

static int fail_at(struct loader *ld, const char *path, bool at_key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_at(struct loader *ld, const char *path, bool at_key, const char *fmt, ...)
{
	int line, col;
	jn_jsonpos_find(ld->text, ld->len, path, at_key, &line, &col);
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ld->errlen)
		snprintf(ld->err, ld->errlen, "%s:%d:%d: %s: %s", ld->name, line, col,
		         *path ? path : "(top level)", msg);
	return -JN_ECONFIG;
}

#define FAIL(ld, ...) fail_at((ld), (ld)->path, false, __VA_ARGS__)

/* Compact rendering of a value for "got ..." (truncated). */
static const char *show(const json_t *v, char *buf, size_t cap)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s) {
		snprintf(buf, cap, "?");
		return buf;
	}
	if (strlen(s) > 48)
		snprintf(buf, cap, "%.45s...", s);
	else
		snprintf(buf, cap, "%s", s);
	free(s);   /* json_dumps allocates with jansson's allocator (malloc) */
	return buf;
}

#define GOT(v) show((v), gotbuf, sizeof gotbuf)

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* ---- typed getters (ld->path names v) ------------------------------------ */

static int get_object(struct loader *ld, const json_t *v)
{
	if (!json_is_object(v))
		return FAIL(ld, "expected an object, got %s", json_kind(v));
	return 0;
}

static int get_bool(struct loader *ld, const json_t *v, bool *out)
{
	char gotbuf[64];
	if (!json_is_boolean(v))
		return FAIL(ld, "expected true or false, got %s", GOT(v));
	*out = json_is_true(v);
	return 0;
}

static int get_int(struct loader *ld, const json_t *v, long long min, long long max,
                   long long *out)
{
	char gotbuf[64];
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return FAIL(ld, "expected an integer %lld..%lld, got %s", min, max, GOT(v));
	*out = json_integer_value(v);
	return 0;
}

/* A non-empty string shorter than cap (cap 0: any length). */
static int get_str(struct loader *ld, const json_t *v, size_t cap, const char **out)
{
	char gotbuf[64];
	if (!json_is_string(v))
		return FAIL(ld, "expected a string, got %s", GOT(v));
	const char *s = json_string_value(v);
	if (json_string_length(v) == 0)
		return FAIL(ld, "must not be empty");
	if (strlen(s) != json_string_length(v))
		return FAIL(ld, "must not contain NUL characters");
	if (cap && json_string_length(v) >= cap)
		return FAIL(ld, "too long (at most %zu characters)", cap - 1);
	*out = s;
	return 0;
}

static int set_str(struct loader *ld, const json_t *v, char **dst)
{
	const char *s;
	int rc = get_str(ld, v, 0, &s);
	if (rc < 0)
		return rc;
	char *d = jn_strdup(s);
	if (!d)
		return -JN_ENOMEM;
	jn_free(*dst);
	*dst = d;
	return 0;
}

/* Duration: Go-style string or integer nanoseconds, at least min_ns. */
static int get_duration(struct loader *ld, const json_t *v, int64_t min_ns, int64_t *out)
{
	char gotbuf[64];
	int64_t ns;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return FAIL(ld, "expected a duration, got %s", GOT(v));
		ns = json_integer_value(v);
		if (ns < min_ns)
			return FAIL(ld, "must be at least %lldms, got %s (an integer is nanoseconds; "
			            "write a string such as \"%llds\")",
			            (long long)(min_ns / MS_NS), GOT(v), (long long)ns);
	} else if (json_is_string(v)) {
		if (jn_parse_duration(json_string_value(v), &ns) < 0)
			return FAIL(ld, "expected a duration such as \"10s\", \"500ms\" or \"1h30m\", got %s",
			            GOT(v));
		if (ns < min_ns)
			return FAIL(ld, "must be at least %lldms, got %s",
			            (long long)(min_ns / MS_NS), GOT(v));
	} else {
		return FAIL(ld, "expected a duration such as \"10s\" or integer nanoseconds, got %s",
		            GOT(v));
	}
	*out = ns;
	return 0;
}

/* Size: integer bytes or a string with a unit, in min..max. */
static int get_size(struct loader *ld, const json_t *v, int64_t min, int64_t max, int64_t *out)
{
	char gotbuf[64];
	int64_t n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		if (jn_parse_size(json_string_value(v), &n) < 0)
			return FAIL(ld, "expected a size such as 1048576, \"1MB\" or \"64MiB\", got %s",
			            GOT(v));
	} else {
		return FAIL(ld, "expected a size such as 1048576, \"1MB\" or \"64MiB\", got %s", GOT(v));
	}
	if (n < min || n > max)
		return FAIL(ld, "must be a size from %lld to %lld bytes, got %s",
		            (long long)min, (long long)max, GOT(v));
	*out = n;
	return 0;
}

static int unknown(struct loader *ld)
{
	return fail_at(ld, ld->path, true, "unknown field");
}

/* ---- sections ------------------------------------------------------------ */

/* host / port / enabled, shared by every listener section. Returns 0 when
 * handled, 1 when key is not one of these, <0 on a bad value. */
static int listen_key(struct loader *ld, const char *key, const json_t *v,
                      struct jn_listen *l, bool has_enabled)
{
	long long n;
	const char *s;
	int rc;
	if (strcmp(key, "host") == 0) {
		rc = get_str(ld, v, sizeof l->host, &s);
		if (rc == 0)
			snprintf(l->host, sizeof l->host, "%s", s);
		return rc;
	}
	if (strcmp(key, "port") == 0) {
		rc = get_int(ld, v, 1, 65535, &n);
		if (rc == 0)
			l->port = (int)n;
		return rc;
	}
	if (has_enabled && strcmp(key, "enabled") == 0)
		return get_bool(ld, v, &l->enabled);
	return 1;
}

/* "jetstream": enabled, sync, sync_interval, max_memory, max_file. */
static int load_jetstream(struct loader *ld, const json_t *obj, struct jn_js_config *j)
{
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t mark = path_key(ld, key);
		const char *s;
		if (strcmp(key, "enabled") == 0) {
			rc = get_bool(ld, v, &j->enabled);
		} else if (strcmp(key, "sync") == 0) {
			rc = get_str(ld, v, 0, &s);
			if (rc == 0 && strcmp(s, "always") == 0)
				j->sync_interval = false;
			else if (rc == 0 && strcmp(s, "interval") == 0)
				j->sync_interval = true;
			else if (rc == 0)
				rc = FAIL(ld, "expected \"always\" or \"interval\", got \"%s\"", s);
		} else if (strcmp(key, "sync_interval") == 0) {
			rc = get_duration(ld, v, MS_NS, &j->sync_interval_ns);
		} else if (strcmp(key, "max_memory") == 0) {
			rc = get_size(ld, v, -1, INT64_MAX, &j->max_memory);
		} else if (strcmp(key, "max_file") == 0) {
			rc = get_size(ld, v, -1, INT64_MAX, &j->max_file);
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	return 0;
}

/* Whole seconds in 1..max, from a duration. */
static int get_seconds(struct loader *ld, const json_t *v, int64_t max, uint32_t *out)
{
	char gotbuf[64];
	int64_t ns;
	int rc = get_duration(ld, v, 1000 * MS_NS, &ns);
	if (rc < 0)
		return rc;
	if (ns % (1000 * MS_NS) || ns / (1000 * MS_NS) > max)
		return FAIL(ld, "must be whole seconds from 1s to %llds, got %s", (long long)max,
		            GOT(v));
	*out = (uint32_t)(ns / (1000 * MS_NS));
	return 0;
}

/* "mqtt": the listener keys plus the MQTT adapter's limits (names as in
 * mosquitto.conf where mosquitto has the same limit). */
static int load_mqtt(struct loader *ld, const json_t *obj, struct jn_config *c)
{
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	struct jn_mqtt_opts *o = &c->mqtt;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t mark = path_key(ld, key);
		long long n;
		int64_t x;
		uint32_t secs;
		rc = listen_key(ld, key, v, &c->mqtt_listen, true);
		if (rc != 1) {
			/* handled (or a bad value) */
		} else if (strcmp(key, "max_connections") == 0) {
			rc = get_int(ld, v, 0, INT32_MAX, &n);
			if (rc == 0)
				o->max_connections = (uint32_t)n;
		} else if (strcmp(key, "max_packet_size") == 0) {
			/* the largest packet MQTT can frame: 268435455 + 5 header bytes */
			rc = get_size(ld, v, 64, 268435460, &x);
			if (rc == 0)
				o->max_packet_size = (uint32_t)x;
		} else if (strcmp(key, "max_inflight_messages") == 0) {
			rc = get_int(ld, v, 1, 65535, &n);
			if (rc == 0)
				o->max_inflight = (uint16_t)n;
		} else if (strcmp(key, "max_queued_messages") == 0) {
			rc = get_int(ld, v, 1, INT32_MAX, &n);
			if (rc == 0)
				o->max_queued = (uint32_t)n;
		} else if (strcmp(key, "receive_maximum") == 0) {
			rc = get_int(ld, v, 1, 65535, &n);
			if (rc == 0)
				o->receive_max = (uint16_t)n;
		} else if (strcmp(key, "max_topic_aliases") == 0) {
			rc = get_int(ld, v, 0, 65535, &n);
			if (rc == 0)
				o->topic_alias_max = (uint16_t)n;
		} else if (strcmp(key, "max_keepalive") == 0) {
			rc = get_seconds(ld, v, 65535, &secs);
			if (rc == 0)
				o->max_keepalive = (uint16_t)secs;
		} else if (strcmp(key, "persistent_client_expiration") == 0) {
			rc = get_seconds(ld, v, UINT32_MAX - 1, &secs);
			if (rc == 0)
				o->max_session_expiry = secs;
		} else if (strcmp(key, "max_pending") == 0) {
			rc = get_size(ld, v, 1024, INT64_MAX, &x);
			if (rc == 0)
				o->max_pending = (size_t)x;
		} else if (strcmp(key, "write_deadline") == 0) {
			rc = get_duration(ld, v, MS_NS, &o->write_deadline_ns);
		} else if (strcmp(key, "connect_timeout") == 0) {
			rc = get_duration(ld, v, MS_NS, &o->connect_timeout_ns);
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	return 0;
}

/* "http": the listener keys plus the HTTP adapter's own. */
static int load_http(struct loader *ld, const json_t *obj, struct jn_config *c)
{
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	struct jn_http_opts *h = &c->http;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t mark = path_key(ld, key);
		long long n;
		int64_t x;
		rc = listen_key(ld, key, v, &c->http_listen, true);
		if (rc != 1) {
			/* handled (or a bad value) */
		} else if (strcmp(key, "threads") == 0) {
			rc = get_int(ld, v, 1, 64, &n);
			if (rc == 0)
				h->threads = (unsigned)n;
		} else if (strcmp(key, "max_connections") == 0) {
			rc = get_int(ld, v, 1, 1000000, &n);
			if (rc == 0)
				h->max_connections = (uint32_t)n;
		} else if (strcmp(key, "idle_timeout") == 0) {
			rc = get_duration(ld, v, 1000 * MS_NS, &h->idle_timeout_ns);
		} else if (strcmp(key, "request_timeout") == 0) {
			rc = get_duration(ld, v, 1 * MS_NS, &h->request_timeout_ns);
		} else if (strcmp(key, "sse_ping_interval") == 0) {
			rc = get_duration(ld, v, 10 * MS_NS, &h->sse_ping_interval_ns);
		} else if (strcmp(key, "sse_max_buffer") == 0) {
			rc = get_size(ld, v, 1024, 1LL << 30, &x);
			if (rc == 0)
				h->sse_max_buffer = (size_t)x;
		} else if (strcmp(key, "allow_origin") == 0) {
			rc = set_str(ld, v, &c->http_allow_origin);
			h->allow_origin = c->http_allow_origin;
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	return 0;
}

static int load_nats(struct loader *ld, const json_t *obj, struct jn_config *c)
{
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	struct jn_nats_opts *o = &c->nats;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t mark = path_key(ld, key);
		long long n;
		int64_t x;
		rc = listen_key(ld, key, v, &c->nats_listen, false);
		if (rc != 1) {
			/* host or port */
		} else if (strcmp(key, "max_payload") == 0) {
			rc = get_size(ld, v, 1, INT32_MAX, &x);
			if (rc == 0)
				o->max_payload = (uint32_t)x;
		} else if (strcmp(key, "max_control_line") == 0) {
			rc = get_size(ld, v, 64, INT32_MAX, &x);
			if (rc == 0)
				o->max_control_line = (uint32_t)x;
		} else if (strcmp(key, "max_pending") == 0) {
			rc = get_size(ld, v, 1, INT64_MAX, &x);
			if (rc == 0)
				o->max_pending = (size_t)x;
		} else if (strcmp(key, "ping_interval") == 0) {
			rc = get_duration(ld, v, MS_NS, &o->ping_interval_ns);
		} else if (strcmp(key, "ping_max") == 0) {
			rc = get_int(ld, v, 1, INT32_MAX, &n);
			if (rc == 0)
				o->ping_max = (int)n;
		} else if (strcmp(key, "write_deadline") == 0) {
			rc = get_duration(ld, v, MS_NS, &o->write_deadline_ns);
		} else if (strcmp(key, "max_connections") == 0) {
			rc = get_int(ld, v, 0, INT32_MAX, &n);
			if (rc == 0)
				o->max_connections = (uint32_t)n;
		} else if (strcmp(key, "max_subscriptions") == 0) {
			rc = get_int(ld, v, 0, INT32_MAX, &n);
			if (rc == 0)
				o->max_subs = (uint32_t)n;
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	return 0;
}

/* A permission list: "subj", ["a", "b"]. */
static int load_subjects(struct loader *ld, const json_t *v, struct jn_perm_list *p, bool allow)
{
	char gotbuf[64];
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!jn_subject_valid_filter(s, json_string_length(v)))
			return FAIL(ld, "invalid subject %s", GOT(v));
		return jn_perm_add(p, allow, s) < 0 ? -JN_ENOMEM : 0;
	}
	if (!json_is_array(v))
		return FAIL(ld, "expected a subject or an array of subjects, got %s", GOT(v));
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		size_t mark = path_index(ld, i);
		if (!json_is_string(e))
			return FAIL(ld, "expected a subject string, got %s", GOT(e));
		const char *s = json_string_value(e);
		if (!jn_subject_valid_filter(s, json_string_length(e)))
			return FAIL(ld, "invalid subject %s", GOT(e));
		if (jn_perm_add(p, allow, s) < 0)
			return -JN_ENOMEM;
		path_pop(ld, mark);
	}
	return 0;
}

/* "publish": "x" | ["x", ...] (allow list) | {"allow": ..., "deny": ...} */
static int load_perm(struct loader *ld, const json_t *v, struct jn_perm_list *p)
{
	if (!json_is_object(v))
		return load_subjects(ld, v, p, true);
	const char *key;
	json_t *x;
	json_object_foreach((json_t *)v, key, x) {
		size_t mark = path_key(ld, key);
		int rc;
		if (strcmp(key, "allow") == 0)
			rc = load_subjects(ld, x, p, true);
		else if (strcmp(key, "deny") == 0)
			rc = load_subjects(ld, x, p, false);
		else
			rc = unknown(ld);
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	return 0;
}

static int load_user(struct loader *ld, const json_t *obj, struct jn_auth *a)
{
	char gotbuf[64];
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	const char *key;
	json_t *v;
	/* check every key first so an unknown one is reported even when a
	 * required one is missing */
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "user") && strcmp(key, "password") && strcmp(key, "permissions")) {
			size_t mark = path_key(ld, key);
			rc = unknown(ld);
			path_pop(ld, mark);
			return rc;
		}
	}
	const char *name, *pass;
	json_t *jn = json_object_get(obj, "user");
	json_t *jp = json_object_get(obj, "password");
	if (!jn)
		return FAIL(ld, "missing field \"user\"");
	size_t mark = path_key(ld, "user");
	if ((rc = get_str(ld, jn, 0, &name)) < 0)
		return rc;
	for (uint32_t i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return FAIL(ld, "duplicate user %s", GOT(jn));
	path_pop(ld, mark);
	if (!jp)
		return FAIL(ld, "missing field \"password\"");
	mark = path_key(ld, "password");
	if ((rc = get_str(ld, jp, 0, &pass)) < 0)
		return rc;
	path_pop(ld, mark);

	struct jn_user *u;
	rc = jn_auth_add_user(a, name, pass, &u);
	if (rc == -JN_EEXIST) {
		mark = path_key(ld, "user");
		return FAIL(ld, "duplicate user %s", GOT(jn));
	}
	if (rc < 0)
		return rc;

	json_t *jperm = json_object_get(obj, "permissions");
	if (!jperm)
		return 0;
	mark = path_key(ld, "permissions");
	if ((rc = get_object(ld, jperm)) < 0)
		return rc;
	u->has_permissions = true;
	json_object_foreach(jperm, key, v) {
		size_t m2 = path_key(ld, key);
		if (strcmp(key, "publish") == 0)
			rc = load_perm(ld, v, &u->publish);
		else if (strcmp(key, "subscribe") == 0)
			rc = load_perm(ld, v, &u->subscribe);
		else
			rc = unknown(ld);
		if (rc < 0)
			return rc;
		path_pop(ld, m2);
	}
	path_pop(ld, mark);
	return 0;
}

/* Builds a fresh jn_auth; the caller swaps it in on success. */
static int load_auth(struct loader *ld, const json_t *obj, struct jn_auth *a)
{
	char gotbuf[64];
	int rc = get_object(ld, obj);
	if (rc < 0)
		return rc;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t mark = path_key(ld, key);
		if (strcmp(key, "token") == 0) {
			rc = set_str(ld, v, &a->token);
		} else if (strcmp(key, "timeout") == 0) {
			rc = get_duration(ld, v, MS_NS, &a->timeout_ns);
		} else if (strcmp(key, "no_auth_user") == 0) {
			rc = set_str(ld, v, &a->no_auth_user);
		} else if (strcmp(key, "users") == 0) {
			if (!json_is_array(v)) {
				rc = FAIL(ld, "expected an array of users, got %s", json_kind(v));
			} else {
				size_t i;
				json_t *e;
				rc = 0;
				json_array_foreach(v, i, e) {
					size_t m2 = path_index(ld, i);
					rc = load_user(ld, e, a);
					if (rc < 0)
						break;
					path_pop(ld, m2);
				}
			}
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	if (a->token && a->nusers > 0) {
		path_key(ld, "token");
		return FAIL(ld, "cannot be combined with authorization.users (use one or the other)");
	}
	if (a->no_auth_user) {
		bool found = false;
		for (uint32_t i = 0; i < a->nusers; i++)
			if (strcmp(a->users[i].name, a->no_auth_user) == 0)
				found = true;
		if (!found) {
			path_key(ld, "no_auth_user");
			return FAIL(ld, "user %s is not in authorization.users",
			            GOT(json_object_get(obj, "no_auth_user")));
		}
	}
	a->required = a->token != NULL || a->nusers > 0;
	return 0;
}

static int load_root(struct loader *ld, const json_t *root, struct jn_config *c)
{
	char gotbuf[64];
	if (!json_is_object(root))
		return FAIL(ld, "expected a JSON object at the top level, got %s", json_kind(root));
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)root, key, v) {
		size_t mark = path_key(ld, key);
		long long n;
		int rc = 0;
		if (strcmp(key, "server_name") == 0) {
			rc = set_str(ld, v, &c->server_name);
		} else if (strcmp(key, "workers") == 0) {
			rc = get_int(ld, v, 0, 1024, &n);
			if (rc == 0)
				c->workers = (int)n;
		} else if (strcmp(key, "store_dir") == 0) {
			rc = set_str(ld, v, &c->store_dir);
		} else if (strcmp(key, "log_level") == 0) {
			int lvl = json_is_string(v) ? jn_log_parse_level(json_string_value(v)) : -1;
			if (lvl < 0)
				rc = FAIL(ld, "expected one of \"trace\", \"debug\", \"info\", \"warn\", "
				          "\"error\", got %s", GOT(v));
			else
				c->log_level = lvl;
		} else if (strcmp(key, "nats") == 0) {
			rc = load_nats(ld, v, c);
		} else if (strcmp(key, "mqtt") == 0) {
			rc = load_mqtt(ld, v, c);
		} else if (strcmp(key, "http") == 0) {
			rc = load_http(ld, v, c);
		} else if (strcmp(key, "authorization") == 0) {
			struct jn_auth a;
			jn_auth_init(&a);
			rc = load_auth(ld, v, &a);
			if (rc == 0) {
				jn_auth_fini(&c->auth);
				c->auth = a;
			} else {
				jn_auth_fini(&a);
			}
		} else if (strcmp(key, "jetstream") == 0) {
			rc = load_jetstream(ld, v, &c->jetstream);
		} else {
			rc = unknown(ld);
		}
		if (rc < 0)
			return rc;
		path_pop(ld, mark);
	}
	/* cross-field checks on the merged result */
	if (c->nats.max_payload > c->nats.max_pending) {
		const json_t *jn = json_object_get(root, "nats");
		const char *field = json_object_get(jn, "max_payload") ? "nats.max_payload"
		                  : json_object_get(jn, "max_pending") ? "nats.max_pending" : "nats";
		return fail_at(ld, field, false, "max_payload (%u) cannot be higher than "
		               "max_pending (%zu)", c->nats.max_payload, c->nats.max_pending);
	}
	return 0;
}

/* ---- public -------------------------------------------------------------- */

int jn_config_init(struct jn_config *c)
{
	memset(c, 0, sizeof *c);
	c->workers = 0;
	c->log_level = JN_LOG_INFO;
	c->nats_listen = (struct jn_listen){ .enabled = true, .host = "0.0.0.0", .port = 4222 };
	c->mqtt_listen = (struct jn_listen){ .enabled = false, .host = "0.0.0.0", .port = 1883 };
	c->http_listen = (struct jn_listen){ .enabled = false, .host = "0.0.0.0", .port = 8080 };
	jn_http_opts_default(&c->http);
	jn_nats_opts_default(&c->nats);
	jn_mqtt_opts_default(&c->mqtt);
	jn_auth_init(&c->auth);
	c->server_name = jn_strdup("junction");
	c->store_dir = jn_strdup("./store");
	c->jetstream = (struct jn_js_config){ .enabled = true, .sync_interval_ns = 120000 * MS_NS,
	                                      .max_memory = -1, .max_file = -1 };
	jn_config_sync(c);
	return c->server_name && c->store_dir ? 0 : -JN_ENOMEM;
}

void jn_config_fini(struct jn_config *c)
{
	jn_free(c->path);
	jn_free(c->server_name);
	jn_free(c->store_dir);
	jn_free(c->http_allow_origin);
	jn_auth_fini(&c->auth);
	memset(c, 0, sizeof *c);
}

void jn_config_sync(struct jn_config *c)
{
	c->nats.server_name = c->server_name;
	c->nats.host = c->nats_listen.host;
	c->nats.port = c->nats_listen.port;
}

static int load_buf(struct jn_config *c, const char *name, const char *text, size_t len,
                    char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (errlen)
			snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", name,
			         je.line < 1 ? 1 : je.line, je.column < 1 ? 1 : je.column, je.text);
		return -JN_ECONFIG;
	}
	struct loader ld = { .name = name, .text = text, .len = len, .err = err, .errlen = errlen };
	int rc = load_root(&ld, root, c);
	json_decref(root);
	jn_config_sync(c);
	if (rc == -JN_ENOMEM && errlen)
		snprintf(err, errlen, "%s: out of memory", name);
	return rc;
}

int jn_config_load_string(struct jn_config *c, const char *name, const char *json,
                          char *err, size_t errlen)
{
	return load_buf(c, name, json, strlen(json), err, errlen);
}

int jn_config_load_default(struct jn_config *c, char *err, size_t errlen)
{
	return jn_config_load_string(c, "(embedded conf/junction.json)", jn_default_config,
	                             err, errlen);
}

int jn_config_load_file(struct jn_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -JN_ECONFIG;
	}
	size_t cap = 4096, len = 0;
	char *buf = jn_malloc(cap);
	int rc = 0;
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (len < cap)
			break;
		if (cap >= (64u << 20)) {
			rc = -JN_ECONFIG;
			if (errlen)
				snprintf(err, errlen, "%s: file too large (over 64 MiB)", path);
			break;
		}
		char *nb = jn_realloc(buf, cap * 2);
		if (!nb) {
			jn_free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (rc == 0 && buf && ferror(f)) {
		rc = -JN_ECONFIG;
		if (errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	}
	fclose(f);
	if (!buf) {
		if (errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return -JN_ENOMEM;
	}
	if (rc == 0)
		rc = load_buf(c, path, buf, len, err, errlen);
	jn_free(buf);
	if (rc == 0) {
		char *p = jn_strdup(path);
		if (!p)
			return -JN_ENOMEM;
		jn_free(c->path);
		c->path = p;
	}
	return rc;
}
