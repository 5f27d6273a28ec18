/*
 * test_kv.c - Key/Value through libnats' kvStore API (nats.c 3.4), which
 * builds everything on streams, direct gets and ordered push consumers
 * (shared/spec/kv.md): so these cases prove junction's JetStream is what
 * the KV clients need. Every case also runs against nats-server -js
 * (integ-ref.test_kv). The seed Go program's KV flow (prints 1000101) runs
 * in tests/seed.
 */
#include "js_it.h"

static natsConnection *kv_start(jsCtx **js)
{
	struct it_config cfg = { .jetstream = true };
	it_start(&cfg);
	natsConnection *nc = it_connect(NULL, NULL);
	*js = jt_ctx(nc);
	return nc;
}

static kvStore *bucket(jsCtx *js, const char *name, int history, int64_t ttl_ns)
{
	kvConfig c;
	IT_OK(kvConfig_Init(&c));
	c.Bucket = name;
	c.History = (uint8_t)history;
	c.TTL = ttl_ns;
	kvStore *kv = NULL;
	IT_OK(js_CreateKeyValue(&kv, js, &c));
	return kv;
}

static void expect_value(kvStore *kv, const char *key, const char *val, uint64_t rev)
{
	kvEntry *e = NULL;
	IT_OK(kvStore_Get(&e, kv, key));
	IT_EQ_STR(kvEntry_Key(e), key);
	IT_EQ_INT(kvEntry_ValueLen(e), (int)strlen(val));
	IT_CHECK(memcmp(kvEntry_Value(e), val, strlen(val)) == 0, "value of %s", key);
	if (rev)
		IT_EQ_INT(kvEntry_Revision(e), rev);
	IT_EQ_INT(kvEntry_Operation(e), kvOp_Put);
	IT_CHECK(kvEntry_Created(e) > 0, "created");
	kvEntry_Destroy(e);
}

