/*
 * test_js_stream.c - the JetStream stream management API ($JS.API.INFO,
 * STREAM.CREATE/UPDATE/INFO/DELETE/NAMES/LIST): response types, the echoed
 * and normalised config (the seed's CHARGING stream among them), the error
 * objects clients test (jetstream-api.md §3), and the requests nats-server
 * does not answer at all. Every case also runs against nats-server.
 */
#include "js_it.h"

static const struct it_config js_cfg = { .jetstream = true };

static natsConnection *start(void)
{
	it_start(&js_cfg);
	return it_connect(NULL, NULL);
}

static void test_account_info(void)
{
	natsConnection *nc = start();
	json_t *r = jt_api(nc, "$JS.API.INFO", NULL);
	jt_expect_ok(r, "account_info_response");
	IT_EQ_INT(jt_int(r, "streams"), 0);
	IT_EQ_INT(jt_int(r, "consumers"), 0);
	IT_EQ_INT(jt_int(r, "memory"), 0);
	IT_EQ_INT(jt_int(r, "storage"), 0);
	IT_EQ_INT(jt_int(r, "limits.max_memory"), -1);
	IT_EQ_INT(jt_int(r, "limits.max_storage"), -1);
	IT_EQ_INT(jt_int(r, "limits.max_streams"), -1);
	IT_EQ_INT(jt_int(r, "limits.max_consumers"), -1);
	IT_CHECK(json_is_false(jt_get(r, "limits.max_bytes_required")), "max_bytes_required");
	IT_EQ_INT(jt_int(r, "api.total"), 0);
	json_decref(r);

	jt_create(nc, "A", "{\"name\":\"A\",\"subjects\":[\"a.>\"]}");
	jt_create(nc, "M", "{\"name\":\"M\",\"subjects\":[\"m\"],\"storage\":\"memory\"}");
	r = jt_api(nc, "$JS.API.STREAM.INFO.NOPE", NULL);
	json_decref(r);
	jt_pub_expect(nc, "a.1", "hello", "{\"stream\":\"A\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "m", "hello", "{\"stream\":\"M\", \"seq\":1}", NULL);

	/* through libnats too */
	jsCtx *js = jt_ctx(nc);
	jsAccountInfo *ai = NULL;
	jsErrCode ec = 0;
	IT_OK(js_GetAccountInfo(&ai, js, NULL, &ec));
	IT_EQ_INT(ai->Streams, 2);
	IT_EQ_INT(ai->Consumers, 0);
	IT_CHECK(ai->Store > 0, "file bytes counted: %llu", (unsigned long long)ai->Store);
	IT_CHECK(ai->Memory > 0, "memory bytes counted: %llu", (unsigned long long)ai->Memory);
	IT_EQ_INT(ai->API.Total, 4);    /* INFO, two creates, INFO of NOPE */
	IT_EQ_INT(ai->API.Errors, 1);   /* the INFO of a missing stream */
	jsAccountInfo_Destroy(ai);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Every field of a create request comes back, normalised as nats-server does. */
static void test_create_echo_and_defaults(void)
{
	natsConnection *nc = start();
	json_t *r = jt_api(nc, "$JS.API.STREAM.CREATE.D", "{\"name\":\"D\"}");
	jt_expect_ok(r, "stream_create_response");
	IT_CHECK(json_is_true(json_object_get(r, "did_create")), "did_create");
	IT_EQ_STR(jt_str(r, "config.name"), "D");
	json_t *subs = jt_get(r, "config.subjects");
	IT_CHECK(json_is_array(subs) && json_array_size(subs) == 1, "default subjects");
	IT_EQ_STR(json_string_value(json_array_get(subs, 0)), "D");
	IT_EQ_STR(jt_str(r, "config.retention"), "limits");
	IT_EQ_STR(jt_str(r, "config.discard"), "old");
	IT_EQ_STR(jt_str(r, "config.storage"), "file");
	IT_EQ_INT(jt_int(r, "config.max_consumers"), -1);
	IT_EQ_INT(jt_int(r, "config.max_msgs"), -1);
	IT_EQ_INT(jt_int(r, "config.max_bytes"), -1);
	IT_EQ_INT(jt_int(r, "config.max_msgs_per_subject"), -1);
	IT_EQ_INT(jt_int(r, "config.max_msg_size"), -1);
	IT_EQ_INT(jt_int(r, "config.max_age"), 0);
	IT_EQ_INT(jt_int(r, "config.num_replicas"), 1);
	IT_EQ_INT(jt_int(r, "config.duplicate_window"), 120000000000LL);
	IT_CHECK(json_is_false(jt_get(r, "config.sealed")), "sealed false");
	IT_CHECK(json_is_false(jt_get(r, "config.allow_direct")), "allow_direct false");
	IT_EQ_STR(jt_str(r, "state.first_ts"), "0001-01-01T00:00:00Z");
	IT_EQ_INT(jt_int(r, "state.messages"), 0);
	IT_EQ_INT(jt_int(r, "state.first_seq"), 0);
	IT_EQ_INT(jt_int(r, "state.consumer_count"), 0);
	IT_CHECK(jt_get(r, "state.num_deleted") == NULL, "num_deleted omitted when 0");
	json_decref(r);

	/* max_age below the 2 min default window shrinks the window */
	r = jt_api(nc, "$JS.API.STREAM.CREATE.E",
	           "{\"name\":\"E\",\"subjects\":[\"e.*\",\"f.>\"],\"description\":\"desc\","
	           "\"max_age\":60000000000,\"max_msgs\":0,\"max_bytes\":1000,\"max_msg_size\":100,"
	           "\"max_msgs_per_subject\":5,\"max_consumers\":3,\"discard\":\"new\","
	           "\"storage\":\"memory\",\"retention\":\"interest\",\"allow_direct\":true,"
	           "\"deny_delete\":true,\"allow_rollup_hdrs\":true,\"num_replicas\":1,"
	           "\"unknown_2_10_field\":\"ignored\"}");
	jt_expect_ok(r, "stream_create_response");
	IT_EQ_STR(jt_str(r, "config.description"), "desc");
	IT_EQ_INT(jt_int(r, "config.duplicate_window"), 60000000000LL);
	IT_EQ_INT(jt_int(r, "config.max_age"), 60000000000LL);
	IT_EQ_INT(jt_int(r, "config.max_msgs"), -1);
	IT_EQ_INT(jt_int(r, "config.max_bytes"), 1000);
	IT_EQ_INT(jt_int(r, "config.max_msg_size"), 100);
	IT_EQ_INT(jt_int(r, "config.max_msgs_per_subject"), 5);
	IT_EQ_INT(jt_int(r, "config.max_consumers"), 3);
	IT_EQ_STR(jt_str(r, "config.discard"), "new");
	IT_EQ_STR(jt_str(r, "config.storage"), "memory");
	IT_EQ_STR(jt_str(r, "config.retention"), "interest");
	IT_CHECK(json_is_true(jt_get(r, "config.allow_direct")), "allow_direct");
	IT_CHECK(json_is_true(jt_get(r, "config.deny_delete")), "deny_delete");
	IT_CHECK(json_is_true(jt_get(r, "config.allow_rollup_hdrs")), "allow_rollup_hdrs");
	IT_EQ_STR(json_string_value(json_array_get(jt_get(r, "config.subjects"), 1)), "f.>");
	json_decref(r);

	/* the same through libnats' StreamInfo */
	jsCtx *js = jt_ctx(nc);
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	IT_OK(js_GetStreamInfo(&si, js, "E", NULL, &ec));
	IT_EQ_STR(si->Config->Name, "E");
	IT_EQ_INT(si->Config->SubjectsLen, 2);
	IT_EQ_INT(si->Config->Retention, js_InterestPolicy);
	IT_EQ_INT(si->Config->Storage, js_MemoryStorage);
	IT_EQ_INT(si->Config->Discard, js_DiscardNew);
	IT_EQ_INT(si->Config->MaxConsumers, 3);
	IT_CHECK(si->Created > 0, "created set");
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		it_fail(__FILE__, __LINE__, "cannot open %s", path);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Seed flow (3): `nats str add CHARGING --config CHARGING.config` sends the
 * config object; every field comes back as configured. */
static void test_charging_config(void)
{
	char path[1024];
	snprintf(path, sizeof path, "%s", __FILE__);
	char *slash = strstr(path, "tests/integration/");
	IT_CHECK(slash != NULL, "source path %s", path);
	snprintf(slash, sizeof path - (size_t)(slash - path), "conf/streams/CHARGING.json");
	const char *text = read_file(path);
	json_error_t je;
	json_t *want = json_loads(text, 0, &je);
	IT_CHECK(want != NULL, "CHARGING.json parses: %s", je.text);

	natsConnection *nc = start();
	json_t *r = jt_api(nc, "$JS.API.STREAM.CREATE.CHARGING", text);
	jt_expect_ok(r, "stream_create_response");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.INFO.CHARGING", NULL);
	jt_expect_ok(r, "stream_info_response");
	json_t *got = json_object_get(r, "config");
	const char *key;
	json_t *v;
	json_object_foreach(want, key, v) {
		json_t *g = json_object_get(got, key);
		char *a = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		char *b = g ? json_dumps(g, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		IT_CHECK(g && json_equal(v, g), "config.%s: sent %s, got %s", key, a, b ? b : "nothing");
		free(a);
		free(b);
	}
	json_decref(r);

	/* and libnats reads it as the Go program would */
	jsCtx *js = jt_ctx(nc);
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	IT_OK(js_GetStreamInfo(&si, js, "CHARGING", NULL, &ec));
	IT_EQ_INT(si->Config->Retention, js_WorkQueuePolicy);
	IT_EQ_INT(si->Config->MaxBytes, 10485760);
	IT_EQ_INT(si->Config->Duplicates, 120000000000LL);
	IT_EQ_INT(si->Config->Storage, js_FileStorage);
	IT_EQ_INT(si->Config->Replicas, 1);
	IT_EQ_INT(si->Config->SubjectsLen, 2);
	IT_EQ_STR(si->Config->Subjects[0], "CHARGING.js.chargingInfo");
	IT_EQ_STR(si->Config->Subjects[1], "CHARGING.js.order");
	jsStreamInfo_Destroy(si);

	/* the same config again is not an error (nats.go relies on it) */
	r = jt_api(nc, "$JS.API.STREAM.CREATE.CHARGING", text);
	jt_expect_ok(r, "stream_create_response");
	IT_EQ_INT(jt_int(r, "state.messages"), 0);
	json_decref(r);
	jt_pub_expect(nc, "CHARGING.js.order", "o1", "{\"stream\":\"CHARGING\", \"seq\":1}", NULL);
	json_decref(want);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_create_errors(void)
{
	natsConnection *nc = start();
	const char *T = "stream_create_response";
	json_t *r;
#define EXPECT(subj, body, code, desc) \
	do { r = jt_api(nc, subj, body); jt_expect_err(r, T, code, desc); json_decref(r); } while (0)
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"B\"}", 10056,
	       "stream name in subject does not match request");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"subjects\":[\"x\"]}", 10056, NULL);
	EXPECT("$JS.API.STREAM.CREATE.A", "{bad", 10025, "invalid JSON");
	EXPECT("$JS.API.STREAM.CREATE.A", NULL, 10025, "invalid JSON");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"retention\":\"foo\"}", 10025, NULL);
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msgs\":\"5\"}", 10025, NULL);
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"num_replicas\":3}", 10074,
	       "replicas > 1 not supported in non-clustered mode");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_age\":5}", 10052,
	       "max age needs to be >= 100ms");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a.*\",\"a.b\"]}", 10052,
	       "subject \"a.*\" overlaps with \"a.b\"");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a..b\"]}", 10052,
	       "invalid subject");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a\",\"a\"]}", 10052,
	       "duplicate subjects detected");
	EXPECT("$JS.API.STREAM.CREATE.A",
	       "{\"name\":\"A\",\"deny_purge\":true,\"allow_rollup_hdrs\":true}", 10052,
	       "roll-ups require the purge permission");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"sealed\":true}", 10052,
	       "stream configuration for create can not be sealed");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"duplicate_window\":50}", 10052,
	       "duplicates window needs to be >= 100ms");
	EXPECT("$JS.API.STREAM.CREATE.A",
	       "{\"name\":\"A\",\"max_age\":1000000000,\"duplicate_window\":2000000000}", 10052,
	       "duplicates window can not be larger then max age");

	jt_create(nc, "T", "{\"name\":\"T\",\"subjects\":[\"t.>\"]}");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"t.a\"]}", 10065,
	       "subjects overlap with an existing stream");
	EXPECT("$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"*.x\"]}", 10065, NULL);
	EXPECT("$JS.API.STREAM.CREATE.T", "{\"name\":\"T\",\"subjects\":[\"t.>\"],\"max_msgs\":5}",
	       10058, "stream name already in use with a different configuration");
