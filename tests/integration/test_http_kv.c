/*
 * test_http_kv.c - the Key/Value endpoints of the HTTP adapter (/v1/kv...):
 * buckets, keys, conditional writes (If-None-Match / If-Match -> 412),
 * delete and purge, history, the watch event stream with Last-Event-ID
 * resume, and one bucket shared with NATS KV clients (libnats kvStore)
 * both ways. Junction only: nats-server has no HTTP API.
 */
#include "http_it.h"
#include "js_it.h"

static void start(void)
{
	static struct it_config cfg = { .jetstream = true };
	ht_start(&cfg, NULL);
}

static json_t *req_json(struct ht_resp *r, const char *method, const char *path,
                        const char *body, int want)
{
	ht_req(r, method, path, body, body ? strlen(body) : 0, NULL);
	HT_STATUS(r, want);
	return ht_json(r);
}

static void put_key(const char *path, const char *val, long want_rev)
{
	struct ht_resp r;
	json_t *o = req_json(&r, "PUT", path, val, 200);
	IT_EQ_INT(json_integer_value(json_object_get(o, "revision")), want_rev);
	char etag[32];
	snprintf(etag, sizeof etag, "\"%ld\"", want_rev);
	IT_EQ_STR(ht_header(&r, "ETag"), etag);
	json_decref(o);
	ht_free(&r);
}

static void expect_err(const char *method, const char *path, const char *body,
                       const char *const *hdrs, long status, int err_code)
{
	struct ht_resp r;
	ht_req(&r, method, path, body, body ? strlen(body) : 0, hdrs);
	HT_ERROR(&r, status, NULL);
	if (err_code) {
		json_t *o = ht_json(&r);
		IT_EQ_INT(jt_int(o, "error.err_code"), err_code);
		json_decref(o);
	}
	ht_free(&r);
}

static void test_http_kv_buckets(void)
{
	start();
	struct ht_resp r;
	json_t *o = req_json(&r, "GET", "/v1/kv", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "buckets")), 0);
	json_decref(o);
	ht_free(&r);

	const char *cfg = "{\"history\":5,\"ttl\":\"1h\",\"max_value_size\":1024,"
	                  "\"description\":\"settings\"}";
	o = req_json(&r, "PUT", "/v1/kv/cfg", cfg, 201);
	IT_EQ_STR(jt_str(o, "bucket"), "cfg");
	IT_EQ_INT(jt_int(o, "history"), 5);
	IT_EQ_INT(jt_int(o, "ttl"), 3600000000000LL);
	IT_EQ_INT(jt_int(o, "max_value_size"), 1024);
	IT_EQ_INT(jt_int(o, "max_bytes"), -1);
	IT_EQ_STR(jt_str(o, "storage"), "file");
	IT_EQ_STR(jt_str(o, "description"), "settings");
	IT_EQ_INT(jt_int(o, "values"), 0);
	json_decref(o);
	ht_free(&r);
	/* the same again: 200; another config: 400 with 10058 */
	o = req_json(&r, "PUT", "/v1/kv/cfg", cfg, 200);
	json_decref(o);
	ht_free(&r);
	expect_err("PUT", "/v1/kv/cfg", "{\"history\":2}", NULL, 400, 10058);
	expect_err("PUT", "/v1/kv/x", "{\"history\":65}", NULL, 400, 0);
	expect_err("PUT", "/v1/kv/x", "{\"ttl\":\"soon\"}", NULL, 400, 0);
	expect_err("PUT", "/v1/kv/x", "{\"storage\":\"disk\"}", NULL, 400, 0);
	expect_err("PUT", "/v1/kv/x", "{\"history\":", NULL, 400, 0);
	expect_err("PUT", "/v1/kv/bad.name", NULL, NULL, 400, 0);
	/* no body: defaults, memory storage on request */
	o = req_json(&r, "PUT", "/v1/kv/plain", NULL, 201);
	IT_EQ_INT(jt_int(o, "history"), 1);
	IT_EQ_INT(jt_int(o, "ttl"), 0);
	json_decref(o);
	ht_free(&r);
	o = req_json(&r, "PUT", "/v1/kv/mem", "{\"storage\":\"memory\",\"ttl\":5000000000}", 201);
	IT_EQ_STR(jt_str(o, "storage"), "memory");
	IT_EQ_INT(jt_int(o, "ttl"), 5000000000LL);
	json_decref(o);
	ht_free(&r);

	put_key("/v1/kv/cfg/keys/a", "1", 1);
	o = req_json(&r, "GET", "/v1/kv/cfg", NULL, 200);
	IT_EQ_INT(jt_int(o, "values"), 1);
	IT_CHECK(jt_int(o, "bytes") > 0, "bytes");
	json_decref(o);
	ht_free(&r);
	o = req_json(&r, "GET", "/v1/kv", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "buckets")), 3);
	json_decref(o);
	ht_free(&r);

	expect_err("GET", "/v1/kv/nope", NULL, NULL, 404, 10059);
	o = req_json(&r, "DELETE", "/v1/kv/cfg", NULL, 200);
	IT_CHECK(json_is_true(json_object_get(o, "deleted")), "deleted");
	json_decref(o);
	ht_free(&r);
	expect_err("DELETE", "/v1/kv/cfg", NULL, NULL, 404, 10059);
	expect_err("GET", "/v1/kv/cfg/keys/a", NULL, NULL, 404, 10059);
	expect_err("PUT", "/v1/kv/cfg/keys/a", "x", NULL, 404, 10059);
	expect_err("POST", "/v1/kv/plain", "x", NULL, 405, 0);
}

