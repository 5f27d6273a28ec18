/*
 * kv.c - the Key/Value routes of the contract (/v1/kv...), over core/kv.h,
 * so a bucket here is the bucket NATS KV clients see:
 *
 *   GET    /v1/kv                          {"buckets":[status...]}
 *   PUT    /v1/kv/{b}                      create (201) or same config (200)
 *   GET    /v1/kv/{b}                      status
 *   DELETE /v1/kv/{b}                      {"deleted":true}
 *   GET    /v1/kv/{b}/keys?filter=a.*      {"keys":[...]} (live keys)
 *   GET    /v1/kv/{b}/keys/{key}           raw value, KV-Revision + ETag
 *   PUT    /v1/kv/{b}/keys/{key}           {"revision":N}; If-None-Match: *
 *                                          (create), If-Match: "N" (CAS): 412
 *   DELETE /v1/kv/{b}/keys/{key}[?purge=true]
 *   GET    /v1/kv/{b}/keys/{key}/history   {"entries":[...]}
 *   GET    /v1/kv/{b}/watch?key=&include_history=  SSE, id = revision,
 *                                          Last-Event-ID resumes
 *
 * A key is everything after ".../keys/" (it may contain '/'), percent-
 * decoded; a GET whose key ends in "/history" is the history route.
 *
 * Writes are asynchronous (the revision is known once the write is
 * durable): the connection is suspended and the write's completion, on
 * the syncer thread, resumes it; whoever flips `suspended` under the
 * pending's lock resumes (server_int.h). Watches are generic event streams
 * (jn__http_sse_start) fed by a core watcher; the stream's stop op stops
 * the watcher, so shutdown ends them like any SSE stream.
 *
 * Permissions (same users as the NATS listener): bucket operations need
 * publish on "$JS.API.STREAM.<OP>.KV_<b>", writes publish on "$KV.<b>.<key>",
 * reads (get, keys, history, watch) subscribe on "$KV.<b>.<key|filter>".
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapters/http/server_int.h"
#include "core/alloc.h"
#include "core/auth.h"
#include "core/err.h"
#include "core/js_json.h"
#include "core/kv.h"

#define MAX_KEY 1024

/* ---- small helpers ---------------------------------------------------------- */

static void reply_json(struct http_req *r, unsigned status, json_t *o)
{
	size_t len;
	char *s = o ? jn_js_dumps(o, &len) : NULL;
	if (!s) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	jn__http_reply_copy(r, status, s, len, "application/json");
	free(s);
}

static void bucket_missing(struct http_req *r, const char *b)
{
	jn__http_error(r, 404, 10059, "bucket not found: %s", b);
}

/* A core error as the contract's JSON error. */
static void kv_error(struct http_req *r, int err, const char *bucket, const char *what)
{
	if (err == -JN_ESTREAMNOTFOUND)
		bucket_missing(r, bucket);
	else if (err == -JN_ENOTFOUND)
		jn__http_error(r, 404, 10037, "key not found: %s", what ? what : "");
	else if (err == -JN_EINVAL)
		jn__http_error(r, 400, 0, "invalid %s", what ? what : "argument");
	else
		jn__http_error_jn(r, err, true, what);
}

static bool may(struct http_req *r, bool publish, const char *subj)
{
	size_t n = strlen(subj);
	bool ok = publish ? jn_auth_can_publish(r->user, subj, n)
	                  : jn_auth_can_subscribe(r->user, subj, n);
	if (!ok)
		jn__http_error_jn(r, publish ? JN_EPERM_PUB : JN_EPERM_SUB, false, subj);
	return ok;
}

static bool may_api(struct http_req *r, const char *op, const char *b)
{
	char subj[400];
	snprintf(subj, sizeof subj, "$JS.API.STREAM.%s.KV_%s", op, b);
	return may(r, true, subj);
}

static bool may_key(struct http_req *r, bool publish, const char *b, const char *key)
{
	char subj[MAX_KEY + 300];
	snprintf(subj, sizeof subj, "$KV.%s.%s", b, key);
	return may(r, publish, subj);
}

