/*
 * streams.c - the JetStream routes of the contract: /v1/streams...,
 * /v1/streams/{s}/consumers..., /v1/ack (docs/http-api.md). The KV routes
 * are kv.c's.
 *
 * Streams and consumers are managed through the JetStream API in-process
 * (jn_js_api_call): an HTTP client gets exactly what a NATS client asking
 * "$JS.API.STREAM.CREATE.X" would, minus the "type" member, and the same
 * rules (limits, update checks, error codes) apply to both. An API error
 * {"error":{"code","err_code","description"}} becomes the HTTP status of the
 * error table's row for err_code (core/err.c); where the NATS API answers
 * 500 for what is the client's mistake (a refused update, a bad config), the
 * HTTP status is 400: see jn__http_js_status().
 *
 * PUT is create-or-update: the stream (consumer) is looked up first;
 * 201 when it was created, 200 when an existing one was updated. Deletes
 * answer 200 {"deleted":true}.
 *
 * Permissions: a user needs publish permission on the API subject the
 * operation corresponds to ($JS.API.STREAM.CREATE.<s> ...), as over NATS.
 *
 * JetStream disabled: every route answers 503 with err_code 10076
 * "JetStream not enabled", as the NATS API does.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/consumer.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/js_json.h"
#include "core/store.h"
#include "core/stream.h"
#include "core/subject.h"

#define MAX_NAME 256

/* ---- helpers shared with fetch.c and replay.c ------------------------------ */

long jn__http_path_seg(struct http_req *r, int i, char *out, size_t cap)
{
	const char *seg[JN_HTTP_MAX_SEGS];
	size_t len[JN_HTTP_MAX_SEGS];
	int n = jn__path_split(r->url, seg, len);
	if (i >= n || len[i] >= cap)
		return -1;
	long k = jn__pct_decode(seg[i], len[i], out);
	if (k < 0)
		return -1;
	out[k] = '\0';
	return k;
}

int jn__http_query_duration(struct http_req *r, const char *key, int64_t max_ns, int64_t *ns)
{
	const char *t = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	if (!t)
		return 0;
	size_t n = strlen(t);
	char dec[64];
	long k = n < sizeof dec ? jn__pct_decode(t, n, dec) : -1;
	int64_t v = 0;
	if (k < 0 || jn__parse_duration(dec, (size_t)k, &v) < 0 || v > max_ns) {
		jn__http_error(r, 400, 0, "invalid %s \"%.40s\": expected a duration such as "
		               "\"500ms\" or \"5s\", or integer nanoseconds", key, t);
		return -1;
	}
	*ns = v;
	return 0;
}

/* A JetStream error's HTTP status. The table's status is the NATS API's
 * "code"; a few of those are 500 for what is a refused request. */
unsigned jn__http_js_status(int err_code, long code)
{
	static const int refusals[] = {
		JN_ESTREAMCONFIG, JN_EREPLICAS, JN_EROLLUP, JN_EDELETEDENIED, JN_EPURGEDENIED,
		JN_ECONSUMERCREATE,
	};
	for (int i = 1; err_code && i < JN_ERR_COUNT; i++) {
		const struct jn_err_info *e = jn_err_info(i);
		if (e->js_err_code != err_code)
			continue;
		for (size_t k = 0; k < sizeof refusals / sizeof refusals[0]; k++)
			if (refusals[k] == i)
				return 400;
		/* ENOTFOUND/EEXIST share codes with the specific rows; the
		 * first row found is the generic one, with the same status */
		return (unsigned)e->http_status;
	}
	return code >= 400 && code <= 599 ? (unsigned)code : 500;
}

void jn__http_js_error(struct http_req *r, json_t *err)
{
	json_int_t code = json_integer_value(json_object_get(err, "code"));
	int err_code = (int)json_integer_value(json_object_get(err, "err_code"));
	const char *desc = json_string_value(json_object_get(err, "description"));
	jn__http_error(r, jn__http_js_status(err_code, (long)code), err_code, "%s", desc ? desc : "error");
}

