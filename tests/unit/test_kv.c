/*
 * test_kv.c - the Key/Value C API (core/kv.h) on a JetStream service inside
 * one process (no network): every function, the create/update/delete rules
 * the NATS clients rely on, watchers (initial values, the caught-up marker,
 * live changes, resume, stop) and writes from several threads at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/epoch.h"
#include "core/err.h"
#include "core/jetstream.h"
#include "core/kv.h"
#include "core/router.h"
#include "core/store_io.h"
#include "core/stream.h"

static struct jn_router router;
static struct jn_js *js;
static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/jn-test-kv-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(jn_router_init(&router), 0);
	struct jn_js_cfg c = { .store_dir = dir };
	assert_int_equal(jn_js_open(&router, &c, &js), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	jn_js_close(js);
	jn_epoch_drain();
	jn_router_fini(&router);
	jn_epoch_drain();
	jn_rmtree(dir);
	return 0;
}

/* ---- synchronous writes ------------------------------------------------- */

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
	int err;
	uint64_t rev;
};

static void on_done(void *arg, int err, uint64_t rev)
{
	struct done *d = arg;
	pthread_mutex_lock(&d->mu);
	d->calls++;
	d->err = err;
	d->rev = rev;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void wait_done(struct done *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&d->mu);
	while (d->calls == 0)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) != 0)
			break;
	assert_int_equal(d->calls, 1);
	pthread_mutex_unlock(&d->mu);
}

/* Put and wait: returns the revision, or the error (negative). */
static int64_t put_x(const char *b, const char *k, const char *v, uint64_t expect)
{
	struct done d = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	int rc = jn_kv_put(js, b, k, v, strlen(v), expect, on_done, &d);
	if (rc < 0)
		return rc;
	wait_done(&d);
	return d.err ? d.err : (int64_t)d.rev;
}

static int64_t put(const char *b, const char *k, const char *v)
{
	return put_x(b, k, v, JN_KV_ANY);
}

static int64_t del_x(const char *b, const char *k, bool purge, uint64_t expect)
{
	struct done d = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	int rc = jn_kv_delete(js, b, k, purge, expect, on_done, &d);
	if (rc < 0)
		return rc;
	wait_done(&d);
	return d.err ? d.err : (int64_t)d.rev;
}

static void bucket(const char *name, int64_t history)
{
	struct jn_kv_cfg c = { .bucket = name, .history = history };
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), 0);
}

static void check_value(const char *b, const char *k, const char *v, uint64_t rev)
{
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, b, k, 0, &e), 0);
	assert_string_equal(e.key, k);
	assert_int_equal(e.op, JN_KV_PUT);
	assert_int_equal(e.len, strlen(v));
	assert_memory_equal(e.value, v, e.len);
	if (rev)
		assert_int_equal(e.revision, rev);
	assert_true(e.created_ns > 0);
	jn_kv_entry_fini(&e);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_names(void **state)
{
	(void)state;
	assert_true(jn_kv_bucket_valid("cfg", 3));
	assert_true(jn_kv_bucket_valid("A_b-9", 5));
	assert_false(jn_kv_bucket_valid("a.b", 3));
	assert_false(jn_kv_bucket_valid("a b", 3));
	assert_false(jn_kv_bucket_valid("a*", 2));
	assert_false(jn_kv_bucket_valid("", 0));
	assert_true(jn_kv_key_valid("a.b/c=d_e-f", 11, false));
	assert_false(jn_kv_key_valid(".a", 2, false));
	assert_false(jn_kv_key_valid("a.", 2, false));
	assert_false(jn_kv_key_valid("a..b", 4, false));
	assert_false(jn_kv_key_valid("a b", 3, false));
	assert_false(jn_kv_key_valid("a.*", 3, false));
	assert_true(jn_kv_key_valid("a.*", 3, true));
	assert_true(jn_kv_key_valid(">", 1, true));
	assert_false(jn_kv_key_valid(">.a", 3, true));
}