/* Query value, percent-decoded into out; NULL when absent or malformed
 * (*bad set). */
static const char *query(struct http_req *r, const char *key, char *out, size_t cap, bool *bad)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	if (!v)
		return NULL;
	size_t n = strlen(v);
	long k = n < cap ? jn__pct_decode(v, n, out) : -1;
	if (k < 0) {
		*bad = true;
		return NULL;
	}
	out[k] = '\0';
	return out;
}

/* true/false/1/0/absent (dflt). -1: malformed (answer set). */
static int query_bool(struct http_req *r, const char *key, bool dflt)
{
	char buf[16];
	bool bad = false;
	const char *v = query(r, key, buf, sizeof buf, &bad);
	if (!v && !bad)
		return dflt;
	if (v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0'))
		return 1;
	if (v && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0))
		return 0;
	jn__http_error(r, 400, 0, "invalid %s: expected true or false", key);
	return -1;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static const char *op_name(enum jn_kv_op op)
{
	return op == JN_KV_DEL ? "DEL" : op == JN_KV_PURGE ? "PURGE" : "PUT";
}

/* {"key","revision","operation","created","value"} */
static void entry_json(struct jn__hbuf *b, const struct jn_kv_entry *e)
{
	char t[JN_JS_TIME_LEN];
	jn_js_time_format(e->created_ns, t);
	jn__hbuf_puts(b, "{\"key\":");
	jn__hbuf_json_str(b, e->key, strlen(e->key));
	jn__hbuf_printf(b, ",\"revision\":%" PRIu64 ",\"operation\":\"%s\",\"created\":\"%s\","
	                "\"value\":\"", e->revision, op_name(e->op), t);
	jn__hbuf_base64(b, e->value, e->len);
	jn__hbuf_puts(b, "\"}");
}

static void reply_hbuf(struct http_req *r, unsigned status, struct jn__hbuf *b)
{
	size_t len = 0;
	char *p = jn__hbuf_take(b, &len);
	if (!p) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	jn__http_reply_take(r, status, p, len, "application/json");
}

/* ---- buckets ------------------------------------------------------------------ */

static void bucket_list(struct http_req *r)
{
	json_t *o = NULL;
	int rc = jn_kv_bucket_list(r->srv->opts.js, &o);
	if (rc) {
		kv_error(r, rc, "", NULL);
		return;
	}
	reply_json(r, 200, o);
	json_decref(o);
}

static int body_i64(struct http_req *r, json_t *o, const char *k, int64_t *out)
{
	json_t *v = json_object_get(o, k);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		jn__http_error(r, 400, 0, "invalid \"%s\": expected an integer", k);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static void bucket_create(struct http_req *r, const char *b)
{
	struct jn_kv_cfg c = { .bucket = b, .storage = JN_STORE_FILE };
	json_t *o = NULL;
	if (r->body_len) {
		o = jn__http_body_json(r);
		if (!o)
			return;
	}
	int64_t history = 0, max_bytes = -1, mvs = -1;
	if (body_i64(r, o, "history", &history) || body_i64(r, o, "max_bytes", &max_bytes) ||
	    body_i64(r, o, "max_value_size", &mvs))
		goto out;
	json_t *ttl = json_object_get(o, "ttl");
	if (json_is_string(ttl)) {
		const char *s = json_string_value(ttl);
		if (jn__parse_duration(s, strlen(s), &c.ttl_ns) < 0) {
			jn__http_error(r, 400, 0, "invalid \"ttl\" \"%.40s\": expected a duration such "
			               "as \"1h\" or integer nanoseconds", s);
			goto out;
		}
	} else if (json_is_integer(ttl)) {
		c.ttl_ns = json_integer_value(ttl);
	} else if (ttl && !json_is_null(ttl)) {
		jn__http_error(r, 400, 0, "invalid \"ttl\": expected a duration");
		goto out;
	}
	json_t *st = json_object_get(o, "storage");
	if (st && !json_is_null(st)) {
		const char *s = json_string_value(st);
		if (s && strcmp(s, "memory") == 0) {
			c.storage = JN_STORE_MEMORY;
		} else if (!s || strcmp(s, "file") != 0) {
			jn__http_error(r, 400, 0, "invalid \"storage\": expected \"file\" or \"memory\"");
			goto out;
		}
	}
	json_t *d = json_object_get(o, "description");
	if (d && !json_is_null(d) && !json_is_string(d)) {
		jn__http_error(r, 400, 0, "invalid \"description\": expected a string");
		goto out;
	}
	c.description = json_string_value(d);
	if (history < 0 || history > JN_KV_MAX_HISTORY) {
		jn__http_error(r, 400, 0, "invalid \"history\": 1 to %d", JN_KV_MAX_HISTORY);
		goto out;
	}
	if (c.ttl_ns < 0 || mvs > INT32_MAX) {
		jn__http_error(r, 400, 0, "invalid \"%s\"", c.ttl_ns < 0 ? "ttl" : "max_value_size");
		goto out;
	}
	c.history = history;
	c.max_bytes = max_bytes;
	c.max_value_size = (int32_t)mvs;
	json_t *before = NULL;
	bool existed = jn_kv_bucket_status(r->srv->opts.js, b, &before) == 0;
	json_decref(before);
	json_t *status = NULL;
	int rc = jn_kv_bucket_create(r->srv->opts.js, &c, &status);
	if (rc == -JN_EINVAL)
		jn__http_error(r, 400, 0, "invalid bucket configuration");
	else if (rc)
		kv_error(r, rc, b, NULL);
	else
		reply_json(r, existed ? 200 : 201, status);
	json_decref(status);
out:
	json_decref(o);
}

static void bucket_route(struct http_req *r, const char *b)
{
	struct jn_js *js = r->srv->opts.js;
	if (r->method & JN_HM_PUT) {
		if (may_api(r, "CREATE", b))
			bucket_create(r, b);
		return;
	}
	if (r->method & JN_HM_DELETE) {
		if (!may_api(r, "DELETE", b))
			return;
		int rc = jn_kv_bucket_delete(js, b);
		if (rc) {
			kv_error(r, rc, b, NULL);
			return;
		}
		static const char ok[] = "{\"deleted\":true}";
		jn__http_reply_copy(r, 200, ok, sizeof ok - 1, "application/json");
		return;
	}
	if (!may_api(r, "INFO", b))
		return;
	json_t *o = NULL;
	int rc = jn_kv_bucket_status(js, b, &o);
	if (rc) {
		kv_error(r, rc, b, NULL);
		return;
	}
	reply_json(r, 200, o);
	json_decref(o);
}

/* ---- keys ----------------------------------------------------------------------- */

static void keys_route(struct http_req *r, const char *b)
{
	char filter[MAX_KEY];
	bool bad = false;
	const char *f = query(r, "filter", filter, sizeof filter, &bad);
	if (bad || (f && !jn_kv_key_valid(f, strlen(f), true))) {
		jn__http_error(r, 400, 0, "invalid filter");
		return;
	}
	if (!may_key(r, false, b, f ? f : ">"))
		return;
	char **keys = NULL;
	size_t n = 0;
	int rc = jn_kv_keys(r->srv->opts.js, b, f, &keys, &n);
	if (rc) {
		kv_error(r, rc, b, "filter");
		return;
	}
	struct jn__hbuf out = { 0 };
	jn__hbuf_puts(&out, "{\"keys\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			jn__hbuf_put(&out, ",", 1);
		jn__hbuf_json_str(&out, keys[i], strlen(keys[i]));
	}
	jn__hbuf_puts(&out, "]}");
	jn_kv_keys_free(keys, n);
	reply_hbuf(r, 200, &out);
}

static void get_key(struct http_req *r, const char *b, const char *key)
{
	struct jn_kv_entry e;
	int rc = jn_kv_get(r->srv->opts.js, b, key, 0, &e);
	if (rc) {
		jn_kv_entry_fini(&e);
		kv_error(r, rc, b, key);
		return;
	}
	char rev[32], etag[40];
	snprintf(rev, sizeof rev, "%" PRIu64, e.revision);
	snprintf(etag, sizeof etag, "\"%" PRIu64 "\"", e.revision);
	if (e.len) {
		jn__http_reply_take(r, 200, (char *)e.value, e.len, "application/octet-stream");
		e.value = NULL;   /* the response owns it now */
	} else {
		jn__http_reply_copy(r, 200, "", 0, "application/octet-stream");
	}
	if (r->resp && r->status == 200) {
		MHD_add_response_header(r->resp, "KV-Revision", rev);
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ETAG, etag);
	}
	jn_kv_entry_fini(&e);
}

static void history_route(struct http_req *r, const char *b, const char *key)
{
	struct jn_kv_entry *e = NULL;
	size_t n = 0;
	int rc = jn_kv_history(r->srv->opts.js, b, key, &e, &n);
	if (rc) {
		kv_error(r, rc, b, key);
		return;
	}
	struct jn__hbuf out = { 0 };
	jn__hbuf_puts(&out, "{\"entries\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			jn__hbuf_put(&out, ",", 1);
		entry_json(&out, &e[i]);
	}
	jn__hbuf_puts(&out, "]}");
	jn_kv_entries_free(e, n);
	reply_hbuf(r, 200, &out);
}

/* ---- writes: suspended until durable -------------------------------------------- */

struct kv_write {
	pthread_mutex_t mu;
	bool done, suspended;
	int err;
	uint64_t rev;
	bool conditional;             /* If-Match / If-None-Match: 412 on conflict */
	bool deleted;
	struct MHD_Connection *conn;
};

static void write_done(void *arg, int err, uint64_t rev)
{
	struct kv_write *w = arg;
	struct MHD_Connection *resume = NULL;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->err = err;
	w->rev = rev;
	if (w->suspended) {
		w->suspended = false;
		resume = w->conn;
	}
	pthread_mutex_unlock(&w->mu);
	/* w may be gone once unlocked and resumed: only the local is used */
	if (resume)
		MHD_resume_connection(resume);
}

static void write_answer(struct http_req *r, struct kv_write *w)
{
	r->resume_fn = NULL;
	if (w->err == -JN_EWRONGLASTSEQ && w->conditional) {
		jn__http_error(r, 412, 10071, "precondition failed: wrong last sequence");
		return;
	}
	if (w->err) {
		jn__http_error_jn(r, w->err, true, NULL);
		return;
	}
	char body[96], etag[40];
	int n = snprintf(body, sizeof body, w->deleted ? "{\"deleted\":true,\"revision\":%" PRIu64 "}"
	                                              : "{\"revision\":%" PRIu64 "}", w->rev);
	snprintf(etag, sizeof etag, "\"%" PRIu64 "\"", w->rev);
	jn__http_reply_copy(r, 200, body, (size_t)n, "application/json");
	if (r->resp && r->status == 200)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ETAG, etag);
}