/* ---- API calls --------------------------------------------------------------- */

static bool allowed(struct http_req *r, const char *op)
{
	char subj[600];
	int n = snprintf(subj, sizeof subj, "$JS.API.%s", op);
	if (n < 0 || (size_t)n >= sizeof subj || !jn_auth_can_publish(r->user, subj, (size_t)n)) {
		jn__http_error_jn(r, JN_EPERM_PUB, false, subj);
		return false;
	}
	return true;
}

/* The API's answer to op (body may be NULL), or NULL with an answer set on
 * r (permission, transport failure). The answer may be an error object:
 * see api_ok(). Caller decrefs. */
static json_t *api(struct http_req *r, const char *op, json_t *body)
{
	if (!allowed(r, op))
		return NULL;
	char *text = NULL;
	size_t len = 0;
	if (body) {
		text = jn_js_dumps(body, &len);
		if (!text) {
			jn__http_error_jn(r, JN_ENOMEM, false, NULL);
			return NULL;
		}
	}
	json_t *resp = NULL;
	int rc = jn_js_api_call(r->srv->opts.js, op, text, len, &resp);
	free(text);   /* jansson's allocation */
	if (rc < 0) {
		jn__http_error_jn(r, rc, false, op);
		return NULL;
	}
	json_object_del(resp, "type");
	return resp;
}

/* NULL if resp is an error (answer set, resp freed), else resp. */
static json_t *api_ok(struct http_req *r, json_t *resp)
{
	json_t *err = resp ? json_object_get(resp, "error") : NULL;
	if (!err)
		return resp;
	jn__http_js_error(r, err);
	json_decref(resp);
	return NULL;
}

static int api_err_code(json_t *resp)
{
	json_t *err = json_object_get(resp, "error");
	return err ? (int)json_integer_value(json_object_get(err, "err_code")) : 0;
}

static void reply_json(struct http_req *r, unsigned status, json_t *o)
{
	size_t len = 0;
	char *p = jn_js_dumps(o, &len);
	if (!p) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	jn__http_reply_copy(r, status, p, len, "application/json");
	free(p);   /* jansson's allocation */
}

static void reply_deleted(struct http_req *r, json_t *resp)
{
	if (!(resp = api_ok(r, resp)))
		return;
	json_decref(resp);
	static const char ok[] = "{\"deleted\":true}";
	jn__http_reply_copy(r, 200, ok, sizeof ok - 1, "application/json");
}

/* An optional JSON object body: {} when empty. NULL: a 400 is set. */
static json_t *body_or_empty(struct http_req *r)
{
	if (r->body_len == 0)
		return json_object();
	return jn__http_body_json(r);
}

/* Durations in a config may be Go-style strings ("5s") as well as the
 * NATS JSON's nanoseconds: turn the strings into integers. 0, or -1 with a
 * 400 set. */
static int durations(struct http_req *r, json_t *cfg, const char *const *keys)
{
	for (; *keys; keys++) {
		json_t *v = json_object_get(cfg, *keys);
		json_t *arr = json_is_array(v) ? v : NULL;
		size_t n = arr ? json_array_size(arr) : 1;
		for (size_t i = 0; i < n; i++) {
			json_t *e = arr ? json_array_get(arr, i) : v;
			int64_t ns;
			if (!json_is_string(e))
				continue;
			if (jn__parse_duration(json_string_value(e), json_string_length(e), &ns) < 0) {
				jn__http_error(r, 400, jn_err_info(JN_EBADJSON)->js_err_code,
				               "invalid JSON: \"%s\" is a duration such as \"5s\" or "
				               "integer nanoseconds", *keys);
				return -1;
			}
			if (arr)
				json_array_set_new(arr, i, json_integer(ns));
			else
				json_object_set_new(cfg, *keys, json_integer(ns));
		}
	}
	return 0;
}