static void test_http_kv_keys(void)
{
	start();
	struct ht_resp r;
	json_t *o = req_json(&r, "PUT", "/v1/kv/b", "{\"history\":5}", 201);
	json_decref(o);
	ht_free(&r);
	put_key("/v1/kv/b/keys/a.b", "one", 1);
	put_key("/v1/kv/b/keys/dir/file.txt", "slash", 2);
	put_key("/v1/kv/b/keys/a.b", "two", 3);
	put_key("/v1/kv/b/keys/empty", "", 4);

	ht_req(&r, "GET", "/v1/kv/b/keys/a.b", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_STR(r.body, "two");
	IT_EQ_STR(ht_header(&r, "KV-Revision"), "3");
	IT_EQ_STR(ht_header(&r, "ETag"), "\"3\"");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/kv/b/keys/dir/file.txt", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_STR(r.body, "slash");
	ht_free(&r);
	ht_req(&r, "GET", "/v1/kv/b/keys/dir%2Ffile.txt", NULL, 0, NULL);   /* encoded '/' */
	HT_STATUS(&r, 200);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/kv/b/keys/empty", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_INT(r.len, 0);
	ht_free(&r);
	expect_err("GET", "/v1/kv/b/keys/missing", NULL, NULL, 404, 10037);
	expect_err("GET", "/v1/kv/b/keys/bad..key", NULL, NULL, 400, 0);
	expect_err("PUT", "/v1/kv/b/keys/.dot", "x", NULL, 400, 0);

	o = req_json(&r, "GET", "/v1/kv/b/keys", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "keys")), 3);
	json_decref(o);
	ht_free(&r);
	o = req_json(&r, "GET", "/v1/kv/b/keys?filter=a.*", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "keys")), 1);
	IT_EQ_STR(json_string_value(json_array_get(json_object_get(o, "keys"), 0)), "a.b");
	json_decref(o);
	ht_free(&r);
	expect_err("GET", "/v1/kv/b/keys?filter=a..b", NULL, NULL, 400, 0);

	/* delete: a tombstone; the history keeps the old values */
	o = req_json(&r, "DELETE", "/v1/kv/b/keys/a.b", NULL, 200);
	IT_EQ_INT(jt_int(o, "revision"), 5);
	json_decref(o);
	ht_free(&r);
	expect_err("GET", "/v1/kv/b/keys/a.b", NULL, NULL, 404, 10037);
	o = req_json(&r, "GET", "/v1/kv/b/keys", NULL, 200);
	IT_EQ_INT(json_array_size(json_object_get(o, "keys")), 2);
	json_decref(o);
	ht_free(&r);
	o = req_json(&r, "GET", "/v1/kv/b/keys/a.b/history", NULL, 200);
	json_t *e = json_object_get(o, "entries");
	IT_EQ_INT(json_array_size(e), 3);
	IT_EQ_STR(jt_str(json_array_get(e, 0), "key"), "a.b");
	IT_EQ_STR(jt_str(json_array_get(e, 0), "operation"), "PUT");
	IT_EQ_STR(jt_str(json_array_get(e, 0), "value"), "b25l");   /* "one" */
	IT_EQ_INT(jt_int(json_array_get(e, 1), "revision"), 3);
	IT_EQ_STR(jt_str(json_array_get(e, 2), "operation"), "DEL");
	IT_CHECK(strlen(jt_str(json_array_get(e, 2), "created")) > 20, "created");
	json_decref(o);
	ht_free(&r);
	/* purge: only the marker stays */
	o = req_json(&r, "DELETE", "/v1/kv/b/keys/dir/file.txt?purge=true", NULL, 200);
	json_decref(o);
	ht_free(&r);
	o = req_json(&r, "GET", "/v1/kv/b/keys/dir/file.txt/history", NULL, 200);
	e = json_object_get(o, "entries");
	IT_EQ_INT(json_array_size(e), 1);
	IT_EQ_STR(jt_str(json_array_get(e, 0), "operation"), "PURGE");
	json_decref(o);
	ht_free(&r);
	expect_err("GET", "/v1/kv/b/keys/never/history", NULL, NULL, 404, 10037);
	expect_err("DELETE", "/v1/kv/b/keys/x?purge=maybe", NULL, NULL, 400, 0);
}

