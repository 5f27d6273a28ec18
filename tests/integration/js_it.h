/*
 * js_it.h - small helpers for the JetStream integration tests: a JetStream
 * context, raw API requests answered as parsed JSON, checks on error codes
 * and JSON paths. Header-only (static inline) so each test binary takes
 * what it uses.
 */
#ifndef JN_JS_IT_H
#define JN_JS_IT_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static inline jsCtx *jt_ctx(natsConnection *nc)
{
	jsCtx *js = NULL;
	jsOptions o;
	IT_OK(jsOptions_Init(&o));
	o.Wait = 5000;
	IT_OK(natsConnection_JetStream(&js, nc, &o));
	return js;
}

/* Request on subj with body (may be NULL); the reply parsed as JSON. Fails
 * the case on timeout or when the reply is not a JSON object. */
#define jt_api(nc, subj, body) jt_api_at(__FILE__, __LINE__, nc, subj, body)
static inline json_t *jt_api_at(const char *file, int line, natsConnection *nc,
                                const char *subj, const char *body)
{
	natsMsg *reply = NULL;
	natsStatus s = natsConnection_Request(&reply, nc, subj, body ? body : "",
	                                      body ? (int)strlen(body) : 0, 5000);
	if (s != NATS_OK)
		it_fail(file, line, "request %s %s: %s", subj, body ? body : "", natsStatus_GetText(s));
	json_error_t e;
	json_t *o = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &e);
	if (!o || !json_is_object(o))
		it_fail(file, line, "reply to %s is not a JSON object: %.*s", subj,
		        natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
	natsMsg_Destroy(reply);
	return o;
}

/* A value by dotted path ("state.messages", "config.subjects"). */
static inline json_t *jt_get(json_t *o, const char *path)
{
	char key[128];
	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

#define jt_int(o, path) jt_int_at(__FILE__, __LINE__, o, path)
static inline long long jt_int_at(const char *file, int line, json_t *o, const char *path)
{
	json_t *v = jt_get(o, path);
	if (!v || !json_is_integer(v)) {
		char *s = json_dumps(o, JSON_COMPACT);
		it_fail(file, line, "no integer at %s in %s", path, s ? s : "?");
	}
	return json_integer_value(v);
}

#define jt_str(o, path) jt_str_at(__FILE__, __LINE__, o, path)
static inline const char *jt_str_at(const char *file, int line, json_t *o, const char *path)
{
	json_t *v = jt_get(o, path);
	if (!v || !json_is_string(v)) {
		char *s = json_dumps(o, JSON_COMPACT);
		it_fail(file, line, "no string at %s in %s", path, s ? s : "?");
	}
	return json_string_value(v);
}

/* The response must be an error with this err_code (and description, when
 * desc is not NULL), and carry the given type suffix (when not NULL). */
#define jt_expect_err(o, type, err_code, desc) \
	jt_expect_err_at(__FILE__, __LINE__, o, type, err_code, desc)
static inline void jt_expect_err_at(const char *file, int line, json_t *o, const char *type,
                                    int err_code, const char *desc)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_t *e = json_object_get(o, "error");
	if (!e || jt_get(e, "err_code") == NULL ||
	    json_integer_value(json_object_get(e, "err_code")) != err_code)
		it_fail(file, line, "expected err_code %d, got %s", err_code, s);
	if (desc && (!json_is_string(json_object_get(e, "description")) ||
	             strcmp(json_string_value(json_object_get(e, "description")), desc) != 0))
		it_fail(file, line, "expected description \"%s\", got %s", desc, s);
	if (type) {
		char t[160];
		snprintf(t, sizeof t, "io.nats.jetstream.api.v1.%s", type);
		json_t *ty = json_object_get(o, "type");
		if (!json_is_string(ty) || strcmp(json_string_value(ty), t) != 0)
			it_fail(file, line, "expected type %s, got %s", t, s);
	}
	free(s);
}

#define jt_expect_ok(o, type) jt_expect_ok_at(__FILE__, __LINE__, o, type)
static inline void jt_expect_ok_at(const char *file, int line, json_t *o, const char *type)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (json_object_get(o, "error"))
		it_fail(file, line, "unexpected error: %s", s);
	char t[160];
	snprintf(t, sizeof t, "io.nats.jetstream.api.v1.%s", type);
	json_t *ty = json_object_get(o, "type");
	if (!json_is_string(ty) || strcmp(json_string_value(ty), t) != 0)
		it_fail(file, line, "expected type %s, got %s", t, s);
	free(s);
}

/* Create a stream from a JSON config; fails the case on error. */
#define jt_create(nc, name, cfg) jt_create_at(__FILE__, __LINE__, nc, name, cfg)
static inline void jt_create_at(const char *file, int line, natsConnection *nc,
                                const char *name, const char *cfg)
{
	char subj[300];
	snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.%s", name);
	json_t *r = jt_api_at(file, line, nc, subj, cfg);
	jt_expect_ok_at(file, line, r, "stream_create_response");
	json_decref(r);
}

/* The stream's state.<field> from STREAM.INFO. */
#define jt_state(nc, name, field) jt_state_at(__FILE__, __LINE__, nc, name, field)
static inline long long jt_state_at(const char *file, int line, natsConnection *nc,
                                    const char *name, const char *field)
{
	char subj[300], path[128];
	snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", name);
	json_t *r = jt_api_at(file, line, nc, subj, NULL);
	jt_expect_ok_at(file, line, r, "stream_info_response");
	snprintf(path, sizeof path, "state.%s", field);
	json_t *v = jt_get(r, path);
	long long x = v && json_is_integer(v) ? json_integer_value(v) : 0;   /* omitted = 0 */
	json_decref(r);
	return x;
}

/* Core request (not through jsCtx) on a stream subject: the raw PubAck
 * body, NUL-terminated in buf. Returns false on timeout. */
static inline bool jt_pub_raw(natsConnection *nc, natsMsg *m, char *buf, size_t cap,
                              int timeout_ms)
{
	natsMsg *reply = NULL;
	natsStatus s = natsConnection_RequestMsg(&reply, nc, m, timeout_ms);
	if (s != NATS_OK)
		return false;
	snprintf(buf, cap, "%.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
	natsMsg_Destroy(reply);
	return true;
}

/* Publish subj with headers "K: V" pairs (NULL-terminated) and expect the
 * raw PubAck text. */
#define jt_pub_expect(nc, subj, data, want, ...) \
	jt_pub_expect_at(__FILE__, __LINE__, nc, subj, data, want, __VA_ARGS__)
static inline void jt_pub_expect_at(const char *file, int line, natsConnection *nc,
                                    const char *subj, const char *data, const char *want, ...)
{
	natsMsg *m = NULL;
	IT_OK(natsMsg_Create(&m, subj, NULL, data, (int)strlen(data)));
	va_list ap;
	va_start(ap, want);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		IT_OK(natsMsgHeader_Add(m, k, v));
	}
	va_end(ap);
	char buf[1024];
	if (!jt_pub_raw(nc, m, buf, sizeof buf, 5000))
		it_fail(file, line, "no PubAck for %s", subj);
	natsMsg_Destroy(m);
	if (strcmp(buf, want) != 0)
		it_fail(file, line, "PubAck for %s: got %s, expected %s", subj, buf, want);
}

#endif
