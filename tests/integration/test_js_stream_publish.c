/*
 * test_js_stream_publish.c - publishing into streams: the exact PubAck
 * bytes, Nats-Msg-Id dedupe (the seed's qtest.cj flow) and its window,
 * the expectation headers, rollups, every limit under both discard
 * policies, max_age expiry, sealed / deny flags, memory storage, interest
 * retention without consumers and no_ack. Every case also runs against
 * nats-server.
 */
#include "js_it.h"

static const struct it_config js_cfg = { .jetstream = true };

static natsConnection *start(void)
{
	it_start(&js_cfg);
	return it_connect(NULL, NULL);
}

/* Seed flow (2): the Go program publishes qtest.cj with Nats-Msg-Id: 1
 * through js.PublishMsg; run twice, the second is a duplicate. */
static void test_seed_msg_id_dedupe(void)
{
	natsConnection *nc = start();
	jt_create(nc, "QTEST", "{\"name\":\"QTEST\",\"subjects\":[\"qtest.>\"]}");
	jsCtx *js = jt_ctx(nc);
	for (int run = 0; run < 2; run++) {
		natsMsg *m = NULL;
		IT_OK(natsMsg_Create(&m, "qtest.cj", NULL, "hello11", 7));
		IT_OK(natsMsgHeader_Add(m, "Nats-Msg-Id", "1"));
		jsPubAck *pa = NULL;
		jsErrCode ec = 0;
		IT_OK(js_PublishMsg(&pa, js, m, NULL, &ec));
		IT_EQ_STR(pa->Stream, "QTEST");
		IT_EQ_INT(pa->Sequence, 1);
		IT_EQ_INT(pa->Duplicate, run == 1);
		jsPubAck_Destroy(pa);
		natsMsg_Destroy(m);
	}
	IT_EQ_INT(jt_state(nc, "QTEST", "messages"), 1);
	IT_EQ_INT(jt_state(nc, "QTEST", "last_seq"), 1);
	/* the wire form of both acks, byte for byte */
	jt_pub_expect(nc, "qtest.cj", "again", "{\"stream\":\"QTEST\", \"seq\":1,\"duplicate\": true}",
	              "Nats-Msg-Id", "1", NULL);
	jt_pub_expect(nc, "qtest.cj", "new", "{\"stream\":\"QTEST\", \"seq\":2}",
	              "Nats-Msg-Id", "2", NULL);
	/* without an id nothing is deduplicated */
	jt_pub_expect(nc, "qtest.x", "same", "{\"stream\":\"QTEST\", \"seq\":3}", NULL);
	jt_pub_expect(nc, "qtest.x", "same", "{\"stream\":\"QTEST\", \"seq\":4}", NULL);
	/* a publish without a reply subject is stored silently */
	IT_OK(natsConnection_PublishString(nc, "qtest.y", "quiet"));
	IT_OK(natsConnection_Flush(nc));
	IT_EQ_INT(jt_state(nc, "QTEST", "messages"), 5);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_dedupe_window_expires(void)
{
	natsConnection *nc = start();
	jt_create(nc, "W", "{\"name\":\"W\",\"subjects\":[\"w\"],\"duplicate_window\":1000000000}");
	jt_pub_expect(nc, "w", "a", "{\"stream\":\"W\", \"seq\":1}", "Nats-Msg-Id", "id", NULL);
	it_sleep_ms(300);
	jt_pub_expect(nc, "w", "a", "{\"stream\":\"W\", \"seq\":1,\"duplicate\": true}",
	              "Nats-Msg-Id", "id", NULL);
	it_sleep_ms(1200);
	/* the window is measured from the first publish: the id is free again */
	jt_pub_expect(nc, "w", "a", "{\"stream\":\"W\", \"seq\":2}", "Nats-Msg-Id", "id", NULL);
	jt_pub_expect(nc, "w", "a", "{\"stream\":\"W\", \"seq\":2,\"duplicate\": true}",
	              "Nats-Msg-Id", "id", NULL);
	IT_EQ_INT(jt_state(nc, "W", "messages"), 2);
	natsConnection_Destroy(nc);
}

static void test_expectation_headers(void)
{
	natsConnection *nc = start();
	jt_create(nc, "E", "{\"name\":\"E\",\"subjects\":[\"e.>\"]}");
	const char *err10060 = "{\"error\":{\"code\":400,\"err_code\":10060,\"description\":"
	                       "\"expected stream does not match\"},\"stream\":\"E\",\"seq\":0}";
	jt_pub_expect(nc, "e.a", "1", err10060, "Nats-Expected-Stream", "X", NULL);
	jt_pub_expect(nc, "e.a", "1", "{\"stream\":\"E\", \"seq\":1}", "Nats-Expected-Stream", "E",
	              "Nats-Msg-Id", "m1", NULL);
	jt_pub_expect(nc, "e.a", "2",
	              "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":"
	              "\"wrong last sequence: 1\"},\"stream\":\"E\",\"seq\":0}",
	              "Nats-Expected-Last-Sequence", "5", NULL);
	jt_pub_expect(nc, "e.a", "2", "{\"stream\":\"E\", \"seq\":2}",
	              "Nats-Expected-Last-Sequence", "1", NULL);
	/* per subject: e.b has no message yet, so 0 is right and 1 is not */
	jt_pub_expect(nc, "e.b", "3",
	              "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":"
	              "\"wrong last sequence: 0\"},\"stream\":\"E\",\"seq\":0}",
	              "Nats-Expected-Last-Subject-Sequence", "1", NULL);
	jt_pub_expect(nc, "e.b", "3", "{\"stream\":\"E\", \"seq\":3}",
	              "Nats-Expected-Last-Subject-Sequence", "0", NULL);
	jt_pub_expect(nc, "e.a", "4", "{\"stream\":\"E\", \"seq\":4}",
	              "Nats-Expected-Last-Subject-Sequence", "2", "Nats-Msg-Id", "m4", NULL);
	/* last msg id: the id of the stream's last message */
	jt_pub_expect(nc, "e.a", "5",
	              "{\"error\":{\"code\":400,\"err_code\":10070,\"description\":"
	              "\"wrong last msg ID: m4\"},\"stream\":\"E\",\"seq\":0}",
	              "Nats-Expected-Last-Msg-Id", "m1", NULL);
	jt_pub_expect(nc, "e.a", "5", "{\"stream\":\"E\", \"seq\":5}",
	              "Nats-Expected-Last-Msg-Id", "m4", NULL);
	IT_EQ_INT(jt_state(nc, "E", "messages"), 5);

	/* libnats' options map to the same headers and error codes */
	jsCtx *js = jt_ctx(nc);
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = 3;
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	IT_STATUS(js_Publish(&pa, js, "e.a", "x", 1, &po, &ec), NATS_ERR);
	IT_EQ_INT(ec, 10071);
	jsPubOptions_Init(&po);
	po.ExpectStream = "NOT";
	IT_STATUS(js_Publish(&pa, js, "e.a", "x", 1, &po, &ec), NATS_ERR);
	IT_EQ_INT(ec, 10060);
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = 5;
	po.MsgId = "m6";
	IT_OK(js_Publish(&pa, js, "e.c", "x", 1, &po, &ec));
	IT_EQ_INT(pa->Sequence, 6);
	jsPubAck_Destroy(pa);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_rollup(void)
{
	natsConnection *nc = start();
	jt_create(nc, "N", "{\"name\":\"N\",\"subjects\":[\"n.>\"]}");
	const char *err10111 = "{\"error\":{\"code\":500,\"err_code\":10111,\"description\":"
	                       "\"rollup not permitted\"},\"stream\":\"N\",\"seq\":0}";
	jt_pub_expect(nc, "n.a", "1", err10111, "Nats-Rollup", "sub", NULL);
	jt_pub_expect(nc, "n.a", "1", err10111, "Nats-Rollup", "bogus", NULL);
	IT_EQ_INT(jt_state(nc, "N", "messages"), 0);

	jt_create(nc, "R", "{\"name\":\"R\",\"subjects\":[\"r.>\"],\"allow_rollup_hdrs\":true}");
	jt_pub_expect(nc, "r.a", "1", "{\"stream\":\"R\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "r.a", "2", "{\"stream\":\"R\", \"seq\":2}", NULL);
	jt_pub_expect(nc, "r.b", "3", "{\"stream\":\"R\", \"seq\":3}", NULL);
	jt_pub_expect(nc, "r.a", "4", "{\"stream\":\"R\", \"seq\":4}", "Nats-Rollup", "sub", NULL);
	json_t *r = jt_api(nc, "$JS.API.STREAM.INFO.R", "{\"subjects_filter\":\">\"}");
	IT_EQ_INT(jt_int(r, "state.messages"), 2);
	IT_EQ_INT(jt_int(r, "state.first_seq"), 3);
	json_t *subs = jt_get(r, "state.subjects");
	IT_EQ_INT(json_integer_value(json_object_get(subs, "r.a")), 1);
	IT_EQ_INT(json_integer_value(json_object_get(subs, "r.b")), 1);
	json_decref(r);
	/* an unknown rollup value gets no ack at all and stores nothing */
	natsMsg *m = NULL;
	char buf[256];
	IT_OK(natsMsg_Create(&m, "r.a", NULL, "x", 1));
	IT_OK(natsMsgHeader_Add(m, "Nats-Rollup", "bogus"));
	IT_CHECK(!jt_pub_raw(nc, m, buf, sizeof buf, 500), "bogus rollup acked: %s", buf);
	natsMsg_Destroy(m);
	jt_pub_expect(nc, "r.c", "5", "{\"stream\":\"R\", \"seq\":5}", "Nats-Rollup", "all", NULL);
	IT_EQ_INT(jt_state(nc, "R", "messages"), 1);
	IT_EQ_INT(jt_state(nc, "R", "first_seq"), 5);
	natsConnection_Destroy(nc);
}

static void test_limits_discard_old(void)
{
	natsConnection *nc = start();
	char want[128];
	/* max_msgs: the oldest go */
	jt_create(nc, "MO", "{\"name\":\"MO\",\"subjects\":[\"mo\"],\"max_msgs\":3}");
	for (int i = 1; i <= 5; i++) {
		snprintf(want, sizeof want, "{\"stream\":\"MO\", \"seq\":%d}", i);
		jt_pub_expect(nc, "mo", "x", want, NULL);
	}
	IT_EQ_INT(jt_state(nc, "MO", "messages"), 3);
	IT_EQ_INT(jt_state(nc, "MO", "first_seq"), 3);

	/* max_bytes: evict until the total fits (file: subject + data + 30) */
	jt_create(nc, "BO", "{\"name\":\"BO\",\"subjects\":[\"bo\"],\"max_bytes\":200}");
	char data[61];
	memset(data, 'd', 60);
	data[60] = 0;
	for (int i = 1; i <= 4; i++) {   /* 92 bytes each */
		snprintf(want, sizeof want, "{\"stream\":\"BO\", \"seq\":%d}", i);
		jt_pub_expect(nc, "bo", data, want, NULL);
	}
	IT_EQ_INT(jt_state(nc, "BO", "messages"), 2);
	IT_EQ_INT(jt_state(nc, "BO", "first_seq"), 3);
	IT_CHECK(jt_state(nc, "BO", "bytes") <= 200, "bytes within max_bytes");

	/* max_msgs_per_subject evicts the subject's oldest, under either policy */
	const char *policies[] = { "old", "new" };
	for (int p = 0; p < 2; p++) {
		char cfg[256], name[8];
		snprintf(name, sizeof name, "PS%d", p);
		snprintf(cfg, sizeof cfg,
		         "{\"name\":\"%s\",\"subjects\":[\"ps%d.*\"],\"max_msgs_per_subject\":2,"
		         "\"discard\":\"%s\"}", name, p, policies[p]);
		jt_create(nc, name, cfg);
		char subj[16];
		for (int i = 1; i <= 4; i++) {
			snprintf(subj, sizeof subj, "ps%d.%s", p, i == 3 ? "b" : "a");
			snprintf(want, sizeof want, "{\"stream\":\"%s\", \"seq\":%d}", name, i);
			jt_pub_expect(nc, subj, "x", want, NULL);
		}
		IT_EQ_INT(jt_state(nc, name, "messages"), 3);   /* a:2,4 b:3 */
		IT_EQ_INT(jt_state(nc, name, "first_seq"), 2);
	}
	/* max_age: messages older than it disappear in the background */
	jt_create(nc, "AG", "{\"name\":\"AG\",\"subjects\":[\"ag\"],\"max_age\":500000000}");
	jt_pub_expect(nc, "ag", "x", "{\"stream\":\"AG\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "ag", "x", "{\"stream\":\"AG\", \"seq\":2}", NULL);
	IT_EQ_INT(jt_state(nc, "AG", "messages"), 2);
	int64_t deadline = it_now_ms() + 3000;
	while (jt_state(nc, "AG", "messages") != 0 && it_now_ms() < deadline)
		it_sleep_ms(50);
	IT_EQ_INT(jt_state(nc, "AG", "messages"), 0);
	IT_EQ_INT(jt_state(nc, "AG", "first_seq"), 3);
	natsConnection_Destroy(nc);
}

static void test_limits_discard_new(void)
{
	natsConnection *nc = start();
	jt_create(nc, "MN", "{\"name\":\"MN\",\"subjects\":[\"mn\"],\"max_msgs\":2,\"discard\":\"new\"}");
	jt_pub_expect(nc, "mn", "1", "{\"stream\":\"MN\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "mn", "2", "{\"stream\":\"MN\", \"seq\":2}", NULL);
	jt_pub_expect(nc, "mn", "3",
	              "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":"
	              "\"maximum messages exceeded\"},\"stream\":\"MN\",\"seq\":0}", NULL);
	IT_EQ_INT(jt_state(nc, "MN", "messages"), 2);
	IT_EQ_INT(jt_state(nc, "MN", "last_seq"), 2);

	jt_create(nc, "BN", "{\"name\":\"BN\",\"subjects\":[\"bn\"],\"max_bytes\":100,"
	                    "\"discard\":\"new\"}");
	jt_pub_expect(nc, "bn", "0123456789", "{\"stream\":\"BN\", \"seq\":1}", NULL);
	/* 42 bytes stored + 70 of payload is over 100 whether the record
	 * overhead counts (nats-server 2.10+) or not (2.9) */
	char data[71];
	memset(data, 'd', 70);
	data[70] = 0;
	jt_pub_expect(nc, "bn", data,
	              "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":"
	              "\"maximum bytes exceeded\"},\"stream\":\"BN\",\"seq\":0}", NULL);
	IT_EQ_INT(jt_state(nc, "BN", "messages"), 1);

	jt_create(nc, "PN", "{\"name\":\"PN\",\"subjects\":[\"pn.*\"],\"max_msgs_per_subject\":2,"
	                    "\"discard\":\"new\",\"discard_new_per_subject\":true}");
	jt_pub_expect(nc, "pn.a", "1", "{\"stream\":\"PN\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "pn.a", "2", "{\"stream\":\"PN\", \"seq\":2}", NULL);
	jt_pub_expect(nc, "pn.a", "3",
	              "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":"
	              "\"maximum messages per subject exceeded\"},\"stream\":\"PN\",\"seq\":0}",
	              NULL);
	jt_pub_expect(nc, "pn.b", "4", "{\"stream\":\"PN\", \"seq\":3}", NULL);

	/* max_msg_size counts headers and payload */
	jt_create(nc, "SZ", "{\"name\":\"SZ\",\"subjects\":[\"sz\"],\"max_msg_size\":50}");
	const char *too_big = "{\"error\":{\"code\":400,\"err_code\":10054,\"description\":"
	                      "\"message size exceeds maximum allowed\"},\"stream\":\"SZ\",\"seq\":0}";
	jt_pub_expect(nc, "sz", "012345678901234567890123456789012345678901234567890", too_big, NULL);
	jt_pub_expect(nc, "sz", "0123456789012345678901234567890123456789", too_big,
	              "Some-Header", "0123456789", NULL);
	jt_pub_expect(nc, "sz", "01234567890123456789012345678901234567890123456789",
	              "{\"stream\":\"SZ\", \"seq\":1}", NULL);   /* exactly 50 */

	/* libnats: the 503 is retried, then reported with its err_code */
	jsCtx *js = jt_ctx(nc);
	jsPubAck *pa = NULL;
	jsErrCode ec = 0;
	IT_STATUS(js_Publish(&pa, js, "mn", "x", 1, NULL, &ec), NATS_ERR);
	IT_EQ_INT(ec, 10077);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static void test_sealed_and_deny(void)
{
	natsConnection *nc = start();
	jt_create(nc, "DP", "{\"name\":\"DP\",\"subjects\":[\"dp\"],\"deny_purge\":true,"
	                    "\"deny_delete\":true}");
	jt_pub_expect(nc, "dp", "1", "{\"stream\":\"DP\", \"seq\":1}", NULL);
	json_t *r = jt_api(nc, "$JS.API.STREAM.PURGE.DP", NULL);
	jt_expect_err(r, "stream_purge_response", 10110, "stream purge not permitted");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.DP", "{\"seq\":1}");
	jt_expect_err(r, "stream_msg_delete_response", 10057, "message delete not permitted");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.UPDATE.DP", "{\"name\":\"DP\",\"subjects\":[\"dp\"],"
	           "\"deny_purge\":true,\"deny_delete\":true,\"sealed\":true}");
	jt_expect_ok(r, "stream_update_response");
	json_decref(r);
	jt_pub_expect(nc, "dp", "2",
	              "{\"error\":{\"code\":400,\"err_code\":10109,\"description\":"
	              "\"invalid operation on sealed stream\"},\"stream\":\"DP\",\"seq\":0}", NULL);
	r = jt_api(nc, "$JS.API.STREAM.PURGE.DP", NULL);
	jt_expect_err(r, "stream_purge_response", 10109, "invalid operation on sealed stream");
	json_decref(r);
	r = jt_api(nc, "$JS.API.STREAM.MSG.DELETE.DP", "{\"seq\":1}");
	jt_expect_err(r, "stream_msg_delete_response", 10109, NULL);
	json_decref(r);
	IT_EQ_INT(jt_state(nc, "DP", "messages"), 1);
	natsConnection_Destroy(nc);
}

static void test_memory_storage(void)
{
	natsConnection *nc = start();
	jt_create(nc, "MEM", "{\"name\":\"MEM\",\"subjects\":[\"mem.>\"],\"storage\":\"memory\","
	                     "\"max_msgs\":100}");
	jsCtx *js = jt_ctx(nc);
	for (int i = 1; i <= 150; i++) {
		char d[16];
		snprintf(d, sizeof d, "m%d", i);
		jsPubAck *pa = NULL;
		jsErrCode ec = 0;
		IT_OK(js_Publish(&pa, js, i % 2 ? "mem.odd" : "mem.even", d, (int)strlen(d), NULL, &ec));
		IT_EQ_INT(pa->Sequence, i);
		jsPubAck_Destroy(pa);
	}
	IT_EQ_INT(jt_state(nc, "MEM", "messages"), 100);
	IT_EQ_INT(jt_state(nc, "MEM", "first_seq"), 51);
	IT_EQ_INT(jt_state(nc, "MEM", "num_subjects"), 2);
	/* memory bytes: subject + headers + data + 16 */
	long long bytes = 0;
	for (int i = 51; i <= 150; i++)
		bytes += (i % 2 ? 7 : 8) + (i < 100 ? 3 : 4) + 16;
	IT_EQ_INT(jt_state(nc, "MEM", "bytes"), bytes);
	natsMsg *m = NULL;
	jsErrCode ec = 0;
	IT_OK(js_GetLastMsg(&m, js, "MEM", "mem.even", NULL, &ec));
	IT_EQ_INT(natsMsg_GetDataLength(m), 4);
	IT_CHECK(memcmp(natsMsg_GetData(m), "m150", 4) == 0, "last even is m150");
	natsMsg_Destroy(m);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Interest retention with nobody interested: the sequence is used, nothing
 * is kept, the publisher gets a normal ack. */
static void test_interest_without_consumers(void)
{
	natsConnection *nc = start();
	jt_create(nc, "I", "{\"name\":\"I\",\"subjects\":[\"i.>\"],\"retention\":\"interest\"}");
	jt_pub_expect(nc, "i.a", "1", "{\"stream\":\"I\", \"seq\":1}", NULL);
	jt_pub_expect(nc, "i.a", "2", "{\"stream\":\"I\", \"seq\":2}", NULL);
	IT_EQ_INT(jt_state(nc, "I", "messages"), 0);
	IT_EQ_INT(jt_state(nc, "I", "last_seq"), 2);
	IT_EQ_INT(jt_state(nc, "I", "first_seq"), 3);
	natsConnection_Destroy(nc);
}

static void test_no_ack(void)
{
	natsConnection *nc = start();
	jt_create(nc, "NA", "{\"name\":\"NA\",\"subjects\":[\"na\"],\"no_ack\":true}");
	natsMsg *m = NULL;
	char buf[128];
	IT_OK(natsMsg_Create(&m, "na", NULL, "x", 1));
	IT_CHECK(!jt_pub_raw(nc, m, buf, sizeof buf, 500), "no_ack stream acked: %s", buf);
	natsMsg_Destroy(m);
	IT_EQ_INT(jt_state(nc, "NA", "messages"), 1);
	natsConnection_Destroy(nc);
}

IT_MAIN(
	IT_TEST(test_seed_msg_id_dedupe),
	IT_TEST(test_dedupe_window_expires),
	IT_TEST(test_expectation_headers),
	IT_TEST(test_rollup),
	IT_TEST(test_limits_discard_old),
	IT_TEST(test_limits_discard_new),
	IT_TEST(test_sealed_and_deny),
	IT_TEST(test_memory_storage),
	IT_TEST(test_interest_without_consumers),
	IT_TEST(test_no_ack),
)