static void test_http_kv_conditional(void)
{
	start();
	struct ht_resp r;
	json_t *o = req_json(&r, "PUT", "/v1/kv/c", "{\"history\":3}", 201);
	json_decref(o);
	ht_free(&r);
	const char *create[] = { "If-None-Match: *", NULL };
	ht_req(&r, "PUT", "/v1/kv/c/keys/k", "v1", 2, create);
	HT_STATUS(&r, 200);
	ht_free(&r);
	expect_err("PUT", "/v1/kv/c/keys/k", "v2", create, 412, 10071);
	const char *wrong[] = { "If-Match: \"7\"", NULL };
	expect_err("PUT", "/v1/kv/c/keys/k", "v2", wrong, 412, 10071);
	const char *right[] = { "If-Match: \"1\"", NULL };
	ht_req(&r, "PUT", "/v1/kv/c/keys/k", "v2", 2, right);
	HT_STATUS(&r, 200);
	IT_EQ_STR(ht_header(&r, "ETag"), "\"2\"");
	ht_free(&r);
	expect_err("PUT", "/v1/kv/c/keys/k", "v3", right, 412, 10071);   /* stale */
	const char *bad[] = { "If-Match: abc", NULL };
	expect_err("PUT", "/v1/kv/c/keys/k", "v3", bad, 400, 0);
	const char *badinm[] = { "If-None-Match: \"3\"", NULL };
	expect_err("PUT", "/v1/kv/c/keys/k", "v3", badinm, 400, 0);
	/* conditional delete, then create after delete */
	expect_err("DELETE", "/v1/kv/c/keys/k", NULL, wrong, 412, 10071);
	const char *at2[] = { "If-Match: \"2\"", NULL };
	ht_req(&r, "DELETE", "/v1/kv/c/keys/k", NULL, 0, at2);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "revision"), 3);
	json_decref(o);
	ht_free(&r);
	ht_req(&r, "PUT", "/v1/kv/c/keys/k", "again", 5, create);
	HT_STATUS(&r, 200);
	o = ht_json(&r);
	IT_EQ_INT(jt_int(o, "revision"), 4);
	json_decref(o);
	ht_free(&r);
	ht_req(&r, "GET", "/v1/kv/c/keys/k", NULL, 0, NULL);
	IT_EQ_STR(r.body, "again");
	ht_free(&r);
	/* a value over max_value_size is refused */
	o = req_json(&r, "PUT", "/v1/kv/small", "{\"max_value_size\":4}", 201);
	json_decref(o);
	ht_free(&r);
	expect_err("PUT", "/v1/kv/small/keys/k", "12345", NULL, 400, 10054);
}