static void write_resume(struct http_req *r)
{
	struct kv_write *w = r->state;
	pthread_mutex_lock(&w->mu);
	bool done = w->done;
	pthread_mutex_unlock(&w->mu);
	if (done)
		write_answer(r, w);
}

static void write_cleanup(struct http_req *r)
{
	struct kv_write *w = r->state;
	pthread_mutex_destroy(&w->mu);
	jn_free(w);
	r->state = NULL;
}

/* If-None-Match: * -> 0; If-Match: "N" -> N; neither -> JN_KV_ANY.
 * false: malformed (answer set). */
static bool precondition(struct http_req *r, uint64_t *expect)
{
	*expect = JN_KV_ANY;
	const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                              MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *im = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_IF_MATCH);
	if (inm && im) {
		jn__http_error(r, 400, 0, "use either If-Match or If-None-Match");
		return false;
	}
	if (inm) {
		if (strcmp(inm, "*") != 0) {
			jn__http_error(r, 400, 0, "invalid If-None-Match: only * is supported");
			return false;
		}
		*expect = 0;
		return true;
	}
	if (!im)
		return true;
	char v[32];
	size_t n = strlen(im);
	if (n >= 2 && im[0] == '"' && im[n - 1] == '"' && n - 2 < sizeof v) {
		memcpy(v, im + 1, n - 2);
		v[n - 2] = '\0';
	} else if (n < sizeof v) {
		memcpy(v, im, n + 1);
	} else {
		v[0] = '\0';
	}
	uint64_t rev;
	if (!parse_u64(v, &rev) || rev == JN_KV_ANY) {
		jn__http_error(r, 400, 0, "invalid If-Match \"%.40s\": expected a revision such as "
		               "\"12\"", im);
		return false;
	}
	*expect = rev;
	return true;
}