static void test_bucket_lifecycle(void **state)
{
	(void)state;
	struct jn_kv_cfg c = { .bucket = "cfg", .history = 5, .ttl_ns = 3600000000000LL,
	                       .max_bytes = 1 << 20, .max_value_size = 1024,
	                       .description = "settings" };
	json_t *st = NULL;
	assert_int_equal(jn_kv_bucket_create(js, &c, &st), 0);
	assert_string_equal(json_string_value(json_object_get(st, "bucket")), "cfg");
	assert_int_equal(json_integer_value(json_object_get(st, "history")), 5);
	assert_int_equal(json_integer_value(json_object_get(st, "ttl")), 3600000000000LL);
	assert_int_equal(json_integer_value(json_object_get(st, "max_bytes")), 1 << 20);
	assert_int_equal(json_integer_value(json_object_get(st, "max_value_size")), 1024);
	assert_string_equal(json_string_value(json_object_get(st, "storage")), "file");
	assert_string_equal(json_string_value(json_object_get(st, "description")), "settings");
	json_decref(st);
	/* the stream is what nats.go builds */
	struct jn_stream *s = jn_js_stream_get(js, "KV_cfg", 6);
	assert_non_null(s);
	struct jn_stream_cfg sc;
	assert_int_equal(jn_stream_config(s, &sc), 0);
	assert_string_equal(sc.subjects[0], "$KV.cfg.>");
	assert_int_equal(sc.max_msgs_per_subject, 5);
	assert_int_equal(sc.discard, JN_DISCARD_NEW);
	assert_true(sc.allow_rollup_hdrs && sc.allow_direct && sc.deny_delete);
	assert_int_equal(sc.duplicate_window_ns, 120000000000LL);
	jn_stream_cfg_fini(&sc);
	jn_stream_unref(s);

	/* same config again: fine; another config: refused */
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), 0);
	c.history = 2;
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), -JN_ESTREAMEXISTS);
	c.history = 65;
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), -JN_EINVAL);
	c.history = 1;
	c.bucket = "bad.name";
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), -JN_EINVAL);

	struct jn_kv_cfg m = { .bucket = "mem", .storage = JN_STORE_MEMORY, .ttl_ns = 1000000000 };
	assert_int_equal(jn_kv_bucket_create(js, &m, NULL), 0);
	assert_int_equal(put("cfg", "a", "1"), 1);
	assert_int_equal(put("cfg", "b", "22"), 2);

	assert_int_equal(jn_kv_bucket_status(js, "cfg", &st), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "values")), 2);
	assert_true(json_integer_value(json_object_get(st, "bytes")) > 0);
	json_decref(st);
	assert_int_equal(jn_kv_bucket_status(js, "mem", &st), 0);
	assert_string_equal(json_string_value(json_object_get(st, "storage")), "memory");
	json_decref(st);
	assert_int_equal(jn_kv_bucket_status(js, "nope", &st), -JN_ESTREAMNOTFOUND);
	assert_null(st);

	/* a stream that is not a bucket is not listed */
	json_t *r = NULL;
	const char *plain = "{\"name\":\"PLAIN\",\"subjects\":[\"plain.>\"]}";
	assert_int_equal(jn_js_api_call(js, "STREAM.CREATE.PLAIN", plain, strlen(plain), &r), 0);
	json_decref(r);
	json_t *l = NULL;
	assert_int_equal(jn_kv_bucket_list(js, &l), 0);
	json_t *a = json_object_get(l, "buckets");
	assert_int_equal(json_array_size(a), 2);
	json_decref(l);

	assert_int_equal(jn_kv_bucket_delete(js, "cfg"), 0);
	assert_int_equal(jn_kv_bucket_delete(js, "cfg"), -JN_ESTREAMNOTFOUND);
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, "cfg", "a", 0, &e), -JN_ESTREAMNOTFOUND);
	assert_int_equal(jn_kv_put(js, "cfg", "a", "x", 1, JN_KV_ANY, on_done, NULL),
	                 -JN_ESTREAMNOTFOUND);
	assert_int_equal(jn_kv_bucket_list(js, &l), 0);
	assert_int_equal(json_array_size(json_object_get(l, "buckets")), 1);
	json_decref(l);
}