static const char *const stream_durations[] = { "max_age", "duplicate_window", NULL };
static const char *const consumer_durations[] = {
	"ack_wait", "idle_heartbeat", "inactive_threshold", "max_expires", "backoff", NULL,
};

/* ---- lists --------------------------------------------------------------------- */

/* Page through a LIST op ("STREAM.LIST" / "CONSUMER.LIST.<s>") and answer
 * {"<member>":[...]}. */
static void list_all(struct http_req *r, const char *op, const char *member)
{
	json_t *all = json_array();
	json_int_t offset = 0;
	for (;;) {
		json_t *req = json_pack("{sI}", "offset", offset);
		json_t *resp = api(r, op, req);
		json_decref(req);
		if (!resp || !(resp = api_ok(r, resp))) {
			json_decref(all);
			return;
		}
		json_t *page = json_object_get(resp, member);
		size_t n = json_array_size(page);
		json_array_extend(all, page);
		json_int_t total = json_integer_value(json_object_get(resp, "total"));
		json_decref(resp);
		offset += (json_int_t)n;
		if (n == 0 || offset >= total)
			break;
	}
	json_t *o = json_pack("{so}", member, all);
	reply_json(r, 200, o);
	json_decref(o);
}

/* ---- streams ---------------------------------------------------------------------- */

static void stream_put(struct http_req *r, const char *name)
{
	json_t *cfg = body_or_empty(r);
	if (!cfg)
		return;
	const char *bn = json_string_value(json_object_get(cfg, "name"));
	if (json_object_get(cfg, "name") && (!bn || strcmp(bn, name) != 0)) {
		jn__http_error_jn(r, JN_ESTREAMMISMATCH, true, "\"name\" in the body must be the path's");
		json_decref(cfg);
		return;
	}
	json_object_set_new(cfg, "name", json_string(name));
	if (durations(r, cfg, stream_durations) < 0) {
		json_decref(cfg);
		return;
	}
	char op[MAX_NAME + 32];
	snprintf(op, sizeof op, "STREAM.INFO.%s", name);
	json_t *info = api(r, op, NULL);
	if (!info) {
		json_decref(cfg);
		return;
	}
	bool exists = !json_object_get(info, "error");
	json_decref(info);
	for (int attempt = 0; attempt < 2; attempt++) {
		snprintf(op, sizeof op, "STREAM.%s.%s", exists ? "UPDATE" : "CREATE", name);
		json_t *resp = api(r, op, cfg);
		if (!resp)
			break;
		/* created meanwhile by someone else: update it */
		if (!exists && attempt == 0 && api_err_code(resp) == 10058) {
			json_decref(resp);
			exists = true;
			continue;
		}
		if ((resp = api_ok(r, resp))) {
			reply_json(r, exists ? 200 : 201, resp);
			json_decref(resp);
		}
		break;
	}
	json_decref(cfg);
}

static void stream_purge(struct http_req *r, const char *name)
{
	json_t *body = body_or_empty(r);
	if (!body)
		return;
	char op[MAX_NAME + 32];
	snprintf(op, sizeof op, "STREAM.PURGE.%s", name);
	json_t *resp = api(r, op, json_object_size(body) ? body : NULL);
	json_decref(body);
	if (!resp || !(resp = api_ok(r, resp)))
		return;
	json_t *o = json_pack("{sI}", "purged",
	                      json_integer_value(json_object_get(resp, "purged")));
	reply_json(r, 200, o);
	json_decref(o);
	json_decref(resp);
}

/* "123" -> 123; 0 or garbage -> -1 (answer set). */
static int64_t parse_seq(struct http_req *r, const char *s)
{
	uint64_t v = 0;
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 19;
	for (size_t i = 0; ok && i < n; i++) {
		ok = s[i] >= '0' && s[i] <= '9';
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!ok || v == 0) {
		jn__http_error(r, 400, 0, "invalid sequence \"%.40s\": expected a positive integer", s);
		return -1;
	}
	return (int64_t)v;
}