static void write_key(struct http_req *r, const char *b, const char *key, bool del)
{
	uint64_t expect;
	if (!precondition(r, &expect))
		return;
	int purge = 0;
	if (del && (purge = query_bool(r, "purge", false)) < 0)
		return;
	struct kv_write *w = jn_calloc(1, sizeof *w);
	if (!w) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	pthread_mutex_init(&w->mu, NULL);
	w->conn = r->conn;
	w->conditional = expect != JN_KV_ANY;
	w->deleted = del;
	r->state = w;
	r->cleanup = write_cleanup;
	struct jn_js *js = r->srv->opts.js;
	int rc = del ? jn_kv_delete(js, b, key, purge == 1, expect, write_done, w)
	             : jn_kv_put(js, b, key, r->body, r->body_len, expect, write_done, w);
	if (rc < 0) {
		kv_error(r, rc, b, "key");
		return;
	}
	pthread_mutex_lock(&w->mu);
	bool done = w->done;
	if (!done) {
		/* under the lock: a completion after this sees `suspended` */
		w->suspended = true;
		MHD_suspend_connection(r->conn);
	}
	pthread_mutex_unlock(&w->mu);
	if (done)
		write_answer(r, w);
	else
		r->resume_fn = write_resume;
}

/* ---- watch ------------------------------------------------------------------------ */