#undef EXPECT

	/* libnats maps the error code */
	jsCtx *js = jt_ctx(nc);
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subj[] = { "t.b" };
	sc.Name = "U";
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	jsErrCode ec = 0;
	jsStreamInfo *si = NULL;
	IT_STATUS(js_AddStream(&si, js, &sc, NULL, &ec), NATS_ERR);
	IT_EQ_INT(ec, 10065);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_update(void)
{
	natsConnection *nc = start();
	const char *T = "stream_update_response";
	jt_create(nc, "U", "{\"name\":\"U\",\"subjects\":[\"u.a\"]}");
	jt_create(nc, "V", "{\"name\":\"V\",\"subjects\":[\"v.>\"]}");
	jt_pub_expect(nc, "u.a", "1", "{\"stream\":\"U\", \"seq\":1}", NULL);

	json_t *r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	                   "{\"name\":\"U\",\"subjects\":[\"u.a\",\"u.b\"],\"max_msgs\":10,"
	                   "\"description\":\"now\"}");
	jt_expect_ok(r, T);
	IT_EQ_INT(jt_int(r, "config.max_msgs"), 10);
	IT_EQ_STR(jt_str(r, "config.description"), "now");
	IT_EQ_INT(jt_int(r, "state.messages"), 1);
	IT_CHECK(json_object_get(r, "did_create") == NULL, "no did_create on update");
	json_decref(r);
	/* the new subject is captured at once */
	jt_pub_expect(nc, "u.b", "2", "{\"stream\":\"U\", \"seq\":2}", NULL);

	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	           "{\"name\":\"U\",\"subjects\":[\"u.a\"],\"storage\":\"memory\"}");
	jt_expect_err(r, T, 10052, "stream configuration update can not change storage type");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	           "{\"name\":\"U\",\"subjects\":[\"u.a\"],\"retention\":\"interest\"}");
	jt_expect_err(r, T, 10052, "stream configuration update can not change retention policy");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":[\"v.x\"]}");
	jt_expect_err(r, T, 10065, NULL);
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.NOPE", "{\"name\":\"NOPE\"}");
	jt_expect_err(r, T, 10059, "stream not found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"V\"}");
	jt_expect_err(r, T, 10056, NULL);
	json_decref(r);

	/* lowered limits apply to what is stored at once */
	jt_pub_expect(nc, "u.a", "3", "{\"stream\":\"U\", \"seq\":3}", NULL);
	jt_pub_expect(nc, "u.a", "4", "{\"stream\":\"U\", \"seq\":4}", NULL);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	           "{\"name\":\"U\",\"subjects\":[\"u.a\",\"u.b\"],\"max_msgs_per_subject\":1}");
	jt_expect_ok(r, T);
	json_decref(r);
	/* nats-server 2.9.10 ignores a lowered max_msgs_per_subject until it
	 * restarts (fixed in 2.10); junction applies it at once */
	jt_pub_expect(nc, "u.a", "5", "{\"stream\":\"U\", \"seq\":5}", NULL);
	if (it_is_junction())
		IT_EQ_INT(jt_state(nc, "U", "messages"), 2);   /* u.a:5, u.b:2 */
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	           "{\"name\":\"U\",\"subjects\":[\"u.a\",\"u.b\"],\"max_msgs\":1}");
	jt_expect_ok(r, T);
	IT_EQ_INT(jt_int(r, "state.messages"), 1);
	IT_EQ_INT(jt_int(r, "state.first_seq"), 5);
	json_decref(r);

	/* sealing implies deny delete and purge; a sealed stream stays sealed */
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U",
	           "{\"name\":\"U\",\"subjects\":[\"u.a\",\"u.b\"],\"sealed\":true}");
	jt_expect_ok(r, T);
	IT_CHECK(json_is_true(jt_get(r, "config.sealed")), "sealed");
	IT_CHECK(json_is_true(jt_get(r, "config.deny_delete")), "deny_delete");
	IT_CHECK(json_is_true(jt_get(r, "config.deny_purge")), "deny_purge");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":[\"u.a\",\"u.b\"]}");
	jt_expect_err(r, T, 10052, NULL);
	json_decref(r);
	natsConnection_Destroy(nc);
}