static void message_get(struct http_req *r, const char *name, const char *seqs)
{
	char op[MAX_NAME + 32];
	snprintf(op, sizeof op, "STREAM.MSG.GET.%s", name);
	if (!allowed(r, op))
		return;
	json_t *req;
	if (seqs) {
		int64_t seq = parse_seq(r, seqs);
		if (seq < 0)
			return;
		req = json_pack("{sI}", "seq", (json_int_t)seq);
	} else {
		const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
		                                            "last_by_subject");
		char subj[1024];
		long k = v && strlen(v) < sizeof subj ? jn__pct_decode(v, strlen(v), subj) : -1;
		if (!v) {
			jn__http_error(r, 400, 0, "use /messages/{seq} or /messages?last_by_subject=S");
			return;
		}
		if (k <= 0 || !jn_subject_valid_filter(subj, (size_t)k)) {
			jn__http_error_jn(r, JN_EBADSUBJECT, false, v);
			return;
		}
		subj[k] = '\0';
		req = json_pack("{ss}", "last_by_subj", subj);
	}
	struct jn_stream *st = jn_js_stream_get(r->srv->opts.js, name, strlen(name));
	if (!st) {
		json_decref(req);
		jn__http_error_jn(r, JN_ESTREAMNOTFOUND, true, NULL);
		return;
	}
	struct jn_store_msg m = { 0 };
	int rc = jn_stream_msg_get(st, req, &m);
	jn_stream_unref(st);
	json_decref(req);
	if (rc < 0) {
		jn__http_error_jn(r, rc == -JN_ECLOSED ? JN_ESTREAMNOTFOUND : rc, true, NULL);
		jn_store_msg_fini(&m);
		return;
	}
	struct jn__http_jsmsg jm = {
		.subject = m.subject, .subject_len = m.subject_len, .seq = m.seq, .ts = m.ts,
		.hdr = m.hdr, .hdr_len = m.hdr_len, .data = m.data, .data_len = m.data_len,
	};
	struct jn__hbuf b = { 0 };
	jn__http_jsmsg_json(&b, &jm, jn__http_wants_text(r));
	jn_store_msg_fini(&m);
	size_t len = 0;
	char *p = jn__hbuf_take(&b, &len);
	jn__http_reply_take(r, 200, p, len, "application/json");
}

static void message_delete(struct http_req *r, const char *name, const char *seqs)
{
	int64_t seq = parse_seq(r, seqs);
	if (seq < 0)
		return;
	char op[MAX_NAME + 32];
	snprintf(op, sizeof op, "STREAM.MSG.DELETE.%s", name);
	json_t *req = json_pack("{sI}", "seq", (json_int_t)seq);
	json_t *resp = api(r, op, req);
	json_decref(req);
	if (resp)
		reply_deleted(r, resp);
}

/* ---- consumers ------------------------------------------------------------------------ */

static void consumer_put(struct http_req *r, const char *stream, const char *name)
{
	json_t *cfg = body_or_empty(r);
	if (!cfg)
		return;
	const char *keys[] = { "durable_name", "name" };
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(cfg, keys[i]);
		if (v && (!json_is_string(v) || strcmp(json_string_value(v), name) != 0)) {
			jn__http_error_jn(r, JN_EDURABLEMISMATCH, true,
			                  "\"durable_name\" and \"name\" in the body must be the path's");
			json_decref(cfg);
			return;
		}
	}
	json_object_set_new(cfg, "durable_name", json_string(name));
	if (durations(r, cfg, consumer_durations) < 0) {
		json_decref(cfg);
		return;
	}
	char op[2 * MAX_NAME + 32];
	snprintf(op, sizeof op, "CONSUMER.INFO.%s.%s", stream, name);
	json_t *info = api(r, op, NULL);
	if (!info) {
		json_decref(cfg);
		return;
	}
	int ec = api_err_code(info);
	bool exists = !json_object_get(info, "error");
	if (!exists && ec != 10014) {   /* e.g. no such stream */
		api_ok(r, info);
		json_decref(cfg);
		return;
	}
	json_decref(info);
	json_t *req = json_pack("{ssso}", "stream_name", stream, "config", cfg);
	snprintf(op, sizeof op, "CONSUMER.CREATE.%s.%s", stream, name);
	json_t *resp = api(r, op, req);
	json_decref(req);
	if (resp && (resp = api_ok(r, resp))) {
		reply_json(r, exists ? 200 : 201, resp);
		json_decref(resp);
	}
}