static void test_put_get(void **state)
{
	(void)state;
	bucket("b", 3);
	assert_int_equal(put("b", "a.b", "one"), 1);
	assert_int_equal(put("b", "c", "x"), 2);
	assert_int_equal(put("b", "a.b", "two"), 3);
	check_value("b", "a.b", "two", 3);
	check_value("b", "c", "x", 2);
	/* a revision: only on its own key */
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, "b", "a.b", 1, &e), 0);
	assert_memory_equal(e.value, "one", 3);
	jn_kv_entry_fini(&e);
	assert_int_equal(jn_kv_get(js, "b", "a.b", 2, &e), -JN_ENOTFOUND);
	jn_kv_entry_fini(&e);
	assert_int_equal(jn_kv_get(js, "b", "zz", 0, &e), -JN_ENOTFOUND);
	assert_int_equal(e.revision, 0);
	assert_int_equal(jn_kv_get(js, "b", "bad..key", 0, &e), -JN_EINVAL);
	assert_int_equal(jn_kv_put(js, "b", "bad key", "x", 1, JN_KV_ANY, on_done, NULL),
	                 -JN_EINVAL);
	/* an empty value is a value */
	assert_int_equal(put("b", "empty", ""), 4);
	assert_int_equal(jn_kv_get(js, "b", "empty", 0, &e), 0);
	assert_int_equal(e.len, 0);
	assert_null(e.value);
	jn_kv_entry_fini(&e);
	/* history limit: at most 3 revisions per key */
	assert_int_equal(put("b", "a.b", "three"), 5);
	assert_int_equal(put("b", "a.b", "four"), 6);
	struct jn_kv_entry *h;
	size_t n;
	assert_int_equal(jn_kv_history(js, "b", "a.b", &h, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].revision, 3);
	assert_int_equal(h[2].revision, 6);
	assert_memory_equal(h[2].value, "four", 4);
	jn_kv_entries_free(h, n);
	assert_int_equal(jn_kv_history(js, "b", "none", &h, &n), -JN_ENOTFOUND);
	assert_int_equal(jn_kv_history(js, "nob", "none", &h, &n), -JN_ESTREAMNOTFOUND);
}

static void test_create_update_delete(void **state)
{
	(void)state;
	bucket("c", 5);
	assert_int_equal(put_x("c", "k", "v1", 0), 1);           /* create */
	assert_int_equal(put_x("c", "k", "v2", 0), -JN_EWRONGLASTSEQ);
	assert_int_equal(put_x("c", "k", "v2", 7), -JN_EWRONGLASTSEQ);   /* CAS conflict */
	assert_int_equal(put_x("c", "k", "v2", 1), 2);           /* update */
	assert_int_equal(put_x("c", "k", "v3", 1), -JN_EWRONGLASTSEQ);
	check_value("c", "k", "v2", 2);

	assert_int_equal(del_x("c", "k", false, 9), -JN_EWRONGLASTSEQ);
	assert_int_equal(del_x("c", "k", false, JN_KV_ANY), 3);
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, "c", "k", 0, &e), -JN_ENOTFOUND);
	assert_int_equal(e.op, JN_KV_DEL);      /* the marker is handed back */
	assert_int_equal(e.revision, 3);
	jn_kv_entry_fini(&e);
	/* create after delete */
	assert_int_equal(put_x("c", "k", "again", 0), 4);
	check_value("c", "k", "again", 4);

	/* purge: the key's history is only the marker; create works after it */
	assert_int_equal(put("c", "k", "more"), 5);
	assert_int_equal(del_x("c", "k", true, JN_KV_ANY), 6);
	struct jn_kv_entry *h;
	size_t n;
	assert_int_equal(jn_kv_history(js, "c", "k", &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].op, JN_KV_PURGE);
	assert_int_equal(h[0].revision, 6);
	jn_kv_entries_free(h, n);
	assert_int_equal(jn_kv_get(js, "c", "k", 0, &e), -JN_ENOTFOUND);
	assert_int_equal(e.op, JN_KV_PURGE);
	jn_kv_entry_fini(&e);
	assert_int_equal(put_x("c", "k", "fresh", 0), 7);

	/* keys: live ones only, filtered */
	assert_int_equal(put("c", "x.1", "a"), 8);
	assert_int_equal(put("c", "x.2", "a"), 9);
	assert_int_equal(put("c", "y", "a"), 10);
	assert_int_equal(del_x("c", "x.2", false, JN_KV_ANY), 11);
	char **keys;
	assert_int_equal(jn_kv_keys(js, "c", NULL, &keys, &n), 0);
	assert_int_equal(n, 3);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], "k") == 0)
			seen |= 1;
		else if (strcmp(keys[i], "x.1") == 0)
			seen |= 2;
		else if (strcmp(keys[i], "y") == 0)
			seen |= 4;
	}
	assert_int_equal(seen, 7);
	jn_kv_keys_free(keys, n);
	assert_int_equal(jn_kv_keys(js, "c", "x.*", &keys, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "x.1");
	jn_kv_keys_free(keys, n);
	assert_int_equal(del_x("c", "k", true, JN_KV_ANY), 12);
	assert_int_equal(jn_kv_keys(js, "c", ">", &keys, &n), 0);
	assert_int_equal(n, 2);
	jn_kv_keys_free(keys, n);
	assert_int_equal(jn_kv_keys(js, "c", "bad..f", &keys, &n), -JN_EINVAL);
}

