/*
 * jetstream.c - the JetStream service: stream registry, the "$JS.API.>"
 * dispatcher with the account and stream handlers, recovery at open, the
 * periodic tick, and close.
 *
 * Dispatch. One internal subscription on "$JS.API.>" receives every API
 * request on whichever worker parsed it. The op (subject after "$JS.API.")
 * picks a handler; ops nats-server has no subscription for (unknown names,
 * wrong token counts) get no reply at all, as there. "CONSUMER.*" goes to
 * consumer.c (jn_js_consumer_api); "DIRECT.GET.*" is answered by the
 * stream's own queue subscription (only when allow_direct), so it is ignored
 * here. Responses carry the type and error objects of jetstream-api.md §2-3.
 *
 * Registry. A sorted array of (name, stream reference) under one mutex.
 * Create/update/delete hold the mutex for the whole change, so the
 * subject-overlap check and the insertion are atomic; they are rare, and
 * publishes never take it.
 *
 * Recovery. Every <store_dir>/streams/<name>/meta.json is loaded; a stream
 * whose meta is missing or unreadable is logged and skipped (its files are
 * kept), never a reason to refuse to start. An unwritable store directory
 * is: open fails and says why.
 *
 * Limits. max_memory/max_file are checked on publish against usage summed
 * over all streams at each tick plus what was appended since (approximate
 * by at most one tick of traffic).
 */
#include "core/jetstream.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/base64.h"
#include "core/epoch.h"
#include "core/err.h"
#include "core/js_json.h"
#include "core/log.h"
#include "core/store_io.h"
#include "core/stream.h"
#include "core/subject.h"
#include "core/sublist.h"
#include "core/syncer.h"

#define NAMES_LIMIT 1024
#define LIST_LIMIT 256

bool jn__js_over_limit(struct jn_js *js, enum jn_store_type t, uint64_t add);

struct jn_js {
	struct jn_router *router;
	char *store_dir;
	char *streams_dir;
	struct jn_js_cfg cfg;
	struct jn_syncer *syncer;
	struct jn_sub api_sub;
	bool api_subscribed;
	void *consumer_slot;

	pthread_mutex_t mu;           /* registry */
	struct jn_stream **streams;   /* sorted by name */
	uint32_t nstreams;

	_Atomic uint64_t api_total;
	_Atomic uint64_t api_errors;
	_Atomic uint64_t used_file;   /* as of the last tick */
	_Atomic uint64_t used_mem;
	_Atomic uint64_t added_file;  /* appended since */
	_Atomic uint64_t added_mem;
};

int64_t jn_js_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct jn_router *jn_js_router(struct jn_js *js) { return js->router; }
void **jn_js_consumer_slot(struct jn_js *js) { return &js->consumer_slot; }

/* ---- registry ---------------------------------------------------------- */