/* The revision and key of watch event i. */
static void event_is(struct ht_sse *s, int i, const char *key, long rev, const char *op)
{
	json_t *o = ht_sse_event(s, i);
	IT_EQ_STR(jt_str(o, "key"), key);
	IT_EQ_INT(jt_int(o, "revision"), rev);
	IT_EQ_STR(jt_str(o, "operation"), op);
	json_decref(o);
}

static bool has(struct ht_sse *s, const char *text)
{
	pthread_mutex_lock(&s->lock);
	bool yes = s->buf && strstr(s->buf, text);
	pthread_mutex_unlock(&s->lock);
	return yes;
}

static void test_http_kv_watch(void)
{
	start();
	struct ht_resp r;
	json_t *o = req_json(&r, "PUT", "/v1/kv/w", "{\"history\":5}", 201);
	json_decref(o);
	ht_free(&r);
	put_key("/v1/kv/w/keys/a", "1", 1);
	put_key("/v1/kv/w/keys/b", "1", 2);
	put_key("/v1/kv/w/keys/a", "2", 3);

	struct ht_sse *s = ht_sse_open("/v1/kv/w/watch", NULL);
	ht_sse_wait(s, 2, 5000);
	event_is(s, 0, "b", 2, "PUT");
	event_is(s, 1, "a", 3, "PUT");
	o = ht_sse_event(s, 1);
	IT_EQ_STR(jt_str(o, "value"), "Mg==");   /* "2" */
	json_decref(o);
	int64_t t0 = it_now_ms();
	while (!has(s, "event: ready\n") && it_now_ms() - t0 < 5000)
		it_sleep_ms(5);
	IT_CHECK(has(s, "event: ready\n"), "caught-up event");
	IT_CHECK(has(s, "id: 3\nevent: msg\n"), "id is the revision");
	put_key("/v1/kv/w/keys/c", "new", 4);
	ht_sse_wait(s, 3, 5000);
	event_is(s, 2, "c", 4, "PUT");
	o = req_json(&r, "DELETE", "/v1/kv/w/keys/b", NULL, 200);
	json_decref(o);
	ht_free(&r);
	ht_sse_wait(s, 4, 5000);
	event_is(s, 3, "b", 5, "DEL");
	ht_sse_close(s);

	/* resume: every change after revision 3, no snapshot */
	s = ht_sse_open("/v1/kv/w/watch", "Last-Event-ID: 3");
	ht_sse_wait(s, 2, 5000);
	event_is(s, 0, "c", 4, "PUT");
	event_is(s, 1, "b", 5, "DEL");
	put_key("/v1/kv/w/keys/a", "3", 6);
	ht_sse_wait(s, 3, 5000);
	event_is(s, 2, "a", 6, "PUT");
	it_sleep_ms(100);
	IT_EQ_INT(ht_sse_count(s), 3);
	ht_sse_close(s);

	/* one key with its history */
	s = ht_sse_open("/v1/kv/w/watch?key=a&include_history=true", NULL);
	ht_sse_wait(s, 3, 5000);
	event_is(s, 0, "a", 1, "PUT");
	event_is(s, 2, "a", 6, "PUT");
	put_key("/v1/kv/w/keys/c", "not-a", 7);
	put_key("/v1/kv/w/keys/a", "4", 8);
	ht_sse_wait(s, 4, 5000);
	event_is(s, 3, "a", 8, "PUT");
	ht_sse_close(s);

	expect_err("GET", "/v1/kv/w/watch?key=a..b", NULL, NULL, 400, 0);
	const char *lei[] = { "Last-Event-ID: x1", NULL };
	expect_err("GET", "/v1/kv/w/watch", NULL, lei, 400, 0);
	expect_err("GET", "/v1/kv/nope/watch", NULL, NULL, 404, 10059);

	/* a watch still open when the server stops ends cleanly (it_stop
	 * checks the exit status) */
	s = ht_sse_open("/v1/kv/w/watch", NULL);
	ht_sse_wait(s, 3, 5000);
	it_stop();
	ht_sse_close(s);
}