static void test_limits(void **state)
{
	(void)state;
	struct jn_kv_cfg c = { .bucket = "lim", .max_value_size = 8, .max_bytes = 200 };
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), 0);
	assert_int_equal(put("lim", "a", "12345678"), 1);
	assert_int_equal(put("lim", "a", "123456789"), -JN_EMSGSIZE);
	int64_t r = 0;
	for (int i = 0; i < 20 && r >= 0; i++) {
		char k[8];
		snprintf(k, sizeof k, "k%d", i);
		r = put("lim", k, "12345678");
	}
	assert_int_equal(r, -JN_ESTORELIMIT);   /* discard new: a full bucket refuses */
}

static void test_ttl(void **state)
{
	(void)state;
	struct jn_kv_cfg c = { .bucket = "t", .ttl_ns = 1000000000LL };
	assert_int_equal(jn_kv_bucket_create(js, &c, NULL), 0);
	assert_int_equal(put("t", "a", "v"), 1);
	check_value("t", "a", "v", 1);
	jn_js_tick(js, jn_js_now_ns() + 2000000000LL);   /* two seconds later */
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, "t", "a", 0, &e), -JN_ENOTFOUND);
	assert_int_equal(e.revision, 0);
	assert_int_equal(put_x("t", "a", "v2", 0), 2);   /* create: the key is gone */
}

/* ---- watch -------------------------------------------------------------------- */

#define MAXEV 256
struct events {
	pthread_mutex_t mu;
	int n;
	int marker_at;              /* index of the NULL marker, -1 if none */
	int markers;
	char key[MAXEV][32];
	char val[MAXEV][16];
	uint64_t rev[MAXEV];
	enum jn_kv_op op[MAXEV];
	uint64_t delta[MAXEV];
};

static void on_event(void *arg, const struct jn_kv_entry *e)
{
	struct events *ev = arg;
	pthread_mutex_lock(&ev->mu);
	if (!e) {
		ev->markers++;
		if (ev->marker_at < 0)
			ev->marker_at = ev->n;
	} else if (ev->n < MAXEV) {
		snprintf(ev->key[ev->n], sizeof ev->key[0], "%s", e->key);
		snprintf(ev->val[ev->n], sizeof ev->val[0], "%.*s", (int)e->len,
		         e->value ? (const char *)e->value : "");
		ev->rev[ev->n] = e->revision;
		ev->op[ev->n] = e->op;
		ev->delta[ev->n] = e->delta;
		ev->n++;
	}
	pthread_mutex_unlock(&ev->mu);
}

static void ev_init(struct events *ev)
{
	memset(ev, 0, sizeof *ev);
	pthread_mutex_init(&ev->mu, NULL);
	ev->marker_at = -1;
}

static int ev_count(struct events *ev)
{
	pthread_mutex_lock(&ev->mu);
	int n = ev->n;
	pthread_mutex_unlock(&ev->mu);
	return n;
}