/* Index of name, or -(insertion point) - 1. Under js->mu. */
static long reg_find(struct jn_js *js, const char *name, size_t len)
{
	long lo = 0, hi = (long)js->nstreams - 1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		const char *n = jn_stream_name(js->streams[mid]);
		size_t nl = strlen(n);
		int c = memcmp(n, name, nl < len ? nl : len);
		if (c == 0)
			c = nl < len ? -1 : nl > len ? 1 : 0;
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

static int reg_insert(struct jn_js *js, struct jn_stream *st)
{
	const char *n = jn_stream_name(st);
	long i = reg_find(js, n, strlen(n));
	if (i >= 0)
		return -JN_EEXIST;
	i = -i - 1;
	struct jn_stream **a = jn_realloc(js->streams, (js->nstreams + 1) * sizeof *a);
	if (!a)
		return -JN_ENOMEM;
	js->streams = a;
	memmove(&a[i + 1], &a[i], (js->nstreams - (size_t)i) * sizeof *a);
	a[i] = st;
	js->nstreams++;
	return 0;
}

struct jn_stream *jn_js_stream_get(struct jn_js *js, const char *name, size_t len)
{
	pthread_mutex_lock(&js->mu);
	long i = reg_find(js, name, len);
	struct jn_stream *st = i >= 0 ? js->streams[i] : NULL;
	if (st)
		jn_stream_ref(st);
	pthread_mutex_unlock(&js->mu);
	return st;
}

/* References to every stream (for work outside the registry lock). */
static int reg_snapshot(struct jn_js *js, struct jn_stream ***out)
{
	pthread_mutex_lock(&js->mu);
	uint32_t n = js->nstreams;
	struct jn_stream **a = jn_malloc((n ? n : 1) * sizeof *a);
	if (!a) {
		pthread_mutex_unlock(&js->mu);
		return -JN_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		a[i] = js->streams[i];
		jn_stream_ref(a[i]);
	}
	pthread_mutex_unlock(&js->mu);
	*out = a;
	return (int)n;
}

static void snapshot_free(struct jn_stream **a, int n)
{
	for (int i = 0; i < n; i++)
		jn_stream_unref(a[i]);
	jn_free(a);
}

uint64_t jn_js_consumer_count(struct jn_js *js)
{
	struct jn_stream **a;
	int n = reg_snapshot(js, &a);
	uint64_t c = 0;
	for (int i = 0; i < n; i++)
		c += jn_stream_consumer_count(a[i]);
	if (n >= 0)
		snapshot_free(a, n);
	return c;
}

/* ---- limits ------------------------------------------------------------ */

static void refresh_usage(struct jn_js *js, struct jn_stream **a, int n)
{
	uint64_t f = 0, m = 0;
	for (int i = 0; i < n; i++) {
		struct jn_store_state ss;
		if (jn_stream_state(a[i], &ss))
			continue;
		if (jn_stream_storage(a[i]) == JN_STORE_FILE)
			f += ss.bytes;
		else
			m += ss.bytes;
	}
	atomic_store(&js->used_file, f);
	atomic_store(&js->used_mem, m);
	atomic_store(&js->added_file, 0);
	atomic_store(&js->added_mem, 0);
}

bool jn__js_over_limit(struct jn_js *js, enum jn_store_type t, uint64_t add)
{
	int64_t lim = t == JN_STORE_FILE ? js->cfg.max_file : js->cfg.max_memory;
	_Atomic uint64_t *added = t == JN_STORE_FILE ? &js->added_file : &js->added_mem;
	uint64_t used = atomic_load(t == JN_STORE_FILE ? &js->used_file : &js->used_mem);
	if (lim <= 0) {
		return false;
	}
	uint64_t a = atomic_fetch_add(added, add) + add;
	if (used + a > (uint64_t)lim) {
		atomic_fetch_sub(added, add);
		return true;
	}
	return false;
}

/* ---- publishing -------------------------------------------------------- */

/* jn_js_api_call(): the reply subject its request carries, and where the
 * answer to it goes instead of the router. Thread-local because the
 * handlers answer inline on the calling thread; every API answer goes
 * through jn_js_respond(), so that is the one place that looks. */
struct api_call {
	char reply[48];
	size_t reply_len;
	json_t *resp;
};
static _Thread_local struct api_call *tl_call;

int jn_js_publish(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *msg)
{
	struct jn_pub p = { .origin_id = 0, .batch = pub ? pub->batch : NULL };
	if (pub)
		return jn_router_publish(js->router, NULL, msg, &p);
	return jn_router_publish_any_thread(js->router, msg, &p);
}

int jn_js_respond(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                  json_t *resp)
{
	atomic_fetch_add_explicit(&js->api_total, 1, memory_order_relaxed);
	if (json_object_get(resp, "error"))
		atomic_fetch_add_explicit(&js->api_errors, 1, memory_order_relaxed);
	if (!req->reply_len)
		return 0;
	struct api_call *c = tl_call;
	if (c && req->reply_len == c->reply_len &&
	    memcmp(req->reply, c->reply, c->reply_len) == 0) {
		json_decref(c->resp);
		c->resp = json_deep_copy(resp);   /* resp is borrowed */
		return c->resp ? 1 : -JN_ENOMEM;
	}
	size_t len;
	char *s = jn_js_dumps(resp, &len);
	if (!s)
		return -JN_ENOMEM;
	struct jn_msg m = { .subject = req->reply, .subject_len = req->reply_len,
	                    .data = (const uint8_t *)s, .data_len = (uint32_t)len };
	int rc = jn_js_publish(js, pub, &m);
	free(s);
	return rc;
}

int jn_js_respond_error(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                        const char *type_suffix, int err, const char *desc)
{
	json_t *r = jn_js_error_new(type_suffix, err, desc);
	if (!r)
		return -JN_ENOMEM;
	int rc = jn_js_respond(js, pub, req, r);
	json_decref(r);
	return rc;
}

/* Respond with resp and drop it. */
static void send_resp(struct jn_js *js, struct jn_pub *pub, const struct jn_msg *req,
                      json_t *resp)
{
	if (resp) {
		jn_js_respond(js, pub, req, resp);
		json_decref(resp);
	}
}

/* Merge src's members into dst (src dropped). */
static void merge(json_t *dst, json_t *src)
{
	if (src) {
		json_object_update(dst, src);
		json_decref(src);
	}
}

/* ---- handlers ---------------------------------------------------------- */

static void h_info(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub)
{
	struct jn_stream **a;
	int n = reg_snapshot(js, &a);
	if (n < 0)
		return;
	uint64_t mem = 0, file = 0, cons = 0;
	for (int i = 0; i < n; i++) {
		struct jn_store_state ss;
		if (jn_stream_state(a[i], &ss) == 0) {
			if (jn_stream_storage(a[i]) == JN_STORE_FILE)
				file += ss.bytes;
			else
				mem += ss.bytes;
		}
		cons += jn_stream_consumer_count(a[i]);
	}
	snapshot_free(a, n);
	json_t *r = jn_js_response_new("account_info_response");
	json_object_set_new(r, "memory", jn_js_u64(mem));
	json_object_set_new(r, "storage", jn_js_u64(file));
	json_object_set_new(r, "streams", json_integer(n));
	json_object_set_new(r, "consumers", jn_js_u64(cons));
	json_t *l = json_object();
	json_object_set_new(l, "max_memory", json_integer(js->cfg.max_memory > 0 ? js->cfg.max_memory : -1));
	json_object_set_new(l, "max_storage", json_integer(js->cfg.max_file > 0 ? js->cfg.max_file : -1));
	json_object_set_new(l, "max_streams", json_integer(-1));
	json_object_set_new(l, "max_consumers", json_integer(-1));
	json_object_set_new(l, "max_ack_pending", json_integer(-1));
	json_object_set_new(l, "memory_max_stream_bytes", json_integer(-1));
	json_object_set_new(l, "storage_max_stream_bytes", json_integer(-1));
	json_object_set_new(l, "max_bytes_required", json_false());
	json_object_set_new(r, "limits", l);
	/* Calls answered before this one (nats-server's first INFO says 0). */
	json_t *api = json_object();
	json_object_set_new(api, "total", jn_js_u64(atomic_load(&js->api_total)));
	json_object_set_new(api, "errors", jn_js_u64(atomic_load(&js->api_errors)));
	json_object_set_new(r, "api", api);
	send_resp(js, pub, req, r);
}

/* Parse a request body that must hold a StreamConfig; checks the name in the
 * subject. On failure the error response is sent and -1 returned. */
static int parse_cfg_req(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                         const char *type, const char *name, size_t nlen,
                         struct jn_stream_cfg *cfg)
{
	json_t *o = NULL;
	int rc = jn_js_parse_request(req, &o);
	if (rc || !o) {
		jn_js_respond_error(js, pub, req, type, -JN_EBADJSON, NULL);
		return -1;
	}
	json_t *jn = json_object_get(o, "name");
	if (jn && !json_is_string(jn) && !json_is_null(jn)) {
		json_decref(o);
		jn_js_respond_error(js, pub, req, type, -JN_EBADJSON, NULL);
		return -1;
	}
	if (!jn || !json_is_string(jn) || json_string_length(jn) != nlen ||
	    memcmp(json_string_value(jn), name, nlen) != 0) {
		json_decref(o);
		jn_js_respond_error(js, pub, req, type, -JN_ESTREAMMISMATCH, NULL);
		return -1;
	}
	char err[256];
	rc = jn_stream_cfg_parse(o, cfg, err, sizeof err);
	json_decref(o);
	if (rc) {
		jn_js_respond_error(js, pub, req, type, rc, err[0] ? err : NULL);
		return -1;
	}
	return 0;
}

/* Another stream (not `self`) whose subjects overlap cfg's? Under js->mu. */
static bool overlaps_locked(struct jn_js *js, const struct jn_stream_cfg *cfg,
                            struct jn_stream *self)
{
	for (uint32_t i = 0; i < js->nstreams; i++) {
		struct jn_stream *o = js->streams[i];
		if (o == self)
			continue;
		struct jn_stream_cfg oc;
		if (jn_stream_config(o, &oc))
			return true;   /* be safe: refuse */
		bool ov = jn_stream_cfg_overlap(cfg, &oc);
		jn_stream_cfg_fini(&oc);
		if (ov)
			return true;
	}
	return false;
}

static void stream_dir(struct jn_js *js, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", js->streams_dir, name);
}

static struct jn_store_cfg store_cfg(struct jn_js *js)
{
	struct jn_store_cfg sc = { .sync = js->cfg.sync,
	                           .sync_interval_ms = js->cfg.sync_interval_ms,
	                           .syncer = js->syncer };
	return sc;
}

static void h_stream_create(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                            const char *name, size_t nlen)
{
	const char *type = "stream_create_response";
	struct jn_stream_cfg cfg;
	if (parse_cfg_req(js, req, pub, type, name, nlen, &cfg))
		return;
	if (cfg.sealed) {
		jn_stream_cfg_fini(&cfg);
		jn_js_respond_error(js, pub, req, type, -JN_ESTREAMCONFIG,
		                    "stream configuration for create can not be sealed");
		return;
	}
	int err = 0;
	const char *desc = NULL;
	struct jn_stream *st = NULL;
	pthread_mutex_lock(&js->mu);
	long i = reg_find(js, name, nlen);
	if (i >= 0) {
		struct jn_stream_cfg cur;
		err = jn_stream_config(js->streams[i], &cur);
		if (!err) {
			if (jn_stream_cfg_equal(&cur, &cfg)) {
				st = js->streams[i];
				jn_stream_ref(st);
			} else {
				err = -JN_ESTREAMEXISTS;
			}
			jn_stream_cfg_fini(&cur);
		}
		goto out;
	}
	if (overlaps_locked(js, &cfg, NULL)) {
		err = -JN_ESUBJOVERLAP;
		goto out;
	}
	if (cfg.storage == JN_STORE_MEMORY ? js->cfg.max_memory > 0 &&
	                                     cfg.max_bytes > js->cfg.max_memory
	                                   : js->cfg.max_file > 0 &&
	                                     cfg.max_bytes > js->cfg.max_file) {
		err = -JN_ERESOURCES;
		goto out;
	}
	char dir[4096];
	stream_dir(js, cfg.name, dir, sizeof dir);
	if (cfg.storage == JN_STORE_FILE) {
		struct stat sb;
		if (stat(dir, &sb) == 0) {
			/* Left over by a crash between mkdir and meta.json (recovery
			 * would have loaded it otherwise). */
			jn_warn("jetstream: removing stale stream directory %s", dir);
			(void)jn_rmtree(dir);
		}
	}
	struct jn_store_cfg sc = store_cfg(js);
	err = jn_stream_open(js, &cfg, cfg.storage == JN_STORE_FILE ? dir : NULL,
	                     jn_js_now_ns(), &sc, &st);
	if (err) {
		desc = jn_strerror(err);
		err = -JN_ESTREAMGENERAL;
		goto out;
	}
	if ((err = jn_stream_write_meta(st)) || (err = jn_stream_start(st, js->router)) ||
	    (err = reg_insert(js, st))) {
		desc = jn_strerror(err);
		err = -JN_ESTREAMGENERAL;
		jn_stream_close(st, true);
		jn_stream_unref(st);
		st = NULL;
		goto out;
	}
	jn_stream_ref(st);   /* the registry's and ours */
	jn_info("jetstream: stream %s created", cfg.name);
out:
	pthread_mutex_unlock(&js->mu);
	jn_stream_cfg_fini(&cfg);
	if (err) {
		jn_js_respond_error(js, pub, req, type, err, desc);
		return;
	}
	json_t *r = jn_js_response_new(type);
	merge(r, jn_stream_info_json(st, NULL));
	/* nats-server 2.9 says did_create for an identical existing stream too */
	json_object_set_new(r, "did_create", json_true());
	jn_stream_unref(st);
	send_resp(js, pub, req, r);
}

static void h_stream_update(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                            const char *name, size_t nlen)
{
	const char *type = "stream_update_response";
	struct jn_stream_cfg cfg;
	if (parse_cfg_req(js, req, pub, type, name, nlen, &cfg))
		return;
	int err = 0;
	char desc[256];
	desc[0] = 0;
	struct jn_stream *st = NULL;
	pthread_mutex_lock(&js->mu);
	long i = reg_find(js, name, nlen);
	if (i < 0) {
		err = -JN_ESTREAMNOTFOUND;
		goto out;
	}
	st = js->streams[i];
	struct jn_stream_cfg cur;
	if ((err = jn_stream_config(st, &cur)))
		goto out;
	err = jn_stream_cfg_check_update(&cur, &cfg, desc, sizeof desc);
	jn_stream_cfg_fini(&cur);
	if (err)
		goto out;
	if (cfg.sealed) {   /* sealing implies both denials (observed) */
		cfg.deny_delete = true;
		cfg.deny_purge = true;
		cfg.allow_rollup_hdrs = false;
	}
	if (overlaps_locked(js, &cfg, st)) {
		err = -JN_ESUBJOVERLAP;
		goto out;
	}
	if ((err = jn_stream_update(st, &cfg))) {
		snprintf(desc, sizeof desc, "%s", jn_strerror(err));
		err = -JN_ESTREAMGENERAL;
		goto out;
	}
	jn_stream_ref(st);
out:
	pthread_mutex_unlock(&js->mu);
	jn_stream_cfg_fini(&cfg);
	if (err) {
		jn_js_respond_error(js, pub, req, type, err, desc[0] ? desc : NULL);
		return;
	}
	json_t *r = jn_js_response_new(type);
	merge(r, jn_stream_info_json(st, NULL));
	jn_stream_unref(st);
	send_resp(js, pub, req, r);
}

/* Look up the stream of a request or answer 10059. */
static struct jn_stream *need_stream(struct jn_js *js, const struct jn_msg *req,
                                     struct jn_pub *pub, const char *type,
                                     const char *name, size_t nlen)
{
	struct jn_stream *st = jn_js_stream_get(js, name, nlen);
	if (!st)
		jn_js_respond_error(js, pub, req, type, -JN_ESTREAMNOTFOUND, NULL);
	return st;
}

/* Parse an optional JSON body; answers 10025 and returns -1 when invalid. */
static int opt_body(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                    const char *type, json_t **o)
{
	if (jn_js_parse_request(req, o)) {
		jn_js_respond_error(js, pub, req, type, -JN_EBADJSON, NULL);
		return -1;
	}
	return 0;
}

static void h_stream_info(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                          const char *name, size_t nlen)
{
	const char *type = "stream_info_response";
	json_t *o;
	if (opt_body(js, req, pub, type, &o))
		return;
	struct jn_stream *st = jn_js_stream_get(js, name, nlen);
	if (!st) {   /* 2.9 pages even its errors */
		json_t *r = jn_js_error_new(type, -JN_ESTREAMNOTFOUND, NULL);
		json_object_set_new(r, "total", json_integer(0));
		json_object_set_new(r, "offset", json_integer(0));
		json_object_set_new(r, "limit", json_integer(0));
		send_resp(js, pub, req, r);
		json_decref(o);
		return;
	}
	json_t *r = jn_js_response_new(type);
	json_t *info = jn_stream_info_json(st, o);
	json_t *subs = info ? json_object_get(json_object_get(info, "state"), "subjects") : NULL;
	json_object_set_new(r, "total", json_integer(subs ? (json_int_t)json_object_size(subs) : 0));
	json_object_set_new(r, "offset", json_integer(0));
	json_object_set_new(r, "limit", json_integer(subs ? 100000 : 0));
	merge(r, info);
	jn_stream_unref(st);
	json_decref(o);
	send_resp(js, pub, req, r);
}

static void h_stream_delete(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                            const char *name, size_t nlen)
{
	const char *type = "stream_delete_response";
	pthread_mutex_lock(&js->mu);
	long i = reg_find(js, name, nlen);
	struct jn_stream *st = NULL;
	if (i >= 0) {
		st = js->streams[i];
		memmove(&js->streams[i], &js->streams[i + 1],
		        (js->nstreams - (size_t)i - 1) * sizeof *js->streams);
		js->nstreams--;
	}
	pthread_mutex_unlock(&js->mu);
	if (!st) {
		jn_js_respond_error(js, pub, req, type, -JN_ESTREAMNOTFOUND, NULL);
		return;
	}
	jn_stream_close(st, true);
	jn_info("jetstream: stream %s deleted", jn_stream_name(st));
	jn_stream_unref(st);
	json_t *r = jn_js_response_new(type);
	json_object_set_new(r, "success", json_true());
	send_resp(js, pub, req, r);
}

static void h_stream_purge(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                           const char *name, size_t nlen)
{
	const char *type = "stream_purge_response";
	json_t *o;
	if (jn_js_parse_request(req, &o)) {
		json_t *r = jn_js_error_new(type, -JN_EBADJSON, NULL);
		json_object_set_new(r, "purged", json_integer(0));
		send_resp(js, pub, req, r);
		return;
	}
	struct jn_stream *st = need_stream(js, req, pub, type, name, nlen);
	if (!st) {
		json_decref(o);
		return;
	}
	const char *filter = NULL;
	size_t fl = 0;
	uint64_t seq = 0, keep = 0;
	int64_t n;
	if (jn_js_get_str(o, "filter", &filter, &fl) || jn_js_get_u64(o, "seq", &seq) ||
	    jn_js_get_u64(o, "keep", &keep))
		n = -JN_EBADJSON;
	else
		n = jn_stream_purge(st, filter, seq, keep);
	json_t *r;
	if (n < 0) {
		r = jn_js_error_new(type, (int)n, NULL);
		json_object_set_new(r, "purged", json_integer(0));
	} else {
		r = jn_js_response_new(type);
		json_object_set_new(r, "success", json_true());
		json_object_set_new(r, "purged", json_integer(n));
	}
	json_decref(o);
	jn_stream_unref(st);
	send_resp(js, pub, req, r);
}

/* Streams for NAMES/LIST: every stream, or those with a subject that
 * overlaps the request's "subject" filter. */
static int list_select(struct jn_js *js, json_t *o, struct jn_stream ***out, int *n,
                       uint64_t *offset)
{
	const char *subj = NULL;
	size_t sl = 0;
	*offset = 0;
	if (jn_js_get_str(o, "subject", &subj, &sl) || jn_js_get_u64(o, "offset", offset))
		return -JN_EBADJSON;
	int total = reg_snapshot(js, out);
	if (total < 0)
		return total;
	*n = total;
	if (subj && sl) {
		if (!jn_subject_valid_filter(subj, sl)) {
			snapshot_free(*out, total);
			return -JN_EBADREQUEST;
		}
		int k = 0;
		for (int i = 0; i < total; i++) {
			struct jn_stream_cfg c;
			bool keep = false;
			if (jn_stream_config((*out)[i], &c) == 0) {
				for (uint32_t j = 0; j < c.nsubjects && !keep; j++)
					keep = jn_subject_overlap(subj, sl, c.subjects[j],
					                          strlen(c.subjects[j]));
				jn_stream_cfg_fini(&c);
			}
			if (keep)
				(*out)[k++] = (*out)[i];
			else
				jn_stream_unref((*out)[i]);
		}
		*n = k;
	}
	return 0;
}

static void h_stream_list(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                          bool names)
{
	const char *type = names ? "stream_names_response" : "stream_list_response";
	json_t *o;
	if (opt_body(js, req, pub, type, &o))
		return;
	struct jn_stream **a;
	int n;
	uint64_t offset;
	int rc = list_select(js, o, &a, &n, &offset);
	json_decref(o);
	if (rc) {
		jn_js_respond_error(js, pub, req, type, rc, NULL);
		return;
	}
	int limit = names ? NAMES_LIMIT : LIST_LIMIT;
	json_t *r = jn_js_response_new(type);
	json_object_set_new(r, "total", json_integer(n));
	json_object_set_new(r, "offset", jn_js_u64(offset));
	json_object_set_new(r, "limit", json_integer(limit));
	json_t *arr = json_array();
	for (uint64_t i = offset; i < (uint64_t)n && json_array_size(arr) < (size_t)limit; i++) {
		if (names)
			json_array_append_new(arr, json_string(jn_stream_name(a[i])));
		else
			json_array_append_new(arr, jn_stream_info_json(a[i], NULL));
	}
	if (json_array_size(arr) == 0 && names) {
		json_decref(arr);
		arr = json_null();
	}
	json_object_set_new(r, "streams", arr);
	snapshot_free(a, n);
	send_resp(js, pub, req, r);
}

static char *b64(const uint8_t *p, size_t n)
{
	char *o = jn_malloc(jn_base64_len(n) + 1);
	if (o) {
		jn_base64_encode(p, n, o);
		o[jn_base64_len(n)] = 0;
	}
	return o;
}

static void h_msg_get(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                      const char *name, size_t nlen)
{
	const char *type = "stream_msg_get_response";
	json_t *o;
	if (opt_body(js, req, pub, type, &o))
		return;
	struct jn_stream *st = need_stream(js, req, pub, type, name, nlen);
	if (!st) {
		json_decref(o);
		return;
	}
	struct jn_store_msg m = { 0 };
	int rc = o ? jn_stream_msg_get(st, o, &m) : -JN_EBADREQUEST;
	json_decref(o);
	jn_stream_unref(st);
	if (rc) {
		jn_js_respond_error(js, pub, req, type, rc == -JN_ECLOSED ? -JN_ESTREAMNOTFOUND : rc,
		                    NULL);
		jn_store_msg_fini(&m);
		return;
	}
	json_t *r = jn_js_response_new(type);
	json_t *msg = json_object();
	json_object_set_new(msg, "subject", json_stringn(m.subject, m.subject_len));
	json_object_set_new(msg, "seq", jn_js_u64(m.seq));
	if (m.hdr_len) {
		char *h = b64(m.hdr, m.hdr_len);
		json_object_set_new(msg, "hdrs", json_string(h ? h : ""));
		jn_free(h);
	}
	if (m.data_len) {
		char *d = b64(m.data, m.data_len);
		json_object_set_new(msg, "data", json_string(d ? d : ""));
		jn_free(d);
	}
	json_object_set_new(msg, "time", jn_js_time_json(m.ts));
	json_object_set_new(r, "message", msg);
	jn_store_msg_fini(&m);
	send_resp(js, pub, req, r);
}

static void h_msg_delete(struct jn_js *js, const struct jn_msg *req, struct jn_pub *pub,
                         const char *name, size_t nlen)
{
	const char *type = "stream_msg_delete_response";
	json_t *o;
	if (opt_body(js, req, pub, type, &o))
		return;
	struct jn_stream *st = need_stream(js, req, pub, type, name, nlen);
	if (!st) {
		json_decref(o);
		return;
	}
	uint64_t seq = 0;
	int rc;
	struct jn_store_state ss = { 0 };
	if (!o || jn_js_get_u64(o, "seq", &seq))
		rc = -JN_EBADREQUEST;
	else
		rc = jn_stream_msg_delete(st, seq);
	if (rc == -JN_ENOMSG)
		(void)jn_stream_state(st, &ss);
	json_decref(o);
	jn_stream_unref(st);
	if (rc == -JN_ENOMSG) {   /* nats-server's three ways of saying it */
		char d[64];
		if (seq > ss.last_seq) {
			jn_js_respond_error(js, pub, req, type, -JN_EDELETEDENIED, "stream store EOF");
		} else if (seq >= ss.first_seq && seq > 0) {
			snprintf(d, sizeof d, "sequence %llu not found", (unsigned long long)seq);
			jn_js_respond_error(js, pub, req, type, -JN_ESEQNOTFOUND, d);
		} else {
			jn_js_respond_error(js, pub, req, type, -JN_EDELETEDENIED, "no message found");
		}
		return;
	}
	if (rc) {
		jn_js_respond_error(js, pub, req, type, rc, NULL);
		return;
	}
	json_t *r = jn_js_response_new(type);
	json_object_set_new(r, "success", json_true());
	send_resp(js, pub, req, r);
}

/* ---- dispatcher -------------------------------------------------------- */

static bool op_is(const char *op, size_t len, const char *word, const char **rest,
                  size_t *rest_len)
{
	size_t wl = strlen(word);
	if (len < wl || memcmp(op, word, wl) != 0)
		return false;
	*rest = op + wl;
	*rest_len = len - wl;
	return true;
}

/* The <stream> token: exactly one more token. */
static bool one_token(const char *s, size_t n)
{
	return n > 0 && !memchr(s, '.', n);
}

static void api_deliver(struct jn_sub *sub, const struct jn_msg *req, struct jn_pub *pub)
{
	struct jn_js *js = sub->owner;
	size_t plen = sizeof JN_JS_API_PREFIX - 1;
	if (req->subject_len <= plen)
		return;
	const char *op = req->subject + plen;
	size_t len = req->subject_len - plen;
	const char *r;
	size_t rl;
	if (op_is(op, len, "CONSUMER.", &r, &rl)) {
		bool next = op_is(op, len, "CONSUMER.MSG.NEXT.", &r, &rl);
		if (next || req->reply_len)
			jn_js_consumer_api(js, op, len, req, pub);
		return;
	}
	if (!req->reply_len)
		return;
	if (len == 4 && memcmp(op, "INFO", 4) == 0) {
		h_info(js, req, pub);
	} else if (op_is(op, len, "STREAM.CREATE.", &r, &rl)) {
		if (one_token(r, rl))
			h_stream_create(js, req, pub, r, rl);
	} else if (op_is(op, len, "STREAM.UPDATE.", &r, &rl)) {
		if (one_token(r, rl))
			h_stream_update(js, req, pub, r, rl);
	} else if (op_is(op, len, "STREAM.INFO.", &r, &rl)) {
		if (one_token(r, rl))
			h_stream_info(js, req, pub, r, rl);
	} else if (op_is(op, len, "STREAM.DELETE.", &r, &rl)) {
		if (one_token(r, rl))
			h_stream_delete(js, req, pub, r, rl);
	} else if (op_is(op, len, "STREAM.PURGE.", &r, &rl)) {
		if (one_token(r, rl))
			h_stream_purge(js, req, pub, r, rl);
	} else if (len == 12 && memcmp(op, "STREAM.NAMES", 12) == 0) {
		h_stream_list(js, req, pub, true);
	} else if (len == 11 && memcmp(op, "STREAM.LIST", 11) == 0) {
		h_stream_list(js, req, pub, false);
	} else if (op_is(op, len, "STREAM.MSG.GET.", &r, &rl)) {
		if (one_token(r, rl))
			h_msg_get(js, req, pub, r, rl);
	} else if (op_is(op, len, "STREAM.MSG.DELETE.", &r, &rl)) {
		if (one_token(r, rl))
			h_msg_delete(js, req, pub, r, rl);
	}
	/* Anything else (DIRECT.GET: the stream's own subscription; templates,
	 * snapshots, leader stepdown, ...): no reply, as nats-server. */
}

int jn_js_api_call(struct jn_js *js, const char *op, const char *body, size_t len,
                   json_t **resp)
{
	*resp = NULL;
	char subj[1024];
	int n = snprintf(subj, sizeof subj, JN_JS_API_PREFIX "%s", op);
	if (n < 0 || (size_t)n >= sizeof subj)
		return -JN_EINVAL;
	static _Atomic uint64_t next_id;
	struct api_call call = { .resp = NULL };
	/* The answer never reaches the router (jn_js_respond keeps it), so
	 * this subject is only a key; the id keeps nested calls apart. */
	call.reply_len = (size_t)snprintf(call.reply, sizeof call.reply, "_JN_API.%llu",
	                                  (unsigned long long)atomic_fetch_add(&next_id, 1));
	struct jn_msg req = { .subject = subj, .subject_len = (uint32_t)n,
	                      .reply = call.reply, .reply_len = (uint32_t)call.reply_len,
	                      .data = (const uint8_t *)(body ? body : ""),
	                      .data_len = (uint32_t)(body ? len : 0) };
	struct api_call *saved = tl_call;
	tl_call = &call;
	jn_router_thread_enter();
	api_deliver(&js->api_sub, &req, NULL);
	jn_router_thread_exit();
	tl_call = saved;
	if (!call.resp)
		return -JN_ETIMEOUT;
	*resp = call.resp;
	return 0;
}

/* ---- open / recover / close / tick ------------------------------------ */

static int probe_writable(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/.jn-write-probe", dir);
	int rc = jn_file_write_atomic(p, "ok\n", 3);
	if (rc == 0)
		unlink(p);
	return rc;
}

static int recover_stream(struct jn_js *js, const char *name)
{
	char dir[4096], path[4200];
	stream_dir(js, name, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/meta.json", dir);
	char *text = NULL;
	size_t len = 0;
	int rc = jn_file_read_all(path, &text, &len);
	if (rc) {
		jn_warn("jetstream: skipping %s: cannot read meta.json: %s", dir, jn_strerror(rc));
		return 0;
	}
	json_error_t je;
	json_t *o = json_loadb(text, len, 0, &je);
	jn_free(text);
	struct jn_stream_cfg cfg;
	char err[256] = "";
	int64_t created = 0;
	json_t *jc = o ? json_object_get(o, "created") : NULL;
	if (jc && json_is_string(jc))
		(void)jn_js_time_parse(json_string_value(jc), json_string_length(jc), &created);
	rc = o ? jn_stream_cfg_parse(json_object_get(o, "config"), &cfg, err, sizeof err)
	       : -JN_EBADJSON;
	json_decref(o);
	if (rc) {
		jn_warn("jetstream: skipping %s: bad meta.json: %s", dir, err[0] ? err : jn_strerror(rc));
		return 0;
	}
	if (strcmp(cfg.name, name) != 0 || cfg.storage != JN_STORE_FILE) {
		jn_warn("jetstream: skipping %s: meta.json names stream %s", dir, cfg.name);
		jn_stream_cfg_fini(&cfg);
		return 0;
	}
	struct jn_store_cfg sc = store_cfg(js);
	struct jn_stream *st;
	rc = jn_stream_open(js, &cfg, dir, created, &sc, &st);
	jn_stream_cfg_fini(&cfg);
	if (rc) {
		jn_error("jetstream: cannot open stream %s: %s", name, jn_strerror(rc));
		return rc;
	}
	if ((rc = jn_consumers_recover(st)) || (rc = reg_insert(js, st))) {
		jn_error("jetstream: cannot recover stream %s: %s", name, jn_strerror(rc));
		jn_stream_close(st, false);
		jn_stream_unref(st);
		return rc;
	}
	struct jn_store_state ss;
	(void)jn_stream_state(st, &ss);
	jn_info("jetstream: recovered stream %s: %llu messages, last seq %llu, %u consumers",
	        name, (unsigned long long)ss.msgs, (unsigned long long)ss.last_seq,
	        jn_stream_consumer_count(st));
	return 0;
}

static int recover_all(struct jn_js *js)
{
	DIR *d = opendir(js->streams_dir);
	if (!d)
		return jn_errno_to_err(errno);
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[4096];
		struct stat sb;
		stream_dir(js, e->d_name, p, sizeof p);
		if (stat(p, &sb) || !S_ISDIR(sb.st_mode))
			continue;
		rc = recover_stream(js, e->d_name);
	}
	closedir(d);
	return rc;
}

static void close_all(struct jn_js *js)
{
	pthread_mutex_lock(&js->mu);
	struct jn_stream **a = js->streams;
	uint32_t n = js->nstreams;
	js->streams = NULL;
	js->nstreams = 0;
	pthread_mutex_unlock(&js->mu);
	for (uint32_t i = 0; i < n; i++) {
		jn_stream_close(a[i], false);
		jn_stream_unref(a[i]);
	}
	jn_free(a);
}

int jn_js_open(struct jn_router *r, const struct jn_js_cfg *cfg, struct jn_js **out)
{
	if (!cfg->store_dir || !cfg->store_dir[0])
		return -JN_EINVAL;
	struct jn_js *js = jn_calloc(1, sizeof *js);
	if (!js)
		return -JN_ENOMEM;
	pthread_mutex_init(&js->mu, NULL);
	js->router = r;
	js->cfg = *cfg;
	js->store_dir = jn_strdup(cfg->store_dir);
	size_t sl = strlen(cfg->store_dir) + sizeof "/streams";
	js->streams_dir = jn_malloc(sl);
	int rc = -JN_ENOMEM;
	if (!js->store_dir || !js->streams_dir)
		goto fail;
	js->cfg.store_dir = js->store_dir;
	snprintf(js->streams_dir, sl, "%s/streams", cfg->store_dir);
	if ((rc = jn_mkdirs(js->streams_dir)) || (rc = probe_writable(js->streams_dir))) {
		if (rc == -JN_ENOSPC) {
			/* A full disk is no reason to refuse: what is stored can be
			 * read, consumed and purged; publishes get error acks. */
			jn_warn("jetstream: store directory %s is full", js->streams_dir);
		} else {
			jn_error("jetstream: store directory %s is not writable: %s",
			         js->streams_dir, jn_strerror(rc));
			goto fail;
		}
	}
	js->syncer = jn_syncer_new(cfg->sync_threads ? cfg->sync_threads : 1);
	if (!js->syncer) {
		rc = -JN_ENOMEM;
		goto fail;
	}
	if ((rc = recover_all(js)))
		goto fail_streams;
	if ((rc = jn_js_consumers_start(js))) {
		jn_error("jetstream: cannot start consumers: %s", jn_strerror(rc));
		goto fail_streams;
	}
	for (uint32_t i = 0; i < js->nstreams; i++) {
		if ((rc = jn_stream_start(js->streams[i], r))) {
			jn_error("jetstream: cannot subscribe stream %s: %s",
			         jn_stream_name(js->streams[i]), jn_strerror(rc));
			goto fail_cons;
		}
	}
	js->api_sub.subject = JN_JS_API_PREFIX ">";
	js->api_sub.subject_len = sizeof JN_JS_API_PREFIX;
	js->api_sub.deliver = api_deliver;
	js->api_sub.owner = js;
	if ((rc = jn_sublist_insert(r->subs, &js->api_sub)))
		goto fail_cons;
	js->api_subscribed = true;
	struct jn_stream **a;
	int n = reg_snapshot(js, &a);
	if (n >= 0) {
		refresh_usage(js, a, n);
		snapshot_free(a, n);
	}
	jn_info("jetstream: enabled, store %s, sync %s, %u streams", js->store_dir,
	        cfg->sync == JN_SYNC_ALWAYS ? "always" : "interval", js->nstreams);
	*out = js;
	return 0;
fail_cons:
	jn_js_consumers_stop(js);
fail_streams:
	close_all(js);
	jn_syncer_free(js->syncer);
fail:
	jn_free(js->store_dir);
	jn_free(js->streams_dir);
	pthread_mutex_destroy(&js->mu);
	jn_free(js);
	return rc;
}

void jn_js_close(struct jn_js *js)
{
	if (!js)
		return;
	if (js->api_subscribed)
		jn_sublist_remove(js->router->subs, &js->api_sub);
	jn_js_consumers_stop(js);
	close_all(js);
	/* Stream subscriptions are retired through the epoch; they only hold
	 * stream references, never js. */
	jn_syncer_free(js->syncer);
	jn_free(js->store_dir);
	jn_free(js->streams_dir);
	pthread_mutex_destroy(&js->mu);
	jn_free(js);
}

void jn_js_tick(struct jn_js *js, int64_t now_ns)
{
	struct jn_stream **a;
	int n = reg_snapshot(js, &a);
	if (n < 0)
		return;
	jn_router_thread_enter();
	for (int i = 0; i < n; i++) {
		jn_stream_tick(a[i], now_ns);
		struct jn_consumer **cs;
		int nc = jn_stream_consumer_list(a[i], &cs);
		if (nc < 0)
			continue;
		for (int j = 0; j < nc; j++)
			jn_consumer_tick(cs[j], now_ns);
		jn_free(cs);
	}
	refresh_usage(js, a, n);
	jn_router_thread_exit();
	snapshot_free(a, n);
	jn_epoch_poll();
}