struct kv_watch {
	pthread_mutex_t mu;
	struct sse_client *c;         /* NULL until the stream is answered */
	struct jn__hbuf early;        /* events before that */
	struct jn_kv_watch *w;
};

static void watch_emit(struct kv_watch *k, struct jn__hbuf *ev)
{
	if (ev->oom)
		return;
	pthread_mutex_lock(&k->mu);
	if (k->c)
		(void)jn__http_sse_push(k->c, ev->p, ev->len);   /* a cut client is stopped soon */
	else
		jn__hbuf_put(&k->early, ev->p, ev->len);
	pthread_mutex_unlock(&k->mu);
}

static void watch_fn(void *arg, const struct jn_kv_entry *e)
{
	struct kv_watch *k = arg;
	struct jn__hbuf ev = { 0 };
	if (!e) {
		jn__hbuf_puts(&ev, "event: ready\ndata: {}\n\n");
	} else {
		jn__hbuf_printf(&ev, "id: %" PRIu64 "\nevent: msg\ndata: ", e->revision);
		entry_json(&ev, e);
		jn__hbuf_puts(&ev, "\n\n");
	}
	watch_emit(k, &ev);
	jn__hbuf_free(&ev);
}

static void watch_stop(void *ctx)
{
	struct kv_watch *k = ctx;
	jn_kv_watch_stop(k->w);
	k->w = NULL;
}

static void watch_free(void *ctx)
{
	struct kv_watch *k = ctx;
	jn__hbuf_free(&k->early);
	pthread_mutex_destroy(&k->mu);
	jn_free(k);
}

static const struct jn__sse_ops watch_ops = { .stop = watch_stop, .free = watch_free };