static void test_watch(void **state)
{
	(void)state;
	bucket("w", 5);
	static struct events ev;
	ev_init(&ev);
	struct jn_kv_watch *w = NULL;
	/* empty bucket: the marker comes at once */
	assert_int_equal(jn_kv_watch(js, "w", NULL, 0, 0, on_event, &ev, &w), 0);
	assert_int_equal(ev.markers, 1);
	assert_int_equal(ev.n, 0);
	assert_int_equal(put("w", "a", "1"), 1);
	assert_int_equal(del_x("w", "a", false, JN_KV_ANY), 2);
	assert_int_equal(ev_count(&ev), 2);
	assert_string_equal(ev.key[0], "a");
	assert_string_equal(ev.val[0], "1");
	assert_int_equal(ev.op[1], JN_KV_DEL);
	jn_kv_watch_stop(w);
	assert_int_equal(put("w", "a", "after-stop"), 3);
	assert_int_equal(ev_count(&ev), 2);

	/* current values first (latest per key, markers included), then the
	 * marker, then changes */
	assert_int_equal(put("w", "b", "1"), 4);
	assert_int_equal(put("w", "b", "2"), 5);
	assert_int_equal(put("w", "c.d", "3"), 6);
	ev_init(&ev);
	assert_int_equal(jn_kv_watch(js, "w", ">", 0, 0, on_event, &ev, &w), 0);
	assert_int_equal(ev_count(&ev), 3);
	assert_int_equal(ev.marker_at, 3);
	assert_int_equal(ev.rev[0], 3);
	assert_string_equal(ev.val[1], "2");
	assert_int_equal(ev.delta[0], 2);
	assert_int_equal(ev.delta[2], 0);
	assert_int_equal(put("w", "b", "live"), 7);
	assert_int_equal(ev_count(&ev), 4);
	assert_string_equal(ev.val[3], "live");
	assert_int_equal(ev.markers, 1);
	jn_kv_watch_stop(w);

	/* a pattern, history, meta only */
	ev_init(&ev);
	assert_int_equal(jn_kv_watch(js, "w", "b", JN_KV_WATCH_HISTORY | JN_KV_WATCH_META_ONLY,
	                             0, on_event, &ev, &w), 0);
	assert_int_equal(ev_count(&ev), 3);
	assert_int_equal(ev.rev[0], 4);
	assert_int_equal(ev.rev[2], 7);
	assert_string_equal(ev.val[2], "");
	assert_int_equal(ev.marker_at, 3);
	assert_int_equal(put("w", "c.d", "not-b"), 8);
	assert_int_equal(ev_count(&ev), 3);
	jn_kv_watch_stop(w);

	/* updates only */
	ev_init(&ev);
	assert_int_equal(jn_kv_watch(js, "w", NULL, JN_KV_WATCH_UPDATES_ONLY, 0, on_event, &ev,
	                             &w), 0);
	assert_int_equal(ev.markers, 1);
	assert_int_equal(ev_count(&ev), 0);
	assert_int_equal(put("w", "e", "new"), 9);
	assert_int_equal(ev_count(&ev), 1);
	assert_int_equal(ev.rev[0], 9);
	jn_kv_watch_stop(w);

	/* resume after revision 6: every change since, no snapshot */
	ev_init(&ev);
	assert_int_equal(jn_kv_watch(js, "w", NULL, 0, 6, on_event, &ev, &w), 0);
	assert_int_equal(ev_count(&ev), 3);
	assert_int_equal(ev.rev[0], 7);
	assert_int_equal(ev.rev[1], 8);
	assert_int_equal(ev.rev[2], 9);
	assert_int_equal(ev.marker_at, 3);
	jn_kv_watch_stop(w);

	assert_int_equal(jn_kv_watch(js, "nope", NULL, 0, 0, on_event, &ev, &w),
	                 -JN_ESTREAMNOTFOUND);
	assert_int_equal(jn_kv_watch(js, "w", "bad..p", 0, 0, on_event, &ev, &w), -JN_EINVAL);
	/* watchers remove their consumer */
	struct jn_stream *s = jn_js_stream_get(js, "KV_w", 4);
	assert_int_equal(jn_stream_consumer_count(s), 0);
	jn_stream_unref(s);
}