static void test_kv_put_get(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "cfg", 5, 0);
	IT_EQ_STR(kvStore_Bucket(kv), "cfg");
	uint64_t rev = 0;
	IT_OK(kvStore_PutString(&rev, kv, "a.b", "one"));
	IT_EQ_INT(rev, 1);
	IT_OK(kvStore_PutString(&rev, kv, "c", "x"));
	IT_EQ_INT(rev, 2);
	IT_OK(kvStore_PutString(&rev, kv, "a.b", "two"));
	IT_EQ_INT(rev, 3);
	expect_value(kv, "a.b", "two", 3);
	expect_value(kv, "c", "x", 2);
	kvEntry *e = NULL;
	IT_OK(kvStore_GetRevision(&e, kv, "a.b", 1));
	IT_EQ_STR(kvEntry_ValueString(e), "one");
	kvEntry_Destroy(e);
	e = NULL;
	IT_STATUS(kvStore_GetRevision(&e, kv, "a.b", 2), NATS_NOT_FOUND);   /* c's */
	IT_STATUS(kvStore_Get(&e, kv, "missing"), NATS_NOT_FOUND);
	/* the stream is the one the clients build */
	json_t *r = jt_api(nc, "$JS.API.STREAM.INFO.KV_cfg", NULL);
	IT_EQ_STR(json_string_value(json_array_get(jt_get(r, "config.subjects"), 0)), "$KV.cfg.>");
	IT_EQ_INT(jt_int(r, "config.max_msgs_per_subject"), 5);
	IT_EQ_INT(jt_int(r, "state.messages"), 3);
	json_decref(r);
	/* the same bucket through a second binding */
	kvStore *kv2 = NULL;
	IT_OK(js_KeyValue(&kv2, js, "cfg"));
	expect_value(kv2, "a.b", "two", 3);
	kvStore_Destroy(kv2);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_create_update_delete(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "c", 5, 0);
	uint64_t rev = 0;
	IT_OK(kvStore_CreateString(&rev, kv, "k", "v1"));
	IT_EQ_INT(rev, 1);
	IT_CHECK(kvStore_CreateString(&rev, kv, "k", "v2") != NATS_OK, "create over a value");
	IT_CHECK(strstr(nats_GetLastError(NULL), "wrong last sequence") != NULL, "%s",
	         nats_GetLastError(NULL));
	/* compare-and-set */
	IT_CHECK(kvStore_UpdateString(&rev, kv, "k", "v2", 7) != NATS_OK, "CAS conflict");
	IT_CHECK(strstr(nats_GetLastError(NULL), "wrong last sequence") != NULL, "%s",
	         nats_GetLastError(NULL));
	IT_OK(kvStore_UpdateString(&rev, kv, "k", "v2", 1));
	IT_EQ_INT(rev, 2);
	IT_CHECK(kvStore_UpdateString(&rev, kv, "k", "v3", 1) != NATS_OK, "stale CAS");
	expect_value(kv, "k", "v2", 2);
	/* delete: a tombstone, then create works again */
	IT_OK(kvStore_Delete(kv, "k"));
	kvEntry *e = NULL;
	IT_STATUS(kvStore_Get(&e, kv, "k"), NATS_NOT_FOUND);
	IT_OK(kvStore_CreateString(&rev, kv, "k", "again"));
	IT_EQ_INT(rev, 4);
	expect_value(kv, "k", "again", 4);
	/* purge: only the marker remains; create works after it too */
	IT_OK(kvStore_PutString(&rev, kv, "k", "more"));
	IT_OK(kvStore_Purge(kv, "k", NULL));
	kvEntryList l = { 0 };
	IT_OK(kvStore_History(&l, kv, "k", NULL));
	IT_EQ_INT(l.Count, 1);
	IT_EQ_INT(kvEntry_Operation(l.Entries[0]), kvOp_Purge);
	IT_EQ_INT(kvEntry_Revision(l.Entries[0]), 6);
	kvEntryList_Destroy(&l);
	IT_STATUS(kvStore_Get(&e, kv, "k"), NATS_NOT_FOUND);
	IT_OK(kvStore_CreateString(&rev, kv, "k", "fresh"));
	IT_EQ_INT(rev, 7);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_history_limit(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "h", 2, 0);
	IT_OK(kvStore_PutString(NULL, kv, "k", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "other", "x"));
	IT_OK(kvStore_PutString(NULL, kv, "k", "2"));
	IT_OK(kvStore_PutString(NULL, kv, "k", "3"));
	kvEntryList l = { 0 };
	IT_OK(kvStore_History(&l, kv, "k", NULL));
	IT_EQ_INT(l.Count, 2);
	IT_EQ_STR(kvEntry_ValueString(l.Entries[0]), "2");
	IT_EQ_INT(kvEntry_Revision(l.Entries[0]), 3);
	IT_EQ_STR(kvEntry_ValueString(l.Entries[1]), "3");
	IT_EQ_INT(kvEntry_Revision(l.Entries[1]), 4);
	kvEntryList_Destroy(&l);
	IT_STATUS(kvStore_History(&l, kv, "none", NULL), NATS_NOT_FOUND);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_keys_after_purge(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "k", 3, 0);
	kvKeysList kl = { 0 };
	IT_OK(kvStore_Keys(&kl, kv, NULL));
	IT_EQ_INT(kl.Count, 0);
	kvKeysList_Destroy(&kl);
	IT_OK(kvStore_PutString(NULL, kv, "a", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "b", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "c.d", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "c.d", "2"));
	IT_OK(kvStore_Keys(&kl, kv, NULL));
	IT_EQ_INT(kl.Count, 3);
	kvKeysList_Destroy(&kl);
	IT_OK(kvStore_Delete(kv, "b"));
	IT_OK(kvStore_Purge(kv, "c.d", NULL));
	IT_OK(kvStore_Keys(&kl, kv, NULL));
	IT_EQ_INT(kl.Count, 1);
	IT_EQ_STR(kl.Keys[0], "a");
	kvKeysList_Destroy(&kl);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_ttl(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "ttl", 1, 1000000000LL);   /* ns */
	kvStatus *st = NULL;
	IT_OK(kvStore_Status(&st, kv));
	IT_EQ_INT(kvStatus_TTL(st), 1000000000LL);
	kvStatus_Destroy(st);
	IT_OK(kvStore_PutString(NULL, kv, "a", "v"));
	expect_value(kv, "a", "v", 1);
	kvEntry *e = NULL;
	natsStatus s = NATS_OK;
	int64_t t0 = it_now_ms();
	while (it_now_ms() - t0 < 5000) {
		it_sleep_ms(100);
		s = kvStore_Get(&e, kv, "a");
		if (s == NATS_NOT_FOUND)
			break;
		kvEntry_Destroy(e);
		e = NULL;
	}
	IT_STATUS(s, NATS_NOT_FOUND);
	int64_t took = it_now_ms() - t0;
	IT_CHECK(took >= 800, "expired after %lld ms", (long long)took);
	/* gone, not deleted: create works as on a new key */
	uint64_t rev = 0;
	IT_OK(kvStore_CreateString(&rev, kv, "a", "v2"));
	IT_EQ_INT(rev, 2);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Next entry within 5 s (NULL = the "initial values done" marker). */