/* One bucket for HTTP and NATS KV clients. */
static void test_http_kv_nats_interop(void)
{
	start();
	struct ht_resp r;
	json_t *o = req_json(&r, "PUT", "/v1/kv/shared", "{\"history\":3}", 201);
	json_decref(o);
	ht_free(&r);
	put_key("/v1/kv/shared/keys/from.http", "hello nats", 1);

	natsConnection *nc = it_connect(NULL, NULL);
	jsCtx *js = jt_ctx(nc);
	kvStore *kv = NULL;
	IT_OK(js_KeyValue(&kv, js, "shared"));
	kvEntry *e = NULL;
	IT_OK(kvStore_Get(&e, kv, "from.http"));
	IT_EQ_STR(kvEntry_ValueString(e), "hello nats");
	IT_EQ_INT(kvEntry_Revision(e), 1);
	kvEntry_Destroy(e);
	kvWatcher *w = NULL;
	IT_OK(kvStore_WatchAll(&w, kv, NULL));
	e = NULL;
	IT_OK(kvWatcher_Next(&e, w, 5000));
	IT_EQ_STR(kvEntry_Key(e), "from.http");
	kvEntry_Destroy(e);
	e = NULL;
	IT_OK(kvWatcher_Next(&e, w, 5000));
	IT_CHECK(e == NULL, "marker");

	uint64_t rev = 0;
	IT_OK(kvStore_PutString(&rev, kv, "from.nats", "hello http"));
	IT_EQ_INT(rev, 2);
	ht_req(&r, "GET", "/v1/kv/shared/keys/from.nats", NULL, 0, NULL);
	HT_STATUS(&r, 200);
	IT_EQ_STR(r.body, "hello http");
	IT_EQ_STR(ht_header(&r, "KV-Revision"), "2");
	ht_free(&r);
	/* HTTP delete is a NATS KV delete; an HTTP put reaches the NATS watcher */
	o = req_json(&r, "DELETE", "/v1/kv/shared/keys/from.nats", NULL, 200);
	json_decref(o);
	ht_free(&r);
	e = NULL;
	IT_STATUS(kvStore_Get(&e, kv, "from.nats"), NATS_NOT_FOUND);
	put_key("/v1/kv/shared/keys/from.http", "again", 4);
	for (int want = 2; want <= 4; want++) {
		e = NULL;
		IT_OK(kvWatcher_Next(&e, w, 5000));
		IT_EQ_INT(kvEntry_Revision(e), want);
		if (want == 3)
			IT_EQ_INT(kvEntry_Operation(e), kvOp_Delete);
		kvEntry_Destroy(e);
	}
	kvWatcher_Destroy(w);
	/* a NATS create after the HTTP delete */
	IT_OK(kvStore_CreateString(&rev, kv, "from.nats", "back"));
	IT_EQ_INT(rev, 5);
	kvStore_Destroy(kv);
	/* a bucket made by a NATS client is listed over HTTP */
	kvConfig c;
	kvConfig_Init(&c);
	c.Bucket = "natsmade";
	IT_OK(js_CreateKeyValue(&kv, js, &c));
	kvStore_Destroy(kv);
	o = req_json(&r, "GET", "/v1/kv/natsmade", NULL, 200);
	IT_EQ_INT(jt_int(o, "history"), 1);
	json_decref(o);
	ht_free(&r);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_http_kv_disabled(void)
{
	ht_start(NULL, NULL);
	expect_err("GET", "/v1/kv", NULL, NULL, 503, 10076);
	expect_err("PUT", "/v1/kv/b/keys/k", "v", NULL, 503, 10076);
}

IT_MAIN(IT_TEST(test_http_kv_buckets), IT_TEST(test_http_kv_keys),
        IT_TEST(test_http_kv_conditional), IT_TEST(test_http_kv_watch),
        IT_TEST(test_http_kv_nats_interop), IT_TEST(test_http_kv_disabled))