static void watch_route(struct http_req *r, const char *b)
{
	char pat[MAX_KEY];
	bool bad = false;
	const char *p = query(r, "key", pat, sizeof pat, &bad);
	if (bad || (p && !jn_kv_key_valid(p, strlen(p), true))) {
		jn__http_error(r, 400, 0, "invalid key pattern");
		return;
	}
	int hist = query_bool(r, "include_history", false);
	if (hist < 0)
		return;
	int upd = query_bool(r, "updates_only", false);
	if (upd < 0)
		return;
	uint64_t after = 0;
	const char *lei = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
	if (lei && !parse_u64(lei, &after)) {
		jn__http_error(r, 400, 0, "invalid Last-Event-ID \"%.40s\": expected a revision", lei);
		return;
	}
	if (!may_key(r, false, b, p ? p : ">"))
		return;
	struct kv_watch *k = jn_calloc(1, sizeof *k);
	if (!k) {
		jn__http_error_jn(r, JN_ENOMEM, false, NULL);
		return;
	}
	pthread_mutex_init(&k->mu, NULL);
	unsigned flags = (hist ? JN_KV_WATCH_HISTORY : 0) | (upd ? JN_KV_WATCH_UPDATES_ONLY : 0);
	int rc = jn_kv_watch(r->srv->opts.js, b, p, flags, after, watch_fn, k, &k->w);
	if (rc) {
		watch_free(k);
		kv_error(r, rc, b, "key pattern");
		return;
	}
	struct sse_client *c = jn__http_sse_start(r, &watch_ops, k);
	if (!c) {
		jn_kv_watch_stop(k->w);
		watch_free(k);
		return;
	}
	pthread_mutex_lock(&k->mu);
	k->c = c;
	if (k->early.len)
		(void)jn__http_sse_push(c, k->early.p, k->early.len);
	jn__hbuf_free(&k->early);
	pthread_mutex_unlock(&k->mu);
}

/* ---- the route ---------------------------------------------------------------------- */

void jn__http_kv_route(struct http_req *r)
{
	struct jn_http_server *s = r->srv;
	if (!s->opts.jetstream_enabled || !s->opts.js) {
		jn__http_error_jn(r, JN_EJSNOTENABLED, true, NULL);
		return;
	}
	const char *seg[JN_HTTP_MAX_SEGS];
	size_t len[JN_HTTP_MAX_SEGS];
	int n = jn__path_split(r->url, seg, len);
	if (n == 2) {
		bucket_list(r);
		return;
	}
	char b[256];
	long bl = n >= 3 && len[2] < sizeof b ? jn__pct_decode(seg[2], len[2], b) : -1;
	if (bl < 0 || !jn_kv_bucket_valid(b, (size_t)bl)) {
		jn__http_error(r, 400, 0, "invalid bucket name: expected [A-Za-z0-9_-]+");
		return;
	}
	b[bl] = '\0';
	if (n == 3) {
		bucket_route(r, b);
		return;
	}
	if (n == 4 && len[3] == 5 && memcmp(seg[3], "watch", 5) == 0) {
		watch_route(r, b);
		return;
	}
	if (n == 4) {   /* .../keys */
		keys_route(r, b);
		return;
	}
	/* .../keys/<key...>: everything after the fourth segment's slash */
	const char *raw = seg[4];
	size_t rl = strlen(raw);
	if (rl && raw[rl - 1] == '/')
		rl--;
	char key[MAX_KEY];
	long kl = rl < sizeof key ? jn__pct_decode(raw, rl, key) : -1;
	if (kl < 0) {
		jn__http_error(r, 400, 0, "invalid key");
		return;
	}
	key[kl] = '\0';
	bool history = false;
	if ((r->method & (JN_HM_GET | JN_HM_HEAD)) && kl > 8 &&
	    strcmp(key + kl - 8, "/history") == 0) {
		history = true;
		kl -= 8;
		key[kl] = '\0';
	}
	if (!jn_kv_key_valid(key, (size_t)kl, false)) {
		jn__http_error(r, 400, 0, "invalid key \"%.200s\": expected [-/_=.a-zA-Z0-9]+, "
		               "not starting or ending with '.'", key);
		return;
	}
	bool write = r->method & (JN_HM_PUT | JN_HM_DELETE);
	if (!may_key(r, write, b, key))
		return;
	if (history)
		history_route(r, b, key);
	else if (r->method & JN_HM_PUT)
		write_key(r, b, key, false);
	else if (r->method & JN_HM_DELETE)
		write_key(r, b, key, true);
	else
		get_key(r, b, key);
}