static kvEntry *next(kvWatcher *w)
{
	kvEntry *e = NULL;
	IT_OK(kvWatcher_Next(&e, w, 5000));
	return e;
}

static void test_kv_watch(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "w", 5, 0);
	IT_OK(kvStore_PutString(NULL, kv, "a", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "b.x", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "a", "2"));
	IT_OK(kvStore_Delete(kv, "b.x"));

	kvWatcher *all = NULL, *pat = NULL;
	IT_OK(kvStore_WatchAll(&all, kv, NULL));
	IT_OK(kvStore_Watch(&pat, kv, "b.*", NULL));
	/* current values first, then the marker */
	kvEntry *e = next(all);
	IT_CHECK(e != NULL, "first entry");
	IT_EQ_STR(kvEntry_Key(e), "a");
	IT_EQ_STR(kvEntry_ValueString(e), "2");
	IT_EQ_INT(kvEntry_Revision(e), 3);
	kvEntry_Destroy(e);
	e = next(all);
	IT_EQ_STR(kvEntry_Key(e), "b.x");
	IT_EQ_INT(kvEntry_Operation(e), kvOp_Delete);
	IT_EQ_INT(kvEntry_Delta(e), 0);
	kvEntry_Destroy(e);
	IT_CHECK(next(all) == NULL, "marker after the initial values");
	e = next(pat);
	IT_EQ_STR(kvEntry_Key(e), "b.x");
	kvEntry_Destroy(e);
	IT_CHECK(next(pat) == NULL, "pattern marker");

	/* a put from another connection */
	natsConnection *nc2 = it_connect(NULL, NULL);
	jsCtx *js2 = jt_ctx(nc2);
	kvStore *kv2 = NULL;
	IT_OK(js_KeyValue(&kv2, js2, "w"));
	uint64_t rev = 0;
	IT_OK(kvStore_PutString(&rev, kv2, "b.y", "remote"));
	IT_EQ_INT(rev, 5);
	e = next(all);
	IT_EQ_STR(kvEntry_Key(e), "b.y");
	IT_EQ_STR(kvEntry_ValueString(e), "remote");
	IT_EQ_INT(kvEntry_Revision(e), 5);
	kvEntry_Destroy(e);
	e = next(pat);
	IT_EQ_STR(kvEntry_Key(e), "b.y");
	kvEntry_Destroy(e);
	IT_OK(kvStore_PutString(&rev, kv2, "a", "3"));
	e = next(all);
	IT_EQ_STR(kvEntry_Key(e), "a");
	kvEntry_Destroy(e);
	e = NULL;
	IT_STATUS(kvWatcher_Next(&e, pat, 300), NATS_TIMEOUT);   /* "a" is not b.* */
	IT_OK(kvWatcher_Stop(all));
	kvWatcher_Destroy(all);
	kvWatcher_Destroy(pat);

	/* history and an empty watch */
	kvWatchOptions o;
	kvWatchOptions_Init(&o);
	o.IncludeHistory = true;
	IT_OK(kvStore_Watch(&all, kv, "a", &o));
	int n = 0;
	while ((e = next(all)) != NULL) {
		n++;
		kvEntry_Destroy(e);
	}
	IT_EQ_INT(n, 3);
	kvWatcher_Destroy(all);
	IT_OK(kvStore_Watch(&all, kv, "nothing.here", NULL));
	IT_CHECK(next(all) == NULL, "marker at once");
	kvWatcher_Destroy(all);

	kvStore_Destroy(kv2);
	jsCtx_Destroy(js2);
	natsConnection_Destroy(nc2);
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_status_delete(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvConfig c;
	kvConfig_Init(&c);
	c.Bucket = "s";
	c.History = 4;
	c.MaxValueSize = 16;
	kvStore *kv = NULL;
	IT_OK(js_CreateKeyValue(&kv, js, &c));
	IT_OK(kvStore_PutString(NULL, kv, "a", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "a", "2"));
	IT_CHECK(kvStore_PutString(NULL, kv, "big", "0123456789abcdefX") != NATS_OK,
	         "value over max_value_size");
	IT_CHECK(strstr(nats_GetLastError(NULL), "message size exceeds maximum") != NULL, "%s",
	         nats_GetLastError(NULL));
	kvStatus *st = NULL;
	IT_OK(kvStore_Status(&st, kv));
	IT_EQ_STR(kvStatus_Bucket(st), "s");
	IT_EQ_INT(kvStatus_Values(st), 2);
	IT_EQ_INT(kvStatus_History(st), 4);
	IT_EQ_INT(kvStatus_TTL(st), 0);
	kvStatus_Destroy(st);
	kvStore_Destroy(kv);
	/* creating it again with the same config binds it */
	IT_OK(js_CreateKeyValue(&kv, js, &c));
	expect_value(kv, "a", "2", 2);
	kvStore_Destroy(kv);
	IT_OK(js_DeleteKeyValue(js, "s"));
	kv = NULL;
	IT_CHECK(js_KeyValue(&kv, js, "s") != NATS_OK, "bucket gone");
	IT_CHECK(js_DeleteKeyValue(js, "s") != NATS_OK, "deleted twice");
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_kv_persist(void)
{
	jsCtx *js;
	natsConnection *nc = kv_start(&js);
	kvStore *kv = bucket(js, "p", 3, 0);
	IT_OK(kvStore_PutString(NULL, kv, "a", "1"));
	IT_OK(kvStore_PutString(NULL, kv, "a", "2"));
	IT_OK(kvStore_PutString(NULL, kv, "gone", "x"));
	IT_OK(kvStore_Delete(kv, "gone"));
	kvStore_Destroy(kv);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	for (int round = 0; round < 2; round++) {
		it_restart(round == 1);   /* clean stop, then kill -9 */
		nc = it_connect(NULL, NULL);
		js = jt_ctx(nc);
		kv = NULL;
		IT_OK(js_KeyValue(&kv, js, "p"));
		expect_value(kv, "a", round == 0 ? "2" : "3", round == 0 ? 2 : 5);
		kvEntry *e = NULL;
		IT_STATUS(kvStore_Get(&e, kv, "gone"), NATS_NOT_FOUND);
		if (round == 0)
			IT_OK(kvStore_PutString(NULL, kv, "a", "3"));
		kvStore_Destroy(kv);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
	}
}

IT_MAIN(IT_TEST(test_kv_put_get), IT_TEST(test_kv_create_update_delete),
        IT_TEST(test_kv_history_limit), IT_TEST(test_kv_keys_after_purge),
        IT_TEST(test_kv_ttl), IT_TEST(test_kv_watch), IT_TEST(test_kv_status_delete),
        IT_TEST(test_kv_persist))