/* ---- writers on several threads, a watcher sees each revision once in order */

#define THREADS 4
#define PER_THREAD 50

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, errors;
	uint64_t maxrev;
};

static void on_count(void *arg, int err, uint64_t rev)
{
	struct counter *c = arg;
	pthread_mutex_lock(&c->mu);
	c->done++;
	if (err)
		c->errors++;
	if (rev > c->maxrev)
		c->maxrev = rev;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static struct counter ctr = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char k[16], v[16];
		snprintf(k, sizeof k, "t%d.k%d", t, i % 10);
		snprintf(v, sizeof v, "%d", i);
		if (jn_kv_put(js, "mt", k, v, strlen(v), JN_KV_ANY, on_count, &ctr) < 0)
			on_count(&ctr, -1, 0);
	}
	return NULL;
}

struct order {
	pthread_mutex_t mu;
	uint64_t last;
	int n, bad;
};

static void on_order(void *arg, const struct jn_kv_entry *e)
{
	struct order *o = arg;
	if (!e)
		return;
	pthread_mutex_lock(&o->mu);
	if (e->revision <= o->last)
		o->bad++;
	o->last = e->revision;
	o->n++;
	pthread_mutex_unlock(&o->mu);
}

static void test_threads(void **state)
{
	(void)state;
	bucket("mt", 64);
	static struct order ord = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct jn_kv_watch *w;
	assert_int_equal(jn_kv_watch(js, "mt", NULL, 0, 0, on_order, &ord, &w), 0);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&ctr.mu);
	while (ctr.done < THREADS * PER_THREAD)
		if (pthread_cond_timedwait(&ctr.cv, &ctr.mu, &ts) != 0)
			break;
	assert_int_equal(ctr.done, THREADS * PER_THREAD);
	assert_int_equal(ctr.errors, 0);
	assert_int_equal(ctr.maxrev, THREADS * PER_THREAD);
	pthread_mutex_unlock(&ctr.mu);
	/* the last deliveries may still be on their way from a pumper */
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&ord.mu);
		int got = ord.n;
		pthread_mutex_unlock(&ord.mu);
		if (got >= THREADS * PER_THREAD)
			break;
		usleep(10000);
		jn_js_tick(js, jn_js_now_ns());   /* the daemon's timer does this */
	}
	pthread_mutex_lock(&ord.mu);
	assert_int_equal(ord.n, THREADS * PER_THREAD);
	assert_int_equal(ord.bad, 0);
	pthread_mutex_unlock(&ord.mu);
	jn_kv_watch_stop(w);
	char **keys;
	size_t n;
	assert_int_equal(jn_kv_keys(js, "mt", NULL, &keys, &n), 0);
	assert_int_equal(n, THREADS * 10);
	jn_kv_keys_free(keys, n);
	struct jn_kv_entry *h;
	assert_int_equal(jn_kv_history(js, "mt", "t0.k0", &h, &n), 0);
	assert_int_equal(n, PER_THREAD / 10);
	jn_kv_entries_free(h, n);
}

/* ---- persistence ------------------------------------------------------------ */

static void test_reopen(void **state)
{
	(void)state;
	bucket("p", 2);
	assert_int_equal(put("p", "a", "1"), 1);
	assert_int_equal(put("p", "a", "2"), 2);
	assert_int_equal(del_x("p", "b", false, JN_KV_ANY), 3);
	jn_js_close(js);
	jn_epoch_drain();
	struct jn_js_cfg c = { .store_dir = dir };
	assert_int_equal(jn_js_open(&router, &c, &js), 0);
	check_value("p", "a", "2", 2);
	struct jn_kv_entry e;
	assert_int_equal(jn_kv_get(js, "p", "b", 0, &e), -JN_ENOTFOUND);
	assert_int_equal(e.op, JN_KV_DEL);
	jn_kv_entry_fini(&e);
	assert_int_equal(put_x("p", "a", "3", 2), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_bucket_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_update_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