static void test_names_list_delete(void)
{
	natsConnection *nc = start();
	jt_create(nc, "S2", "{\"name\":\"S2\",\"subjects\":[\"s2.>\"]}");
	jt_create(nc, "S1", "{\"name\":\"S1\",\"subjects\":[\"s1.*\"]}");
	jt_create(nc, "S3", "{\"name\":\"S3\",\"subjects\":[\"x.y\"],\"storage\":\"memory\"}");

	json_t *r = jt_api(nc, "$JS.API.STREAM.NAMES", NULL);
	jt_expect_ok(r, "stream_names_response");
	IT_EQ_INT(jt_int(r, "total"), 3);
	IT_EQ_INT(jt_int(r, "offset"), 0);
	IT_EQ_INT(jt_int(r, "limit"), 1024);
	json_t *a = json_object_get(r, "streams");
	IT_CHECK(json_is_array(a) && json_array_size(a) == 3, "3 names");
	IT_EQ_STR(json_string_value(json_array_get(a, 0)), "S1");
	IT_EQ_STR(json_string_value(json_array_get(a, 1)), "S2");
	IT_EQ_STR(json_string_value(json_array_get(a, 2)), "S3");
	json_decref(r);

	/* nats.go's PullSubscribe looks the stream up by subject */
	r = jt_api(nc, "$JS.API.STREAM.NAMES", "{\"subject\":\"s1.a\"}");
	IT_EQ_INT(jt_int(r, "total"), 1);
	IT_EQ_STR(json_string_value(json_array_get(json_object_get(r, "streams"), 0)), "S1");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.NAMES", "{\"subject\":\"nothing.here\"}");
	IT_EQ_INT(jt_int(r, "total"), 0);
	IT_CHECK(json_is_null(json_object_get(r, "streams")), "streams null when none");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.NAMES", "{\"offset\":2}");
	IT_EQ_INT(jt_int(r, "total"), 3);
	IT_EQ_INT(jt_int(r, "offset"), 2);
	IT_EQ_INT(json_array_size(json_object_get(r, "streams")), 1);
	json_decref(r);

	r = jt_api(nc, "$JS.API.STREAM.LIST", NULL);
	jt_expect_ok(r, "stream_list_response");
	IT_EQ_INT(jt_int(r, "total"), 3);
	IT_EQ_INT(jt_int(r, "limit"), 256);
	a = json_object_get(r, "streams");
	IT_CHECK(json_is_array(a) && json_array_size(a) == 3, "3 infos");
	IT_EQ_STR(jt_str(json_array_get(a, 0), "config.name"), "S1");
	IT_EQ_STR(jt_str(json_array_get(a, 2), "config.storage"), "memory");
	json_decref(r);

	jsCtx *js = jt_ctx(nc);
	jsStreamNamesList *nl = NULL;
	jsErrCode ec = 0;
	IT_OK(js_StreamNames(&nl, js, NULL, &ec));
	IT_EQ_INT(nl->Count, 3);
	jsStreamNamesList_Destroy(nl);

	jt_pub_expect(nc, "s1.a", "x", "{\"stream\":\"S1\", \"seq\":1}", NULL);
	r = jt_api(nc, "$JS.API.STREAM.DELETE.S1", NULL);
	jt_expect_ok(r, "stream_delete_response");
	IT_CHECK(json_is_true(json_object_get(r, "success")), "success");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.DELETE.S1", NULL);
	jt_expect_err(r, "stream_delete_response", 10059, "stream not found");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.INFO.S1", NULL);
	jt_expect_err(r, "stream_info_response", 10059, "stream not found");
	json_decref(r);
	/* nobody stores s1.* any more: a request gets no responders */
	natsMsg *reply = NULL;
	IT_STATUS(natsConnection_RequestString(&reply, nc, "s1.a", "x", 1000), NATS_NO_RESPONDERS);
	/* and the name can be reused, empty */
	jt_create(nc, "S1", "{\"name\":\"S1\",\"subjects\":[\"s1.*\"]}");
	IT_EQ_INT(jt_state(nc, "S1", "messages"), 0);
	IT_OK(js_DeleteStream(js, "S2", NULL, &ec));
	IT_STATUS(js_DeleteStream(js, "S2", NULL, &ec), NATS_NOT_FOUND);
	IT_EQ_INT(ec, 10059);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* nats-server has no subscription for these: the request times out. */
static void test_unanswered_requests(void)
{
	natsConnection *nc = start();
	jt_create(nc, "A", "{\"name\":\"A\",\"subjects\":[\"a\"]}");
	const char *subjects[] = {
		"$JS.API.FOO.BAR",
		"$JS.API.STREAM.INFO.A.B",
		"$JS.API.STREAM.CREATE.A.B",
		"$JS.API.DIRECT.GET.A",   /* allow_direct is off */
	};
	for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
		natsMsg *reply = NULL;
		natsStatus s = natsConnection_RequestString(&reply, nc, subjects[i], "{}", 500);
		IT_CHECK(s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS, "%s answered (%s)", subjects[i],
		         natsStatus_GetText(s));
		natsMsg_Destroy(reply);
	}
	/* INFO of a stream answers with total/offset/limit (2.9 paging) */
	json_t *r = jt_api(nc, "$JS.API.STREAM.INFO.A", NULL);
	jt_expect_ok(r, "stream_info_response");
	IT_EQ_INT(jt_int(r, "total"), 0);
	IT_EQ_INT(jt_int(r, "limit"), 0);
	json_decref(r);
	natsConnection_Destroy(nc);
}

IT_MAIN(
	IT_TEST(test_account_info),
	IT_TEST(test_create_echo_and_defaults),
	IT_TEST(test_charging_config),
	IT_TEST(test_create_errors),
	IT_TEST(test_update),
	IT_TEST(test_names_list_delete),
	IT_TEST(test_unanswered_requests),
)