/* ---- acks ------------------------------------------------------------------------------- */

static void ack_route(struct http_req *r)
{
	json_t *o = jn__http_body_json(r);
	if (!o)
		return;
	json_t *ids = json_object_get(o, "ack");
	const char *kinds = "ack";
	json_t *k = json_object_get(o, "kind");
	enum jn_ack_kind kind = JN_ACK_ACK;
	int64_t delay = 0;
	if (!json_is_array(ids)) {
		jn__http_error(r, 400, jn_err_info(JN_EBADJSON)->js_err_code,
		               "\"ack\" must be an array of ack ids");
		goto out;
	}
	if (k && !json_is_string(k)) {
		jn__http_error(r, 400, 0, "\"kind\" must be a string");
		goto out;
	}
	if (k)
		kinds = json_string_value(k);
	if (strcmp(kinds, "ack") == 0)
		kind = JN_ACK_ACK;
	else if (strcmp(kinds, "nak") == 0)
		kind = JN_ACK_NAK;
	else if (strcmp(kinds, "term") == 0)
		kind = JN_ACK_TERM;
	else if (strcmp(kinds, "progress") == 0)
		kind = JN_ACK_WPI;
	else {
		jn__http_error(r, 400, 0, "unknown \"kind\" \"%.40s\": expected ack, nak, term or "
		               "progress", kinds);
		goto out;
	}
	json_t *d = json_object_get(o, "delay");
	if (d) {
		bool ok = kind == JN_ACK_NAK;
		if (ok && json_is_integer(d))
			ok = (delay = json_integer_value(d)) >= 0;
		else if (ok && json_is_string(d))
			ok = jn__parse_duration(json_string_value(d), json_string_length(d), &delay) == 0;
		else
			ok = false;
		if (!ok) {
			jn__http_error(r, 400, 0, "\"delay\" is a duration (\"5s\" or nanoseconds), for "
			               "kind \"nak\" only");
			goto out;
		}
	}
	/* permissions first, so that a refused request changes nothing */
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		if (json_is_string(v) &&
		    !jn_auth_can_publish(r->user, json_string_value(v), json_string_length(v))) {
			jn__http_error_jn(r, JN_EPERM_PUB, false, json_string_value(v));
			goto out;
		}
	}
	uint64_t acked = 0, unknown = 0;
	json_array_foreach(ids, i, v) {
		int rc = json_is_string(v)
		         ? jn_js_ack_apply(r->srv->opts.js, json_string_value(v),
		                           json_string_length(v), kind, delay)
		         : -JN_EINVAL;
		if (rc == 0)
			acked++;
		else
			unknown++;
	}
	char buf[96];
	int n = snprintf(buf, sizeof buf, "{\"acked\":%llu,\"unknown\":%llu}",
	                 (unsigned long long)acked, (unsigned long long)unknown);
	jn__http_reply_copy(r, 200, buf, (size_t)n, "application/json");
out:
	json_decref(o);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Decode and check a stream/consumer name segment. -1: answer set. */
static int name_seg(struct http_req *r, int i, char *out, const char *what)
{
	long k = jn__http_path_seg(r, i, out, MAX_NAME);
	if (k <= 0 || !jn_js_name_valid(out, (size_t)k)) {
		jn__http_error_jn(r, JN_EBADREQUEST, true, what);
		return -1;
	}
	return 0;
}

/* GET (op INFO) answers the info, DELETE (op DELETE) {"deleted":true}. */
static void info_or_delete(struct http_req *r, const char *op, bool get)
{
	json_t *resp = api(r, op, NULL);
	if (!resp)
		return;
	if (!get) {
		reply_deleted(r, resp);
	} else if ((resp = api_ok(r, resp))) {
		reply_json(r, 200, resp);
		json_decref(resp);
	}
}

void jn__http_streams_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	if (!s->opts.jetstream_enabled || !s->opts.js) {
		jn__http_error_jn(r, JN_EJSNOTENABLED, true, NULL);
		return;
	}
	if (strcmp(r->url, "/v1/ack") == 0 || strcmp(r->url, "/v1/ack/") == 0) {
		ack_route(r);
		return;
	}
	const char *seg[JN_HTTP_MAX_SEGS];
	size_t len[JN_HTTP_MAX_SEGS];
	int n = jn__path_split(r->url, seg, len);
	bool get = r->method & (JN_HM_GET | JN_HM_HEAD);
	char stream[MAX_NAME], name[MAX_NAME], op[2 * MAX_NAME + 32];
	if (n == 2) {   /* /v1/streams */
		list_all(r, "STREAM.LIST", "streams");
		return;
	}
	if (name_seg(r, 2, stream, "invalid stream name") < 0)
		return;
	const char *sub = n > 3 ? seg[3] : "";
	size_t sublen = n > 3 ? len[3] : 0;
#define SUB_IS(lit) (sublen == sizeof lit - 1 && memcmp(sub, lit, sublen) == 0)
	if (n == 3) {
		if (r->method == JN_HM_PUT) {
			stream_put(r, stream);
			return;
		}
		snprintf(op, sizeof op, "STREAM.%s.%s", get ? "INFO" : "DELETE", stream);
		info_or_delete(r, op, get);
		return;
	}
	if (n == 4 && SUB_IS("purge")) {
		stream_purge(r, stream);
		return;
	}
	if (n == 4 && SUB_IS("events")) {
		snprintf(op, sizeof op, "STREAM.MSG.GET.%s", stream);
		if (allowed(r, op))
			jn__http_replay_route(r, stream);
		return;
	}
	if (SUB_IS("messages")) {
		char seqs[64];
		const char *sq = NULL;
		if (n == 5) {
			if (jn__http_path_seg(r, 4, seqs, sizeof seqs) < 0) {
				jn__http_error(r, 400, 0, "invalid sequence: expected a positive integer");
				return;
			}
			sq = seqs;
		}
		if (get)
			message_get(r, stream, sq);
		else
			message_delete(r, stream, sq);
		return;
	}
	/* consumers */
	if (n == 4) {
		snprintf(op, sizeof op, "CONSUMER.LIST.%s", stream);
		list_all(r, op, "consumers");
		return;
	}
	if (name_seg(r, 4, name, "invalid consumer name") < 0)
		return;
	if (n == 6) {
		bool fetch = len[5] == 5 && memcmp(seg[5], "fetch", 5) == 0;
		snprintf(op, sizeof op, "CONSUMER.MSG.NEXT.%s.%s", stream, name);
		if (!allowed(r, op))
			return;
		if (fetch)
			jn__http_fetch_route(r, stream, name);
		else
			jn__http_consumer_events_route(r, stream, name);
		return;
	}
	if (r->method == JN_HM_PUT) {
		consumer_put(r, stream, name);
		return;
	}
	snprintf(op, sizeof op, "CONSUMER.%s.%s.%s", get ? "INFO" : "DELETE", stream, name);
	info_or_delete(r, op, get);
#undef SUB_IS
}
